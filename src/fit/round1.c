/* Round 1 end to end (include/flyfit/round1.h): the epoch loop around the stepper of fit_net.c,
 * with metrics, checkpoints (parallel HDF5, written under a temporary name, with an
 * order-independent checksum), resume and the results file. */
#include "flyfit/round1.h"
#include "flyfit/activity.h"
#include "flyfit/error.h"
#include "flyfit/fit.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/runjson.h"
#include "flyfit/partition.h"
#include "flyfit/results.h"
#include "flyfit/rng.h"
#include "flyfit/signals.h"
#include "flyfit/hash.h"

#include <dirent.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVAL_KEY 0x80000000u /* samples scored without training: the same random input every epoch */

/* ---- recordings --------------------------------------------------------------------------------- */

void ff_fitdata_destroy(FfFitData *rec) {
  if (rec == NULL) return;
  if (rec->names)
    for (int32_t p = 0; p < rec->P; ++p) free(rec->names[p]);
  free(rec->names);
  free(rec->np_index);
  free(rec->rates);
  memset(rec, 0, sizeof *rec);
}

static int same_params(const FfPreprocess *a, const FfPreprocess *b) {
  return a->fs_hz == b->fs_hz && a->highpass_hz == b->highpass_hz && a->trim_frames == b->trim_frames &&
         a->calcium_tau_s == b->calcium_tau_s && a->deconv_lambda == b->deconv_lambda && a->max_rate_hz == b->max_rate_hz;
}

/* Rank 0: the recording's raw traces through the preprocessing chain, its regions matched to the
 * connectome's neuropils; rates [T x P] of the kept regions, frame-major. */
static int load_on_root(const FfConfig *cfg, FfFitData *d) {
  FfRecording rec;
  FfPreprocess stored, p;
  FfRegionMap map = {0, NULL, NULL, NULL};
  char **np_names = NULL;
  int64_t n_np = 0, T = 0;
  double *dff = NULL, *rates = NULL;
  hid_t c;
  memset(&rec, 0, sizeof rec);
  int st = ff_activity_read(cfg->activity, &rec, &stored);
  if (st == FF_OK && cfg->neural_activity_id[0] && strcmp(cfg->neural_activity_id, rec.id) != 0)
    st = FF_ERROR(FF_ERR_INPUT, "[data] neural_activity_id = %s, but '%s' holds recording %s", cfg->neural_activity_id,
                  cfg->activity, rec.id);
  if (st == FF_OK) {
    p = (FfPreprocess){cfg->fs_hz > 0 ? cfg->fs_hz : rec.fs_hz, cfg->highpass_hz, cfg->trim_frames,
                       cfg->calcium_tau_s, cfg->deconv_lambda, cfg->max_rate_hz};
    if (!(p.fs_hz > 0))
      st = FF_ERROR(FF_ERR_INPUT, "'%s' does not say its frame rate: set [preprocess] fs_hz", cfg->activity);
  }
  if (st == FF_OK) st = ff_preprocess_check(&p);
  if (st == FF_OK) {
    const FfTraceLabels lab = {cfg->activity, (const char *const *)rec.areas, rec.rows};
    st = ff_activity_preprocess(rec.traces, rec.P, rec.T, &p, &lab, &dff, &rates, &T);
  }
  if (st == FF_OK)
    ff_log("preprocessing %s: dF/F, high-pass %g Hz, trim %lld frames, AR(1) deconvolution (tau %g s, lambda %g), "
           "scaled to %g Hz at %g Hz frames: %lld frames%s",
           cfg->activity, p.highpass_hz, (long long)p.trim_frames, p.calcium_tau_s, p.deconv_lambda, p.max_rate_hz,
           p.fs_hz, (long long)T, same_params(&p, &stored) ? " (the parameters of its /rates)" : " (not those of its /rates)");
  if (st == FF_OK) st = ff_h5_open(cfg->connectome, H5P_DEFAULT, &c);
  if (st == FF_OK) {
    st = ff_h5_read_strings(c, cfg->connectome, "/neuropils/names", &np_names, &n_np);
    char release[64] = "";
    if (st == FF_OK && cfg->flywire_version[0]) {
      if (H5Aexists(c, "release") > 0) ff_h5_read_attr_string(c, cfg->connectome, "release", release, sizeof release);
      H5Eclear2(H5E_DEFAULT);
      if (strcmp(release, cfg->flywire_version) != 0)
        st = FF_ERROR(FF_ERR_INPUT, "[data] flywire_version = %s, but '%s' is release '%s'; import the matching "
                                    "release (flyfit-import ... --release %s) or change the key",
                      cfg->flywire_version, cfg->connectome, release[0] ? release : "(none)", cfg->flywire_version);
    }
    H5Fclose(c);
  }
  if (st == FF_OK)
    st = ff_activity_map_regions((const char *const *)rec.areas, rec.P, (const char *const *)np_names, n_np,
                                 cfg->mapping[0] ? cfg->mapping : NULL, cfg->drop_unmatched, &map);
  if (st == FF_OK && map.warning) ff_warn("%s", map.warning);
  if (st == FF_OK && map.n == 0) st = FF_ERROR(FF_ERR_INPUT, "'%s': no region matches a neuropil", cfg->activity);
  if (st == FF_OK) {
    d->T = T;
    d->P = (int32_t)map.n;
    d->fs_hz = p.fs_hz;
    snprintf(d->id, sizeof d->id, "%s", rec.id);
    st = FF_CALLOC(d->names, map.n, "neuropil names");
    if (st == FF_OK) st = FF_MALLOC(d->np_index, map.n, "neuropil indices");
    if (st == FF_OK) st = FF_MALLOC(d->rates, T * map.n, "recorded rates");
  }
  for (int64_t k = 0; st == FF_OK && k < map.n; ++k) {
    d->np_index[k] = map.neuropil[k];
    if ((d->names[k] = strdup(np_names[map.neuropil[k]])) == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory");
    for (int64_t t = 0; t < T; ++t) d->rates[t * map.n + k] = rates[map.region[k] * T + t];
  }
  free(dff);
  free(rates);
  ff_region_map_destroy(&map);
  ff_h5_free_strings(&np_names, n_np);
  ff_recording_destroy(&rec);
  return st;
}

int ff_fitdata_load(const FfConfig *cfg, MPI_Comm comm, FfFitData *rec) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  memset(rec, 0, sizeof *rec);
  int st = rank == 0 ? load_on_root(cfg, rec) : FF_OK;
  MPI_Bcast(&st, 1, MPI_INT, 0, comm);
  if (st != FF_OK) {
    if (rank != 0) st = FF_ERROR(st, "rank 0 could not read the recordings");
    ff_fitdata_destroy(rec);
    return st;
  }
  int64_t hdr[2] = {rec->T, rec->P};
  MPI_Bcast(hdr, 2, MPI_INT64_T, 0, comm);
  MPI_Bcast(&rec->fs_hz, 1, MPI_DOUBLE, 0, comm);
  MPI_Bcast(rec->id, sizeof rec->id, MPI_CHAR, 0, comm);
  if (rank != 0) {
    rec->T = hdr[0];
    rec->P = (int32_t)hdr[1];
    FF_TRY(FF_CALLOC(rec->names, rec->P, "neuropil names"));
    FF_TRY(FF_MALLOC(rec->np_index, rec->P, "neuropil indices"));
    FF_TRY(FF_MALLOC(rec->rates, rec->T * rec->P, "recorded rates"));
  }
  MPI_Bcast(rec->np_index, rec->P, MPI_INT32_T, 0, comm);
  MPI_Bcast(rec->rates, (int)(rec->T * rec->P), MPI_DOUBLE, 0, comm);
  for (int32_t p = 0; p < rec->P; ++p) {
    char name[256] = "";
    if (rank == 0) snprintf(name, sizeof name, "%s", rec->names[p]);
    MPI_Bcast(name, sizeof name, MPI_CHAR, 0, comm);
    if (rank != 0 && (rec->names[p] = strdup(name)) == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
  }
  uint64_t h = FF_FNV_BASIS;
  h = ff_fnv1a(h, rec->rates, (size_t)(rec->T * rec->P) * sizeof *rec->rates);
  for (int32_t p = 0; p < rec->P; ++p) h = ff_fnv1a(h, rec->names[p], strlen(rec->names[p]) + 1);
  rec->hash = h;
  return FF_OK;
}

/* ---- rate classes ------------------------------------------------------------------------------- */

int ff_bins_make(double bin, double max_rate, double top, FfBins *b) {
  memset(b, 0, sizeof *b);
  if (!(bin > 0.0)) return FF_ERROR(FF_ERR_INPUT, "[fit] bin_size = %g Hz: it must be positive", bin);
  const double hi = ceil(max_rate);
  if (!(hi > 0.0)) return FF_ERROR(FF_ERR_INPUT, "the recorded rates are all zero: there is nothing to fit");
  if (bin > hi)
    return FF_ERROR(FF_ERR_INPUT, "[fit] bin_size = %g Hz is larger than the rate range 0..%g Hz: every rate would fall "
                                  "into one class; use a bin of at most %g Hz",
                    bin, hi, hi);
  b->n = (int32_t)ceil(hi / bin - 1e-9);
  FF_TRY(FF_MALLOC(b->edges, b->n + 1, "rate classes"));
  for (int32_t k = 0; k < b->n; ++k) b->edges[k] = k * bin;
  b->edges[b->n] = top > hi ? top : hi;
  return FF_OK;
}

int32_t ff_bins_class(const FfBins *b, double r) {
  int32_t lo = 0, hi = b->n; /* the last k with edges[k] <= r, within 0 .. n-1 */
  while (hi - lo > 1) {
    const int32_t mid = (lo + hi) / 2;
    if (b->edges[mid] <= r) lo = mid; else hi = mid;
  }
  return lo;
}

void ff_bins_destroy(FfBins *b) {
  if (b == NULL) return;
  free(b->edges);
  memset(b, 0, sizeof *b);
}

/* ---- the trainer -------------------------------------------------------------------------------- */

enum { M_TRAIN_LOSS, M_TRAIN_ACC, M_TRAIN_MSE, M_TEST_LOSS, M_TEST_ACC, M_TEST_MSE, M_GRAD_NORM, M_SPS, M_LR,
       M_SECONDS, N_METRICS };
static const char *const METRIC_NAMES[N_METRICS] = {"train_loss", "train_bin_acc", "train_mse", "test_loss",
                                                    "test_bin_acc", "test_mse", "grad_norm", "samples_per_s",
                                                    "lr", "seconds"};

struct FfRound1 {
  FfRound1Setup S_copy;
  const FfRound1Setup *S;
  const FfConfig *cfg;
  MPI_Comm comm;
  int rank, size;
  FfFitData rec;
  FfBins bins;
  FfFitNet *f;
  int trainable;
  int64_t n_train, n_test; /* frames */
  int32_t B, P;
  int64_t epochs_done;
  double *hist;            /* [epochs x N_METRICS] */
  int64_t best_epoch;
  double best_acc;
  double un_loss, un_acc, un_mse; /* the untrained model on the test samples */
  double *x, *y, *r, *dl;  /* [B x P] */
  uint32_t *keys;
  char *fingerprint;
  uint64_t part_id;
  int64_t e_offset, e_total; /* this rank's connections in the whole (slab order), and all of them */
  double train_s;
  int64_t train_samples;
  int32_t *np_of;          /* [connectome neuropils] index among the fitted ones, or -1 */
  double setup_s;
  double *peak_rss_mb;     /* [ranks], rank 0 */
  double *sim, *test_pred; /* after the run: the best network over the training and test samples */
  /* a checkpoint written part-way through epoch epochs_done + 1 (stopped by a signal): the batches
   * of that epoch done, and its running sums (Score and the gradient norms) */
  int64_t part_batches;
  double part_loss, part_sq, part_hits, part_n, part_nb, part_norm;
};
typedef struct FfRound1 Trainer;

static void trainer_destroy(Trainer *t) {
  ff_fit_destroy(&t->f);
  ff_fitdata_destroy(&t->rec);
  ff_bins_destroy(&t->bins);
  free(t->hist);
  free(t->x);
  free(t->y);
  free(t->r);
  free(t->dl);
  free(t->keys);
  free(t->fingerprint);
  free(t->np_of);
  free(t->peak_rss_mb);
  free(t->sim);
  free(t->test_pred);
}

/* Input of sample k: frame k's rates, jittered uniformly within their class when training. */
static void sample_input(const Trainer *t, int64_t k, int64_t epoch, int jitter, double *x) {
  const double *rk = t->rec.rates + k * t->P;
  for (int32_t p = 0; p < t->P; ++p) {
    if (!jitter) {
      x[p] = rk[p];
      continue;
    }
    const int32_t c = ff_bins_class(&t->bins, rk[p]);
    uint32_t w[4];
    ff_rng4(t->cfg->seed, FF_STREAM_FIT_JITTER, (uint32_t)k, (uint32_t)p, (uint32_t)epoch, w);
    const double lo = t->bins.edges[c], hi = t->bins.edges[c + 1];
    x[p] = lo + ff_u01_53(w[0], w[1]) * (hi - lo);
  }
}

typedef struct {
  double loss, sq, hits;
  int64_t n; /* neuropil-samples */
  int64_t batches;
} Score;

static void score(const Trainer *t, int32_t B, Score *s, double loss) {
  for (int64_t q = 0; q < (int64_t)B * t->P; ++q) {
    const double d = t->r[q] - t->y[q];
    s->sq += d * d;
    s->hits += ff_bins_class(&t->bins, t->r[q]) == ff_bins_class(&t->bins, t->y[q]);
  }
  s->n += (int64_t)B * t->P;
  s->loss += loss * B * t->P;
  s->batches++;
}

/* Samples [k0, k0 + count) without training; predictions into pred [count x P] when given. */
static int evaluate(Trainer *t, int64_t k0, int64_t count, Score *s, double *pred) {
  memset(s, 0, sizeof *s);
  for (int64_t a = 0; a < count; a += t->B) {
    const int32_t B = (int32_t)(count - a < t->B ? count - a : t->B);
    for (int32_t b = 0; b < B; ++b) {
      const int64_t k = k0 + a + b;
      sample_input(t, k, 0, 0, t->x + (int64_t)b * t->P);
      memcpy(t->y + (int64_t)b * t->P, t->rec.rates + (k + 1) * t->P, (size_t)t->P * sizeof *t->y);
      t->keys[b] = EVAL_KEY | (uint32_t)k;
    }
    FF_TRY(ff_fit_forward(t->f, B, t->x, t->keys, 0, t->r));
    const double loss = ff_fit_loss(t->cfg->loss, t->cfg->huber_delta_hz, t->r, t->y, (int64_t)B * t->P, NULL);
    score(t, B, s, loss);
    if (pred) memcpy(pred + a * t->P, t->r, (size_t)B * t->P * sizeof *pred);
  }
  return FF_OK;
}

/* One epoch of training: shuffled batches, jittered inputs, one Adam step per batch. */
/* Starts after *batch batches of the epoch (a resumed epoch; s and *norm_sum then hold their
 * sums) and returns with *batch = the batches done; *stopped when a signal stopped it early. */
static int train_epoch(Trainer *t, int64_t epoch, double lr, Score *s, double *norm_sum, int64_t *batch,
                       int *stopped) {
  const FfConfig *cfg = t->cfg;
  const int64_t n = t->n_train - 1;
  int64_t *perm;
  uint64_t *key;
  FF_TRY(FF_MALLOC(perm, n, "sample order"));
  FF_TRY(FF_MALLOC(key, n, "sample order"));
  for (int64_t k = 0; k < n; ++k) { /* a permutation keyed by (seed, epoch): sort by random keys */
    uint32_t w[4];
    ff_rng4(cfg->seed, FF_STREAM_FIT_SHUFFLE, (uint32_t)k, (uint32_t)epoch, 0, w);
    key[k] = (uint64_t)w[0] << 32 | w[1];
    perm[k] = k;
  }
  for (int64_t i = 1; i < n; ++i) { /* insertion sort by (key, index): n is a few thousand at most */
    const int64_t p = perm[i];
    int64_t j = i - 1;
    while (j >= 0 && (key[perm[j]] > key[p] || (key[perm[j]] == key[p] && perm[j] > p))) {
      perm[j + 1] = perm[j];
      --j;
    }
    perm[j + 1] = p;
  }
  free(key);
  *stopped = 0;
  FfProgress prog;
  char what[64];
  snprintf(what, sizeof what, "epoch %lld: trained", (long long)epoch + 1);
  ff_progress_start(&prog, what, "samples", (double)n, cfg->progress_s);
  int st = FF_OK;
  for (int64_t a = *batch * t->B; a < n && st == FF_OK; a += t->B) {
    const int32_t B = (int32_t)(n - a < t->B ? n - a : t->B);
    for (int32_t b = 0; b < B; ++b) {
      const int64_t k = perm[a + b];
      sample_input(t, k, epoch, 1, t->x + (int64_t)b * t->P);
      memcpy(t->y + (int64_t)b * t->P, t->rec.rates + (k + 1) * t->P, (size_t)t->P * sizeof *t->y);
      t->keys[b] = (uint32_t)epoch << 16 | (uint32_t)k;
    }
    st = ff_fit_forward(t->f, B, t->x, t->keys, 1, t->r);
    if (st != FF_OK) break;
    const double loss = ff_fit_loss(cfg->loss, cfg->huber_delta_hz, t->r, t->y, (int64_t)B * t->P, t->dl);
    score(t, B, s, loss);
    st = ff_fit_backward(t->f, t->dl);
    double norm = 0.0;
    if (st == FF_OK) st = ff_fit_grad_norm(t->f, &norm);
    if (st == FF_OK && !isfinite(norm))
      st = FF_ERROR(FF_ERR_INPUT, "epoch %lld, batch %lld: the gradient is not finite (norm %g); lower [fit] lr",
                    (long long)epoch + 1, (long long)(a / t->B) + 1, norm);
    *norm_sum += norm;
    const double scale = cfg->clip_norm > 0.0 && norm > cfg->clip_norm ? cfg->clip_norm / norm : 1.0;
    if (st == FF_OK) st = ff_fit_adam(t->f, lr, cfg->beta1, cfg->beta2, cfg->adam_eps, scale);
    /* Adam can fail on one rank only, and a signal may reach some ranks only: agree on both
     * before the next collective */
    int mine[2] = {st, ff_signals_stop_requested() != 0}, all[2];
    MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, t->comm);
    if (st == FF_OK && all[0] != FF_OK) st = FF_ERROR(all[0], "another rank stopped");
    if (st != FF_OK)
      ff_error_prefix("epoch %lld, batch %lld: ", (long long)epoch + 1, (long long)(a / t->B) + 1);
    *batch = a / t->B + 1;
    ff_progress_update(&prog, (double)(a + B));
    if (st == FF_OK && all[1] && a + B < n) { /* stop here; the last batch of an epoch ends it instead */
      *stopped = 1;
      break;
    }
  }
  free(perm);
  return st;
}

/* ---- checkpoints -------------------------------------------------------------------------------- */

/* An order-independent checksum: a wrapping sum of a hash of (array, index, value) over every value,
 * so each rank adds its own rows and any rank count gives the same sum. */
static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t sum_floats(uint64_t tag, const float *v, int64_t first, int64_t n) {
  uint64_t s = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    memcpy(&bits, &v[i], sizeof bits);
    s += mix(tag << 56 ^ (uint64_t)(first + i) << 20 ^ mix(bits));
  }
  return s;
}

typedef struct {
  const char *name;
  float *data;
  int rank;           /* 1 or 2 dims */
  int64_t rows, cols; /* total rows; cols of a 2-D array */
  int64_t row0, n;    /* this rank's rows */
} Array;

static int arrays(Trainer *t, Array *a) {
  FfFitView v;
  ff_fit_view(t->f, &v);
  const FfNet *net = t->S->net;
  const int64_t N = net->n_global, r0 = net->new_base, nl = net->n_local;
  int k = 0;
  a[k++] = (Array){"/params/encoder_w", v.enc_w, 2, N, t->P, r0, nl};
  a[k++] = (Array){"/params/encoder_b", v.enc_b, 1, N, 1, r0, nl};
  a[k++] = (Array){"/adam/encoder_w_m", v.enc_m, 2, N, t->P, r0, nl};
  a[k++] = (Array){"/adam/encoder_w_v", v.enc_v, 2, N, t->P, r0, nl};
  a[k++] = (Array){"/adam/encoder_b_m", v.enc_bm, 1, N, 1, r0, nl};
  a[k++] = (Array){"/adam/encoder_b_v", v.enc_bv, 1, N, 1, r0, nl};
  if (t->trainable & FF_TRAIN_CONNECTIONS) {
    a[k++] = (Array){"/params/connection_w", v.conn_w, 1, t->e_total, 1, t->e_offset, v.n_conn};
    a[k++] = (Array){"/adam/connection_m", v.conn_m, 1, t->e_total, 1, t->e_offset, v.n_conn};
    a[k++] = (Array){"/adam/connection_v", v.conn_v, 1, t->e_total, 1, t->e_offset, v.n_conn};
  }
  return k;
}

static uint64_t checksum(Trainer *t, const Array *a, int na) {
  uint64_t s = 0;
  for (int k = 0; k < na; ++k) s += sum_floats((uint64_t)k + 1, a[k].data, a[k].row0 * a[k].cols, a[k].n * a[k].cols);
  MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_UINT64_T, MPI_SUM, t->comm);
  return s;
}

static int write_attrs(Trainer *t, hid_t f, uint64_t sum) {
  FfFitView v;
  ff_fit_view(t->f, &v);
  int st = FF_OK;
#define A(call) if (st == FF_OK) st = (call)
  A(ff_h5_write_attr_string_fixed(f, "format", "flyfit round-1 checkpoint 1"));
  A(ff_h5_write_attr_string_fixed(f, "fingerprint", t->fingerprint));
  A(ff_h5_write_attr_int(f, "epochs_done", t->epochs_done));
  A(ff_h5_write_attr_int(f, "adam_t", v.adam_t));
  A(ff_h5_write_attr_int(f, "best_epoch", t->best_epoch));
  A(ff_h5_write_attr_double(f, "best_train_bin_acc", t->best_acc));
  A(ff_h5_write_attr_double(f, "untrained_test_loss", t->un_loss));
  A(ff_h5_write_attr_double(f, "untrained_test_bin_acc", t->un_acc));
  A(ff_h5_write_attr_double(f, "untrained_test_mse", t->un_mse));
  A(ff_h5_write_attr_int(f, "neurons", t->S->net->n_global));
  A(ff_h5_write_attr_int(f, "connections", t->e_total));
  A(ff_h5_write_attr_int(f, "neuropils", t->P));
  A(ff_h5_write_attr_int(f, "ranks", t->size));
  A(ff_h5_write_attr_int(f, "partition_id", (int64_t)t->part_id));
  A(ff_h5_write_attr_int(f, "recording_hash", (int64_t)t->rec.hash));
  A(ff_h5_write_attr_int(f, "trainable", t->trainable));
  A(ff_h5_write_attr_int(f, "checksum", (int64_t)sum));
  A(ff_h5_write_attr_int(f, "epoch_batches_done", t->part_batches));
  const double part[6] = {t->part_loss, t->part_sq, t->part_hits, t->part_n, t->part_nb, t->part_norm};
  static const char *const PART[6] = {"epoch_loss_sum", "epoch_sq_sum", "epoch_hits", "epoch_values", "epoch_batches",
                                      "epoch_grad_norm_sum"};
  for (int k = 0; k < 6; ++k) A(ff_h5_write_attr_double(f, PART[k], part[k]));
#undef A
  return st;
}

static int checkpoint_write(Trainer *t, const char *path) {
  Array a[9];
  const int na = arrays(t, a);
  const uint64_t sum = checksum(t, a, na);
  hid_t f;
  char tmp[FF_CONFIG_STR + 64];
  FF_TRY(ff_h5_create_tmp_parallel(path, t->comm, &f, tmp, sizeof tmp));
  int st = FF_OK;
  for (int k = 0; k < na && st == FF_OK; ++k) {
    const int64_t dims[2] = {a[k].rows, a[k].cols};
    st = ff_h5_write_rows(f, a[k].name, H5T_NATIVE_FLOAT, a[k].rank, dims, a[k].row0, a[k].n, a[k].data);
  }
  const int64_t hdims[2] = {t->epochs_done, N_METRICS};
  if (st == FF_OK) st = ff_h5_write_rows(f, "/history", H5T_NATIVE_DOUBLE, 2, hdims, 0, t->rank == 0 ? t->epochs_done : 0, t->hist);
  if (st == FF_OK) st = write_attrs(t, f, sum);
  if (st != FF_OK) { /* every rank got here with the same status: the calls above are collective */
    H5Fclose(f);
    if (t->rank == 0) unlink(tmp);
    ff_error_prefix("writing checkpoint '%s': ", path);
    return st;
  }
  return ff_h5_commit_parallel(f, tmp, path, t->comm);
}

static int read_attr_int(hid_t f, const char *path, const char *name, int64_t *v) {
  if (H5Aexists(f, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return FF_ERROR(FF_ERR_INPUT, "'%s' is not a flyfit round-1 checkpoint (no attribute %s)", path, name);
  }
  return ff_h5_read_attr_int(f, path, name, v); /* checks it is one number */
}

static int read_attr_double(hid_t f, const char *path, const char *name, double *v) {
  if (H5Aexists(f, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return FF_ERROR(FF_ERR_INPUT, "'%s' is not a flyfit round-1 checkpoint (no attribute %s)", path, name);
  }
  return ff_h5_read_attr_double(f, path, name, v);
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

/* Reads a checkpoint into the trainer (collective). check_only: verify identity and checksum only. */
static int checkpoint_read(Trainer *t, const char *path, int params_only) {
  hid_t f;
  FF_TRY(ff_h5_open_parallel(path, t->comm, &f));
  char *fp = NULL, why[1024];
  int64_t v[8] = {0};
  int st = FF_OK;
  static const char *const NAMES[] = {"neurons", "connections", "neuropils", "ranks", "partition_id", "recording_hash",
                                      "trainable", "checksum"};
  for (int k = 0; k < 8 && st == FF_OK; ++k) st = read_attr_int(f, path, NAMES[k], &v[k]);
  if (st == FF_OK) {
    st = FF_MALLOC(fp, 65536, "fingerprint");
    if (st == FF_OK) st = ff_h5_read_attr_string(f, path, "fingerprint", fp, 65536);
  }
  if (st == FF_OK && (v[0] != t->S->net->n_global || v[1] != t->e_total))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' belongs to another network: %lld neurons and %lld connections, this one has %lld "
                                "and %lld",
                  path, (long long)v[0], (long long)v[1], (long long)t->S->net->n_global, (long long)t->e_total);
  if (st == FF_OK && (v[3] != t->size || (uint64_t)v[4] != t->part_id))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was written by %lld ranks%s; a checkpoint continues on the same partition: run "
                                "with %lld ranks and the same /partition/k%lld",
                  path, (long long)v[3], v[3] == t->size ? " with another partition" : "", (long long)v[3],
                  (long long)v[3]);
  if (st == FF_OK && ((uint64_t)v[5] != t->rec.hash || v[2] != t->P))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was fitted to other recordings (or another preprocessing or region mapping) than "
                                "[data] activity = %s gives now",
                  path, t->cfg->activity);
  if (st == FF_OK && strcmp(fp, t->fingerprint) != 0) {
    fingerprint_diff(fp, t->fingerprint, why, sizeof why);
    st = FF_ERROR(FF_ERR_INPUT, "'%s' was made with another configuration: %s", path, why);
  }
  if (st == FF_OK && v[6] != t->trainable)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' trained another set of parameters ([fit] trainable)", path);
  free(fp);
  Array a[9];
  const int na = arrays(t, a);
  for (int k = 0; k < na && st == FF_OK; ++k) {
    const int64_t dims[2] = {a[k].rows, a[k].cols};
    st = ff_h5_read_rows(f, path, a[k].name, H5T_NATIVE_FLOAT, a[k].rank, dims, a[k].row0, a[k].n, a[k].data);
  }
  if (st == FF_OK && checksum(t, a, na) != (uint64_t)v[7])
    st = FF_ERROR(FF_ERR_INPUT, "'%s' is damaged: its parameters do not match its checksum", path);
  if (st == FF_OK && !params_only) {
    int64_t e, adam_t, best_e;
    st = read_attr_int(f, path, "epochs_done", &e);
    if (st == FF_OK) st = read_attr_int(f, path, "adam_t", &adam_t);
    if (st == FF_OK) st = read_attr_int(f, path, "best_epoch", &best_e);
    if (st == FF_OK) st = read_attr_double(f, path, "best_train_bin_acc", &t->best_acc);
    if (st == FF_OK) st = read_attr_double(f, path, "untrained_test_loss", &t->un_loss);
    if (st == FF_OK) st = read_attr_double(f, path, "untrained_test_bin_acc", &t->un_acc);
    if (st == FF_OK) st = read_attr_double(f, path, "untrained_test_mse", &t->un_mse);
    if (st == FF_OK && t->S->train && e > t->cfg->epochs_round1)
      st = FF_ERROR(FF_ERR_INPUT, "'%s' has %lld epochs done, more than [fit] epochs_round1 = %lld", path, (long long)e,
                    (long long)t->cfg->epochs_round1);
    t->part_batches = 0;
    t->part_loss = t->part_sq = t->part_hits = t->part_n = t->part_nb = t->part_norm = 0.0;
    if (st == FF_OK && H5Aexists(f, "epoch_batches_done") > 0) { /* written part-way through an epoch */
      st = read_attr_int(f, path, "epoch_batches_done", &t->part_batches);
      double *part[6] = {&t->part_loss, &t->part_sq, &t->part_hits, &t->part_n, &t->part_nb, &t->part_norm};
      static const char *const PART[6] = {"epoch_loss_sum", "epoch_sq_sum", "epoch_hits", "epoch_values",
                                          "epoch_batches", "epoch_grad_norm_sum"};
      for (int k = 0; k < 6 && st == FF_OK; ++k) st = read_attr_double(f, path, PART[k], part[k]);
    }
    H5Eclear2(H5E_DEFAULT);
    if (st == FF_OK) {
      t->epochs_done = e;
      t->best_epoch = best_e;
      FfFitView fv;
      ff_fit_view(t->f, &fv);
      ff_fit_set_adam_t(t->f, adam_t);
      const int64_t hd[2] = {e, N_METRICS};
      st = ff_h5_read_rows(f, path, "/history", H5T_NATIVE_DOUBLE, 2, hd, 0, e, t->hist);
    }
  }
  H5Fclose(f);
  if (st == FF_OK) st = ff_fit_sync_weights(t->f);
  return st;
}

/* The name of a checkpoint after `epochs` epochs and `batches` batches of the next one. */
static void checkpoint_name(const Trainer *t, int64_t epochs, int64_t batches, char *path, size_t cap) {
  if (batches > 0)
    snprintf(path, cap, "%s/checkpoint-epoch-%lld-batch-%lld.h5", t->cfg->out_dir, (long long)epochs,
             (long long)batches);
  else
    snprintf(path, cap, "%s/checkpoint-epoch-%lld.h5", t->cfg->out_dir, (long long)epochs);
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

/* resume = auto: the newest checkpoint (most epochs, then most batches of the next epoch) in the
 * output directory that opens and checks. */
static int find_newest(Trainer *t, char *path, size_t cap) {
  path[0] = '\0';
  int64_t found[128][2];
  int n = 0;
  if (t->rank == 0) {
    DIR *d = opendir(t->cfg->out_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < 128)
      if (parse_name(e->d_name, &found[n][0], &found[n][1])) ++n;
    if (d) closedir(d);
    for (int i = 1; i < n; ++i) /* newest first */
      for (int j = i; j > 0 && (found[j][0] > found[j - 1][0] ||
                                (found[j][0] == found[j - 1][0] && found[j][1] > found[j - 1][1])); --j) {
        const int64_t x0 = found[j][0], x1 = found[j][1];
        found[j][0] = found[j - 1][0];
        found[j][1] = found[j - 1][1];
        found[j - 1][0] = x0;
        found[j - 1][1] = x1;
      }
  }
  MPI_Bcast(&n, 1, MPI_INT, 0, t->comm);
  MPI_Bcast(found, 2 * n, MPI_INT64_T, 0, t->comm);
  for (int i = 0; i < n; ++i) {
    checkpoint_name(t, found[i][0], found[i][1], path, cap);
    const int st = checkpoint_read(t, path, 0);
    if (st == FF_OK) return FF_OK;
    ff_warn("resume = auto: skipping %s: %s", path, ff_error_message());
    ff_error_clear();
  }
  path[0] = '\0';
  return FF_OK;
}

/* Keeps the two newest epoch checkpoints (and checkpoint-best.h5). */
static void prune(Trainer *t) {
  if (t->rank != 0) return;
  const int64_t every = t->cfg->checkpoint_every;
  int kept = 0;
  for (int64_t e = t->epochs_done; e >= 1; --e) {
    if (e % every != 0 && e != t->epochs_done) continue;
    char p[FF_CONFIG_STR + 64];
    snprintf(p, sizeof p, "%s/checkpoint-epoch-%lld.h5", t->cfg->out_dir, (long long)e);
    if (access(p, F_OK) != 0) continue;
    if (++kept > 2) unlink(p);
  }
  /* checkpoints written part-way through an epoch that is now complete */
  DIR *d = opendir(t->cfg->out_dir);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    int64_t ep, jb;
    char p[FF_CONFIG_STR + 300];
    if (parse_name(e->d_name, &ep, &jb) && jb > 0 && ep < t->epochs_done) {
      snprintf(p, sizeof p, "%s/%s", t->cfg->out_dir, e->d_name);
      unlink(p);
    }
  }
  if (d) closedir(d);
}

static uint64_t partition_id(const FfRound1Setup *S) {
  int rank, size;
  MPI_Comm_rank(S->comm, &rank);
  MPI_Comm_size(S->comm, &size);
  uint64_t id = 0;
  if (rank == 0 && S->net->from_partition) {
    hid_t f;
    char d[64];
    snprintf(d, sizeof d, "/partition/k%d/checksum", size);
    uint64_t *sums = NULL;
    if (ff_h5_open(S->cfg->connectome, H5P_DEFAULT, &f) == FF_OK) {
      if (ff_h5_read_all(f, S->cfg->connectome, d, H5T_NATIVE_UINT64, size, (void **)&sums, NULL) == FF_OK)
        id = ff_fnv1a(FF_FNV_BASIS, sums, (size_t)size * sizeof *sums);
      free(sums);
      H5Fclose(f);
    }
    ff_error_clear();
  }
  MPI_Bcast(&id, 1, MPI_UINT64_T, 0, S->comm);
  return id;
}

static int setup(Trainer *t) {
  const FfRound1Setup *S = t->S;
  const FfConfig *cfg = t->cfg;
  FF_TRY(ff_fitdata_load(cfg, t->comm, &t->rec));
  const FfFitData *rec = &t->rec;
  t->P = rec->P;
  t->B = (int32_t)cfg->fit_batch;
  if (rec->T > 65536)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %lld frames; at most 65536 are supported", cfg->activity, (long long)rec->T);
  t->n_train = (int64_t)floor((double)rec->T * cfg->split) / t->B * t->B + 1;
  t->n_test = rec->T - t->n_train;
  if (t->n_train < t->B + 1)
    return FF_ERROR(FF_ERR_INPUT, "'%s' has %lld frames: [fit] split = %g leaves fewer than one batch of %d training "
                                  "samples; lower [fit] batch or use a longer recording",
                    cfg->activity, (long long)rec->T, cfg->split, t->B);
  if (t->n_test < 1)
    return FF_ERROR(FF_ERR_INPUT, "[fit] split = %g leaves no test frames of the %lld (%lld train); lower it",
                    cfg->split, (long long)rec->T, (long long)t->n_train);
  double maxr = 0.0;
  for (int64_t q = 0; q < rec->T * rec->P; ++q) maxr = rec->rates[q] > maxr ? rec->rates[q] : maxr;
  FF_TRY(ff_bins_make(cfg->bin_size_hz, maxr, cfg->max_rate_hz, &t->bins));
  FF_TRY(ff_config_trainable(cfg, &t->trainable));
  FF_TRY(ff_config_fingerprint(cfg, &t->fingerprint));
  t->part_id = partition_id(S);
  int64_t mine = S->net->n_in;
  MPI_Exscan(&mine, &t->e_offset, 1, MPI_INT64_T, MPI_SUM, t->comm);
  if (t->rank == 0) t->e_offset = 0;
  MPI_Allreduce(&mine, &t->e_total, 1, MPI_INT64_T, MPI_SUM, t->comm);
  /* the loss sees the fitted neuropils: connectome neuropil -> index among them */
  FF_TRY(FF_MALLOC(t->np_of, S->net->n_neuropils > 0 ? S->net->n_neuropils : 1, "neuropil map"));
  int32_t *np_of = t->np_of;
  for (int32_t q = 0; q < S->net->n_neuropils; ++q) np_of[q] = -1;
  for (int32_t p = 0; p < t->P; ++p) np_of[rec->np_index[p]] = p;
  const double frame_ms = 1000.0 / rec->fs_hz, sample_ms = cfg->sample_ms > 0 ? cfg->sample_ms : frame_ms;
  const int32_t steps = (int32_t)floor(sample_ms / S->model->dt_ms + 1e-9);
  if (steps < 2) return FF_ERROR(FF_ERR_INPUT, "[fit] sample_ms = %g is less than two steps", sample_ms);
  FfFitSetup fs = {.model = S->model, .net = S->net, .n_np = t->P, .np_of = np_of, .batch = t->B, .steps = steps,
                   .warmup = (int32_t)floor(cfg->warmup_fraction * steps), .background_hz = cfg->fit_background_hz,
                   .x_scale = cfg->max_rate_hz, .trainable = t->trainable, .etrace_decay = cfg->etrace_decay,
                   .keep_sign = cfg->keep_sign, .enc_init_mV = cfg->encoder_bias_mV,
                   .enc_init_sd_mV = cfg->encoder_sd_mV, .max_trace_bytes = cfg->max_trace_mb * 1e6,
                   .seed = (uint64_t)cfg->seed, .threads = S->threads, .exchange = cfg->exchange, .comm = t->comm};
  FF_TRY(ff_fit_create(&fs, &t->f)); /* np_of is read by the stepper for its whole life */
  t->hist = calloc((size_t)(cfg->epochs_round1 > 0 ? cfg->epochs_round1 : 1) * N_METRICS, sizeof *t->hist);
  if (t->hist == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory for the history");
  FF_TRY(FF_MALLOC(t->x, (int64_t)t->B * t->P, "batch inputs"));
  FF_TRY(FF_MALLOC(t->y, (int64_t)t->B * t->P, "batch targets"));
  FF_TRY(FF_MALLOC(t->r, (int64_t)t->B * t->P, "batch rates"));
  FF_TRY(FF_MALLOC(t->dl, (int64_t)t->B * t->P, "loss gradients"));
  FF_TRY(FF_MALLOC(t->keys, t->B, "sample keys"));
  ff_log("recordings %s (%s): %lld frames at %g Hz, %d neuropils fitted; %lld train frames (%lld samples in batches "
         "of %d), %lld test; %d rate classes of %g Hz",
         cfg->activity, rec->id, (long long)rec->T, rec->fs_hz, t->P, (long long)t->n_train, (long long)t->n_train - 1,
         t->B, (long long)t->n_test, t->bins.n, cfg->bin_size_hz);
  ff_log("round 1: %d steps per sample (%d warm-up), background %g Hz, training %s%s with %s, loss %s, lr %g",
         steps, fs.warmup, cfg->fit_background_hz, cfg->trainable, cfg->keep_sign ? " (signs kept)" : "",
         cfg->etrace_decay > 0 ? "ES-D-RTRL" : "D-RTRL", cfg->loss == FF_LOSS_MAE ? "mae" : cfg->loss == FF_LOSS_HUBER ? "huber" : "mse",
         cfg->lr);
  return FF_OK;
}

/* ---- results ------------------------------------------------------------------------------------ */

int ff_results_begin(hid_t f, const char *config_text, const char *mode, const char *version, const char *hosts,
                     int ranks, int threads, const FfConfig *cfg, const char *recording_id) {
  int st = FF_OK;
#define W(call) if (st == FF_OK) st = (call)
  {
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "/config", ty, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, &config_text) < 0)
      st = FF_ERROR(FF_ERR_IO, "writing /config failed");
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(ty);
  }
  W(ff_h5_group(f, "/run"));
  if (st == FF_OK) {
    hid_t g = H5Gopen2(f, "/run", H5P_DEFAULT);
    W(ff_h5_write_attr_string(g, "mode", mode));
    W(ff_h5_write_attr_string(g, "version", version));
    W(ff_h5_write_attr_string(g, "backend", "cpu"));
    W(ff_h5_write_attr_int(g, "ranks", ranks));
    if (hosts) W(ff_h5_write_attr_string(g, "hosts", hosts));
    W(ff_h5_write_attr_int(g, "threads_rank0", threads));
    W(ff_h5_write_attr_int(g, "seed", cfg->seed));
    W(ff_h5_write_attr_string(g, "connectome", cfg->connectome));
    W(ff_h5_write_attr_string(g, "activity", cfg->activity));
    W(ff_h5_write_attr_string(g, "neural_activity_id", recording_id));
    H5Gclose(g);
  }
  W(ff_results_copy_partition_report(f, cfg->connectome, ranks));
#undef W
  return st;
}

int ff_round1_write_sections(const FfRound1 *t, hid_t f, const double *sim, const double *test_pred) {
  int st = FF_OK;
  const int64_t E = t->epochs_done, P = t->P, ntr = t->n_train - 1, nte = t->n_test, T = t->rec.T;
#define W(call) if (st == FF_OK) st = (call)
  /* per-epoch history, one dataset per metric */
  double *col = malloc((size_t)(E > 0 ? E : 1) * sizeof *col);
  if (col == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory writing results");
  for (int m = 0; m < N_METRICS && st == FF_OK; ++m) {
    char d[96];
    for (int64_t e = 0; e < E; ++e) col[e] = t->hist[e * N_METRICS + m];
    snprintf(d, sizeof d, "/fit/round1/%s", METRIC_NAMES[m]);
    st = ff_h5_write(f, d, H5T_NATIVE_DOUBLE, 1, &E, col);
  }
  free(col);
  W(ff_h5_write_strings(f, "/fit/neuropils", (const char *const *)t->rec.names, P));
  const int64_t nb = t->bins.n + 1;
  W(ff_h5_write(f, "/fit/bin_edges", H5T_NATIVE_DOUBLE, 1, &nb, t->bins.edges));
  int64_t dims[2] = {T, P};
  W(ff_h5_write(f, "/fit/recorded_rates", H5T_NATIVE_DOUBLE, 2, dims, t->rec.rates));
  if (sim) {
    dims[0] = ntr;
    W(ff_h5_write(f, "/round1/sim_rates", H5T_NATIVE_DOUBLE, 2, dims, sim));
  }
  if (test_pred) {
    dims[0] = nte;
    W(ff_h5_write(f, "/round1/test_pred", H5T_NATIVE_DOUBLE, 2, dims, test_pred));
  }
  if (st == FF_OK) {
    hid_t g = H5Gopen2(f, "/fit", H5P_DEFAULT);
    W(ff_h5_write_attr_double(g, "fs_hz", t->rec.fs_hz));
    W(ff_h5_write_attr_int(g, "train_frames", t->n_train));
    W(ff_h5_write_attr_int(g, "test_frames", t->n_test));
    H5Gclose(g);
    g = H5Gopen2(f, "/fit/round1", H5P_DEFAULT);
    W(ff_h5_write_attr_int(g, "epochs", E));
    W(ff_h5_write_attr_int(g, "best_epoch", t->best_epoch));
    W(ff_h5_write_attr_int(g, "train_frames", t->n_train));
    W(ff_h5_write_attr_int(g, "test_frames", t->n_test));
    W(ff_h5_write_attr_double(g, "untrained_test_loss", t->un_loss));
    W(ff_h5_write_attr_double(g, "untrained_test_bin_acc", t->un_acc));
    W(ff_h5_write_attr_double(g, "untrained_test_mse", t->un_mse));
    H5Gclose(g);
  }
  if (st == FF_OK && (sim || test_pred)) {
    hid_t g = H5Gopen2(f, "/round1", H5P_DEFAULT);
    W(ff_h5_write_attr_string(g, "about", "sim_rates[k] is the network's prediction of frame k+1 from frame k over the "
                                          "training frames, with the best epoch's parameters (input for round 2); "
                                          "test_pred[i] predicts frame n_train + i"));
    H5Gclose(g);
  }
#undef W
  return st;
}

static int write_results(Trainer *t, const double *sim, const double *test_pred, double setup_s) {
  const FfConfig *cfg = t->cfg;
  char path[FF_CONFIG_STR + 64], tmp[FF_CONFIG_STR + 128];
  snprintf(path, sizeof path, "%s/results.h5", cfg->out_dir);
  hid_t f;
  FF_TRY(ff_h5_create_tmp(path, &f, tmp, sizeof tmp));
  int st = ff_results_begin(f, t->S->config_text, "fit", t->S->version, t->S->hosts, t->size, t->S->threads, cfg,
                            t->rec.id);
  if (st == FF_OK) st = ff_round1_write_sections(t, f, sim, test_pred);
#define W(call) if (st == FF_OK) st = (call)
  if (st == FF_OK) {
    W(ff_h5_group(f, "/timing"));
    hid_t g = H5Gopen2(f, "/timing", H5P_DEFAULT);
    W(ff_h5_write_attr_double(g, "setup_s", setup_s));
    W(ff_h5_write_attr_double(g, "train_s", t->train_s));
    W(ff_h5_write_attr_double(g, "samples_per_s", t->train_s > 0 ? (double)t->train_samples / t->train_s : 0.0));
    H5Gclose(g);
    const int64_t K = t->size;
    W(ff_h5_write(f, "/timing/peak_rss_mb", H5T_NATIVE_DOUBLE, 1, &K, t->peak_rss_mb));
  }
#undef W
  if (st != FF_OK) {
    ff_h5_abandon(f, tmp);
    return st;
  }
  return ff_h5_commit(f, tmp, path);
}

/* ---- the run ------------------------------------------------------------------------------------ */

/* Everything that can fail on the inputs: recordings, split, classes, network, the checkpoint to
 * resume from; and the untrained model's score. */
static int prepare(Trainer *t) {
  const FfConfig *cfg = t->cfg;
  const double t_setup = ff_wall_seconds();
  FF_TRY(setup(t));
  char path[FF_CONFIG_STR + 128];
  if (!t->S->train) {
    t->setup_s = ff_wall_seconds() - t_setup;
    return FF_OK;
  }
  if (cfg->resume[0]) {
    if (!strcmp(cfg->resume, "auto")) {
      FF_TRY(find_newest(t, path, sizeof path));
      if (path[0])
        ff_log("resume = auto: continuing from %s (%lld epochs%s done)", path, (long long)t->epochs_done,
               t->part_batches ? " and some batches of the next" : "");
      else ff_log("resume = auto: no valid checkpoint in %s; starting afresh", cfg->out_dir);
    } else {
      FF_TRY(checkpoint_read(t, cfg->resume, 0));
      ff_log("resumed from %s: %lld epochs done", cfg->resume, (long long)t->epochs_done);
    }
  }
  if (t->epochs_done == 0 && t->part_batches == 0) {
    Score s;
    FF_TRY(evaluate(t, t->n_train - 1, t->n_test, &s, NULL));
    t->un_loss = s.loss / (double)s.n;
    t->un_acc = s.hits / (double)s.n;
    t->un_mse = s.sq / (double)s.n;
    t->best_acc = -1.0;
    ff_log("untrained: test loss %.5g, bin accuracy %.4f, mse %.5g", t->un_loss, t->un_acc, t->un_mse);
  }
  t->setup_s = ff_wall_seconds() - t_setup;
  return FF_OK;
}

static int run(Trainer *t) {
  const FfConfig *cfg = t->cfg;
  char path[FF_CONFIG_STR + 128], best[FF_CONFIG_STR + 64];
  snprintf(best, sizeof best, "%s/checkpoint-best.h5", cfg->out_dir);
  const double setup_s = t->setup_s;
  FfFitStats st0;
  ff_fit_stats(t->f, &st0);
  ff_signals_arm(1); /* a signal now stops training at the next batch, with a checkpoint */
  for (int64_t e = t->epochs_done; e < cfg->epochs_round1; ++e) {
    const double lr = cfg->lr * pow(cfg->lr_decay, (double)(e / cfg->lr_decay_every));
    const double t0 = ff_wall_seconds();
    Score tr, te;
    double norm_sum = 0.0;
    int64_t batch = 0;
    memset(&tr, 0, sizeof tr);
    if (e == t->epochs_done && t->part_batches > 0) { /* resumed part-way through this epoch */
      batch = t->part_batches;
      tr.loss = t->part_loss;
      tr.sq = t->part_sq;
      tr.hits = t->part_hits;
      tr.n = (int64_t)t->part_n;
      tr.batches = (int64_t)t->part_nb;
      norm_sum = t->part_norm;
      ff_log("epoch %lld: resuming after batch %lld", (long long)e + 1, (long long)batch);
    }
    int stopped = 0;
    FF_TRY(train_epoch(t, e, lr, &tr, &norm_sum, &batch, &stopped));
    if (stopped) { /* a signal: save this point of the epoch, collectively, and stop */
      t->part_batches = batch;
      t->part_loss = tr.loss;
      t->part_sq = tr.sq;
      t->part_hits = tr.hits;
      t->part_n = (double)tr.n;
      t->part_nb = (double)tr.batches;
      t->part_norm = norm_sum;
      checkpoint_name(t, e, batch, path, sizeof path);
      FF_TRY(checkpoint_write(t, path));
      ff_log("stopped by %s after batch %lld of epoch %lld: wrote %s; [run] resume = auto continues from it",
             ff_signals_stop_requested() == SIGUSR1 ? "SIGUSR1" : ff_signals_stop_requested() == SIGINT ? "SIGINT"
             : ff_signals_stop_requested() ? "SIGTERM" : "a signal on another rank",
             (long long)batch, (long long)e + 1, path);
      return FF_ERROR(FF_STOPPED, "stopped by a signal; checkpoint %s written (exit status %d)", path, FF_STOPPED);
    }
    t->part_batches = 0;
    t->part_loss = t->part_sq = t->part_hits = t->part_n = t->part_nb = t->part_norm = 0.0;
    const double gnorm = tr.batches ? norm_sum / (double)tr.batches : 0.0;
    const double t1 = ff_wall_seconds();
    FF_TRY(evaluate(t, t->n_train - 1, t->n_test, &te, NULL));
    double *h = t->hist + e * N_METRICS;
    h[M_TRAIN_LOSS] = tr.loss / (double)tr.n;
    h[M_TRAIN_ACC] = tr.hits / (double)tr.n;
    h[M_TRAIN_MSE] = tr.sq / (double)tr.n;
    h[M_TEST_LOSS] = te.loss / (double)te.n;
    h[M_TEST_ACC] = te.hits / (double)te.n;
    h[M_TEST_MSE] = te.sq / (double)te.n;
    h[M_GRAD_NORM] = gnorm;
    h[M_SPS] = (double)(t->n_train - 1) / (t1 - t0);
    h[M_LR] = lr;
    h[M_SECONDS] = ff_wall_seconds() - t0;
    t->train_s += t1 - t0;
    t->train_samples += t->n_train - 1;
    t->epochs_done = e + 1;
    const int is_best = h[M_TRAIN_ACC] > t->best_acc;
    if (is_best) {
      t->best_acc = h[M_TRAIN_ACC];
      t->best_epoch = e + 1;
    }
    ff_log("epoch %lld/%lld: train loss %.5g (bin acc %.4f, mse %.5g), test loss %.5g (bin acc %.4f, mse %.5g), "
           "grad norm %.4g, %.3g samples/s, lr %.3g%s",
           (long long)e + 1, (long long)cfg->epochs_round1, h[M_TRAIN_LOSS], h[M_TRAIN_ACC], h[M_TRAIN_MSE],
           h[M_TEST_LOSS], h[M_TEST_ACC], h[M_TEST_MSE], gnorm, h[M_SPS], lr, is_best ? "  (best)" : "");
    if ((e + 1) % cfg->checkpoint_every == 0 || e + 1 == cfg->epochs_round1) {
      checkpoint_name(t, e + 1, 0, path, sizeof path);
      FF_TRY(checkpoint_write(t, path));
      prune(t);
    }
    if (is_best) FF_TRY(checkpoint_write(t, best));
  }
  ff_signals_arm(0);
  FfFitStats st1;
  ff_fit_stats(t->f, &st1);
  if (st1.steps > st0.steps) {
    const double per = st1.step_s / (double)(st1.steps - st0.steps);
    const double bytes = st1.bytes_per_neuron_step * (double)t->S->net->n_local * t->B;
    ff_log("rank 0 stepper: %.3g ms per step for %d neurons x %d samples; %.3g MB of state and traces touched per "
           "step, %.3g GB/s",
           per * 1e3, t->S->net->n_local, t->B, bytes / 1e6, bytes / per / 1e9);
  }
  /* the best epoch's network over the training frames (round 2's input) and the test frames */
  double *sim = NULL, *test_pred = NULL;
  FF_TRY(FF_MALLOC(sim, (t->n_train - 1) * t->P, "simulated rates"));
  FF_TRY(FF_MALLOC(test_pred, t->n_test * t->P, "test predictions"));
  if (t->epochs_done > 0 && access(best, F_OK) == 0) FF_TRY(checkpoint_read(t, best, 1));
  Score s_tr, s_te;
  FF_TRY(evaluate(t, 0, t->n_train - 1, &s_tr, sim));
  FF_TRY(evaluate(t, t->n_train - 1, t->n_test, &s_te, test_pred));
  ff_log("best epoch %lld: over the training frames loss %.5g (bin acc %.4f); test loss %.5g (bin acc %.4f, mse %.5g)",
         (long long)t->best_epoch, s_tr.loss / (double)s_tr.n, s_tr.hits / (double)s_tr.n, s_te.loss / (double)s_te.n,
         s_te.hits / (double)s_te.n, s_te.sq / (double)s_te.n);
  FF_TRY(ff_peak_memory(t->comm, 1, &t->peak_rss_mb));
  int st = t->rank == 0 && t->S->train == 1 ? write_results(t, sim, test_pred, setup_s) : FF_OK;
  MPI_Bcast(&st, 1, MPI_INT, 0, t->comm);
  t->sim = sim;
  t->test_pred = test_pred;
  if (st != FF_OK) return t->rank == 0 ? st : FF_ERROR(st, "rank 0 could not write the results");
  if (t->rank == 0) {
    const double *h = t->epochs_done ? t->hist + (t->epochs_done - 1) * N_METRICS : NULL;
    if (t->S->train == 1) ff_log("wrote %s/results.h5", cfg->out_dir);
    ff_summary("fit done: epochs=%lld best_epoch=%lld train_loss=%.6g train_bin_acc=%.6g test_loss=%.6g test_bin_acc=%.6g "
           "test_mse=%.6g best_test_loss=%.6g best_test_bin_acc=%.6g untrained_test_loss=%.6g "
           "untrained_test_bin_acc=%.6g untrained_test_mse=%.6g samples_per_s=%.4g\n",
           (long long)t->epochs_done, (long long)t->best_epoch, h ? h[M_TRAIN_LOSS] : NAN, h ? h[M_TRAIN_ACC] : NAN,
           h ? h[M_TEST_LOSS] : t->un_loss, h ? h[M_TEST_ACC] : t->un_acc, h ? h[M_TEST_MSE] : t->un_mse,
           s_te.loss / (double)s_te.n, s_te.hits / (double)s_te.n, t->un_loss, t->un_acc, t->un_mse,
           t->train_s > 0 ? (double)t->train_samples / t->train_s : 0.0);
  }
  return FF_OK;
}

int ff_round1_prepare(const FfRound1Setup *S, FfRound1 **out) {
  *out = NULL;
  Trainer *t;
  FF_TRY(FF_CALLOC(t, 1, "round 1"));
  t->S_copy = *S;
  t->S = &t->S_copy;
  t->cfg = S->cfg;
  t->comm = S->comm;
  MPI_Comm_rank(S->comm, &t->rank);
  MPI_Comm_size(S->comm, &t->size);
  const int st = prepare(t);
  if (st != FF_OK) {
    ff_round1_destroy(&t);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  *out = t;
  return FF_OK;
}

int ff_round1_run(FfRound1 *t) {
  const int st = run(t);
  if (st != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return st;
}

const FfFitData *ff_round1_data(const FfRound1 *t) { return &t->rec; }
const FfBins *ff_round1_bins(const FfRound1 *t) { return &t->bins; }
int64_t ff_round1_train_frames(const FfRound1 *t) { return t->n_train; }
struct FfFitNet *ff_round1_net(FfRound1 *t) { return t->f; }

int ff_round1_load_params(FfRound1 *t, const char *path) {
  FF_TRY(checkpoint_read(t, path, 0));
  return FF_OK;
}

const double *ff_round1_sim_rates(const FfRound1 *t) { return t->sim; }
const double *ff_round1_test_pred(const FfRound1 *t) { return t->test_pred; }

int ff_round1_simulate(FfRound1 *t, int64_t k0, int64_t count, double **rates) {
  Score s;
  *rates = NULL;
  FF_TRY(FF_MALLOC(*rates, (count > 0 ? count : 1) * t->P, "simulated rates"));
  return evaluate(t, k0, count, &s, *rates);
}

int64_t ff_round1_history(const FfRound1 *t, const double **hist, const char *const **names, int *n_metrics) {
  *hist = t->hist;
  *names = METRIC_NAMES;
  *n_metrics = N_METRICS;
  return t->epochs_done;
}

void ff_round1_destroy(FfRound1 **t) {
  if (t == NULL || *t == NULL) return;
  trainer_destroy(*t);
  free(*t);
  *t = NULL;
}
