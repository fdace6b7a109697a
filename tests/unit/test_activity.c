/* The preprocessing steps of include/flyfit/activity.h, each against something independent:
 * hand-computed dF/F, the filter's defining properties (zero DC gain, unit Nyquist gain, -3 dB at
 * the cutoff), its exact step response and scipy's output; trim and scaling by hand; OASIS against
 * the optimality (KKT) conditions, a slow projected-gradient solver, noiseless traces recovered
 * exactly, and known spikes recovered from noisy traces. Region-to-neuropil matching against the
 * lists and file:line messages written out here; activity.h5 written, read back, and the chain
 * rerun from its /traces giving its /rates bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/activity.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "testutil.h"

static void expect_msg(int status, const char *frag) {
  assert_int_equal(status, FF_ERR_INPUT);
  if (!strstr(ff_error_message(), frag)) fail_msg("message \"%s\" lacks \"%s\"", ff_error_message(), frag);
}

/* ---- dF/F ---------------------------------------------------------------------------------------- */

static void test_dff_by_hand(void **state) {
  (void)state;
  /* means 4 and 2; every value below is exact in binary */
  double x[8] = {2, 4, 6, 4, 1, 1, 1, 5};
  const double want[8] = {-0.5, 0, 0.5, 0, -0.5, -0.5, -0.5, 1.5};
  assert_int_equal(ff_activity_dff(x, 2, 4, NULL), FF_OK);
  for (int k = 0; k < 8; ++k) assert_true(x[k] == want[k]);
}

static void test_dff_errors(void **state) {
  (void)state;
  const char *names[3] = {"AL_L", "AL_R", "LH_L"};
  const int64_t rows[3] = {11, 12, 13};
  const FfTraceLabels lab = {"fly.npz", names, rows};
  double x[12] = {1, 2, 3, 4, 1, 2, NAN, 4, 5, 5, 5, 5};
  expect_msg(ff_activity_dff(x, 3, 4, &lab), "'fly.npz': region 'AL_R' (row 12) holds NaN at frame 2");
  double y[12] = {1, 2, 3, 4, 1, 2, 3, 4, 5, 5, 5, 5};
  expect_msg(ff_activity_dff(y, 3, 4, &lab), "'fly.npz': region 'LH_L' (row 13) is constant");
  double z[8] = {1, 2, 3, 4, 1, INFINITY, 3, 4};
  expect_msg(ff_activity_dff(z, 2, 4, NULL), "region 1 holds Inf at frame 1");
  double m[4] = {-1, 1, -2, 2};
  expect_msg(ff_activity_dff(m, 1, 4, &lab), "region 'AL_L' (row 11) has mean 0");
}

/* ---- high-pass ----------------------------------------------------------------------------------- */

static void test_highpass_coefficients(void **state) {
  (void)state;
  const double cases[][2] = {{0.01, 1.2}, {0.1, 1.0}, {5.0, 30.0}, {0.4, 1.0}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    const double fc = cases[k][0], fs = cases[k][1];
    double b[2], a[2];
    ff_highpass_coeffs(fc, fs, b, a);
    assert_true(a[0] == 1.0);
    /* H(z) = (b0 + b1 z^-1) / (1 + a1 z^-1): no DC, gain 1 at Nyquist, and pre-warping puts
     * |H|^2 = 1/2 exactly at the cutoff: |H(e^jw)|^2 = (b0^2 + b1^2 + 2 b0 b1 cos w) / (1 + a1^2 + 2 a1 cos w). */
    assert_close(b[0] + b[1], 0.0, 1e-15);
    assert_close((b[0] - b[1]) / (1 - a[1]), 1.0, 1e-14);
    const double w = 2 * 3.14159265358979323846 * fc / fs, cw = cos(w);
    const double h2 = (b[0] * b[0] + b[1] * b[1] + 2 * b[0] * b[1] * cw) / (1 + a[1] * a[1] + 2 * a[1] * cw);
    assert_close(h2, 0.5, 1e-12);
    assert_true(fabs(a[1]) < 1); /* one stable real pole (negative for cutoffs above fs/4) */
  }
  /* scipy 1.10: butter(1, 0.01, 'highpass', fs=1.2) and butter(1, 0.1, 'highpass', fs=1.0) */
  double b[2], a[2];
  ff_highpass_coeffs(0.01, 1.2, b, a);
  assert_close(b[0], 0.9744822833574399, 2e-16);
  assert_close(a[1], -0.9489645667148798, 2e-16);
  ff_highpass_coeffs(0.1, 1.0, b, a);
  assert_close(b[0], 0.7547627247472144, 2e-16);
  assert_close(a[1], -0.5095254494944288, 2e-16);
}

static void test_highpass_output(void **state) {
  (void)state;
  /* A unit step from zero state: y_0 = b0 and y_n = p y_{n-1} afterwards (the input no longer
   * changes), so y_n = b0 p^n with the pole p = (1 - K)/(1 + K), K = tan(pi fc/fs). */
  enum { N = 200 };
  const double fc = 0.01, fs = 1.2, K = tan(3.14159265358979323846 * fc / fs);
  const double b0 = 1 / (1 + K), p = (1 - K) / (1 + K);
  double x[2 * N];
  for (int t = 0; t < N; ++t) x[t] = 1.0, x[N + t] = t == 0 ? 1.0 : 0.0; /* step; impulse */
  ff_activity_highpass(x, 2, N, fc, fs);
  for (int t = 0; t < N; ++t) {
    assert_close(x[t], b0 * pow(p, t), 1e-14);
    /* impulse response: b0 at 0, then b0 (p^n - p^(n-1)) */
    assert_close(x[N + t], t == 0 ? b0 : b0 * (pow(p, t) - pow(p, t - 1)), 1e-14);
  }
  /* scipy 1.10: sosfilt(butter(1, fc, 'hp', fs=fs, output='sos'), [1, 2, 0, -1, 3, 0.5]) */
  const double seq[6] = {1, 2, 0, -1, 3, 0.5};
  const double scipy_a[6] = {0.9744822833574399, 1.8992314411550595, -0.14666122506789225,
                             -1.1136585892578656, 2.8411065928063652, 0.25990377843968077};
  const double scipy_b[6] = {0.7547627247472144, 1.1393335413356787, -0.9290060147212877,
                             -1.2281149319811064, 2.3932950862403644, -0.6674620572786064};
  double y[12];
  memcpy(y, seq, sizeof seq);
  memcpy(y + 6, seq, sizeof seq);
  ff_activity_highpass(y, 1, 6, 0.01, 1.2);
  ff_activity_highpass(y + 6, 1, 6, 0.1, 1.0);
  for (int t = 0; t < 6; ++t) {
    assert_close(y[t], scipy_a[t], 1e-15);
    assert_close(y[6 + t], scipy_b[t], 1e-15);
  }
  /* cutoff 0: no filter */
  memcpy(y, seq, sizeof seq);
  ff_activity_highpass(y, 1, 6, 0.0, 1.2);
  assert_memory_equal(y, seq, sizeof seq);
}

/* ---- trim and scaling ---------------------------------------------------------------------------- */

static void test_trim(void **state) {
  (void)state;
  double x[10] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
  int64_t T = 5;
  assert_int_equal(ff_activity_trim(x, 2, &T, 2, NULL), FF_OK);
  assert_int_equal(T, 3);
  const double want[6] = {2, 3, 4, 12, 13, 14};
  assert_memory_equal(x, want, sizeof want);
  assert_int_equal(ff_activity_trim(x, 2, &T, 0, NULL), FF_OK);
  assert_int_equal(T, 3);
  const FfTraceLabels lab = {"fly.npz", NULL, NULL};
  expect_msg(ff_activity_trim(x, 2, &T, 3, &lab), "'fly.npz' has 3 frames; dropping the first 3 (trim_frames) leaves none");
  assert_int_equal(T, 3);
}

static void test_scale(void **state) {
  (void)state;
  double s[6] = {0, 1, 2, 4, 0, 3};
  const double want[6] = {0, 25, 50, 100, 0, 75};
  assert_int_equal(ff_activity_scale(s, 2, 3, 100.0, NULL), FF_OK);
  assert_memory_equal(s, want, sizeof want);
  double z[4] = {0, 0, 0, 0};
  const FfTraceLabels lab = {"fly.npz", NULL, NULL};
  expect_msg(ff_activity_scale(z, 2, 2, 100.0, &lab), "'fly.npz': the deconvolved activity is 0 in every region");
}

static void test_parameters(void **state) {
  (void)state;
  FfPreprocess p;
  ff_preprocess_defaults(&p);
  assert_true(p.fs_hz == 1.2 && p.highpass_hz == 0.01 && p.trim_frames == 100 && p.calcium_tau_s == 0.8 &&
              p.deconv_lambda == 0 && p.max_rate_hz == 100);
  assert_int_equal(ff_preprocess_check(&p), FF_OK);
  assert_close(ff_preprocess_gamma(&p), exp(-1 / 0.96), 1e-16);
  p.highpass_hz = 0.6;
  expect_msg(ff_preprocess_check(&p), "highpass_hz = 0.6: the cutoff must be at least 0");
  ff_preprocess_defaults(&p);
  p.trim_frames = -1;
  expect_msg(ff_preprocess_check(&p), "trim_frames = -1");
  ff_preprocess_defaults(&p);
  p.deconv_lambda = NAN;
  expect_msg(ff_preprocess_check(&p), "deconv_lambda = nan");
  ff_preprocess_defaults(&p);
  p.max_rate_hz = 0;
  expect_msg(ff_preprocess_check(&p), "max_rate_hz = 0");
}

/* ---- OASIS --------------------------------------------------------------------------------------- */

/* Deterministic standard normal numbers (xorshift64* and Box-Muller), independent of libc. */
static uint64_t rng_state;
static double uniform(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return ((rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
static double normal(void) {
  const double u = uniform(), v = uniform();
  return sqrt(-2 * log(1 - u)) * cos(2 * 3.14159265358979323846 * v);
}

/* Calcium c = K s with K[t][j] = gamma^(t-j) (t >= j). */
static void convolve(const double *s, int64_t T, double gamma, double *c) {
  for (int64_t t = 0; t < T; ++t) c[t] = (t ? gamma * c[t - 1] : 0.0) + s[t];
}

/* The gradient of 1/2 ||y - K s||^2 + lambda sum s in s: g = K^T (K s - y) + lambda, by brute force. */
static void gradient(const double *y, const double *s, int64_t T, double gamma, double lambda, double *g) {
  double *c = malloc((size_t)T * sizeof *c);
  convolve(s, T, gamma, c);
  for (int64_t j = 0; j < T; ++j) {
    double sum = 0, gk = 1;
    for (int64_t t = j; t < T; ++t, gk *= gamma) sum += gk * (c[t] - y[t]);
    g[j] = sum + lambda;
  }
  free(c);
}

static double objective(const double *y, const double *s, int64_t T, double gamma, double lambda) {
  double *c = malloc((size_t)T * sizeof *c), f = 0;
  convolve(s, T, gamma, c);
  for (int64_t t = 0; t < T; ++t) f += 0.5 * (y[t] - c[t]) * (y[t] - c[t]) + lambda * s[t];
  free(c);
  return f;
}

static void test_oasis_kkt_and_slow_solver(void **state) {
  (void)state;
  enum { T = 80 };
  rng_state = 12345;
  const double gammas[3] = {0.35, 0.7, 0.95}, lambdas[3] = {0.0, 0.2, 1.0};
  for (int gi = 0; gi < 3; ++gi)
    for (int li = 0; li < 3; ++li) {
      const double g = gammas[gi], lam = lambdas[li];
      double y[T], s[T], c[T], grad[T], c2[T];
      for (int t = 0; t < T; ++t) y[t] = normal() + (t % 17 == 3 ? 3.0 : 0.0);
      assert_int_equal(ff_oasis_ar1(y, T, g, lam, s, c), FF_OK);
      convolve(s, T, g, c2);
      for (int t = 0; t < T; ++t) {
        assert_true(s[t] >= 0);
        assert_close(c[t], c2[t], 1e-12); /* c and s describe the same calcium */
      }
      /* KKT: the gradient vanishes where s > 0 and is >= 0 where s = 0; together with s >= 0
       * this certifies the global minimum of the convex problem. */
      gradient(y, s, T, g, lam, grad);
      for (int t = 0; t < T; ++t) {
        if (s[t] > 0) assert_close(grad[t], 0.0, 1e-9);
        else if (grad[t] < -1e-9) fail_msg("gamma %g lambda %g: s[%d] = 0 but the gradient is %g < 0", g, lam, t, grad[t]);
      }
      /* A slow, obvious solver: accelerated projected gradient (FISTA) on s. */
      double u[T] = {0}, v[T] = {0}, prev[T] = {0}, tk = 1;
      const double step = (1 - g) * (1 - g); /* 1 / L with L = ||K||^2 <= 1/(1-g)^2 */
      for (int it = 0; it < 20000; ++it) {
        gradient(y, v, T, g, lam, grad);
        memcpy(prev, u, sizeof u);
        for (int t = 0; t < T; ++t) u[t] = fmax(0.0, v[t] - step * grad[t]);
        const double tn = (1 + sqrt(1 + 4 * tk * tk)) / 2;
        for (int t = 0; t < T; ++t) v[t] = u[t] + (tk - 1) / tn * (u[t] - prev[t]);
        tk = tn;
      }
      const double f_oasis = objective(y, s, T, g, lam), f_slow = objective(y, u, T, g, lam);
      if (!(f_oasis <= f_slow + 1e-10))
        fail_msg("gamma %g lambda %g: OASIS objective %.15g above the slow solver's %.15g", g, lam, f_oasis, f_slow);
      for (int t = 0; t < T; ++t) assert_close(s[t], u[t], 1e-6);
    }
}

static void test_oasis_noiseless_exact(void **state) {
  (void)state;
  enum { T = 500 };
  const double gammas[2] = {exp(-1 / 0.96), 0.97};
  for (int gi = 0; gi < 2; ++gi) {
    double s_true[T] = {0}, y[T], s[T], c[T];
    rng_state = 99 + (uint64_t)gi;
    for (int t = 0; t < T; ++t)
      if (uniform() < 0.05) s_true[t] = 0.2 + 2 * uniform();
    s_true[0] = 0.7; /* calcium already present in the first frame */
    convolve(s_true, T, gammas[gi], y);
    assert_int_equal(ff_oasis_ar1(y, T, gammas[gi], 0.0, s, c), FF_OK);
    for (int t = 0; t < T; ++t) {
      assert_close(s[t], s_true[t], 1e-12);
      assert_close(c[t], y[t], 1e-12);
    }
  }
}

static void test_oasis_noisy_spikes(void **state) {
  (void)state;
  /* Sparse spikes (at least 4 frames apart) of amplitude 0.5-2, gamma 0.9, noise sd 0.05: every
   * spike is over 3 sd. Detected spikes are values above 3 sd; each true spike must have one
   * within 1 frame whose amplitude (summed over the 3 frames) is within 20%. */
  enum { T = 4000 };
  const double g = 0.9, sd = 0.05, lam = 2 * sd;
  static double s_true[T], y[T], s[T];
  rng_state = 2024;
  int n_true = 0;
  for (int t = 0, last = -10; t < T; ++t) {
    s_true[t] = 0;
    if (t - last >= 4 && uniform() < 0.03) {
      s_true[t] = 0.5 + 1.5 * uniform();
      last = t;
      ++n_true;
    }
  }
  convolve(s_true, T, g, y);
  for (int t = 0; t < T; ++t) y[t] += sd * normal();
  assert_int_equal(ff_oasis_ar1(y, T, g, lam, s, NULL), FF_OK);
  int found = 0, false_pos = 0, detected = 0;
  for (int t = 0; t < T; ++t) {
    if (s_true[t] > 0) {
      double near = 0, top = 0;
      for (int k = t - 1; k <= t + 1; ++k)
        if (k >= 0 && k < T) near += s[k], top = fmax(top, s[k]);
      if (top > 3 * sd && fabs(near - s_true[t]) <= 0.2 * s_true[t]) ++found;
      else print_message("# spike at %d of %.3f: recovered %.3f\n", t, s_true[t], near);
    }
    if (s[t] > 3 * sd) {
      ++detected;
      int real = 0;
      for (int k = t - 1; k <= t + 1; ++k) real |= k >= 0 && k < T && s_true[k] > 0;
      false_pos += !real;
    }
  }
  print_message("# %d true spikes, %d found, %d detected, %d false positives\n", n_true, found, detected, false_pos);
  assert_true(n_true > 80);
  assert_int_equal(found, n_true);
  assert_true(false_pos <= n_true / 50);
}

/* ---- the whole chain ----------------------------------------------------------------------------- */

static void test_chain(void **state) {
  (void)state;
  enum { P = 3, T = 150 };
  static double raw[P * T], x[P * T], r[P * T];
  rng_state = 7;
  for (int k = 0; k < P * T; ++k) raw[k] = 100 + 10 * (k / T) + 5 * uniform();
  FfPreprocess p;
  ff_preprocess_defaults(&p);
  p.deconv_lambda = 0.01;
  double *dff, *rates;
  int64_t n;
  assert_int_equal(ff_activity_preprocess(raw, P, T, &p, NULL, &dff, &rates, &n), FF_OK);
  assert_int_equal(n, T - 100);
  /* the steps one by one */
  memcpy(x, raw, sizeof raw);
  int64_t m = T;
  assert_int_equal(ff_activity_dff(x, P, T, NULL), FF_OK);
  ff_activity_highpass(x, P, T, p.highpass_hz, p.fs_hz);
  assert_int_equal(ff_activity_trim(x, P, &m, p.trim_frames, NULL), FF_OK);
  assert_memory_equal(dff, x, sizeof(double) * P * 50);
  assert_int_equal(ff_activity_deconvolve(x, P, m, ff_preprocess_gamma(&p), p.deconv_lambda, r), FF_OK);
  assert_int_equal(ff_activity_scale(r, P, m, p.max_rate_hz, NULL), FF_OK);
  assert_memory_equal(rates, r, sizeof(double) * P * 50);
  double top = 0;
  for (int k = 0; k < P * 50; ++k) top = fmax(top, rates[k]);
  assert_true(top == 100.0);
  free(dff);
  free(rates);
  raw[T + 7] = NAN;
  const char *names[P] = {"a", "b", "c"};
  const FfTraceLabels lab = {"x.npz", names, NULL};
  expect_msg(ff_activity_preprocess(raw, P, T, &p, &lab, &dff, &rates, &n), "'x.npz': region 'b' (row 1) holds NaN at frame 7");
  assert_null(dff);
  assert_null(rates);
}

/* With reference frames: frames from n_ref on reach no output frame before n_ref - trim (every
 * statistic and the deconvolution of those frames come from before n_ref), while the later frames
 * keep the reference's scale; n_ref = T is ff_activity_preprocess. */
static void test_chain_ref(void **state) {
  (void)state;
  enum { P = 3, T = 160, REF = 130 };
  static double raw[P * T], raw2[P * T];
  rng_state = 11;
  for (int k = 0; k < P * T; ++k) raw[k] = 100 + 10 * (k / T) + 5 * uniform() + (k % T % 9 == 0 ? 30 : 0);
  memcpy(raw2, raw, sizeof raw);
  for (int q = 0; q < P; ++q)
    for (int t = REF; t < T; ++t) raw2[q * T + t] = 3 * raw[q * T + t] + 50 * uniform(); /* a different future */
  FfPreprocess p;
  ff_preprocess_defaults(&p);
  p.deconv_lambda = 0.01;
  double *d1, *r1, *d2, *r2, *d0, *r0;
  int64_t n1, n2, n0;
  assert_int_equal(ff_activity_preprocess_ref(raw, P, T, REF, &p, NULL, &d1, &r1, &n1), FF_OK);
  assert_int_equal(ff_activity_preprocess_ref(raw2, P, T, REF, &p, NULL, &d2, &r2, &n2), FF_OK);
  assert_int_equal(n1, T - p.trim_frames);
  const int64_t m = REF - p.trim_frames;
  int later_differ = 0;
  double top = 0;
  for (int q = 0; q < P; ++q) {
    assert_memory_equal(r1 + q * n1, r2 + q * n2, sizeof(double) * m);
    assert_memory_equal(d1 + q * n1, d2 + q * n2, sizeof(double) * m);
    for (int64_t t = 0; t < m; ++t) top = fmax(top, r1[q * n1 + t]);
    for (int64_t t = m; t < n1; ++t) later_differ |= r1[q * n1 + t] != r2[q * n2 + t];
  }
  assert_true(top == p.max_rate_hz); /* scaled on the reference frames */
  assert_true(later_differ);
  /* the plain chain mixes the future in: the same two recordings differ before REF there */
  assert_int_equal(ff_activity_preprocess(raw, P, T, &p, NULL, &d0, &r0, &n0), FF_OK);
  free(d0);
  free(r0);
  double *d3, *r3;
  int64_t n3;
  assert_int_equal(ff_activity_preprocess(raw2, P, T, &p, NULL, &d3, &r3, &n3), FF_OK);
  assert_true(memcmp(r1, r3, sizeof(double) * m) != 0);
  free(d3);
  free(r3);
  /* n_ref = T (or more) is the plain chain, bit for bit */
  free(d2);
  free(r2);
  assert_int_equal(ff_activity_preprocess_ref(raw, P, T, T + 5, &p, NULL, &d2, &r2, &n2), FF_OK);
  assert_int_equal(ff_activity_preprocess(raw, P, T, &p, NULL, &d0, &r0, &n0), FF_OK);
  assert_memory_equal(r0, r2, sizeof(double) * P * n0);
  free(d0);
  free(r0);
  free(d1);
  free(r1);
  free(d2);
  free(r2);
  expect_msg(ff_activity_preprocess_ref(raw, P, T, p.trim_frames, &p, NULL, &d1, &r1, &n1), "leave none after trimming");
}

/* ---- regions to neuropils ------------------------------------------------------------------------ */

static const char *write_file(const char *text) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/flyfit-map-%d.txt", (int)getpid());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_map_exact(void **state) {
  (void)state;
  const char *regions[3] = {"AL_L", "GNG", "LH_L"}, *neuropils[3] = {"GNG", "LH_L", "AL_L"};
  FfRegionMap m;
  assert_int_equal(ff_activity_map_regions(regions, 3, neuropils, 3, NULL, 0, &m), FF_OK);
  assert_int_equal(m.n, 3);
  const int64_t region[3] = {0, 1, 2};
  const int32_t np[3] = {2, 0, 1};
  assert_memory_equal(m.region, region, sizeof region);
  assert_memory_equal(m.neuropil, np, sizeof np);
  assert_null(m.warning);
  ff_region_map_destroy(&m);
  assert_null(m.region);
}

static void test_map_unmatched(void **state) {
  (void)state;
  const char *regions[5] = {"AL_L", "foo", "bar", "GNG", "baz"}, *neuropils[4] = {"AL_L", "GNG", "LH_L", "SAD"};
  FfRegionMap m;
  expect_msg(ff_activity_map_regions(regions, 5, neuropils, 4, NULL, 0, &m),
             "3 regions have no neuropil: 'foo', 'bar', 'baz'; 2 neuropils have no region: 'LH_L', 'SAD'; give a "
             "mapping file (--mapping, [data] mapping) or leave them out (--drop-unmatched, [data] drop_unmatched = true)");
  assert_null(m.region);
  assert_int_equal(ff_activity_map_regions(regions, 5, neuropils, 4, NULL, 1, &m), FF_OK);
  assert_int_equal(m.n, 2);
  assert_true(m.region[0] == 0 && m.region[1] == 3 && m.neuropil[0] == 0 && m.neuropil[1] == 1);
  assert_non_null(m.warning);
  assert_string_equal(m.warning, "3 regions without a neuropil are left out: 'foo', 'bar', 'baz'; 2 neuropils get "
                                 "no recorded activity: 'LH_L', 'SAD'");
  ff_region_map_destroy(&m);
  /* one unmatched neuropil only */
  expect_msg(ff_activity_map_regions(regions, 1, neuropils, 2, NULL, 0, &m), "1 neuropil has no region: 'GNG'; give");
  /* nothing matches: an error even when dropping */
  expect_msg(ff_activity_map_regions(regions + 1, 2, neuropils, 4, NULL, 1, &m),
             "no region of the recording matches a neuropil of the connectome: 2 regions");
  expect_msg(ff_activity_map_regions(regions, 5, neuropils, 0, NULL, 1, &m), "the connectome has no neuropils");
  const char *dup[3] = {"AL_L", "GNG", "AL_L"};
  expect_msg(ff_activity_map_regions(dup, 3, neuropils, 4, NULL, 1, &m),
             "region 'AL_L' appears twice in the recording (entries 0 and 2)");
}

/* Every unmatched name is listed, however many there are. */
static void test_map_long_lists(void **state) {
  (void)state;
  enum { N = 300 };
  static char names[2 * N][16];
  const char *regions[N], *neuropils[N];
  for (int k = 0; k < N; ++k) {
    snprintf(names[k], sizeof names[k], "region%d", k);
    snprintf(names[N + k], sizeof names[N + k], "np%d", k);
    regions[k] = names[k];
    neuropils[k] = names[N + k];
  }
  FfRegionMap m;
  assert_int_equal(ff_activity_map_regions(regions, N, neuropils, N, NULL, 0, &m), FF_ERR_INPUT);
  const char *msg = ff_error_message();
  assert_non_null(strstr(msg, "300 regions have no neuropil: 'region0', 'region1'"));
  assert_non_null(strstr(msg, "'region298', 'region299'; 300 neuropils have no region: 'np0'"));
  assert_non_null(strstr(msg, "'np299'; give a mapping file"));
}

static void test_map_file(void **state) {
  (void)state;
  const char *regions[4] = {"AL_L", "foo", "bar", "GNG"}, *neuropils[4] = {"AL_L", "GNG", "LH_L", "SAD"};
  FfRegionMap m;
  const char *path = write_file("# recording region -> FlyWire neuropil\n\nfoo LH_L\nbar,\tSAD   # trailing comment\r\n");
  assert_int_equal(ff_activity_map_regions(regions, 4, neuropils, 4, path, 0, &m), FF_OK);
  const int32_t np[4] = {0, 2, 3, 1};
  assert_int_equal(m.n, 4);
  assert_memory_equal(m.neuropil, np, sizeof np);
  ff_region_map_destroy(&m);

  char want[256];
  struct {
    const char *text, *msg;
  } bad[] = {
      {"foo LH_L\nbar SAD extra\n", "%s:2: expected two names, 'region_name neuropil_name', found 3"},
      {"foo\n", "%s:1: expected two names, 'region_name neuropil_name', found 1"},
      {"# c\nqux LH_L\n", "%s:2: region 'qux' is not in the recording"},
      {"foo LH_L\nbar SAD\nfoo SAD\n", "%s:3: region 'foo' is mapped a second time (first at line 1)"},
      {"foo LH_L\nbar LH_L\n", "%s:2: regions 'bar' and 'foo' (line 1) both map to neuropil 'LH_L'"},
      {"bar SAD\nfoo GNG\n", "%s:2: region 'foo' maps to 'GNG', which region 'GNG' is already called and keeps"},
      {"foo XYZ\nbar SAD\n", "1 region has no neuropil: 'foo' (mapped to 'XYZ' at %s:1); 1 neuropil has no region: 'LH_L'"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
    path = write_file(bad[k].text);
    snprintf(want, sizeof want, bad[k].msg, path);
    expect_msg(ff_activity_map_regions(regions, 4, neuropils, 4, path, 0, &m), want);
  }
  unlink(path);
  expect_msg(ff_activity_map_regions(regions, 4, neuropils, 4, path, 0, &m), "cannot read mapping file");
}

/* ---- activity.h5 --------------------------------------------------------------------------------- */

static void read_2d(const char *path, const char *dset, float *buf) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  assert_true(d >= 0);
  assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  H5Dclose(d);
  H5Fclose(f);
}

/* What flyfit will do later: read /traces and the stored parameters back and rerun the chain.
 * It must give the stored /dff and /rates bit for bit. */
static void test_activity_file_rerun(void **state) {
  (void)state;
  enum { P = 4, T = 180 };
  ff_h5_init();
  FfRecording rec;
  memset(&rec, 0, sizeof rec);
  rec.P = P;
  rec.T = T;
  assert_int_equal(FF_CALLOC(rec.areas, P + 1, "test"), FF_OK);
  assert_int_equal(FF_MALLOC(rec.rows, P, "test"), FF_OK);
  assert_int_equal(FF_MALLOC(rec.traces, P * T, "test"), FF_OK);
  rng_state = 31;
  const char *names[P] = {"AL_L", "GNG", "LH_L", "SAD"};
  for (int p = 0; p < P; ++p) {
    rec.areas[p] = strdup(names[p]);
    rec.rows[p] = p + 1;
    for (int t = 0; t < T; ++t) rec.traces[p * T + t] = 300 + 50 * p + 20 * uniform() + (t % 23 == p ? 40 : 0);
  }
  snprintf(rec.id, sizeof rec.id, "2017-10-30_1");
  snprintf(rec.source, sizeof rec.source, "test_activity.c");
  FfPreprocess p;
  ff_preprocess_defaults(&p);
  p.deconv_lambda = 0.02;
  p.trim_frames = 30;
  assert_int_equal(ff_recording_round_to_float(&rec), FF_OK);
  double *dff, *rates;
  int64_t n;
  assert_int_equal(ff_activity_preprocess(rec.traces, P, T, &p, NULL, &dff, &rates, &n), FF_OK);
  char path[64];
  snprintf(path, sizeof path, "/tmp/flyfit-activity-%d.h5", (int)getpid());
  const int32_t index[P] = {2, 0, 3, 1};
  const FfActivityFile out = {&rec, &p, dff, rates, n, index, "connectome.h5", NULL, NULL, "test"};
  assert_int_equal(ff_activity_write(path, &out), FF_OK);

  FfRecording back;
  FfPreprocess q;
  assert_int_equal(ff_activity_read(path, &back, &q), FF_OK);
  assert_int_equal(back.P, P);
  assert_int_equal(back.T, T);
  for (int k = 0; k < P; ++k) assert_string_equal(back.areas[k], names[k]);
  assert_memory_equal(back.traces, rec.traces, sizeof(double) * P * T);
  assert_string_equal(back.id, "2017-10-30_1");
  assert_true(back.fs_hz == p.fs_hz);
  assert_memory_equal(&q, &p, sizeof p);
  double *dff2, *rates2;
  int64_t n2;
  assert_int_equal(ff_activity_preprocess(back.traces, P, T, &q, NULL, &dff2, &rates2, &n2), FF_OK);
  assert_int_equal(n2, T - 30);
  static float file_dff[P * T], file_rates[P * T];
  read_2d(path, "/dff", file_dff);
  read_2d(path, "/rates", file_rates);
  for (int k = 0; k < P; ++k)
    for (int t = 0; t < n2; ++t) {
      /* the file is frame-major [T', P] */
      assert_true(file_dff[t * P + k] == (float)dff2[k * n2 + t]);
      assert_true(file_rates[t * P + k] == (float)rates2[k * n2 + t]);
    }
  free(dff);
  free(rates);
  free(dff2);
  free(rates2);

  /* keeping regions 1 and 3 moves their names, rows and traces up */
  const int64_t keep[2] = {1, 3};
  assert_int_equal(ff_recording_select(&back, keep, 2), FF_OK);
  assert_int_equal(back.P, 2);
  assert_string_equal(back.areas[0], "GNG");
  assert_string_equal(back.areas[1], "SAD");
  assert_memory_equal(back.traces, rec.traces + T, sizeof(double) * T);
  assert_memory_equal(back.traces + T, rec.traces + 3 * T, sizeof(double) * T);
  ff_recording_destroy(&back);
  assert_null(back.areas);

  rec.traces[5] = 1e39;
  snprintf(rec.file, sizeof rec.file, "fly.npz");
  expect_msg(ff_recording_round_to_float(&rec), "'fly.npz': region 'AL_L' (row 1) holds 1e+39 at frame 5, beyond the float range");
  ff_recording_destroy(&rec);
  unlink(path);
  expect_msg(ff_activity_read(path, &back, NULL), "No such file or directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dff_by_hand),           cmocka_unit_test(test_dff_errors),
      cmocka_unit_test(test_highpass_coefficients), cmocka_unit_test(test_highpass_output),
      cmocka_unit_test(test_trim),                  cmocka_unit_test(test_scale),
      cmocka_unit_test(test_parameters),            cmocka_unit_test(test_oasis_kkt_and_slow_solver),
      cmocka_unit_test(test_oasis_noiseless_exact), cmocka_unit_test(test_oasis_noisy_spikes),
      cmocka_unit_test(test_chain),                 cmocka_unit_test(test_chain_ref),
      cmocka_unit_test(test_map_exact),
      cmocka_unit_test(test_map_unmatched),         cmocka_unit_test(test_map_long_lists),
      cmocka_unit_test(test_map_file),              cmocka_unit_test(test_activity_file_rerun),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
