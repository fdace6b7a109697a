/* Forecast scores on hand-made series with known answers: exact predictions score 1 and 0; a
 * linear transform keeps Pearson r = +1 or -1; a worked example of bin accuracy (coarse and fine
 * classes) and MSE; NaN frames left out; the FC correlation of a forecast whose neuropils pair up as
 * the recording's is 1; a constant forecast scores r = 0 and stays in the mean, even where its
 * rounded mean differs from its value; a neuropil whose recording is constant is out of the set for
 * every forecast alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <math.h>
#include <string.h>

#include "flyfit/metrics.h"

enum { T = 6, P = 3 };

static void test_scores(void **state) {
  (void)state;
  FfBins bins;
  assert_int_equal(ff_bins_make(5.0, 20.0, 100.0, &bins), 0); /* edges 0 5 10 15 100 */
  assert_int_equal(bins.n, 4);
  const double rec[T * P] = {1, 2, 30, 3, 9, 31, 5, 4, 40, 7, 1, 35, 2, 8, 33, 6, 6, 39};
  FfScore s;
  double r[P];
  assert_int_equal(ff_score(rec, rec, T, P, 0, T, &bins, NULL, &s, r, NULL, NULL), 0);
  assert_close(s.bin_acc, 1.0, 0);
  assert_close(s.mse, 0.0, 0);
  for (int p = 0; p < P; ++p) assert_close(r[p], 1.0, 1e-12);
  assert_close(s.fc_corr, 1.0, 1e-12);
  /* neuropil 0 doubled, 1 negated plus 50, 2 shifted by one: MSE and classes by hand on frames 2..4 */
  double pred[T * P];
  for (int t = 0; t < T; ++t) {
    pred[t * P + 0] = 2 * rec[t * P + 0];
    pred[t * P + 1] = 50 - rec[t * P + 1];
    pred[t * P + 2] = rec[t * P + 2] + 1;
  }
  pred[0] = NAN; /* frame 0 has no prediction */
  FfBins fine;
  assert_int_equal(ff_bins_make(0.25, 100.0, 100.0, &fine), 0);
  assert_int_equal(ff_score(pred, rec, T, P, 0, T, &bins, &fine, &s, r, NULL, NULL), 0);
  assert_int_equal(s.frames, 5);
  assert_int_equal(s.neuropils, P);
  assert_close(r[0], 1.0, 1e-12);
  assert_close(r[1], -1.0, 1e-12);
  assert_close(r[2], 1.0, 1e-12);
  /* frames 1..5: neuropil 0 errors 3,5,7,2,6 (classes: 3->6 same 0/1? 0:[0,5) 1:[5,10) ...) */
  double sq = 0, hit = 0, hit_fine = 0;
  for (int t = 1; t < T; ++t)
    for (int p = 0; p < P; ++p) {
      const double d = pred[t * P + p] - rec[t * P + p];
      sq += d * d;
      hit += ff_bins_class(&bins, pred[t * P + p]) == ff_bins_class(&bins, rec[t * P + p]);
      /* 0.25 Hz classes below 100 Hz: equal classes iff floor(4 x rate) agrees */
      hit_fine += floor(4 * pred[t * P + p]) == floor(4 * rec[t * P + p]);
    }
  assert_close(s.mse, sq / 15.0, 1e-12);
  assert_close(s.bin_acc, hit / 15.0, 1e-12);
  assert_close(s.bin_acc_fine, hit_fine / 15.0, 1e-12);
  assert_true(s.bin_acc_fine < s.bin_acc); /* the worked example separates the two */
  ff_bins_destroy(&fine);
  assert_close(ff_bins_class(&bins, 4.999), 0, 0);
  assert_close(ff_bins_class(&bins, 15.0), 3, 0);
  assert_close(ff_bins_class(&bins, 250.0), 3, 0);
  ff_bins_destroy(&bins);
}

static void test_constant_forecast(void **state) {
  (void)state;
  FfBins bins;
  assert_int_equal(ff_bins_make(5.0, 20.0, 100.0, &bins), 0);
  enum { N = 7 };
  double rec[N * 2], pred[N * 2], r[2];
  for (int t = 0; t < N; ++t) {
    rec[t * 2] = t;
    rec[t * 2 + 1] = t * t;
    pred[t * 2] = 0.1; /* (7 x 0.1) / 7 != 0.1 in double: a two-pass variance would not be 0 */
    pred[t * 2 + 1] = t;
  }
  double m = 0;
  for (int t = 0; t < N; ++t) m += pred[t * 2];
  assert_true(m / N != 0.1); /* the case this test is about */
  FfScore s;
  assert_int_equal(ff_score(pred, rec, N, 2, 0, N, &bins, NULL, &s, r, NULL, NULL), 0);
  assert_close(r[0], 0.0, 0); /* constant forecast of a varying recording: no correlation, r = 0 */
  assert_true(r[1] > 0.9);
  assert_int_equal(s.neuropils, 2);
  assert_close(s.mean_pearson, (0.0 + r[1]) / 2, 0); /* and it stays in the mean */
  ff_bins_destroy(&bins);
}

/* The Pearson set is the recording's: neuropil 1's recording is constant, so it is out for a good
 * forecast and for a constant one alike, and the two means are over the same neuropils. */
static void test_same_set(void **state) {
  (void)state;
  FfBins bins;
  assert_int_equal(ff_bins_make(5.0, 20.0, 100.0, &bins), 0);
  enum { N = 6 };
  double rec[N * 3], good[N * 3], flat[N * 3], r[3];
  for (int t = 0; t < N; ++t) {
    rec[t * 3] = t;
    rec[t * 3 + 1] = 4.0;
    rec[t * 3 + 2] = (t % 3) * 2.0;
    good[t * 3] = t + 1;
    good[t * 3 + 1] = t; /* varies where the recording does not: still out of the set */
    good[t * 3 + 2] = (t % 3) * 2.0 + 0.5;
    flat[t * 3] = flat[t * 3 + 1] = flat[t * 3 + 2] = 3.0;
  }
  FfScore a, b;
  assert_int_equal(ff_score(good, rec, N, 3, 0, N, &bins, NULL, &a, r, NULL, NULL), 0);
  assert_true(isnan(r[1]));
  assert_close(r[0], 1.0, 1e-12);
  assert_close(r[2], 1.0, 1e-12);
  assert_int_equal(ff_score(flat, rec, N, 3, 0, N, &bins, NULL, &b, r, NULL, NULL), 0);
  assert_int_equal(a.neuropils, 2);
  assert_int_equal(b.neuropils, 2);
  assert_close(a.mean_pearson, 1.0, 1e-12);
  assert_close(b.mean_pearson, 0.0, 0);
  assert_true(isnan(r[1]) && r[0] == 0.0 && r[2] == 0.0);
  ff_bins_destroy(&bins);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_scores), cmocka_unit_test(test_constant_forecast),
                                     cmocka_unit_test(test_same_set)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
