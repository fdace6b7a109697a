/* One rank's slice of the network: the neurons it owns and every connection that ends on them,
 * grouped by presynaptic neuron. Each presynaptic neuron with at least one local target has a
 * local "stand-in" (NEST GPU's idea): a spike of global neuron p is looked up once in
 * standin_of[p] and then delivered along a contiguous run of (target, weight) pairs.
 * Invariants: gid is ascending; local index order is gid order; within a stand-in the targets
 * are strictly ascending; stand-ins are in ascending order of pre_gid. */
#ifndef FLYFIT_NET_H
#define FLYFIT_NET_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
  int rank, size;
  int64_t n_global;
  int32_t n_local;
  int64_t *gid;        /* [n_local] global neuron index of each local neuron */
  int32_t *local_of;   /* [n_global] local index, -1 if owned elsewhere */
  int32_t n_pre;       /* stand-ins */
  int64_t *pre_gid;    /* [n_pre] */
  int32_t *standin_of; /* [n_global] stand-in index, -1 if no local targets */
  int64_t *pre_indptr; /* [n_pre + 1] into target / weight */
  int32_t *target;     /* [n_in] local index of the postsynaptic neuron */
  int32_t *weight;     /* [n_in] signed synapse count */
  int64_t n_in;        /* connections ending on this rank */
  int64_t *in_degree;  /* [n_local] incoming connections per local neuron */
} FfNet;

/* Collective over comm. Reads from connectome file `path` the connections ending on neurons with
 * owner[i] == rank; connections leaving neurons with silenced[i] != 0 are left out (silenced may
 * be NULL). owner has n_global entries on every rank. */
int ff_net_load(const char *path, int64_t n_global, const int32_t *owner, const uint8_t *silenced, MPI_Comm comm,
                FfNet *net);
void ff_net_destroy(FfNet *net);

#endif
