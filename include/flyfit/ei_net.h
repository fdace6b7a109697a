/* mode = netopt (docs/design.md §2.9.7): Izhikevich's (2003) E/I network of regular-spiking excitatory and
 * fast-spiking inhibitory cells with fixed random connectivity, its firing statistics (per-neuron rate,
 * local variation), the tests that compare two networks (Welch's t on rates, two-sample Kolmogorov-Smirnov
 * on LV), and differential evolution over (connection probability, weight scale). Host code; a network of
 * a few hundred cells is simulated whole by one rank, and the candidates are spread over the ranks. */
#ifndef FLYFIT_EI_NET_H
#define FLYFIT_EI_NET_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
  int32_t n_exc, n_inh;  /* cells: excitatory first */
  double duration_ms;    /* simulated, 1 ms steps */
  uint64_t seed;
  float *u, *r;          /* [n x n] (post, pre): the pair's connection draw and its weight draw, uniform (0, 1) */
} FfEiNet;

/* Draws the fixed connectivity (FF_STREAM_NETOPT_CONN keyed by (post, pre)). */
int ff_ei_net_create(FfEiNet *net, int32_t n_exc, int32_t n_inh, double duration_ms, uint64_t seed);
void ff_ei_net_destroy(FfEiNet *net);

/* One run at connection probability p and weight scale w: pair (i, j) connected when u_ij < p, with weight
 * w r_ij / 2 from an excitatory j and -w r_ij from an inhibitory one (mV of input current, Izhikevich's units);
 * thalamic noise 5 N(0,1) (E) and 2 N(0,1) (I) each ms keyed by (step, cell, trial) in FF_STREAM_NETOPT_NOISE.
 * rate [n] Hz, lv [n] (NaN for a cell with fewer than 3 spikes). */
int ff_ei_net_run(const FfEiNet *net, double p, double w, uint32_t trial, double *rate, double *lv);

/* Welch's two-sided t-test p-value of two samples (NaN entries skipped). */
double ff_welch_p(const double *a, int64_t na, const double *b, int64_t nb);
/* Two-sample Kolmogorov-Smirnov p-value, the asymptotic Q_KS(sqrt(n1 n2 / (n1 + n2)) D) (NaN skipped). */
double ff_ks2_p(const double *a, int64_t na, const double *b, int64_t nb);

#endif
