/* The HDF5 helpers (src/io/h5.c): what ff_h5_write writes, the HDF5 library reads back as written
 * (and the other way round); partial, converted and whole reads; the temporary-name protocol; the
 * refusal of a wrong shape, length, type or a missing dataset, attribute or file, each message
 * naming the file and the object; parallel rows written by every rank and read by another. Runs
 * on any number of ranks (testmpi.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "testmpi.h"

static char path[512];

static void expect_message(int st, int code, const char *a, const char *b) {
  if (st != code) fail_msg("status %d, expected %d; message: %s", st, code, ff_error_message());
  if (a && !strstr(ff_error_message(), a)) fail_msg("message \"%s\" lacks \"%s\"", ff_error_message(), a);
  if (b && !strstr(ff_error_message(), b)) fail_msg("message \"%s\" lacks \"%s\"", ff_error_message(), b);
}

/* A raw HDF5 read of a whole dataset (the library itself, as the reference). */
static void raw_read(const char *file, const char *dset, hid_t type, void *buf) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  assert_true(d >= 0);
  assert_true(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  H5Dclose(d);
  H5Fclose(f);
}

static const int32_t I32[7] = {-3, 0, 1, 2147483647, -2147483647 - 1, 42, 7};
static const double F64[3][4] = {{0.5, -1e-300, 1e300, 3}, {-0.0, 1.0 / 3, 2, 2.5}, {6, 7, 8, 9}};
static const int64_t I64[2][2][3] = {{{1, 2, 3}, {4, 5, 6}}, {{-7, 8, INT64_MAX}, {INT64_MIN, 0, 1}}};

/* The body of the atomic write: everything the round trip reads back, through ff_h5_*. */
static int write_body(hid_t f, void *ctx) {
  (void)ctx;
  assert_int_not_equal(access(path, F_OK), 0); /* nothing under the final name until the rename */
  const int64_t d1 = 7, d2[2] = {3, 4}, d3[3] = {2, 2, 3};
  assert_int_equal(ff_h5_write(f, "/a/b/i32", H5T_NATIVE_INT32, 1, &d1, I32), FF_OK);
  assert_int_equal(ff_h5_write(f, "/f64", H5T_NATIVE_DOUBLE, 2, d2, F64), FF_OK);
  assert_int_equal(ff_h5_write(f, "/i64", H5T_NATIVE_INT64, 3, d3, I64), FF_OK);
  const char *names[] = {"AL_L", "", "a name with spaces and a longer tail"};
  assert_int_equal(ff_h5_write_strings(f, "/names", names, 3), FF_OK);
  assert_int_equal(ff_h5_write_attr_string(f, "release", "783"), FF_OK);
  assert_int_equal(ff_h5_write_attr_double(f, "dt_ms", 0.1), FF_OK);
  assert_int_equal(ff_h5_write_attr_int(f, "ranks", -5), FF_OK);
  /* an attribute of two numbers, written with the library: no scalar */
  const double two[2] = {1, 2};
  hsize_t n2 = 2;
  hid_t sp = H5Screate_simple(1, &n2, NULL);
  hid_t a = H5Acreate2(f, "pair", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, two) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
  return FF_OK;
}

/* How many entries of PATH's directory start with its file name (the file and any temporary). */
static int files_named_like(const char *p) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s", p);
  char *slash = strrchr(dir, '/');
  const char *base = slash ? strrchr(p, '/') + 1 : p;
  if (slash) *slash = '\0';
  DIR *d = opendir(slash ? dir : ".");
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d)) != NULL;) n += strncmp(e->d_name, base, strlen(base)) == 0;
  if (d) closedir(d);
  return n;
}

/* rank 0 writes PATH with ff_h5_*; the others wait */
static void write_file(void) {
  if (tm_rank == 0) {
    assert_int_equal(ff_h5_write_atomic(path, write_body, NULL), FF_OK);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(files_named_like(path), 1); /* no temporary left beside it */
  }
  assert_int_equal(FF_MPI(MPI_Barrier(MPI_COMM_WORLD)), FF_OK);
}

static int failing_body(hid_t f, void *ctx) {
  (void)ctx;
  const int64_t d1 = 7;
  assert_int_equal(ff_h5_write(f, "/x", H5T_NATIVE_INT32, 1, &d1, I32), FF_OK);
  return FF_ERROR(FF_ERR_INPUT, "the body refused");
}

static void test_round_trip(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-h5", "h5");
  write_file();
  /* read by the HDF5 library itself */
  int32_t i32[7];
  double f64[3][4];
  int64_t i64[2][2][3];
  raw_read(path, "/a/b/i32", H5T_NATIVE_INT32, i32);
  raw_read(path, "/f64", H5T_NATIVE_DOUBLE, f64);
  raw_read(path, "/i64", H5T_NATIVE_INT64, i64);
  assert_memory_equal(i32, I32, sizeof I32);
  assert_memory_equal(f64, F64, sizeof F64);
  assert_memory_equal(i64, I64, sizeof I64);
  /* and by the helpers */
  hid_t f;
  assert_int_equal(ff_h5_open(path, H5P_DEFAULT, &f), FF_OK);
  assert_true(ff_h5_exists(f, "/a/b/i32") && ff_h5_exists(f, "/a/b") && !ff_h5_exists(f, "/a/c") && !ff_h5_exists(f, "/x/y"));
  int64_t len, dims[3];
  assert_int_equal(ff_h5_len(f, path, "/a/b/i32", &len), FF_OK);
  assert_int_equal(len, 7);
  assert_int_equal(ff_h5_shape(f, path, "/i64", 3, dims), FF_OK);
  assert_true(dims[0] == 2 && dims[1] == 2 && dims[2] == 3);
  int32_t part[3];
  assert_int_equal(ff_h5_read(f, path, "/a/b/i32", H5T_NATIVE_INT32, 2, 3, part), FF_OK);
  assert_memory_equal(part, I32 + 2, sizeof part);
  double conv[7]; /* converted by HDF5 on the way: int32 to double */
  assert_int_equal(ff_h5_read(f, path, "/a/b/i32", H5T_NATIVE_DOUBLE, 0, 7, conv), FF_OK);
  for (int k = 0; k < 7; ++k) assert_true(conv[k] == (double)I32[k]);
  int32_t *all = NULL;
  assert_int_equal(ff_h5_read_all(f, path, "/a/b/i32", H5T_NATIVE_INT32, 7, (void **)&all, &len), FF_OK);
  assert_int_equal(len, 7);
  assert_memory_equal(all, I32, sizeof I32);
  free(all);
  char **names = NULL;
  int64_t nn = 0;
  assert_int_equal(ff_h5_read_strings(f, path, "/names", &names, &nn), FF_OK);
  assert_int_equal(nn, 3);
  assert_string_equal(names[0], "AL_L");
  assert_string_equal(names[1], "");
  assert_string_equal(names[2], "a name with spaces and a longer tail");
  ff_h5_free_strings(&names, nn);
  assert_null(names);
  char s[32];
  double dv;
  int64_t iv;
  assert_int_equal(ff_h5_read_attr_string(f, path, "release", s, sizeof s), FF_OK);
  assert_string_equal(s, "783");
  assert_int_equal(ff_h5_read_attr_double(f, path, "dt_ms", &dv), FF_OK);
  assert_true(dv == 0.1);
  assert_int_equal(ff_h5_read_attr_int(f, path, "ranks", &iv), FF_OK);
  assert_int_equal(iv, -5);
  H5Fclose(f);
  assert_int_equal(FF_MPI(MPI_Barrier(MPI_COMM_WORLD)), FF_OK);
  if (tm_rank == 0) unlink(path);
}

static void test_refusals(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-h5-bad", "h5");
  write_file();
  hid_t f;
  int64_t len, dims[3];
  double buf[16];
  assert_int_equal(ff_h5_open(path, H5P_DEFAULT, &f), FF_OK);
  expect_message(ff_h5_len(f, path, "/missing", &len), FF_ERR_INPUT, path, "dataset /missing is missing");
  expect_message(ff_h5_read(f, path, "/nope/x", H5T_NATIVE_DOUBLE, 0, 1, buf), FF_ERR_INPUT, path, "/nope/x is missing");
  expect_message(ff_h5_len(f, path, "/f64", &len), FF_ERR_INPUT, path, "/f64 has 2 dimension(s), expected 1");
  expect_message(ff_h5_shape(f, path, "/f64", 3, dims), FF_ERR_INPUT, path, "expected 3");
  expect_message(ff_h5_read(f, path, "/a/b/i32", H5T_NATIVE_DOUBLE, 5, 3, buf), FF_ERR_INPUT, "/a/b/i32",
                 "has 7 elements, cannot read [5, 8)");
  void *all = NULL;
  expect_message(ff_h5_read_all(f, path, "/a/b/i32", H5T_NATIVE_INT32, 8, &all, &len), FF_ERR_INPUT, "/a/b/i32",
                 "has 7 elements, expected 8");
  assert_null(all);
  char **names = NULL;
  int64_t nn = 0;
  expect_message(ff_h5_read_strings(f, path, "/a/b/i32", &names, &nn), FF_ERR_INPUT, "/a/b/i32", "does not hold strings");
  /* numbers read into strings and strings into numbers: HDF5 cannot convert them */
  expect_message(ff_h5_read(f, path, "/names", H5T_NATIVE_DOUBLE, 0, 1, buf), FF_ERR_INPUT, path, "/names");
  char s[8];
  double dv;
  int64_t iv;
  expect_message(ff_h5_read_attr_double(f, path, "absent", &dv), FF_ERR_INPUT, path, "attribute 'absent' is missing");
  expect_message(ff_h5_read_attr_double(f, path, "pair", &dv), FF_ERR_INPUT, "'pair'", "not a single number");
  expect_message(ff_h5_read_attr_int(f, path, "release", &iv), FF_ERR_INPUT, "'release'", "not a single number");
  expect_message(ff_h5_read_attr_string(f, path, "dt_ms", s, sizeof s), FF_ERR_INPUT, "'dt_ms'", "string");
  H5Fclose(f);
  /* files: missing, not HDF5 */
  char other[600];
  snprintf(other, sizeof other, "%s.%d.txt", path, tm_rank);
  expect_message(ff_h5_open(other, H5P_DEFAULT, &f), FF_ERR_INPUT, other, NULL);
  FILE *t = fopen(other, "w");
  assert_non_null(t);
  fputs("this is no HDF5 file\n", t);
  fclose(t);
  expect_message(ff_h5_open(other, H5P_DEFAULT, &f), FF_ERR_INPUT, other, "not a readable HDF5 file");
  unlink(other);
  /* a failing body leaves nothing behind, and its status and message come back */
  snprintf(other, sizeof other, "%s.%d.abandoned.h5", path, tm_rank);
  expect_message(ff_h5_write_atomic(other, failing_body, NULL), FF_ERR_INPUT, "the body refused", NULL);
  assert_int_equal(files_named_like(other), 0);
  assert_int_equal(FF_MPI(MPI_Barrier(MPI_COMM_WORLD)), FF_OK);
  if (tm_rank == 0) unlink(path);
}

typedef struct {
  const int64_t *dims2, *dims1;
  int64_t row0, mine;
  const double *v;
  const int64_t *ids;
  int K;
} RowsCtx;

/* Every rank's rows, collectively; the same status on every rank (the writes are collective). */
static int rows_body(hid_t f, void *ctx) {
  const RowsCtx *c = ctx;
  int st = ff_h5_write_rows(f, "/grid/v", H5T_NATIVE_DOUBLE, 2, c->dims2, c->row0, c->mine, c->v);
  FF_CALL(st, ff_h5_write_rows(f, "/grid/id", H5T_NATIVE_INT64, 1, c->dims1, c->row0, c->mine, c->ids));
  FF_CALL(st, ff_h5_write_attr_int(f, "ranks", c->K)); /* every rank, the same value */
  return st;
}

/* Every rank writes its own rows (rank r: 1 + r rows; the last rank none when there are several),
 * rank 0 checks the whole with the library, and every rank reads the rows of the next rank. */
static void test_parallel_rows(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-h5-par", "h5");
  const int K = tm_size;
  int64_t *row0 = calloc((size_t)K + 1, sizeof *row0);
  for (int r = 0; r < K; ++r) row0[r + 1] = row0[r] + (K > 1 && r == K - 1 ? 0 : 1 + r);
  const int64_t N = row0[K], mine = row0[tm_rank + 1] - row0[tm_rank];
  double *v = malloc((size_t)(2 * (mine + 1)) * sizeof *v), *want = malloc((size_t)(2 * N + 1) * sizeof *want);
  int64_t *ids = malloc((size_t)(mine + 1) * sizeof *ids);
  for (int64_t i = 0; i < N; ++i) want[2 * i] = 10.0 * (double)i + 0.25, want[2 * i + 1] = -(double)i / 7;
  for (int64_t i = 0; i < mine; ++i) {
    v[2 * i] = want[2 * (row0[tm_rank] + i)], v[2 * i + 1] = want[2 * (row0[tm_rank] + i) + 1];
    ids[i] = 1000 + row0[tm_rank] + i;
  }
  const int64_t dims2[2] = {N, 2}, dims1[1] = {N};
  RowsCtx c = {dims2, dims1, row0[tm_rank], mine, v, ids, K};
  int st = ff_h5_write_atomic_parallel(path, MPI_COMM_WORLD, rows_body, &c);
  assert_all(st == FF_OK);
  if (tm_rank == 0) {
    double *got = malloc((size_t)(2 * N + 1) * sizeof *got);
    int64_t *gid = malloc((size_t)(N + 1) * sizeof *gid);
    raw_read(path, "/grid/v", H5T_NATIVE_DOUBLE, got);
    raw_read(path, "/grid/id", H5T_NATIVE_INT64, gid);
    assert_memory_equal(got, want, (size_t)(2 * N) * sizeof *got);
    for (int64_t i = 0; i < N; ++i) assert_int_equal(gid[i], 1000 + i);
    free(got);
    free(gid);
    assert_int_equal(files_named_like(path), 1);
  }
  assert_all(1);
  /* parallel read of the next rank's rows */
  hid_t f;
  st = ff_h5_open_parallel(path, MPI_COMM_WORLD, &f);
  assert_all(st == FF_OK);
  const int q = (tm_rank + 1) % K;
  const int64_t theirs = row0[q + 1] - row0[q];
  double *back = malloc((size_t)(2 * (theirs + 1)) * sizeof *back);
  st = ff_h5_read_rows(f, path, "/grid/v", H5T_NATIVE_DOUBLE, 2, dims2, row0[q], theirs, back);
  int ok = st == FF_OK && memcmp(back, want + 2 * row0[q], (size_t)(2 * theirs) * sizeof *back) == 0;
  /* the shape is checked: a caller that expects another width is refused, naming both */
  const int64_t wrong[2] = {N, 3};
  st = ff_h5_read_rows(f, path, "/grid/v", H5T_NATIVE_DOUBLE, 2, wrong, row0[q], theirs, back);
  ok = ok && st == FF_ERR_INPUT && strstr(ff_error_message(), "expected") != NULL;
  H5Fclose(f);
  assert_all(ok);
  if (tm_rank == 0) unlink(path);
  free(back);
  free(row0);
  free(v);
  free(want);
  free(ids);
}

int main(int argc, char **argv) {
  tm_init(&argc, &argv);
  ff_h5_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_parallel_rows),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
