/* Fuzzes the reader of round-2 checkpoints (gru-best.h5, gru-epoch*.h5): ff_checkpoint_read_gru
 * (src/io/checkpoint.c) into a GRU of P = 2 neuropils and H = 3 hidden units. A checkpoint of another size, a missing or
 * mistyped dataset or attribute must be refused and leave the model as it was. Input: the file's
 * bytes. (The round-1 checkpoint reader needs a whole trainer and is not fuzzed here.) */
#include <hdf5.h>

#include "fuzz.h"

#include "flyfit/checkpoint.h"
#include "flyfit/gru.h"
#include "flyfit/h5.h"

static FfGru *gru;     /* the model loaded into */
static double *before; /* its parameters, to check that a refused load leaves them alone */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ff_h5_init();
  const FfGruSetup s = {2, 3, 0, 0.0, 1};
  if (ff_gru_create(&s, &gru) != FF_OK) {
    fprintf(stderr, "fuzz_checkpoint: %s\n", ff_error_message());
    exit(1);
  }
  const int64_t n = ff_gru_nparams(gru);
  before = malloc((size_t)n * sizeof *before);
  if (before == NULL) exit(1);
  memcpy(before, ff_gru_array(gru, FF_GRU_PARAMS), (size_t)n * sizeof *before);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[512];
  fuzz_write(data, size, path, sizeof path, ".h5");
  hid_t f;
  int st = ff_h5_open(path, H5P_DEFAULT, &f);
  fuzz_outcome("ff_h5_open", st);
  if (st == FF_OK) {
    st = ff_checkpoint_read_gru(f, path, gru);
    fuzz_outcome("ff_checkpoint_read_gru", st);
    H5Fclose(f);
    const int64_t n = ff_gru_nparams(gru);
    double *p = ff_gru_array(gru, FF_GRU_PARAMS);
    if (st != FF_OK)
      FUZZ_REQUIRE(memcmp(p, before, (size_t)n * sizeof *p) == 0, "a refused checkpoint changed the parameters");
    memcpy(p, before, (size_t)n * sizeof *p); /* the next input starts from the same model */
  }
  unlink(path);
  fuzz_h5_all_closed("ff_checkpoint_read_gru");
  return 0;
}
