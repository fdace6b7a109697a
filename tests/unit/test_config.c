/* Configuration: presets, overrides, the error for every kind of bad key or value, and INI lines:
 * any length, list continuations, and inih's rules (checked against libinih itself on random files
 * of short lines). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/stimulus.h"
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

/* "0,1,...,n-1" of the indices from..from+n-1 (n*5 characters or so) */
static char *index_list(int from, int n) {
  char *s = malloc((size_t)n * 12 + 1);
  assert_non_null(s);
  size_t len = 0;
  for (int i = 0; i < n; ++i) len += (size_t)sprintf(s + len, i ? ",%d" : "%d", from + i);
  return s;
}

/* The ten lines that put the long one on line 11. */
static const char *TEN_LINES = "; a config with a long list\n[data]\nconnectome = c.h5\n[run]\nseed = 2\nbatch = 1\n\n"
                               "; the neurons to drive\n# (line 11 below)\n[stimulus]\n";

/* A line of several thousand characters (inih stops at 200) is read whole, and the lines after it
 * keep their numbers. */
static void test_long_line(void **state) {
  (void)state;
  char *list = index_list(0, 900), *text = malloc(strlen(list) + 512);
  assert_true(strlen(list) > 3000 && strlen(list) < FF_CONFIG_STR);
  sprintf(text, "%spoisson_neurons = %s\nsilence = 3\n", TEN_LINES, list);
  FfConfig c;
  ff_config_init(&c);
  write_ini(text);
  assert_int_equal(ff_config_load(&c, path), FF_OK);
  unlink(path);
  assert_string_equal(c.poisson_neurons, list);
  assert_string_equal(c.silence, "3");
  /* the neurons it names: 0..899, as written */
  int64_t *idx = NULL, n = 0;
  assert_int_equal(ff_neuron_list_parse(c.poisson_neurons, "test", 1000, NULL, &idx, &n), FF_OK);
  assert_int_equal(n, 900);
  for (int64_t i = 0; i < n; ++i) assert_int_equal(idx[i], i);
  free(idx);
  /* a bad line after the long one is named by its own number */
  sprintf(text, "%spoisson_neurons = %s\nthis line has no equals sign\n", TEN_LINES, list);
  expect_load_error(text, FF_ERR_INPUT, ":12:", "not an INI line", NULL);
  sprintf(text, "%spoisson_neurons = %s\nsilence = 1\nsilence = 2\n", TEN_LINES, list);
  expect_load_error(text, FF_ERR_INPUT, ":13:", "set twice", "first on line 12", NULL);
  free(text);
  free(list);
}

/* A value longer than a config string holds: the message names the file, the line, the length,
 * the limit and the fix. */
static void test_value_too_long(void **state) {
  (void)state;
  char *list = index_list(0, 1200), *text = malloc(strlen(list) + 512), len[32], at[32];
  assert_true(strlen(list) >= FF_CONFIG_STR);
  sprintf(text, "%spoisson_neurons = %s\n", TEN_LINES, list);
  snprintf(len, sizeof len, "%zu characters", strlen(list));
  snprintf(at, sizeof at, ".ini:11:");
  expect_load_error(text, FF_ERR_INPUT, "flyfit-test-config.", at, "[stimulus] poisson_neurons", len, "limit of 4095",
                    "poisson_neurons = @FILE", NULL);
  /* a long path is no list: no @FILE advice */
  sprintf(text, "[data]\nconnectome = /%s\n", list);
  expect_load_error(text, FF_ERR_INPUT, ":2:", "[data] connectome", "limit of 4095", NULL);
  FfConfig c;
  ff_config_init(&c);
  write_ini(text);
  assert_int_not_equal(ff_config_load(&c, path), FF_OK);
  unlink(path);
  assert_null(strstr(ff_error_message(), "@FILE"));
  free(text);
  free(list);
}

/* A list may go on over indented lines; the items are those of the one-line list. */
static void test_list_continuation(void **state) {
  (void)state;
  FfConfig c;
  ff_config_init(&c);
  write_ini("[data]\nconnectome = c.h5\n[stimulus]\npoisson_neurons = 1, 2, 3,\n   4-6 ; the next group\n\n"
            "; a comment between\n\t7,8\n  @/dev/null\nsilence = 9\n  10\n[output]\n  dir = o\n");
  assert_int_equal(ff_config_load(&c, path), FF_OK);
  unlink(path);
  int64_t *idx = NULL, n = 0;
  assert_int_equal(ff_neuron_list_parse(c.poisson_neurons, "test", 100, NULL, &idx, &n), FF_OK);
  const int64_t want[] = {1, 2, 3, 4, 5, 6, 7, 8};
  assert_int_equal(n, 8);
  for (int i = 0; i < 8; ++i) assert_int_equal(idx[i], want[i]);
  free(idx);
  assert_int_equal(ff_neuron_list_parse(c.silence, "test", 100, NULL, &idx, &n), FF_OK);
  assert_int_equal(n, 2);
  assert_int_equal(idx[0], 9);
  assert_int_equal(idx[1], 10);
  free(idx);
  assert_string_equal(c.out_dir, "o"); /* an indented first key of a section is a key */
  /* a key that is no list takes one line */
  expect_load_error("[data]\nconnectome = c.h5\n  more.h5\n", FF_ERR_INPUT, ":3:", "indented",
                    "[data] connectome of line 2", NULL);
  expect_load_error("[run]\nseed = 1\n  batch = 2\n", FF_ERR_INPUT, ":3:", "[run] seed of line 2", NULL);
}

/* ---- inih's rules, against libinih on random files of short lines ------------------------------ */

static uint64_t rng_state;
static unsigned rnd(unsigned n) { /* xorshift64*: a few bits of a fixed sequence, 0..n-1 */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (unsigned)((rng_state * 2685821657736338717ull) >> 33) % n;
}

static void rnd_text(char *out, unsigned max, const char *alphabet) {
  unsigned n = rnd(max + 1), a = (unsigned)strlen(alphabet);
  for (unsigned i = 0; i < n; ++i) out[i] = alphabet[rnd(a)];
  out[n] = '\0';
}

static const char *const BLANKS[] = {"", " ", "  ", "\t", " \t "};
#define PICK(arr) (arr)[rnd(sizeof(arr) / sizeof(arr)[0])]

/* the string keys (any value is valid), by section */
static const char *const STRING_KEYS[][6] = {
    {"data", "connectome", "activity", "mapping", "flywire_version", "neural_activity_id"},
    {"run", "resume", "devices", NULL},
    {"stimulus", "poisson_neurons", "silence", "spikes_file", NULL},
    {"output", "dir", "spikes", "state_neurons", NULL},
    {"predict", "round1_checkpoint", "round2_checkpoint", NULL},
    {"fit", "trainable", NULL},
};
enum { N_SECTIONS = sizeof STRING_KEYS / sizeof STRING_KEYS[0] };

/* A random INI file of lines under 200 characters: blanks, comments, sections (each key once), key
 * lines with '=' or ':', blanks and inline comments anywhere, values of any character; sometimes a
 * BOM, CRLF line ends, or a line that is not INI. */
static void random_ini(char *text) {
  char *p = text, value[80], comment[40];
  int used[N_SECTIONS][6] = {{0}};
  if (rnd(8) == 0) p += sprintf(p, "\xEF\xBB\xBF");
  const char *eol = rnd(6) == 0 ? "\r\n" : "\n";
  int sec = -1;
  for (int lines = 2 + (int)rnd(14), i = 0; i < lines; ++i) {
    unsigned kind = sec < 0 ? rnd(3) : rnd(10);
    rnd_text(comment, 30, "ab ;#=:[]\t");
    if (kind == 0) {
      p += sprintf(p, "%s", PICK(BLANKS));
    } else if (kind == 1) {
      p += sprintf(p, "%s%c%s", PICK(BLANKS), rnd(2) ? ';' : '#', comment);
    } else if (kind == 2 || kind == 3) {
      sec = (int)rnd(N_SECTIONS);
      p += sprintf(p, "[%s]%s", STRING_KEYS[sec][0], rnd(3) ? "" : (rnd(2) ? " ; x" : " trailing"));
    } else if (kind == 4 && rnd(6) == 0) {
      p += sprintf(p, rnd(2) ? "%s" : "[%s", rnd(2) ? "justwords" : "data");
    } else {
      int nk = 0;
      while (nk < 5 && STRING_KEYS[sec][nk + 1]) ++nk;
      int k = 1 + (int)rnd((unsigned)nk);
      if (used[sec][k]) continue;
      used[sec][k] = 1;
      rnd_text(value, 60, "ab/._-=:#;,@0123 \t");
      p += sprintf(p, "%s%s%c%s%s", STRING_KEYS[sec][k], PICK(BLANKS), rnd(4) ? '=' : ':', PICK(BLANKS), value);
      if (rnd(4) == 0) p += sprintf(p, "%s;%s", rnd(2) ? " " : "\t", comment);
    }
    p += sprintf(p, "%s", eol);
  }
  *p = '\0';
}

typedef struct {
  FfConfig *c;
  int failed;
} RefState;

static int ref_handler(void *user, const char *section, const char *name, const char *value) {
  RefState *r = user;
  char assignment[512];
  snprintf(assignment, sizeof assignment, "%s.%s=%s", section, name, value);
  if (ff_config_set(r->c, assignment) != FF_OK) r->failed = 1;
  return 1;
}

static void test_ini_rules_match_inih(void **state) {
  (void)state;
  static FfConfig a, b;
  static char text[8192];
  int agreed_ok = 0, agreed_error = 0;
  rng_state = 0x9E3779B97F4A7C15ull;
  for (int trial = 0; trial < 3000; ++trial) {
    random_ini(text);
    ff_config_init(&a);
    write_ini(text);
    int st = ff_config_load(&a, path);
    unlink(path);
    ff_config_init(&b);
    RefState r = {&b, 0};
    int rc = ini_parse_string(text, ref_handler, &r);
    assert_false(r.failed); /* every key of the file is a string key, once */
    if (rc == 0) {
      if (st != FF_OK) fail_msg("file %d: inih reads it, ff_config_load says: %s\n%s", trial, ff_error_message(), text);
      const size_t from = offsetof(FfConfig, connectome), to = offsetof(FfConfig, source);
      if (memcmp((char *)&a + from, (char *)&b + from, to - from) != 0)
        fail_msg("file %d: the values differ from inih's\n%s", trial, text);
      ++agreed_ok;
    } else {
      char at[32];
      snprintf(at, sizeof at, ":%d:", rc);
      if (st != FF_ERR_INPUT || !strstr(ff_error_message(), at) || !strstr(ff_error_message(), "not an INI line"))
        fail_msg("file %d: inih stops at line %d, ff_config_load says (%d) %s\n%s", trial, rc, st,
                 ff_error_message(), text);
      ++agreed_error;
    }
  }
  print_message("# %d files read alike, %d refused at the same line\n", agreed_ok, agreed_error);
  assert_true(agreed_ok > 1000 && agreed_error > 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_presets_and_overrides), cmocka_unit_test(test_set_beats_file),
      cmocka_unit_test(test_bad_keys_and_values), cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test(test_help_lists_every_key), cmocka_unit_test(test_long_line),
      cmocka_unit_test(test_value_too_long), cmocka_unit_test(test_list_continuation),
      cmocka_unit_test(test_ini_rules_match_inih),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
