/* Spike-train distances (include/flyfit/spike_dist.h) on cases worked by hand: identical trains give 0
 * (Γ = 1); the ISI profile of trains with constant intervals a and b is |a - b| / max(a, b); the SPIKE
 * profile of periods p and 2p sharing the edges is a tent of height 4/9 (average 2/9); a single spike
 * against a single spike, worked through the edge rules step by step; both distances are symmetric and
 * unchanged by a shift and a scale of time. van Rossum against the double sum
 * D^2 = ½ Σ_ij (e^{-|a_i-a_j|/τ} + e^{-|b_i-b_j|/τ} - 2 e^{-|a_i-b_j|/τ}) and its single-spike closed
 * forms, including nearly equal trains where the double sum loses its digits and sqrt(Σ (1 - e^{-ε_i/τ}))
 * does not. Γ by its formula on hand-counted coincidences, its one-to-one pairing, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <math.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/rng.h"
#include "flyfit/spike_dist.h"

static double isi(const double *a, int64_t na, const double *b, int64_t nb, double t0, double t1) {
  double d = NAN;
  assert_int_equal(ff_isi_distance(a, na, b, nb, t0, t1, &d), FF_OK);
  return d;
}
static double spk(const double *a, int64_t na, const double *b, int64_t nb, double t0, double t1) {
  double d = NAN;
  assert_int_equal(ff_spike_distance(a, na, b, nb, t0, t1, &d), FF_OK);
  return d;
}

/* a sorted random train: exponential intervals of mean m from t0, inside (t0, t1) */
static int64_t random_train(uint64_t seed, uint32_t which, double t0, double t1, double m, double *t, int64_t cap) {
  int64_t n = 0;
  double x = t0;
  for (uint32_t k = 0; n < cap; ++k) {
    uint32_t r[4];
    ff_rng4(seed, FF_STREAM_END + 1, which, k, 0, r);
    x += -m * log(ff_u01(r[0]));
    if (x >= t1) break;
    t[n++] = x;
  }
  return n;
}

static void test_identical(void **state) {
  (void)state;
  double t[64];
  const int64_t n = random_train(5, 0, 0, 1000, 20, t, 64);
  assert_true(n > 20);
  assert_close(isi(t, n, t, n, 0, 1000), 0.0, 0);
  assert_close(spk(t, n, t, n, 0, 1000), 0.0, 0);
  double d;
  assert_int_equal(ff_van_rossum(t, n, t, n, 10, &d), FF_OK);
  assert_close(d, 0.0, 0);
  int64_t c;
  assert_int_equal(ff_gamma_factor(t, n, t, n, 0, 1000, 2, &d, &c), FF_OK);
  assert_int_equal(c, n);
  assert_close(d, 1.0, 1e-15);
  /* a spike on each edge, and both empty */
  const double e[3] = {0, 3, 10};
  assert_close(isi(e, 3, e, 3, 0, 10), 0.0, 0);
  assert_close(spk(e, 3, e, 3, 0, 10), 0.0, 0);
  assert_close(isi(NULL, 0, NULL, 0, 0, 10), 0.0, 0);
  assert_close(spk(NULL, 0, NULL, 0, 0, 10), 0.0, 0);
  assert_int_equal(ff_gamma_factor(NULL, 0, NULL, 0, 0, 10, 1, &d, NULL), FF_OK);
  assert_close(d, 1.0, 0);
}

static void test_isi_hand(void **state) {
  (void)state;
  /* intervals 1 and 2 everywhere (the edges are spikes of both): |1 - 2| / 2 */
  const double a[5] = {0, 1, 2, 3, 4}, b[3] = {0, 2, 4};
  assert_close(isi(a, 5, b, 3, 0, 4), 0.5, 1e-15);
  /* intervals 2 and 3 (periods 2 and 3 on [0, 12]) */
  const double c[7] = {0, 2, 4, 6, 8, 10, 12}, d[5] = {0, 3, 6, 9, 12};
  assert_close(isi(c, 7, d, 5, 0, 12), 1.0 / 3.0, 1e-15);
  /* [0, 4], a = {1, 3}: nu_a = max(1, 2) = 2 before, 2 between, max(1, 2) = 2 after, so 2 throughout;
   * b = {1}: nu_b = 1 (to the edge) before its spike, 3 (to the end) after:
   * [0,1): |2-1|/2 = 1/2, [1,4): |2-3|/3 = 1/3; average (1/2 + 3 x 1/3) / 4 = 3/8 */
  const double e[2] = {1, 3}, f[1] = {1};
  assert_close(isi(e, 2, f, 1, 0, 4), 0.375, 1e-15);
  assert_close(isi(f, 1, e, 2, 0, 4), 0.375, 1e-15);
  /* an empty train is the two edges: interval 4; against intervals 2: 1/2 */
  const double g[3] = {0, 2, 4};
  assert_close(isi(NULL, 0, g, 3, 0, 4), 0.5, 1e-15);
}

static void test_spike_hand(void **state) {
  (void)state;
  /* periods 1 and 2 sharing the edges: between two common spikes t2's distances are 0 and t1's middle
   * spike is 1 away, so S(t) = 2 s1 / (0.5 x 9) rises as 4t/9 to 4/9 and falls back: average 2/9 */
  const double a[5] = {0, 1, 2, 3, 4}, b[3] = {0, 2, 4};
  assert_close(spk(a, 5, b, 3, 0, 4), 2.0 / 9.0, 1e-15);
  /* the same in other units (periods p, 2p; any p) */
  const double p = 0.37, c[5] = {0, p, 2 * p, 3 * p, 4 * p}, d[3] = {0, 2 * p, 4 * p};
  assert_close(spk(c, 5, d, 3, 0, 4 * p), 2.0 / 9.0, 1e-15);
  /* one spike at 1 against one at 2 on [0, 4], by the edge rules (auxiliary spikes at the edges):
   *   [0,1]: isi1 = 1, isi2 = 2, s1 = s2 = 1 (each spike 1 from the other): S = 3 / 4.5 = 2/3 throughout;
   *   [1,2]: isi1 = 3 (to the end), isi2 = 2, s1 = s2 = 1: S = 5 / 12.5 = 2/5;
   *   [2,4]: isi1 = 3, isi2 = 2, s1 = s2 = 1: S = 2/5.
   * average (2/3 + 2/5 + 4/5) / 4 = 7/15 */
  const double e[1] = {1}, f[1] = {2};
  assert_close(spk(e, 1, f, 1, 0, 4), 7.0 / 15.0, 1e-15);
  assert_close(spk(f, 1, e, 1, 0, 4), 7.0 / 15.0, 1e-15);
}

/* symmetric; the same after t -> 3.5 t - 40 (trains and interval); in [0, 1] */
static void test_invariance(void **state) {
  (void)state;
  double a[80], b[80], as[80], bs[80];
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const int64_t na = random_train(seed, 1, 0, 500, 10 + (double)seed, a, 80);
    const int64_t nb = random_train(seed, 2, 0, 500, 25, b, 80);
    for (int64_t i = 0; i < na; ++i) as[i] = 3.5 * a[i] - 40;
    for (int64_t i = 0; i < nb; ++i) bs[i] = 3.5 * b[i] - 40;
    const double di = isi(a, na, b, nb, 0, 500), ds = spk(a, na, b, nb, 0, 500);
    assert_true(di > 0 && di < 1 && ds > 0 && ds < 1);
    assert_close(isi(b, nb, a, na, 0, 500), di, 1e-14);
    assert_close(spk(b, nb, a, na, 0, 500), ds, 1e-14);
    assert_close(isi(as, na, bs, nb, -40, 1710), di, 1e-12);
    assert_close(spk(as, na, bs, nb, -40, 1710), ds, 1e-12);
  }
}

/* the slow obvious van Rossum: the double sum of the kernels' overlaps */
static double van_rossum_sum(const double *a, int64_t na, const double *b, int64_t nb, double tau) {
  double s = 0;
  for (int64_t i = 0; i < na; ++i)
    for (int64_t j = 0; j < na; ++j) s += exp(-fabs(a[i] - a[j]) / tau);
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t j = 0; j < nb; ++j) s += exp(-fabs(b[i] - b[j]) / tau);
  for (int64_t i = 0; i < na; ++i)
    for (int64_t j = 0; j < nb; ++j) s -= 2 * exp(-fabs(a[i] - b[j]) / tau);
  return sqrt(0.5 * s);
}

static void test_van_rossum(void **state) {
  (void)state;
  double d;
  /* two single spikes d apart: sqrt(1 - e^{-d/tau}); one spike against none: sqrt(1/2) */
  const double x[1] = {3.0}, y[1] = {7.5};
  assert_int_equal(ff_van_rossum(x, 1, y, 1, 2.0, &d), FF_OK);
  assert_close(d, sqrt(1 - exp(-4.5 / 2.0)), 1e-15);
  assert_int_equal(ff_van_rossum(y, 1, x, 1, 2.0, &d), FF_OK);
  assert_close(d, sqrt(1 - exp(-4.5 / 2.0)), 1e-15);
  assert_int_equal(ff_van_rossum(x, 1, NULL, 0, 2.0, &d), FF_OK);
  assert_close(d, sqrt(0.5), 1e-15);
  /* n spikes against none, each 1000 tau apart: sqrt(n / 2); two spikes at once count twice: sqrt(4/2) */
  const double far[3] = {0, 1e4, 2e4}, twice[2] = {5, 5};
  assert_int_equal(ff_van_rossum(far, 3, NULL, 0, 10, &d), FF_OK);
  assert_close(d, sqrt(1.5), 1e-15);
  assert_int_equal(ff_van_rossum(twice, 2, NULL, 0, 10, &d), FF_OK);
  assert_close(d, sqrt(2.0), 1e-15);
  /* random trains against the double sum */
  double a[60], b[60];
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const int64_t na = random_train(seed, 3, 0, 400, 12, a, 60), nb = random_train(seed, 4, 0, 400, 15, b, 60);
    for (double tau = 0.5; tau < 100; tau *= 4) {
      assert_int_equal(ff_van_rossum(a, na, b, nb, tau, &d), FF_OK);
      assert_close(d, van_rossum_sum(a, na, b, nb, tau), 1e-11 * d);
    }
  }
  /* nearly equal trains: n spikes far apart, each shifted by eps_i: D^2 = Σ (1 - e^{-eps_i/tau}) to full precision */
  double c[20], e[20];
  for (int i = 0; i < 20; ++i) {
    c[i] = 1000.0 * i;
    e[i] = c[i] + 1e-9;
  }
  double want = 0; /* e[i] - c[i] is exact (Sterbenz), and not quite 1e-9 after rounding at 19,000 */
  for (int i = 0; i < 20; ++i) want += -expm1(-(e[i] - c[i]) / 5.0);
  assert_int_equal(ff_van_rossum(c, 20, e, 20, 5.0, &d), FF_OK);
  assert_close(d, sqrt(want), 1e-13 * d);
}

static void test_gamma(void **state) {
  (void)state;
  double g;
  int64_t c;
  /* data {10, 20, 30, 40}, model {11, 25, 39.5}, delta 2 on [0, 100]: coincidences at 10 and 40;
   * nu = 0.03, 2 nu delta = 0.12, expected 0.48: Γ = (2 - 0.48) / (0.5 x 7 x 0.88) */
  const double data[4] = {10, 20, 30, 40}, model[3] = {11, 25, 39.5};
  assert_int_equal(ff_gamma_factor(data, 4, model, 3, 0, 100, 2, &g, &c), FF_OK);
  assert_int_equal(c, 2);
  assert_close(g, 1.52 / 3.08, 1e-15);
  /* the window is closed: |39.5 - 40| = 0.5 <= 0.5 */
  assert_int_equal(ff_gamma_factor(data, 4, model, 3, 0, 100, 0.5, &g, &c), FF_OK);
  assert_int_equal(c, 1);
  /* one-to-one: two data spikes within delta of one model spike make one coincidence, and the greedy
   * pairing finds the best one: data {5, 6}, model {4.2, 5.5} with delta 1 pair as 5-4.2, 6-5.5 */
  const double d2[2] = {10, 11}, m1[1] = {10.5}, d3[2] = {5, 6}, m2[2] = {4.2, 5.5};
  assert_int_equal(ff_gamma_factor(d2, 2, m1, 1, 0, 100, 1, &g, &c), FF_OK);
  assert_int_equal(c, 1);
  assert_close(g, (1 - 2 * 0.01 * 1 * 2) / (0.5 * 3 * (1 - 2 * 0.01 * 1)), 1e-15);
  assert_int_equal(ff_gamma_factor(d3, 2, m2, 2, 0, 100, 1, &g, &c), FF_OK);
  assert_int_equal(c, 2);
  /* a silent model: Γ = 0; the model a Poisson train of its own rate: Γ near 0 */
  assert_int_equal(ff_gamma_factor(data, 4, NULL, 0, 0, 100, 2, &g, &c), FF_OK);
  assert_close(g, 0.0, 0);
  double a[2000], b[2000];
  const int64_t na = random_train(9, 5, 0, 1e5, 50, a, 2000), nb = random_train(9, 6, 0, 1e5, 50, b, 2000);
  assert_int_equal(ff_gamma_factor(a, na, b, nb, 0, 1e5, 2, &g, &c), FF_OK);
  assert_true(fabs(g) < 0.1);
  /* a window too wide for the rate */
  assert_int_equal(ff_gamma_factor(data, 4, model, 3, 0, 100, 20, &g, &c), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "too wide"));
}

static void test_bad_input(void **state) {
  (void)state;
  double d;
  const double unsorted[3] = {1, 3, 2}, outside[2] = {1, 11}, nan[2] = {1, NAN}, ok[2] = {1, 2};
  assert_int_equal(ff_isi_distance(unsorted, 3, ok, 2, 0, 10, &d), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "train 1: spike 2"));
  assert_int_equal(ff_spike_distance(ok, 2, outside, 2, 0, 10, &d), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "train 2: spike 1 at 11 is outside"));
  assert_int_equal(ff_spike_distance(ok, 2, nan, 2, 0, 10, &d), FF_ERR_INPUT);
  assert_int_equal(ff_isi_distance(ok, 2, ok, 2, 5, 5, &d), FF_ERR_INPUT);
  assert_int_equal(ff_van_rossum(unsorted, 3, ok, 2, 1, &d), FF_ERR_INPUT);
  assert_int_equal(ff_van_rossum(ok, 2, nan, 2, 1, &d), FF_ERR_INPUT);
  assert_int_equal(ff_van_rossum(ok, 2, ok, 2, 0, &d), FF_ERR_INPUT);
  assert_int_equal(ff_gamma_factor(ok, 2, ok, 2, 0, 10, 0, &d, NULL), FF_ERR_INPUT);
  assert_int_equal(ff_gamma_factor(ok, 2, outside, 2, 0, 10, 1, &d, NULL), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "model train"));
  ff_error_clear();
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_identical), cmocka_unit_test(test_isi_hand),
                                     cmocka_unit_test(test_spike_hand), cmocka_unit_test(test_invariance),
                                     cmocka_unit_test(test_van_rossum), cmocka_unit_test(test_gamma),
                                     cmocka_unit_test(test_bad_input)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
