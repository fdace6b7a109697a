/* cmocka tests that run on any number of MPI ranks (1 under tests/run.sh; 2 and 3 under
 * tests/integration/unit_ranks.sh). A check before a later collective must not let one rank leave
 * the test while the others wait in that collective: assert_all() makes every rank agree on a
 * verdict first (the failing ranks say why) and then all fail or all go on together. */
#ifndef FLYFIT_TESTMPI_H
#define FLYFIT_TESTMPI_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "flyfit/error.h"

static int tm_rank = 0, tm_size = 1;

static inline int tm_all(int ok) {
  int all = 0;
  if (FF_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD)) != FF_OK) return 0;
  return all;
}

#define assert_all(cond)                                                                           \
  do {                                                                                             \
    const int tm_ok_ = !!(cond);                                                                   \
    if (!tm_ok_) print_error("rank %d of %d: %s is false (%s:%d)\n", tm_rank, tm_size, #cond, __FILE__, __LINE__); \
    assert_true(tm_all(tm_ok_));                                                                   \
  } while (0)

/* MPI_Init with errors returned (as flyfit's programs set them), rank and size. */
static inline void tm_init(int *argc, char ***argv) {
  if (FF_MPI(MPI_Init(argc, argv)) != FF_OK || FF_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != FF_OK ||
      FF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &tm_rank)) != FF_OK || FF_MPI(MPI_Comm_size(MPI_COMM_WORLD, &tm_size)) != FF_OK)
    abort();
}

/* A scratch path every rank agrees on: /tmp/flyfit-NAME.<rank 0's pid>.EXT */
static inline void tm_path(char *buf, size_t cap, const char *name, const char *ext) {
  long pid = (long)getpid();
  if (FF_MPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD)) != FF_OK) abort();
  snprintf(buf, cap, "%s/flyfit-%s.%ld.%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name, pid, ext);
}

#endif
