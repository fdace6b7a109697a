/* Prediction with the chained model, the controls, and their scores (include/flyfit/predict.h). */
#include "flyfit/predict.h"
#include "flyfit/atomic.h"
#include "flyfit/checkpoint.h"
#include "flyfit/hash.h"
#include "flyfit/error.h"
#include "flyfit/fit.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/plot.h"
#include "flyfit/ranks.h"
#include "flyfit/runjson.h"
#include "flyfit/controls.h"
#include "flyfit/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define PREDICT_KEY 0xC0000000u /* random input of the network during prediction, per frame */

/* The models (predict.h): the chain's spiking network (the headline) and its GRU, the untrained
 * chain, the controls, and the two halves of the chain alone. */
enum { M_CHAIN, M_CHAIN_GRU, M_UNTRAINED, M_PERSISTENCE, M_MEAN, M_MEDIAN, M_VAR1, M_VAR2, M_GRU_ONLY, M_SNN_ONLY,
       N_MODELS };
static const char *const MODEL_NAMES[N_MODELS] = {"chain", "chain_gru", "untrained", "persistence", "mean",
                                                  "median", "var1", "var2", "gru_only", "snn_only"};
enum { N_PROTOCOLS = 2 };
static const char *const PROTOCOL_NAMES[N_PROTOCOLS] = {"onestep", "free"};
enum { SCOPE_ALL, SCOPE_TEST, N_SCOPES };
static const char *const SCOPE_NAMES[N_SCOPES] = {"all", "test"};

/* The ridge strengths ridge VAR chooses from on the validation block, and the one it takes
 * without a validation block. */
static const double VAR_LAMBDAS[] = {1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0};
#define VAR_LAMBDA_FIXED 1.0

typedef struct {
  int64_t n;            /* spikes of the recorded frame, rank 0 */
  int64_t *gid;
  int32_t *step;
  int64_t frame;
} Raster;

typedef struct {
  int32_t step;
  int64_t gid;
} RasterSpike;

static int raster_cmp(const void *a, const void *b) {
  const RasterSpike *x = a, *y = b;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return (x->gid > y->gid) - (x->gid < y->gid);
}

/* The raster in (step, neuron) order: the same for any rank count, thread count and backend. */
static int sort_raster(Raster *r) {
  RasterSpike *s;
  FF_TRY(FF_MALLOC(s, r->n > 0 ? r->n : 1, "raster"));
  for (int64_t i = 0; i < r->n; ++i) s[i] = (RasterSpike){r->step[i], r->gid[i]};
  qsort(s, (size_t)r->n, sizeof *s, raster_cmp);
  for (int64_t i = 0; i < r->n; ++i) {
    r->step[i] = s[i].step;
    r->gid[i] = s[i].gid;
  }
  free(s);
  return FF_OK;
}

/* Collective: all ranks of comm must call it. Gathers every rank's recorded spikes of the last
 * forward to rank 0, in (step, neuron) order. */
static int gather_raster(FfFitNet *f, MPI_Comm comm, Raster *r) {
  int rank, size;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  int64_t *gid = NULL, n = 0;
  int32_t *step = NULL;
  FF_TRY(ff_fit_recorded(f, &gid, &step, &n));
  int *cnt = NULL, *dsp = NULL, mine = (int)n;
  if (rank == 0) {
    FF_TRY(FF_MALLOC(cnt, size, "raster counts"));
    FF_TRY(FF_MALLOC(dsp, size, "raster offsets"));
  }
  int st = FF_MPI(MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, comm));
  int64_t total = 0;
  if (st == FF_OK && rank == 0) {
    for (int q = 0; q < size; ++q) {
      dsp[q] = (int)total;
      total += cnt[q];
    }
    FF_TRY(FF_MALLOC(r->gid, total > 0 ? total : 1, "raster"));
    FF_TRY(FF_MALLOC(r->step, total > 0 ? total : 1, "raster"));
    r->n = total;
  }
  FF_CALL(st, FF_MPI(MPI_Gatherv(gid, mine, MPI_INT64_T, r->gid, cnt, dsp, MPI_INT64_T, 0, comm)));
  FF_CALL(st, FF_MPI(MPI_Gatherv(step, mine, MPI_INT32_T, r->step, cnt, dsp, MPI_INT32_T, 0, comm)));
  if (st == FF_OK && rank == 0) st = sort_raster(r);
  free(gid);
  free(step);
  free(cnt);
  free(dsp);
  return st;
}

/* Everything a prediction computes. Forecasts are [T x P], NaN where a model makes none; a model
 * that is absent (gru_only without its checkpoint) has NULL forecasts. Scores are rank 0's. */
typedef struct {
  const FfPredictSetup *s;
  const FfFitData *d;
  FfSplit sp;
  int64_t T, P;
  int64_t W;  /* warm-up frames: the chain's GRU reads the recording before frame W */
  int64_t k0; /* the first free-running frame: max(W, 2), so that VAR(2) has its lags */
  int rank, size;
  double *fc[N_MODELS][N_PROTOCOLS];
  Raster ras;
  FfScore score[N_MODELS][N_PROTOCOLS][N_SCOPES];
  double *pearson;             /* [N_MODELS x N_PROTOCOLS x N_SCOPES x P] */
  double *fc_rec, *fc_chain;   /* [P x P]: the test block, the chain's free run */
  double var_lambda[2], var_val_mse[2];
  double seconds;
  /* the resume point (DIR/predict-partial.h5): the pass in progress and its frames done, the state it
   * carries (GRU state rh [rH], rates rz [P]), and what a resume must match */
  char partial[FF_CONFIG_STR + 64];
  char *fp;
  uint64_t identity;
  int pass;
  int64_t frame;
  double *rh, *rz;
  int32_t rH;
  double *scratch; /* [T x P] the untrained chain's GRU forecasts: its drive */
  double last_save;
} Pred;

/* The passes over the frames that simulate the network, in the order forecasts() makes them; what
 * else it computes (the GRUs alone, the controls) is cheap and made again on a resume. */
enum { PASS_CHAIN, PASS_SNN_FREE, PASS_SNN_ONESTEP, PASS_UNTRAINED, PASS_UNTRAINED_ONESTEP, N_PASSES };

/* The forecasts the passes make, as the resume point names them. */
enum { N_SAVED = 7 };
static double **saved(Pred *p, double **a) {
  a[0] = p->fc[M_CHAIN][FF_PROTOCOL_FREE];
  a[1] = p->fc[M_CHAIN_GRU][FF_PROTOCOL_FREE];
  a[2] = p->fc[M_SNN_ONLY][FF_PROTOCOL_FREE];
  a[3] = p->fc[M_SNN_ONLY][FF_PROTOCOL_ONESTEP];
  a[4] = p->fc[M_UNTRAINED][FF_PROTOCOL_FREE];
  a[5] = p->fc[M_UNTRAINED][FF_PROTOCOL_ONESTEP];
  a[6] = p->scratch;
  return a;
}
static const char *const SAVED_NAMES[N_SAVED] = {"chain_free", "chain_gru_free", "snn_only_free", "snn_only_onestep",
                                                 "untrained_free", "untrained_onestep", "untrained_gru_free"};

/* Rank 0 (every rank holds the same forecasts and state): the resume point after `frame` frames of
 * pass `pass`, when checkpoint_s has passed since the last one, or always with force. A failure is a
 * warning: the point only saves time. */
static void save_point(Pred *p, int pass, int64_t frame, const double *h, const double *z, int force) {
  if (p->rank != 0 || (!force && ff_wall_seconds() - p->last_save < p->s->cfg->predict_checkpoint_s)) return;
  double *a[N_SAVED];
  const FfPredictState s = {pass, frame, p->T, p->P, p->rH, N_SAVED, SAVED_NAMES, saved(p, a), (double *)(h ? h : p->rh),
                            (double *)(z ? z : p->rz), p->ras.n, p->ras.frame, p->ras.gid, p->ras.step, p->fp,
                            p->identity};
  if (ff_checkpoint_write_predict(p->partial, &s) != FF_OK) {
    ff_warn("%s; the prediction goes on without a resume point", ff_error_message());
    ff_error_clear();
  }
  p->last_save = ff_wall_seconds();
}

/* Collective. What a resume must match: the keys (round 2's fingerprint and [predict]'s warm-up), the
 * recordings, the chain's GRU, and the round-1 network (each rank's parameters, in rank order: the
 * same ranks and partition). */
static int identity(Pred *p) {
  const FfConfig *cfg = p->s->cfg;
  char *base = NULL;
  FF_TRY(ff_config_fingerprint_round2(cfg, &base));
  const size_t len = strlen(base) + 128;
  int st = FF_MALLOC(p->fp, len, "fingerprint");
  if (st == FF_OK) snprintf(p->fp, len, "%spredict.warmup_frames=%lld\n", base, (long long)cfg->warmup_frames);
  free(base);
  FF_TRY(st);
  FfGru *g = p->s->r2->gru;
  uint64_t h = ff_fnv1a(FF_FNV_BASIS, p->d->rates, (size_t)(p->T * p->P) * sizeof *p->d->rates);
  h = ff_fnv1a(h, ff_gru_array(g, FF_GRU_PARAMS), (size_t)ff_gru_nparams(g) * sizeof(double));
  FfFitView v;
  ff_fit_view(ff_round1_net(p->s->r1), &v);
  uint64_t mine = FF_FNV_BASIS;
  mine = ff_fnv1a(mine, v.enc_w, (size_t)v.n_local * (size_t)v.n_np * sizeof *v.enc_w);
  mine = ff_fnv1a(mine, v.enc_b, (size_t)v.n_local * sizeof *v.enc_b);
  if (v.conn_w) mine = ff_fnv1a(mine, v.conn_w, (size_t)v.n_conn * sizeof *v.conn_w);
  if (v.lr_a) mine = ff_fnv1a(mine, v.lr_a, (size_t)v.n_local * (size_t)v.lr_rank * sizeof *v.lr_a);
  if (v.lr_b) mine = ff_fnv1a(mine, v.lr_b, (size_t)v.n_local * (size_t)v.lr_rank * sizeof *v.lr_b);
  uint64_t *all = NULL;
  st = p->rank == 0 ? FF_MALLOC(all, p->size, "identity") : FF_OK;
  FF_TRY(ff_ranks_agree(st, p->s->comm)); /* before the gather, which every rank must reach */
  st = FF_MPI(MPI_Gather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, p->s->comm));
  if (st == FF_OK && p->rank == 0) h = ff_fnv1a(h, all, (size_t)p->size * sizeof *all);
  free(all);
  p->identity = h;
  return st;
}

/* Collective. [run] resume = auto: continue from DIR/predict-partial.h5 when it is there. */
static int resume(Pred *p) {
  const MPI_Comm comm = p->s->comm;
  int have = p->rank == 0 && access(p->partial, F_OK) == 0;
  FF_TRY(FF_MPI(MPI_Bcast(&have, 1, MPI_INT, 0, comm)));
  if (!have) {
    ff_log("resume = auto: no %s; the prediction starts afresh", p->partial);
    return FF_OK;
  }
  double *a[N_SAVED];
  saved(p, a);
  FfPredictState s = {0, 0, p->T, p->P, p->rH, N_SAVED, SAVED_NAMES, a, p->rh, p->rz, 0, 0, NULL, NULL, p->fp,
                      p->identity};
  const int st = ff_ranks_root_status(p->rank == 0 ? ff_checkpoint_read_predict(p->partial, &s) : FF_OK, comm,
                                      "read %s", p->partial);
  if (st != FF_OK) {
    free(s.raster_gid);
    free(s.raster_step);
    return st;
  }
  p->ras.n = s.raster_n;
  p->ras.frame = s.raster_frame;
  p->ras.gid = s.raster_gid;
  p->ras.step = s.raster_step;
  int64_t at[3] = {s.pass, s.frame, s.raster_frame};
  FF_TRY(FF_MPI(MPI_Bcast(at, 3, MPI_INT64_T, 0, comm)));
  p->pass = (int)at[0];
  p->frame = at[1];
  p->ras.frame = at[2]; /* every rank knows whether the raster was taken */
  for (int k = 0; k < N_SAVED; ++k) FF_TRY(FF_MPI(MPI_Bcast(a[k], (int)(p->T * p->P), MPI_DOUBLE, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(p->rh, p->rH, MPI_DOUBLE, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(p->rz, (int)p->P, MPI_DOUBLE, 0, comm)));
  if (p->pass >= N_PASSES) ff_log("resume = auto: %s has every pass of the prediction done", p->partial);
  else
    ff_log("resume = auto: the prediction continues from %s at pass %d of %d, frame %lld", p->partial, p->pass + 1,
           N_PASSES, (long long)p->frame);
  return FF_OK;
}

static double *pearson_of(const Pred *p, int m, int proto, int scope) {
  return p->pearson + (((int64_t)m * N_PROTOCOLS + proto) * N_SCOPES + scope) * p->P;
}

static void fill_nan(double *y, int64_t n) {
  for (int64_t q = 0; q < n; ++q) y[q] = NAN;
}

/* Collective. The chain of gru and the network as they are now, free-running from frame k0: the
 * GRU reads frame k's rates z_k and forecasts frame k+1, y^_{k+1}; before W, z_k is the recording;
 * from W on, z_{k+1} is the network's rates driven by frame k as the model knows it (the recording
 * at W-1, then the GRU's own forecast y^_k). zs gets z (the headline), ys gets y^, from k0 on. With
 * raster, the spikes of the first frame the network simulates. */
static int chain(Pred *p, int pass, FfGru *gru, const char *what, double *zs, double *ys, Raster *raster) {
  const double *x = p->d->rates;
  const int64_t T = p->T, P = p->P, k0 = p->k0;
  FfFitNet *f = ff_round1_net(p->s->r1);
  const int32_t H = ff_gru_setup(gru)->H;
  double *h = NULL, *z = NULL, *y = NULL;
  int st = FF_CALLOC(h, H, "GRU state");
  FF_CALL(st, FF_MALLOC(z, P, "GRU input"));
  FF_CALL(st, FF_MALLOC(y, P, "GRU output"));
  if (st != FF_OK) goto done;
  int64_t k_start = 0;
  if (p->pass == pass && p->frame > 0) { /* resumed inside this pass: its state after frame k_start */
    k_start = p->frame;
    memcpy(h, p->rh, (size_t)H * sizeof *h);
    memcpy(z, p->rz, (size_t)P * sizeof *z);
  } else {
    fill_nan(zs, T * P);
    fill_nan(ys, T * P);
    memcpy(z, x, (size_t)P * sizeof *z);
  }
  FfProgress prog;
  char label[64];
  snprintf(label, sizeof label, "prediction (%s):", what);
  ff_progress_start(&prog, label, "frames", (double)(T - 1), p->s->cfg->progress_s);
  int recorded = raster && raster->frame > 0;
  for (int64_t k = k_start; st == FF_OK && k + 1 < T; ++k) {
    st = ff_gru_step(gru, 1, z, h, y); /* y^_{k+1} from z_k */
    if (st != FF_OK) break;
    if (k + 1 >= k0) memcpy(ys + (k + 1) * P, y, (size_t)P * sizeof *y);
    if (k + 1 < k0) {
      memcpy(z, x + (k + 1) * P, (size_t)P * sizeof *z); /* warm-up: the recording */
    } else {
      const double *drive = k + 1 == k0 ? x + k * P : ys + k * P;
      const uint32_t key = PREDICT_KEY | (uint32_t)(k + 1);
      const int rec = raster && !recorded;
      ff_fit_record(f, rec);
      st = ff_fit_forward(f, 1, drive, &key, 0, z);
      ff_fit_record(f, 0);
      if (st == FF_OK) memcpy(zs + (k + 1) * P, z, (size_t)P * sizeof *z);
      if (st == FF_OK && rec) {
        st = gather_raster(f, p->s->comm, raster);
        raster->frame = k + 1;
        recorded = 1;
      }
    }
    ff_progress_update(&prog, (double)(k + 1));
    if (st == FF_OK && k + 2 < T) save_point(p, pass, k + 1, h, z, 0);
  }
  if (st == FF_OK) save_point(p, pass + 1, 0, NULL, NULL, 1);
done:
  free(h);
  free(z);
  free(y);
  return st;
}

/* Collective. The network alone, free-running: z_{k0} from the recorded frame k0-1, then each
 * frame from the network's own previous one, with the chain's random input. */
static int snn_free(Pred *p, double *zs) {
  const int64_t T = p->T, P = p->P;
  FfFitNet *f = ff_round1_net(p->s->r1);
  double *z;
  FF_TRY(FF_MALLOC(z, P, "network rates"));
  int64_t k_start = p->k0 - 1;
  if (p->pass == PASS_SNN_FREE && p->frame > 0) { /* resumed: frames up to p->frame made */
    k_start = p->frame;
    memcpy(z, p->rz, (size_t)P * sizeof *z);
  } else {
    fill_nan(zs, T * P);
    memcpy(z, p->d->rates + (p->k0 - 1) * P, (size_t)P * sizeof *z);
  }
  int st = FF_OK;
  for (int64_t k = k_start; st == FF_OK && k + 1 < T; ++k) {
    const uint32_t key = PREDICT_KEY | (uint32_t)(k + 1);
    st = ff_fit_forward(f, 1, z, &key, 0, zs + (k + 1) * P);
    if (st == FF_OK) memcpy(z, zs + (k + 1) * P, (size_t)P * sizeof *z);
    if (st == FF_OK && k + 2 < T) save_point(p, PASS_SNN_FREE, k + 1, NULL, z, 0);
  }
  if (st == FF_OK) save_point(p, PASS_SNN_FREE + 1, 0, NULL, NULL, 1);
  free(z);
  return st;
}

/* Collective. One step ahead: frame k+1 as the network makes it from the recorded frame k (round
 * 1's evaluation, the same random input as its scores). */
static int snn_onestep(Pred *p, int pass, double *zs) {
  const int64_t n = p->T - 1, chunk = p->s->cfg->batch; /* round 1's batches: the same as in one call */
  int64_t a = 0;
  if (p->pass == pass && p->frame > 0) a = p->frame;
  else fill_nan(zs, p->T * p->P);
  for (; a < n; a += chunk) {
    const int64_t m = n - a < chunk ? n - a : chunk;
    double *r = NULL;
    FF_TRY(ff_round1_simulate(p->s->r1, a, m, &r));
    memcpy(zs + (a + 1) * p->P, r, (size_t)(m * p->P) * sizeof *r);
    free(r);
    if (a + m < n) save_point(p, pass, a + m, NULL, NULL, 0);
  }
  save_point(p, pass + 1, 0, NULL, NULL, 1);
  return FF_OK;
}

/* A GRU on its own (no network): one step, teacher-forced on the recording; free-running, the
 * recording up to frame k0-1, then its own forecasts. */
static int gru_onestep(Pred *p, FfGru *g, double *ys) {
  fill_nan(ys, p->P);
  return ff_gru_forward(g, 1, (int32_t)(p->T - 1), p->d->rates, ys + p->P, NULL);
}

static int gru_free(Pred *p, FfGru *g, double *ys) {
  const int64_t T = p->T, P = p->P;
  double *h = NULL, *y = NULL;
  int st = FF_CALLOC(h, ff_gru_setup(g)->H, "GRU state");
  FF_CALL(st, FF_MALLOC(y, P, "GRU output"));
  if (st == FF_OK) fill_nan(ys, T * P);
  for (int64_t k = 0; st == FF_OK && k + 1 < T; ++k) {
    const double *in = k < p->k0 ? p->d->rates + k * P : ys + k * P;
    st = ff_gru_step(g, 1, in, h, y);
    if (st == FF_OK && k + 1 >= p->k0) memcpy(ys + (k + 1) * P, y, (size_t)P * sizeof *y);
  }
  free(h);
  free(y);
  return st;
}

/* Rank 0. The controls (controls.h), fitted on the training frames [0, fit), ridge strengths chosen
 * on the validation block. */
static int controls(Pred *p) {
  const double *x = p->d->rates;
  const int64_t T = p->T, P = p->P;
  const FfSplit *sp = &p->sp;
  double *mean = NULL, *median = NULL;
  int st = FF_MALLOC(mean, P, "mean rates");
  FF_CALL(st, FF_MALLOC(median, P, "median rates"));
  FF_CALL(st, ff_control_levels(x, P, 0, sp->fit, mean, median));
  if (st == FF_OK) {
    for (int proto = 0; proto < N_PROTOCOLS; ++proto) {
      const int64_t from = proto == FF_PROTOCOL_ONESTEP ? 1 : p->k0;
      ff_control_persistence(x, T, P, from, (FfProtocol)proto, p->fc[M_PERSISTENCE][proto]);
      ff_control_constant(mean, T, P, from, p->fc[M_MEAN][proto]);
      ff_control_constant(median, T, P, from, p->fc[M_MEDIAN][proto]);
    }
  }
  for (int order = 1; order <= 2 && st == FF_OK; ++order) {
    FfVar v;
    memset(&v, 0, sizeof v);
    const int m = order == 1 ? M_VAR1 : M_VAR2;
    p->var_val_mse[order - 1] = NAN;
    if (sp->test0 > sp->val0) {
      st = ff_var_select(x, P, order, sp->fit, sp->val0, sp->test0, order, VAR_LAMBDAS,
                         (int)(sizeof VAR_LAMBDAS / sizeof *VAR_LAMBDAS), &v, &p->var_val_mse[order - 1]);
    } else {
      st = ff_var_fit(x, P, order, sp->fit, order, VAR_LAMBDA_FIXED, &v);
    }
    if (st == FF_OK) {
      p->var_lambda[order - 1] = v.lambda;
      ff_var_forecast(&v, x, T, order, FF_PROTOCOL_ONESTEP, p->fc[m][FF_PROTOCOL_ONESTEP]);
      ff_var_forecast(&v, x, T, p->k0, FF_PROTOCOL_FREE, p->fc[m][FF_PROTOCOL_FREE]);
    }
    ff_var_destroy(&v);
  }
  free(mean);
  free(median);
  return st;
}

/* Collective. Every model's forecasts in both protocols. The trained network's come first; then
 * its parameters are reset for the untrained chain. */
static int forecasts(Pred *p) {
  const FfPredictSetup *s = p->s;
  FfGru *untrained = NULL;
  double *mean = NULL;
  int st = FF_OK;
  if (p->pass <= PASS_CHAIN)
    st = chain(p, PASS_CHAIN, s->r2->gru, "chain", p->fc[M_CHAIN][FF_PROTOCOL_FREE], p->fc[M_CHAIN_GRU][FF_PROTOCOL_FREE],
               &p->ras);
  if (p->pass <= PASS_SNN_FREE) FF_CALL(st, snn_free(p, p->fc[M_SNN_ONLY][FF_PROTOCOL_FREE]));
  if (p->pass <= PASS_SNN_ONESTEP) FF_CALL(st, snn_onestep(p, PASS_SNN_ONESTEP, p->fc[M_SNN_ONLY][FF_PROTOCOL_ONESTEP]));
  /* one step ahead, the chain's network reads the recording: it is the network alone, by construction */
  if (st == FF_OK)
    memcpy(p->fc[M_CHAIN][FF_PROTOCOL_ONESTEP], p->fc[M_SNN_ONLY][FF_PROTOCOL_ONESTEP],
           (size_t)(p->T * p->P) * sizeof(double));
  if (p->rank == 0) {
    FF_CALL(st, gru_onestep(p, s->r2->gru, p->fc[M_CHAIN_GRU][FF_PROTOCOL_ONESTEP]));
    if (s->gru_only) {
      FF_CALL(st, gru_onestep(p, s->gru_only->gru, p->fc[M_GRU_ONLY][FF_PROTOCOL_ONESTEP]));
      FF_CALL(st, gru_free(p, s->gru_only->gru, p->fc[M_GRU_ONLY][FF_PROTOCOL_FREE]));
    }
  }
  st = ff_ranks_agree(st, s->comm);
  FF_CALL(st, ff_fit_reset_params(ff_round1_net(s->r1)));
  FF_CALL(st, FF_CALLOC(mean, p->P, "mean rates"));
  if (st == FF_OK)
    for (int64_t t = 0; t < p->sp.fit; ++t)
      for (int64_t q = 0; q < p->P; ++q) mean[q] += p->d->rates[t * p->P + q] / (double)p->sp.fit;
  FF_CALL(st, ff_round2_untrained(s->cfg, (int32_t)p->P, mean, &untrained));
  if (p->pass <= PASS_UNTRAINED)
    FF_CALL(st, chain(p, PASS_UNTRAINED, untrained, "untrained", p->fc[M_UNTRAINED][FF_PROTOCOL_FREE], p->scratch, NULL));
  if (p->pass <= PASS_UNTRAINED_ONESTEP)
    FF_CALL(st, snn_onestep(p, PASS_UNTRAINED_ONESTEP, p->fc[M_UNTRAINED][FF_PROTOCOL_ONESTEP]));
  if (p->rank == 0) FF_CALL(st, controls(p));
  st = ff_ranks_agree(st, s->comm);
  ff_gru_destroy(&untrained);
  free(mean);
  return st;
}

/* Rank 0. Every forecast's scores over the test block and over all the frames its protocol
 * forecasts (one step: from frame 2, where VAR(2) starts; free: from k0), and the FC matrices of
 * the chain's free run on the test block. */
static int score_all(Pred *p) {
  const int64_t T = p->T, P = p->P;
  const FfBins *bins = ff_round1_bins(p->s->r1);
  FfBins fine; /* the original's 0.25 Hz classes over the same range */
  FF_TRY(ff_bins_make(0.25, bins->edges[bins->n], bins->edges[bins->n], &fine));
  int st = FF_MALLOC(p->pearson, (int64_t)N_MODELS * N_PROTOCOLS * N_SCOPES * P, "correlations");
  FF_CALL(st, FF_MALLOC(p->fc_rec, P * P, "FC matrix"));
  FF_CALL(st, FF_MALLOC(p->fc_chain, P * P, "FC matrix"));
  for (int m = 0; m < N_MODELS && st == FF_OK; ++m)
    for (int proto = 0; proto < N_PROTOCOLS && st == FF_OK; ++proto) {
      if (p->fc[m][proto] == NULL) continue;
      for (int scope = 0; scope < N_SCOPES && st == FF_OK; ++scope) {
        const int64_t t0 = scope == SCOPE_TEST ? p->sp.test0 : proto == FF_PROTOCOL_ONESTEP ? 2 : p->k0;
        const int fc = m == M_CHAIN && proto == FF_PROTOCOL_FREE && scope == SCOPE_TEST;
        st = ff_score(p->fc[m][proto], p->d->rates, T, (int32_t)P, t0, T, bins, &fine, &p->score[m][proto][scope],
                      pearson_of(p, m, proto, scope), fc ? p->fc_chain : NULL, fc ? p->fc_rec : NULL);
      }
    }
  ff_bins_destroy(&fine);
  return st;
}

static void print_table(const Pred *p, FILE *out) {
  fprintf(out, "test frames %lld-%lld (%lld), free-running from frame %lld; headline: chain\n",
          (long long)p->sp.test0, (long long)p->T - 1, (long long)(p->T - p->sp.test0), (long long)p->k0);
  fprintf(out, "%-12s %-8s %10s %8s %8s %7s %7s\n", "model", "protocol", "test_mse", "bin_acc", "acc_025", "r",
          "fc_corr");
  for (int m = 0; m < N_MODELS; ++m)
    for (int proto = 0; proto < N_PROTOCOLS; ++proto) {
      if (p->fc[m][proto] == NULL) continue;
      const FfScore *t = &p->score[m][proto][SCOPE_TEST];
      fprintf(out, "%-12s %-8s %10.4g %8.4f %8.4f %7.3f %7.3f\n", MODEL_NAMES[m], PROTOCOL_NAMES[proto], t->mse,
              t->bin_acc, t->bin_acc_fine, t->mean_pearson, t->fc_corr);
    }
  fprintf(out, "(mse in Hz^2, lower is better; r: mean Pearson correlation over the %d neuropils whose recording "
               "varies on the test block, a constant forecast scoring 0)\n",
          p->score[M_PERSISTENCE][0][SCOPE_TEST].neuropils);
}

/* /predict/forecast/MODEL/PROTOCOL and /predict/metrics/MODEL/PROTOCOL/{all, test}. */
static int write_models(hid_t f, const Pred *p) {
  const int64_t dims[2] = {p->T, p->P};
  int st = FF_OK;
  for (int m = 0; m < N_MODELS && st == FF_OK; ++m)
    for (int proto = 0; proto < N_PROTOCOLS && st == FF_OK; ++proto) {
      if (p->fc[m][proto] == NULL) continue;
      char name[96];
      snprintf(name, sizeof name, "/predict/forecast/%s/%s", MODEL_NAMES[m], PROTOCOL_NAMES[proto]);
      st = ff_h5_write(f, name, H5T_NATIVE_DOUBLE, 2, dims, p->fc[m][proto]);
      for (int scope = 0; scope < N_SCOPES && st == FF_OK; ++scope) {
        char g[112], d[128];
        snprintf(g, sizeof g, "/predict/metrics/%s/%s/%s", MODEL_NAMES[m], PROTOCOL_NAMES[proto], SCOPE_NAMES[scope]);
        snprintf(d, sizeof d, "%s/pearson", g);
        st = ff_h5_write(f, d, H5T_NATIVE_DOUBLE, 1, &p->P, pearson_of(p, m, proto, scope));
        const FfScore *x = &p->score[m][proto][scope];
        const FfH5Attr attrs[] = {FF_ATTR_DOUBLE("mse", x->mse),
                                  FF_ATTR_DOUBLE("bin_acc", x->bin_acc),
                                  FF_ATTR_DOUBLE("bin_acc_025", x->bin_acc_fine),
                                  FF_ATTR_DOUBLE("mean_pearson", x->mean_pearson),
                                  FF_ATTR_DOUBLE("fc_corr", x->fc_corr),
                                  FF_ATTR_INT("frames", x->frames),
                                  FF_ATTR_INT("neuropils", x->neuropils)};
        FF_CALL(st, ff_h5_write_attrs(f, g, attrs, 7));
      }
    }
  return st;
}

static int results_body(hid_t f, void *ctx) {
  const Pred *p = ctx;
  const FfPredictSetup *s = p->s;
  const FfConfig *cfg = s->cfg;
  int64_t dims[2] = {p->T, p->P};
  FfRound1Results r1;
  ff_round1_results(s->r1, &r1);
  int st = ff_results_begin(f, s->config_text, s->mode, s->version, s->hosts, p->size, s->threads, cfg, p->d->id);
  FF_CALL(st, ff_results_write_round1(f, &r1));
  const double r2_test[3] = {s->r2->test_loss, s->r2->test_acc, s->r2->test_mse};
  if (s->r2->epochs > 0 && s->r2->hist)
    FF_CALL(st, ff_results_write_round2(f, s->r2->hist, s->r2->epochs, R2_METRICS, FF_ROUND2_METRIC_NAMES,
                                        s->r2->best_epoch, r2_test));
  FF_CALL(st, ff_h5_write(f, "/predict/recorded", H5T_NATIVE_DOUBLE, 2, dims, p->d->rates));
  FF_CALL(st, write_models(f, p));
  dims[0] = p->P;
  FF_CALL(st, ff_h5_write(f, "/predict/fc/recorded", H5T_NATIVE_DOUBLE, 2, dims, p->fc_rec));
  FF_CALL(st, ff_h5_write(f, "/predict/fc/chain", H5T_NATIVE_DOUBLE, 2, dims, p->fc_chain));
  FF_CALL(st, ff_h5_write(f, "/predict/raster/neuron", H5T_NATIVE_INT64, 1, &p->ras.n, p->ras.gid));
  FF_CALL(st, ff_h5_write(f, "/predict/raster/step", H5T_NATIVE_INT32, 1, &p->ras.n, p->ras.step));
  const FfH5Attr raster[] = {FF_ATTR_DOUBLE("dt_ms", cfg->dt_ms), FF_ATTR_INT("frame", p->ras.frame)};
  FF_CALL(st, ff_h5_write_attrs(f, "/predict/raster", raster, 2));
  const FfH5Attr ctl[] = {FF_ATTR_DOUBLE("var1_lambda", p->var_lambda[0]), FF_ATTR_DOUBLE("var2_lambda", p->var_lambda[1]),
                          FF_ATTR_DOUBLE("var1_val_mse", p->var_val_mse[0]),
                          FF_ATTR_DOUBLE("var2_val_mse", p->var_val_mse[1])};
  FF_CALL(st, ff_h5_write_attrs(f, "/predict/forecast", ctl, 4));
  const FfH5Attr predict[] = {
      FF_ATTR_INT("warmup_frames", p->W), FF_ATTR_INT("free_start", p->k0), FF_ATTR_INT("test_start", p->sp.test0),
      FF_ATTR_INT("validation_start", p->sp.val0), FF_ATTR_INT("train_frames", p->sp.fit), FF_ATTR_INT("frames", p->T),
      FF_ATTR_STRING("headline", MODEL_NAMES[M_CHAIN]), FF_ATTR_DOUBLE("seconds", p->seconds),
      FF_ATTR_STRING("about", "forecast/MODEL/PROTOCOL [frames x neuropils], NaN where none. chain: the spiking "
                              "network's rates driven by the GRU (the headline); chain_gru: the GRU's own output in the "
                              "chain; untrained: the chain with its initial parameters; persistence, mean, median, "
                              "var1, var2: controls fitted on the training frames (ridge chosen on validation); "
                              "gru_only: a GRU trained on the recording alone; snn_only: the round-1 network alone. "
                              "onestep: each frame from the recorded frame before; free: from free_start on its own")};
  FF_CALL(st, ff_h5_write_attrs(f, "/predict", predict, 9));
  return st;
}
/* Rank 0: DIR/results.h5 of a prediction: round 1's and round 2's sections, then /predict. */
static int write_results(const Pred *p) {
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/results.h5", p->s->cfg->out_dir);
  /* every forecast, the recording and the fit's sections are [T x P] doubles; the raster, 12 bytes a spike */
  FF_TRY(ff_atomic_check_space(path, 8.0 * (double)(N_MODELS * N_PROTOCOLS + 4) * (double)(p->T * p->P) +
                                         12.0 * (double)p->ras.n,
                               "the prediction's results.h5"));
  return ff_h5_write_atomic(path, results_body, (void *)p);
}

/* Rank 0: the log, the figures, the table and the summary line: the headline's scores, then every
 * model's test MSE in both protocols. */
static void report(const Pred *p) {
  const FfPredictSetup *s = p->s;
  ff_log("wrote %s/results.h5 (prediction %.1f s)", s->cfg->out_dir, p->seconds);
  if (s->plot_tool && s->cfg->figures) ff_plot_draw(s->plot_tool, s->cfg->out_dir);
  print_table(p, stdout);
  char line[4096];
  const FfScore *h = &p->score[M_CHAIN][FF_PROTOCOL_FREE][SCOPE_TEST];
  int n = snprintf(line, sizeof line, "predict done: headline=%s test_mse=%.6g test_bin_acc=%.6g test_pearson=%.6g "
                   "test_fc_corr=%.6g", MODEL_NAMES[M_CHAIN], h->mse, h->bin_acc, h->mean_pearson, h->fc_corr);
  for (int m = 0; m < N_MODELS; ++m)
    for (int proto = 0; proto < N_PROTOCOLS; ++proto)
      if (p->fc[m][proto] && n > 0 && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " %s_%s_test_mse=%.6g", MODEL_NAMES[m], PROTOCOL_NAMES[proto],
                      p->score[m][proto][SCOPE_TEST].mse);
  ff_summary("%s\n", line);
}

static void pred_free(Pred *p) {
  for (int m = 0; m < N_MODELS; ++m)
    for (int proto = 0; proto < N_PROTOCOLS; ++proto) free(p->fc[m][proto]);
  free(p->pearson);
  free(p->fc_rec);
  free(p->fc_chain);
  free(p->ras.gid);
  free(p->ras.step);
  free(p->fp);
  free(p->rh);
  free(p->rz);
  free(p->scratch);
}

int ff_predict_run(const FfPredictSetup *s) {
  Pred p;
  memset(&p, 0, sizeof p);
  p.s = s;
  p.d = ff_round1_data(s->r1);
  p.sp = *ff_round1_split(s->r1);
  p.T = p.d->T;
  p.P = p.d->P;
  p.W = s->cfg->warmup_frames < p.T - 1 ? s->cfg->warmup_frames : p.T - 1;
  p.k0 = p.W > 2 ? p.W : 2;
  const double t0 = ff_wall_seconds();
  int st = FF_MPI(MPI_Comm_rank(s->comm, &p.rank));
  FF_CALL(st, FF_MPI(MPI_Comm_size(s->comm, &p.size)));
  if (st == FF_OK && p.T <= p.k0) st = FF_ERROR(FF_ERR_INPUT, "%lld frames leave nothing to forecast", (long long)p.T);
  for (int m = 0; m < N_MODELS; ++m)
    for (int proto = 0; proto < N_PROTOCOLS && st == FF_OK; ++proto)
      if (m != M_GRU_ONLY || s->gru_only) st = FF_MALLOC(p.fc[m][proto], p.T * p.P, "forecasts");
  p.rH = ff_gru_setup(s->r2->gru)->H; /* the untrained chain's GRU has the configured size too */
  FF_CALL(st, FF_CALLOC(p.rh, p.rH, "GRU state"));
  FF_CALL(st, FF_CALLOC(p.rz, p.P, "network rates"));
  FF_CALL(st, FF_MALLOC(p.scratch, p.T * p.P, "forecasts"));
  snprintf(p.partial, sizeof p.partial, "%s/predict-partial.h5", s->cfg->out_dir);
  if (st == FF_OK) st = identity(&p);
  if (st == FF_OK && !strcmp(s->cfg->resume, "auto")) st = resume(&p);
  p.last_save = ff_wall_seconds();
  ff_log("prediction: %lld frames; free-running from frame %lld (the GRU reads the recording before it); validation "
         "frames %lld-%lld; test frames %lld-%lld%s",
         (long long)p.T, (long long)p.k0, (long long)p.sp.val0, (long long)p.sp.test0 - 1, (long long)p.sp.test0,
         (long long)p.T - 1, s->gru_only ? "" : "; no GRU-alone checkpoint: gru_only left out");
  FF_CALL(st, forecasts(&p));
  if (p.rank == 0) FF_CALL(st, score_all(&p));
  p.seconds = ff_wall_seconds() - t0;
  if (p.rank == 0) FF_CALL(st, write_results(&p));
  if (st == FF_OK && p.rank == 0) unlink(p.partial); /* the results are whole: nothing to resume */
  const int sent = FF_MPI(MPI_Bcast(&st, 1, MPI_INT, 0, s->comm)); /* rank 0's status is everyone's */
  if (sent != FF_OK) st = sent;
  if (st == FF_OK && p.rank == 0) report(&p);
  pred_free(&p);
  return st;
}
