/* Round 2 (include/flyfit/round2.h): the epoch loop around the GRU of gru.c. */
#include "flyfit/round2.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const FF_ROUND2_METRIC_NAMES[R2_METRICS] = {"train_loss", "train_bin_acc", "test_loss", "test_bin_acc",
                                                        "test_mse", "lr", "seconds"};

static double gauss(uint64_t seed, uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r[4];
  ff_rng4(seed, FF_STREAM_R2, a, b, c, r);
  return sqrt(-2.0 * log(ff_u01(r[0]))) * cos(6.283185307179586 * ff_u01(r[1]));
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

/* Teacher-forced over the whole recording (recorded inputs); scores the samples k -> k+1 for
 * k in [k0, T - 1). Every rank computes the same (the GRU is replicated). */
static int score_sequence(FfGru *g, const FfFitData *d, const FfBins *bins, int64_t k0, double *loss, double *acc,
                          double *mse) {
  const int64_t T = d->T, P = d->P, L = T - 1;
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
  if (st == FF_OK) *loss = ff_bin_interval_loss(y + k0 * P, lo + k0 * P, hi + k0 * P, n, (double)n, NULL);
  *acc = n ? hits / (double)n : NAN;
  *mse = n ? sq / (double)n : NAN;
  free(y);
  free(lo);
  free(hi);
  return st;
}

/* The GRU's current parameters, with the history so far. */
static int save(FfGru *g, const char *path, const FfRound2Result *r) {
  hid_t f;
  char tmp[FF_CONFIG_STR + 128];
  FF_TRY(ff_h5_create_tmp(path, &f, tmp, sizeof tmp));
  int st = ff_gru_save(g, f);
  const int64_t dims[2] = {r->epochs, R2_METRICS};
  if (st == FF_OK) st = ff_h5_write_attr_string(f, "format", "flyfit round-2 checkpoint 1");
  if (st == FF_OK) st = ff_h5_write_attr_int(f, "best_epoch", r->best_epoch);
  if (st == FF_OK) st = ff_h5_write_attr_int(f, "epochs", r->epochs);
  if (st == FF_OK) st = ff_h5_write(f, "/history", H5T_NATIVE_DOUBLE, 2, dims, r->hist);
  if (st != FF_OK) {
    ff_h5_abandon(f, tmp);
    return st;
  }
  return ff_h5_commit(f, tmp, path);
}

int ff_round2_run(const FfRound2Setup *s, FfRound2Result *res) {
  const FfConfig *cfg = s->cfg;
  const FfFitData *d = s->data;
  const FfBins *bins = s->bins;
  const int32_t P = d->P;
  int rank, size;
  MPI_Comm_rank(s->comm, &rank);
  MPI_Comm_size(s->comm, &size);
  memset(res, 0, sizeof *res);
  const int64_t n_seq = s->n_train - 1; /* training samples k -> k+1 */
  const int32_t L = (int32_t)(cfg->rnn_seq_len > 0 && cfg->rnn_seq_len < n_seq - 1 ? cfg->rnn_seq_len : n_seq);
  const int32_t B = (int32_t)cfg->rnn_batch, half = B / 2;
  double *mean;
  FF_TRY(mean_rates(d, s->n_train, &mean));
  int st = ff_round2_untrained(cfg, P, mean, &res->gru);
  free(mean);
  FF_TRY(st);
  FfGru *g = res->gru;
  int32_t first, count;
  ff_gru_shard(g, B, rank, size, &first, &count);
  FF_TRY(FF_CALLOC(res->hist, (cfg->epochs_round2 > 0 ? cfg->epochs_round2 : 1) * R2_METRICS, "round-2 history"));
  double *x = NULL, *y = NULL, *lo = NULL, *hi = NULL, *dl = NULL, *seq_loss = NULL, *best = NULL;
  const int64_t n = (int64_t)count * L * P;
  FfGruTape *tape = NULL;
  st = ff_gru_tape_create(&tape);
  if (st == FF_OK) st = FF_MALLOC(x, n > 0 ? n : 1, "round-2 inputs");
  if (st == FF_OK) st = FF_MALLOC(y, n > 0 ? n : 1, "round-2 outputs");
  if (st == FF_OK) st = FF_MALLOC(lo, n > 0 ? n : 1, "round-2 targets");
  if (st == FF_OK) st = FF_MALLOC(hi, n > 0 ? n : 1, "round-2 targets");
  if (st == FF_OK) st = FF_MALLOC(dl, n > 0 ? n : 1, "round-2 gradients");
  if (st == FF_OK) st = FF_MALLOC(seq_loss, count > 0 ? count : 1, "round-2 losses");
  if (st == FF_OK) st = FF_MALLOC(best, ff_gru_nparams(g), "best parameters");
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/gru-best.h5", cfg->out_dir);
  ff_log("round 2: GRU of %lld hidden units on %d neuropils, %d sequences of %d frames per step (%d recorded, %d "
         "simulated), %lld steps per epoch, lr %g",
         (long long)cfg->rnn_hidden, P, B, L, half, B - half, (long long)cfg->rnn_iters, cfg->rnn_lr);
  double best_loss = INFINITY;
  const double noise = cfg->rnn_noise * cfg->max_rate_hz;
  for (int64_t e = 0; st == FF_OK && e < cfg->epochs_round2; ++e) {
    const double t0 = ff_wall_seconds(), lr = cfg->rnn_lr * pow(cfg->rnn_lr_decay, (double)(e / cfg->rnn_lr_decay_every));
    double loss_sum = 0.0;
    int64_t hits = 0, cells = 0;
    char label[64];
    snprintf(label, sizeof label, "round 2 epoch %lld/%lld", (long long)e + 1, (long long)cfg->epochs_round2);
    FfProgress prog;
    ff_progress_start(&prog, label, "steps", (double)cfg->rnn_iters, cfg->progress_s);
    for (int64_t it = 0; st == FF_OK && it < cfg->rnn_iters; ++it) {
      const uint32_t step = (uint32_t)(e * cfg->rnn_iters + it);
      for (int32_t b = 0; b < count; ++b) { /* sequence first + b of the global batch */
        const int32_t gb = first + b;
        uint32_t r[4];
        ff_rng4((uint64_t)cfg->seed, FF_STREAM_R2, step, (uint32_t)gb, 0xffffffffu, r);
        /* windows start at frame 1 or later when they can: the simulated half needs the frame before */
        const int64_t start = L < n_seq ? 1 + (int64_t)(r[0] % (uint32_t)(n_seq - L)) : 0;
        for (int32_t t = 0; t < L; ++t) {
          const int64_t k = start + t, q = ((int64_t)b * L + t) * P;
          for (int32_t p = 0; p < P; ++p) {
            double v;
            if (gb < half || k == 0) { /* recorded frame k, jittered within its class */
              const int32_t c = ff_bins_class(bins, d->rates[k * P + p]);
              uint32_t w[4];
              ff_rng4((uint64_t)cfg->seed, FF_STREAM_R2_NOISE, step, (uint32_t)gb, (uint32_t)(k * P + p), w);
              v = bins->edges[c] + ff_u01_53(w[0], w[1]) * (bins->edges[c + 1] - bins->edges[c]);
            } else { /* frame k as the network makes it, driven by frame k-1, plus noise */
              v = s->sim[(k - 1) * P + p] + noise * gauss((uint64_t)cfg->seed, step, (uint32_t)gb, (uint32_t)(k * P + p));
              if (v < 0.0) v = 0.0;
            }
            x[q + p] = v;
            const int32_t c = ff_bins_class(bins, d->rates[(k + 1) * P + p]);
            lo[q + p] = bins->edges[c];
            hi[q + p] = bins->edges[c + 1];
          }
        }
      }
      ff_gru_zero_grad(g);
      st = ff_gru_forward(g, count, L, x, y, tape);
      const double denom = (double)B * L * P;
      for (int32_t b = 0; st == FF_OK && b < count; ++b) {
        const int64_t o = (int64_t)b * L * P;
        seq_loss[b] = ff_bin_interval_loss(y + o, lo + o, hi + o, (int64_t)L * P, denom, dl + o);
        for (int64_t q = o; q < o + (int64_t)L * P; ++q) hits += y[q] >= lo[q] && y[q] < hi[q];
      }
      cells += (int64_t)count * L * P;
      if (st == FF_OK) st = ff_gru_backward(g, tape, dl);
      double loss = 0.0;
      if (st == FF_OK) st = ff_exact_sum(s->comm, seq_loss, count, &loss);
      if (st == FF_OK) st = ff_gru_reduce_grads(g, s->comm);
      if (st == FF_OK && rank == 0) st = ff_gru_adam(g, lr, cfg->beta1, cfg->beta2, cfg->adam_eps);
      int worst = st;
      MPI_Allreduce(&st, &worst, 1, MPI_INT, MPI_MAX, s->comm);
      if (st == FF_OK && worst != FF_OK) st = FF_ERROR(worst, "rank 0 stopped round 2");
      if (st == FF_OK) /* rank 0 owns the optimizer: everyone takes its parameters */
        MPI_Bcast(ff_gru_array(g, FF_GRU_PARAMS), (int)ff_gru_nparams(g), MPI_DOUBLE, 0, s->comm);
      loss_sum += loss;
      ff_progress_update(&prog, (double)(it + 1));
      if (st != FF_OK) ff_error_prefix("round 2, epoch %lld, step %lld: ", (long long)e + 1, (long long)it + 1);
    }
    if (st != FF_OK) break;
    int64_t counts[2] = {hits, cells};
    MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, s->comm);
    double *h = res->hist + e * R2_METRICS;
    h[R2_TRAIN_LOSS] = loss_sum / (double)cfg->rnn_iters;
    h[R2_TRAIN_ACC] = counts[1] ? (double)counts[0] / (double)counts[1] : NAN;
    st = score_sequence(g, d, bins, s->n_train - 1, &h[R2_TEST_LOSS], &h[R2_TEST_ACC], &h[R2_TEST_MSE]);
    h[R2_LR] = lr;
    h[R2_SECONDS] = ff_wall_seconds() - t0;
    res->epochs = e + 1;
    const int is_best = st == FF_OK && h[R2_TEST_LOSS] < best_loss;
    if (is_best) {
      best_loss = h[R2_TEST_LOSS];
      res->best_epoch = e + 1;
      memcpy(best, ff_gru_array(g, FF_GRU_PARAMS), (size_t)ff_gru_nparams(g) * sizeof *best);
      int wst = rank == 0 ? save(g, path, res) : FF_OK;
      MPI_Bcast(&wst, 1, MPI_INT, 0, s->comm);
      if (wst != FF_OK && st == FF_OK) st = rank == 0 ? wst : FF_ERROR(wst, "rank 0 could not write %s", path);
    }
    ff_log("round 2 epoch %lld/%lld: train loss %.5g (in-class %.4f), test loss %.5g (bin acc %.4f, mse %.5g), lr %.3g, "
           "%.2f s%s",
           (long long)e + 1, (long long)cfg->epochs_round2, h[R2_TRAIN_LOSS], h[R2_TRAIN_ACC], h[R2_TEST_LOSS],
           h[R2_TEST_ACC], h[R2_TEST_MSE], lr, h[R2_SECONDS], is_best ? "  (best)" : "");
  }
  if (st == FF_OK && res->epochs > 0) { /* the best epoch's parameters for prediction, with the whole history */
    memcpy(ff_gru_array(g, FF_GRU_PARAMS), best, (size_t)ff_gru_nparams(g) * sizeof *best);
    int wst = rank == 0 ? save(g, path, res) : FF_OK;
    MPI_Bcast(&wst, 1, MPI_INT, 0, s->comm);
    if (wst != FF_OK) st = rank == 0 ? wst : FF_ERROR(wst, "rank 0 could not write %s", path);
  }
  ff_gru_tape_destroy(&tape);
  free(x);
  free(y);
  free(lo);
  free(hi);
  free(dl);
  free(seq_loss);
  free(best);
  if (st != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return st;
}

int ff_round2_load(const FfConfig *cfg, const char *path, int32_t P, MPI_Comm comm, FfRound2Result *r) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  memset(r, 0, sizeof *r);
  FF_TRY(ff_round2_untrained(cfg, P, NULL, &r->gru));
  int st = FF_OK;
  if (rank == 0) {
    hid_t f;
    st = ff_h5_open(path, H5P_DEFAULT, &f);
    if (st == FF_OK) {
      int64_t p = -1;
      if (H5Aexists(f, "P") > 0) st = ff_h5_read_attr_int(f, path, "P", &p); /* one number, checked */
      H5Eclear2(H5E_DEFAULT);
      if (st == FF_OK && p != P)
        st = FF_ERROR(FF_ERR_INPUT, "'%s' is a round-2 model of %lld neuropils, the recordings have %d: it was trained "
                                    "on other recordings or another region mapping",
                      path, (long long)p, P);
      if (st == FF_OK) st = ff_gru_load(r->gru, f, path);
      int64_t v = 0;
      if (st == FF_OK && H5Aexists(f, "epochs") > 0 && H5Aexists(f, "best_epoch") > 0) {
        st = ff_h5_read_attr_int(f, path, "epochs", &v);
        r->epochs = v;
        if (st == FF_OK) st = ff_h5_read_attr_int(f, path, "best_epoch", &r->best_epoch);
        if (st == FF_OK && r->epochs > 0) {
          void *h = NULL;
          int64_t dims[2];
          st = ff_h5_shape(f, path, "/history", 2, dims);
          if (st == FF_OK && (dims[0] != r->epochs || dims[1] != R2_METRICS))
            st = FF_ERROR(FF_ERR_INPUT, "'%s': /history has the wrong shape", path);
          if (st == FF_OK) st = FF_MALLOC(r->hist, r->epochs * R2_METRICS, "round-2 history");
          hid_t d = st == FF_OK ? H5Dopen2(f, "/history", H5P_DEFAULT) : -1;
          if (d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, r->hist) < 0)
            st = FF_ERROR(FF_ERR_INPUT, "'%s': reading /history failed", path);
          if (d >= 0) H5Dclose(d);
          (void)h;
        }
      }
      H5Eclear2(H5E_DEFAULT);
      H5Fclose(f);
    }
  }
  MPI_Bcast(&st, 1, MPI_INT, 0, comm);
  if (st != FF_OK) {
    if (rank != 0) st = FF_ERROR(st, "rank 0 could not read %s", path);
    ff_round2_result_destroy(r);
    return st;
  }
  MPI_Bcast(ff_gru_array(r->gru, FF_GRU_PARAMS), (int)ff_gru_nparams(r->gru), MPI_DOUBLE, 0, comm);
  return FF_OK;
}

int ff_round2_write_sections(const FfRound2Result *r, hid_t f) {
  int st = FF_OK;
  const int64_t E = r->epochs;
  double *col = malloc((size_t)(E > 0 ? E : 1) * sizeof *col);
  if (col == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory writing results");
  for (int m = 0; m < R2_METRICS && st == FF_OK; ++m) {
    char d[96];
    for (int64_t e = 0; e < E; ++e) col[e] = r->hist[e * R2_METRICS + m];
    snprintf(d, sizeof d, "/fit/round2/%s", FF_ROUND2_METRIC_NAMES[m]);
    st = ff_h5_write(f, d, H5T_NATIVE_DOUBLE, 1, &E, col);
  }
  free(col);
  if (st == FF_OK) {
    hid_t g = H5Gopen2(f, "/fit/round2", H5P_DEFAULT);
    st = ff_h5_write_attr_int(g, "epochs", E);
    if (st == FF_OK) st = ff_h5_write_attr_int(g, "best_epoch", r->best_epoch);
    H5Gclose(g);
  }
  return st;
}
