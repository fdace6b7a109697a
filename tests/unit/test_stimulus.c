/* Neuron lists, the input-spike file, and neuropil rates, against hand-worked answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"
#include "flyfit/results.h"
#include "flyfit/stimulus.h"
#include "testutil.h"

static const char *tmpfile_with(const char *name, const char *text) {
  static char path[128];
  snprintf(path, sizeof path, "/tmp/flyfit-test-%s.%d", name, (int)getpid());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_lists(void **state) {
  (void)state;
  int64_t *v, n;
  const int64_t roots[10] = {720575940600000000, 720575940600000011, 720575940600000022, 720575940600000033,
                             720575940600000044, 720575940600000055, 720575940600000066, 720575940600000077,
                             720575940600000088, 720575940600000099};
  assert_int_equal(ff_neuron_list_parse(" 7, 1,3-5 ,3", "k", 10, roots, &v, &n), FF_OK);
  assert_int_equal(n, 5);
  const int64_t want[5] = {1, 3, 4, 5, 7};
  assert_memory_equal(v, want, sizeof want);
  free(v);
  assert_int_equal(ff_neuron_list_parse("", "k", 10, roots, &v, &n), FF_OK);
  assert_int_equal(n, 0);
  free(v);

  const char *f = tmpfile_with("list", "# sugar neurons\n9\n720575940600000033\n\n720575940600000000  # the first\n");
  char spec[160];
  snprintf(spec, sizeof spec, "@%s, 2", f);
  assert_int_equal(ff_neuron_list_parse(spec, "k", 10, roots, &v, &n), FF_OK);
  const int64_t want2[4] = {0, 2, 3, 9};
  assert_int_equal(n, 4);
  assert_memory_equal(v, want2, sizeof want2);
  free(v);

  assert_int_equal(ff_neuron_list_parse("1,10", "[stimulus] silence", 10, roots, &v, &n), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "[stimulus] silence"));
  assert_non_null(strstr(ff_error_message(), "out of range 0..9"));
  assert_int_equal(ff_neuron_list_parse("1,x", "k", 10, roots, &v, &n), FF_ERR_INPUT);
  assert_int_equal(ff_neuron_list_parse("5-2", "k", 10, roots, &v, &n), FF_ERR_INPUT);
  f = tmpfile_with("list", "1\n720575940600000012\n");
  snprintf(spec, sizeof spec, "@%s", f);
  assert_int_equal(ff_neuron_list_parse(spec, "k", 10, roots, &v, &n), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), ":2:"));
  assert_non_null(strstr(ff_error_message(), "nor a root id"));
  unlink(f);
  assert_int_equal(ff_neuron_list_parse("@/nonexistent/list.txt", "k", 10, roots, &v, &n), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "/nonexistent/list.txt"));
}

static void test_spikes_file(void **state) {
  (void)state;
  FfConfig cfg;
  FfModel m = {0};
  FfStimulus s;
  ff_config_init(&cfg);
  m.dt_ms = 0.1;
  /* exact multiples of dt fall in their own step (Brian2's timestep rule): 0.3 ms is step 3 */
  const char *f = tmpfile_with("spk", "# neuron time\n4 0.3\n2 0.3\n1 0.05\n3 99.999\n4 100.0\n\n0 0\n");
  snprintf(cfg.spikes_file, sizeof cfg.spikes_file, "%s", f);
  strcpy(cfg.spikes, "none");
  assert_int_equal(ff_stimulus_load(&cfg, &m, 5, NULL, 1000, &s), FF_OK);
  assert_int_equal(s.n_file, 5);
  const int32_t steps[5] = {0, 0, 3, 3, 999};
  const int64_t gids[5] = {0, 1, 2, 4, 3};
  assert_memory_equal(s.file_step, steps, sizeof steps);
  assert_memory_equal(s.file_gid, gids, sizeof gids);
  assert_int_equal(s.n_file_late, 1); /* 100.0 ms is step 1000, after the end */
  assert_false(s.record_all);
  assert_int_equal(s.n_record, 0);
  ff_stimulus_destroy(&s);

  const char *bad[][2] = {{"1 0.5\n2 abc\n", ":2:"}, {"1 0.5\n7 1.0\n", "out of range"},
                          {"1 -0.5\n", "not a finite time"}, {"1\n", "expected 'neuron_index time_ms'"},
                          {"1 2 3\n", "expected"}};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
    f = tmpfile_with("spk", bad[k][0]);
    snprintf(cfg.spikes_file, sizeof cfg.spikes_file, "%s", f);
    assert_int_equal(ff_stimulus_load(&cfg, &m, 5, NULL, 1000, &s), FF_ERR_INPUT);
    if (!strstr(ff_error_message(), bad[k][1]) || !strstr(ff_error_message(), f))
      fail_msg("case %zu: message '%s'", k, ff_error_message());
    ff_stimulus_destroy(&s);
  }
  unlink(f);
}

/* 3 neurons, 2 neuropils. Neuron 0 makes 2 synapses in P0 and 6 in P1, neuron 1 makes 2 in P0,
 * neuron 2 none. Counts over 0.5 s: trial 0 (10, 4, 7), trial 1 (0, 1, 0).
 * P0: (2*10 + 2*4) / 4 / 0.5 = 14 Hz; P1: 6*10/6/0.5 = 20 Hz; trial 1: P0 2*1/4/0.5 = 1, P1 0.
 * The same sums come out when the neurons are split over two "ranks", {0} and {1, 2}. */
static void test_neuropil_rates(void **state) {
  (void)state;
  const int64_t row[4] = {0, 2, 3, 3};
  const int16_t id[3] = {0, 1, 0};
  const int32_t syn[3] = {2, 6, 2};
  const int32_t count[6] = {10, 4, 7, 0, 1, 0};
  int64_t sums[2 + 4] = {0}, split[2 + 4] = {0};
  double rate[4];
  ff_neuropil_sums(3, 2, row, id, syn, 2, count, sums, sums + 2);
  ff_neuropil_rates(2, 2, sums, sums + 2, 0.5, rate);
  assert_close(rate[0], 14, 1e-12);
  assert_close(rate[1], 20, 1e-12);
  assert_close(rate[2], 1, 1e-12);
  assert_close(rate[3], 0, 0);
  /* rank A holds neuron 0, rank B neurons 1 and 2 (rows rebased, counts laid out [trial x local]) */
  const int32_t count_a[2] = {10, 0}, count_b[4] = {4, 7, 1, 0};
  const int64_t row_a[2] = {0, 2}, row_b[3] = {0, 1, 1};
  ff_neuropil_sums(1, 2, row_a, id, syn, 2, count_a, split, split + 2);
  ff_neuropil_sums(2, 2, row_b, id + 2, syn + 2, 2, count_b, split, split + 2);
  assert_memory_equal(sums, split, sizeof sums);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_lists), cmocka_unit_test(test_spikes_file),
                                     cmocka_unit_test(test_neuropil_rates)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
