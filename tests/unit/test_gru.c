/* The round-2 GRU (gru.h) against independent references:
 * - a plain triple-loop forward written here (no BLAS), to 1e-12;
 * - central finite differences (fourth order) of the whole bin-interval and MSE losses with respect
 *   to every parameter of every group, skipping parameters whose perturbation moves an output across
 *   a ReLU or bin-edge kink;
 * - ff_gru_step frame by frame against ff_gru_forward, bit for bit, and OpenBLAS on 1 and 2 threads;
 * - exact sums against integer arithmetic, Adam against values computed by hand, the checkpoint
 *   round trip and its shape errors, the chunk-aligned shards.
 * Rank-count invariance runs under mpirun in tests/integration/gru_ranks.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/checkpoint.h"
#include "flyfit/gru.h"
#include "flyfit/h5.h"

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64*, uniform in [0, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) * 0x1p-53;
}

/* A model whose every group holds generic values: LayerNorm away from (1, 0), output bias mixed so
 * that some outputs sit at ReLU's zero and others well above it. */
static FfGru *make_model(int32_t P, int32_t H, int32_t chunk, uint64_t seed) {
  FfGruSetup s = {.P = P, .H = H, .chunk = chunk, .seed = seed};
  FfGru *g = NULL;
  assert_int_equal(ff_gru_create(&s, &g), FF_OK);
  FfGruView w;
  ff_gru_view(g, FF_GRU_PARAMS, &w);
  for (int32_t p = 0; p < P; ++p) {
    w.ln_gamma[p] = 0.6 + 0.8 * urand();
    w.ln_beta[p] = 0.4 * (urand() - 0.5);
    w.b_out[p] = 0.3 * (urand() - 0.3);
  }
  for (int64_t i = 0; i < (int64_t)3 * H * P; ++i) w.w_ih[i] *= 3.0; /* gates away from their linear range */
  return g;
}

static double *rates(int64_t n) { /* Hz, 0-100 */
  double *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; ++i) x[i] = 100.0 * urand();
  return x;
}

/* ---- the plain reference ----------------------------------------------------------------------- */

static double sig(double a) { return 1.0 / (1.0 + exp(-a)); }

/* PyTorch's equations for one sequence after another, every product an explicit loop. */
static void naive_forward(FfGru *g, int B, int L, const double *x, double *y) {
  const int P = ff_gru_setup(g)->P, H = ff_gru_setup(g)->H;
  const double s = ff_gru_setup(g)->out_scale_hz;
  FfGruView w;
  ff_gru_view(g, FF_GRU_PARAMS, &w);
  double *h = calloc((size_t)H, sizeof *h), *hn = calloc((size_t)H, sizeof *hn), *u = calloc((size_t)P, sizeof *u);
  for (int b = 0; b < B; ++b) {
    for (int k = 0; k < H; ++k) h[k] = 0.0;
    for (int t = 0; t < L; ++t) {
      const double *xt = x + ((int64_t)b * L + t) * P;
      double mean = 0.0, var = 0.0;
      for (int p = 0; p < P; ++p) mean += xt[p] / P;
      for (int p = 0; p < P; ++p) var += (xt[p] - mean) * (xt[p] - mean) / P;
      for (int p = 0; p < P; ++p) u[p] = w.ln_gamma[p] * (xt[p] - mean) / sqrt(var + 1e-5) + w.ln_beta[p];
      for (int k = 0; k < H; ++k) {
        double gate[3][2]; /* [r z n][input part, hidden part] */
        for (int q = 0; q < 3; ++q) {
          const int row = q * H + k;
          gate[q][0] = w.b_ih[row];
          gate[q][1] = w.b_hh[row];
          for (int p = 0; p < P; ++p) gate[q][0] += w.w_ih[(int64_t)row * P + p] * u[p];
          for (int j = 0; j < H; ++j) gate[q][1] += w.w_hh[(int64_t)row * H + j] * h[j];
        }
        const double r = sig(gate[0][0] + gate[0][1]), z = sig(gate[1][0] + gate[1][1]);
        const double n = tanh(gate[2][0] + r * gate[2][1]);
        hn[k] = (1.0 - z) * n + z * h[k];
      }
      memcpy(h, hn, (size_t)H * sizeof *h);
      for (int p = 0; p < P; ++p) {
        double a = w.b_out[p];
        for (int j = 0; j < H; ++j) a += w.w_out[(int64_t)p * H + j] * h[j];
        y[((int64_t)b * L + t) * P + p] = fmax(0.0, s * a);
      }
    }
  }
  free(h);
  free(hn);
  free(u);
}

static void test_forward_matches_naive(void **state) {
  (void)state;
  const int P = 5, H = 7, B = 3, L = 6;
  for (int chunk = 1; chunk <= 3; ++chunk) {
    FfGru *g = make_model(P, H, chunk, 11);
    double *x = rates((int64_t)B * L * P), *y = calloc((size_t)B * L * P, sizeof *y), *yr = calloc((size_t)B * L * P, sizeof *yr);
    FfGruTape *t;
    assert_int_equal(ff_gru_tape_create(&t), FF_OK);
    assert_int_equal(ff_gru_forward(g, B, L, x, y, t), FF_OK);
    naive_forward(g, B, L, x, yr);
    double worst = 0.0;
    int zeros = 0;
    for (int i = 0; i < B * L * P; ++i) {
      worst = fmax(worst, fabs(y[i] - yr[i]) / fmax(1.0, fabs(yr[i])));
      zeros += yr[i] == 0.0;
    }
    print_message("# chunk %d: BLAS forward vs loops: max relative difference %.3g (%d of %d outputs at ReLU's 0)\n",
                  chunk, worst, zeros, B * L * P);
    assert_true(worst <= 1e-12);
    assert_true(zeros > 0 && zeros < 3 * B * L * P / 4); /* both sides of ReLU's kink */
    /* the forward without a tape computes the same */
    double *y2 = calloc((size_t)B * L * P, sizeof *y2);
    assert_int_equal(ff_gru_forward(g, B, L, x, y2, NULL), FF_OK);
    assert_memory_equal(y, y2, (size_t)B * L * P * sizeof *y);
    free(y2);
    ff_gru_tape_destroy(&t);
    assert_null(t);
    free(x);
    free(y);
    free(yr);
    ff_gru_destroy(&g);
    assert_null(g);
  }
}

/* ---- step against forward ---------------------------------------------------------------------- */

static void step_vs_forward(int P, int H, int B, int L, int chunk) {
  FfGru *g = make_model(P, H, chunk, 5);
  const int64_t n = (int64_t)B * L * P;
  double *x = rates(n), *yf = malloc((size_t)n * sizeof *yf), *ys = malloc((size_t)n * sizeof *ys);
  double *xt = malloc((size_t)B * P * sizeof *xt), *yt = malloc((size_t)B * P * sizeof *yt);
  double *h = calloc((size_t)B * H, sizeof *h);
  FfGruTape *t;
  assert_int_equal(ff_gru_tape_create(&t), FF_OK);
  assert_int_equal(ff_gru_forward(g, B, L, x, yf, t), FF_OK);
  for (int f = 0; f < L; ++f) {
    for (int b = 0; b < B; ++b) memcpy(xt + (int64_t)b * P, x + ((int64_t)b * L + f) * P, (size_t)P * sizeof *x);
    assert_int_equal(ff_gru_step(g, B, xt, h, yt), FF_OK);
    for (int b = 0; b < B; ++b) memcpy(ys + ((int64_t)b * L + f) * P, yt + (int64_t)b * P, (size_t)P * sizeof *ys);
  }
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += memcmp(&yf[i], &ys[i], sizeof *yf) != 0;
  print_message("# P %d H %d B %d L %d chunk %d: %lld of %lld step outputs differ from the forward's bits\n", P, H, B,
                L, chunk, (long long)differ, (long long)n);
  assert_int_equal(differ, 0);
  ff_gru_tape_destroy(&t);
  ff_gru_destroy(&g);
  free(x), free(yf), free(ys), free(xt), free(yt), free(h);
}

static void test_step_equals_forward(void **state) {
  (void)state;
  step_vs_forward(5, 7, 3, 6, 2);
  step_vs_forward(5, 7, 3, 6, 8);
  step_vs_forward(13, 40, 11, 9, 4);
  step_vs_forward(78, 256, 8, 5, 8); /* the real size: OpenBLAS's blocked kernels */
}

/* ---- finite differences ------------------------------------------------------------------------ */

enum { FD_P = 5, FD_H = 7, FD_B = 3, FD_L = 6, FD_N = FD_B * FD_L * FD_P };

typedef struct {
  FfGru *g;
  int bin; /* 1: bin-interval loss, 0: MSE */
  double x[FD_N], target[FD_N], low[FD_N], high[FD_N];
} FdCase;

/* Whole loss, the mean over every element; pattern[i] records which side of each kink output i is
 * on (ReLU active, below the bin, above the bin). */
static double fd_loss(FdCase *c, unsigned char *pattern, double *dl) {
  double y[FD_N];
  FfGruTape *t;
  assert_int_equal(ff_gru_tape_create(&t), FF_OK);
  assert_int_equal(ff_gru_forward(c->g, FD_B, FD_L, c->x, y, dl ? t : NULL), FF_OK);
  /* per sequence with the global denominator, as a data-parallel trainer does */
  double loss = 0.0;
  const int64_t per = (int64_t)FD_L * FD_P;
  for (int b = 0; b < FD_B; ++b) {
    const int64_t o = b * per;
    loss += c->bin ? ff_bin_interval_loss(y + o, c->low + o, c->high + o, per, FD_N, dl ? dl + o : NULL)
                   : ff_mse_loss(y + o, c->target + o, per, FD_N, dl ? dl + o : NULL);
  }
  if (pattern)
    for (int i = 0; i < FD_N; ++i) pattern[i] = (unsigned char)((y[i] > 0.0) | (y[i] < c->low[i]) << 1 | (y[i] >= c->high[i]) << 2);
  if (dl) {
    ff_gru_zero_grad(c->g);
    assert_int_equal(ff_gru_backward(c->g, t, dl), FF_OK);
    assert_int_equal(ff_gru_reduce_grads(c->g, MPI_COMM_SELF), FF_OK);
  }
  ff_gru_tape_destroy(&t);
  return loss;
}

static void check_fd(int bin) {
  FdCase *c = calloc(1, sizeof *c);
  c->bin = bin;
  c->g = make_model(FD_P, FD_H, 2, 23); /* chunks of 2: one full, one partial */
  for (int i = 0; i < FD_N; ++i) c->x[i] = 100.0 * urand();
  double y0[FD_N];
  assert_int_equal(ff_gru_forward(c->g, FD_B, FD_L, c->x, y0, NULL), FF_OK);
  int inside = 0;
  for (int i = 0; i < FD_N; ++i) { /* 5 Hz bins; a third of the targets in the bin the output is in */
    const double tgt = urand() < 0.35 ? y0[i] : 100.0 * urand();
    c->target[i] = tgt;
    c->low[i] = 5.0 * floor(tgt / 5.0);
    c->high[i] = c->low[i] + 5.0;
    inside += y0[i] >= c->low[i] && y0[i] < c->high[i];
  }
  double dl[FD_N];
  unsigned char base[FD_N], pat[FD_N];
  const double L0 = fd_loss(c, base, dl);
  const int64_t np = ff_gru_nparams(c->g);
  double *an = malloc((size_t)np * sizeof *an), *p = ff_gru_array(c->g, FF_GRU_PARAMS);
  memcpy(an, ff_gru_array(c->g, FF_GRU_GRADS), (size_t)np * sizeof *an);
  double gmax = 0.0;
  for (int64_t i = 0; i < np; ++i) gmax = fmax(gmax, fabs(an[i]));
  print_message("# %s loss %.6g, %d of %d outputs inside their bins, largest gradient %.3g\n", bin ? "bin-interval" : "MSE",
                L0, inside, FD_N, gmax);
  double worst_all = 0.0;
  for (int q = 0; q < FF_GRU_NGROUPS; ++q) {
    FfGruGroup G;
    ff_gru_group(c->g, (FfGruGroupId)q, &G);
    double worst = 0.0, worst_abs = 0.0;
    int skipped = 0, checked = 0;
    for (int64_t i = G.offset; i < G.offset + (int64_t)G.rows * G.cols; ++i) {
      const double p0 = p[i], h = 1e-4 * fmax(1.0, fabs(p0));
      const double dh[4] = {-2 * h, -h, h, 2 * h};
      double Lh[4];
      int kink = 0;
      for (int k = 0; k < 4; ++k) {
        p[i] = p0 + dh[k];
        Lh[k] = fd_loss(c, pat, NULL);
        kink |= memcmp(pat, base, sizeof pat) != 0;
      }
      p[i] = p0;
      if (kink) {
        skipped++;
        continue;
      }
      const double fd = (8.0 * (Lh[2] - Lh[1]) - (Lh[3] - Lh[0])) / (12.0 * h);
      /* relative error, against a floor of 1e-3 of the largest gradient for elements near zero */
      const double err = fabs(fd - an[i]) / fmax(fmax(fabs(an[i]), fabs(fd)), 1e-3 * gmax);
      worst = fmax(worst, err);
      worst_abs = fmax(worst_abs, fabs(fd - an[i]));
      checked++;
    }
    print_message("#   %-8s [%3d x %d]: %3d checked, %2d skipped at kinks, max relative error %.2e, max abs %.2e\n",
                  G.name, (int)G.rows, (int)G.cols, checked, skipped, worst, worst_abs);
    assert_true(checked >= (G.rows * G.cols + 1) / 2);
    worst_all = fmax(worst_all, worst);
  }
  assert_true(worst_all <= 1e-6);
  free(an);
  ff_gru_destroy(&c->g);
  free(c);
}

static void test_fd_bin_interval(void **state) {
  (void)state;
  check_fd(1);
}

static void test_fd_mse(void **state) {
  (void)state;
  check_fd(0);
}

static void test_loss_known_values(void **state) {
  (void)state;
  const double yhat[4] = {2.0, 7.0, 12.0, 10.0}, low[4] = {5, 5, 5, 5}, high[4] = {10, 10, 10, 10};
  double dl[4];
  /* below by 3, inside, above by 2, at the (excluded) upper edge: 9 + 0 + 4 + 0 */
  assert_close(ff_bin_interval_loss(yhat, low, high, 4, 4.0, dl), 13.0 / 4.0, 1e-15);
  assert_close(dl[0], -6.0 / 4.0, 1e-15);
  assert_close(dl[1], 0.0, 0.0);
  assert_close(dl[2], 4.0 / 4.0, 1e-15);
  assert_close(dl[3], 0.0, 0.0);
  const double tgt[4] = {1.0, 7.0, 15.0, 10.0};
  assert_close(ff_mse_loss(yhat, tgt, 4, 8.0, dl), (1.0 + 0.0 + 9.0 + 0.0) / 8.0, 1e-15);
  assert_close(dl[0], 2.0 / 8.0, 1e-15);
  assert_close(dl[2], -6.0 / 8.0, 1e-15);
}

/* ---- OpenBLAS threads ------------------------------------------------------------------------- */

static void forward_backward(FfGru *g, int B, int L, const double *x, double *y, double *grad) {
  const int P = ff_gru_setup(g)->P;
  FfGruTape *t;
  assert_int_equal(ff_gru_tape_create(&t), FF_OK);
  assert_int_equal(ff_gru_forward(g, B, L, x, y, t), FF_OK);
  double *dl = malloc((size_t)B * L * P * sizeof *dl), *tgt = malloc((size_t)B * L * P * sizeof *tgt);
  for (int64_t i = 0; i < (int64_t)B * L * P; ++i) tgt[i] = x[i];
  ff_mse_loss(y, tgt, (int64_t)B * L * P, (double)B * L * P, dl);
  ff_gru_zero_grad(g);
  assert_int_equal(ff_gru_backward(g, t, dl), FF_OK);
  assert_int_equal(ff_gru_reduce_grads(g, MPI_COMM_SELF), FF_OK);
  memcpy(grad, ff_gru_array(g, FF_GRU_GRADS), (size_t)ff_gru_nparams(g) * sizeof *grad);
  ff_gru_tape_destroy(&t);
  free(dl);
  free(tgt);
}

static void test_blas_threads(void **state) {
  (void)state;
  /* products large enough that OpenBLAS threads them: without ff_gru's pin to one thread, the
   * gradients on 2 threads differ from those on 1 in their last bits (seen when writing this test) */
  const int P = 78, H = 256, B = 16, L = 6;
  FfGru *g = make_model(P, H, 16, 3);
  const int64_t n = (int64_t)B * L * P, np = ff_gru_nparams(g);
  double *x = rates(n), *y1 = malloc((size_t)n * sizeof *y1), *y2 = malloc((size_t)n * sizeof *y2);
  double *g1 = malloc((size_t)np * sizeof *g1), *g2 = malloc((size_t)np * sizeof *g2);
  const int before = openblas_get_num_threads();
  openblas_set_num_threads(1);
  forward_backward(g, B, L, x, y1, g1);
  openblas_set_num_threads(2);
  forward_backward(g, B, L, x, y2, g2);
  assert_int_equal(openblas_get_num_threads(), 2); /* the caller's setting is back */
  openblas_set_num_threads(before);
  assert_memory_equal(y1, y2, (size_t)n * sizeof *y1);
  assert_memory_equal(g1, g2, (size_t)np * sizeof *g1);
  ff_gru_destroy(&g);
  free(x), free(y1), free(y2), free(g1), free(g2);
}

/* ---- exact sums -------------------------------------------------------------------------------- */

static void test_exact_sum(void **state) {
  (void)state;
  double s;
  const double a[3] = {1.0, 1e-20, -1.0};
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, a, 3, &s), FF_OK);
  assert_true(s == 1e-20); /* a float sum gives 0 */
  const double b[3] = {0x1p99, 3.0, -0x1p99};
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, b, 3, &s), FF_OK);
  assert_true(s == 3.0);
  double tenth[10];
  for (int i = 0; i < 10; ++i) tenth[i] = 0.1;
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, tenth, 10, &s), FF_OK);
  assert_true(s == 1.0); /* 10 x 0.1000000000000000055 rounds to 1; the float sum is 0.9999999999999999 */
  const double tiny[2] = {0x1.8p-129, 0x1p-130}; /* below the grid of 2^-128: rounded to 2^-128 and 0 */
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, tiny, 2, &s), FF_OK);
  assert_true(s == 0x1p-128);
  const double big[2] = {0x1p100, 1.0}, nan_[2] = {NAN, 1.0};
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, big, 2, &s), FF_OK);
  assert_true(isnan(s));
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, nan_, 2, &s), FF_OK);
  assert_true(isnan(s));
  /* random multiples of 2^-60 of up to 2^52: their exact sum is an integer sum, whose single rounding
   * to double is the reference; every order and grouping must give it */
  enum { N = 40000 };
  double *v = malloc(N * sizeof *v);
  __int128 exact = 0;
  for (int i = 0; i < N; ++i) {
    const int64_t k = (int64_t)(urand() * 0x1p52) * (urand() < 0.5 ? -1 : 1) >> (int)(urand() * 40);
    v[i] = ldexp((double)k, -60);
    exact += k;
  }
  const double ref = ldexp((double)exact, -60);
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, v, N, &s), FF_OK);
  assert_true(s == ref);
  for (int i = N - 1; i > 0; --i) { /* shuffle */
    const int j = (int)(urand() * (i + 1));
    const double tmp = v[i];
    v[i] = v[j];
    v[j] = tmp;
  }
  double s2, naive = 0.0;
  assert_int_equal(ff_exact_sum(MPI_COMM_SELF, v, N, &s2), FF_OK);
  for (int i = 0; i < N; ++i) naive += v[i];
  print_message("# %d values: exact sum %.17g, reference %.17g, float sum %.17g\n", N, s2, ref, naive);
  assert_true(s2 == ref);
  /* the same values split over 3 partial sums (as threads keep them), merged: the same value; a lost value stays lost */
  FfExact part[3];
  memset(part, 0, sizeof part);
  for (int i = 0; i < N; ++i) ff_exact_add(&part[i % 3], v[i]);
  ff_exact_merge(&part[1], &part[2]);
  ff_exact_merge(&part[0], &part[1]);
  assert_true(ff_exact_value(&part[0]) == ref);
  ff_exact_add(&part[2], NAN);
  ff_exact_merge(&part[0], &part[2]);
  assert_true(isnan(ff_exact_value(&part[0])));
  free(v);
}

/* ff_exact_fixed: the sum as a count of 2^-100, against 128-bit integer arithmetic; refused when
 * negative or when a value was lost. */
static void test_exact_fixed(void **state) {
  (void)state;
  FfExact a = {0}, all;
  unsigned __int128 ref = 0, got;
  for (int i = 0; i < 50000; ++i) { /* more than FF_EXACT_CARRY_EVERY additions */
    const uint64_t k = (uint64_t)(urand() * 0x1p52) >> (int)(urand() * 50);
    const int up = (int)(urand() * 48); /* k 2^up < 2^100 */
    ff_exact_add(&a, ldexp((double)k, up - 100));
    ref += (unsigned __int128)k << up;
  }
  assert_int_equal(ff_exact_reduce(&a, &all, 1, MPI_COMM_SELF), FF_OK);
  assert_int_equal(ff_exact_fixed(&all, 100, &got), FF_OK);
  assert_true(got == ref);
  assert_int_equal(ff_exact_fixed(&all, 128, &got), FF_ERR_INTERNAL); /* 2^128 units of 2^-128 or more */
  ff_error_clear();
  FfExact neg = {0};
  ff_exact_add(&neg, -1.0);
  assert_int_equal(ff_exact_fixed(&neg, 100, &got), FF_ERR_INTERNAL);
  ff_error_clear();
  FfExact lost = {0};
  assert_int_equal(ff_exact_add(&lost, INFINITY), -1);
  assert_true(isnan(ff_exact_value(&lost)));
  assert_int_equal(ff_exact_fixed(&lost, 100, &got), FF_ERR_INTERNAL);
  ff_error_clear();
}

/* ---- Adam -------------------------------------------------------------------------------------- */

static void test_adam_known_answer(void **state) {
  (void)state;
  FfGruSetup su = {.P = 1, .H = 1, .seed = 1};
  FfGru *g;
  assert_int_equal(ff_gru_create(&su, &g), FF_OK);
  double *p = ff_gru_array(g, FF_GRU_PARAMS), *gr = ff_gru_array(g, FF_GRU_GRADS);
  double *m = ff_gru_array(g, FF_GRU_ADAM_M), *v = ff_gru_array(g, FF_GRU_ADAM_V);
  const int64_t np = ff_gru_nparams(g);
  assert_int_equal(np, 1 + 1 + 3 + 3 + 3 + 3 + 1 + 1);
  p[0] = 0.25;
  p[1] = -0.5;
  const double p2 = p[2];
  /* lr 0.1, betas 0.9 and 0.999, eps 1e-8.
   * Step 1, gradient 0.5: m = 0.1 x 0.5 = 0.05, v = 0.001 x 0.25 = 0.00025, m/(1 - 0.9) = 0.5,
   *   v/(1 - 0.999) = 0.25, so p = 0.25 - 0.1 x 0.5 / (0.5 + 1e-8) = 0.150000002 (0.15000000199999997).
   * Step 2, gradient -1: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975,
   *   m/(1 - 0.81) = -0.28947368..., v/(1 - 0.998001) = 0.62518759..., sqrt 0.79068805...,
   *   p = 0.150000002 + 0.1 x 0.28947368 / 0.79068806 = 0.1866103542405656.
   * Parameter 1 with gradients 0 then 2: unchanged by step 1 (m = 0); step 2 m = 0.2, v = 0.004,
   *   p = -0.5 - 0.1 x 1.0526316 / 1.4145704 = -0.57441368183064612. */
  memset(gr, 0, (size_t)np * sizeof *gr);
  gr[0] = 0.5;
  assert_int_equal(ff_gru_adam(g, 0.1, 0.9, 0.999, 1e-8), FF_OK);
  assert_close(p[0], 0.15000000199999997, 4e-15 * 0.15);
  assert_close(m[0], 0.05, 4e-15 * 0.05);
  assert_close(v[0], 0.00025, 4e-15 * 0.00025); /* 1 - 0.999 is 9e-16 off in double */
  assert_true(p[1] == -0.5);
  assert_true(p[2] == p2);
  gr[0] = -1.0;
  gr[1] = 2.0;
  assert_int_equal(ff_gru_adam(g, 0.1, 0.9, 0.999, 1e-8), FF_OK);
  assert_close(p[0], 0.1866103542405656, 4e-15 * 0.19);
  assert_close(m[0], -0.055, 4e-15 * 0.055);
  assert_close(v[0], 0.00124975, 4e-15 * 0.00124975);
  assert_close(p[1], -0.57441368183064612, 4e-15 * 0.57);
  assert_int_equal(ff_gru_adam_steps(g), 2);
  /* clipping: norm sqrt(3^2 + 4^2) = 5 scaled to 1 */
  memset(gr, 0, (size_t)np * sizeof *gr);
  gr[3] = 3.0;
  gr[np - 1] = 4.0;
  assert_close(ff_gru_clip_grads(g, 1.0), 5.0, 1e-15);
  assert_close(gr[3], 0.6, 1e-15);
  assert_close(gr[np - 1], 0.8, 1e-15);
  /* a non-finite parameter is named */
  gr[4] = NAN;
  assert_int_equal(ff_gru_adam(g, 0.1, 0.9, 0.999, 1e-8), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "w_ih[2][0]"));
  ff_error_clear();
  ff_gru_destroy(&g);
}

/* ---- divergence in the gradient ------------------------------------------------------------- */

static void test_nonfinite_gradient_named(void **state) {
  (void)state;
  FfGru *g = make_model(5, 7, 2, 9);
  const int B = 2, L = 3, n = B * L * 5;
  double *x = rates(n), y[30], dl[30];
  FfGruTape *t;
  assert_int_equal(ff_gru_tape_create(&t), FF_OK);
  assert_int_equal(ff_gru_forward(g, B, L, x, y, t), FF_OK);
  for (int i = 0; i < n; ++i) dl[i] = 1e300; /* products overflow to infinity */
  ff_gru_zero_grad(g);
  assert_int_equal(ff_gru_backward(g, t, dl), FF_OK);
  assert_int_equal(ff_gru_reduce_grads(g, MPI_COMM_SELF), FF_ERR_INPUT);
  print_message("# %s\n", ff_error_message());
  assert_non_null(strstr(ff_error_message(), "diverged"));
  ff_error_clear();
  ff_gru_tape_destroy(&t);
  ff_gru_destroy(&g);
  free(x);
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

static void test_checkpoint(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "/tmp/flyfit-test-gru-%d.h5", (int)getpid());
  FfGru *a = make_model(5, 7, 2, 31), *b = make_model(5, 7, 2, 32);
  const int64_t np = ff_gru_nparams(a);
  double *gr = ff_gru_array(a, FF_GRU_GRADS);
  for (int64_t i = 0; i < np; ++i) gr[i] = urand() - 0.5;
  assert_int_equal(ff_gru_adam(a, 1e-3, 0.9, 0.999, 1e-8), FF_OK);
  assert_int_equal(ff_gru_adam(a, 1e-3, 0.9, 0.999, 1e-8), FF_OK);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_int_equal(ff_h5_group(f, "/round2/gru"), FF_OK);
  hid_t grp = H5Gopen2(f, "/round2/gru", H5P_DEFAULT);
  assert_int_equal(ff_checkpoint_write_gru(grp, a), FF_OK);
  H5Gclose(grp);
  H5Fclose(f);

  assert_int_equal(ff_h5_open(path, H5P_DEFAULT, &f), FF_OK);
  grp = H5Gopen2(f, "/round2/gru", H5P_DEFAULT);
  assert_int_equal(ff_checkpoint_read_gru(grp, path, b), FF_OK);
  assert_memory_equal(ff_gru_array(a, FF_GRU_PARAMS), ff_gru_array(b, FF_GRU_PARAMS), (size_t)np * sizeof(double));
  assert_memory_equal(ff_gru_array(a, FF_GRU_ADAM_M), ff_gru_array(b, FF_GRU_ADAM_M), (size_t)np * sizeof(double));
  assert_memory_equal(ff_gru_array(a, FF_GRU_ADAM_V), ff_gru_array(b, FF_GRU_ADAM_V), (size_t)np * sizeof(double));
  assert_int_equal(ff_gru_adam_steps(b), 2);

  /* another P, another H: refused with the file and the dataset named, the model untouched */
  const struct {
    int P, H;
    const char *dset, *shape;
  } bad[2] = {{6, 7, "/round2/gru/params/ln_gamma", "has 5 elements, expected 6"},
              {5, 8, "/round2/gru/params/w_ih", "is 21 x 5, expected 24 x 5"}};
  for (int k = 0; k < 2; ++k) {
    FfGru *c = make_model(bad[k].P, bad[k].H, 2, 33);
    double *before = malloc((size_t)ff_gru_nparams(c) * sizeof *before);
    memcpy(before, ff_gru_array(c, FF_GRU_PARAMS), (size_t)ff_gru_nparams(c) * sizeof *before);
    assert_int_equal(ff_checkpoint_read_gru(grp, path, c), FF_ERR_INPUT);
    const char *msg = ff_error_message();
    print_message("# P %d H %d: %s\n", bad[k].P, bad[k].H, msg);
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, bad[k].dset));
    assert_non_null(strstr(msg, bad[k].shape));
    ff_error_clear();
    assert_memory_equal(before, ff_gru_array(c, FF_GRU_PARAMS), (size_t)ff_gru_nparams(c) * sizeof *before);
    free(before);
    ff_gru_destroy(&c);
  }
  /* another output scale */
  FfGruSetup s = {.P = 5, .H = 7, .out_scale_hz = 50.0};
  FfGru *d;
  assert_int_equal(ff_gru_create(&s, &d), FF_OK);
  assert_int_equal(ff_checkpoint_read_gru(grp, path, d), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "out_scale_hz"));
  ff_error_clear();
  ff_gru_destroy(&d);
  H5Gclose(grp);
  H5Fclose(f);
  unlink(path);
  ff_gru_destroy(&a);
  ff_gru_destroy(&b);
}

/* ---- shards and setup ------------------------------------------------------------------------- */

static void test_shard(void **state) {
  (void)state;
  for (int chunk = 1; chunk <= 4; ++chunk) {
    FfGruSetup s = {.P = 2, .H = 3, .chunk = chunk};
    FfGru *g;
    assert_int_equal(ff_gru_create(&s, &g), FF_OK);
    for (int B = 0; B <= 21; ++B)
      for (int size = 1; size <= 5; ++size) {
        int32_t next = 0;
        for (int r = 0; r < size; ++r) {
          int32_t first, count;
          ff_gru_shard(g, B, r, size, &first, &count);
          assert_int_equal(first, next); /* contiguous, in rank order */
          assert_true(count >= 0);
          assert_true(first % chunk == 0 || count == 0);
          assert_true(count % chunk == 0 || first + count == B); /* whole chunks but the last */
          next = first + count;
        }
        assert_int_equal(next, B);
      }
    ff_gru_destroy(&g);
  }
  FfGruSetup d = {.P = 3, .seed = 1};
  FfGru *g;
  assert_int_equal(ff_gru_create(&d, &g), FF_OK);
  assert_int_equal(ff_gru_setup(g)->H, 256);
  assert_int_equal(ff_gru_setup(g)->chunk, 8);
  assert_close(ff_gru_setup(g)->out_scale_hz, 100.0, 0.0);
  assert_int_equal(ff_gru_nparams(g), 3 + 3 + 768 * 3 + 768 * 256 + 768 + 768 + 3 * 256 + 3);
  /* PyTorch's init range, and the output bias helper */
  FfGruView w;
  ff_gru_view(g, FF_GRU_PARAMS, &w);
  double wmax = 0.0;
  for (int i = 0; i < 768 * 256; ++i) wmax = fmax(wmax, fabs(w.w_hh[i]));
  assert_true(wmax < 1.0 / 16.0 && wmax > 0.99 / 16.0);
  assert_true(w.ln_gamma[2] == 1.0 && w.ln_beta[2] == 0.0);
  const double mean[3] = {10.0, 20.0, 30.0};
  ff_gru_init_output_bias(g, mean);
  assert_close(w.b_out[1], 0.2, 1e-16);
  ff_gru_destroy(&g);
  FfGruSetup bad = {.P = 0};
  assert_int_equal(ff_gru_create(&bad, &g), FF_ERR_INPUT);
  ff_error_clear();
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ff_h5_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forward_matches_naive),
      cmocka_unit_test(test_step_equals_forward),
      cmocka_unit_test(test_fd_bin_interval),
      cmocka_unit_test(test_fd_mse),
      cmocka_unit_test(test_loss_known_values),
      cmocka_unit_test(test_blas_threads),
      cmocka_unit_test(test_exact_sum),
      cmocka_unit_test(test_exact_fixed),
      cmocka_unit_test(test_adam_known_answer),
      cmocka_unit_test(test_nonfinite_gradient_named),
      cmocka_unit_test(test_checkpoint),
      cmocka_unit_test(test_shard),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
