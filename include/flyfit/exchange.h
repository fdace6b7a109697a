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
#include "flyfit/spike.h" /* the spike word */

typedef enum { FF_EXCHANGE_ALLGATHER = 0, FF_EXCHANGE_TARGETED = 1, FF_EXCHANGE_AUTO = 2 } FfExchangeMode;

typedef struct {
  int64_t words_sent, words_recv; /* 8-byte words to and from other ranks */
  double pack_s, comm_s;          /* sorting words by destination; time in MPI */
} FfExchangeStats;

typedef struct FfExchange FfExchange;

/* Collective: all ranks of comm must call it. mode FF_EXCHANGE_AUTO picks targeted when a
 * neuron's spikes are needed on clearly fewer ranks than all (net->dest lists, from
 * ff_net_find_destinations). *mean_dests: ranks that need a neuron's spikes, averaged over neurons
 * (may be NULL). */
int ff_exchange_create(const FfNet *net, int mode, MPI_Comm comm, FfExchange **x, double *mean_dests);
int ff_exchange_mode(const FfExchange *x);
/* A buffer of at least n words for the caller to pack its spikes into (valid until the next call). */
int ff_exchange_send_buffer(FfExchange *x, int64_t n, uint64_t **words);
/* Collective: all ranks of the exchange's comm must call it. Sends the n words of the send buffer;
 * status != FF_OK tells the other ranks to stop (and is returned). On success *recv holds *got
 * words from every rank (valid until the next call). */
int ff_exchange_run(FfExchange *x, int64_t n, int status, const uint64_t **recv, int64_t *got, FfExchangeStats *st);
/* Collective, as ff_exchange_run: one step's spikes as neuron ids. This rank's n ids mine[] go out (words of step
 * 0, trial 0); fired[] gets every rank's ids in rank order (ascending when the ranks hold contiguous blocks of ids,
 * ff_net_blocks) and *n_fired their number; fired has room for every neuron of the network. For networks that
 * exchange every step (mode = netopt's split = cells, mode = cells with coupling). */
int ff_exchange_ids(FfExchange *x, const int64_t *mine, int64_t n, int status, int64_t *fired, int64_t *n_fired);
/* Frees x (NULL allowed) and clears the caller's pointer. */
void ff_exchange_destroy(FfExchange **x);

#endif
