/* Configuration: presets, overrides, and the error for every kind of bad key or value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/config.h"
#include "flyfit/error.h"
#include "testutil.h"

static char path[64];

static void write_ini(const char *text) {
  snprintf(path, sizeof path, "/tmp/flyfit-test-config.%d.ini", (int)getpid());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Loads text; expects failure with `code` and a message containing each of the NULL-ended parts. */
static void expect_load_error(const char *text, int code, ...) {
  FfConfig c;
  ff_config_init(&c);
  write_ini(text);
  int st = ff_config_load(&c, path);
  if (st == FF_OK) st = ff_config_finish(&c);
  unlink(path);
  if (st != code) fail_msg("status %d, expected %d; message: %s", st, code, ff_error_message());
  va_list ap;
  va_start(ap, code);
  for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
    if (strstr(ff_error_message(), part) == NULL) fail_msg("message \"%s\" lacks \"%s\"", ff_error_message(), part);
  va_end(ap);
}

static void test_presets_and_overrides(void **state) {
  (void)state;
  FfConfig c;
  ff_config_init(&c);
  write_ini("[data]\nconnectome = c.h5\n[run]\npreset = brainscale\n[model]\ntau_m_ms = 12\n");
  assert_int_equal(ff_config_load(&c, path), FF_OK);
  unlink(path);
  assert_int_equal(ff_config_set(&c, "model.v_th_mV=2.5"), FF_OK);
  assert_int_equal(ff_config_finish(&c), FF_OK);
  assert_close(c.dt_ms, 0.2, 0);          /* from the preset */
  assert_close(c.tau_m_ms, 12, 0);        /* from the file */
  assert_close(c.v_th_mV, 2.5, 0);        /* from --set */
  assert_close(c.w_syn_mV, 0.000825, 0);
  assert_int_equal(c.step_order, FF_ORDER_BRAINSCALE);
  assert_true(c.driven_refractory);

  ff_config_init(&c);
  strcpy(c.connectome, "c.h5");
  assert_int_equal(ff_config_finish(&c), FF_OK);
  assert_close(c.dt_ms, 0.1, 0);
  assert_close(c.v_rest_mV, -52, 0);
  assert_close(c.v_th_mV, -45, 0);
  assert_close(c.tau_ref_ms, 2.2, 0);
  assert_close(c.delay_ms, 1.8, 0);
  assert_close(c.w_syn_mV, 0.275, 0);
  assert_close(c.poisson_rate_hz, 150, 0);
  assert_close(c.poisson_weight_mV, 68.75, 0);
  assert_false(c.driven_refractory);
}

static void test_set_beats_file(void **state) {
  (void)state;
  FfConfig c;
  ff_config_init(&c);
  write_ini("[data]\nconnectome = c.h5\n[run]\nbatch = 4\n");
  assert_int_equal(ff_config_load(&c, path), FF_OK);
  unlink(path);
  assert_int_equal(ff_config_set(&c, "run.batch=7"), FF_OK);
  assert_int_equal(ff_config_finish(&c), FF_OK);
  assert_int_equal(c.batch, 7);
}

static void test_bad_keys_and_values(void **state) {
  (void)state;
  expect_load_error("[run]\nbach = 4\n", FF_ERR_INPUT, ":2:", "unknown key [run] bach", "did you mean [run] batch", NULL);
  expect_load_error("[simulaton]\nx = 1\n", FF_ERR_INPUT, ":2:", "unknown section [simulaton]", NULL);
  expect_load_error("[run]\nbatch = four\n", FF_ERR_INPUT, ":2:", "[run] batch", "not an integer", NULL);
  expect_load_error("[run]\nbatch = 0\n", FF_ERR_INPUT, ":2:", "[run] batch", "out of range", NULL);
  expect_load_error("[model]\ndt_ms = nan\n", FF_ERR_INPUT, ":2:", "[model] dt_ms", "finite", NULL);
  expect_load_error("[model]\ntau_m_ms = -3\n", FF_ERR_INPUT, "[model] tau_m_ms", "out of range", NULL);
  expect_load_error("[run]\npreset = brian\n", FF_ERR_INPUT, "[run] preset", "shiu|brainscale", NULL);
  expect_load_error("[output]\nspikes_txt = maybe\n", FF_ERR_INPUT, "[output] spikes_txt", "true or false", NULL);
  expect_load_error("[run]\nseed = 1\n\nseed = 2\n", FF_ERR_INPUT, ":4:", "set twice", "line 2", NULL);
  expect_load_error("[run]\nthis line has no equals sign\n", FF_ERR_INPUT, ":2:", "not an INI line", NULL);
  expect_load_error("[run]\nseed = 3\n", FF_ERR_INPUT, "[data] connectome is not set", NULL);
  expect_load_error("[data]\nconnectome = c.h5\n[model]\ndelay_ms = 1.85\n", FF_ERR_INPUT, "delay_ms", "multiple of dt", NULL);
  expect_load_error("[data]\nconnectome = c.h5\n[model]\nv_th_mV = -60\n", FF_ERR_INPUT, "v_th_mV", "fire at rest", NULL);
  FfConfig c;
  ff_config_init(&c);
  assert_int_equal(ff_config_load(&c, "/nonexistent/flyfit.ini"), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "/nonexistent/flyfit.ini"));
  assert_int_equal(ff_config_set(&c, "run.batch"), FF_ERR_USAGE);
  assert_int_equal(ff_config_set(&c, "run.bogus=1"), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "--set run.bogus=1"));
  assert_int_equal(ff_config_set(&c, "run.duration_ms=inf"), FF_ERR_INPUT);
}

/* The effective config, written out and read back, gives the same configuration. */
static void test_format_round_trip(void **state) {
  (void)state;
  FfConfig a, b;
  char *text, *text2;
  ff_config_init(&a);
  assert_int_equal(ff_config_set(&a, "data.connectome=brain.h5"), FF_OK);
  assert_int_equal(ff_config_set(&a, "run.preset=brainscale"), FF_OK);
  assert_int_equal(ff_config_set(&a, "model.tau_syn_ms=7.125"), FF_OK);
  assert_int_equal(ff_config_set(&a, "stimulus.poisson_neurons=1,2,5-9"), FF_OK);
  assert_int_equal(ff_config_finish(&a), FF_OK);
  assert_int_equal(ff_config_format(&a, &text), FF_OK);
  write_ini(text);
  ff_config_init(&b);
  assert_int_equal(ff_config_load(&b, path), FF_OK);
  assert_int_equal(ff_config_finish(&b), FF_OK);
  unlink(path);
  assert_int_equal(ff_config_format(&b, &text2), FF_OK);
  /* identical except for the sources column (file instead of preset/--set) and the header */
  assert_close(b.tau_syn_ms, 7.125, 0);
  assert_close(b.dt_ms, a.dt_ms, 0);
  assert_string_equal(b.poisson_neurons, a.poisson_neurons);
  assert_int_equal(b.step_order, a.step_order);
  assert_true(memcmp(&a.dt_ms, &b.dt_ms, offsetof(FfConfig, source) - offsetof(FfConfig, dt_ms)) == 0);
  free(text);
  free(text2);
}

static void test_help_lists_every_key(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ff_config_print_help(f, 0);
  fclose(f);
  const char *keys[] = {"connectome", "mode", "preset", "duration_ms", "batch", "seed", "threads", "poisson_neurons",
                        "poisson_rate_hz", "poisson_weight_mV", "silence", "spikes_file", "dir", "spikes",
                        "spikes_txt", "tau_ref_ms", "w_syn_mV"};
  for (size_t k = 0; k < sizeof keys / sizeof *keys; ++k)
    if (!strstr(buf, keys[k])) fail_msg("--help-config lacks %s", keys[k]);
  assert_non_null(strstr(buf, "preset 0.1 / 0.2"));
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_presets_and_overrides), cmocka_unit_test(test_set_beats_file),
      cmocka_unit_test(test_bad_keys_and_values), cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test(test_help_lists_every_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
