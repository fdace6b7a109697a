/* Spike exchange between ranks, once per delay window (docs/design.md §3.5). Every rank hands in the
 * packed (neuron, step, trial) words its neurons emitted in a window and gets back the words of
 * every rank that it may need: all of them (allgather, MPI_Allgatherv) or only those of neurons it
 * holds a stand-in of (targeted, MPI_Alltoallv). The word counts travel in the same collective as an
 * error flag (a negative count), so a rank that fails stops every rank at the next exchange instead
 * of leaving them waiting. Used by the simulation driver and by the fitting stepper alike. */
#ifndef FLYFIT_EXCHANGE_H
#define FLYFIT_EXCHANGE_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/net.h"

typedef enum { FF_EXCHANGE_ALLGATHER = 0, FF_EXCHANGE_TARGETED = 1, FF_EXCHANGE_AUTO = 2 } FfExchangeMode;

/* Spike word: new id of the neuron (32 bits) | step within its window (16) | batch element (16). */
static inline uint64_t ff_spike_pack(int64_t q, int32_t step_in_window, int32_t b) {
  return (uint64_t)q | (uint64_t)(uint16_t)step_in_window << 32 | (uint64_t)(uint16_t)b << 48;
}
static inline int64_t ff_spike_gid(uint64_t w) { return (int64_t)(w & 0xffffffffu); }
static inline int32_t ff_spike_step(uint64_t w) { return (int32_t)((w >> 32) & 0xffff); }
static inline int32_t ff_spike_batch(uint64_t w) { return (int32_t)(w >> 48); }

typedef struct {
  int64_t words_sent, words_recv; /* 8-byte words to and from other ranks */
  double pack_s, comm_s;          /* sorting words by destination; time in MPI */
} FfExchangeStats;

typedef struct FfExchange FfExchange;

/* Collective. mode FF_EXCHANGE_AUTO picks targeted when a neuron's spikes are needed on clearly
 * fewer ranks than all (net->dest lists, from ff_net_find_destinations). *mean_dests: ranks that
 * need a neuron's spikes, averaged over neurons (may be NULL). */
int ff_exchange_create(const FfNet *net, int mode, MPI_Comm comm, FfExchange **x, double *mean_dests);
int ff_exchange_mode(const FfExchange *x);
/* A buffer of at least n words for the caller to pack its spikes into (valid until the next call). */
int ff_exchange_send_buffer(FfExchange *x, int64_t n, uint64_t **words);
/* Collective. Sends the n words of the send buffer; status != FF_OK tells the other ranks to stop
 * (and is returned). On success *recv holds *got words from every rank (valid until the next call). */
int ff_exchange_run(FfExchange *x, int64_t n, int status, const uint64_t **recv, int64_t *got, FfExchangeStats *st);
/* Frees x (NULL allowed) and clears the caller's pointer. */
void ff_exchange_destroy(FfExchange **x);

#endif
