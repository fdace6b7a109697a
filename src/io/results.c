/* Results files (include/flyfit/results.h): a simulation's outputs gathered on rank 0 and written as
 * results.h5 and spikes.txt; the sections every fit's results.h5 shares. */
#include "flyfit/results.h"
#include "flyfit/atomic.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Collective: all ranks of comm must call it. Gathers `local_n` items of `elem` bytes from every
 * rank to rank 0 (result allocated there). */
static int gather(const void *local, int64_t local_n, size_t elem, MPI_Comm comm, void **all, int64_t *all_n) {
  int size, rank;
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  int64_t bytes = local_n * (int64_t)elem;
  int64_t *sizes = NULL;
  if (rank == 0) FF_TRY(FF_MALLOC(sizes, size, "gather sizes"));
  FF_TRY(FF_MPI(MPI_Gather(&bytes, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0, comm)));
  int too_big = 0, *cnt = NULL, *dsp = NULL;
  int64_t total = 0;
  if (rank == 0) {
    for (int r = 0; r < size; ++r) total += sizes[r];
    too_big = total > INT_MAX;
  }
  FF_TRY(FF_MPI(MPI_Bcast(&too_big, 1, MPI_INT, 0, comm)));
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
  const int st = FF_MPI(MPI_Gatherv(local, (int)bytes, MPI_BYTE, buf, cnt, dsp, MPI_BYTE, 0, comm));
  free(sizes);
  free(cnt);
  free(dsp);
  if (rank == 0) *all = buf;
  return st;
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

/* Collective: the per-rank timings and counts, and the neuropil rates (integer sums of every
 * rank's neurons, added across ranks). */
static int gather_tables(const FfRunInfo *info, const FfSimOutput *o, MPI_Comm comm, int rank, int size, Gathered *G) {
  const FfNet *net = info->setup->net;
  const int32_t B = info->setup->batch;
  const double times[N_TIMES] = {o->create_s, o->compute_s, o->pack_s, o->comm_s, o->unpack_s};
  const int64_t stats[N_STATS] = {o->spikes, o->events, o->words_sent, o->words_recv, net->n_local, net->n_in, net->n_pre};
  if (rank == 0) {
    FF_TRY(FF_MALLOC(G->times, (int64_t)size * N_TIMES, "per-rank timings"));
    FF_TRY(FF_MALLOC(G->stats, (int64_t)size * N_STATS, "per-rank counts"));
  }
  FF_TRY(FF_MPI(MPI_Gather(times, N_TIMES, MPI_DOUBLE, G->times, N_TIMES, MPI_DOUBLE, 0, comm)));
  FF_TRY(FF_MPI(MPI_Gather(stats, N_STATS, MPI_INT64_T, G->stats, N_STATS, MPI_INT64_T, 0, comm)));
  const int32_t P = net->n_neuropils;
  int64_t *sums, *all_sums = NULL;
  FF_TRY(FF_CALLOC(sums, P + (int64_t)B * P, "neuropil sums"));
  ff_neuropil_sums(net->n_local, P, net->np_row, net->np_id, net->np_syn, B, o->count, sums, sums + P);
  if (rank == 0) FF_TRY(FF_MALLOC(all_sums, P + (int64_t)B * P, "neuropil sums"));
  const int st = FF_MPI(MPI_Reduce(sums, all_sums, (int)(P + (int64_t)B * P), MPI_INT64_T, MPI_SUM, 0, comm));
  free(sums);
  if (st == FF_OK && rank == 0) {
    FF_TRY(FF_MALLOC(G->rate, (int64_t)B * P, "neuropil rates"));
    ff_neuropil_rates(P, B, all_sums, all_sums + P, (double)info->setup->n_steps * info->setup->model->dt_ms * 1e-3,
                      G->rate);
  }
  free(all_sums);
  return st;
}

/* Collective: the spike counts [B x N], placed by gid on rank 0. */
static int gather_counts(const FfRunInfo *info, const FfSimOutput *o, MPI_Comm comm, int rank, int size, Gathered *G) {
  const FfNet *net = info->setup->net;
  const int32_t B = info->setup->batch;
  const int64_t N = net->n_global;
  int64_t *gids = NULL, n_all = 0, n_cnt = 0, *ln = NULL, nl = net->n_local;
  int32_t *cnt = NULL;
  FF_TRY(gather(net->gid, net->n_local, sizeof(int64_t), comm, (void **)&gids, &n_all));
  FF_TRY(gather(o->count, (int64_t)B * net->n_local, sizeof(int32_t), comm, (void **)&cnt, &n_cnt));
  if (rank == 0) FF_TRY(FF_MALLOC(ln, size, "local counts"));
  FF_TRY(FF_MPI(MPI_Gather(&nl, 1, MPI_INT64_T, ln, 1, MPI_INT64_T, 0, comm)));
  if (rank != 0) return FF_OK;
  FF_TRY(FF_CALLOC(G->count, (int64_t)B * N, "spike counts"));
  for (int r = 0, off = 0; r < size; ++r) { /* rank r sent gids[off..off+ln) and B blocks of counts */
    const int64_t *g = gids + off;
    const int32_t *c = cnt + (int64_t)B * off;
    for (int32_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < ln[r]; ++i) G->count[(int64_t)b * N + g[i]] = c[(int64_t)b * ln[r] + i];
    off += (int)ln[r];
  }
  free(gids);
  free(cnt);
  free(ln);
  return FF_OK;
}

/* Collective: the recorded spikes, sorted by (batch, step, neuron) on rank 0. */
static int gather_spikes(const FfSimOutput *o, MPI_Comm comm, int rank, Gathered *G) {
  Rec *mine;
  FF_TRY(FF_MALLOC(mine, o->n_rec, "recorded spikes"));
  for (int64_t k = 0; k < o->n_rec; ++k) mine[k] = (Rec){o->rec_batch[k], o->rec_step[k], o->rec_gid[k]};
  const int st = gather(mine, o->n_rec, sizeof(Rec), comm, (void **)&G->rec, &G->n_rec);
  free(mine);
  if (st == FF_OK && rank == 0) qsort(G->rec, (size_t)G->n_rec, sizeof(Rec), rec_cmp);
  return st;
}

/* Collective: the recorded state; per rank, gids then values laid out [B x T x k_local], merged on
 * rank 0 into columns ordered by gid. */
static int gather_state(const FfRunInfo *info, const FfSimOutput *o, MPI_Comm comm, int rank, int size, Gathered *G) {
  const int32_t B = info->setup->batch;
  const int64_t T = info->setup->n_steps;
  int64_t *sgid = NULL, n_sgid = 0, n_sv = 0, *ks = NULL;
  double *sv = NULL, *sg = NULL;
  FF_TRY(gather(o->state_gid, o->n_state, sizeof(int64_t), comm, (void **)&sgid, &n_sgid));
  FF_TRY(gather(o->state_v, (int64_t)B * T * o->n_state, sizeof(double), comm, (void **)&sv, &n_sv));
  FF_TRY(gather(o->state_g, (int64_t)B * T * o->n_state, sizeof(double), comm, (void **)&sg, &n_sv));
  if (rank == 0) FF_TRY(FF_MALLOC(ks, size, "state counts")); /* to unpack the blocks */
  FF_TRY(FF_MPI(MPI_Gather(&o->n_state, 1, MPI_INT64_T, ks, 1, MPI_INT64_T, 0, comm)));
  if (rank != 0) return FF_OK;
  /* lists are ascending per rank: merge by sorting an index */
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
  free(sgid);
  free(sv);
  free(sg);
  free(ks);
  return FF_OK;
}

/* Collective: all ranks of comm must call it. Everything a results file holds, on rank 0. */
static int gather_all(const FfRunInfo *info, const FfSimOutput *o, MPI_Comm comm, Gathered *G) {
  int rank, size;
  memset(G, 0, sizeof *G);
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  FF_TRY(gather_tables(info, o, comm, rank, size, G));
  FF_TRY(gather_counts(info, o, comm, rank, size, G));
  FF_TRY(gather_spikes(o, comm, rank, G));
  FF_TRY(gather_state(info, o, comm, rank, size, G));
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

typedef struct {
  const Gathered *G;
  double dt;
} SpikesCtx;

static int spikes_body(FILE *f, void *ctx) {
  const SpikesCtx *c = ctx;
  for (int64_t k = 0; k < c->G->n_rec && c->G->rec[k].b == 0; ++k)
    fprintf(f, "%lld %.10g\n", (long long)c->G->rec[k].gid, c->G->rec[k].step * c->dt);
  return FF_OK;
}

/* DIR/spikes.txt: "neuron time_ms" per spike of the first trial. */
static int write_spikes_txt(const char *dir, const Gathered *G, double dt) {
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/spikes.txt", dir);
  SpikesCtx ctx = {G, dt};
  FF_TRY(ff_atomic_write(path, spikes_body, &ctx));
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
  if (ranks < 2 || connectome[0] == '\0') return FF_OK; /* one rank, or a mode without a connectome */
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

/* /config: the effective configuration (INI text) as one variable-length string. */
static int write_config(hid_t f, const char *text) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t d = H5Dcreate2(f, "/config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const int st = d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) < 0
                     ? FF_ERROR(FF_ERR_IO, "writing /config failed")
                     : FF_OK;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  H5Tclose(t);
  return st;
}

typedef struct {
  const FfRunInfo *info;
  const FfSimOutput *o;
  const Gathered *G;
  char **names; /* [P] the connectome's neuropil names */
  int64_t P;
} SimCtx;

/* /config, /run, /timing and /counts: what ran, where, and how long it took. */
static int write_run(hid_t f, const SimCtx *c) {
  const FfRunInfo *info = c->info;
  const FfConfig *cfg = info->cfg;
  const FfSimSetup *s = info->setup;
  const int64_t T = s->n_steps, ranks = info->ranks;
  const char *backend = cfg->backend == FF_BACKEND_CUDA ? "cuda" : cfg->backend == FF_BACKEND_EMULATE ? "emulate" : "cpu";
  int st = write_config(f, info->config_text);
  FF_CALL(st, ff_h5_group(f, "/run"));
  const FfH5Attr run[] = {FF_ATTR_STRING("mode", "simulate"),
                          FF_ATTR_STRING("version", info->version),
                          FF_ATTR_STRING("backend", backend),
                          FF_ATTR_STRING("preset", ff_preset_name(cfg->preset)),
                          FF_ATTR_INT("ranks", info->ranks),
                          FF_ATTR_STRING("hosts", info->hosts),
                          FF_ATTR_INT("threads_rank0", s->threads),
                          FF_ATTR_INT("batch", s->batch),
                          FF_ATTR_INT("steps", T),
                          FF_ATTR_INT("seed", cfg->seed),
                          FF_ATTR_DOUBLE("dt_ms", s->model->dt_ms),
                          FF_ATTR_DOUBLE("duration_ms", (double)T * s->model->dt_ms),
                          FF_ATTR_INT("delay_steps", s->model->delay_steps),
                          FF_ATTR_STRING("connectome", cfg->connectome)};
  FF_CALL(st, ff_h5_write_attrs(f, "/run", run, (int)(sizeof run / sizeof *run)));
  FF_CALL(st, ff_h5_group(f, "/timing"));
  const FfH5Attr timing[] = {FF_ATTR_DOUBLE("setup_s", info->setup_s), FF_ATTR_DOUBLE("simulate_s", info->simulate_s),
                             FF_ATTR_INT("windows", c->o->windows),
                             FF_ATTR_STRING("exchange", c->o->exchange == FF_EXCHANGE_TARGETED ? "targeted" : "allgather")};
  FF_CALL(st, ff_h5_write_attrs(f, "/timing", timing, 4));
  FF_CALL(st, ff_h5_write(f, "/timing/peak_rss_mb", H5T_NATIVE_DOUBLE, 1, &ranks, info->peak_rss_mb));
  FF_CALL(st, write_columns(f, "/timing", H5T_NATIVE_DOUBLE, c->G->times, sizeof *c->G->times, info->ranks, N_TIMES,
                            TIME_NAMES));
  FF_CALL(st, write_columns(f, "/counts", H5T_NATIVE_INT64, c->G->stats, sizeof *c->G->stats, info->ranks, N_STATS,
                            STAT_NAMES));
  return st;
}

/* /spikes/{batch, step, neuron}: the gathered records as three columns. */
static int write_spikes(hid_t f, const Gathered *G, const FfConfig *cfg, double dt_ms) {
  int32_t *rb = NULL, *rs = NULL;
  int64_t *rg = NULL;
  int st = FF_MALLOC(rb, G->n_rec, "spikes");
  FF_CALL(st, FF_MALLOC(rs, G->n_rec, "spikes"));
  FF_CALL(st, FF_MALLOC(rg, G->n_rec, "spikes"));
  for (int64_t k = 0; st == FF_OK && k < G->n_rec; ++k) {
    rb[k] = G->rec[k].b;
    rs[k] = G->rec[k].step;
    rg[k] = G->rec[k].gid;
  }
  FF_CALL(st, ff_h5_write(f, "/spikes/batch", H5T_NATIVE_INT32, 1, &G->n_rec, rb));
  FF_CALL(st, ff_h5_write(f, "/spikes/step", H5T_NATIVE_INT32, 1, &G->n_rec, rs));
  FF_CALL(st, ff_h5_write(f, "/spikes/neuron", H5T_NATIVE_INT64, 1, &G->n_rec, rg));
  const FfH5Attr attrs[] = {FF_ATTR_DOUBLE("dt_ms", dt_ms), FF_ATTR_STRING("recorded", cfg->spikes)};
  FF_CALL(st, ff_h5_write_attrs(f, "/spikes", attrs, 2));
  free(rb);
  free(rs);
  free(rg);
  return st;
}

static int sim_body(hid_t f, void *ctx) {
  const SimCtx *c = ctx;
  const FfSimSetup *s = c->info->setup;
  const Gathered *G = c->G;
  int64_t dims[3] = {s->batch, s->net->n_global, 0};
  int st = write_run(f, c);
  FF_CALL(st, ff_results_copy_partition_report(f, c->info->cfg->connectome, c->info->ranks));
  FF_CALL(st, ff_h5_write(f, "/neurons/spike_count", H5T_NATIVE_INT32, 2, dims, G->count));
  FF_CALL(st, ff_h5_write_strings(f, "/neuropils/names", (const char *const *)c->names, c->P));
  dims[1] = c->P;
  FF_CALL(st, ff_h5_write(f, "/neuropils/rate_hz", H5T_NATIVE_DOUBLE, 2, dims, G->rate));
  FF_CALL(st, write_spikes(f, G, c->info->cfg, s->model->dt_ms));
  if (G->n_state > 0) {
    FF_CALL(st, ff_h5_write(f, "/state/neuron", H5T_NATIVE_INT64, 1, &G->n_state, G->state_gid));
    const int64_t sdims[3] = {s->batch, s->n_steps, G->n_state};
    FF_CALL(st, ff_h5_write(f, "/state/v_mV", H5T_NATIVE_DOUBLE, 3, sdims, G->state_v));
    FF_CALL(st, ff_h5_write(f, "/state/g_mV", H5T_NATIVE_DOUBLE, 3, sdims, G->state_g));
  }
  return st;
}

/* DIR/results.h5 of a simulation, on rank 0. */
static int write_h5(const FfRunInfo *info, const FfSimOutput *o, const Gathered *G) {
  const FfConfig *cfg = info->cfg;
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/results.h5", cfg->out_dir);
  hid_t cf;
  SimCtx ctx = {info, o, G, NULL, 0};
  /* the large datasets (counts, spikes, states) against the folder's free space, before writing */
  const double B = info->setup->batch, N = (double)info->setup->net->n_global, T = (double)info->setup->n_steps;
  FF_TRY(ff_atomic_check_space(path, B * N * 4.0 + (double)G->n_rec * 16.0 + 2.0 * B * T * (double)G->n_state * 8.0,
                               "results.h5"));
  FF_TRY(ff_h5_open(cfg->connectome, H5P_DEFAULT, &cf));
  int st = ff_h5_read_strings(cf, cfg->connectome, "/neuropils/names", &ctx.names, &ctx.P);
  H5Fclose(cf);
  FF_CALL(st, ff_h5_write_atomic(path, sim_body, &ctx));
  ff_h5_free_strings(&ctx.names, ctx.P);
  return st;
}

int ff_results_write(const FfRunInfo *info, const FfSimOutput *local, MPI_Comm comm) {
  int rank;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  Gathered G;
  int st = gather_all(info, local, comm, &G);
  if (rank == 0) {
    FF_CALL(st, write_h5(info, local, &G));
    if (info->cfg->spikes_txt) FF_CALL(st, write_spikes_txt(info->cfg->out_dir, &G, info->setup->model->dt_ms));
  }
  if (rank == 0) gathered_destroy(&G);
  return st;
}

/* ---- a fit's results ----------------------------------------------------------------------------- */

int ff_results_begin(hid_t f, const char *config_text, const char *mode, const char *version, const char *hosts,
                     int ranks, int threads, const FfConfig *cfg, const char *recording_id) {
  const FfH5Attr run[] = {FF_ATTR_STRING("mode", mode),
                          FF_ATTR_STRING("version", version),
                          FF_ATTR_STRING("backend", "cpu"),
                          FF_ATTR_INT("ranks", ranks),
                          FF_ATTR_STRING("hosts", hosts),
                          FF_ATTR_INT("threads_rank0", threads),
                          FF_ATTR_INT("seed", cfg->seed),
                          FF_ATTR_STRING("connectome", cfg->connectome),
                          FF_ATTR_STRING("activity", cfg->activity),
                          FF_ATTR_STRING("neural_activity_id", recording_id)};
  int st = write_config(f, config_text);
  FF_CALL(st, ff_h5_group(f, "/run"));
  FF_CALL(st, ff_h5_write_attrs(f, "/run", run, (int)(sizeof run / sizeof *run)));
  FF_CALL(st, ff_results_copy_partition_report(f, cfg->connectome, ranks));
  return st;
}

int ff_results_write_history(hid_t f, const char *group, const double *hist, int64_t epochs, int n_metrics,
                             const char *const *names) {
  double *col;
  FF_TRY(FF_MALLOC(col, epochs > 0 ? epochs : 1, "a history column"));
  int st = FF_OK;
  for (int m = 0; m < n_metrics && st == FF_OK; ++m) {
    char d[160];
    for (int64_t e = 0; e < epochs; ++e) col[e] = hist[e * n_metrics + m];
    snprintf(d, sizeof d, "%s/%s", group, names[m]);
    FF_CALL(st, ff_h5_write(f, d, H5T_NATIVE_DOUBLE, 1, &epochs, col));
  }
  free(col);
  return st;
}

int ff_results_write_round1(hid_t f, const FfRound1Results *r) {
  const FfFitData *d = r->data;
  const int64_t P = d->P, nb = r->bins->n + 1;
  int64_t dims[2] = {d->T, P};
  int st = ff_results_write_history(f, "/fit/round1", r->hist, r->epochs, r->n_metrics, r->metric_names);
  FF_CALL(st, ff_h5_write_strings(f, "/fit/neuropils", (const char *const *)d->names, P));
  FF_CALL(st, ff_h5_write(f, "/fit/bin_edges", H5T_NATIVE_DOUBLE, 1, &nb, r->bins->edges));
  FF_CALL(st, ff_h5_write(f, "/fit/recorded_rates", H5T_NATIVE_DOUBLE, 2, dims, d->rates));
  if (r->sim) {
    dims[0] = r->n_train - 1;
    FF_CALL(st, ff_h5_write(f, "/round1/sim_rates", H5T_NATIVE_DOUBLE, 2, dims, r->sim));
  }
  if (r->test_pred) {
    dims[0] = r->n_test;
    FF_CALL(st, ff_h5_write(f, "/round1/test_pred", H5T_NATIVE_DOUBLE, 2, dims, r->test_pred));
  }
  const FfH5Attr fit[] = {FF_ATTR_DOUBLE("fs_hz", d->fs_hz), FF_ATTR_INT("train_frames", r->n_train),
                          FF_ATTR_INT("test_frames", r->n_test), FF_ATTR_INT("validation_start", r->val0)};
  FF_CALL(st, ff_h5_write_attrs(f, "/fit", fit, 4));
  const FfH5Attr round1[] = {FF_ATTR_INT("epochs", r->epochs),
                             FF_ATTR_INT("best_epoch", r->best_epoch),
                             FF_ATTR_INT("train_frames", r->n_train),
                             FF_ATTR_INT("test_frames", r->n_test),
                             FF_ATTR_DOUBLE("untrained_test_loss", r->untrained_loss),
                             FF_ATTR_DOUBLE("untrained_test_bin_acc", r->untrained_acc),
                             FF_ATTR_DOUBLE("untrained_test_mse", r->untrained_mse),
                             FF_ATTR_DOUBLE("best_val_loss", r->best_val_loss),
                             FF_ATTR_DOUBLE("test_loss", r->test_loss),
                             FF_ATTR_DOUBLE("test_bin_acc", r->test_acc),
                             FF_ATTR_DOUBLE("test_mse", r->test_mse)};
  FF_CALL(st, ff_h5_write_attrs(f, "/fit/round1", round1, 11));
  if (r->lowrank_sv) {
    const int64_t nr = r->lowrank_rank;
    const FfH5Attr about[] = {FF_ATTR_STRING("about", "singular values of the kept network's low-rank term A B "
                                                      "(neurons x neurons, rank r), largest first")};
    FF_CALL(st, ff_h5_write(f, "/fit/round1/lowrank_singular_values", H5T_NATIVE_DOUBLE, 1, &nr, r->lowrank_sv));
    FF_CALL(st, ff_h5_write_attrs(f, "/fit/round1/lowrank_singular_values", about, 1));
  }
  if (r->sim || r->test_pred) {
    const FfH5Attr about[] = {FF_ATTR_STRING(
        "about", "sim_rates[k] is the network's prediction of frame k+1 from frame k over the training frames, with the "
                 "best epoch's parameters (input for round 2); test_pred[i] predicts frame n_train + i")};
    FF_CALL(st, ff_h5_write_attrs(f, "/round1", about, 1));
  }
  return st;
}

int ff_results_write_round2(hid_t f, const double *hist, int64_t epochs, int n_metrics, const char *const *names,
                            int64_t best_epoch, const double test[3]) {
  const FfH5Attr attrs[] = {FF_ATTR_INT("epochs", epochs), FF_ATTR_INT("best_epoch", best_epoch),
                            FF_ATTR_DOUBLE("test_loss", test[0]), FF_ATTR_DOUBLE("test_bin_acc", test[1]),
                            FF_ATTR_DOUBLE("test_mse", test[2])};
  int st = ff_results_write_history(f, "/fit/round2", hist, epochs, n_metrics, names);
  FF_CALL(st, ff_h5_write_attrs(f, "/fit/round2", attrs, 5));
  return st;
}
