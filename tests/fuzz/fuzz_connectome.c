/* Fuzzes the two readers of connectome.h5: ff_connectome_read (src/data/connectome.c: the whole file,
 * for the tools) and ff_net_load (src/sim/net.c: one rank's slice, here the only rank, from the
 * connection table or from a stored /partition/k1, through parallel HDF5 on MPI_COMM_SELF),
 * followed by ff_net_find_destinations. Input: the file's bytes. */
#include <hdf5.h>
#include <mpi.h>

#include "fuzz.h"

#include "flyfit/connectome.h"
#include "flyfit/h5.h"
#include "flyfit/net.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* A singleton: no mpirun needed. MPI_Finalize is not called: it unloads Open MPI's plugins,
   * whose start-up allocations LeakSanitizer then reports at exit without a name to suppress. */
  MPI_Init(NULL, NULL);
  ff_h5_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[512];
  fuzz_write(data, size, path, sizeof path, ".h5");

  FfConnectome c;
  int st = ff_connectome_read(path, &c);
  fuzz_outcome("ff_connectome_read", st);
  if (st == FF_OK) {
    const int v = ff_connectome_validate(&c, path);
    FUZZ_REQUIRE(v == FF_OK, "ff_connectome_read returned a connectome that does not validate: %s", ff_error_message());
  }
  ff_connectome_destroy(&c);
  fuzz_h5_all_closed("ff_connectome_read");

  FfNet net;
  st = ff_net_load(path, MPI_COMM_SELF, &net);
  fuzz_outcome("ff_net_load", st);
  if (st == FF_OK) {
    st = ff_net_find_destinations(&net, MPI_COMM_SELF);
    fuzz_outcome("ff_net_find_destinations", st);
    for (int32_t s = 0; s < net.n_pre; ++s)
      FUZZ_REQUIRE(ff_net_standin(&net, net.pre_new[s]) == s, "stand-in %d is not found by its own id", (int)s);
  }
  ff_net_destroy(&net);
  fuzz_h5_all_closed("ff_net_load");
  unlink(path);
  return 0;
}
