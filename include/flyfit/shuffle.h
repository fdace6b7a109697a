/* A degree-preserving shuffle of a connectome: the control that asks whether the wiring matters.
 * Directed edge swaps (Maslov & Sneppen, Science 296, 2002): two connections a->b and c->d become
 * a->d and c->b, each keeping its synapse count with its presynaptic neuron (so a neuron's sign and
 * its synapses per neuropil stay), refused where they would make a self-connection or repeat an
 * existing one. Every neuron keeps its in- and out-degree, its home neuropil and its neuropil table
 * (so neuropil sizes and readout weights are unchanged); which neuron reaches which is randomised. */
#ifndef FLYFIT_SHUFFLE_H
#define FLYFIT_SHUFFLE_H

#include <stdint.h>

#include "flyfit/connectome.h"

typedef struct {
  int64_t attempts, swaps; /* swap attempts made, and accepted */
  double changed;          /* share of the original connections (pre, post) no longer present */
} FfShuffleStats;

/* out gets a shuffled copy of c after swaps_per_connection x (connections) attempts; the result
 * is a function of (c, seed, swaps_per_connection) only. */
int ff_connectome_shuffle(const FfConnectome *c, uint64_t seed, double swaps_per_connection, FfConnectome *out,
                          FfShuffleStats *stats);

/* How a shuffled connectome was made, kept with it: the attributes of group /shuffle in its
 * connectome.h5 (docs/formats.md). A program reads "this file is a shuffle" from that group. */
typedef struct {
  const char *source_file;     /* the connectome.h5 shuffled */
  uint64_t seed;               /* 0..2^63-1 (stored as an int64 attribute) */
  double swaps_per_connection;
  FfShuffleStats stats;
} FfShuffleRecord;

/* ff_connectome_write of s, with r as /shuffle; atomic like it (an earlier file at path is kept
 * on any failure). */
int ff_connectome_shuffle_write(const FfConnectome *s, const FfShuffleRecord *r, const char *path,
                                const char *created_by);

#endif
