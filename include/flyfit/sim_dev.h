/* The GPU simulation backend's device algorithm: the data it keeps on the device and the body of
 * every kernel, one element at a time. The CUDA kernels (src/sim/cuda/sim_cuda.cu) are thin loops
 * around these bodies, and src/sim/sim_emul.c runs the same bodies serially on the CPU, in a scrambled
 * order, so the algorithm is tested on machines without a GPU (backend = emulate) against the CPU
 * backend, bit for bit. The host side of both (src/sim/sim_dev_setup.c, src/sim/sim_dev.c) is shared too.
 *
 * The algorithm is the CPU backend's (src/sim/sim_cpu.c), reorganised for thousands of threads: each
 * (trial, neuron) "cell" keeps an anchor (u, g, t_anchor) and the step of its next predicted spike,
 * `next`; it changes only when input arrives, by the closed form of model.h. Per step n:
 *   fire    every cell with next == n spikes: count, reset, predict again      (dense, one per cell)
 *   arrive  every connection of every spike arriving at n adds its signed synapse count to the
 *           target cell's 64-bit accumulator (integer atomics: the sum never depends on order)
 *   inputs  Poisson (Philox keyed by neuron, step and trial, as on the CPU), file and background
 *           spikes add to 32-bit counters
 *   update  every touched cell (a list built with atomic marks; order does not matter, cells are
 *           independent) brings its anchor to n, adds its inputs, and predicts its next spike
 * in the order of the step (shiu: fire, arrive, inputs, update; brainscale: arrive, inputs, update
 * with immediate spikes, fire). A cell's spikes in a window go to its own slots, as many as it can
 * have (ceil(D / refractory steps)), so the window's spike list has an exact size bound; at the end
 * of the window an exclusive prefix scan of the per-cell counts compacts them into one list in
 * (trial, neuron, step) order, the same on every run. */
#ifndef FLYFIT_SIM_DEV_H
#define FLYFIT_SIM_DEV_H

#include <stdint.h>

#include "flyfit/hd.h"
#include "flyfit/model.h"
#include "flyfit/rng.h"
#include "flyfit/spike.h"

#if defined(__CUDACC__)
#define FF_DEV __device__
#else
#define FF_DEV
#endif

/* Everything the kernels see: sizes, the model (its table on the device) and device pointers.
 * Passed to every kernel by value; the pointers never change during a run. */
typedef struct {
  FfModel m;
  int32_t n, B, D;           /* local neurons, trials, delay steps */
  int64_t n_steps;
  uint64_t seed;
  int64_t new_base;          /* new id of local neuron 0 */
  const int32_t *n0;         /* [1] first step of the current window (set before each window) */
  /* per cell c = b * n + i */
  double *u, *g;             /* anchor state, mV relative to rest */
  int32_t *t_anchor, *next, *count;
  unsigned long long *acc;   /* signed synapse counts arriving this step (two's complement) */
  int32_t *ext, *bg;         /* stimulus and background spikes this step */
  uint32_t *mark;            /* touched this step */
  int32_t *touched;          /* [B n] cells touched this step, in any order */
  uint32_t *n_touched;       /* [1] */
  int32_t *wcount;           /* spikes of the cell in this window */
  int32_t *wstep;            /* their steps, in the cell's slots */
  int64_t slots;             /* slots per trial: sum over neurons of slot_off[i + 1] - slot_off[i] */
  const int64_t *slot_off;   /* [n + 1] */
  int32_t *overflow;         /* [1] set if a cell had more spikes than slots (never, by the bound) */
  /* per neuron */
  const uint8_t *flags;      /* FF_NF_* (spike.h) */
  const int64_t *gid;
  /* incoming connections, grouped by stand-in (net.h) */
  int32_t n_pre;
  const int64_t *pre_new;
  const int64_t *pre_indptr;
  const int32_t *target;
  const int32_t *weight;
  /* the window's arrivals, grouped by slot k * B + b (k: step in window) */
  int64_t *arr_off;          /* [D B + 1] */
  int32_t *arr;              /* stand-in of each arrival */
  int32_t *arr_b;            /* its trial */
  unsigned long long *events; /* [1] synaptic events delivered */
  /* stimulus */
  int32_t n_poisson;
  const int32_t *poisson;    /* local neurons with Poisson input */
  const int32_t *file_i;     /* file input spikes of local neurons, by step */
  const int64_t *file_off;   /* [D + 1] this window's file spikes of step k: file_i[file_off[k] .. file_off[k+1]) */
  /* recorded state, [B x n_steps x n_state] as the CPU backend keeps it */
  int32_t n_state;
  const int32_t *state_i;    /* local neuron of each recorded-state column */
  double *state_v, *state_g;
  /* the window's spikes, compacted */
  int64_t *spk_off;          /* [B n] exclusive scan of wcount */
  int64_t *n_spk;            /* [1] total */
  int32_t *spk_cell, *spk_step;
  uint64_t *spk_word;        /* packed exchange words (FF_SPIKE_NONE for silenced neurons) */
  /* delivery of received words on the device (NCCL transport) */
  int32_t *look;             /* stand-in of each received word, -1 = none here */
  int64_t *slot_fill;        /* [D B] */
} FfDev;

/* ---- atomics: real ones on the GPU; the emulation is serial ---------------------------------- */
#if defined(__CUDACC__)
FF_DEV static inline uint32_t ff_dev_inc(uint32_t *p) { return atomicAdd(p, 1u); }
FF_DEV static inline void ff_dev_add_u64(unsigned long long *p, unsigned long long v) { atomicAdd(p, v); }
FF_DEV static inline int32_t ff_dev_add_i32(int32_t *p, int32_t v) { return atomicAdd(p, v); }
FF_DEV static inline long long ff_dev_add_i64(int64_t *p, long long v) {
  return (long long)atomicAdd((unsigned long long *)p, (unsigned long long)v);
}
FF_DEV static inline uint32_t ff_dev_exch(uint32_t *p, uint32_t v) { return atomicExch(p, v); }
#else
static inline uint32_t ff_dev_inc(uint32_t *p) { return (*p)++; }
static inline void ff_dev_add_u64(unsigned long long *p, unsigned long long v) { *p += v; }
static inline int32_t ff_dev_add_i32(int32_t *p, int32_t v) { const int32_t o = *p; *p += v; return o; }
static inline long long ff_dev_add_i64(int64_t *p, long long v) { const long long o = *p; *p += v; return o; }
static inline uint32_t ff_dev_exch(uint32_t *p, uint32_t v) { const uint32_t o = *p; *p = v; return o; }
#endif

/* ---- small helpers ----------------------------------------------------------------------------- */
FF_DEV static inline int32_t ff_dev_step(const FfDev *d, int32_t k) { return *d->n0 + k; }

FF_DEV static inline void ff_dev_schedule(const FfDev *d, int64_t c) {
  d->next[c] = ff_next_spike(&d->m, d->u[c], d->g[c], d->t_anchor[c]);
}

/* A spike of cell c at step n: count, keep for the exchange, reset, predict from the reset state. */
FF_DEV static inline void ff_dev_fire(const FfDev *d, int64_t c, int32_t n) {
  const int32_t i = (int32_t)(c % d->n), b = (int32_t)(c / d->n);
  d->count[c]++;
  const int32_t s = d->wcount[c];
  const int64_t base = (int64_t)b * d->slots + d->slot_off[i];
  if (base + s < (int64_t)b * d->slots + d->slot_off[i + 1]) d->wstep[base + s] = n;
  else *d->overflow = 1;
  d->wcount[c] = s + 1;
  ff_after_spike(&d->m, (d->flags[i] & FF_NF_DRIVEN) != 0, n, &d->u[c], &d->g[c], &d->t_anchor[c]);
  ff_dev_schedule(d, c);
}

FF_DEV static inline void ff_dev_touch(const FfDev *d, int64_t c) {
  if (ff_dev_exch(&d->mark[c], 1u) == 0u) d->touched[ff_dev_inc(d->n_touched)] = (int32_t)c;
}

/* ---- kernel bodies ----------------------------------------------------------------------------- */

/* fire: cell c, step k of the window. */
FF_DEV static inline void ff_dev_k_fire(const FfDev *d, int64_t c, int32_t k) {
  const int32_t n = ff_dev_step(d, k);
  if (n < d->n_steps && d->next[c] == n) ff_dev_fire(d, c, n);
}

/* The arrivals of step k of the window: a in [*a0, *a1). Arrival a is stand-in arr[a] of trial
 * arr_b[a], whose connections are pre_indptr[arr[a]] .. pre_indptr[arr[a] + 1]. */
FF_DEV static inline void ff_dev_arrivals(const FfDev *d, int32_t k, int64_t *a0, int64_t *a1) {
  *a0 = d->arr_off[(int64_t)k * d->B];
  *a1 = d->arr_off[(int64_t)(k + 1) * d->B];
}

/* arrive: connection e of an arriving spike of trial b. */
FF_DEV static inline void ff_dev_k_arrive(const FfDev *d, int32_t b, int64_t e) {
  const int64_t c = (int64_t)b * d->n + d->target[e];
  ff_dev_add_u64(&d->acc[c], (unsigned long long)(long long)d->weight[e]);
  ff_dev_touch(d, c);
}

/* Poisson input: q = b * n_poisson + k over the Poisson neurons. */
FF_DEV static inline void ff_dev_k_poisson(const FfDev *d, int64_t q, int32_t k) {
  const int32_t n = ff_dev_step(d, k);
  if (n >= d->n_steps) return;
  const int32_t b = (int32_t)(q / d->n_poisson), i = d->poisson[q % d->n_poisson];
  if (ff_input_spike(d->seed, FF_STREAM_POISSON, d->gid[i], b, n, d->m.p_ext_u32)) {
    const int64_t c = (int64_t)b * d->n + i;
    ff_dev_add_i32(&d->ext[c], 1);
    ff_dev_touch(d, c);
  }
}

/* File input: q = b * (file spikes of step k) + j. */
FF_DEV static inline void ff_dev_k_file(const FfDev *d, int64_t q, int32_t k) {
  const int64_t f0 = d->file_off[k], nf = d->file_off[k + 1] - f0;
  const int32_t b = (int32_t)(q / nf), i = d->file_i[f0 + q % nf];
  const int64_t c = (int64_t)b * d->n + i;
  ff_dev_add_i32(&d->ext[c], 1);
  ff_dev_touch(d, c);
}

/* Background input to every cell. */
FF_DEV static inline void ff_dev_k_background(const FfDev *d, int64_t c, int32_t k) {
  const int32_t n = ff_dev_step(d, k);
  if (n >= d->n_steps) return;
  const int32_t i = (int32_t)(c % d->n), b = (int32_t)(c / d->n);
  if (ff_input_spike(d->seed, FF_STREAM_BACKGROUND, d->gid[i], b, n, d->m.p_background_u32)) {
    d->bg[c]++;
    ff_dev_touch(d, c);
  }
}

/* update: the q-th touched cell takes its input (model.h, as the CPU backend does); brainscale
 * cells that cross threshold spike at once. */
FF_DEV static inline void ff_dev_k_update(const FfDev *d, int64_t q, int32_t k) {
  const int32_t n = ff_dev_step(d, k);
  const int64_t c = d->touched[q];
  if (n > d->t_anchor[c]) {
    const double syn = (double)(long long)d->acc[c], ext = (double)d->ext[c], bg = (double)d->bg[c];
    if (ff_take_input(&d->m, n, syn, ext, bg, &d->u[c], &d->g[c], &d->t_anchor[c])) ff_dev_fire(d, c, n);
    else ff_dev_schedule(d, c);
  }
  d->acc[c] = 0;
  d->ext[c] = 0;
  d->bg[c] = 0;
  d->mark[c] = 0;
}

/* recorded state after step k: q = b * n_state + s. */
FF_DEV static inline void ff_dev_k_state(const FfDev *d, int64_t q, int32_t k) {
  const int32_t n = ff_dev_step(d, k);
  if (n >= d->n_steps) return;
  const int32_t b = (int32_t)(q / d->n_state), s = (int32_t)(q % d->n_state);
  const int64_t c = (int64_t)b * d->n + d->state_i[s];
  const int64_t at = ((int64_t)b * d->n_steps + n) * d->n_state + s;
  ff_state_at(&d->m, d->u[c], d->g[c], d->t_anchor[c], n, &d->state_v[at], &d->state_g[at]);
}

/* compaction, after the scan of wcount into spk_off: cell c's spikes into the window's list. */
FF_DEV static inline void ff_dev_k_scatter(const FfDev *d, int64_t c) {
  const int32_t i = (int32_t)(c % d->n), b = (int32_t)(c / d->n);
  const int64_t base = (int64_t)b * d->slots + d->slot_off[i], o = d->spk_off[c];
  const int32_t n0 = *d->n0;
  for (int32_t s = 0; s < d->wcount[c]; ++s) {
    const int32_t step = d->wstep[base + s];
    d->spk_cell[o + s] = (int32_t)c;
    d->spk_step[o + s] = step;
    d->spk_word[o + s] = ff_spike_word(d->flags[i], d->new_base + i, step, n0, b);
  }
  d->wcount[c] = 0;
}

/* The arrival slot of a received word: step in window * B + trial, as the host sorts them. */
FF_HD static inline int64_t ff_dev_slot(const FfDev *d, uint64_t w) {
  return (int64_t)ff_spike_step(w) * d->B + ff_spike_batch(w);
}

/* device delivery, pass 1: the stand-in of received word q, counted into its slot. */
FF_DEV static inline void ff_dev_k_lookup(const FfDev *d, const uint64_t *words, int64_t q) {
  const uint64_t w = words[q];
  const int32_t p = w == FF_SPIKE_NONE ? -1 : ff_find_sorted(d->pre_new, d->n_pre, ff_spike_gid(w));
  d->look[q] = p;
  if (p >= 0) ff_dev_add_i64(&d->arr_off[ff_dev_slot(d, w) + 1], 1);
}

/* device delivery, pass 2 (after the scan of arr_off): word q into its slot. Order within a slot
 * depends on the threads; the sums it feeds are integer, so results do not. */
FF_DEV static inline void ff_dev_k_place(const FfDev *d, const uint64_t *words, int64_t q) {
  if (d->look[q] < 0) return;
  const uint64_t w = words[q];
  const int64_t slot = ff_dev_slot(d, w);
  const int64_t at = d->arr_off[slot] + ff_dev_add_i64(&d->slot_fill[slot], 1);
  d->arr[at] = d->look[q];
  d->arr_b[at] = ff_spike_batch(w);
}

/* ---- the order of a step ----------------------------------------------------------------------- */

/* The kernels of one step. Every device runs the list ff_dev_step_kernels gives, in its order. */
typedef enum {
  FF_DEV_FIRE,       /* ff_dev_k_fire over every cell */
  FF_DEV_ARRIVE,     /* ff_dev_k_arrive over the connections of the step's arrivals, counting events */
  FF_DEV_POISSON,    /* ff_dev_k_poisson over trials x Poisson neurons */
  FF_DEV_FILE,       /* ff_dev_k_file over trials x the step's file spikes */
  FF_DEV_BACKGROUND, /* ff_dev_k_background over every cell */
  FF_DEV_UPDATE,     /* ff_dev_k_update over the touched cells, then the touched count back to 0 */
  FF_DEV_STATE,      /* ff_dev_k_state over trials x recorded neurons */
  FF_DEV_KERNELS     /* the number of kinds: the longest list */
} FfDevKernel;

/* The kernels of a step, in the model's step order (shiu: fire, arrive, inputs, update; brainscale:
 * arrive, inputs, update, fire), leaving out those with nothing to do in this window: n_file_window
 * file spikes and `arrivals` arriving spikes. Returns how many were written to k. */
static inline int ff_dev_step_kernels(const FfDev *d, int64_t n_file_window, int64_t arrivals,
                                      FfDevKernel k[FF_DEV_KERNELS]) {
  const int shiu = d->m.step_order == FF_ORDER_SHIU;
  int n = 0;
  if (shiu) k[n++] = FF_DEV_FIRE;
  if (arrivals > 0) k[n++] = FF_DEV_ARRIVE;
  if (d->m.p_ext_u32 && d->n_poisson > 0) k[n++] = FF_DEV_POISSON;
  if (n_file_window > 0) k[n++] = FF_DEV_FILE;
  if (d->m.p_background_u32) k[n++] = FF_DEV_BACKGROUND;
  k[n++] = FF_DEV_UPDATE;
  if (!shiu) k[n++] = FF_DEV_FIRE;
  if (d->n_state > 0) k[n++] = FF_DEV_STATE;
  return n;
}

/* ---- the host side's view of a device (src/sim/sim_dev_setup.c, sim_dev.c) ------------------------- */

/* What a device implementation provides: memory by name, copies, and the kernel sequences. The
 * CUDA one is ff_dev_ops_cuda() (NULL in a build without CUDA), the serial one ff_dev_ops_emulate. */
typedef struct FfDevOps {
  const char *name;
  /* device `device` for this rank; with nccl set, NCCL joins `comm`: then collective, all ranks of
   * comm must call it */
  int (*init)(void **ctx, int device, int nccl, void *mpi_comm);
  int (*mem_free)(void *ctx, int64_t *free_bytes, int64_t *total_bytes);
  int (*alloc)(void *ctx, const char *name, int64_t bytes, void **p); /* zeroed */
  int (*h2d)(void *ctx, void *dst, const void *src, int64_t bytes);
  int (*d2h)(void *ctx, void *dst, const void *src, int64_t bytes);  /* waits for the device */
  int (*fill)(void *ctx, void *p, int byte, int64_t bytes);
  void (*describe)(void *ctx, char *buf, int cap); /* "NVIDIA H100 80GB HBM3 (79.1 GB, sm_90)" */
  /* the first `steps` steps of a window (fewer than D only in the last one); d->n0 already holds
   * its first step. n_file_window: file spikes in it; arrivals: the arrivals delivered for it */
  int (*window)(void *ctx, const FfDev *d, int32_t steps, int64_t n_file_window, int64_t arrivals);
  /* scan + scatter of the window's spikes; *n_spikes = their number (waits) */
  int (*compact)(void *ctx, const FfDev *d, int64_t *n_spikes);
  /* NCCL (or its MPI imitation): every rank's `per_rank` words into recv [size x per_rank].
   * Collective: all ranks must call it */
  int (*allgather)(void *ctx, const uint64_t *send, uint64_t *recv, int64_t per_rank);
  /* lookup, scan and place of n received words on the device (arr_off, arr, arr_b); *kept =
   * the arrivals found; none is placed when that exceeds cap */
  int (*deliver)(void *ctx, const FfDev *d, const uint64_t *words, int64_t n, int64_t cap, int64_t *kept);
  /* kernel seconds so far: update (fire, inputs, update), delivery (arrive, compaction) */
  void (*times)(void *ctx, double *update_s, double *delivery_s);
  int64_t (*peak_bytes)(void *ctx);
  void (*destroy)(void *ctx);
} FfDevOps;

#ifdef __cplusplus
extern "C" {
#endif
const FfDevOps *ff_dev_ops_cuda(void);
extern const FfDevOps ff_dev_ops_emulate;
#ifdef __cplusplus
}
#endif

#endif
