/* Round 2 (include/flyfit/round2.h): the epoch loop around the GRU of gru.c; its checkpoint file
 * is checkpoint.c's. */
#include "flyfit/round2.h"
#include "flyfit/checkpoint.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/hash.h"
#include "flyfit/log.h"
#include "flyfit/ranks.h"
#include "flyfit/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const FF_ROUND2_METRIC_NAMES[R2_METRICS] = {"train_loss", "train_bin_acc", "val_loss", "val_bin_acc",
                                                        "val_mse", "lr", "seconds"};

static double gauss(uint64_t seed, uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r[4];
  ff_rng4(seed, FF_STREAM_R2, a, b, c, r);
  return ff_normal(r[0], r[1]);
}

int ff_round2_untrained(const FfConfig *cfg, int32_t P, const double *mean_rate, FfGru **g) {
  const FfGruSetup gs = {P, (int32_t)cfg->rnn_hidden, 0, 0.0, (uint64_t)cfg->seed ^ 0x2f2f2f2f2f2f2f2full};
  FF_TRY(ff_gru_create(&gs, g));
  if (mean_rate) ff_gru_init_output_bias(*g, mean_rate);
  return FF_OK;
}

void ff_round2_result_destroy(FfRound2Result *r) {
  if (r == NULL) return;
  ff_gru_destroy(&r->gru);
  free(r->hist);
  memset(r, 0, sizeof *r);
}

/* The training frames' mean rate of each neuropil (the output bias' start). */
static int mean_rates(const FfFitData *d, int64_t n_train, double **m) {
  FF_TRY(FF_CALLOC(*m, d->P, "mean rates"));
  for (int64_t t = 0; t < n_train; ++t)
    for (int32_t p = 0; p < d->P; ++p) (*m)[p] += d->rates[t * d->P + p];
  for (int32_t p = 0; p < d->P; ++p) (*m)[p] /= (double)n_train;
  return FF_OK;
}

/* Teacher-forced on the recorded frames [0, k1] (nothing later is read); scores the samples k -> k+1
 * for k in [k0, k1). Every rank computes the same (the GRU is replicated). */
static int score_sequence(FfGru *g, const FfFitData *d, const FfBins *bins, int mse_loss, int64_t k0, int64_t k1,
                          double *loss, double *acc, double *mse) {
  const int64_t P = d->P, L = k1;
  double *y, *lo, *hi;
  FF_TRY(FF_MALLOC(y, L * P, "predictions"));
  FF_TRY(FF_MALLOC(lo, L * P, "targets"));
  FF_TRY(FF_MALLOC(hi, L * P, "targets"));
  int st = ff_gru_forward(g, 1, (int32_t)L, d->rates, y, NULL);
  double hits = 0, sq = 0;
  const int64_t n = (L - k0) * P;
  for (int64_t q = k0 * P; st == FF_OK && q < L * P; ++q) {
    const double target = d->rates[q + P];
    const int32_t c = ff_bins_class(bins, target);
    lo[q] = bins->edges[c];
    hi[q] = bins->edges[c + 1];
    hits += ff_bins_class(bins, y[q]) == c;
    sq += (y[q] - target) * (y[q] - target);
  }
  if (st == FF_OK && mse_loss) {
    for (int64_t q = k0 * P; q < L * P; ++q) lo[q] = d->rates[q + P]; /* the targets themselves */
    *loss = ff_mse_loss(y + k0 * P, lo + k0 * P, n, (double)n, NULL);
  } else if (st == FF_OK) {
    *loss = ff_bin_interval_loss(y + k0 * P, lo + k0 * P, hi + k0 * P, n, (double)n, NULL);
  }
  *acc = n ? hits / (double)n : NAN;
  *mse = n ? sq / (double)n : NAN;
  free(y);
  free(lo);
  free(hi);
  return st;
}

/* The run's buffers and sizes, this rank's share of each step's batch. */
typedef struct {
  const FfRound2Setup *s;
  FfGru *g;
  int rank;
  int64_t n_seq;             /* training samples k -> k+1 */
  int32_t L, B, half;        /* frames per sequence; sequences per step, the first half recorded */
  int32_t first, count;      /* this rank's sequences [first, first + count) of the step's B */
  double *x, *y, *lo, *hi, *dl; /* [count x L x P] inputs, outputs (Hz), target class edges, d loss / d y */
  double *tg;                /* [count x L x P] the target rates ([fit] rnn_loss = mse) */
  double *seq_loss;          /* [count] */
  double *best;              /* [nparams] the best epoch's parameters */
  FfGruTape *tape;
  char *fp;                  /* what a resume must match (checkpoint.h's FfRound2State) */
  uint64_t input_hash;
} Run;

static void run_free(Run *r) {
  ff_gru_tape_destroy(&r->tape);
  free(r->x);
  free(r->y);
  free(r->lo);
  free(r->hi);
  free(r->dl);
  free(r->tg);
  free(r->seq_loss);
  free(r->best);
  free(r->fp);
}

static int run_alloc(Run *r, int32_t P) {
  const int64_t n = (int64_t)r->count * r->L * P, n1 = n > 0 ? n : 1;
  int st = ff_gru_tape_create(&r->tape);
  FF_CALL(st, FF_MALLOC(r->x, n1, "round-2 inputs"));
  FF_CALL(st, FF_MALLOC(r->y, n1, "round-2 outputs"));
  FF_CALL(st, FF_MALLOC(r->lo, n1, "round-2 targets"));
  FF_CALL(st, FF_MALLOC(r->hi, n1, "round-2 targets"));
  FF_CALL(st, FF_MALLOC(r->dl, n1, "round-2 gradients"));
  FF_CALL(st, FF_MALLOC(r->tg, n1, "round-2 targets"));
  FF_CALL(st, FF_MALLOC(r->seq_loss, r->count > 0 ? r->count : 1, "round-2 losses"));
  FF_CALL(st, FF_MALLOC(r->best, ff_gru_nparams(r->g), "best parameters"));
  return st;
}

/* This rank's sequences of step `step`: windows of L frames, half of the batch recorded rates
 * jittered within their classes, half the round-1 network's rates plus noise; and the classes of
 * the frames they predict. Every number is keyed by (seed, step, sequence): any rank count gives
 * the same batch. */
static void make_batch(Run *r, uint32_t step) {
  const FfConfig *cfg = r->s->cfg;
  const FfFitData *d = r->s->data;
  const FfBins *bins = r->s->bins;
  const int32_t P = d->P, L = r->L;
  const double noise = cfg->rnn_noise * cfg->max_rate_hz;
  for (int32_t b = 0; b < r->count; ++b) { /* sequence first + b of the global batch */
    const int32_t gb = r->first + b;
    uint32_t rnd[4];
    ff_rng4((uint64_t)cfg->seed, FF_STREAM_R2, step, (uint32_t)gb, 0xffffffffu, rnd);
    /* windows start at frame 1 or later when they can: the simulated half needs the frame before */
    const int64_t start = L < r->n_seq ? 1 + (int64_t)(rnd[0] % (uint32_t)(r->n_seq - L)) : 0;
    for (int32_t t = 0; t < L; ++t) {
      const int64_t k = start + t, q = ((int64_t)b * L + t) * P;
      for (int32_t p = 0; p < P; ++p) {
        double v;
        if (gb < r->half || k == 0) { /* recorded frame k, jittered within its class */
          const int32_t c = ff_bins_class(bins, d->rates[k * P + p]);
          uint32_t w[4];
          ff_rng4((uint64_t)cfg->seed, FF_STREAM_R2_NOISE, step, (uint32_t)gb, (uint32_t)(k * P + p), w);
          v = bins->edges[c] + ff_u01_53(w[0], w[1]) * (bins->edges[c + 1] - bins->edges[c]);
        } else { /* frame k as the network makes it, driven by frame k-1, plus noise */
          v = r->s->sim[(k - 1) * P + p] + noise * gauss((uint64_t)cfg->seed, step, (uint32_t)gb, (uint32_t)(k * P + p));
          if (v < 0.0) v = 0.0;
        }
        r->x[q + p] = v;
        const int32_t c = ff_bins_class(bins, d->rates[(k + 1) * P + p]);
        r->tg[q + p] = d->rates[(k + 1) * P + p];
        r->lo[q + p] = bins->edges[c];
        r->hi[q + p] = bins->edges[c + 1];
      }
    }
  }
}

/* Collective. One training step on the batch made: forward, loss (summed exactly over ranks into
 * *loss), backward, the exact gradient, and rank 0's Adam step, whose parameters every rank then
 * takes. *hits counts this rank's outputs inside their target's class. */
static int train_step(Run *r, double lr, double *loss, int64_t *hits) {
  const FfConfig *cfg = r->s->cfg;
  const int32_t P = r->s->data->P, L = r->L;
  FfGru *g = r->g;
  ff_gru_zero_grad(g);
  int st = ff_gru_forward(g, r->count, L, r->x, r->y, r->tape);
  const double denom = (double)r->B * L * P;
  for (int32_t b = 0; st == FF_OK && b < r->count; ++b) {
    const int64_t o = (int64_t)b * L * P;
    r->seq_loss[b] = cfg->rnn_loss ? ff_mse_loss(r->y + o, r->tg + o, (int64_t)L * P, denom, r->dl + o)
                                   : ff_bin_interval_loss(r->y + o, r->lo + o, r->hi + o, (int64_t)L * P, denom, r->dl + o);
    for (int64_t q = o; q < o + (int64_t)L * P; ++q) *hits += r->y[q] >= r->lo[q] && r->y[q] < r->hi[q];
  }
  *loss = 0.0;
  FF_CALL(st, ff_gru_backward(g, r->tape, r->dl));
  FF_CALL(st, ff_exact_sum(r->s->comm, r->seq_loss, r->count, loss));
  FF_CALL(st, ff_gru_reduce_grads(g, r->s->comm));
  if (r->rank == 0) FF_CALL(st, ff_gru_adam(g, lr, cfg->beta1, cfg->beta2, cfg->adam_eps));
  int worst = st;
  const int agreed = FF_MPI(MPI_Allreduce(&st, &worst, 1, MPI_INT, MPI_MAX, r->s->comm));
  if (agreed != FF_OK) st = agreed;
  else if (st == FF_OK && worst != FF_OK) st = FF_ERROR(worst, "rank 0 stopped round 2");
  /* rank 0 owns the optimizer: everyone takes its parameters */
  FF_CALL(st, FF_MPI(MPI_Bcast(ff_gru_array(g, FF_GRU_PARAMS), (int)ff_gru_nparams(g), MPI_DOUBLE, 0, r->s->comm)));
  return st;
}

/* Collective: rank 0 writes DIR/gru-best.h5 (complete: round 2 has finished), every rank learns
 * whether it could. */
static int save(Run *r, const FfRound2Result *res, const char *path, int complete) {
  int st = r->rank == 0 ? ff_checkpoint_write_round2(path, r->g, res->epochs, res->best_epoch, res->hist, R2_METRICS,
                                                     complete)
                        : FF_OK;
  return ff_ranks_root_status(st, r->s->comm, "write %s", path);
}

/* Collective: the resume point after an epoch, DIR/gru-last.h5 (checkpoint.h's FfRound2State). */
static int save_state(Run *r, FfRound2Result *res, double best_loss, const char *path) {
  const FfRound2State s = {res->epochs, res->best_epoch, best_loss, res->hist, R2_METRICS, r->best, r->fp, r->input_hash};
  return ff_ranks_root_status(r->rank == 0 ? ff_checkpoint_write_round2_state(path, r->g, &s) : FF_OK, r->s->comm,
                              "write %s", path);
}

/* What a resume must match: round 2's keys, the recorded rates and (for the chain's GRU) round 1's. */
static int identity(Run *r) {
  const FfFitData *d = r->s->data;
  FF_TRY(ff_config_fingerprint_round2(r->s->cfg, &r->fp));
  r->input_hash = ff_fnv1a(FF_FNV_BASIS, d->rates, (size_t)d->T * (size_t)d->P * sizeof *d->rates);
  if (!r->s->recorded_only)
    r->input_hash = ff_fnv1a(r->input_hash, r->s->sim, (size_t)(r->s->sp.fit - 1) * (size_t)d->P * sizeof *r->s->sim);
  return FF_OK;
}

/* Collective. [run] resume = auto: continue from `path` when DIR holds it, with the GRU, Adam, the
 * best parameters and the history of its last finished epoch; *e0 = the epochs it had. */
static int resume(Run *r, FfRound2Result *res, const char *path, double *best_loss, int64_t *e0) {
  const MPI_Comm comm = r->s->comm;
  int have = r->rank == 0 && access(path, F_OK) == 0;
  FF_TRY(FF_MPI(MPI_Bcast(&have, 1, MPI_INT, 0, comm)));
  if (!have) {
    ff_log("resume = auto: no %s; round 2 starts afresh", path);
    return FF_OK;
  }
  FfRound2State s = {.n_metrics = R2_METRICS, .best = r->best, .fingerprint = r->fp, .input_hash = r->input_hash};
  FF_TRY(ff_ranks_root_status(r->rank == 0 ? ff_checkpoint_read_round2_state(path, r->g, &s) : FF_OK, comm, "read %s",
                              path));
  int64_t n[2] = {s.epochs, s.best_epoch};
  int st = FF_MPI(MPI_Bcast(n, 2, MPI_INT64_T, 0, comm));
  FF_CALL(st, FF_MPI(MPI_Bcast(&s.best_loss, 1, MPI_DOUBLE, 0, comm)));
  const int64_t cap = r->s->cfg->epochs_round2 > 0 ? r->s->cfg->epochs_round2 : 1;
  if (st == FF_OK && n[0] > cap) {
    double *h = realloc(res->hist, (size_t)n[0] * R2_METRICS * sizeof *h);
    if (!h) st = FF_ERROR(FF_ERR_NOMEM, "out of memory for round 2's history");
    else res->hist = h;
  }
  if (st == FF_OK && r->rank == 0 && n[0] > 0) memcpy(res->hist, s.hist, (size_t)n[0] * R2_METRICS * sizeof *s.hist);
  free(s.hist);
  FF_TRY(ff_ranks_agree(st, comm)); /* a rank out of memory stops them all before the next collective */
  if (n[0] > 0) FF_TRY(FF_MPI(MPI_Bcast(res->hist, (int)(n[0] * R2_METRICS), MPI_DOUBLE, 0, comm)));
  const int np = (int)ff_gru_nparams(r->g);
  FF_TRY(FF_MPI(MPI_Bcast(ff_gru_array(r->g, FF_GRU_PARAMS), np, MPI_DOUBLE, 0, comm)));
  FF_TRY(FF_MPI(MPI_Bcast(r->best, np, MPI_DOUBLE, 0, comm)));
  res->epochs = *e0 = n[0];
  res->best_epoch = n[1];
  *best_loss = s.best_loss;
  ff_log("resume = auto: round 2 continues from %s after %lld epochs (best so far: epoch %lld)", path,
         (long long)n[0], (long long)n[1]);
  return FF_OK;
}

/* Collective. Epoch e: its steps, the test score, its history row, and the checkpoint when it is the
 * best so far. */
static int epoch(Run *r, int64_t e, FfRound2Result *res, double *best_loss, const char *path) {
  const FfConfig *cfg = r->s->cfg;
  const double t0 = ff_wall_seconds(), lr = cfg->rnn_lr * pow(cfg->rnn_lr_decay, (double)(e / cfg->rnn_lr_decay_every));
  double loss_sum = 0.0;
  int64_t counts[2] = {0, 0}; /* outputs inside their class, outputs */
  char label[64];
  const char *who = r->s->recorded_only ? "GRU alone" : "round 2";
  snprintf(label, sizeof label, "%s epoch %lld/%lld", who, (long long)e + 1, (long long)cfg->epochs_round2);
  FfProgress prog;
  ff_progress_start(&prog, label, "steps", (double)cfg->rnn_iters, cfg->progress_s);
  for (int64_t it = 0; it < cfg->rnn_iters; ++it) {
    make_batch(r, (uint32_t)(e * cfg->rnn_iters + it));
    double loss = 0.0;
    const int st = train_step(r, lr, &loss, &counts[0]);
    counts[1] += (int64_t)r->count * r->L * r->s->data->P;
    loss_sum += loss;
    ff_progress_update(&prog, (double)(it + 1));
    if (st != FF_OK) {
      ff_error_prefix("%s, epoch %lld, step %lld: ", who, (long long)e + 1, (long long)it + 1);
      return st;
    }
  }
  FF_TRY(FF_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, r->s->comm)));
  double *h = res->hist + e * R2_METRICS;
  h[R2_TRAIN_LOSS] = loss_sum / (double)cfg->rnn_iters;
  h[R2_TRAIN_ACC] = counts[1] ? (double)counts[0] / (double)counts[1] : NAN;
  const FfSplit *sp = &r->s->sp;
  const int validated = sp->test0 > sp->val0;
  int st = FF_OK;
  h[R2_VAL_LOSS] = h[R2_VAL_ACC] = h[R2_VAL_MSE] = NAN;
  if (validated)
    st = score_sequence(r->g, r->s->data, r->s->bins, r->s->cfg->rnn_loss, sp->val0 - 1, sp->test0 - 1, &h[R2_VAL_LOSS], &h[R2_VAL_ACC],
                        &h[R2_VAL_MSE]);
  h[R2_LR] = lr;
  h[R2_SECONDS] = ff_wall_seconds() - t0;
  res->epochs = e + 1;
  const int is_best = st == FF_OK && (!validated || h[R2_VAL_LOSS] < *best_loss);
  if (is_best) {
    *best_loss = validated ? h[R2_VAL_LOSS] : INFINITY;
    res->best_epoch = e + 1;
    memcpy(r->best, ff_gru_array(r->g, FF_GRU_PARAMS), (size_t)ff_gru_nparams(r->g) * sizeof *r->best);
    FF_CALL(st, save(r, res, path, 0)); /* st is FF_OK here; marked incomplete until round 2 ends */
  }
  ff_log("%s epoch %lld/%lld: train loss %.5g (in-class %.4f), validation loss %.5g (bin acc %.4f, mse %.5g), "
         "lr %.3g, %.2f s%s",
         who, (long long)e + 1, (long long)cfg->epochs_round2, h[R2_TRAIN_LOSS], h[R2_TRAIN_ACC], h[R2_VAL_LOSS],
         h[R2_VAL_ACC], h[R2_VAL_MSE], lr, h[R2_SECONDS], is_best ? "  (best)" : "");
  return st;
}

int ff_round2_run(const FfRound2Setup *s, FfRound2Result *res) {
  const FfConfig *cfg = s->cfg;
  const int32_t P = s->data->P;
  int size;
  Run r;
  memset(&r, 0, sizeof r);
  memset(res, 0, sizeof *res);
  r.s = s;
  FF_TRY(FF_MPI(MPI_Comm_rank(s->comm, &r.rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(s->comm, &size)));
  r.n_seq = s->sp.fit - 1;
  r.L = (int32_t)(cfg->rnn_seq_len > 0 && cfg->rnn_seq_len < r.n_seq - 1 ? cfg->rnn_seq_len : r.n_seq);
  r.B = (int32_t)cfg->rnn_batch;
  r.half = s->recorded_only ? r.B : r.B / 2;
  double *mean;
  FF_TRY(mean_rates(s->data, s->sp.fit, &mean));
  int st = ff_round2_untrained(cfg, P, mean, &res->gru);
  free(mean);
  FF_TRY(st);
  r.g = res->gru;
  ff_gru_shard(r.g, r.B, r.rank, size, &r.first, &r.count);
  FF_TRY(FF_CALLOC(res->hist, (cfg->epochs_round2 > 0 ? cfg->epochs_round2 : 1) * R2_METRICS, "round-2 history"));
  st = run_alloc(&r, P);
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/%s", cfg->out_dir, s->recorded_only ? FF_ROUND2_ONLY_CHECKPOINT : FF_ROUND2_CHECKPOINT);
  char last[FF_CONFIG_STR + 64];
  snprintf(last, sizeof last, "%s/%s", cfg->out_dir, s->recorded_only ? FF_ROUND2_ONLY_LAST : FF_ROUND2_LAST);
  FF_CALL(st, identity(&r));
  ff_log("round 2%s: GRU of %lld hidden units on %d neuropils, %d sequences of %d frames per step (%d recorded, %d "
         "simulated), %lld steps per epoch, lr %g",
         s->recorded_only ? " (the GRU alone, a control)" : "", (long long)cfg->rnn_hidden, P, r.B, r.L, r.half,
         r.B - r.half, (long long)cfg->rnn_iters, cfg->rnn_lr);
  double best_loss = INFINITY;
  int64_t e0 = 0;
  if (st == FF_OK && !strcmp(cfg->resume, "auto")) st = resume(&r, res, last, &best_loss, &e0);
  for (int64_t e = e0; st == FF_OK && e < cfg->epochs_round2; ++e) {
    FF_CALL(st, epoch(&r, e, res, &best_loss, path));
    FF_CALL(st, save_state(&r, res, best_loss, last));
  }
  if (st == FF_OK && res->epochs > 0) { /* the best epoch's parameters for prediction, with the whole history */
    memcpy(ff_gru_array(r.g, FF_GRU_PARAMS), r.best, (size_t)ff_gru_nparams(r.g) * sizeof *r.best);
    FF_CALL(st, save(&r, res, path, 1));
  }
  res->test_loss = res->test_acc = res->test_mse = NAN;
  if (st == FF_OK) /* the one look at the test block: the kept parameters, teacher-forced */
    st = score_sequence(r.g, s->data, s->bins, cfg->rnn_loss, s->sp.test0 - 1, s->data->T - 1, &res->test_loss, &res->test_acc,
                        &res->test_mse);
  run_free(&r);
  return st;
}

int ff_round2_load(const FfConfig *cfg, const char *path, int32_t P, MPI_Comm comm, FfRound2Result *r) {
  int rank;
  memset(r, 0, sizeof *r);
  r->test_loss = r->test_acc = r->test_mse = NAN;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(ff_round2_untrained(cfg, P, NULL, &r->gru));
  int complete = 1;
  int st = rank == 0 ? ff_checkpoint_read_round2(path, r->gru, &r->epochs, &r->best_epoch, &r->hist, R2_METRICS,
                                                 &complete)
                     : FF_OK;
  if (st == FF_OK && !complete) {
    if (!cfg->allow_incomplete)
      st = FF_ERROR(FF_ERR_INPUT, "'%s' is from a round 2 that did not finish (stopped or failed after %lld epochs): rerun "
                                  "round 2 (mode = round2, or mode = all with [run] resume = auto), or set [predict] "
                                  "allow_incomplete = true to use its best epoch so far",
                    path, (long long)r->epochs);
    else
      ff_warn("'%s' is from a round 2 that did not finish (%lld epochs): used as it is ([predict] allow_incomplete)",
              path, (long long)r->epochs);
  }
  st = ff_ranks_root_status(st, comm, "read %s", path);
  FF_CALL(st, FF_MPI(MPI_Bcast(ff_gru_array(r->gru, FF_GRU_PARAMS), (int)ff_gru_nparams(r->gru), MPI_DOUBLE, 0, comm)));
  if (st != FF_OK) ff_round2_result_destroy(r);
  return st;
}
