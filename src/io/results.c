/* Gathering a run's outputs on rank 0 and writing results.h5 / spikes.txt (include/flyfit/results.h). */
#include "flyfit/results.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ff_neuropil_sums(int64_t n, int32_t n_neuropils, const int64_t *np_row, const int16_t *np_id, const int32_t *np_syn,
                      int32_t batch, const int32_t *count, int64_t *syn_sum, int64_t *acc) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = np_row[i]; e < np_row[i + 1]; ++e) syn_sum[np_id[e]] += np_syn[e];
  for (int32_t b = 0; b < batch; ++b) {
    const int32_t *cb = count + (int64_t)b * n;
    int64_t *ab = acc + (int64_t)b * n_neuropils;
    for (int64_t i = 0; i < n; ++i)
      if (cb[i])
        for (int64_t e = np_row[i]; e < np_row[i + 1]; ++e) ab[np_id[e]] += (int64_t)np_syn[e] * cb[i];
  }
}

void ff_neuropil_rates(int32_t n_neuropils, int32_t batch, const int64_t *syn_sum, const int64_t *acc, double duration_s,
                       double *rate) {
  for (int32_t b = 0; b < batch; ++b)
    for (int32_t p = 0; p < n_neuropils; ++p) {
      const int64_t k = (int64_t)b * n_neuropils + p;
      rate[k] = syn_sum[p] ? (double)acc[k] / (double)syn_sum[p] / duration_s : 0.0;
    }
}

/* Gathers `local_n` items of `elem` bytes from every rank to rank 0 (result allocated there). */
static int gather(const void *local, int64_t local_n, size_t elem, MPI_Comm comm, void **all, int64_t *all_n) {
  int size, rank;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  int64_t bytes = local_n * (int64_t)elem;
  int64_t *sizes = NULL;
  if (rank == 0) FF_TRY(FF_MALLOC(sizes, size, "gather sizes"));
  MPI_Gather(&bytes, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0, comm);
  int too_big = 0, *cnt = NULL, *dsp = NULL;
  int64_t total = 0;
  if (rank == 0) {
    for (int r = 0; r < size; ++r) total += sizes[r];
    too_big = total > INT_MAX;
  }
  MPI_Bcast(&too_big, 1, MPI_INT, 0, comm);
  if (too_big) return FF_ERROR(FF_ERR_UNSUPPORTED, "output of %lld bytes is too large to gather on rank 0; record fewer "
                                                   "spikes or state neurons", (long long)total);
  char *buf = NULL;
  if (rank == 0) {
    FF_TRY(FF_MALLOC(buf, total, "gathered output"));
    FF_TRY(FF_MALLOC(cnt, size, "gather counts"));
    FF_TRY(FF_MALLOC(dsp, size, "gather offsets"));
    for (int r = 0, off = 0; r < size; ++r) {
      cnt[r] = (int)sizes[r];
      dsp[r] = off;
      off += cnt[r];
    }
    *all_n = total / (int64_t)elem;
  }
  MPI_Gatherv(local, (int)bytes, MPI_BYTE, buf, cnt, dsp, MPI_BYTE, 0, comm);
  free(sizes);
  free(cnt);
  free(dsp);
  if (rank == 0) *all = buf;
  return FF_OK;
}

typedef struct {
  int32_t b, step;
  int64_t gid;
} Rec;

static int rec_cmp(const void *x, const void *y) {
  const Rec *a = x, *b = y;
  if (a->b != b->b) return a->b < b->b ? -1 : 1;
  if (a->step != b->step) return a->step < b->step ? -1 : 1;
  return a->gid < b->gid ? -1 : (a->gid > b->gid);
}

typedef struct { /* what rank 0 holds after gathering */
  int32_t *count; /* [B x N] */
  double *rate;   /* [B x P] neuropil rates */
  Rec *rec;
  int64_t n_rec;
  int64_t n_state;
  int64_t *state_gid;
  double *state_v, *state_g; /* [B x steps x K] */
  double *times;  /* [ranks x N_TIMES] */
  int64_t *stats; /* [ranks x N_STATS] */
} Gathered;

/* Per-rank figures written to /timing and /counts, for scaling studies (tools/flyfit-scaling). */
enum { N_TIMES = 5, N_STATS = 7 };
static const char *const TIME_NAMES[N_TIMES] = {"create_s", "compute_s", "pack_s", "comm_s", "unpack_s"};
static const char *const STAT_NAMES[N_STATS] = {"spikes", "events", "words_sent", "words_recv",
                                                "neurons", "connections", "standins"};

static int gather_all(const FfRunInfo *info, const FfSimOutput *o, MPI_Comm comm, Gathered *G) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  const FfNet *net = info->setup->net;
  const int32_t B = info->setup->batch;
  const int64_t N = net->n_global, T = info->setup->n_steps;
  memset(G, 0, sizeof *G);
  int size;
  MPI_Comm_size(comm, &size);
  const double times[N_TIMES] = {o->create_s, o->compute_s, o->pack_s, o->comm_s, o->unpack_s};
  const int64_t stats[N_STATS] = {o->spikes, o->events, o->words_sent, o->words_recv, net->n_local, net->n_in, net->n_pre};
  if (rank == 0) {
    FF_TRY(FF_MALLOC(G->times, (int64_t)size * N_TIMES, "per-rank timings"));
    FF_TRY(FF_MALLOC(G->stats, (int64_t)size * N_STATS, "per-rank counts"));
  }
  MPI_Gather(times, N_TIMES, MPI_DOUBLE, G->times, N_TIMES, MPI_DOUBLE, 0, comm);
  MPI_Gather(stats, N_STATS, MPI_INT64_T, G->stats, N_STATS, MPI_INT64_T, 0, comm);
  /* neuropil rates: integer sums of every rank's neurons, added across ranks */
  const int32_t P = net->n_neuropils;
  int64_t *sums, *all_sums = NULL;
  FF_TRY(FF_CALLOC(sums, P + (int64_t)B * P, "neuropil sums"));
  ff_neuropil_sums(net->n_local, P, net->np_row, net->np_id, net->np_syn, B, o->count, sums, sums + P);
  if (rank == 0) FF_TRY(FF_MALLOC(all_sums, P + (int64_t)B * P, "neuropil sums"));
  MPI_Reduce(sums, all_sums, (int)(P + (int64_t)B * P), MPI_INT64_T, MPI_SUM, 0, comm);
  free(sums);
  if (rank == 0) {
    FF_TRY(FF_MALLOC(G->rate, (int64_t)B * P, "neuropil rates"));
    ff_neuropil_rates(P, B, all_sums, all_sums + P, (double)T * info->setup->model->dt_ms * 1e-3, G->rate);
    free(all_sums);
  }
  /* spike counts: gids and [B x n_local] counts, placed by gid */
  int64_t *gids = NULL, n_all = 0, n_cnt = 0;
  int32_t *cnt = NULL;
  FF_TRY(gather(net->gid, net->n_local, sizeof(int64_t), comm, (void **)&gids, &n_all));
  FF_TRY(gather(o->count, (int64_t)B * net->n_local, sizeof(int32_t), comm, (void **)&cnt, &n_cnt));
  /* recorded spikes */
  Rec *mine;
  FF_TRY(FF_MALLOC(mine, o->n_rec, "recorded spikes"));
  for (int64_t k = 0; k < o->n_rec; ++k) mine[k] = (Rec){o->rec_batch[k], o->rec_step[k], o->rec_gid[k]};
  FF_TRY(gather(mine, o->n_rec, sizeof(Rec), comm, (void **)&G->rec, &G->n_rec));
  free(mine);
  /* recorded state: per rank, gids then values laid out [B x T x k_local] */
  int64_t *sgid = NULL, n_sgid = 0, n_sv = 0;
  double *sv = NULL, *sg = NULL;
  FF_TRY(gather(o->state_gid, o->n_state, sizeof(int64_t), comm, (void **)&sgid, &n_sgid));
  FF_TRY(gather(o->state_v, (int64_t)B * T * o->n_state, sizeof(double), comm, (void **)&sv, &n_sv));
  FF_TRY(gather(o->state_g, (int64_t)B * T * o->n_state, sizeof(double), comm, (void **)&sg, &n_sv));
  /* the per-rank counts of state neurons, to unpack the blocks */
  int64_t *ks = NULL;
  if (rank == 0) FF_TRY(FF_MALLOC(ks, size, "state counts"));
  MPI_Gather(&o->n_state, 1, MPI_INT64_T, ks, 1, MPI_INT64_T, 0, comm);
  int64_t *ln = NULL;
  if (rank == 0) FF_TRY(FF_MALLOC(ln, size, "local counts"));
  int64_t nl = net->n_local;
  MPI_Gather(&nl, 1, MPI_INT64_T, ln, 1, MPI_INT64_T, 0, comm);
  if (rank != 0) return FF_OK;

  FF_TRY(FF_CALLOC(G->count, (int64_t)B * N, "spike counts"));
  for (int r = 0, off = 0; r < size; ++r) { /* rank r sent gids[off..off+ln) and B blocks of counts */
    const int64_t *g = gids + off;
    const int32_t *c = cnt + (int64_t)B * off;
    for (int32_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < ln[r]; ++i) G->count[(int64_t)b * N + g[i]] = c[(int64_t)b * ln[r] + i];
    off += (int)ln[r];
  }
  qsort(G->rec, (size_t)G->n_rec, sizeof(Rec), rec_cmp);
  /* state: order neurons by gid (lists are ascending per rank; merge by sorting an index) */
  const int64_t K = n_sgid;
  G->n_state = K;
  FF_TRY(FF_MALLOC(G->state_gid, K, "state neurons"));
  FF_TRY(FF_MALLOC(G->state_v, B * T * K, "state v"));
  FF_TRY(FF_MALLOC(G->state_g, B * T * K, "state g"));
  int64_t *col; /* column of each gathered neuron in the sorted order */
  FF_TRY(FF_MALLOC(col, K, "state order"));
  for (int64_t a = 0; a < K; ++a) {
    int64_t pos = 0;
    for (int64_t q = 0; q < K; ++q) pos += sgid[q] < sgid[a];
    col[a] = pos;
    G->state_gid[pos] = sgid[a];
  }
  for (int r = 0, k0 = 0; r < size; ++r) {
    const int64_t kr = ks[r];
    const double *vr = sv + (int64_t)B * T * k0, *gr = sg + (int64_t)B * T * k0;
    for (int64_t bt = 0; bt < (int64_t)B * T; ++bt)
      for (int64_t k = 0; k < kr; ++k) {
        G->state_v[bt * K + col[k0 + k]] = vr[bt * kr + k];
        G->state_g[bt * K + col[k0 + k]] = gr[bt * kr + k];
      }
    k0 += (int)kr;
  }
  free(col);
  free(gids);
  free(cnt);
  free(sgid);
  free(sv);
  free(sg);
  free(ks);
  free(ln);
  return FF_OK;
}

static void gathered_destroy(Gathered *G) {
  free(G->times);
  free(G->stats);
  free(G->count);
  free(G->rate);
  free(G->rec);
  free(G->state_gid);
  free(G->state_v);
  free(G->state_g);
}

static int write_spikes_txt(const char *dir, const Gathered *G, double dt) {
  char path[FF_CONFIG_STR + 64], tmp[FF_CONFIG_STR + 96];
  snprintf(path, sizeof path, "%s/spikes.txt", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return FF_ERROR(FF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
  for (int64_t k = 0; k < G->n_rec && G->rec[k].b == 0; ++k)
    fprintf(f, "%lld %.10g\n", (long long)G->rec[k].gid, G->rec[k].step * dt);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "writing '%s' failed: %s", path, strerror(errno));
  }
  return FF_OK;
}

/* Writes column c of a [ranks x cols] row-major table as dataset group/names[c] of length ranks. */
static int write_columns(hid_t f, const char *group, hid_t type, const void *table, size_t elem, int ranks, int cols,
                         const char *const *names) {
  unsigned char *col = malloc((size_t)ranks * elem + 1);
  if (col == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory writing %s", group);
  int st = FF_OK;
  char d[128];
  const int64_t n = ranks;
  for (int c = 0; c < cols && st == FF_OK; ++c) {
    for (int r = 0; r < ranks; ++r) memcpy(col + (size_t)r * elem, (const unsigned char *)table + ((size_t)r * cols + c) * elem, elem);
    snprintf(d, sizeof d, "%s/%s", group, names[c]);
    st = ff_h5_write(f, d, type, 1, &n, col);
  }
  free(col);
  return st;
}

int ff_results_copy_partition_report(hid_t out, const char *connectome, int ranks) {
  if (ranks < 2) return FF_OK;
  hid_t c;
  char g[64];
  snprintf(g, sizeof g, "/partition/k%d/report", ranks);
  FF_TRY(ff_h5_open(connectome, H5P_DEFAULT, &c));
  int st = FF_OK;
  if (ff_h5_exists(c, g)) {
    hid_t ocpl = H5Pcreate(H5P_OBJECT_COPY);
    if (H5Ocopy(c, g, out, "/partition_report", ocpl, H5P_DEFAULT) < 0)
      st = FF_ERROR(FF_ERR_IO, "copying %s of '%s' into the results failed", g, connectome);
    H5Pclose(ocpl);
  }
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(c);
  return st;
}

static int write_h5(const FfRunInfo *info, const FfSimOutput *o, const Gathered *G) {
  const FfConfig *cfg = info->cfg;
  const FfSimSetup *s = info->setup;
  const int32_t B = s->batch;
  const int64_t N = s->net->n_global, T = s->n_steps;
  char path[FF_CONFIG_STR + 64], tmp[FF_CONFIG_STR + 128];
  snprintf(path, sizeof path, "%s/results.h5", cfg->out_dir);

  hid_t cf;
  int64_t P = 0;
  char **names = NULL;
  FF_TRY(ff_h5_open(cfg->connectome, H5P_DEFAULT, &cf));
  int st = ff_h5_read_strings(cf, cfg->connectome, "/neuropils/names", &names, &P);
  H5Fclose(cf);
  if (st) return st;
  const double *rate = G->rate;

  hid_t f;
  FF_TRY(ff_h5_create_tmp(path, &f, tmp, sizeof tmp));
  int64_t dims[3];
  int32_t *rb = NULL, *rs = NULL;
  int64_t *rg = NULL;
  st = FF_MALLOC(rb, G->n_rec, "spikes");
  if (!st) st = FF_MALLOC(rs, G->n_rec, "spikes");
  if (!st) st = FF_MALLOC(rg, G->n_rec, "spikes");
  for (int64_t k = 0; !st && k < G->n_rec; ++k) {
    rb[k] = G->rec[k].b;
    rs[k] = G->rec[k].step;
    rg[k] = G->rec[k].gid;
  }
  const char *text = info->config_text;
  int64_t one = 1;
  if (!st) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "/config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) < 0) st = FF_ERROR(FF_ERR_IO, "writing /config failed");
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    (void)one;
  }
  if (!st) {
    st = ff_h5_group(f, "/run");
    hid_t g = H5Gopen2(f, "/run", H5P_DEFAULT);
    if (!st) st = ff_h5_write_attr_string(g, "mode", "simulate");
    if (!st) st = ff_h5_write_attr_string(g, "version", info->version);
    if (!st) st = ff_h5_write_attr_string(g, "backend", info->cfg->backend == FF_BACKEND_CUDA      ? "cuda"
                                                         : info->cfg->backend == FF_BACKEND_EMULATE ? "emulate"
                                                                                                    : "cpu");
    if (!st) st = ff_h5_write_attr_string(g, "preset", ff_preset_name(cfg->preset));
    if (!st) st = ff_h5_write_attr_int(g, "ranks", info->ranks);
    if (!st && info->hosts) st = ff_h5_write_attr_string(g, "hosts", info->hosts);
    if (!st) st = ff_h5_write_attr_int(g, "threads_rank0", s->threads);
    if (!st) st = ff_h5_write_attr_int(g, "batch", B);
    if (!st) st = ff_h5_write_attr_int(g, "steps", T);
    if (!st) st = ff_h5_write_attr_int(g, "seed", cfg->seed);
    if (!st) st = ff_h5_write_attr_double(g, "dt_ms", s->model->dt_ms);
    if (!st) st = ff_h5_write_attr_double(g, "duration_ms", (double)T * s->model->dt_ms);
    if (!st) st = ff_h5_write_attr_int(g, "delay_steps", s->model->delay_steps);
    if (!st) st = ff_h5_write_attr_string(g, "connectome", cfg->connectome);
    H5Gclose(g);
  }
  if (!st) {
    st = ff_h5_group(f, "/timing");
    hid_t g = H5Gopen2(f, "/timing", H5P_DEFAULT);
    if (!st) st = ff_h5_write_attr_double(g, "setup_s", info->setup_s);
    if (!st) st = ff_h5_write_attr_double(g, "simulate_s", info->simulate_s);
    if (!st) st = ff_h5_write_attr_int(g, "windows", o->windows);
    if (!st) st = ff_h5_write_attr_string(g, "exchange", o->exchange == FF_EXCHANGE_TARGETED ? "targeted" : "allgather");
    H5Gclose(g);
    int64_t ranks = info->ranks;
    if (!st) st = ff_h5_write(f, "/timing/peak_rss_mb", H5T_NATIVE_DOUBLE, 1, &ranks, info->peak_rss_mb);
    st = st ? st : write_columns(f, "/timing", H5T_NATIVE_DOUBLE, G->times, sizeof *G->times, info->ranks, N_TIMES, TIME_NAMES);
    st = st ? st : write_columns(f, "/counts", H5T_NATIVE_INT64, G->stats, sizeof *G->stats, info->ranks, N_STATS, STAT_NAMES);
  }
  dims[0] = B;
  dims[1] = N;
  if (!st) st = ff_results_copy_partition_report(f, cfg->connectome, info->ranks);
  if (!st) st = ff_h5_write(f, "/neurons/spike_count", H5T_NATIVE_INT32, 2, dims, G->count);
  if (!st) st = ff_h5_write_strings(f, "/neuropils/names", (const char *const *)names, P);
  dims[1] = P;
  if (!st) st = ff_h5_write(f, "/neuropils/rate_hz", H5T_NATIVE_DOUBLE, 2, dims, rate);
  if (!st) st = ff_h5_write(f, "/spikes/batch", H5T_NATIVE_INT32, 1, &G->n_rec, rb);
  if (!st) st = ff_h5_write(f, "/spikes/step", H5T_NATIVE_INT32, 1, &G->n_rec, rs);
  if (!st) st = ff_h5_write(f, "/spikes/neuron", H5T_NATIVE_INT64, 1, &G->n_rec, rg);
  if (!st) {
    hid_t g = H5Gopen2(f, "/spikes", H5P_DEFAULT);
    st = ff_h5_write_attr_double(g, "dt_ms", s->model->dt_ms);
    if (!st) st = ff_h5_write_attr_string(g, "recorded", cfg->spikes);
    H5Gclose(g);
  }
  if (!st && G->n_state > 0) {
    st = ff_h5_write(f, "/state/neuron", H5T_NATIVE_INT64, 1, &G->n_state, G->state_gid);
    dims[0] = B;
    dims[1] = T;
    dims[2] = G->n_state;
    if (!st) st = ff_h5_write(f, "/state/v_mV", H5T_NATIVE_DOUBLE, 3, dims, G->state_v);
    if (!st) st = ff_h5_write(f, "/state/g_mV", H5T_NATIVE_DOUBLE, 3, dims, G->state_g);
  }
  free(rb);
  free(rs);
  free(rg);
  ff_h5_free_strings(&names, P);
  if (st) {
    ff_h5_abandon(f, tmp);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  FF_TRY(ff_h5_commit(f, tmp, path));
  return FF_OK;
}

int ff_results_write(const FfRunInfo *info, const FfSimOutput *local, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  Gathered G;
  int st = gather_all(info, local, comm, &G);
  if (rank == 0 && st == FF_OK) {
    st = write_h5(info, local, &G);
    if (st == FF_OK && info->cfg->spikes_txt) st = write_spikes_txt(info->cfg->out_dir, &G, info->setup->model->dt_ms);
  }
  if (rank == 0) gathered_destroy(&G);
  if (st != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return st;
}
