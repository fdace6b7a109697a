/* Forecast scores on hand-made series with known answers: exact predictions score 1 and 0; a
 * linear transform keeps Pearson r = +1 or -1; a worked example of bin accuracy and MSE; NaN frames
 * left out; the FC correlation of a forecast whose neuropils pair up as the recording's is 1; the
 * naive forecasts by construction; a constant forecast has no Pearson r (NaN), even where its
 * rounded mean differs from its value. */
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
  assert_int_equal(ff_score(rec, rec, T, P, 0, T, &bins, &s, r, NULL, NULL), 0);
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
  assert_int_equal(ff_score(pred, rec, T, P, 0, T, &bins, &s, r, NULL, NULL), 0);
  assert_int_equal(s.frames, 5);
  assert_close(r[0], 1.0, 1e-12);
  assert_close(r[1], -1.0, 1e-12);
  assert_close(r[2], 1.0, 1e-12);
  /* frames 1..5: neuropil 0 errors 3,5,7,2,6 (classes: 3->6 same 0/1? 0:[0,5) 1:[5,10) ...) */
  double sq = 0, hit = 0;
  for (int t = 1; t < T; ++t)
    for (int p = 0; p < P; ++p) {
      const double d = pred[t * P + p] - rec[t * P + p];
      sq += d * d;
      hit += ff_bins_class(&bins, pred[t * P + p]) == ff_bins_class(&bins, rec[t * P + p]);
    }
  assert_close(s.mse, sq / 15.0, 1e-12);
  assert_close(s.bin_acc, hit / 15.0, 1e-12);
  assert_close(ff_bins_class(&bins, 4.999), 0, 0);
  assert_close(ff_bins_class(&bins, 15.0), 3, 0);
  assert_close(ff_bins_class(&bins, 250.0), 3, 0);
  ff_bins_destroy(&bins);
}

static void test_naive_forecasts(void **state) {
  (void)state;
  const double rec[4 * 2] = {1, 10, 2, 20, 3, 30, 4, 40};
  double out[4 * 2];
  ff_forecast_last_frame(rec, 4, 2, out);
  assert_true(isnan(out[0]) && isnan(out[1]));
  assert_close(out[2 * 2 + 1], 20, 0);
  ff_forecast_mean(rec, 4, 2, 3, out);
  assert_close(out[0], 2.0, 0);
  assert_close(out[3 * 2 + 1], 20.0, 0);
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
  assert_int_equal(ff_score(pred, rec, N, 2, 0, N, &bins, &s, r, NULL, NULL), 0);
  assert_true(isnan(r[0]));
  assert_true(r[1] > 0.9);
  assert_close(s.mean_pearson, r[1], 0); /* the NaN neuropil is left out of the mean */
  ff_bins_destroy(&bins);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_scores), cmocka_unit_test(test_naive_forecasts),
                                     cmocka_unit_test(test_constant_forecast)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
