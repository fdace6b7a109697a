/* The .npz reader on archives that numpy itself wrote (tests/tools/mknpz.py makes them in a
 * temporary directory): every dtype, C and Fortran order, stored and deflated members, version 1,
 * 2 and 3 headers, names; and every kind of bad archive, each with its own message. The expected
 * values come from the formulas in mknpz.py, not from the reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/npz.h"

static char dir[64];
static int have_numpy;

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/flyfit-npz.XXXXXX");
  if (mkdtemp(dir) == NULL) return -1;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/tools/mknpz.py %s", dir);
  have_numpy = system(cmd) == 0;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static FfNpz *open_ok(const char *name) {
  if (!have_numpy) skip();
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FfNpz *z = NULL;
  if (ff_npz_open(path, &z) != FF_OK) fail_msg("opening %s: %s", path, ff_error_message());
  return z;
}

/* The call must fail with FF_ERR_INPUT and a message holding every one of the fragments. */
#define expect_msg(status, frag1, frag2) expect_msg_((status), (frag1), (frag2), __LINE__)
static void expect_msg_(int status, const char *frag1, const char *frag2, int line) {
  const char *m = ff_error_message();
  if (status != FF_ERR_INPUT) fail_msg("line %d: status %d, expected %d (message \"%s\")", line, status, FF_ERR_INPUT, m);
  if (!strstr(m, frag1) || (frag2 && !strstr(m, frag2)))
    fail_msg("line %d: message \"%s\" lacks \"%s\"%s%s", line, m, frag1, frag2 ? " or " : "", frag2 ? frag2 : "");
}

static void test_float64_stored(void **state) {
  (void)state;
  FfNpz *z = open_ok("f64.npz");
  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  assert_int_equal(ff_npz_read_f64(z, "a", &v, &nd, dims), FF_OK);
  assert_int_equal(nd, 2);
  assert_int_equal(dims[0], 3);
  assert_int_equal(dims[1], 4);
  for (int k = 0; k < 12; ++k) assert_true(v[k] == 1.5 * k - 2);
  free(v);
  assert_int_equal(ff_npz_read_f64(z, "scalar", &v, &nd, dims), FF_OK);
  assert_int_equal(nd, 0);
  assert_true(v[0] == 7.25);
  free(v);
  FfNpyHeader h;
  assert_int_equal(ff_npz_header(z, "a", &h), FF_OK);
  assert_int_equal(h.major, 1);
  assert_string_equal(h.descr, "<f8");
  assert_int_equal(h.fortran_order, 0);
  ff_npz_close(&z);
  assert_null(z);
}

static void test_float32_deflated(void **state) {
  (void)state;
  FfNpz *z = open_ok("f32.npz");
  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  assert_int_equal(ff_npz_read_f64(z, "v", &v, &nd, dims), FF_OK);
  assert_int_equal(nd, 2);
  assert_int_equal(dims[0], 2);
  assert_int_equal(dims[1], 5);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j) assert_true(v[5 * i + j] == (double)(float)((i + 1.0) / (j + 1.0)));
  free(v);
  ff_npz_close(&z);
}

static void test_integers_and_bool(void **state) {
  (void)state;
  FfNpz *z = open_ok("ints.npz");
  const char *sgn[] = {"i1", "i2", "i4", "i8"}, *uns[] = {"u1", "u2", "u4", "u8"};
  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  for (int k = 0; k < 4; ++k) {
    assert_int_equal(ff_npz_read_f64(z, sgn[k], &v, &nd, dims), FF_OK);
    assert_int_equal(dims[0], 3);
    assert_true(v[0] == -3 && v[1] == 0 && v[2] == 5);
    free(v);
    assert_int_equal(ff_npz_read_f64(z, uns[k], &v, &nd, dims), FF_OK);
    assert_true(v[0] == 0 && v[1] == 1 && v[2] == 200);
    free(v);
  }
  assert_int_equal(ff_npz_read_f64(z, "b1", &v, &nd, dims), FF_OK);
  assert_true(v[0] == 1 && v[1] == 0 && v[2] == 1);
  free(v);
  ff_npz_close(&z);
}

static void test_fortran_order(void **state) {
  (void)state;
  FfNpz *z = open_ok("fortran.npz");
  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  FfNpyHeader h;
  assert_int_equal(ff_npz_header(z, "t", &h), FF_OK);
  assert_int_equal(h.fortran_order, 1); /* numpy did store it column-major */
  assert_int_equal(ff_npz_read_f64(z, "t", &v, &nd, dims), FF_OK);
  assert_int_equal(nd, 3);
  assert_true(dims[0] == 2 && dims[1] == 3 && dims[2] == 4);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) assert_true(v[(i * 3 + j) * 4 + k] == 100 * i + 10 * j + k);
  free(v);
  assert_int_equal(ff_npz_read_f64(z, "m", &v, &nd, dims), FF_OK);
  assert_true(nd == 2 && dims[0] == 3 && dims[1] == 2);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) assert_true(v[i * 2 + j] == 10 * i + j);
  free(v);
  ff_npz_close(&z);
}

static void test_names(void **state) {
  (void)state;
  FfNpz *z = open_ok("names.npz");
  char **s;
  int64_t n;
  assert_int_equal(ff_npz_read_strings(z, "u", &s, &n), FF_OK);
  assert_int_equal(n, 5);
  assert_string_equal(s[0], "bg");
  assert_string_equal(s[1], "AL_R");
  assert_string_equal(s[2], "MB_CA_L");
  assert_string_equal(s[3], "\xc3\xbcn\xc3\xaf\xe2\x82\xac\xf0\x9d\x84\x9e"); /* ünï€ and U+1D11E */
  assert_string_equal(s[4], "");
  assert_null(s[5]);
  ff_npz_free_strings(&s, n);
  assert_null(s);
  assert_int_equal(ff_npz_read_strings(z, "s", &s, &n), FF_OK);
  assert_int_equal(n, 2);
  assert_string_equal(s[0], "bg");
  assert_string_equal(s[1], "LH_L");
  ff_npz_free_strings(&s, n);
  /* each reader refuses the other kind */
  expect_msg(ff_npz_read_strings(z, "n", &s, &n), "member 'n' holds numbers ('<f8'), not strings", NULL);
  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  expect_msg(ff_npz_read_f64(z, "u", &v, &nd, dims), "member 'u' holds strings ('<U", "not numbers");
  assert_null(v);
  /* member list, in archive order, without ".npy" */
  assert_int_equal(ff_npz_list(z, &s, &n), FF_OK);
  assert_int_equal(n, 3);
  assert_string_equal(s[0], "u");
  assert_string_equal(s[1], "s");
  assert_string_equal(s[2], "n");
  ff_npz_free_strings(&s, n);
  assert_true(ff_npz_has(z, "u"));
  assert_true(ff_npz_has(z, "u.npy"));
  assert_false(ff_npz_has(z, "traces"));
  ff_npz_close(&z);
}

static void test_header_versions(void **state) {
  (void)state;
  FfNpz *z = open_ok("v2.npz");
  FfNpyHeader h;
  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  assert_int_equal(ff_npz_header(z, "a", &h), FF_OK);
  assert_int_equal(h.major, 2);
  assert_int_equal(h.data_offset % 64, 0); /* numpy aligns the data; our offset must agree */
  assert_int_equal(ff_npz_read_f64(z, "a", &v, &nd, dims), FF_OK);
  assert_true(nd == 2 && dims[0] == 3 && dims[1] == 4);
  for (int k = 0; k < 12; ++k) assert_true(v[k] == 1.5 * k - 2);
  free(v);
  assert_int_equal(ff_npz_header(z, "names", &h), FF_OK);
  assert_int_equal(h.major, 3);
  char **s;
  int64_t n;
  assert_int_equal(ff_npz_read_strings(z, "names", &s, &n), FF_OK);
  assert_int_equal(n, 2);
  assert_string_equal(s[0], "x");
  assert_string_equal(s[1], "yz");
  ff_npz_free_strings(&s, n);
  ff_npz_close(&z);
  /* keys in another order, double quotes, Python 2 longs, a trailing comma */
  z = open_ok("spelled.npz");
  assert_int_equal(ff_npz_read_f64(z, "a", &v, &nd, dims), FF_OK);
  assert_true(nd == 2 && dims[0] == 2 && dims[1] == 3);
  for (int k = 0; k < 6; ++k) assert_true(v[k] == k + 1);
  free(v);
  ff_npz_close(&z);
}

/* The header parser on its own, on byte strings written here. */
static void test_header_parser(void **state) {
  (void)state;
  FfNpyHeader h;
  unsigned char buf[128];
  const char *text = "{'descr': '|u1', 'fortran_order': True, 'shape': (), }\n";
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (unsigned char)strlen(text);
  buf[9] = 0;
  memcpy(buf + 10, text, strlen(text));
  assert_int_equal(ff_npy_parse_header(buf, 10 + strlen(text), "t", &h), FF_OK);
  assert_int_equal(h.ndim, 0);
  assert_int_equal(h.count, 1);
  assert_int_equal(h.kind, FF_NPY_UINT);
  assert_int_equal(h.itemsize, 1);
  assert_int_equal(h.fortran_order, 1);
  assert_int_equal(h.data_offset, 10 + strlen(text));
  expect_msg(ff_npy_parse_header(buf, 20, "t", &h), "t: the .npy header is truncated", NULL);
  expect_msg(ff_npy_parse_header((const unsigned char *)"PK\3\4abcdefgh", 12, "t", &h), "not a .npy array", NULL);
}

static void test_bad_archives(void **state) {
  (void)state;
  if (!have_numpy) skip();
  char path[128];
  FfNpz *z;
  snprintf(path, sizeof path, "%s/truncated.npz", dir);
  expect_msg(ff_npz_open(path, &z), "truncated.npz' is a damaged or truncated .npz archive", NULL);
  assert_null(z);
  snprintf(path, sizeof path, "%s/text.npz", dir);
  expect_msg(ff_npz_open(path, &z), "text.npz' is not an .npz archive (not a zip file", NULL);
  snprintf(path, sizeof path, "%s/bare.npz", dir);
  expect_msg(ff_npz_open(path, &z), "bare.npz' is a single .npy array, not an .npz archive", NULL);
  snprintf(path, sizeof path, "%s/absent.npz", dir);
  expect_msg(ff_npz_open(path, &z), "absent.npz': No such file or directory", NULL);
  expect_msg(ff_npz_open(dir, &z), "is not a regular file", NULL);

  double *v;
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  z = open_ok("damaged.npz"); /* the directory is intact, the deflated data is not */
  expect_msg(ff_npz_read_f64(z, "a", &v, &nd, dims), "member 'a': reading failed", "the archive is damaged");
  ff_npz_close(&z);

  z = open_ok("f64.npz");
  expect_msg(ff_npz_read_f64(z, "traces", &v, &nd, dims), "f64.npz' has no member 'traces' (it holds 'a', 'scalar')",
             NULL);
  ff_npz_close(&z);

  char **s;
  int64_t n;
  z = open_ok("pickled.npz");
  expect_msg(ff_npz_read_strings(z, "areas", &s, &n), "member 'areas' is a pickled object array",
             "save region names as a fixed-width string array (np.array(names, dtype=str))");
  expect_msg(ff_npz_read_f64(z, "areas", &v, &nd, dims), "member 'areas' is a pickled object array", NULL);
  ff_npz_close(&z);

  z = open_ok("bigendian.npz");
  expect_msg(ff_npz_read_f64(z, "a", &v, &nd, dims), "member 'a': the array is stored big-endian ('>f8')",
             "newbyteorder('<')");
  expect_msg(ff_npz_read_strings(z, "n", &s, &n), "member 'n': the array is stored big-endian ('>U2')", NULL);
  ff_npz_close(&z);

  z = open_ok("other.npz");
  expect_msg(ff_npz_read_f64(z, "c", &v, &nd, dims), "member 'c': dtype '<c16'", "is not one flyfit reads");
  expect_msg(ff_npz_read_f64(z, "r", &v, &nd, dims), "member 'r': a structured array", NULL);
  expect_msg(ff_npz_read_f64(z, "h", &v, &nd, dims), "member 'h': dtype '<f2' has an element size", NULL);
  ff_npz_close(&z);

  z = open_ok("bad.npz");
  expect_msg(ff_npz_read_f64(z, "short", &v, &nd, dims), "member 'short': holds 88 bytes of data but its header "
             "describes 96 (12 values of '<f8'); the member is truncated", NULL);
  expect_msg(ff_npz_read_f64(z, "long", &v, &nd, dims), "member 'long': holds 104 bytes", "not a plain .npy array");
  expect_msg(ff_npz_read_f64(z, "syntax", &v, &nd, dims), "member 'syntax': the .npy header is not a valid dict",
             "expected ',' or '}'");
  expect_msg(ff_npz_read_f64(z, "nokey", &v, &nd, dims), "member 'nokey': the .npy header lacks 'fortran_order'", NULL);
  expect_msg(ff_npz_read_f64(z, "extra", &v, &nd, dims), "member 'extra': the .npy header has the unexpected key 'x'",
             NULL);
  expect_msg(ff_npz_read_f64(z, "negshape", &v, &nd, dims), "shape in the .npy header is not a tuple of non-negative",
             NULL);
  expect_msg(ff_npz_read_f64(z, "version", &v, &nd, dims), ".npy format version 4.0 is not one flyfit reads", NULL);
  expect_msg(ff_npz_read_f64(z, "notnpy", &v, &nd, dims), "member 'notnpy': not a .npy array", NULL);
  expect_msg(ff_npz_read_strings(z, "names2d", &s, &n), "member 'names2d' has 2 dimensions; expected a 1-D array", NULL);
  ff_npz_close(&z);
  ff_npz_close(&z); /* NULL allowed */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_float64_stored),  cmocka_unit_test(test_float32_deflated),
      cmocka_unit_test(test_integers_and_bool), cmocka_unit_test(test_fortran_order),
      cmocka_unit_test(test_names),           cmocka_unit_test(test_header_versions),
      cmocka_unit_test(test_header_parser),   cmocka_unit_test(test_bad_archives),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
