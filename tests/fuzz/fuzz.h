/* Shared helpers of the fuzzing harnesses (tests/fuzz/fuzz_*.c). Each harness is one libFuzzer
 * entry point, LLVMFuzzerTestOneInput, built two ways: with clang -fsanitize=fuzzer (make fuzz)
 * and with the normal toolchain plus tests/fuzz/replay.c (make check replays the corpora).
 * The readers take file names, so an input is written to a fresh file (a new name each time: HDF5
 * recognises a file it already has open by its inode) and removed afterwards.
 * Beyond "no crash", every harness checks what a bad input must produce: a nonzero status that is
 * not FF_ERR_INTERNAL, with a message. FLYFIT_FUZZ_VERBOSE=1 prints each outcome to stderr. */
#ifndef FLYFIT_FUZZ_H
#define FLYFIT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh file name in $TMPDIR (or /dev/shm, or /tmp) ending in `suffix`. */
static inline void fuzz_tmpname(char *path, size_t cap, const char *suffix) {
  static unsigned long counter;
  const char *dir = getenv("TMPDIR");
  if (dir == NULL || dir[0] == '\0') dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(path, cap, "%s/flyfit-fuzz.%ld.%lu%s", dir, (long)getpid(), counter++, suffix);
}

/* Writes data[0..n) to a fresh file; its name goes to path. Exits when the file cannot be written:
 * that is the machine's problem, not the input's. */
static inline void fuzz_write(const uint8_t *data, size_t n, char *path, size_t cap, const char *suffix) {
  fuzz_tmpname(path, cap, suffix);
  FILE *f = fopen(path, "wb");
  if (f == NULL || (n > 0 && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    exit(3);
  }
}

static inline int fuzz_verbose(void) {
  const char *v = getenv("FLYFIT_FUZZ_VERBOSE");
  return v && v[0] && strcmp(v, "0") != 0;
}

/* Checks one reader's outcome: success, or a bad-input status with a message. `what` names the
 * reader. Anything else is a bug in flyfit and stops the run (libFuzzer then keeps the input). */
static inline void fuzz_outcome(const char *what, int status) {
  if (fuzz_verbose()) {
    if (status == FF_OK) fprintf(stderr, "  %s: ok\n", what);
    else fprintf(stderr, "  %s: status %d: %s\n", what, status, ff_error_message());
  }
  if (status != FF_OK && (status == FF_ERR_INTERNAL || ff_error_message()[0] == '\0')) {
    fprintf(stderr, "fuzz: %s returned status %d with message '%s'\n%s", what, status, ff_error_message(),
            ff_error_traceback());
    abort();
  }
  ff_error_clear();
}

/* A broken invariant: print it and stop. */
#define FUZZ_REQUIRE(cond, ...)                                                                    \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz: invariant failed (%s): ", #cond);                                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#ifdef H5_VERS_MAJOR /* harnesses that include <hdf5.h> first */
/* Every HDF5 object a reader opened must be closed when it returns, whether it failed or not: a
 * long-running program (or this fuzzer) would otherwise run out of handles, and HDF5 keeps a file
 * whose objects are open from being opened afresh. */
static inline void fuzz_h5_all_closed(const char *what) {
  const ssize_t n_open = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
  FUZZ_REQUIRE(n_open == 0, "%s left %zd HDF5 object(s) open", what, n_open);
}
#endif

#endif
