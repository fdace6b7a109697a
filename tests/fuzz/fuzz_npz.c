/* Fuzzes the numpy readers (src/io/npz.c over libzip) and the recording reader of
 * `flyfit-import activity` (ff_recording_read_npz in src/data/activity_io.c).
 * Input: an .npz archive (every member is listed, its header read, and its data read as numbers or
 * strings as the header says; then the archive is read as a recording with members areas and
 * traces), or a bare .npy stream (starting \x93NUMPY), whose header alone is parsed. */
#include "fuzz.h"

#include "flyfit/activity.h"
#include "flyfit/npz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static void read_member(FfNpz *z, const char *name) {
  FfNpyHeader h;
  int st = ff_npz_header(z, name, &h);
  fuzz_outcome("ff_npz_header", st);
  if (st != FF_OK) return;
  FUZZ_REQUIRE(h.ndim >= 0 && h.ndim <= FF_NPY_MAX_DIMS && h.count >= 0 && h.itemsize >= 0,
               "header of '%s': ndim %d, count %lld, itemsize %lld", name, h.ndim, (long long)h.count,
               (long long)h.itemsize);
  if (h.kind == FF_NPY_UNICODE || h.kind == FF_NPY_BYTES) {
    char **s = NULL;
    int64_t n = 0;
    st = ff_npz_read_strings(z, name, &s, &n);
    fuzz_outcome("ff_npz_read_strings", st);
    if (st == FF_OK) {
      FUZZ_REQUIRE(n == h.count, "read %lld strings of '%s', the header says %lld", (long long)n, name,
                   (long long)h.count);
      for (int64_t i = 0; i < n; ++i) FUZZ_REQUIRE(s[i] != NULL, "string %lld of '%s' is NULL", (long long)i, name);
    }
    ff_npz_free_strings(&s, n);
  } else {
    double *x = NULL;
    int ndim = -1;
    int64_t dims[FF_NPY_MAX_DIMS];
    st = ff_npz_read_f64(z, name, &x, &ndim, dims);
    fuzz_outcome("ff_npz_read_f64", st);
    if (st == FF_OK) {
      int64_t count = 1;
      for (int d = 0; d < ndim; ++d) count *= dims[d];
      FUZZ_REQUIRE(ndim == h.ndim && count == h.count, "'%s' read as %d dims of %lld values, the header says %d of %lld",
                   name, ndim, (long long)count, h.ndim, (long long)h.count);
      volatile double sum = 0.0; /* touch every value: ASan checks the array's extent */
      for (int64_t k = 0; k < count; ++k) sum += x[k];
      (void)sum;
    }
    free(x);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) {
    FfNpyHeader h;
    const int st = ff_npy_parse_header(data, size, "fuzz.npy", &h);
    fuzz_outcome("ff_npy_parse_header", st);
    if (st == FF_OK)
      FUZZ_REQUIRE(h.data_offset <= size && h.ndim <= FF_NPY_MAX_DIMS, "data offset %zu of %zu bytes, ndim %d",
                   h.data_offset, size, h.ndim);
    return 0;
  }
  char path[512];
  fuzz_write(data, size, path, sizeof path, ".npz");
  FfNpz *z = NULL;
  int st = ff_npz_open(path, &z);
  fuzz_outcome("ff_npz_open", st);
  if (st == FF_OK) {
    char **names = NULL;
    int64_t n = 0;
    st = ff_npz_list(z, &names, &n);
    fuzz_outcome("ff_npz_list", st);
    for (int64_t i = 0; st == FF_OK && i < n && i < 16; ++i) read_member(z, names[i]);
    ff_npz_free_strings(&names, n);
    /* a member that is not there: the message lists the ones that are */
    FfNpyHeader h;
    st = ff_npz_header(z, "no such member", &h);
    fuzz_outcome("ff_npz_header (missing member)", st);
  }
  ff_npz_close(&z);

  FfRecording rec;
  st = ff_recording_read_npz(path, "areas", "traces", &rec);
  fuzz_outcome("ff_recording_read_npz", st);
  if (st == FF_OK) {
    FUZZ_REQUIRE(rec.P >= 1 && rec.T >= 0, "a recording of %lld regions and %lld frames", (long long)rec.P,
                 (long long)rec.T);
    volatile double sum = 0.0;
    for (int64_t k = 0; k < rec.P * rec.T; ++k) sum += rec.traces[k];
    for (int64_t p = 0; p < rec.P; ++p) FUZZ_REQUIRE(rec.areas[p] != NULL, "region %lld has no name", (long long)p);
    (void)sum;
    st = ff_recording_round_to_float(&rec);
    fuzz_outcome("ff_recording_round_to_float", st);
  }
  ff_recording_destroy(&rec);
  unlink(path);
  return 0;
}
