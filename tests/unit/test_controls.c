/* The controls of a forecast (controls.h) against independent computations: persistence and the
 * constant forecasts by their definitions; ridge VAR's coefficients against the normal equations
 * solved here by Gaussian elimination with partial pivoting; a planted VAR(1) recovered from long
 * data; free-running forecasts against the recursion written out; the ridge strength chosen on the
 * validation frames against the validation MSE of every candidate computed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/controls.h"

static double lcg(uint64_t *s) { /* uniform in [0, 1): the test's own generator */
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) / 9007199254740992.0;
}

static void test_persistence_and_constant(void **state) {
  (void)state;
  enum { T = 5, P = 2 };
  const double x[T * P] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  double y[T * P];
  ff_control_persistence(x, T, P, 2, FF_PROTOCOL_ONESTEP, y);
  assert_true(isnan(y[0]) && isnan(y[3]));
  for (int k = 2; k < T; ++k)
    for (int p = 0; p < P; ++p) assert_close(y[k * P + p], x[(k - 1) * P + p], 0);
  ff_control_persistence(x, T, P, 2, FF_PROTOCOL_FREE, y);
  for (int k = 2; k < T; ++k)
    for (int p = 0; p < P; ++p) assert_close(y[k * P + p], x[1 * P + p], 0);
  double mean[P], median[P];
  const double z[6 * P] = {1, 10, 9, 0, 2, 5, 100, 3, 4, 4, 3, 8};
  assert_int_equal(ff_control_levels(z, P, 0, 6, mean, median), 0);
  assert_close(mean[0], (1 + 9 + 2 + 100 + 4 + 3) / 6.0, 1e-15);
  assert_close(median[0], 3.5, 0); /* sorted 1 2 3 4 9 100 */
  assert_close(median[1], 4.5, 0); /* sorted 0 3 4 5 8 10 */
  ff_control_constant(median, T, P, 3, y);
  assert_true(isnan(y[2 * P]));
  assert_close(y[4 * P + 1], 4.5, 0);
}

/* Solves A b = r (n x n, m right-hand sides, row-major) by Gaussian elimination with pivoting. */
static void gauss_solve(double *A, double *r, int n, int m) {
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int i = c + 1; i < n; ++i)
      if (fabs(A[i * n + c]) > fabs(A[piv * n + c])) piv = i;
    for (int j = 0; j < n; ++j) {
      double t = A[c * n + j]; A[c * n + j] = A[piv * n + j]; A[piv * n + j] = t;
    }
    for (int j = 0; j < m; ++j) {
      double t = r[c * m + j]; r[c * m + j] = r[piv * m + j]; r[piv * m + j] = t;
    }
    for (int i = c + 1; i < n; ++i) {
      const double f = A[i * n + c] / A[c * n + c];
      for (int j = c; j < n; ++j) A[i * n + j] -= f * A[c * n + j];
      for (int j = 0; j < m; ++j) r[i * m + j] -= f * r[c * m + j];
    }
  }
  for (int i = n - 1; i >= 0; --i)
    for (int j = 0; j < m; ++j) {
      double s = r[i * m + j];
      for (int k = i + 1; k < n; ++k) s -= A[i * n + k] * r[k * m + j];
      r[i * m + j] = s / A[i * n + i];
    }
}

static void test_ridge_against_normal_equations(void **state) {
  (void)state;
  enum { T = 40, P = 3, ORDER = 2, D = ORDER * P + 1 };
  uint64_t s = 7;
  double x[T * P];
  for (int i = 0; i < T * P; ++i) x[i] = 10.0 * lcg(&s);
  const double lambda = 0.3;
  const int t0 = 5, t1 = 30;
  FfVar v;
  assert_int_equal(ff_var_fit(x, P, t0, t1, ORDER, lambda, &v), 0);
  /* the same problem written out: inputs centred on the mean of frames t0-ORDER .. t1-2 */
  double c[P] = {0};
  for (int k = t0 - ORDER; k < t1 - 1; ++k)
    for (int p = 0; p < P; ++p) c[p] += x[k * P + p] / (t1 - 1 - (t0 - ORDER));
  double G[D * D] = {0}, R[D * P] = {0};
  for (int k = t0; k < t1; ++k) {
    double row[D];
    for (int l = 0; l < ORDER; ++l)
      for (int p = 0; p < P; ++p) row[l * P + p] = x[(k - 1 - l) * P + p] - c[p];
    row[D - 1] = 1;
    for (int i = 0; i < D; ++i) {
      for (int j = 0; j < D; ++j) G[i * D + j] += row[i] * row[j];
      for (int p = 0; p < P; ++p) R[i * P + p] += row[i] * x[k * P + p];
    }
  }
  for (int i = 0; i < D - 1; ++i) G[i * D + i] += lambda * (t1 - t0);
  gauss_solve(G, R, D, P);
  for (int i = 0; i < D * P; ++i) assert_close(v.coef[i], R[i], 1e-10 * (1 + fabs(R[i])));
  /* one-step forecasts are the fitted map of recorded lags; free-running ones feed themselves */
  double y[T * P], yf[T * P];
  ff_var_forecast(&v, x, T, 30, FF_PROTOCOL_ONESTEP, y);
  ff_var_forecast(&v, x, T, 30, FF_PROTOCOL_FREE, yf);
  double own[T * P];
  memcpy(own, x, sizeof own);
  for (int k = 30; k < T; ++k)
    for (int p = 0; p < P; ++p) {
      double a = R[(D - 1) * P + p], b = R[(D - 1) * P + p];
      for (int l = 0; l < ORDER; ++l)
        for (int q = 0; q < P; ++q) {
          a += R[(l * P + q) * P + p] * (x[(k - 1 - l) * P + q] - c[q]);
          b += R[(l * P + q) * P + p] * (own[(k - 1 - l) * P + q] - c[q]);
        }
      assert_close(y[k * P + p], a > 0 ? a : 0, 1e-9);
      own[k * P + p] = b > 0 ? b : 0;
      assert_close(yf[k * P + p], own[k * P + p], 1e-9);
    }
  assert_true(isnan(y[29 * P]));
  ff_var_destroy(&v);
}

static void test_planted_var1_recovered(void **state) {
  (void)state;
  enum { T = 20000, P = 2 };
  const double A[P][P] = {{0.6, 0.2}, {-0.3, 0.5}}, b[P] = {20, 15};
  double *x = malloc(sizeof(double) * T * P);
  uint64_t s = 3;
  x[0] = 40, x[1] = 30;
  for (int k = 1; k < T; ++k)
    for (int p = 0; p < P; ++p) {
      const double g = sqrt(-2 * log(1 - lcg(&s))) * cos(6.283185307179586 * lcg(&s));
      x[k * P + p] = b[p] + A[p][0] * x[(k - 1) * P] + A[p][1] * x[(k - 1) * P + 1] + g;
    }
  FfVar v;
  assert_int_equal(ff_var_fit(x, P, 0, T, 1, 0.0, &v), 0);
  for (int p = 0; p < P; ++p)
    for (int q = 0; q < P; ++q) assert_close(v.coef[q * P + p], A[p][q], 0.02);
  ff_var_destroy(&v);
  free(x);
}

static void test_select_on_validation(void **state) {
  (void)state;
  enum { T = 120, P = 4 };
  uint64_t s = 11;
  double x[T * P];
  for (int p = 0; p < P; ++p) x[p] = 5;
  for (int k = 1; k < T; ++k)
    for (int p = 0; p < P; ++p) x[k * P + p] = 0.7 * x[(k - 1) * P + (p + 1) % P] + 3 * lcg(&s);
  const double grid[] = {1e-4, 1e-2, 1, 100};
  FfVar best;
  double mse;
  assert_int_equal(ff_var_select(x, P, 0, 80, 85, 110, 1, grid, 4, &best, &mse), 0);
  double want = INFINITY, want_lambda = -1;
  for (int g = 0; g < 4; ++g) {
    FfVar v;
    assert_int_equal(ff_var_fit(x, P, 0, 80, 1, grid[g], &v), 0);
    double y[T * P], se = 0;
    ff_var_forecast(&v, x, T, 85, FF_PROTOCOL_ONESTEP, y);
    for (int k = 85; k < 110; ++k)
      for (int p = 0; p < P; ++p) se += (y[k * P + p] - x[k * P + p]) * (y[k * P + p] - x[k * P + p]);
    if (se / (25 * P) < want) want = se / (25 * P), want_lambda = grid[g];
    ff_var_destroy(&v);
  }
  assert_close(best.lambda, want_lambda, 0);
  assert_close(mse, want, 1e-12 * want);
  ff_var_destroy(&best);
}

static void test_refusals(void **state) {
  (void)state;
  const double x[4] = {1, 2, 3, 4};
  FfVar v;
  assert_int_not_equal(ff_var_fit(x, 1, 0, 2, 1, 0.1, &v), 0); /* one target only */
  assert_int_not_equal(ff_var_fit(x, 1, 0, 4, 0, 0.1, &v), 0); /* order 0 */
  assert_int_not_equal(ff_var_fit(x, 1, 0, 4, 1, -1, &v), 0);  /* negative ridge */
  double m[1], md[1];
  assert_int_not_equal(ff_control_levels(x, 1, 2, 2, m, md), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_persistence_and_constant), cmocka_unit_test(test_ridge_against_normal_equations),
      cmocka_unit_test(test_planted_var1_recovered), cmocka_unit_test(test_select_on_validation),
      cmocka_unit_test(test_refusals)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
