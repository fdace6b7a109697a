/* Neuron-to-rank assignments. The simulation accepts any assignment (results never depend on
 * it); these are the simple ones. METIS-based partitions are stored in the connectome file by
 * flyfit-partition. */
#ifndef FLYFIT_PARTITION_H
#define FLYFIT_PARTITION_H

#include <stdint.h>

/* Contiguous blocks of neuron indices, sizes differing by at most one. owner is [n]. */
void ff_partition_block(int64_t n, int ranks, int32_t *owner);
/* A random balanced assignment: neurons ordered by a Philox hash of (seed, neuron), then blocks. */
int ff_partition_random(int64_t n, int ranks, uint64_t seed, int32_t *owner);

#endif
