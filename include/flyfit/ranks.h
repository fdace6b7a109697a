/* What the ranks of a job agree on: one status for all (so that every rank stops together and one
 * rank reports), and the cores each rank may use. MPI calls themselves are checked by FF_MPI
 * (error.h). Every function here is collective: all ranks of the communicator must call it. */
#ifndef FLYFIT_RANKS_H
#define FLYFIT_RANKS_H

#include <mpi.h>

/* Collective. The status every rank agrees on (the largest); the lowest failing rank reports its
 * own message (ff_log_report_status), so a failure is told once, by the rank that saw it. */
int ff_ranks_agree(int status, MPI_Comm comm);

/* Collective. Rank 0's status on every rank, after work only rank 0 did (a file it read or wrote): a
 * failure there becomes, on every other rank, the same status with the message "rank 0 could not "
 * followed by fmt, so that all ranks stop together and rank 0 keeps its own reason. */
int ff_ranks_root_status(int status, MPI_Comm comm, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Collective. The cores this rank may use, shared evenly with the other ranks of its node whose
 * affinity overlaps its own: ranks bound to their own cores get all of them, and unbound ranks
 * (mpirun --bind-to none) split the node instead of each starting a thread per core, which would
 * oversubscribe the cores and make OpenMP's spinning barriers crawl. At least 1. */
int ff_ranks_cores(MPI_Comm comm);

#endif
