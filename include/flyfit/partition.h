/* Neuron-to-rank partitions and their stored form, /partition/k{K}/ in connectome.h5.
 *
 * A partition renumbers the neurons so that every rank owns a contiguous range of new ids (ordered
 * by rank, then by original index), and stores for each rank one contiguous slab: its neurons'
 * original indices, the stand-ins (presynaptic neurons with a target on the rank, as new ids,
 * ascending) with their connections (local target index ascending, signed synapse count), and its
 * neurons' neuropil rows. A rank reads only its own slab. Results never depend on the partition.
 *
 *   /partition/k{K}/            attrs ranks, neurons, connections, method, balance, seed, created_by
 *     owner          int32[N]   rank of each neuron (original order)
 *     order          int64[N]   original index of each new id
 *     neuron_offsets int64[K+1] new ids of rank r: [neuron_offsets[r], neuron_offsets[r+1])
 *     pre            int64[S]   stand-ins as new ids, rank by rank
 *     pre_offsets    int64[K+1] stand-ins of rank r: [pre_offsets[r], pre_offsets[r+1])
 *     pre_conn       int64[S+1] connections of stand-in s: [pre_conn[s], pre_conn[s+1])
 *     target         int32[E]   local index (within its rank) of the postsynaptic neuron
 *     weight         int32[E]   signed synapse count
 *     np_row         int64[N+1] neuropil rows in new-id order, into np_id / np_syn
 *     np_id, np_syn  int16, int32
 *     checksum       uint64[K]  FNV-1a of each rank's slab, checked by that rank when it loads
 *     report/{neurons, connections, ghosts, send_pairs, send_peers, recv_peers} int64[K];
 *                                attrs edge_cut, imbalance_neurons, imbalance_connections
 * Nothing time-dependent is stored, so the same arguments give the same file, byte for byte. */
#ifndef FLYFIT_PARTITION_H
#define FLYFIT_PARTITION_H

#include <stdint.h>
#include <stdio.h>

#include "flyfit/connectome.h"

typedef enum { FF_PART_METIS = 0, FF_PART_BLOCK = 1, FF_PART_RANDOM = 2 } FfPartMethod;
typedef enum { FF_BALANCE_BOTH = 0, FF_BALANCE_NEURONS = 1, FF_BALANCE_CONNECTIONS = 2 } FfPartBalance;

typedef struct {
  int ranks;
  int64_t n, n_conn;
  int32_t *owner;          /* [n] */
  int64_t *order;          /* [n] */
  int64_t *neuron_offsets; /* [ranks + 1] */
  int64_t n_standins;
  int64_t *pre;            /* [n_standins] */
  int64_t *pre_offsets;    /* [ranks + 1] */
  int64_t *pre_conn;       /* [n_standins + 1] */
  int32_t *target;         /* [n_conn] */
  int32_t *weight;         /* [n_conn] */
  int64_t *np_row;         /* [n + 1] */
  int16_t *np_id;          /* [np_row[n]] */
  int32_t *np_syn;
  uint64_t *checksum;      /* [ranks] */
  /* report */
  int64_t *rep_neurons, *rep_connections, *rep_ghosts; /* [ranks] */
  int64_t *rep_send_pairs; /* [ranks] (own neuron, other rank holding a stand-in of it) pairs: words
                              sent per spike under targeted exchange, summed over the rank's neurons */
  int64_t *rep_send_peers, *rep_recv_peers; /* [ranks] ranks this rank sends to / receives from */
  int64_t edge_cut;        /* connections between neurons on different ranks */
  double imbalance_neurons, imbalance_connections; /* max / mean over ranks */
  int method, balance;
  uint64_t seed;
  double seconds;          /* time to compute the assignment */
} FfPartition;

const char *ff_part_method_name(int method);
const char *ff_part_balance_name(int balance);

/* Contiguous blocks of neuron indices, sizes differing by at most one. owner is [n]. */
void ff_partition_block(int64_t n, int ranks, int32_t *owner);
/* A random balanced assignment: neurons ordered by a Philox hash of (seed, neuron), then blocks. */
int ff_partition_random(int64_t n, int ranks, uint64_t seed, int32_t *owner);
/* METIS k-way on the symmetrised connection graph, balancing neurons, incoming connections, or both. */
int ff_partition_metis(const FfConnectome *c, int ranks, int balance, uint64_t seed, int32_t *owner);

/* Assigns with `method` and builds the renumbering, slabs, checksums and report. */
int ff_partition_make(const FfConnectome *c, int ranks, int method, int balance, uint64_t seed, FfPartition *p);
void ff_partition_destroy(FfPartition *p);
/* FNV-1a over rank r's slab (the checksum stored per rank). */
uint64_t ff_partition_slab_checksum(const int64_t *order, int64_t n_order, const int64_t *pre, int64_t n_pre,
                                    const int64_t *pre_conn, const int32_t *target, const int32_t *weight,
                                    int64_t n_conn, const int64_t *np_row, const int16_t *np_id,
                                    const int32_t *np_syn, int64_t n_np);
/* The report as a table (neurons, connections, ghosts per rank; edge cut; imbalance). */
void ff_partition_print_report(const FfPartition *p, FILE *f);
/* The report as one JSON object (what tools/flyfit-scaling reads). */
void ff_partition_print_json(const FfPartition *p, FILE *f);

/* Writes /partition/k{K} into the connectome file without ever leaving it damaged: a new file is
 * made beside it (every other object copied), completed, and renamed over the original. */
int ff_partition_store(const char *path, const FfPartition *p, const char *created_by);
/* The K values the file holds partitions for, as text ("2, 4, 8" or "none"). */
int ff_partition_list(const char *path, char *buf, size_t cap);

#endif
