/* mode = netopt (docs/design.md §2.9.7): Izhikevich's (2003) E/I network of regular-spiking excitatory and
 * fast-spiking inhibitory cells with fixed random connectivity, its firing statistics (per-neuron rate,
 * local variation, the SPIKE-distance within and between the populations), the tests that compare two
 * networks (Welch's t on rates, two-sample Kolmogorov-Smirnov on LV), and the recorded network a fit may
 * take as its target. Host code.
 *
 * A network is run whole by one rank, or split over the ranks of a communicator as the simulation splits
 * the connectome: each rank owns a block of cells (ff_partition_block), holds only their incoming draws, and
 * the spikes of every 1 ms step (the synaptic delay) cross the ranks by the simulation's exchange
 * (exchange.h). Inputs are summed in ascending presynaptic order and every random number is keyed by what it
 * belongs to, so a split run equals the whole run bit for bit. */
#ifndef FLYFIT_EI_NET_H
#define FLYFIT_EI_NET_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/exchange.h"
#include "flyfit/net.h"

/* The spike trains of n cells: cell i's times (ms, increasing) are times[indptr[i] .. indptr[i + 1]). */
typedef struct {
  int64_t n;
  int64_t *indptr; /* [n + 1] */
  double *times;
} FfSpikeTrains;

void ff_spike_trains_destroy(FfSpikeTrains *s);
/* Collective over comm. Every rank's block of cells (blocks from ff_net_blocks): this rank's per-cell spike counts
 * len [rows] and their times packed in cell order, into every cell's trains on every rank (out, which the caller
 * destroys): the counts by one MPI_Allgatherv, the times by another (copies, in block = cell order). */
int ff_spike_trains_allgather(const FfNet *blocks, MPI_Comm comm, const int64_t *len, const double *times,
                              FfSpikeTrains *out);

typedef struct {
  int32_t n_exc, n_inh;  /* cells: excitatory first */
  double duration_ms;    /* simulated, 1 ms steps */
  uint64_t seed;
  int64_t row0, rows;    /* the cells this rank advances: [row0, row0 + rows) */
  float *u, *r;          /* [rows x n] (post, pre): the pair's connection draw and its weight draw, uniform (0, 1) */
  MPI_Comm comm;         /* MPI_COMM_NULL: the whole network on this rank; else the ranks it is split over */
  FfNet part;            /* the split: every rank's block of cells (new id = cell index) */
  FfExchange *x;         /* the spike exchange of a split network */
} FfEiNet;

/* Draws the fixed connectivity (FF_STREAM_NETOPT_CONN keyed by (post, pre)). comm == MPI_COMM_NULL: the
 * whole network on this rank; otherwise collective over comm, each rank keeping its block of cells. */
int ff_ei_net_create(FfEiNet *net, int32_t n_exc, int32_t n_inh, double duration_ms, uint64_t seed, MPI_Comm comm);
void ff_ei_net_destroy(FfEiNet *net);

/* One run at connection probability p and weight scale w: pair (i, j) connected when u_ij < p, with weight
 * w r_ij / 2 from an excitatory j and -w r_ij from an inhibitory one (mV of input current, Izhikevich's units);
 * thalamic noise 5 N(0,1) (E) and 2 N(0,1) (I) each ms keyed by (step, cell, trial) in FF_STREAM_NETOPT_NOISE.
 * A spike of step t (at t + 1 ms) reaches its targets at step t + 1. Collective over net->comm when split;
 * every rank gets the trains of every cell in *out (freed by the caller). */
int ff_ei_net_run(const FfEiNet *net, double p, double w, uint32_t trial, FfSpikeTrains *out);

/* Per-cell rate (Hz, over t_end_ms) and local variation LV = 3/(n-1) sum (I_k - I_{k+1})^2 / (I_k + I_{k+1})^2
 * (NaN for a cell with fewer than 3 spikes). rate, lv: [s->n]. */
void ff_ei_net_rates(const FfSpikeTrains *s, double t_end_ms, double *rate, double *lv);

/* The mean SPIKE-distance (spike_dist.h) over [0, t_end_ms] of `pairs` cell pairs within the excitatory
 * cells [0, n_exc) (out[0]), within the inhibitory ones (out[1]) and between the two (out[2]); the pairs are
 * drawn once from (seed, FF_STREAM_NETOPT_PAIRS) and are the same for every network of this size. NaN where
 * a population has too few cells. */
int ff_ei_net_spike_sync(const FfSpikeTrains *s, int64_t n_exc, int64_t pairs, uint64_t seed, double t_end_ms,
                         double out[3]);

/* A recorded network as a fit's target (docs/formats.md#network-spike-trains): HDF5 with /network/spike_indptr
 * [n + 1] and /network/spike_times (ms) and attributes n_exc, n_inh, duration_ms (flyfit-synth --network writes
 * one), or a CSV of spike times, one cell per column (excitatory first; missing times empty). The cell counts
 * must be n_exc and n_inh and every time within [0, duration_ms]; errors name the file and the key. truth: the
 * planted p and w of a file flyfit-synth wrote (/truth), NaN otherwise. */
int ff_ei_net_read_target(const char *path, int64_t n_exc, int64_t n_inh, double duration_ms, FfSpikeTrains *out,
                          double truth[2]);
/* Writes trains as such a file, atomically, with the planted p and w as /truth attributes (NaN: none). */
int ff_ei_net_write_target(const char *path, const FfSpikeTrains *s, int64_t n_exc, double duration_ms, double p,
                           double w, uint64_t seed, const char *created_by);

/* Welch's two-sided t-test p-value of two samples (NaN entries skipped). */
double ff_welch_p(const double *a, int64_t na, const double *b, int64_t nb);
/* Two-sample Kolmogorov-Smirnov p-value, the asymptotic Q_KS(sqrt(n1 n2 / (n1 + n2)) D) (NaN skipped). */
double ff_ks2_p(const double *a, int64_t na, const double *b, int64_t nb);

#endif
