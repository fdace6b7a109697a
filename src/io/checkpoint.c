/* Checkpoints of rounds 1 and 2 (include/flyfit/checkpoint.h): one set of helpers for arrays
 * (parameters, Adam's moments, history), attributes and atomic writing, serving both rounds.
 * Round 1's checksum is a wrapping sum of a hash of (array, index, value) over every value: each
 * rank adds its own rows, so any rank count gives the same sum. */
#include "flyfit/checkpoint.h"
#include "flyfit/atomic.h"
#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- arrays ------------------------------------------------------------------------------------- */

/* Collective over the parallel file of loc: whether every rank's write went through. A write can fail
 * on some ranks only (a full disk meets the rank that writes that block), and a rank that stopped while
 * the others went on to the next collective call would leave them waiting. */
static int agree(hid_t loc, int st, const char *name) {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Info info = MPI_INFO_NULL;
  const hid_t fid = H5Iget_file_id(loc), fapl = fid >= 0 ? H5Fget_access_plist(fid) : -1;
  const int got = fapl >= 0 && H5Pget_fapl_mpio(fapl, &comm, &info) >= 0;
  if (fapl >= 0) H5Pclose(fapl);
  if (fid >= 0) H5Fclose(fid);
  if (!got) return st;
  int rank = 0, bad, first = INT_MAX; /* the lowest rank that failed tells the others why */
  MPI_Comm_rank(comm, &rank);
  bad = st != FF_OK ? rank : INT_MAX;
  int mst = FF_MPI(MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, comm));
  char why[512] = "";
  if (mst == FF_OK && first != INT_MAX) {
    if (rank == first) snprintf(why, sizeof why, "%s", ff_error_message());
    mst = FF_MPI(MPI_Bcast(why, (int)sizeof why, MPI_CHAR, first, comm));
  }
  MPI_Comm_free(&comm);
  if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  if (st != FF_OK) return st;
  if (mst != FF_OK) return mst;
  return first == INT_MAX ? FF_OK : FF_ERROR(FF_ERR_IO, "%s (on rank %d; dataset %s)", why, first, name);
}

int ff_checkpoint_write_arrays(hid_t loc, int collective, const FfCheckpointArray *a, int n) {
  for (int k = 0; k < n; ++k) {
    const int64_t dims[2] = {a[k].rows, a[k].cols};
    if (collective)
      FF_TRY(agree(loc, ff_h5_write_rows(loc, a[k].name, a[k].type, a[k].rank, dims, a[k].row0, a[k].n, a[k].data),
                   a[k].name));
    else
      FF_TRY(ff_h5_write(loc, a[k].name, a[k].type, a[k].rank, dims, a[k].data));
  }
  return FF_OK;
}

/* A whole array of a serial file, its shape checked first. */
static int read_whole(hid_t loc, const char *file, const char *base, const FfCheckpointArray *a, const char *model) {
  char path[512];
  if (a->name[0] == '/') snprintf(path, sizeof path, "%s", a->name);
  else snprintf(path, sizeof path, "%s/%s", base, a->name);
  int64_t dims[2] = {0, 1};
  FF_TRY(ff_h5_shape(loc, file, path, a->rank, dims));
  char why[160] = "";
  if (model) snprintf(why, sizeof why, " for %s: a checkpoint of another model size", model);
  if (dims[0] != a->rows || dims[1] != a->cols) {
    if (a->rank == 1)
      return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s has %lld elements, expected %lld%s", file, path, (long long)dims[0],
                      (long long)a->rows, why);
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s is %lld x %lld, expected %lld x %lld%s", file, path,
                    (long long)dims[0], (long long)dims[1], (long long)a->rows, (long long)a->cols, why);
  }
  const hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
  const herr_t rc = d < 0 ? -1 : H5Dread(d, a->type, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data);
  if (d >= 0) H5Dclose(d);
  if (rc < 0) {
    H5Eclear2(H5E_DEFAULT);
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s cannot be read as numbers (a damaged file?)", file, path);
  }
  return FF_OK;
}

int ff_checkpoint_read_arrays(hid_t loc, const char *file, int collective, const FfCheckpointArray *a, int n,
                              const char *model) {
  char base[448] = ""; /* relative names are under loc: messages name the whole path */
  if (!collective && H5Iget_name(loc, base, sizeof base) < 0) base[0] = '\0';
  if (strcmp(base, "/") == 0) base[0] = '\0';
  for (int k = 0; k < n; ++k) {
    const int64_t dims[2] = {a[k].rows, a[k].cols};
    if (collective)
      FF_TRY(ff_h5_read_rows(loc, file, a[k].name, a[k].type, a[k].rank, dims, a[k].row0, a[k].n, a[k].data));
    else
      FF_TRY(read_whole(loc, file, base, &a[k], model));
  }
  return FF_OK;
}

/* ---- round 1 ------------------------------------------------------------------------------------ */

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Collective: all ranks of comm must call it. The checksum of the float arrays a[n]. */
static int checksum(const FfCheckpointArray *a, int n, MPI_Comm comm, uint64_t *sum) {
  uint64_t s = 0;
  for (int k = 0; k < n; ++k) {
    const float *v = a[k].data;
    const uint64_t tag = (uint64_t)k + 1, first = (uint64_t)(a[k].row0 * a[k].cols);
    for (int64_t i = 0; i < a[k].n * a[k].cols; ++i) {
      uint32_t bits;
      memcpy(&bits, &v[i], sizeof bits);
      s += mix(tag << 56 ^ (first + (uint64_t)i) << 20 ^ mix(bits));
    }
  }
  FF_TRY(FF_MPI(MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_UINT64_T, MPI_SUM, comm)));
  *sum = s;
  return FF_OK;
}

typedef struct {
  const FfCheckpointArray *a;
  int n, n_metrics, rank;
  const double *hist;
  const FfCheckpointIdentity *id;
  const FfCheckpointState *s;
  uint64_t sum;
} Round1Ctx;

static int round1_body(hid_t f, void *ctx) {
  const Round1Ctx *c = ctx;
  const FfCheckpointIdentity *id = c->id;
  const FfCheckpointState *s = c->s;
  const FfCheckpointArray history = {"/history", H5T_NATIVE_DOUBLE, (void *)c->hist, 2, s->epochs_done, c->n_metrics,
                                     0, c->rank == 0 ? s->epochs_done : 0};
  const FfH5Attr attrs[] = {FF_ATTR_FIXED("format", "flyfit round-1 checkpoint 2"),
                            FF_ATTR_FIXED("fingerprint", id->fingerprint),
                            FF_ATTR_INT("epochs_done", s->epochs_done),
                            FF_ATTR_INT("adam_t", s->adam_t),
                            FF_ATTR_INT("best_epoch", s->best_epoch),
                            FF_ATTR_DOUBLE("best_val_loss", s->best_val),
                            FF_ATTR_DOUBLE("untrained_val_loss", s->untrained_loss),
                            FF_ATTR_DOUBLE("untrained_val_bin_acc", s->untrained_acc),
                            FF_ATTR_DOUBLE("untrained_val_mse", s->untrained_mse),
                            FF_ATTR_INT("neurons", id->neurons),
                            FF_ATTR_INT("connections", id->connections),
                            FF_ATTR_INT("neuropils", id->neuropils),
                            FF_ATTR_INT("ranks", id->ranks),
                            FF_ATTR_INT("partition_id", (int64_t)id->partition_id),
                            FF_ATTR_INT("recording_hash", (int64_t)id->recording_hash),
                            FF_ATTR_INT("trainable", id->trainable),
                            FF_ATTR_INT("checksum", (int64_t)c->sum),
                            FF_ATTR_INT("epoch_batches_done", s->part_batches),
                            FF_ATTR_DOUBLE("epoch_loss_sum", s->part_loss),
                            FF_ATTR_DOUBLE("epoch_sq_sum", s->part_sq),
                            FF_ATTR_DOUBLE("epoch_hits", s->part_hits),
                            FF_ATTR_DOUBLE("epoch_values", s->part_values),
                            FF_ATTR_DOUBLE("epoch_batches", s->part_count),
                            FF_ATTR_DOUBLE("epoch_grad_norm_sum", s->part_norm)};
  int st = ff_checkpoint_write_arrays(f, 1, c->a, c->n);
  FF_CALL(st, ff_checkpoint_write_arrays(f, 1, &history, 1));
  FF_CALL(st, ff_h5_write_attrs(f, NULL, attrs, (int)(sizeof attrs / sizeof *attrs)));
  return st;
}

int ff_checkpoint_write_round1(const char *path, MPI_Comm comm, const FfCheckpointArray *a, int n, const double *hist,
                               int n_metrics, const FfCheckpointIdentity *id, const FfCheckpointState *s) {
  Round1Ctx c = {a, n, n_metrics, 0, hist, id, s, 0};
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &c.rank)));
  FF_TRY(checksum(a, n, comm, &c.sum));
  /* the file's size is known exactly: refuse at once, with both numbers, where it cannot fit */
  int st = FF_OK;
  if (c.rank == 0) {
    double bytes = (double)s->epochs_done * n_metrics * 8.0;
    for (int k = 0; k < n; ++k) bytes += (double)a[k].rows * (double)a[k].cols * (double)H5Tget_size(a[k].type);
    st = ff_atomic_check_space(path, bytes, "the checkpoint");
  }
  FF_TRY(FF_MPI(MPI_Bcast(&st, 1, MPI_INT, 0, comm)));
  if (st == FF_OK) st = ff_h5_write_atomic_parallel(path, comm, round1_body, &c);
  else if (c.rank != 0) st = FF_ERROR(st, "rank 0 found no room for '%s'", path);
  if (st != FF_OK) ff_error_prefix("writing checkpoint '%s': ", path);
  return st;
}

/* Round-1 attributes: a missing one means the file is something else. One number each, checked. */
typedef struct {
  const char *name;
  int64_t *i; /* or */
  double *d;
} AttrRef;

static int read_attrs(hid_t f, const char *path, const AttrRef *r, int n) {
  for (int k = 0; k < n; ++k) {
    if (H5Aexists(f, r[k].name) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return FF_ERROR(FF_ERR_INPUT, "'%s' is not a flyfit round-1 checkpoint (no attribute %s)", path, r[k].name);
    }
    if (r[k].i) FF_TRY(ff_h5_read_attr_int(f, path, r[k].name, r[k].i));
    else FF_TRY(ff_h5_read_attr_double(f, path, r[k].name, r[k].d));
  }
  return FF_OK;
}

/* The lines of two fingerprints that differ, as "key: checkpoint A, this run B; ...". */
static void fingerprint_diff(const char *a, const char *b, char *out, size_t cap) {
  out[0] = '\0';
  size_t len = 0;
  int shown = 0;
  for (const char *p = a; *p;) {
    const char *nl = strchr(p, '\n'), *eq = strchr(p, '=');
    if (!nl || !eq || eq > nl) break;
    char key[160], va[256], vb[256] = "(absent)";
    snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
    snprintf(va, sizeof va, "%.*s", (int)(nl - eq - 1), eq + 1);
    for (const char *q = b; *q;) {
      const char *nl2 = strchr(q, '\n'), *eq2 = strchr(q, '=');
      if (!nl2 || !eq2 || eq2 > nl2) break;
      if ((size_t)(eq2 - q) == strlen(key) && !strncmp(q, key, strlen(key))) {
        snprintf(vb, sizeof vb, "%.*s", (int)(nl2 - eq2 - 1), eq2 + 1);
        break;
      }
      q = nl2 + 1;
    }
    if (strcmp(va, vb) != 0 && shown++ < 8 && len < cap - 1)
      len += (size_t)snprintf(out + len, cap - len, "%s%s: checkpoint %s, this run %s", shown > 1 ? "; " : "", key,
                              va, vb);
    p = nl + 1;
  }
}

/* The file's identity against id; *sum its checksum. */
static int check_identity(hid_t f, const char *path, const FfCheckpointIdentity *id, uint64_t *sum) {
  int64_t v[8] = {0};
  const AttrRef refs[8] = {{"neurons", &v[0], NULL},        {"connections", &v[1], NULL},
                           {"neuropils", &v[2], NULL},      {"ranks", &v[3], NULL},
                           {"partition_id", &v[4], NULL},   {"recording_hash", &v[5], NULL},
                           {"trainable", &v[6], NULL},      {"checksum", &v[7], NULL}};
  FF_TRY(read_attrs(f, path, refs, 8));
  *sum = (uint64_t)v[7];
  char *fp = NULL, why[1024];
  int st = FF_MALLOC(fp, 65536, "fingerprint");
  FF_CALL(st, ff_h5_read_attr_string(f, path, "fingerprint", fp, 65536));
  if (st == FF_OK && (v[0] != id->neurons || v[1] != id->connections))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' belongs to another network: %lld neurons and %lld connections, this one has %lld "
                                "and %lld",
                  path, (long long)v[0], (long long)v[1], (long long)id->neurons, (long long)id->connections);
  if (st == FF_OK && (v[3] != id->ranks || (uint64_t)v[4] != id->partition_id))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was written by %lld ranks%s; a checkpoint continues on the same partition: run "
                                "with %lld ranks and the same /partition/k%lld",
                  path, (long long)v[3], v[3] == id->ranks ? " with another partition" : "", (long long)v[3],
                  (long long)v[3]);
  if (st == FF_OK && ((uint64_t)v[5] != id->recording_hash || v[2] != id->neuropils))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was fitted to other recordings (or another preprocessing or region mapping) than "
                                "[data] activity = %s gives now",
                  path, id->activity);
  if (st == FF_OK && strcmp(fp, id->fingerprint) != 0) {
    fingerprint_diff(fp, id->fingerprint, why, sizeof why);
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was made with another configuration: %s", path, why);
  }
  if (st == FF_OK && v[6] != id->trainable) {
    char had[64], want[64];
    ff_config_trainable_text(v[6], had, sizeof had);
    ff_config_trainable_text(id->trainable, want, sizeof want);
    st = FF_ERROR(FF_ERR_INPUT, "'%s' trained another set of parameters: [fit] trainable = %s there, %s in this run",
                  path, had, want);
  }
  free(fp);
  return st;
}

/* The counters, and the history into *hist (grown to fit). Every rank reads the same. */
static int read_state(hid_t f, const char *path, int64_t max_epochs, FfCheckpointState *s, double **hist,
                      int64_t *hist_cap, int n_metrics) {
  FfCheckpointState r;
  memset(&r, 0, sizeof r);
  const AttrRef refs[7] = {{"epochs_done", &r.epochs_done, NULL},
                           {"adam_t", &r.adam_t, NULL},
                           {"best_epoch", &r.best_epoch, NULL},
                           {"best_val_loss", NULL, &r.best_val},
                           {"untrained_val_loss", NULL, &r.untrained_loss},
                           {"untrained_val_bin_acc", NULL, &r.untrained_acc},
                           {"untrained_val_mse", NULL, &r.untrained_mse}};
  FF_TRY(read_attrs(f, path, refs, 7));
  if (max_epochs >= 0 && r.epochs_done > max_epochs)
    return FF_ERROR(FF_ERR_INPUT, "'%s' has %lld epochs done, more than [fit] epochs_round1 = %lld", path,
                    (long long)r.epochs_done, (long long)max_epochs);
  if (H5Aexists(f, "epoch_batches_done") > 0) { /* written part-way through an epoch */
    const AttrRef part[7] = {{"epoch_batches_done", &r.part_batches, NULL}, {"epoch_loss_sum", NULL, &r.part_loss},
                             {"epoch_sq_sum", NULL, &r.part_sq},           {"epoch_hits", NULL, &r.part_hits},
                             {"epoch_values", NULL, &r.part_values},       {"epoch_batches", NULL, &r.part_count},
                             {"epoch_grad_norm_sum", NULL, &r.part_norm}};
    FF_TRY(read_attrs(f, path, part, 7));
  }
  H5Eclear2(H5E_DEFAULT);
  if (r.epochs_done > *hist_cap) { /* more epochs than this run trains (a run that only loads it) */
    FF_TRY(FF_REALLOC(*hist, r.epochs_done * n_metrics, "the history"));
    *hist_cap = r.epochs_done;
  }
  const FfCheckpointArray history = {"/history", H5T_NATIVE_DOUBLE, *hist, 2, r.epochs_done, n_metrics, 0,
                                     r.epochs_done};
  FF_TRY(ff_checkpoint_read_arrays(f, path, 1, &history, 1, NULL));
  *s = r;
  return FF_OK;
}

int ff_checkpoint_read_round1(const char *path, MPI_Comm comm, const FfCheckpointArray *a, int n,
                              const FfCheckpointIdentity *id, int64_t max_epochs, FfCheckpointState *s, double **hist,
                              int64_t *hist_cap, int n_metrics) {
  hid_t f;
  uint64_t stored = 0, sum = 0;
  FF_TRY(ff_h5_open_parallel(path, comm, &f));
  int st = check_identity(f, path, id, &stored);
  FF_CALL(st, ff_checkpoint_read_arrays(f, path, 1, a, n, NULL));
  FF_CALL(st, checksum(a, n, comm, &sum));
  if (st == FF_OK && sum != stored)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' is damaged: its parameters do not match its checksum", path);
  if (s) FF_CALL(st, read_state(f, path, max_epochs, s, hist, hist_cap, n_metrics));
  H5Fclose(f);
  return st;
}

void ff_checkpoint_name(const char *dir, int64_t epochs, int64_t batches, char *path, size_t cap) {
  if (batches > 0)
    snprintf(path, cap, "%s/checkpoint-epoch-%lld-batch-%lld.h5", dir, (long long)epochs, (long long)batches);
  else
    snprintf(path, cap, "%s/checkpoint-epoch-%lld.h5", dir, (long long)epochs);
}

/* checkpoint-epoch-E.h5 -> (E, 0), checkpoint-epoch-E-batch-J.h5 -> (E, J); 0 for other names. */
static int parse_name(const char *name, int64_t *e, int64_t *j) {
  long long a, b;
  int used = 0;
  if (sscanf(name, "checkpoint-epoch-%lld-batch-%lld.h5%n", &a, &b, &used) == 2 && used > 0 &&
      name[used] == '\0' && a >= 0 && b > 0) {
    *e = a;
    *j = b;
    return 1;
  }
  used = 0;
  if (sscanf(name, "checkpoint-epoch-%lld.h5%n", &a, &used) == 1 && used > 0 && name[used] == '\0' && a >= 0) {
    *e = a;
    *j = 0;
    return 1;
  }
  return 0;
}

int ff_checkpoint_list(const char *dir, MPI_Comm comm, int64_t (*found)[2], int cap, int *n) {
  int rank;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  *n = 0;
  if (rank == 0) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && *n < cap)
      if (parse_name(e->d_name, &found[*n][0], &found[*n][1])) ++*n;
    if (d) closedir(d);
    for (int i = 1; i < *n; ++i) /* newest first */
      for (int j = i; j > 0 && (found[j][0] > found[j - 1][0] ||
                                (found[j][0] == found[j - 1][0] && found[j][1] > found[j - 1][1])); --j) {
        const int64_t x0 = found[j][0], x1 = found[j][1];
        found[j][0] = found[j - 1][0];
        found[j][1] = found[j - 1][1];
        found[j - 1][0] = x0;
        found[j - 1][1] = x1;
      }
  }
  FF_TRY(FF_MPI(MPI_Bcast(n, 1, MPI_INT, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(found, 2 * *n, MPI_INT64_T, 0, comm)));
  return FF_OK;
}

void ff_checkpoint_prune(const char *dir, int64_t epochs_done, int64_t every) {
  int kept = 0;
  for (int64_t e = epochs_done; e >= 1; --e) {
    if (e % every != 0 && e != epochs_done) continue;
    char p[4200];
    ff_checkpoint_name(dir, e, 0, p, sizeof p);
    if (access(p, F_OK) != 0) continue;
    if (++kept > 2) unlink(p);
  }
  /* checkpoints written part-way through an epoch that is now complete */
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    int64_t ep, jb;
    char p[4400];
    if (parse_name(e->d_name, &ep, &jb) && jb > 0 && ep < epochs_done) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  }
  if (d) closedir(d);
}

/* ---- round 2 ------------------------------------------------------------------------------------ */

static const char *const GRU_DIRS[3] = {"params", "adam_m", "adam_v"};

/* The GRU's three flat arrays (parameters, Adam's moments) as 3 x FF_GRU_NGROUPS named arrays,
 * backed by buf[3] [nparams]; names[] holds their paths. */
static void gru_arrays(const FfGru *g, double *const buf[3], char names[3 * FF_GRU_NGROUPS][64],
                       FfCheckpointArray *a) {
  for (int k = 0; k < 3; ++k)
    for (int q = 0; q < FF_GRU_NGROUPS; ++q) {
      FfGruGroup G;
      ff_gru_group(g, (FfGruGroupId)q, &G);
      const int i = k * FF_GRU_NGROUPS + q;
      snprintf(names[i], sizeof names[i], "%s/%s", GRU_DIRS[k], G.name);
      a[i] = (FfCheckpointArray){names[i], H5T_NATIVE_DOUBLE, buf[k] + G.offset, G.rank, G.rows, G.cols, 0, G.rows};
    }
}

int ff_checkpoint_write_gru(hid_t loc, const FfGru *g) {
  FfGru *m = (FfGru *)g; /* the arrays are only read */
  double *const buf[3] = {ff_gru_array(m, FF_GRU_PARAMS), ff_gru_array(m, FF_GRU_ADAM_M), ff_gru_array(m, FF_GRU_ADAM_V)};
  char names[3 * FF_GRU_NGROUPS][64];
  FfCheckpointArray a[3 * FF_GRU_NGROUPS];
  gru_arrays(g, buf, names, a);
  const FfGruSetup *s = ff_gru_setup(g);
  const FfH5Attr attrs[] = {FF_ATTR_INT("P", s->P), FF_ATTR_INT("H", s->H), FF_ATTR_DOUBLE("out_scale_hz", s->out_scale_hz),
                            FF_ATTR_INT("adam_steps", ff_gru_adam_steps(g))};
  int st = ff_checkpoint_write_arrays(loc, 0, a, 3 * FF_GRU_NGROUPS);
  FF_CALL(st, ff_h5_write_attrs(loc, NULL, attrs, 4));
  return st;
}

int ff_checkpoint_read_gru(hid_t loc, const char *file, FfGru *g) {
  const FfGruSetup *s = ff_gru_setup(g);
  double scale;
  int64_t steps;
  FF_TRY(ff_h5_read_attr_double(loc, file, "out_scale_hz", &scale));
  FF_TRY(ff_h5_read_attr_int(loc, file, "adam_steps", &steps));
  if (scale != s->out_scale_hz)
    return FF_ERROR(FF_ERR_INPUT, "'%s': the GRU was saved with out_scale_hz = %g, this one has %g", file, scale,
                    s->out_scale_hz);
  if (steps < 0) return FF_ERROR(FF_ERR_INPUT, "'%s': attribute adam_steps = %lld is negative", file, (long long)steps);
  const int64_t np = ff_gru_nparams(g);
  double *buf[3] = {NULL, NULL, NULL}; /* read aside: g changes only when everything was read */
  int st = FF_OK;
  for (int k = 0; k < 3; ++k) FF_CALL(st, FF_MALLOC(buf[k], np, "GRU checkpoint"));
  if (st == FF_OK) {
    char names[3 * FF_GRU_NGROUPS][64], model[96];
    FfCheckpointArray a[3 * FF_GRU_NGROUPS];
    gru_arrays(g, buf, names, a);
    snprintf(model, sizeof model, "a GRU with P = %d, H = %d", (int)s->P, (int)s->H);
    FF_CALL(st, ff_checkpoint_read_arrays(loc, file, 0, a, 3 * FF_GRU_NGROUPS, model));
  }
  if (st == FF_OK) {
    static const FfGruArray which[3] = {FF_GRU_PARAMS, FF_GRU_ADAM_M, FF_GRU_ADAM_V};
    for (int k = 0; k < 3; ++k) memcpy(ff_gru_array(g, which[k]), buf[k], (size_t)np * sizeof *buf[k]);
    ff_gru_set_adam_steps(g, steps);
  }
  for (int k = 0; k < 3; ++k) free(buf[k]);
  return st;
}

typedef struct {
  const FfGru *g;
  int64_t epochs, best_epoch;
  const double *hist;
  int n_metrics, complete;
} Round2Ctx;

static int round2_body(hid_t f, void *ctx) {
  const Round2Ctx *c = ctx;
  const FfH5Attr attrs[] = {FF_ATTR_STRING("format", "flyfit round-2 checkpoint 1"),
                            FF_ATTR_INT("best_epoch", c->best_epoch), FF_ATTR_INT("epochs", c->epochs),
                            FF_ATTR_INT("complete", c->complete)};
  const FfCheckpointArray history = {"/history", H5T_NATIVE_DOUBLE, (void *)c->hist, 2, c->epochs, c->n_metrics, 0,
                                     c->epochs};
  int st = ff_checkpoint_write_gru(f, c->g);
  FF_CALL(st, ff_h5_write_attrs(f, NULL, attrs, 4));
  FF_CALL(st, ff_checkpoint_write_arrays(f, 0, &history, 1));
  return st;
}

int ff_checkpoint_write_round2(const char *path, const FfGru *g, int64_t epochs, int64_t best_epoch,
                               const double *hist, int n_metrics, int complete) {
  Round2Ctx c = {g, epochs, best_epoch, hist, n_metrics, complete};
  FF_TRY(ff_atomic_check_space(path, 3.0 * 8.0 * (double)ff_gru_nparams(g) + 8.0 * (double)epochs * n_metrics,
                               "round 2's checkpoint"));
  FF_TRY(ff_h5_write_atomic(path, round2_body, &c));
  return FF_OK;
}

/* The history of an open round-2 file, when it says how many epochs it has. */
static int read_round2_history(hid_t f, const char *path, int64_t *epochs, int64_t *best_epoch, double **hist,
                               int n_metrics) {
  if (H5Aexists(f, "epochs") <= 0 || H5Aexists(f, "best_epoch") <= 0) return FF_OK;
  FF_TRY(ff_h5_read_attr_int(f, path, "epochs", epochs));
  FF_TRY(ff_h5_read_attr_int(f, path, "best_epoch", best_epoch));
  if (*epochs <= 0) return FF_OK;
  FF_TRY(FF_MALLOC(*hist, *epochs * n_metrics, "round-2 history"));
  const FfCheckpointArray history = {"/history", H5T_NATIVE_DOUBLE, *hist, 2, *epochs, n_metrics, 0, *epochs};
  FF_TRY(ff_checkpoint_read_arrays(f, path, 0, &history, 1, NULL));
  return FF_OK;
}

int ff_checkpoint_read_round2(const char *path, FfGru *g, int64_t *epochs, int64_t *best_epoch, double **hist,
                              int n_metrics, int *complete) {
  *epochs = *best_epoch = 0;
  *complete = 1;
  *hist = NULL;
  const int32_t P = ff_gru_setup(g)->P;
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int64_t p = -1;
  int st = FF_OK;
  if (H5Aexists(f, "P") > 0) st = ff_h5_read_attr_int(f, path, "P", &p); /* one number, checked */
  H5Eclear2(H5E_DEFAULT);
  if (st == FF_OK && p != P)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' is a round-2 model of %lld neuropils, the recordings have %d: it was trained on "
                                "other recordings or another region mapping",
                  path, (long long)p, P);
  FF_CALL(st, ff_checkpoint_read_gru(f, path, g));
  FF_CALL(st, read_round2_history(f, path, epochs, best_epoch, hist, n_metrics));
  if (st == FF_OK && H5Aexists(f, "complete") > 0) {
    int64_t c = 1;
    st = ff_h5_read_attr_int(f, path, "complete", &c);
    *complete = c != 0;
  }
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  return st;
}

typedef struct {
  const FfGru *g;
  const FfRound2State *s;
} StateCtx;

static int round2_state_body(hid_t f, void *ctx) {
  const StateCtx *c = ctx;
  const FfRound2State *s = c->s;
  const int64_t np = ff_gru_nparams(c->g);
  const FfH5Attr attrs[] = {FF_ATTR_STRING("format", "flyfit round-2 resume checkpoint 1"),
                            FF_ATTR_INT("epochs", s->epochs), FF_ATTR_INT("best_epoch", s->best_epoch),
                            FF_ATTR_DOUBLE("best_loss", s->best_loss), FF_ATTR_INT("input_hash", (int64_t)s->input_hash),
                            FF_ATTR_FIXED("fingerprint", s->fingerprint)};
  const FfCheckpointArray a[2] = {{"/history", H5T_NATIVE_DOUBLE, s->hist, 2, s->epochs, s->n_metrics, 0, s->epochs},
                                  {"/best_params", H5T_NATIVE_DOUBLE, s->best, 1, np, 1, 0, np}};
  int st = ff_checkpoint_write_gru(f, c->g);
  FF_CALL(st, ff_h5_write_attrs(f, NULL, attrs, 6));
  FF_CALL(st, ff_checkpoint_write_arrays(f, 0, a, s->epochs > 0 ? 2 : 1));
  return st;
}

int ff_checkpoint_write_round2_state(const char *path, const FfGru *g, const FfRound2State *s) {
  StateCtx c = {g, s};
  FF_TRY(ff_atomic_check_space(path, 4.0 * 8.0 * (double)ff_gru_nparams(g) + 8.0 * (double)s->epochs * s->n_metrics,
                               "round 2's resume point"));
  FF_TRY(ff_h5_write_atomic(path, round2_state_body, &c));
  return FF_OK;
}

/* A resume point's format attribute and fingerprint against this run's; `afresh` says what removing
 * the file does. */
static int check_point(hid_t f, const char *path, const char *format, const char *fingerprint, const char *afresh) {
  char had[64] = "", why[1024], *fp = NULL;
  int st = H5Aexists(f, "format") > 0 ? ff_h5_read_attr_string(f, path, "format", had, sizeof had) : FF_OK;
  if (st == FF_OK && strcmp(had, format) != 0)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' is not a %s (format '%s'); remove it to %s", path, format, had, afresh);
  FF_CALL(st, FF_MALLOC(fp, 65536, "fingerprint"));
  FF_CALL(st, ff_h5_read_attr_string(f, path, "fingerprint", fp, 65536));
  if (st == FF_OK && strcmp(fp, fingerprint) != 0) {
    fingerprint_diff(fp, fingerprint, why, sizeof why);
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was made with another configuration: %s; remove it to %s", path, why, afresh);
  }
  free(fp);
  return st;
}

int ff_checkpoint_read_round2_state(const char *path, FfGru *g, FfRound2State *s) {
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int64_t hash = 0, epochs = 0, best_epoch = 0;
  double best_loss = INFINITY, *hist = NULL, *best = NULL;
  const int64_t np = ff_gru_nparams(g);
  int st = check_point(f, path, "flyfit round-2 resume checkpoint 1", s->fingerprint, "start round 2 afresh");
  FF_CALL(st, ff_h5_read_attr_int(f, path, "input_hash", &hash));
  FF_CALL(st, ff_h5_read_attr_int(f, path, "epochs", &epochs));
  FF_CALL(st, ff_h5_read_attr_int(f, path, "best_epoch", &best_epoch));
  FF_CALL(st, ff_h5_read_attr_double(f, path, "best_loss", &best_loss));
  if (st == FF_OK && (uint64_t)hash != s->input_hash)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' continues a round 2 trained on other inputs (the recordings or round 1's network "
                                "changed since); remove it to start round 2 afresh",
                  path);
  if (st == FF_OK && (epochs < 0 || best_epoch < 0 || best_epoch > epochs))
    st = FF_ERROR(FF_ERR_INPUT, "'%s': epochs = %lld, best_epoch = %lld do not fit together", path, (long long)epochs,
                  (long long)best_epoch);
  FF_CALL(st, FF_MALLOC(hist, (epochs > 0 ? epochs : 1) * s->n_metrics, "round-2 history"));
  FF_CALL(st, FF_MALLOC(best, np, "round-2 best parameters"));
  if (st == FF_OK && epochs > 0) {
    const FfCheckpointArray a[2] = {{"/history", H5T_NATIVE_DOUBLE, hist, 2, epochs, s->n_metrics, 0, epochs},
                                    {"/best_params", H5T_NATIVE_DOUBLE, best, 1, np, 1, 0, np}};
    st = ff_checkpoint_read_arrays(f, path, 0, a, 2, NULL);
  }
  FF_CALL(st, ff_checkpoint_read_gru(f, path, g)); /* last: g changes only when it succeeds */
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  if (st != FF_OK) {
    free(hist);
    free(best);
    return st;
  }
  if (epochs > 0) memcpy(s->best, best, (size_t)np * sizeof *best);
  free(best);
  s->epochs = epochs;
  s->best_epoch = best_epoch;
  s->best_loss = best_loss;
  s->hist = hist;
  return FF_OK;
}

/* The arrays of a prediction resume point (raster_n spikes of raster): a[] and their names, their count. */
static int predict_arrays(const FfPredictState *s, int64_t raster_n, char names[16][96], FfCheckpointArray *a) {
  int n = 0;
  for (int k = 0; k < s->n_arrays && k < 16; ++k) {
    snprintf(names[k], sizeof names[k], "/forecast/%s", s->names[k]);
    a[n++] = (FfCheckpointArray){names[k], H5T_NATIVE_DOUBLE, s->arrays[k], 2, s->T, s->P, 0, s->T};
  }
  if (s->H > 0) a[n++] = (FfCheckpointArray){"/state/h", H5T_NATIVE_DOUBLE, s->h, 1, s->H, 1, 0, s->H};
  a[n++] = (FfCheckpointArray){"/state/z", H5T_NATIVE_DOUBLE, s->z, 1, s->P, 1, 0, s->P};
  if (raster_n > 0) {
    a[n++] = (FfCheckpointArray){"/raster/gid", H5T_NATIVE_INT64, s->raster_gid, 1, raster_n, 1, 0, raster_n};
    a[n++] = (FfCheckpointArray){"/raster/step", H5T_NATIVE_INT32, s->raster_step, 1, raster_n, 1, 0, raster_n};
  }
  return n;
}

static int predict_body(hid_t f, void *ctx) {
  const FfPredictState *s = ctx;
  const FfH5Attr attrs[] = {FF_ATTR_STRING("format", "flyfit prediction resume point 1"), FF_ATTR_INT("pass", s->pass),
                            FF_ATTR_INT("frame", s->frame), FF_ATTR_INT("raster_frame", s->raster_frame),
                            FF_ATTR_INT("identity", (int64_t)s->identity), FF_ATTR_FIXED("fingerprint", s->fingerprint)};
  int st = ff_h5_write_attrs(f, NULL, attrs, 6);
  char names[16][96];
  FfCheckpointArray a[16 + 4];
  const int n = predict_arrays(s, s->raster_n, names, a);
  FF_CALL(st, ff_checkpoint_write_arrays(f, 0, a, n));
  return st;
}

int ff_checkpoint_write_predict(const char *path, const FfPredictState *s) {
  FF_TRY(ff_atomic_check_space(path, 8.0 * (double)(s->n_arrays * s->T * s->P) + 12.0 * (double)s->raster_n,
                               "the prediction's resume point"));
  FF_TRY(ff_h5_write_atomic(path, predict_body, (void *)s));
  return FF_OK;
}

int ff_checkpoint_read_predict(const char *path, FfPredictState *s) {
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int64_t pass = 0, frame = 0, ident = 0, rframe = 0, rn = 0;
  int st = check_point(f, path, "flyfit prediction resume point 1", s->fingerprint, "predict afresh");
  FF_CALL(st, ff_h5_read_attr_int(f, path, "identity", &ident));
  FF_CALL(st, ff_h5_read_attr_int(f, path, "pass", &pass));
  FF_CALL(st, ff_h5_read_attr_int(f, path, "frame", &frame));
  FF_CALL(st, ff_h5_read_attr_int(f, path, "raster_frame", &rframe));
  if (st == FF_OK && (uint64_t)ident != s->identity)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' continues a prediction of other recordings or other trained models (or on another "
                                "partition of the ranks); remove it to predict afresh",
                  path);
  if (st == FF_OK && (pass < 0 || frame < 0 || frame > s->T))
    st = FF_ERROR(FF_ERR_INPUT, "'%s': pass %lld, frame %lld out of range", path, (long long)pass, (long long)frame);
  if (st == FF_OK && ff_h5_exists(f, "/raster/gid")) st = ff_h5_len(f, path, "/raster/gid", &rn);
  if (st == FF_OK && rn > 0) {
    st = FF_MALLOC(s->raster_gid, rn, "raster");
    FF_CALL(st, FF_MALLOC(s->raster_step, rn, "raster"));
  }
  char names[16][96];
  FfCheckpointArray a[16 + 4];
  const int n = predict_arrays(s, rn, names, a);
  FF_CALL(st, ff_checkpoint_read_arrays(f, path, 0, a, n, NULL));
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  s->pass = (int32_t)pass;
  s->frame = frame;
  s->raster_n = rn;
  s->raster_frame = rframe;
  return st;
}

static int task_arrays(const FfTaskState *s, double *theta, double *m, double *v, double *hist, FfCheckpointArray *a) {
  const int64_t P = s->n_param, B = s->batches;
  a[0] = (FfCheckpointArray){"/params", H5T_NATIVE_DOUBLE, theta, 1, P, 1, 0, P};
  a[1] = (FfCheckpointArray){"/adam/m", H5T_NATIVE_DOUBLE, m, 1, P, 1, 0, P};
  a[2] = (FfCheckpointArray){"/adam/v", H5T_NATIVE_DOUBLE, v, 1, P, 1, 0, P};
  a[3] = (FfCheckpointArray){"/history", H5T_NATIVE_DOUBLE, hist, 2, B, s->n_metrics, 0, B};
  return B > 0 ? 4 : 3;
}

static int task_body(hid_t f, void *ctx) {
  const FfTaskState *s = ctx;
  const FfH5Attr attrs[] = {FF_ATTR_STRING("format", "flyfit task resume point 1"), FF_ATTR_INT("batches", s->batches),
                            FF_ATTR_DOUBLE("val_acc", s->val_acc), FF_ATTR_DOUBLE("seconds", s->seconds),
                            FF_ATTR_FIXED("fingerprint", s->fingerprint)};
  int st = ff_h5_write_attrs(f, NULL, attrs, (int)(sizeof attrs / sizeof *attrs));
  FfCheckpointArray a[4];
  const int n = task_arrays(s, s->theta, s->m, s->v, s->hist, a);
  FF_CALL(st, ff_checkpoint_write_arrays(f, 0, a, n));
  return st;
}

int ff_checkpoint_write_task(const char *path, const FfTaskState *s) {
  FF_TRY(ff_atomic_check_space(path, 3.0 * 8.0 * (double)s->n_param + 8.0 * (double)(s->batches * s->n_metrics),
                               "the task's resume point"));
  FF_TRY(ff_h5_write_atomic(path, task_body, (void *)s));
  return FF_OK;
}

int ff_checkpoint_read_task(const char *path, FfTaskState *s) {
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int64_t batches = 0;
  double val_acc = NAN, seconds = 0.0, *theta = NULL, *m = NULL, *v = NULL, *hist = NULL;
  const int64_t P = s->n_param;
  int st = check_point(f, path, "flyfit task resume point 1", s->fingerprint, "train afresh");
  FF_CALL(st, ff_h5_read_attr_int(f, path, "batches", &batches));
  FF_CALL(st, ff_h5_read_attr_double(f, path, "val_acc", &val_acc));
  FF_CALL(st, ff_h5_read_attr_double(f, path, "seconds", &seconds));
  if (st == FF_OK && batches < 0)
    st = FF_ERROR(FF_ERR_INPUT, "'%s': batches = %lld; remove it to train afresh", path, (long long)batches);
  FF_CALL(st, FF_MALLOC(theta, P, "task parameters"));
  FF_CALL(st, FF_MALLOC(m, P, "task Adam moments"));
  FF_CALL(st, FF_MALLOC(v, P, "task Adam moments"));
  FF_CALL(st, FF_MALLOC(hist, (batches > 0 ? batches : 1) * s->n_metrics, "task history"));
  if (st == FF_OK) {
    FfTaskState t = *s;
    t.batches = batches;
    FfCheckpointArray a[4];
    const int n = task_arrays(&t, theta, m, v, hist, a);
    char model[96];
    snprintf(model, sizeof model, "a network of %lld parameters", (long long)P);
    st = ff_checkpoint_read_arrays(f, path, 0, a, n, model);
  }
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  if (st == FF_OK) {
    memcpy(s->theta, theta, (size_t)P * sizeof *theta);
    memcpy(s->m, m, (size_t)P * sizeof *m);
    memcpy(s->v, v, (size_t)P * sizeof *v);
    s->hist = hist;
    s->batches = batches;
    s->val_acc = val_acc;
    s->seconds = seconds;
  } else {
    free(hist);
  }
  free(theta);
  free(m);
  free(v);
  return st;
}
