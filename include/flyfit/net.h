/* One rank's slice of the network: the neurons it owns and every connection that ends on them,
 * grouped by presynaptic neuron. Each presynaptic neuron with at least one local target has a
 * local "stand-in" (NEST GPU's idea): a spike of neuron p is looked up once and then delivered
 * along a contiguous run of (target, weight) pairs.
 *
 * Neurons have two numbers. The original index (gid: the connectome's row) keys random numbers
 * and every output, so results never depend on the partition. The partition's new id puts each
 * rank's neurons in one contiguous range; spikes travel as new ids.
 * Invariants: gid ascending; local index i has new id new_base + i; stand-ins ascending by new
 * id; within a stand-in the targets are strictly ascending. */
#ifndef FLYFIT_NET_H
#define FLYFIT_NET_H

#include <mpi.h>
#include <stdint.h>


typedef struct {
  int rank, size;
  int64_t n_global;
  int32_t n_local;
  int64_t new_base;        /* new id of local neuron 0 */
  int64_t *neuron_offsets; /* [size + 1] new ids of every rank */
  int64_t *gid;            /* [n_local] original index of each local neuron */
  int32_t n_pre;           /* stand-ins */
  int64_t *pre_new;        /* [n_pre] new id of each stand-in, ascending */
  int64_t *pre_indptr;     /* [n_pre + 1] into target / weight */
  int32_t *target;         /* [n_in] local index of the postsynaptic neuron */
  int32_t *weight;         /* [n_in] signed synapse count */
  int64_t n_in;            /* connections ending on this rank */
  int64_t *in_degree;      /* [n_local] */
  int32_t n_neuropils;
  int64_t *np_row;         /* [n_local + 1] neuropil rows of the local neurons */
  int16_t *np_id;
  int32_t *np_syn;
  int64_t *dest_indptr;    /* [n_local + 1] ranks that hold a stand-in of each local neuron */
  int32_t *dest;
  int from_partition;      /* 1: read from /partition/k{size}; 0: one rank, the whole table */
} FfNet;

/* Collective: all ranks of comm must call it. Reads this rank's slab of /partition/k{size} (every rank only its own, by
 * collective MPI-IO reads), or, on one rank without a stored partition, the whole connection
 * table, and checks the slab's checksum and ranges. Returns this rank's own status: the caller
 * lets the ranks agree before the next collective step. */
int ff_net_load(const char *path, MPI_Comm comm, FfNet *net);
/* Collective: all ranks of comm must call it, after every rank loaded. Which ranks hold a stand-in
 * of each local neuron. */
int ff_net_find_destinations(FfNet *net, MPI_Comm comm);
void ff_net_destroy(FfNet *net);
/* Collective. n neurons in contiguous blocks over the ranks of comm (ff_partition_block: sizes differ by at most
 * one; new id = original index), without connections: what the spike exchange (exchange.h, allgather) needs to
 * split a network whose every neuron may reach every other (mode = netopt's split = cells, mode = task's split =
 * neurons). FF_ERR_INPUT when there are fewer neurons than ranks; `what` names the network in the message. */
int ff_net_blocks(int64_t n, MPI_Comm comm, const char *what, FfNet *net);
/* Every rank's block as MPI counts and offsets ([size] each) of `per` numbers per neuron, for MPI_Gatherv and its
 * kin; FF_ERR_UNSUPPORTED when a count or offset passes 2^31. */
int ff_net_block_counts(const FfNet *net, int64_t per, int *count, int *offset);
/* Local index of original neuron gid, or -1 when another rank owns it. */
int32_t ff_net_local(const FfNet *net, int64_t gid);
/* Stand-in of the neuron with new id q, or -1 when it has no target here (binary search: a hash
 * map would cost more memory per rank than the lookups are worth). */
int32_t ff_net_standin(const FfNet *net, int64_t q);
/* Rank owning new id q. */
int ff_net_owner(const FfNet *net, int64_t q);

#endif
