/* Single-neuron models (include/flyfit/neuron_models.h). The forward sensitivities of HH and GIF
 * against central finite differences of the same discrete scheme (within 1e-4 of each parameter's
 * largest sensitivity, spikes unchanged by the perturbation); with A1 = A2 = 0 GIF's voltage does not
 * depend on k1, k2 at all. Izhikevich and AdEx against closed forms: the resting potential (a root of
 * the steady-state equation), the rheobase (the current where rest loses stability, at a Hopf or a
 * saddle-node, from the Jacobian at the fixed point) bracketed at ±1%, Izhikevich's first spike
 * time with u frozen (a = 0: the arctangent integral of dv / (0.04 v^2 + 5 v + K)) and its reset.
 * Bad input: unknown parameter names, dt, non-finite currents and parameters. (HH against Brian2:
 * tests/integration/neuron_brian2.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/neuron_models.h"

/* simulates m with p under cur [n]; v [n], spiked [n], dv [n x n_sens] (may be NULL) */
static void sim(const FfNeuronModel *m, const double *p, double dt, const double *cur, int64_t n, double *v,
                uint8_t *spiked, double *dv) {
  assert_int_equal(ff_neuron_simulate(m, p, dt, cur, n, NULL, v, spiked, dv, NULL), FF_OK);
}

static int64_t count(const uint8_t *s, int64_t n) {
  int64_t c = 0;
  for (int64_t k = 0; k < n; ++k) c += s[k];
  return c;
}

/* every sensitivity column of m at p against (v(p + h e_j) - v(p - h e_j)) / 2h; returns the worst
 * max_k |S - FD| / max_k |S| over the parameters (columns identically 0 must have FD ~ 0) */
static double check_fd(const FfNeuronModel *m, const double *p, double dt, const double *cur, int64_t n, double rel_h,
                       int64_t min_spikes) {
  const int ns = m->n_sens;
  double *v = malloc(sizeof(double) * (size_t)n), *vp = malloc(sizeof(double) * (size_t)n),
         *vm = malloc(sizeof(double) * (size_t)n), *dv = malloc(sizeof(double) * (size_t)(n * ns));
  uint8_t *s0 = malloc((size_t)n), *s1 = malloc((size_t)n);
  assert_true(v && vp && vm && dv && s0 && s1);
  sim(m, p, dt, cur, n, v, s0, dv);
  assert_true(count(s0, n) >= min_spikes);
  double worst = 0;
  for (int j = 0; j < ns; ++j) {
    double q[FF_NEURON_MAX_PARAM];
    memcpy(q, p, sizeof(double) * (size_t)m->n_param);
    const double h = rel_h * (fabs(p[j]) > 1e-3 ? fabs(p[j]) : 1.0);
    q[j] = p[j] + h;
    sim(m, q, dt, cur, n, vp, s1, NULL);
    if (memcmp(s0, s1, (size_t)n)) fail_msg("%s: +h on %s moved a spike", m->name, m->param_names[j]);
    q[j] = p[j] - h;
    sim(m, q, dt, cur, n, vm, s1, NULL);
    if (memcmp(s0, s1, (size_t)n)) fail_msg("%s: -h on %s moved a spike", m->name, m->param_names[j]);
    double smax = 0, err = 0, fdmax = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double fd = (vp[k] - vm[k]) / (2 * h), s = dv[k * ns + j];
      smax = fmax(smax, fabs(s));
      fdmax = fmax(fdmax, fabs(fd));
      err = fmax(err, fabs(s - fd));
    }
    if (smax == 0) {
      if (fdmax > 1e-6) fail_msg("%s: dv/d%s is 0 but the difference quotient reaches %g", m->name, m->param_names[j], fdmax);
      continue;
    }
    print_message("%s: dv/d%-10s max |S| %9.3g, max |S - FD| / max |S| %.2g\n", m->name, m->param_names[j], smax,
                  err / smax);
    worst = fmax(worst, err / smax);
  }
  free(v);
  free(vp);
  free(vm);
  free(dv);
  free(s0);
  free(s1);
  return worst;
}

static void test_hh_sensitivities(void **state) {
  (void)state;
  const FfNeuronModel *m = ff_neuron_model("hh");
  assert_non_null(m);
  enum { N = 6000 }; /* 60 ms at 0.01 ms, 0.4 nA from 5 ms: several spikes */
  static double cur[N];
  for (int k = 0; k < N; ++k) cur[k] = k >= 500 ? 0.4 : 0.0;
  const double worst = check_fd(m, m->defaults, 0.01, cur, N, 1e-6, 2);
  assert_true(worst < 1e-4);
}

static void test_gif_sensitivities(void **state) {
  (void)state;
  const FfNeuronModel *m = ff_neuron_model("gif");
  assert_non_null(m);
  double p[FF_GIF_NPARAM];
  memcpy(p, m->defaults, sizeof p);
  p[FF_GIF_A1] = 0.2; /* both adaptation currents active, so every parameter matters */
  p[FF_GIF_A2] = -0.05;
  p[FF_GIF_R1] = 0.5;
  p[FF_GIF_K1] = 0.05; /* slow enough that I1 lasts to the next spike, where R1 acts */
  enum { N = 10000 }; /* 1 s at 0.1 ms */
  static double cur[N];
  for (int k = 0; k < N; ++k) cur[k] = 1.5 + 0.5 * sin(0.1 * k / 7.0);
  const double worst = check_fd(m, p, 0.1, cur, N, 1e-6, 10);
  assert_true(worst < 1e-4);
  /* v does not depend on the threshold's parameters (a, b, V_th_inf, V_th_reset) but for spike times;
   * the threshold itself does: its sensitivities at the end of the sweep, stepped by hand */
  {
    double x[FF_GIF_NSTATE], sx[FF_GIF_NSTATE * FF_GIF_NSENS];
    m->init(p, x, sx);
    int spikes = 0;
    for (int k = 0; k < N; ++k) spikes += ff_gif_step(p, 0.1, cur[k], x, sx);
    const int js[4] = {FF_GIF_A, FF_GIF_B, FF_GIF_TH_INF, FF_GIF_TH_RESET};
    for (int q = 0; q < 4; ++q) {
      const int j = js[q];
      double th[2];
      for (int sgn = 0; sgn < 2; ++sgn) {
        double pp[FF_GIF_NPARAM], y[FF_GIF_NSTATE];
        memcpy(pp, p, sizeof pp);
        pp[j] += (sgn ? -1e-6 : 1e-6) * fabs(p[j]);
        m->init(pp, y, NULL);
        int sp = 0;
        for (int k = 0; k < N; ++k) sp += ff_gif_step(pp, 0.1, cur[k], y, NULL);
        assert_int_equal(sp, spikes);
        th[sgn] = y[FF_GIF_TH];
      }
      const double fd = (th[0] - th[1]) / (2e-6 * fabs(p[j])), sj = sx[FF_GIF_TH * FF_GIF_NSENS + j];
      print_message("gif: dTh_end/d%-10s %.9g, difference quotient %.9g\n", m->param_names[j], sj, fd);
      assert_close(sj, fd, 1e-4 * fabs(sj) + 1e-9);
    }
  }
  /* with A1 = A2 = 0 the currents stay 0: v does not depend on k1, k2 (unidentifiable) */
  static double v[N], dv[N * FF_GIF_NSENS];
  sim(m, m->defaults, 0.1, cur, N, v, NULL, dv);
  for (int k = 0; k < N; ++k) {
    assert_true(dv[k * FF_GIF_NSENS + FF_GIF_K1] == 0.0);
    assert_true(dv[k * FF_GIF_NSENS + FF_GIF_K2] == 0.0);
  }
}

/* a sweep of constant current; returns the spike count, v_end and u_end (or w) */
static int64_t constant_run(const FfNeuronModel *m, const double *p, double dt, double i, int64_t n, const double *x0,
                            double x_end[2]) {
  double *cur = malloc(sizeof(double) * (size_t)n), *v = malloc(sizeof(double) * (size_t)n);
  uint8_t *s = malloc((size_t)n);
  assert_true(cur && v && s);
  for (int64_t k = 0; k < n; ++k) cur[k] = i;
  assert_int_equal(ff_neuron_simulate(m, p, dt, cur, n, x0, v, s, NULL, x_end), FF_OK);
  const int64_t c = count(s, n);
  free(cur);
  free(v);
  free(s);
  return c;
}

static void test_izhikevich(void **state) {
  (void)state;
  const FfNeuronModel *m = ff_neuron_model("izhikevich");
  assert_non_null(m);
  const double *p = m->defaults; /* a 0.02, b 0.2, c -65, d 8 */
  double x[2];
  /* rest: 0.04 v^2 + (5 - b) v + 140 + I = 0, the lower root; I = 0: -70, I = 3: -65 */
  for (double i = 0; i <= 3; i += 3) {
    const double B = 5 - p[FF_IZH_B], vr = (-B - sqrt(B * B - 0.16 * (140 + i))) / 0.08;
    assert_int_equal(constant_run(m, p, 0.1, i, 30000, NULL, x), 0);
    assert_close(x[0], vr, 1e-8);
    assert_close(x[1], p[FF_IZH_B] * vr, 1e-8);
  }
  /* rheobase: as I grows the resting state v* (the lower root above) loses stability where the
   * Jacobian's trace 0.08 v + 5 - a vanishes (Andronov-Hopf, for b > a) or where the two roots merge at
   * v = -(5 - b) / 0.08 (saddle-node), whichever v* meets first; I = -0.04 v^2 - (5 - b) v - 140 there.
   * Below it a rest nudged by 0.1 mV returns without a spike; above it the nudge grows into spikes. */
  const double a = p[FF_IZH_A], b = p[FF_IZH_B], vc = fmin((a - 5) / 0.08, -(5 - b) / 0.08);
  const double rh = -0.04 * vc * vc - (5 - b) * vc - 140;
  print_message("izhikevich: rheobase %.6f (v* = %.4f mV)\n", rh, vc);
  for (double f = 0.99; f < 1.02; f += 0.02) {
    const double B = 5 - b, vr = (-B - sqrt(B * B - 0.16 * (140 + f * rh))) / 0.08, x0[2] = {vr + 0.1, b * vr};
    const int64_t spikes = constant_run(m, p, 0.05, f * rh, 100000, x0, x);
    if (f < 1) assert_int_equal(spikes, 0);
    else assert_true(spikes > 0);
  }
  /* a = 0 freezes u at b c = -13: from v = -65 under I = 10, v reaches 30 after
   * T = ∫ dv / (0.04 v^2 + 5 v + K), K = 140 + 13 + 10 = 163 (no real root) */
  double q[FF_IZH_NPARAM];
  memcpy(q, p, sizeof q);
  q[FF_IZH_A] = 0;
  const double A = 0.04, Bc = 5, K = 140 - q[FF_IZH_B] * q[FF_IZH_C] + 10, sq = sqrt(4 * A * K - Bc * Bc);
  const double T = 2 / sq * (atan((2 * A * 30 + Bc) / sq) - atan((2 * A * -65 + Bc) / sq));
  const double dt = 1e-4;
  const int64_t n = (int64_t)(1.2 * T / dt);
  double *cur = malloc(sizeof(double) * (size_t)n), *v = malloc(sizeof(double) * (size_t)n);
  uint8_t *s = malloc((size_t)n);
  for (int64_t k = 0; k < n; ++k) cur[k] = 10;
  assert_int_equal(ff_neuron_simulate(m, q, dt, cur, n, NULL, v, s, NULL, NULL), FF_OK);
  int64_t first = -1;
  for (int64_t k = 0; k < n && first < 0; ++k)
    if (s[k]) first = k;
  assert_true(first > 0);
  print_message("izhikevich: first spike at %.5f ms, closed form %.5f ms\n", (double)(first + 1) * dt, T);
  assert_close((double)(first + 1) * dt, T, 2e-3 * T);
  assert_close(v[first + 1], q[FF_IZH_C], 0); /* the reset */
  free(cur);
  free(v);
  free(s);
}

static void test_adex(void **state) {
  (void)state;
  const FfNeuronModel *m = ff_neuron_model("adex");
  assert_non_null(m);
  const double *p = m->defaults;
  const double gl = p[FF_ADEX_GL], a = p[FF_ADEX_A], el = p[FF_ADEX_EL], vt = p[FF_ADEX_VT], dT = p[FF_ADEX_DT];
  /* rheobase: rest loses stability where the Jacobian's trace vanishes, gL (e^{(V-VT)/DeltaT} - 1) / C =
   * 1/tau_w (Andronov-Hopf), or where the two fixed points merge, gL e^{(V-VT)/DeltaT} = gL + a (saddle-node),
   * whichever the rest meets first; I = (gL + a)(V - EL) - gL DeltaT e^{(V - VT)/DeltaT} there (for these
   * parameters the Hopf: a / gL > C / (gL tau_w)). As for Izhikevich, a rest nudged by 0.1 mV. */
  const double vh = vt + dT * log(1 + p[FF_ADEX_C] / (gl * p[FF_ADEX_TAU_W])), vsn = vt + dT * log((gl + a) / gl);
  const double vc = fmin(vh, vsn), rh = (gl + a) * (vc - el) - gl * dT * exp((vc - vt) / dT);
  print_message("adex: rheobase %.4f pA (V* = %.4f mV; Hopf at %.4f, saddle-node at %.4f)\n", rh, vc, vh, vsn);
  double x[2];
  for (double f = 0.99; f < 1.02; f += 0.02) {
    double lo = el - 20, hi = vc; /* the rest below vc, by bisection */
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (lo + hi), g = -(gl + a) * (mid - el) + gl * dT * exp((mid - vt) / dT) + f * rh;
      if (g > 0) lo = mid; else hi = mid;
    }
    const double x0[2] = {lo + 0.1, a * (lo - el)};
    const int64_t spikes = constant_run(m, p, 0.05, f * rh, 100000, x0, x);
    if (f < 1) assert_int_equal(spikes, 0);
    else assert_true(spikes > 0);
  }
  /* rest under half the rheobase: the root of -(gL + a)(V - EL) + gL DeltaT e^{(V - VT)/DeltaT} + I below
   * the saddle-node, by bisection */
  const double i = 0.5 * rh;
  double lo = el - 20, hi = vt + dT * log((gl + a) / gl);
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi), f = -(gl + a) * (mid - el) + gl * dT * exp((mid - vt) / dT) + i;
    if (f > 0) lo = mid; else hi = mid;
  }
  assert_int_equal(constant_run(m, p, 0.05, i, 200000, NULL, x), 0);
  assert_close(x[0], 0.5 * (lo + hi), 1e-8);
  assert_close(x[1], a * (x[0] - el), 1e-8);
}

static void test_bad_input(void **state) {
  (void)state;
  const FfNeuronModel *m = ff_neuron_model("hh");
  int k;
  assert_null(ff_neuron_model("lif"));
  assert_int_equal(ff_neuron_param_index(m, "gNa", &k), FF_OK);
  assert_int_equal(k, FF_HH_GNA);
  assert_int_equal(ff_neuron_param_index(m, "g_na", &k), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "model hh has no parameter 'g_na' (its parameters: gL gNa gK VT"));
  double cur[3] = {0, NAN, 0}, v[3], p[FF_HH_NPARAM];
  assert_int_equal(ff_neuron_simulate(m, m->defaults, 0.01, cur, 3, NULL, v, NULL, NULL, NULL), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "input current at step 1"));
  cur[1] = 0;
  assert_int_equal(ff_neuron_simulate(m, m->defaults, 0, cur, 3, NULL, v, NULL, NULL, NULL), FF_ERR_INPUT);
  memcpy(p, m->defaults, sizeof p);
  p[FF_HH_C] = -1;
  assert_int_equal(ff_neuron_simulate(m, p, 0.01, cur, 3, NULL, v, NULL, NULL, NULL), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "parameter C = -1 must be > 0"));
  p[FF_HH_C] = NAN;
  assert_int_equal(ff_neuron_simulate(m, p, 0.01, cur, 3, NULL, v, NULL, NULL, NULL), FF_ERR_INPUT);
  ff_error_clear();
  for (int q = 0; ff_neuron_model_names[q]; ++q) assert_non_null(ff_neuron_model(ff_neuron_model_names[q]));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_hh_sensitivities), cmocka_unit_test(test_gif_sensitivities),
                                     cmocka_unit_test(test_izhikevich), cmocka_unit_test(test_adex),
                                     cmocka_unit_test(test_bad_input)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
