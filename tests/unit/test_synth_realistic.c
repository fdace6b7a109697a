/* Tests of the realistic synthetic recordings (src/data/synth_realistic.c): deterministic in the seed;
 * the neuropil coupling against a recomputation from the connectome's arrays in this file; the
 * measurement noise is white, centred and of the size the options say; the connectome matters only
 * through the coupling; bad options are refused. The recordings' statistics against published ranges
 * are tests/integration/synth_realistic.sh's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/synth.h"
#include "flyfit/synth_realistic.h"

static FfConnectome brain(int64_t n, uint64_t seed) {
  FfSynthOptions o;
  FfConnectome c;
  ff_synth_defaults(&o);
  o.n_neurons = n;
  o.seed = seed;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  return c;
}

static FfSynthRealisticOptions short_run(uint64_t seed) {
  FfSynthRealisticOptions o;
  ff_synth_realistic_defaults(&o);
  o.frames = 300;
  o.seed = seed;
  return o;
}

static FfSynthRealistic run(const FfConnectome *c, const FfSynthRealisticOptions *o) {
  FfSynthRealistic r;
  const int st = ff_synth_realistic(c, o, &r);
  if (st) print_error("%s\n", ff_error_message());
  assert_int_equal(st, FF_OK);
  return r;
}

static int same(const double *a, const double *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

static void test_deterministic(void **state) {
  (void)state;
  FfConnectome c = brain(600, 3);
  FfSynthRealisticOptions o = short_run(5);
  FfSynthRealistic a = run(&c, &o), b = run(&c, &o);
  const int64_t n = a.T * a.P;
  assert_int_equal(a.P, c.n_neuropils);
  assert_true(same(a.traces, b.traces, n) && same(a.clean, b.clean, n) && same(a.rates, b.rates, n));
  o.seed = 6;
  FfSynthRealistic d = run(&c, &o);
  assert_false(same(a.traces, d.traces, n));
  for (int64_t i = 0; i < n; ++i) {
    assert_true(isfinite(a.traces[i]) && a.traces[i] > 0.0);
    assert_true(a.rates[i] >= 0.0 && isfinite(a.drive[i]));
  }
  ff_synth_realistic_destroy(&a);
  ff_synth_realistic_destroy(&b);
  ff_synth_realistic_destroy(&d);
  ff_connectome_destroy(&c);
}

/* The coupling recomputed: synapses from neurons homed in p onto neurons homed in q != p, each row
 * divided by its sum, then (A + A^T) / 2. */
static void test_coupling(void **state) {
  (void)state;
  FfConnectome c = brain(800, 4);
  FfSynthRealisticOptions o = short_run(1);
  o.frames = 20;
  FfSynthRealistic r = run(&c, &o);
  const int64_t P = c.n_neuropils;
  double *A = calloc((size_t)(P * P), sizeof *A);
  assert_non_null(A);
  for (int64_t i = 0; i < c.n; ++i)
    for (int64_t e = c.indptr[i]; e < c.indptr[i + 1]; ++e) {
      const int p = c.home[i], q = c.home[c.post[e]];
      if (p >= 0 && q >= 0 && p != q) A[p * P + q] += abs(c.count[e]);
    }
  for (int64_t p = 0; p < P; ++p) {
    double s = 0.0;
    for (int64_t q = 0; q < P; ++q) s += A[p * P + q];
    for (int64_t q = 0; s > 0.0 && q < P; ++q) A[p * P + q] /= s;
  }
  double total = 0.0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t q = 0; q < P; ++q) {
      const double want = 0.5 * (A[p * P + q] + A[q * P + p]);
      assert_true(fabs(r.coupling[p * P + q] - want) <= 1e-12);
      total += r.coupling[p * P + q];
    }
  assert_true(total > 0.5 * (double)P); /* most neuropils send synapses elsewhere */
  free(A);
  ff_synth_realistic_destroy(&r);
  ff_connectome_destroy(&c);
}

/* traces - clean is the measurement noise: centred, white, and noise x F0 in size, where F0 lies
 * between clean / (1 + dff_max) (saturated indicator, no bleaching) and clean / (1 - bleach). */
static void test_noise(void **state) {
  (void)state;
  FfConnectome c = brain(600, 3);
  FfSynthRealisticOptions o = short_run(2);
  o.frames = 2000;
  FfSynthRealistic r = run(&c, &o);
  const int64_t T = r.T, P = r.P;
  for (int64_t p = 0; p < P; ++p) {
    double m = 0.0, v = 0.0, ac = 0.0, lo = INFINITY, hi = 0.0;
    for (int64_t t = 0; t < T; ++t) {
      m += r.traces[t * P + p] - r.clean[t * P + p];
      lo = fmin(lo, r.clean[t * P + p]);
      hi = fmax(hi, r.clean[t * P + p]);
    }
    m /= (double)T;
    for (int64_t t = 0; t < T; ++t) {
      const double x = r.traces[t * P + p] - r.clean[t * P + p] - m;
      v += x * x;
      if (t) ac += x * (r.traces[(t - 1) * P + p] - r.clean[(t - 1) * P + p] - m);
    }
    const double sd = sqrt(v / (double)T);
    assert_true(fabs(m) < 5.0 * sd / sqrt((double)T));
    assert_true(fabs(ac / v) < 5.0 / sqrt((double)T));
    assert_true(sd > 0.9 * o.noise * lo / (1.0 + o.dff_max) && sd < 1.1 * o.noise * hi / (1.0 - o.bleach_fraction));
  }
  o.noise = 0.0;
  FfSynthRealistic q = run(&c, &o);
  assert_true(same(q.traces, q.clean, T * P));
  assert_true(same(q.clean, r.clean, T * P)); /* the noise is added on top, nothing else moves */
  ff_synth_realistic_destroy(&r);
  ff_synth_realistic_destroy(&q);
  ff_connectome_destroy(&c);
}

/* Two brains with the same neuropils: without coupling the recordings are the same, with it not. */
static void test_connectome_through_coupling(void **state) {
  (void)state;
  FfConnectome a = brain(600, 3), b = brain(900, 8);
  assert_int_equal(a.n_neuropils, b.n_neuropils);
  FfSynthRealisticOptions o = short_run(1);
  o.coupling = 0.0;
  FfSynthRealistic ra = run(&a, &o), rb = run(&b, &o);
  assert_true(same(ra.traces, rb.traces, ra.T * ra.P));
  ff_synth_realistic_destroy(&ra);
  ff_synth_realistic_destroy(&rb);
  o.coupling = 0.85;
  ra = run(&a, &o);
  rb = run(&b, &o);
  assert_false(same(ra.traces, rb.traces, ra.T * ra.P));
  ff_synth_realistic_destroy(&ra);
  ff_synth_realistic_destroy(&rb);
  ff_connectome_destroy(&a);
  ff_connectome_destroy(&b);
}

static void test_bad_options(void **state) {
  (void)state;
  FfConnectome c = brain(300, 1);
  FfSynthRealistic r;
  FfSynthRealisticOptions o = short_run(1);
  o.tau_decay_s = o.tau_rise_s;
  assert_int_equal(ff_synth_realistic(&c, &o, &r), FF_ERR_USAGE);
  o = short_run(1);
  o.coupling = 1.0;
  assert_int_equal(ff_synth_realistic(&c, &o, &r), FF_ERR_USAGE);
  o = short_run(1);
  o.frames = 1;
  assert_int_equal(ff_synth_realistic(&c, &o, &r), FF_ERR_USAGE);
  assert_non_null(strstr(ff_error_message(), "--frames 1"));
  ff_connectome_destroy(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic), cmocka_unit_test(test_coupling), cmocka_unit_test(test_noise),
      cmocka_unit_test(test_connectome_through_coupling), cmocka_unit_test(test_bad_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
