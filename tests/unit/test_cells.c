/* mode = cells' library (include/flyfit/cells.h) against independent references: the STDP pair rule against its
 * closed form on single hand-made pairs, against the sum over all pairs (all-to-all, unclipped), against a slow
 * nearest-neighbour pairing, and against an O(n^2) replay that computes each trace as a direct sum over the earlier
 * spikes and clips after every event; ROC/AUC against the Mann-Whitney count over every (positive, negative) pair
 * with ties, and the same counted across ranks (ff_cells_roc_ranks) against it; partial correlation of three variables against its textbook formula; the spike counts of a clean
 * trace; the classifier on separable data; and bad recordings (NaN, too few frames). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"
#include "flyfit/error.h"
#include "flyfit/neuron_models.h"
#include "flyfit/rng.h"

static FfStdp wide(int rule) {
  FfStdp p;
  ff_stdp_defaults(&p);
  p.w_min = -1e9;
  p.w_max = 1e9;
  p.rule = rule;
  return p;
}

static void test_single_pairs(void **state) {
  (void)state;
  for (int rule = 0; rule < 2; ++rule) {
    const FfStdp p = wide(rule);
    const double lags[] = {0.5, 3.0, 20.0, 47.25, 200.0};
    for (size_t k = 0; k < sizeof lags / sizeof lags[0]; ++k) {
      const double d = lags[k], pre = 10.0, late = 10.0 + d;
      assert_close(ff_stdp_pair(&p, &pre, 1, &late, 1, 0.5) - 0.5, 0.003 * exp(-d / 20.0), 1e-15);
      assert_close(ff_stdp_pair(&p, &late, 1, &pre, 1, 0.5) - 0.5, -0.0015 * exp(-d / 60.0), 1e-15);
    }
    const double t = 7.0; /* a simultaneous pair: the pre spike first, so it potentiates by A+ */
    assert_close(ff_stdp_pair(&p, &t, 1, &t, 1, 0.5) - 0.5, 0.003, 1e-15);
    assert_close(ff_stdp_pair(&p, &t, 1, NULL, 0, 0.25), 0.25, 0);
  }
}

/* a sorted train of exponential intervals (mean m ms), on a 0.25 ms grid so that some spikes coincide */
static int64_t train(uint32_t which, double m, double *t, int64_t cap) {
  double x = 0;
  for (int64_t k = 0; k < cap; ++k) {
    uint32_t r[4];
    ff_rng4(7, FF_STREAM_END + 2, which, (uint32_t)k, 0, r);
    x += -m * log(ff_u01(r[0]));
    t[k] = floor(x * 4.0) / 4.0;
  }
  return cap;
}

static void test_all_to_all_sum(void **state) {
  (void)state;
  const FfStdp p = wide(FF_STDP_ALL);
  double a[24], b[41]; /* trial 19: 24 and 41 spikes */
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const int64_t na = train(2 * trial, 15.0, a, 5 + trial), nb = train(2 * trial + 1, 12.0, b, 3 + 2 * trial);
    double want = 0;
    for (int64_t i = 0; i < na; ++i)
      for (int64_t j = 0; j < nb; ++j) {
        const double d = b[j] - a[i];
        want += d >= 0 ? 0.003 * exp(-d / 20.0) : -0.0015 * exp(d / 60.0);
      }
    assert_close(ff_stdp_pair(&p, a, na, b, nb, 0.0), want, 1e-14);
  }
}

/* nearest-neighbour: each post spike pairs with the latest pre spike at or before it, each pre spike with the
 * latest post spike strictly before it */
static void test_nearest(void **state) {
  (void)state;
  const FfStdp p = wide(FF_STDP_NEAREST);
  double a[24], b[41]; /* trial 19: 24 and 41 spikes */
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const int64_t na = train(100 + 2 * trial, 15.0, a, 5 + trial), nb = train(101 + 2 * trial, 12.0, b, 3 + 2 * trial);
    double want = 0;
    for (int64_t j = 0; j < nb; ++j) {
      double last = -INFINITY;
      for (int64_t i = 0; i < na; ++i)
        if (a[i] <= b[j]) last = a[i];
      if (isfinite(last)) want += 0.003 * exp(-(b[j] - last) / 20.0);
    }
    for (int64_t i = 0; i < na; ++i) {
      double last = -INFINITY;
      for (int64_t j = 0; j < nb; ++j)
        if (b[j] < a[i]) last = b[j];
      if (isfinite(last)) want += -0.0015 * exp(-(a[i] - last) / 60.0);
    }
    assert_close(ff_stdp_pair(&p, a, na, b, nb, 0.0), want, 1e-14);
  }
}

/* clipped after every event: a replay whose traces are direct sums over the earlier spikes */
static void test_clipped(void **state) {
  (void)state;
  FfStdp p;
  ff_stdp_defaults(&p);
  p.w_max = 0.506;
  double a[60], b[60];
  for (uint32_t trial = 0; trial < 10; ++trial) {
    const int64_t na = train(300 + trial, 6.0, a, 60), nb = train(400 + trial, 5.0, b, 60);
    double w = 0.5;
    int64_t i = 0, j = 0;
    while (i < na || j < nb) {
      const int is_pre = j >= nb || (i < na && a[i] <= b[j]);
      const double t = is_pre ? a[i] : b[j];
      double tr = 0;
      if (is_pre) { /* apost(t): every post spike strictly before this pre spike */
        for (int64_t q = 0; q < j; ++q) tr += -0.0015 * exp(-(t - b[q]) / 60.0);
        ++i;
      } else { /* apre(t): every pre spike up to and including t */
        for (int64_t q = 0; q < i; ++q) tr += 0.003 * exp(-(t - a[q]) / 20.0);
        ++j;
      }
      w += tr;
      w = w < 0 ? 0 : w > p.w_max ? p.w_max : w;
    }
    assert_close(ff_stdp_pair(&p, a, na, b, nb, 0.5), w, 1e-14);
  }
}

static void test_auc(void **state) {
  (void)state;
  enum { N = 300 };
  double s[N], fpr[N + 1], tpr[N + 1];
  int8_t y[N];
  for (int k = 0; k < N; ++k) {
    uint32_t r[4];
    ff_rng4(3, FF_STREAM_END + 3, (uint32_t)k, 0, 0, r);
    y[k] = (int8_t)(r[0] % 3 == 0);
    s[k] = floor(10.0 * ff_u01(r[1])) + (y[k] ? 2.0 : 0.0); /* many ties */
  }
  double wins = 0, P = 0, Nn = 0;
  for (int i = 0; i < N; ++i) {
    P += y[i];
    Nn += !y[i];
    for (int j = 0; j < N; ++j)
      if (y[i] && !y[j]) wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
  }
  int64_t pts = 0;
  assert_close(ff_cells_auc(s, y, N, fpr, tpr, &pts), wins / (P * Nn), 1e-14);
  assert_true(pts >= 3 && pts <= N + 1);
  assert_close(fpr[0], 0, 0);
  assert_close(tpr[0], 0, 0);
  assert_close(fpr[pts - 1], 1, 0);
  assert_close(tpr[pts - 1], 1, 0);
  for (int64_t k = 1; k < pts; ++k) assert_true(fpr[k] >= fpr[k - 1] && tpr[k] >= tpr[k - 1]);
  /* perfect and reversed scores */
  for (int k = 0; k < N; ++k) s[k] = y[k] ? 1.0 + k : -1.0 - k;
  assert_close(ff_cells_auc(s, y, N, NULL, NULL, NULL), 1.0, 0);
  for (int k = 0; k < N; ++k) s[k] = -s[k];
  assert_close(ff_cells_auc(s, y, N, NULL, NULL, NULL), 0.0, 0);
}

/* The AUC counted without sorting the pairs (ff_cells_roc_ranks, here on one rank) is ff_cells_auc's bit for bit;
 * its curve, unthinned, is made of ff_cells_auc's vertices and has its area; thinned, its ends and its order hold;
 * left-out pairs (label -1) change nothing. */
static void test_roc_ranks(void **state) {
  (void)state;
  enum { N = 2000, M = 3 * N };
  static double s[M], f0[N + 1], t0[N + 1], f1[N + 2], t1[N + 2];
  static int8_t y[M];
  for (int k = 0; k < N; ++k) {
    uint32_t r[4];
    ff_rng4(5, FF_STREAM_END + 3, (uint32_t)k, 0, 0, r);
    y[k] = (int8_t)(r[0] % 5 == 0);
    s[k] = floor(40.0 * ff_u01(r[1])) / 8.0 + (y[k] ? 1.0 : 0.0); /* ties within and across the classes */
  }
  int64_t p0 = 0, p1 = 0;
  const double auc0 = ff_cells_auc(s, y, N, f0, t0, &p0);
  double auc1 = 0;
  assert_int_equal(ff_cells_roc_ranks(MPI_COMM_WORLD, s, y, N, N + 2, &auc1, f1, t1, &p1), FF_OK);
  assert_true(auc1 == auc0);
  double area = 0;
  for (int64_t k = 1; k < p1; ++k) {
    area += (f1[k] - f1[k - 1]) * (t1[k] + t1[k - 1]) / 2;
    int found = 0; /* every point a vertex of the sorted curve (the ends included) */
    for (int64_t q = 0; q < p0 && !found; ++q) found = f0[q] == f1[k] && t0[q] == t1[k];
    assert_true(found);
  }
  assert_close(area, auc0, 1e-12);
  /* pairs left out (a matrix's diagonal) are not counted */
  for (int k = N; k < M; ++k) s[k] = (k % 7) - 3.0, y[k] = -1;
  double auc2 = 0;
  int64_t p2 = 0;
  assert_int_equal(ff_cells_roc_ranks(MPI_COMM_WORLD, s, y, M, N + 2, &auc2, f1, t1, &p2), FF_OK);
  assert_true(auc2 == auc0);
  assert_int_equal(p2, p1);
  /* thinned to 12 points: both ends, monotone */
  assert_int_equal(ff_cells_roc_ranks(MPI_COMM_WORLD, s, y, M, 12, &auc2, f1, t1, &p2), FF_OK);
  assert_true(auc2 == auc0);
  assert_true(p2 <= 12 && p2 >= 4);
  assert_true(f1[0] == 0 && t1[0] == 0 && f1[p2 - 1] == 1 && t1[p2 - 1] == 1);
  for (int64_t k = 1; k < p2; ++k) assert_true(f1[k] >= f1[k - 1] && t1[k] >= t1[k - 1]);
}

/* three correlated series: corr against its formula, partial correlation against (r12 - r13 r23) / sqrt(...) */
static void test_partial(void **state) {
  (void)state;
  enum { T = 4000 };
  double *x = malloc(sizeof(double) * 3 * T), c[9], pc[9], xc[9];
  assert_non_null(x);
  for (int t = 0; t < T; ++t) {
    uint32_t r[4];
    ff_rng4(5, FF_STREAM_END + 4, (uint32_t)t, 0, 0, r);
    const double z = ff_normal(r[0], r[1]), e1 = ff_normal(r[2], r[3]);
    ff_rng4(5, FF_STREAM_END + 4, (uint32_t)t, 1, 0, r);
    x[t] = z + 0.5 * e1;
    x[T + t] = z + ff_normal(r[0], r[1]);
    x[2 * T + t] = 0.3 * x[t] + ff_normal(r[2], r[3]);
  }
  assert_int_equal(ff_cells_corr(x, 3, T, c), FF_OK);
  double m[3] = {0}, sd[3] = {0};
  for (int i = 0; i < 3; ++i) {
    for (int t = 0; t < T; ++t) m[i] += x[i * T + t] / T;
    for (int t = 0; t < T; ++t) sd[i] += (x[i * T + t] - m[i]) * (x[i * T + t] - m[i]) / T;
    sd[i] = sqrt(sd[i]);
  }
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double cov = 0;
      for (int t = 0; t < T; ++t) cov += (x[i * T + t] - m[i]) * (x[j * T + t] - m[j]) / T;
      assert_close(c[i * 3 + j], i == j ? 0.0 : cov / (sd[i] * sd[j]), 1e-12);
    }
  double rows[6]; /* rows 1..2 alone: the whole matrix's numbers, bit for bit (the ranks split it by rows) */
  assert_int_equal(ff_cells_corr_rows(x, 3, T, 1, 3, rows), FF_OK);
  assert_memory_equal(rows, c + 3, sizeof rows);
  assert_int_equal(ff_cells_partial(x, 3, T, 1e-12, pc), FF_OK);
  const double r12 = c[1], r13 = c[2], r23 = c[5];
  assert_close(pc[1], (r12 - r13 * r23) / sqrt((1 - r13 * r13) * (1 - r23 * r23)), 1e-9);
  assert_close(pc[3], pc[1], 1e-12);
  assert_close(pc[5], (r23 - r12 * r13) / sqrt((1 - r12 * r12) * (1 - r13 * r13)), 1e-9);
  /* lagged: series 1 is series 0 one frame later */
  for (int t = 0; t < T; ++t) x[T + t] = t ? x[t - 1] : 0.0;
  assert_int_equal(ff_cells_xcorr(x, 2, T, 2, xc), FF_OK);
  assert_true(xc[1] > 0.99); /* 0 leads 1 by one frame */
  assert_true(xc[2] < 0.5);  /* 1 does not lead 0 */
  assert_int_equal(ff_cells_xcorr_rows(x, 2, T, 2, 1, 2, rows), FF_OK);
  assert_memory_equal(rows, xc + 2, 2 * sizeof(double));
  free(x);
}

/* a clean trace: spikes of one and two units at known frames, the counts that says */
static void test_counts(void **state) {
  (void)state;
  enum { T = 400 };
  double s[T], y[T];
  int32_t c[T];
  FfCellsParams p;
  ff_cells_params_defaults(&p);
  for (int t = 0; t < T; ++t) {
    uint32_t r[4];
    ff_rng4(9, FF_STREAM_END + 5, (uint32_t)t, 0, 0, r);
    y[t] = 0.01 * ff_normal(r[0], r[1]); /* only the noise level of dF/F matters here */
    s[t] = t % 40 == 5 ? 0.2 : t % 80 == 25 ? 0.4 : 0.001; /* single spikes the majority: the unit */
  }
  assert_int_equal(ff_cells_counts(s, y, 1, T, &p, c), FF_OK);
  for (int t = 0; t < T; ++t) assert_int_equal(c[t], t % 40 == 5 ? 1 : t % 80 == 25 ? 2 : 0);
}

/* the driven neuron: one model spike per inferred spike, a few ms after its kick, inside its frame */
static void test_drive(void **state) {
  (void)state;
  enum { T = 120 };
  int32_t c[T] = {0};
  c[10] = 1;
  c[50] = 2;
  c[90] = 1;
  FfCellsParams p;
  ff_cells_params_defaults(&p);
  const double frame = 1000.0 / 30.0;
  for (int place = 0; place < 2; ++place)
    for (int exc = 0; exc < 2; ++exc) {
      p.placement = place;
      double *t = NULL;
      int64_t n = 0;
      assert_int_equal(ff_cells_drive(c, T, 30.0, 0, exc, 0, &p, &t, &n), FF_OK);
      assert_int_equal(n, 4);
      const int frames[4] = {10, 50, 50, 90};
      for (int k = 0; k < 4; ++k) {
        assert_true(t[k] > frames[k] * frame && t[k] < (frames[k] + 1) * frame + 3.0);
        if (place == FF_CELLS_PLACE_EVEN) { /* kicks at (k + 1/2) / m of the frame, the spike within 3 ms */
          const double kick = (frames[k] + (k == 2 ? 0.75 : k == 1 ? 0.25 : 0.5)) * frame;
          assert_true(t[k] >= kick && t[k] < kick + 3.0);
        }
      }
      free(t);
    }
}

/* Two cells on one rank, coupled: cell 0 driven by one inferred spike, cell 1 by nothing. Cell 0's train is
 * ff_cells_drive's; cell 1 hears cell 0's spike (step s) as a kick of coupling_mV w_01 at step s + 1, replayed here by
 * a plain Izhikevich loop; an inhibitory cell 0 gives no spike; w_01 = 0 gives none either. */
static void test_network_pass(void **state) {
  (void)state;
  enum { T = 30 };
  int32_t counts[2 * T] = {0};
  counts[2] = 1;
  FfCellsParams p;
  ff_cells_params_defaults(&p);
  p.coupling_mV = 80.0;
  FfNet net;
  FfExchange *x = NULL;
  assert_int_equal(ff_net_blocks(2, MPI_COMM_WORLD, "two cells", &net), FF_OK);
  assert_int_equal(ff_exchange_create(&net, FF_EXCHANGE_ALLGATHER, MPI_COMM_WORLD, &x, NULL), FF_OK);
  double *alone = NULL, *t[2] = {NULL, NULL};
  int64_t n_alone = 0, len[2] = {0, 0};
  assert_int_equal(ff_cells_drive(counts, T, 30.0, 0, 1, 0, &p, &alone, &n_alone), FF_OK);
  assert_true(n_alone >= 1);
  const double wc[4] = {0.0, 0.5, 0.0, 0.0}; /* wc[i * 2 + j]: w_01 = 0.5, w_10 = 0 (no echo) */
  assert_int_equal(ff_cells_network_pass(&net, x, counts, T, 30.0, NULL, 0, &p, wc, t, len), FF_OK);
  assert_int_equal(len[0], n_alone);
  for (int64_t k = 0; k < n_alone; ++k) assert_true(t[0][k] == alone[k]);
  /* cell 1 by hand: a kick of 80 x 0.5 mV the step after each of cell 0's spikes */
  double par[FF_IZH_NPARAM], y[FF_IZH_NSTATE] = {-65.0, 0.2 * -65.0}, want[64];
  ff_cells_neuron_params(1, par);
  const int64_t steps = ff_cells_steps(T, 30.0, &p);
  int64_t n_want = 0, next = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const double t_end = (double)(s + 1) * p.dt_ms;
    if (next < n_alone && alone[next] == (double)s * p.dt_ms) y[FF_IZH_V] += 80.0 * 0.5, ++next;
    if (ff_izhikevich_step(par, p.dt_ms, 0.0, y) && n_want < 64) want[n_want++] = t_end;
  }
  assert_true(n_want >= 1);
  assert_int_equal(len[1], n_want);
  for (int64_t k = 0; k < n_want; ++k) assert_true(t[1][k] == want[k]);
  assert_true(t[1][0] > t[0][0]);
  free(t[0]), free(t[1]);
  /* cell 0 inhibitory (planted types): its spike pushes cell 1 down, no spike */
  const int8_t types[2] = {0, 1};
  assert_int_equal(ff_cells_network_pass(&net, x, counts, T, 30.0, types, 0, &p, wc, t, len), FF_OK);
  assert_int_equal(len[1], 0);
  free(t[0]), free(t[1]);
  const double none[4] = {0.0, 0.0, 0.5, 0.0};
  assert_int_equal(ff_cells_network_pass(&net, x, counts, T, 30.0, NULL, 0, &p, none, t, len), FF_OK);
  assert_int_equal(len[1], 0);
  free(t[0]), free(t[1]);
  free(alone);
  ff_exchange_destroy(&x);
  ff_net_destroy(&net);
}

static void test_logreg(void **state) {
  (void)state;
  enum { N = 100, D = 2 };
  double x[N * D];
  int8_t y[N], pred[N];
  for (int i = 0; i < N; ++i) {
    uint32_t r[4];
    ff_rng4(11, FF_STREAM_END + 6, (uint32_t)i, 0, 0, r);
    y[i] = (int8_t)(i % 5 != 0); /* 80/20 */
    x[i * D] = (y[i] ? 2.0 : -2.0) + 0.5 * ff_normal(r[0], r[1]);
    x[i * D + 1] = ff_normal(r[2], r[3]);
  }
  assert_int_equal(ff_cells_logreg_cv(x, N, D, y, 5, 1, pred), FF_OK);
  for (int i = 0; i < N; ++i) assert_int_equal(pred[i], y[i]);
  assert_int_equal(ff_cells_logreg_cv(x, N, D, y, 1, 1, pred), FF_ERR_INPUT);
  ff_error_clear();
}

static void test_bad_recordings(void **state) {
  (void)state;
  FfCellsRecording r;
  memset(&r, 0, sizeof r);
  double f[3 * 50];
  for (int k = 0; k < 150; ++k) f[k] = 100.0 + k % 7;
  r.n_cells = 3;
  r.n_frames = 50;
  r.fs_hz = 30;
  r.fluor = f;
  assert_int_equal(ff_cells_check(&r, 0.5, "x.h5"), FF_OK);
  f[2 * 50 + 7] = NAN;
  assert_int_equal(ff_cells_check(&r, 0.5, "x.h5"), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "'x.h5': cell 2 has a non-finite value (nan) at frame 7"));
  f[2 * 50 + 7] = 100;
  assert_int_equal(ff_cells_min_frames(0.7, 30), 63);
  assert_int_equal(ff_cells_min_frames(0.1, 10), 10);
  assert_int_equal(ff_cells_check(&r, 0.7, "x.h5"), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "50 frames, fewer than the deconvolution needs (63"));
  ff_error_clear();
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_single_pairs), cmocka_unit_test(test_all_to_all_sum),
                                     cmocka_unit_test(test_nearest),      cmocka_unit_test(test_clipped),
                                     cmocka_unit_test(test_auc),          cmocka_unit_test(test_roc_ranks),
                                     cmocka_unit_test(test_partial),
                                     cmocka_unit_test(test_counts),       cmocka_unit_test(test_drive),
                                     cmocka_unit_test(test_network_pass),
                                     cmocka_unit_test(test_logreg),
                                     cmocka_unit_test(test_bad_recordings)};
  const int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
