/* The discrete neuron model against independent references: the continuous closed-form solution
 * of the LIF equations, an explicit step-by-step recursion, a brute-force scan for the next spike,
 * and Random123's published known-answer vectors for Philox4x32-10. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <math.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/model.h"
#include "flyfit/rng.h"

static FfModel make(int preset, double tau_m, double tau_syn) {
  FfConfig c;
  FfModel m;
  ff_config_init(&c);
  strcpy(c.connectome, "x.h5");
  c.preset = preset;
  assert_int_equal(ff_config_finish(&c), 0);
  if (tau_m > 0) c.tau_m_ms = tau_m;
  if (tau_syn > 0) c.tau_syn_ms = tau_syn;
  assert_int_equal(ff_model_build(&c, &m), 0);
  return m;
}

/* Random123 kat_vectors: philox4x32 10 <ctr x4> <key x2> <result x4> */
static void test_philox_known_answers(void **state) {
  (void)state;
  uint32_t w[4];
  ff_rng4(0, 0, 0, 0, 0, w);
  assert_int_equal(w[0], 0x6627e8d5u);
  assert_int_equal(w[1], 0xe169c58du);
  assert_int_equal(w[2], 0xbc57ac4cu);
  assert_int_equal(w[3], 0x9b00dbd8u);
  ff_rng4(0xffffffffffffffffull, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, w);
  assert_int_equal(w[0], 0x408f276du);
  assert_int_equal(w[1], 0x41c83b0eu);
  assert_int_equal(w[2], 0xa20bc7c6u);
  assert_int_equal(w[3], 0x6d5451fdu);
  ff_rng4(0x299f31d0a4093822ull, 0x03707344u, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, w);
  assert_int_equal(w[0], 0xd16cfe09u);
  assert_int_equal(w[1], 0x94fdccebu);
  assert_int_equal(w[2], 0x5001e420u);
  assert_int_equal(w[3], 0x24126ea1u);
}

/* shiu: u(t) = (u0 - K) e^{-t/tm} + K e^{-t/ts}, K = g0 ts / (ts - tm); degenerate: (u0 + g0 t/tm) e^{-t/tm} */
static void test_shiu_matches_continuous_solution(void **state) {
  (void)state;
  const double taus[][2] = {{20, 5}, {10, 30}, {15, 15}};
  for (int k = 0; k < 3; ++k) {
    FfModel m = make(FF_PRESET_SHIU, taus[k][0], taus[k][1]);
    const double tm = taus[k][0], ts = taus[k][1], u0 = 3.25, g0 = 17.5;
    for (int32_t j = 0; j <= 3000; j += 7) {
      const double t = j * m.dt_ms;
      double u_exact;
      if (tm == ts) u_exact = (u0 + g0 * t / tm) * exp(-t / tm);
      else {
        const double K = g0 * ts / (ts - tm);
        u_exact = (u0 - K) * exp(-t / tm) + K * exp(-t / ts);
      }
      assert_close(ff_free_u(&m, u0, g0, j), u_exact, 1e-11 * (fabs(u0) + fabs(g0)));
      assert_close(ff_free_g(&m, g0, j), g0 * exp(-t / ts), 1e-12 * g0);
    }
    ff_model_destroy(&m);
  }
}

/* brainscale: g_j = Es g_{j-1}; u_j = Em u_{j-1} + (1 - Em) g_j, iterated explicitly. */
static void test_brainscale_matches_recursion(void **state) {
  (void)state;
  const double taus[][2] = {{20, 5}, {12, 12}};
  for (int k = 0; k < 2; ++k) {
    FfModel m = make(FF_PRESET_BRAINSCALE, taus[k][0], taus[k][1]);
    const double em = exp(-m.dt_ms / taus[k][0]), es = exp(-m.dt_ms / taus[k][1]);
    double u = -0.4, g = 0.9;
    for (int32_t j = 1; j <= 2000; ++j) {
      g = es * g;
      u = em * u + (1.0 - em) * g;
      assert_close(ff_free_u(&m, -0.4, 0.9, j), u, 1e-12);
    }
    ff_model_destroy(&m);
  }
}

static void test_state_is_rest_beyond_table(void **state) {
  (void)state;
  FfModel m = make(FF_PRESET_SHIU, 0, 0);
  assert_true(m.kmax > 20 * 10 * 40); /* at least 40 membrane time constants */
  assert_true(fabs(ff_free_u(&m, 50, 50, m.kmax)) < 1e-15);
  assert_true(ff_free_u(&m, 50, 50, m.kmax + 1) == 0.0);
  ff_model_destroy(&m);
}

/* The next spike step by brute force: the first j with u_j > u_th. */
static int32_t brute(const FfModel *m, double u, double g) {
  for (int32_t j = 1; j <= m->kmax; ++j)
    if (ff_free_u(m, u, g, j) > m->u_th) return j;
  return 0;
}

static void check_crossings(int preset, double tm, double ts) {
  FfModel m = make(preset, tm, ts);
  uint32_t w[4];
  int crossings = 0;
  for (uint32_t k = 0; k < 20000; ++k) {
    ff_rng4(42, 99, k, 0, 0, w);
    /* states around the threshold: u in [-2, 1.2] th, g in [-3, 3] th (mostly below) */
    const double u = m.u_th * (-2.0 + 3.2 * ff_u01(w[0]));
    double g = m.u_th * (-3.0 + 6.0 * ff_u01(w[1]));
    if (w[2] & 1) g *= 0.05 + ff_u01(w[3]); /* more near-threshold cases */
    const int32_t expect = brute(&m, u, g), got = ff_first_crossing(&m, u, g);
    if (expect != got) fail_msg("u=%.17g g=%.17g: brute force %d, ff_first_crossing %d", u, g, expect, got);
    crossings += expect > 0;
  }
  assert_true(crossings > 1000); /* the sample really exercises crossings */
  assert_true(crossings < 19000);
  ff_model_destroy(&m);
}

static void test_first_crossing_shiu(void **state) {
  (void)state;
  check_crossings(FF_PRESET_SHIU, 0, 0);
  check_crossings(FF_PRESET_SHIU, 10, 30);
  check_crossings(FF_PRESET_SHIU, 15, 15);
}

static void test_first_crossing_brainscale(void **state) {
  (void)state;
  check_crossings(FF_PRESET_BRAINSCALE, 0, 0);
  check_crossings(FF_PRESET_BRAINSCALE, 8, 8);
}

static void test_steps_follow_brian2_rounding(void **state) {
  (void)state;
  FfModel m = make(FF_PRESET_SHIU, 0, 0);
  assert_int_equal(m.delay_steps, 18);
  assert_int_equal(m.ref_steps, 22); /* timestep(2.2 ms, 0.1 ms) */
  assert_int_equal(m.ref_steps_driven, 0);
  ff_model_destroy(&m);
  m = make(FF_PRESET_BRAINSCALE, 0, 0);
  assert_int_equal(m.delay_steps, 9);
  assert_int_equal(m.ref_steps, 25);
  ff_model_destroy(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_philox_known_answers),
      cmocka_unit_test(test_shiu_matches_continuous_solution),
      cmocka_unit_test(test_brainscale_matches_recursion),
      cmocka_unit_test(test_state_is_rest_beyond_table),
      cmocka_unit_test(test_first_crossing_shiu),
      cmocka_unit_test(test_first_crossing_brainscale),
      cmocka_unit_test(test_steps_follow_brian2_rounding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
