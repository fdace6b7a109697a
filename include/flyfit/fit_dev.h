/* Round 1's stepper and learning rule as kernels: the body of every per-element loop of a forward
 * and a backward pass (docs/design.md §2.5), one element at a time, on a view (FfFitDev) of the
 * rank's arrays. The CPU backend (src/fit/fit_net.c, fit_grad.c) runs each body over its elements
 * with OpenMP threads in ascending order; backend = emulate runs the same bodies serially in a
 * scrambled order (include/flyfit/scramble.h), as a GPU would in no fixed order, and both must give
 * the same bits: every body writes only its own element, or adds integers (fixed point) with an
 * atomic add, whose sum never depends on order.
 *
 * A forward pass, per delay window [t0, t0 + D):
 *   deliver   per arrival of step t (stand-in, trial): its connections add their fixed-point weight
 *             to the target cell's 64-bit accumulator (atomic)
 *   update    per cell (neuron j, trial b): one step of fit_neuron.h and the traces; a spike is kept
 *             in the cell's own window slots (at most ceil(D / R) spikes, R the refractory steps)
 *   pathway   D-RTRL only: per (connection, trial) its trace
 *   then, per window: an exclusive scan of the cells' spike counts compacts the slots into one list
 *   in (neuron, trial, step) order, the same on every run; the low-rank term's u adds B^T rows of
 *   the spikes (integers, atomic), the spikes are exchanged, and the arrivals of the next window
 *   update the presynaptic ES traces per step (one arrival per (stand-in, trial) and step).
 * The backward pass: dL/dcount per cell, the encoder's gradient per neuron, a connection's per
 * connection (each sums over the batch in trial order), Adam per parameter.
 *
 * Two parts of the algorithm are the host's on every backend: a batch's start (encoder outputs and
 * initial states: double log and cos, whose last bit differs between libm and a GPU) and the exact
 * reductions across ranks (the low-rank term's projection, the gradient norm). The background's
 * geometric gap (ff_fit_bg_gap) uses log too. */
#ifndef FLYFIT_FIT_DEV_H
#define FLYFIT_FIT_DEV_H

#include <math.h>
#include <stdint.h>

#include "flyfit/fit.h"
#include "flyfit/fit_neuron.h"
#include "flyfit/hd.h"

#if defined(__CUDACC__)
#define FF_FIT_INLINE __forceinline__
#define FF_FIT_DEV __device__
FF_FIT_DEV static inline void ff_fitd_add_i64(int64_t *p, int64_t v) {
  atomicAdd((unsigned long long *)p, (unsigned long long)v);
}
#else
#define FF_FIT_INLINE __attribute__((always_inline))
#define FF_FIT_DEV
/* Two's complement: the sum of integers is the same in any order, with any wrap-around. */
static inline void ff_fitd_add_i64(int64_t *p, int64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
#endif

typedef struct {
  FfFitNeuron nrn;
  int32_t n, B, Bc, P, R, D, steps, warmup;
  uint64_t seed;
  double log1mp;            /* log(1 - p) of the background's per-step probability */
  float fix_scale;          /* 2^-FF_FIT_FIX */
  float a;                  /* ES-D-RTRL decay */
  const int64_t *gid;       /* [n] */
  const uint32_t *keys;     /* [B] random-number identity of each sample */
  /* connections, grouped by stand-in (net.h) */
  const int64_t *pre_indptr;
  const int32_t *target;
  const int64_t *wq;        /* [E] fixed-point weights */
  /* cells [n x B] */
  float *v, *g, *w;
  uint8_t *hold;
  int32_t *count, *next_bg;
  int64_t *acc;             /* [B x n], trial-major: a step's arrivals come by trial, so a trial's
                               accumulators (n x 8 B) stay in cache while its arrivals add to them */
  float *ev, *eg, *ec;      /* encoder trace (NULL: not kept) */
  float *fv, *fg, *fc;      /* ES postsynaptic factor (NULL: not kept) */
  float *st_s, *st_sg;      /* this step's spike and surrogate, for D-RTRL (NULL: not kept) */
  uint8_t *st_held, *xmark;
  float *cv, *cg, *cc;      /* D-RTRL per (connection, trial) */
  /* the window's spikes: cell k's are wstep[k S .. k S + wcount[k]) */
  int32_t slots;            /* S */
  int32_t *wcount, *wstep;
  int32_t *overflow;        /* set if a cell spiked more often than its slots allow (never, by the bound) */
  /* the low-rank term (lr_on: some sample has input this step) */
  int lr_on;
  const float *lr_a;        /* [n x R] */
  const double *lr_ud;      /* [B x R] u of this step */
  const uint8_t *lr_nz;     /* [B] */
} FfFitDev;

/* w mV in the fixed point of synaptic input, 2^-FF_FIT_FIX mV. */
FF_HD static inline int64_t ff_fitd_to_fixed(double w) { return (int64_t)llrint(w * (double)(1ull << FF_FIT_FIX)); }

/* Neuron j's low-rank input in sample b, sum_k A_jk u_k, in fixed point (bounded: A is finite, u by
 * the bound on B; the clamp keeps a diverging run defined until Adam names it). */
FF_HD static inline int64_t ff_fitd_lowrank_input(const FfFitDev *d, int32_t j, int32_t b) {
  const float *a = d->lr_a + (int64_t)j * d->R;
  const double *u = d->lr_ud + (int64_t)b * d->R;
  double x = 0.0;
  for (int32_t r = 0; r < d->R; ++r) x += (double)a[r] * u[r];
  if (!(x > -1e6)) x = -1e6;
  if (x > 1e6) x = 1e6;
  return ff_fitd_to_fixed(x);
}

/* deliver: connection e of an arrival of trial b (xmark: its stand-in sidx arrived, for D-RTRL). */
FF_HD static inline void ff_fitd_deliver(const FfFitDev *d, int32_t sidx, int32_t b) {
  for (int64_t e = d->pre_indptr[sidx]; e < d->pre_indptr[sidx + 1]; ++e)
    ff_fitd_add_i64(&d->acc[(int64_t)b * d->n + d->target[e]], d->wq[e]);
  if (d->xmark) d->xmark[(int64_t)sidx * d->B + b] = 1;
}

/* update: cell (j, b) at step t: its input, a background spike, one step of the neuron, its traces,
 * and a spike into the cell's window slots. */
FF_HD FF_FIT_INLINE static inline void ff_fitd_update(const FfFitDev *d, int32_t j, int32_t b, int32_t t) {
  const int64_t k = (int64_t)j * d->B + b;
  const float kappa = t >= d->warmup ? 1.0f : 0.0f;
  int64_t q = d->acc[(int64_t)b * d->n + j];
  if (d->lr_on && d->lr_nz[b]) q += ff_fitd_lowrank_input(d, j, b);
  const float in = (float)q * d->fix_scale;
  d->acc[(int64_t)b * d->n + j] = 0;
  float xi = 0.0f;
  if (d->next_bg[k] == t) {
    xi = 1.0f;
    d->next_bg[k] = t + ff_fit_bg_gap(d->seed, d->gid[j], d->keys[b], t, d->log1mp);
  }
  const FfFitNeuron *nrn = &d->nrn;
  const FfFitStep r = ff_fit_step(nrn, &d->v[k], &d->g[k], &d->hold[k], in, d->w[k] * xi);
  if (r.s != 0.0f) {
    d->count[k] += t >= d->warmup;
    const int32_t s = d->wcount[k];
    if (s < d->slots) d->wstep[k * d->slots + s] = t;
    else *d->overflow = 1;
    d->wcount[k] = s + 1;
  }
  if (d->ev) ff_fit_trace_param(nrn, r, kappa, nrn->kick * xi, &d->ev[k], &d->eg[k], &d->ec[k]);
  if (d->fv) ff_fit_trace_es(nrn, r, kappa, d->a, &d->fv[k], &d->fg[k], &d->fc[k]);
  if (d->st_s) {
    d->st_s[k] = r.s;
    d->st_sg[k] = r.sg;
    d->st_held[k] = (uint8_t)r.held;
  }
}

/* pathway (D-RTRL): connection e of stand-in sidx in trial b at step t: e = D_t e + D_f x. */
FF_HD static inline void ff_fitd_pathway(const FfFitDev *d, int32_t sidx, int64_t e, int32_t b, int32_t t) {
  const float kappa = t >= d->warmup ? 1.0f : 0.0f;
  const int64_t k = (int64_t)d->target[e] * d->B + b, q = e * d->B + b;
  const FfFitStep r = {d->st_s[k], d->st_sg[k], d->st_held[k]};
  ff_fit_trace_pathway(&d->nrn, r, kappa, (float)d->xmark[(int64_t)sidx * d->B + b], &d->cv[q], &d->cg[q], &d->cc[q]);
}

/* A lazily decayed ES trace (value, step of its last arrival): a spike arrives at step t,
 * eps = a^(t - last) eps + 1. */
FF_HD static inline void ff_fitd_arrive(float *x, int32_t *last, int32_t t, const double *apow) {
  *x = (float)(apow[t - *last] * *x) + 1.0f;
  *last = t;
}

/* Trace q decayed to step `end`. */
FF_HD static inline void ff_fitd_decay_to(float *x, int32_t *last, int64_t q, int32_t end, const double *apow) {
  x[q] = (float)(apow[end - last[q]] * x[q]);
  last[q] = end;
}

/* The backward pass's view: the loss's gradient by rate, the readout's tables and the gradients. */
typedef struct {
  const double *dl_drates;   /* [Bc x P] */
  double t_count;            /* seconds of the counting window */
  const int64_t *np_row;     /* [n + 1] neuropil rows of each neuron (net.h) */
  const int16_t *np_id;
  const int32_t *np_syn;
  const int32_t *np_of;      /* connectome neuropil -> fitted index or -1 */
  const int64_t *np_row_syn; /* [P] synapses of each fitted neuropil over all neurons */
  float *dldc;               /* [n x B] */
  const double *xhat;        /* [B x P] */
  float *g_enc_w, *g_enc_b, *g_conn;
  const float *px;           /* [n_pre x B] ES presynaptic traces (NULL: D-RTRL) */
  float es_norm;             /* 1 - (1 - a)^T */
} FfFitBack;

/* dL/dcount of cell (j, b): its share of every fitted neuropil's rate (0 for b >= Bc). */
FF_HD static inline void ff_fitd_dldc(const FfFitDev *d, const FfFitBack *k, int32_t j, int32_t b) {
  double x = 0.0;
  if (b < d->Bc)
    for (int64_t q = k->np_row[j]; q < k->np_row[j + 1]; ++q) {
      const int32_t p = k->np_of[k->np_id[q]];
      if (p >= 0) x += k->dl_drates[(int64_t)b * d->P + p] * (double)k->np_syn[q] / (double)k->np_row_syn[p];
    }
  k->dldc[(int64_t)j * d->B + b] = (float)(x / k->t_count);
}

/* The encoder's gradient of neuron j, summed over the batch in trial order: dL/dw = dL/dc e_c,
 * w = ReLU(z), z = b + W xhat. */
FF_HD static inline void ff_fitd_encoder_grad(const FfFitDev *d, const FfFitBack *k, int32_t j) {
  for (int32_t b = 0; b < d->Bc; ++b) {
    const int64_t c = (int64_t)j * d->B + b;
    if (!(d->w[c] > 0.0f)) continue;
    const float gw = k->dldc[c] * d->ec[c];
    k->g_enc_b[j] += gw;
    for (int32_t p = 0; p < d->P; ++p) k->g_enc_w[(int64_t)j * d->P + p] += gw * (float)k->xhat[(int64_t)b * d->P + p];
  }
}

/* Connection e (of stand-in sidx): its gradient summed over the batch in trial order: ES-D-RTRL
 * dL/dW_ij = (dL/dc_j eps_f,c_j) / (1 - (1 - a)^T) eps_x,i; D-RTRL dL/dW = dL/dc e_c. */
FF_HD static inline void ff_fitd_connection_grad(const FfFitDev *d, const FfFitBack *k, int32_t sidx, int64_t e) {
  const int64_t j = d->target[e];
  const int32_t B = d->B;
  float acc = 0.0f;
  if (k->px)
    for (int32_t b = 0; b < d->Bc; ++b)
      acc += k->dldc[j * B + b] * d->fc[j * B + b] / k->es_norm * k->px[(int64_t)sidx * B + b];
  else
    for (int32_t b = 0; b < d->Bc; ++b) acc += k->dldc[j * B + b] * d->cc[e * B + b];
  k->g_conn[e] += acc;
}

/* One Adam step of parameter p with gradient g x scale (c1, c2: the bias corrections). */
FF_HD static inline void ff_fitd_adam(float *p, float *m, float *v, float g_in, double scale, double lr, double beta1,
                                      double beta2, double eps, double c1, double c2) {
  const double g = (double)g_in * scale;
  const double mm = beta1 * *m + (1.0 - beta1) * g, vv = beta2 * *v + (1.0 - beta2) * g * g;
  *m = (float)mm;
  *v = (float)vv;
  *p = (float)(*p - lr * (mm / c1) / (sqrt(vv / c2) + eps));
}

#endif
