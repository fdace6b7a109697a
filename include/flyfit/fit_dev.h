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
 * geometric gap needs no log: the host makes the table of (1 - p)^k once (ff_fit_bg_powers), and a
 * kernel searches it (ff_fitd_bg_gap). */
#ifndef FLYFIT_FIT_DEV_H
#define FLYFIT_FIT_DEV_H

#include <math.h>
#include <stdint.h>

#include "flyfit/fit.h"
#include "flyfit/fit_neuron.h"
#include "flyfit/hd.h"
#include "flyfit/rng.h"

#if defined(__CUDACC__)
#define FF_FIT_INLINE /* nvcc inlines device code by itself */
#else
#define FF_FIT_INLINE __attribute__((always_inline))
#endif

/* Two's complement: the sum of integers is the same in any order, with any wrap-around. */
FF_HD static inline void ff_fitd_add_i64(int64_t *p, int64_t v) {
#if defined(__CUDA_ARCH__)
  atomicAdd((unsigned long long *)p, (unsigned long long)v);
#else
  __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
#endif
}

typedef struct {
  FfFitNeuron nrn;
  int32_t n, B, Bc, P, R, D, steps, warmup;
  uint64_t seed;
  const double *bg_pow;     /* [bg_k] (1 - p)^k, k = 1 .. bg_k: the background's gaps (ff_fit_bg_powers) */
  int32_t bg_k;
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

/* The steps from a background spike at `step` (-1: the start) to the next: a geometric gap of the
 * Bernoulli(p) process per step, P(gap > k) = (1 - p)^k. For u uniform in (0, 1], gap = the first k
 * with u >= (1 - p)^k (= ceil(log u / log(1 - p)) in exact arithmetic), found by bisection of
 * pw[k - 1] = (1 - p)^k, k = 1 .. K; K + 1 past the table (set K beyond the last step). Comparisons
 * only: the same bits on any device. */
FF_HD static inline int32_t ff_fitd_bg_gap(uint64_t seed, int64_t gid, uint32_t key, int32_t step, const double *pw,
                                           int32_t K) {
  uint32_t r[4];
  ff_rng4(seed, FF_STREAM_FIT_BG, (uint32_t)gid, (uint32_t)step, key, r);
  const double u = ff_u01_53(r[0], r[1]);
  int32_t lo = 1, hi = K + 1; /* the answer is in [lo, hi] */
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (u >= pw[mid - 1]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

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
    d->next_bg[k] = t + ff_fitd_bg_gap(d->seed, d->gid[j], d->keys[b], t, d->bg_pow, d->bg_k);
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

/* ---- the launcher's kernels ------------------------------------------------------------------------
 * Every per-element loop of a forward and backward pass as a kind and its arguments, so that one
 * launcher (src/fit/fit_launch.c; src/fit/cuda/fit_cuda.cu on a GPU) runs any of them over its
 * elements q = 0 .. N-1 with ff_fitd_kernel. */

/* A spike of the window: neuron, step, trial. */
typedef struct {
  int32_t j, t, b;
} FfFitEmit;

typedef enum {
  FF_FITK_DELIVER,         /* arrivals of the step (pre, trial): ff_fitd_deliver */
  FF_FITK_SPMM,            /* cells (j = q / Bc, b = q % Bc): the step's sparse x dense delivery */
  FF_FITK_UPDATE,          /* cells (j = q / Bc, b = q % Bc): ff_fitd_update */
  FF_FITK_PATHWAYS,        /* stand-ins: D-RTRL's trace of each connection x trial */
  FF_FITK_LOWRANK,         /* the window's spikes: u and ES's delayed-spike traces */
  FF_FITK_ARRIVE,          /* arrivals of the step: the presynaptic ES traces */
  FF_FITK_DECAY,           /* traces: decayed to step t */
  FF_FITK_DLDC,            /* cells (j = q / B, b = q % B): ff_fitd_dldc */
  FF_FITK_ENCODER_GRAD,    /* neurons: ff_fitd_encoder_grad */
  FF_FITK_CONNECTION_GRAD, /* stand-ins: ff_fitd_connection_grad of each connection */
  FF_FITK_ADAM,            /* parameters: ff_fitd_adam */
  FF_FITK_KINDS
} FfFitKernel;

/* The arguments of a launch beyond the views (unused ones NULL or 0). */
typedef struct {
  int32_t t, t0, Bc;             /* the step (DECAY: the step decayed to); the window's first; trials */
  const int32_t *pre, *trial;    /* DELIVER, ARRIVE: the step's arrivals */
  const FfFitEmit *win;          /* LOWRANK: the window's spikes, a cell's together in time order */
  int64_t n_win;
  int64_t *lr_u;                 /* LOWRANK: u of the next window [D x B x R] */
  const int64_t *lr_bq;          /* LOWRANK: B^T rows in fixed point [n x R] */
  float *x;                      /* ARRIVE, DECAY, LOWRANK: lazily decayed traces */
  int32_t *last;
  const double *apow;            /* a^k */
  int32_t n_pre;                 /* SPMM: stand-ins (rows of the arrival matrix) */
  const int64_t *t_indptr;       /* SPMM: the connections by target, the step's arrival matrix */
  const int32_t *t_pre;
  const int64_t *t_w;
  const uint8_t *xdense;
  float *p, *m, *v;              /* ADAM */
  const float *g;
  double scale, lr, beta1, beta2, eps, c1, c2;
} FfFitArgs;

/* SPMM: cell (j, b) adds sum_e w_e X[pre(e), b] over its connections, summed in double as cuSPARSE
 * does (CSR x dense, CUDA_R_64F): exact, every partial sum an integer below 2^53 (fit_net.h spmm_ok). */
FF_HD static inline void ff_fitd_spmm(const FfFitDev *d, const FfFitArgs *a, int32_t j, int32_t b) {
  double sum = 0.0;
  for (int64_t q = a->t_indptr[j]; q < a->t_indptr[j + 1]; ++q)
    sum += (double)a->t_w[q] * (double)a->xdense[(int64_t)a->t_pre[q] * d->B + b];
  d->acc[(int64_t)b * d->n + j] += (int64_t)sum;
}

/* PATHWAYS: every connection of stand-in sidx, every trial. */
FF_HD static inline void ff_fitd_pathways(const FfFitDev *d, int32_t sidx, int32_t t) {
  for (int64_t e = d->pre_indptr[sidx]; e < d->pre_indptr[sidx + 1]; ++e)
    for (int32_t b = 0; b < d->Bc; ++b) ff_fitd_pathway(d, sidx, e, b, t);
}

/* LOWRANK: spike i of the window [t0, t0 + D) adds its neuron's B^T row to u(t + D) of its trial (an
 * integer sum: any order); the first spike of a cell takes the cell's run into ES's trace of delayed
 * spikes, xbar = a^(t + D - last) xbar + 1, in time order. */
FF_HD static inline void ff_fitd_lowrank_spike(const FfFitDev *d, const FfFitArgs *a, int64_t i) {
  const FfFitEmit *v = a->win, *e = &v[i];
  int64_t *u = a->lr_u + ((int64_t)(e->t - a->t0) * d->B + e->b) * d->R;
  const int64_t *bq = a->lr_bq + (int64_t)e->j * d->R;
  for (int32_t r = 0; r < d->R; ++r) ff_fitd_add_i64(&u[r], bq[r]);
  if (a->x && (i == 0 || v[i - 1].j != e->j || v[i - 1].b != e->b)) {
    const int64_t c = (int64_t)e->j * d->B + e->b;
    for (int64_t x = i; x < a->n_win && v[x].j == e->j && v[x].b == e->b && v[x].t + d->D < d->steps; ++x)
      ff_fitd_arrive(&a->x[c], &a->last[c], v[x].t + d->D, a->apow);
  }
}

/* ARRIVE: arrival q of step t (one per (stand-in, trial)) into its presynaptic ES trace. */
FF_HD static inline void ff_fitd_arrive_pre(const FfFitDev *d, const FfFitArgs *a, int64_t q) {
  const int64_t i = (int64_t)a->pre[q] * d->B + a->trial[q];
  ff_fitd_arrive(&a->x[i], &a->last[i], a->t, a->apow);
}

/* CONNECTION_GRAD: every connection of stand-in sidx. */
FF_HD static inline void ff_fitd_connection_grads(const FfFitDev *d, const FfFitBack *k, int32_t sidx) {
  for (int64_t e = d->pre_indptr[sidx]; e < d->pre_indptr[sidx + 1]; ++e) ff_fitd_connection_grad(d, k, sidx, e);
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

/* Element q of a launch of `kind`. */
FF_HD static inline void ff_fitd_kernel(const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, FfFitKernel kind,
                                        int64_t q) {
  switch (kind) {
  case FF_FITK_DELIVER: ff_fitd_deliver(d, a->pre[q], a->trial[q]); break;
  case FF_FITK_SPMM: ff_fitd_spmm(d, a, (int32_t)(q / a->Bc), (int32_t)(q % a->Bc)); break;
  case FF_FITK_UPDATE: ff_fitd_update(d, (int32_t)(q / a->Bc), (int32_t)(q % a->Bc), a->t); break;
  case FF_FITK_PATHWAYS: ff_fitd_pathways(d, (int32_t)q, a->t); break;
  case FF_FITK_LOWRANK: ff_fitd_lowrank_spike(d, a, q); break;
  case FF_FITK_ARRIVE: ff_fitd_arrive_pre(d, a, q); break;
  case FF_FITK_DECAY: ff_fitd_decay_to(a->x, a->last, q, a->t, a->apow); break;
  case FF_FITK_DLDC: ff_fitd_dldc(d, k, (int32_t)(q / d->B), (int32_t)(q % d->B)); break;
  case FF_FITK_ENCODER_GRAD: ff_fitd_encoder_grad(d, k, (int32_t)q); break;
  case FF_FITK_CONNECTION_GRAD: ff_fitd_connection_grads(d, k, (int32_t)q); break;
  case FF_FITK_ADAM:
    ff_fitd_adam(&a->p[q], &a->m[q], &a->v[q], a->g[q], a->scale, a->lr, a->beta1, a->beta2, a->eps, a->c1, a->c2);
    break;
  case FF_FITK_KINDS: break;
  }
}

/* Round 1 on a GPU: src/fit/cuda/fit_cuda.cu (builds without nvcc: src/fit/cuda_none.c, whose calls
 * fail, naming the build). */
#ifdef __cplusplus
extern "C" {
#endif
/* Makes GPU `device` the caller's; desc gets "GPU 0 NVIDIA H100 80GB HBM3 (85.0 GB, sm_90)". */
int ff_fit_cuda_init(int device, char *desc, int cap);
/* `bytes` of managed memory, zeroed, which the host and the GPU both address. */
int ff_fit_cuda_alloc(void **p, int64_t bytes, const char *what);
void ff_fit_cuda_free(void *p);
/* ff_fitd_kernel of `kind` over elements 0 .. n-1 (k, a: NULL where unused); returns when done. */
int ff_fit_cuda_launch(const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, int kind, int64_t n);
#ifdef __cplusplus
}
#endif

#endif
