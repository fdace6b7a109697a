/* Fuzzes the reader of activity.h5 (ff_activity_read, src/data/activity_io.c), then runs the
 * preprocessing chain on what it read with the parameters stored beside it, as round 1 does:
 * every stored value (NaN traces, a constant region, trim_frames beyond the recording, a cutoff
 * above Nyquist) must be refused with a message. Input: the file's bytes. */
#include <hdf5.h>

#include "fuzz.h"

#include "flyfit/activity.h"
#include "flyfit/h5.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ff_h5_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[512];
  fuzz_write(data, size, path, sizeof path, ".h5");
  FfRecording rec;
  FfPreprocess pp;
  ff_preprocess_defaults(&pp);
  int st = ff_activity_read(path, &rec, &pp);
  unlink(path);
  fuzz_outcome("ff_activity_read", st);
  fuzz_h5_all_closed("ff_activity_read");
  if (st == FF_OK) {
    FUZZ_REQUIRE(rec.P >= 0 && rec.T >= 0, "a recording of %lld regions and %lld frames", (long long)rec.P,
                 (long long)rec.T);
    for (int64_t p = 0; p < rec.P; ++p) FUZZ_REQUIRE(rec.areas[p] != NULL, "region %lld has no name", (long long)p);
    st = ff_preprocess_check(&pp);
    fuzz_outcome("ff_preprocess_check", st);
  }
  /* the chain is linear in the frames; keep each input fast */
  if (st == FF_OK && rec.P * rec.T <= 100000) {
    double *dff = NULL, *rates = NULL;
    int64_t T_out = -1;
    st = ff_activity_preprocess(rec.traces, rec.P, rec.T, &pp, NULL, &dff, &rates, &T_out);
    fuzz_outcome("ff_activity_preprocess", st);
    if (st == FF_OK) {
      FUZZ_REQUIRE(T_out >= 1 && T_out <= rec.T, "%lld frames out of %lld", (long long)T_out, (long long)rec.T);
      for (int64_t k = 0; k < rec.P * T_out; ++k)
        FUZZ_REQUIRE(rates[k] >= 0 && rates[k] <= pp.max_rate_hz * (1 + 1e-12), "rate %g outside 0..%g", rates[k],
                     pp.max_rate_hz);
    }
    free(dff);
    free(rates);
  }
  ff_recording_destroy(&rec);
  return 0;
}
