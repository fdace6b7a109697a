/* Single-neuron fitting (include/flyfit/neuron_fit.h): the voltage loss's gradient against central
 * differences of the loss itself (HH, all four fitted parameters, sweeps with spikes); the loss at the
 * planted parameters of a noise-free synthetic recording is 0 and its spike losses are 0; [neuron] bounds
 * parsing and its errors; the start points inside the bounds and the same for the same (seed, start,
 * candidate); one L-BFGS start from 5% off converges to the planted values. (The whole mode, ranks and
 * bad files: tests/integration/neuron_fit.sh.) */
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
#include "flyfit/neuron_fit.h"

/* a noise-free HH recording: 2 sweeps of 40 ms at dt 0.01 ms, 0.4 and 0.8 nA */
static void hh_recording(FfNeuronRecording *r, double noise) {
  FfNeuronSynthOptions o;
  ff_neuron_synth_defaults(ff_neuron_model("hh"), &o);
  o.sweeps = 2;
  o.duration_ms = 40.0;
  o.amp_lo = 0.4;
  o.amp_hi = 0.8;
  o.noise_mV = noise;
  assert_int_equal(ff_neuron_synth(&o, r), FF_OK);
  assert_true(r->spike_indptr[2] >= 2);
}

static void test_gradient(void **state) {
  (void)state;
  FfNeuronRecording r;
  hh_recording(&r, 1.0);
  FfNeuronProblem p;
  assert_int_equal(ff_neuron_problem(r.model, "", &p), FF_OK);
  assert_int_equal(p.n_fit, 4);
  double *work = malloc(sizeof(double) * (size_t)(r.n_steps * 5));
  const double x[4] = {0.0086, 24.2, 5.9, -55.6}; /* off the planted values, same spikes nearby */
  double l, g[4];
  assert_int_equal(ff_neuron_voltage_loss(&p, &r, x, &l, g, work), FF_OK);
  for (int q = 0; q < 4; ++q) {
    const double h = 1e-6 * fabs(x[q]);
    double xp[4], xm[4], lp, lm;
    memcpy(xp, x, sizeof xp);
    memcpy(xm, x, sizeof xm);
    xp[q] += h;
    xm[q] -= h;
    assert_int_equal(ff_neuron_voltage_loss(&p, &r, xp, &lp, NULL, work), FF_OK);
    assert_int_equal(ff_neuron_voltage_loss(&p, &r, xm, &lm, NULL, work), FF_OK);
    const double fd = (lp - lm) / (2 * h);
    assert_true(fabs(g[q] - fd) <= 1e-4 * fabs(fd) + 1e-9);
  }
  free(work);
  ff_neuron_recording_destroy(&r);
}

static void test_zero_at_truth(void **state) {
  (void)state;
  FfNeuronRecording r;
  hh_recording(&r, 0.0);
  FfNeuronProblem p;
  assert_int_equal(ff_neuron_problem(r.model, "gL=0.001:0.1, VT=-70:-40", &p), FF_OK);
  double *work = malloc(sizeof(double) * (size_t)(r.n_steps * 5));
  const double x[2] = {0.008364, -55.31};
  double l;
  assert_int_equal(ff_neuron_voltage_loss(&p, &r, x, &l, NULL, work), FF_OK);
  assert_true(l == 0.0);
  for (int k = FF_NEURON_LOSS_SPIKE; k <= FF_NEURON_LOSS_ISI; ++k) {
    assert_int_equal(ff_neuron_spike_loss(&p, &r, k, x, &l, work), FF_OK);
    assert_true(fabs(l) < 1e-12);
  }
  const double y[2] = {0.008364, -57.0}; /* another threshold: other spikes */
  assert_int_equal(ff_neuron_spike_loss(&p, &r, FF_NEURON_LOSS_SPIKE, y, &l, work), FF_OK);
  assert_true(l > 0.0);
  free(work);
  ff_neuron_recording_destroy(&r);
}

static void test_bounds(void **state) {
  (void)state;
  const FfNeuronModel *hh = ff_neuron_model("hh");
  FfNeuronProblem p;
  assert_int_equal(ff_neuron_problem(hh, " VT = -70:-40 ,gK=1:10", &p), FF_OK);
  assert_int_equal(p.n_fit, 2);
  assert_int_equal(p.index[0], FF_HH_VT);
  assert_true(p.lo[0] == -70 && p.hi[0] == -40 && p.lo[1] == 1 && p.hi[1] == 10);
  assert_int_equal(ff_neuron_problem(hh, "", &p), FF_OK); /* defaults: d/2..2d, d -+ |d|/2 */
  assert_true(p.lo[FF_HH_GL] == 0.004182 && p.hi[FF_HH_GL] == 0.016728);
  assert_true(p.lo[FF_HH_VT] == -55.31 - 27.655 && p.hi[FF_HH_VT] == -55.31 + 27.655);
  const char *bad[][2] = {{"gK=10:1", "low > high"},         {"gX=1:2", "no parameter 'gX'"},
                          {"gK=1", "not low:high"},          {"gK", "not name=low:high"},
                          {"gK=1:2, gK=1:3", "given twice"}, {"gK=1:x", "two finite numbers"}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; ++k) {
    assert_int_equal(ff_neuron_problem(hh, bad[k][0], &p), FF_ERR_INPUT);
    assert_non_null(strstr(ff_error_message(), bad[k][1]));
    assert_non_null(strstr(ff_error_message(), "[neuron] bounds"));
    ff_error_clear();
  }
  assert_int_equal(ff_neuron_problem(ff_neuron_model("izhikevich"), "", &p), FF_ERR_INPUT); /* no defaults */
  ff_error_clear();
}

static void test_start_points(void **state) {
  (void)state;
  FfNeuronProblem p;
  assert_int_equal(ff_neuron_problem(ff_neuron_model("gif"), "", &p), FF_OK); /* 14 parameters: 4 counter words */
  double a[FF_NEURON_MAX_PARAM], b[FF_NEURON_MAX_PARAM], c[FF_NEURON_MAX_PARAM];
  ff_neuron_start_point(&p, 7, 3, 2, a);
  ff_neuron_start_point(&p, 7, 3, 2, b);
  ff_neuron_start_point(&p, 7, 3, 3, c);
  assert_memory_equal(a, b, sizeof(double) * (size_t)p.n_fit);
  int differ = 0;
  for (int q = 0; q < p.n_fit; ++q) {
    assert_true(a[q] >= p.lo[q] && a[q] <= p.hi[q]);
    differ += a[q] != c[q];
  }
  assert_int_equal(differ, p.n_fit);
}

static void test_lbfgs_converges(void **state) {
  (void)state;
  FfNeuronRecording r;
  hh_recording(&r, 0.0);
  FfNeuronProblem p;
  assert_int_equal(ff_neuron_problem(r.model, "", &p), FF_OK);
  const double x0[4] = {0.008364 * 1.05, 24.698 * 0.95, 5.815 * 1.05, -55.31 * 0.98};
  double x[4], l, hist[300];
  int64_t evals;
  assert_int_equal(ff_neuron_lbfgs(&p, &r, x0, 300, x, &l, &evals, hist), FF_OK);
  assert_true(evals > 1 && evals <= 300);
  assert_true(l < 1e-6);
  const double t[4] = {0.008364, 24.698, 5.815, -55.31};
  for (int q = 0; q < 4; ++q) assert_true(fabs(x[q] - t[q]) <= 1e-3 * fabs(t[q]));
  for (int64_t e = 0; e < evals; ++e) assert_true(hist[e] >= l);
  ff_neuron_recording_destroy(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_gradient), cmocka_unit_test(test_zero_at_truth),
                                     cmocka_unit_test(test_bounds), cmocka_unit_test(test_start_points),
                                     cmocka_unit_test(test_lbfgs_converges)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
