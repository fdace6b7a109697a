/* One rank's trainable network and its stepper (include/flyfit/fit.h).
 *
 * Time runs in windows of D steps as in the simulation: spikes of window w reach their targets in
 * window w+1, so a window's steps need nothing from other ranks and the spikes are exchanged once
 * after it. Within a step, arriving spikes are added to each target's accumulator in fixed point
 * (an integer sum, so the order of arrival, and with it the partition, never matters), then every
 * neuron-trial advances (fit_neuron.h) and updates its traces. Background spikes are a Bernoulli
 * process per step, drawn as geometric gaps keyed by (neuron, sample, step): one random draw per
 * background spike instead of one per step, the same for any rank count.
 *
 * Presynaptic ES traces change only when a spike arrives, so they are kept lazily as (value, step of
 * last arrival) and decayed by a^(t - last) when touched.
 *
 * Every per-element loop is a kernel of include/flyfit/fit_dev.h, launched by FF_FIT_FOR or
 * FF_FIT_CELLS (fit_net.h): on the CPU's threads, or serially in a scrambled order for
 * backend = emulate, which must give the same bits. */
#include "flyfit/fit.h"
#include "flyfit/arrivals.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/log.h"
#include "flyfit/results.h"
#include "flyfit/rng.h"
#include "flyfit/spike.h"
#include <lapacke.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fit_net.h"

/* ---- small helpers ------------------------------------------------------------------------------ */

static int emit_push(EmitVec *e, int32_t j, int32_t t, int32_t b) {
  if (e->n == e->cap) {
    int64_t cap = e->cap ? 2 * e->cap : 1024;
    Emit *q = realloc(e->v, (size_t)cap * sizeof *q);
    if (q == NULL) return FF_ERR_NOMEM;
    e->v = q;
    e->cap = cap;
  }
  e->v[e->n++] = (Emit){j, t, b};
  return FF_OK;
}

void ff_fit_bg_powers(double p, int32_t K, double *pw) {
  double x = 1.0;
  for (int32_t k = 0; k < K; ++k) pw[k] = x *= 1.0 - p;
}

int32_t ff_fit_bg_gap(uint64_t seed, int64_t gid, uint32_t key, int32_t step, const double *pw, int32_t K) {
  return ff_fitd_bg_gap(seed, gid, key, step, pw, K);
}

void ff_fit_init_state(uint64_t seed, int64_t gid, uint32_t key, double v_sd, double g_max, float *v, float *g) {
  uint32_t r[4];
  ff_rng4(seed, FF_STREAM_FIT_INIT, (uint32_t)gid, key, 0, r);
  const double nz = ff_normal(r[0], r[1]);
  *v = (float)(v_sd * nz);
  *g = (float)(g_max * ff_u01(r[2]));
}

FfFitDev ff_fit_dev_view(const FfFitNet *f) {
  const FfFitSetup *s = &f->s;
  return (FfFitDev){.nrn = f->nrn, .n = f->n, .B = f->B, .Bc = f->Bcur, .P = f->P, .R = f->R, .D = f->D,
                    .steps = s->steps, .warmup = s->warmup, .seed = s->seed,
                    .bg_pow = f->bg_pow, .bg_k = s->steps + 1,
                    .fix_scale = (float)(1.0 / (double)(1ull << FF_FIT_FIX)), .a = (float)s->etrace_decay,
                    .gid = f->gid, .keys = f->keys, .pre_indptr = f->pre_indptr, .target = f->target,
                    .wq = f->wq, .v = f->v, .g = f->g, .w = f->w, .hold = f->hold, .count = f->count,
                    .next_bg = f->next_bg, .acc = f->acc, .ev = f->ev, .eg = f->eg, .ec = f->ec, .fv = f->fv,
                    .fg = f->fg, .fc = f->fc, .st_s = f->st_s, .st_sg = f->st_sg, .st_held = f->st_held,
                    .xmark = f->cv ? f->xmark : NULL, .cv = f->cv, .cg = f->cg, .cc = f->cc, .slots = f->slots,
                    .wcount = f->wcount, .wstep = f->wstep, .overflow = f->overflow, .lr_on = 0,
                    .lr_a = f->lr_a, .lr_ud = f->lr_ud, .lr_nz = f->lr_nz};
}

/* Every one of the n traces decayed to step `end`. */
static void traces_decay_to(FfFitNet *f, float *x, int32_t *last, int64_t n, int32_t end) {
  const double *apow = f->apow;
  if (f->cuda) {
    const FfFitDev d = ff_fit_dev_view(f);
    const FfFitArgs a = {.t = end, .x = x, .last = last, .apow = apow};
    ff_fit_launch(f, &d, NULL, &a, FF_FITK_DECAY, n);
    return;
  }
  FF_FIT_FOR(f, q, n, ff_fitd_decay_to(x, last, q, end, apow));
}

/* The low-rank B^T bound: |B| x the neurons that spike in one step stays far inside int64 in fixed point. */
#define LOWRANK_B_MAX 1e3f

int ff_fit_sync_weights(FfFitNet *f) {
  for (int64_t q = 0; f->lr_b && q < (int64_t)f->n * f->R; ++q) {
    if (!(fabsf(f->lr_b[q]) < LOWRANK_B_MAX))
      return FF_ERROR(FF_ERR_INPUT, "low-rank B of neuron %lld, component %d is %g, outside +-%g ([fit] lr too large?)",
                      (long long)f->net->gid[q / f->R], (int)(q % f->R), f->lr_b[q], LOWRANK_B_MAX);
    f->lr_bq[q] = ff_fitd_to_fixed(f->lr_b[q]);
  }
  if (f->conn_w == NULL) return FF_OK;
  for (int64_t e = 0; e < f->E; ++e) {
    if (!(fabsf(f->conn_w[e]) < 1e6f))
      return FF_ERROR(FF_ERR_INPUT, "connection weight %lld is %g mV, outside +-1e6", (long long)e, f->conn_w[e]);
    f->wq[e] = ff_fitd_to_fixed(f->conn_w[e]);
  }
  if (f->t_w) { /* the transpose's copy, and whether every target's sum stays exact in double (2^53) */
    f->spmm_ok = 1;
    for (int32_t j = 0; j < f->n; ++j) {
      double sum = 0.0; /* |wq| < 2^52 each, so this bound errs on the safe side by at most an ulp a term */
      for (int64_t q = f->t_indptr[j]; q < f->t_indptr[j + 1]; ++q) {
        f->t_w[q] = f->wq[f->t_e[q]];
        sum += fabs((double)f->t_w[q]);
      }
      if (!(sum < 0x1p52)) f->spmm_ok = 0;
    }
  }
  return FF_OK;
}

/* ---- creation ----------------------------------------------------------------------------------- */

/* The allocation table (ff_fit_memory): every array of the network counted by what it grows with;
 * with backend = cuda, managed memory (zeroed) that the host and the GPU share. */
static int tracked_alloc(FfFitNet *f, int kind, void **p, int64_t n, size_t size, int zero, const char *what,
                         const char *file, int line, const char *func) {
  f->mem.bytes[kind] += (double)n * (double)size;
  if (f->cuda) return ff_fit_cuda_alloc(p, n * (int64_t)size, what);
  return ff_alloc_(p, (size_t)n, size, zero, what, file, line, func);
}
#define TRACKED_MALLOC(f, kind, p, n, what) \
  tracked_alloc(f, kind, (void **)&(p), (int64_t)(n), sizeof *(p), 0, what, __FILE__, __LINE__, __func__)
#define TRACKED_CALLOC(f, kind, p, n, what) \
  tracked_alloc(f, kind, (void **)&(p), (int64_t)(n), sizeof *(p), 1, what, __FILE__, __LINE__, __func__)

static void tracked_free(const FfFitNet *f, void *p) {
  if (f->cuda) ff_fit_cuda_free(p);
  else free(p);
}

/* backend = cuda: a copy of n elements of the network's array src in managed memory. */
#define DEVICE_COPY(f, kind, dst, src, n, what)                                                 \
  do {                                                                                         \
    void *p_;                                                                                  \
    FF_TRY(tracked_alloc(f, kind, &p_, (int64_t)(n), sizeof *(src), 0, what, __FILE__, __LINE__, __func__)); \
    memcpy(p_, (src), (size_t)(n) * sizeof *(src));                                            \
    (dst) = p_;                                                                                \
  } while (0)

void ff_fit_launch(FfFitNet *f, const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, FfFitKernel kind, int64_t n) {
  if (f->cuda_status == FF_OK && n > 0) f->cuda_status = ff_fit_cuda_launch(d, k, a, (int)kind, n);
}

const void *ff_fit_stage(FfFitNet *f, int slot, const void *src, int64_t bytes) {
  if (!f->cuda) return src;
  if (f->cuda_status != FF_OK) return NULL;
  if (bytes > f->stage_cap[slot] || f->stage_p[slot] == NULL) {
    ff_fit_cuda_free(f->stage_p[slot]);
    f->stage_p[slot] = NULL;
    f->stage_cap[slot] = 0;
    const int64_t cap = bytes + bytes / 2 + 4096;
    f->cuda_status = ff_fit_cuda_alloc(&f->stage_p[slot], cap, "staged host arrays");
    if (f->cuda_status != FF_OK) return NULL;
    f->stage_cap[slot] = cap;
  }
  if (bytes > 0) memcpy(f->stage_p[slot], src, (size_t)bytes);
  return f->stage_p[slot];
}

int ff_fit_status(const FfFitNet *f) { return f->cuda_status; }

void ff_fit_memory(const FfFitNet *f, FfFitMemory *m) {
  *m = f->mem;
  if (!f->cuda) { /* the connections' own arrays (net.h) a device holds too (cuda: counted as copied) */
    m->bytes[FF_FIT_MEM_CONN] += (double)f->E * sizeof *f->net->target;
    m->bytes[FF_FIT_MEM_STANDIN] += (double)(f->n_pre + 1) * sizeof *f->net->pre_indptr;
  }
  const double units[FF_FIT_MEM_KINDS] = {(double)f->n * f->B, f->n, (double)f->E, f->n_pre + 1.0,
                                          (double)f->n_pre * f->B, (double)f->E * f->B, f->s.steps + 1.0, 1.0};
  for (int k = 0; k < FF_FIT_MEM_KINDS; ++k) m->units[k] = units[k];
}

int ff_fit_reset_params(FfFitNet *f) {
  const FfFitSetup *s = &f->s;
  const FfNet *net = f->net;
  const int32_t P = f->P;
  /* encoder: bias enc_init_mV, weights enc_init_sd_mV N(0, 1) / sqrt(P), keyed by neuron and neuropil */
  for (int32_t j = 0; j < f->n; ++j) {
    f->enc_b[j] = (float)s->enc_init_mV;
    for (int32_t p = 0; p < P; ++p) {
      uint32_t r[4];
      ff_rng4(s->seed, FF_STREAM_FIT_PARAM, (uint32_t)net->gid[j], (uint32_t)p, 0, r);
      const double z = ff_normal(r[0], r[1]);
      f->enc_w[(int64_t)j * P + p] = (float)(s->enc_init_sd_mV * z / sqrt((double)P));
    }
  }
  /* low-rank term: A LeCun-normal (sd 1/sqrt(r)), keyed by neuron and component; B = 0 */
  for (int32_t j = 0; f->lr_a && j < f->n; ++j)
    for (int32_t k = 0; k < f->R; ++k) {
      uint32_t r[4];
      ff_rng4(s->seed, FF_STREAM_FIT_LOWRANK, (uint32_t)net->gid[j], (uint32_t)k, 0, r);
      const double z = ff_normal(r[0], r[1]);
      f->lr_a[(int64_t)j * f->R + k] = (float)(z / sqrt((double)f->R));
      f->lr_b[(int64_t)j * f->R + k] = 0.0f;
    }
  /* connections: weight w_syn x signed synapse count */
  for (int64_t e = 0; e < f->E; ++e) f->conn_w[e] = (float)(s->model->w_syn * (double)net->weight[e]);
  return ff_fit_sync_weights(f);
}

void ff_fit_destroy(FfFitNet **pf) {
  if (pf == NULL || *pf == NULL) return;
  FfFitNet *f = *pf;
  void *bufs[] = {f->enc_w, f->enc_b, f->enc_m, f->enc_v, f->enc_bm, f->enc_bv, f->g_enc_w, f->g_enc_b,
                  f->conn_w, f->conn_m, f->conn_v, f->g_conn, f->conn_sign, f->wq, f->v, f->g, f->w, f->hold,
                  f->count, f->next_bg, f->acc, f->ev, f->eg, f->ec, f->fv, f->fg, f->fc, f->cv, f->cg, f->cc,
                  f->st_s, f->st_sg, f->st_held, f->xmark, f->px, f->plast, f->np_row_syn, f->dldc, f->xhat, f->keys,
                  f->wcount, f->wstep, f->t_indptr, f->t_pre, f->t_e, f->t_w, f->xdense, f->apow, f->bg_pow, f->lr_a, f->lr_b, f->lr_am, f->lr_av, f->lr_bm, f->lr_bv, f->g_lr_a,
                  f->g_lr_b, f->lr_bq, f->lr_u, f->lr_ubar, f->lr_xbar, f->lr_xlast, f->lr_v, f->lr_ud, f->lr_nz, f->overflow};
  for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; ++k) tracked_free(f, bufs[k]);
  if (f->cuda) { /* the network's arrays copied to managed memory, and the staging buffers */
    const void *copies[] = {f->gid, f->pre_indptr, f->np_row, f->target, f->np_syn, f->np_of, f->np_id};
    for (size_t k = 0; k < sizeof copies / sizeof copies[0]; ++k) ff_fit_cuda_free((void *)copies[k]);
    for (int k = 0; k < FF_FIT_STAGES; ++k) ff_fit_cuda_free(f->stage_p[k]);
  }
  free(f->win.v);
  free(f->rec.v);
  ff_arrivals_destroy(&f->arr);
  ff_exchange_destroy(&f->x);
  free(f);
  *pf = NULL;
}

/* Where the kernels run and what they read of the network: with backend = cuda, GPU s->device and
 * managed copies of the network's arrays; otherwise the network's own. */
static int create_device(FfFitNet *f) {
  const FfNet *net = f->net;
  if (!f->cuda) {
    f->gid = net->gid;
    f->pre_indptr = net->pre_indptr;
    f->target = net->target;
    f->np_row = net->np_row;
    f->np_id = net->np_id;
    f->np_syn = net->np_syn;
    f->np_of = f->s.np_of;
  } else { /* a copy failing halfway leaves the rest NULL, which ff_fit_destroy skips */
    FF_TRY(ff_fit_cuda_init(f->s.device, f->device, sizeof f->device));
    const int64_t rows = net->np_row[f->n];
    int32_t ids = 0; /* the connectome's neuropils np_of covers: at least those named here */
    for (int64_t k = 0; k < rows; ++k)
      if (net->np_id[k] + 1 > ids) ids = net->np_id[k] + 1;
    DEVICE_COPY(f, FF_FIT_MEM_NEURON, f->gid, net->gid, f->n, "neuron ids");
    DEVICE_COPY(f, FF_FIT_MEM_STANDIN, f->pre_indptr, net->pre_indptr, f->n_pre + 1, "connections by stand-in");
    DEVICE_COPY(f, FF_FIT_MEM_CONN, f->target, net->target, f->E, "connection targets");
    DEVICE_COPY(f, FF_FIT_MEM_NEURON, f->np_row, net->np_row, f->n + 1, "neuropil rows");
    DEVICE_COPY(f, FF_FIT_MEM_NEURON, f->np_id, net->np_id, rows, "neuropil rows");
    DEVICE_COPY(f, FF_FIT_MEM_NEURON, f->np_syn, net->np_syn, rows, "neuropil rows");
    DEVICE_COPY(f, FF_FIT_MEM_OTHER, f->np_of, f->s.np_of, ids, "fitted neuropils");
  }
  return TRACKED_CALLOC(f, FF_FIT_MEM_OTHER, f->overflow, 1, "overflow flag");
}

const char *ff_fit_device(const FfFitNet *f) { return f->cuda ? f->device : NULL; }

/* The neuron model, and the encoder and connection parameters with their Adam state. */
static int create_params(FfFitNet *f) {
  const FfFitSetup *s = &f->s;
  const FfModel *m = s->model;
  const int64_t P = f->P;
  if (m->step_order != FF_ORDER_BRAINSCALE)
    return FF_ERROR(FF_ERR_INPUT, "[run] mode = fit needs the brainscale step order ([run] preset = brainscale)");
  if (m->ref_steps > 256) return FF_ERROR(FF_ERR_INPUT, "[model] tau_ref_ms: more than 255 refractory steps");
  f->nrn = (FfFitNeuron){(float)m->em1, (float)m->es1, (float)m->one_minus_em, (float)m->u_th, (float)m->u_reset,
                         0.3f, 1.5f, (m->ref_steps > 1 ? m->ref_steps : 1) - 1,
                         s->kick_before_decay ? (float)m->em1 : 1.0f};
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_NEURON, f->enc_w, f->n * P, "encoder weights"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_NEURON, f->enc_b, f->n, "encoder biases"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->enc_m, f->n * P, "encoder Adam state"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->enc_v, f->n * P, "encoder Adam state"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->enc_bm, f->n, "encoder Adam state"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->enc_bv, f->n, "encoder Adam state"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->g_enc_w, f->n * P, "encoder gradient"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->g_enc_b, f->n, "encoder gradient"));
  /* connections: weight w_syn x signed synapse count */
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN, f->wq, f->E, "fixed-point weights"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN, f->conn_w, f->E, "connection weights"));
  if (s->trainable & FF_TRAIN_LOWRANK) {
    f->R = s->lowrank_rank;
    if (f->R < 1 || f->R > f->net->n_global)
      return FF_ERROR(FF_ERR_INPUT, "[fit] lowrank_rank = %d: give 1 to the neuron count (%lld)", f->R,
                      (long long)f->net->n_global);
    const int64_t nr = (int64_t)f->n * f->R;
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_NEURON, f->lr_a, nr, "low-rank A"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_NEURON, f->lr_b, nr, "low-rank B"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_NEURON, f->lr_bq, nr, "low-rank B"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->lr_am, nr, "low-rank Adam state"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->lr_av, nr, "low-rank Adam state"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->lr_bm, nr, "low-rank Adam state"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->lr_bv, nr, "low-rank Adam state"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->g_lr_a, nr, "low-rank gradient"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->g_lr_b, nr, "low-rank gradient"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_OTHER, f->lr_u, (int64_t)f->D * f->B * f->R, "low-rank input"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_OTHER, f->lr_ud, (int64_t)f->B * f->R, "low-rank input"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_OTHER, f->lr_nz, f->B, "low-rank input"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_OTHER, f->lr_v, (int64_t)f->B * f->R, "low-rank projection"));
  }
  FF_TRY(ff_fit_reset_params(f));
  if (s->trainable & FF_TRAIN_CONNECTIONS) {
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_CONN, f->conn_m, f->E, "connection Adam state"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_CONN, f->conn_v, f->E, "connection Adam state"));
    FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_CONN, f->g_conn, f->E, "connection gradient"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN, f->conn_sign, f->E, "connection signs"));
    for (int64_t e = 0; e < f->E; ++e) f->conn_sign[e] = f->net->weight[e] > 0 ? 1 : -1;
  }
  return FF_OK;
}

/* The state of every neuron-trial, and the batch's inputs. */
static int create_state(FfFitNet *f) {
  const int64_t nb = (int64_t)f->n * f->B;
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->v, nb, "membrane potentials"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->g, nb, "synaptic currents"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->w, nb, "encoder outputs"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->hold, nb, "refractory counters"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->count, nb, "spike counts"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->next_bg, nb, "background spikes"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_CELL, f->acc, nb, "synaptic input"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->dldc, nb, "count gradients"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_OTHER, f->xhat, (int64_t)f->B * f->P, "encoder input"));
  /* a gap past the last step is as good as none: the table reaches one step beyond */
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_STEP, f->bg_pow, f->s.steps + 1, "background gaps"));
  ff_fit_bg_powers(f->s.background_hz * f->s.model->dt_ms * 1e-3, f->s.steps + 1, f->bg_pow);
  return TRACKED_MALLOC(f, FF_FIT_MEM_OTHER, f->keys, f->B, "sample keys");
}

/* The eligibility traces of what is trained: the encoder's per neuron-trial; for connections
 * ES-D-RTRL's factors (etrace_decay > 0) or D-RTRL's per connection, refused above max_trace_bytes. */
static int create_traces(FfFitNet *f) {
  const FfFitSetup *s = &f->s;
  const int64_t nb = (int64_t)f->n * f->B;
  if (s->trainable & FF_TRAIN_ENCODER) {
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->ev, nb, "encoder traces"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->eg, nb, "encoder traces"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->ec, nb, "encoder traces"));
  }
  if (!(s->trainable & (FF_TRAIN_CONNECTIONS | FF_TRAIN_LOWRANK))) return FF_OK;
  if (s->etrace_decay > 0.0) { /* ES-D-RTRL: the postsynaptic factor, shared by connections and the low-rank term */
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->fv, nb, "ES traces"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->fg, nb, "ES traces"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->fc, nb, "ES traces"));
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_STEP, f->apow, s->steps + 1, "decay powers"));
    f->apow[0] = 1.0;
    for (int32_t k = 1; k <= s->steps; ++k) f->apow[k] = f->apow[k - 1] * s->etrace_decay;
    if (s->trainable & FF_TRAIN_LOWRANK) {
      FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_OTHER, f->lr_ubar, (int64_t)f->R * f->B, "low-rank traces"));
      FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->lr_xbar, nb, "low-rank traces"));
      FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->lr_xlast, nb, "low-rank traces"));
    }
    if (!(s->trainable & FF_TRAIN_CONNECTIONS)) return FF_OK;
    FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_PRE, f->px, (int64_t)f->n_pre * f->B, "presynaptic traces"));
    return TRACKED_MALLOC(f, FF_FIT_MEM_PRE, f->plast, (int64_t)f->n_pre * f->B, "presynaptic traces");
  }
  if (s->trainable & FF_TRAIN_LOWRANK)
    return FF_ERROR(FF_ERR_INPUT, "[fit] trainable = lowrank is trained by ES-D-RTRL: set [fit] etrace_decay > 0 "
                                  "(0.99; D-RTRL would keep a trace per pair of neurons for B)");
  const double bytes = (double)f->E * f->B * 3 * sizeof(float);
  if (bytes > s->max_trace_bytes)
    return FF_ERROR(FF_ERR_INPUT,
                    "[fit] etrace_decay = 0 (D-RTRL) keeps 3 traces per connection and sample: %.3g GB for %lld "
                    "connections x %d samples on rank %d, above [fit] max_trace_mb; use ES-D-RTRL "
                    "([fit] etrace_decay = 0.99) or fewer samples per batch",
                    bytes / 1e9, (long long)f->E, f->B, f->net->rank);
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN_CELL, f->cv, f->E * f->B, "connection traces"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN_CELL, f->cg, f->E * f->B, "connection traces"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN_CELL, f->cc, f->E * f->B, "connection traces"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->st_s, nb, "step record"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->st_sg, nb, "step record"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->st_held, nb, "step record"));
  return TRACKED_CALLOC(f, FF_FIT_MEM_PRE, f->xmark, (int64_t)f->n_pre * f->B, "arrival marks");
}

/* Each cell's spike slots of a window (a cell spikes at most once per hold_steps + 1 steps) and the
 * arrivals of a window, with their trials. */
static int create_windows(FfFitNet *f) {
  const int32_t gap = f->nrn.hold_steps + 1;
  f->slots = (f->D + gap - 1) / gap;
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_CELL, f->wcount, (int64_t)f->n * f->B, "spike slots"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CELL, f->wstep, (int64_t)f->n * f->B * f->slots, "spike slots"));
  return ff_arrivals_create(&f->arr, f->B, f->D, 0, 1);
}

int ff_fit_create_spmm(FfFitNet *f) {
  const FfNet *net = f->net;
  if (f->E > INT32_MAX)
    return FF_ERROR(FF_ERR_INPUT, "[fit] delivery = spmm: %lld connections on rank %d, more than 2^31 - 1; use more "
                    "ranks or delivery = spike", (long long)f->E, net->rank);
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_NEURON, f->t_indptr, (int64_t)f->n + 1, "connections by target"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN, f->t_pre, f->E, "connections by target"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN, f->t_e, f->E, "connections by target"));
  FF_TRY(TRACKED_MALLOC(f, FF_FIT_MEM_CONN, f->t_w, f->E, "connections by target"));
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_PRE, f->xdense, (int64_t)f->n_pre * f->B, "arrival matrix"));
  for (int64_t e = 0; e < f->E; ++e) f->t_indptr[net->target[e] + 1]++;
  for (int32_t j = 0; j < f->n; ++j) f->t_indptr[j + 1] += f->t_indptr[j];
  for (int32_t s = 0; s < f->n_pre; ++s) /* stand-ins ascend, so each row lists them in order */
    for (int64_t e = net->pre_indptr[s]; e < net->pre_indptr[s + 1]; ++e) {
      const int64_t at = f->t_indptr[net->target[e]]++;
      f->t_pre[at] = s;
      f->t_e[at] = (int32_t)e;
    }
  for (int32_t j = f->n; j > 0; --j) f->t_indptr[j] = f->t_indptr[j - 1];
  f->t_indptr[0] = 0;
  return ff_fit_sync_weights(f);
}

/* Collective: all ranks of f->s.comm must call it, whatever their status (a rank that failed before
 * still takes part). The synapses of every fitted neuropil over all neurons, an integer sum across
 * ranks, for the readout. */
static int create_readout(FfFitNet *f, int status) {
  const FfFitSetup *s = &f->s;
  const FfNet *net = f->net;
  const int32_t P = f->P;
  FF_TRY(TRACKED_CALLOC(f, FF_FIT_MEM_OTHER, f->np_row_syn, P > 0 ? P : 1, "neuropil synapses"));
  for (int32_t j = 0; j < f->n; ++j)
    for (int64_t k = net->np_row[j]; k < net->np_row[j + 1]; ++k) {
      const int32_t p = s->np_of[net->np_id[k]];
      if (p >= 0) f->np_row_syn[p] += net->np_syn[k];
    }
  FF_TRY(FF_MPI(MPI_Allreduce(MPI_IN_PLACE, f->np_row_syn, (int)P, MPI_INT64_T, MPI_SUM, s->comm)));
  FF_TRY(status);
  for (int32_t p = 0; p < P; ++p)
    if (f->np_row_syn[p] <= 0) return FF_ERROR(FF_ERR_INPUT, "fitted neuropil %d has no presynaptic synapses", p);
  return FF_OK;
}

int ff_fit_create(const FfFitSetup *s, FfFitNet **out) {
  *out = NULL;
  FfFitNet *f;
  FF_TRY(FF_CALLOC(f, 1, "fitting network"));
  f->s = *s;
  f->net = s->net;
  f->n = s->net->n_local;
  f->B = s->batch;
  f->P = s->n_np;
  f->D = s->model->delay_steps;
  f->E = s->net->n_in;
  f->n_pre = s->net->n_pre;
  f->emulate = s->emulate;
  f->nccl = s->nccl;
  f->cuda = s->cuda;
  int st = create_device(f);
  FF_CALL(st, create_params(f));
  FF_CALL(st, create_state(f));
  FF_CALL(st, create_traces(f));
  FF_CALL(st, create_windows(f));
  if (s->delivery == FF_DELIVERY_SPMM) FF_CALL(st, ff_fit_create_spmm(f)); /* auto: when first needed */
  /* the collective steps: every rank takes part, so that a failure here leaves no rank waiting */
  st = create_readout(f, st);
  const int xst = ff_exchange_create(s->net, s->nccl ? FF_EXCHANGE_ALLGATHER : s->exchange, s->comm, &f->x, NULL);
  FF_CALL(st, xst);
  if (st != FF_OK) {
    ff_fit_destroy(&f);
    return st;
  }
  *out = f;
  return FF_OK;
}

/* ---- forward ------------------------------------------------------------------------------------ */

/* A batch starts: encoder outputs, initial state, first background spikes, traces at zero. */
static void start_batch(FfFitNet *f, const double *x, const uint32_t *key) {
  const FfFitSetup *s = &f->s;
  const FfModel *m = s->model;
  const int32_t B = f->B, Bc = f->Bcur, P = f->P;
  for (int32_t b = 0; b < Bc; ++b) f->keys[b] = key[b];
  for (int32_t b = 0; b < Bc; ++b)
    for (int32_t p = 0; p < P; ++p) f->xhat[(int64_t)b * P + p] = x[(int64_t)b * P + p] / s->x_scale;
#pragma omp parallel for schedule(static) num_threads(s->threads > 0 ? s->threads : 1)
  for (int32_t j = 0; j < f->n; ++j) {
    const int64_t gid = f->net->gid[j];
    for (int32_t b = 0; b < B; ++b) {
      const int64_t k = (int64_t)j * B + b;
      if (b >= Bc) { /* unused slot of a short batch: silent */
        f->w[k] = 0.0f;
        f->v[k] = f->g[k] = 0.0f;
        f->hold[k] = 0;
        f->count[k] = 0;
        f->next_bg[k] = INT32_MAX;
      } else {
        double z = f->enc_b[j];
        for (int32_t p = 0; p < P; ++p) z += (double)f->enc_w[(int64_t)j * P + p] * f->xhat[(int64_t)b * P + p];
        f->w[k] = z > 0.0 ? (float)z : 0.0f;
        ff_fit_init_state(s->seed, gid, s->fixed_init ? 0u : key[b], m->v_init_sd, m->g_init_max, &f->v[k], &f->g[k]);
        f->hold[k] = 0;
        f->count[k] = 0;
        f->next_bg[k] = s->background_hz > 0.0 ? ff_fit_bg_gap(s->seed, gid, key[b], -1, f->bg_pow, s->steps + 1) - 1 : INT32_MAX;
      }
      f->acc[(int64_t)b * f->n + j] = 0; /* trial-major (fit_dev.h) */
      f->wcount[k] = 0;
      if (f->ev) f->ev[k] = f->eg[k] = f->ec[k] = 0.0f;
      if (f->fv) f->fv[k] = f->fg[k] = f->fc[k] = 0.0f;
    }
  }
  if (f->lr_u) memset(f->lr_u, 0, (size_t)f->D * B * f->R * sizeof *f->lr_u);
  if (f->lr_ubar) {
    memset(f->lr_ubar, 0, (size_t)f->R * B * sizeof *f->lr_ubar);
    memset(f->lr_xbar, 0, (size_t)f->n * B * sizeof *f->lr_xbar);
    memset(f->lr_xlast, 0, (size_t)f->n * B * sizeof *f->lr_xlast);
  }
  if (f->px) {
    memset(f->px, 0, (size_t)f->n_pre * B * sizeof *f->px);
    memset(f->plast, 0, (size_t)f->n_pre * B * sizeof *f->plast);
  }
  if (f->cv) {
    memset(f->cv, 0, (size_t)f->E * B * sizeof *f->cv);
    memset(f->cg, 0, (size_t)f->E * B * sizeof *f->cg);
    memset(f->cc, 0, (size_t)f->E * B * sizeof *f->cc);
  }
}

/* The end of a window: the cells' slots compacted into f->win in (neuron, trial, step) order (an
 * exclusive scan of the counts on a device), the spikes of sample 0 into the record
 * (ff_fit_record), the spike count. */
static int collect_window(FfFitNet *f) {
  FF_TRY(ff_fit_status(f));
  if (*f->overflow) return FF_ERROR(FF_ERR_INTERNAL, "a neuron spiked more often in a window than its refractory period allows");
  const int64_t cells = (int64_t)f->n * f->B;
  int st = FF_OK;
  f->win.n = 0;
  for (int64_t k = 0; k < cells; ++k) {
    for (int32_t s = 0; s < f->wcount[k] && st == FF_OK; ++s)
      if (emit_push(&f->win, (int32_t)(k / f->B), f->wstep[k * f->slots + s], (int32_t)(k % f->B)) != FF_OK)
        st = FF_ERROR(FF_ERR_NOMEM, "out of memory collecting the window's spikes");
    f->wcount[k] = 0;
  }
  for (int64_t i = 0; f->record && i < f->win.n; ++i) {
    const Emit *e = &f->win.v[i];
    if (e->b == 0 && st == FF_OK && emit_push(&f->rec, e->j, e->t, 0) != FF_OK)
      st = FF_ERROR(FF_ERR_NOMEM, "out of memory recording spikes");
  }
  f->stats.spikes += f->win.n;
  return st;
}

/* After window [t0, t0 + D): this rank's share of u for the next window, u_k(t + D) = sum over its
 * neurons j that spiked at t of B_kj (fixed point: an integer sum, the same for any partition), and
 * ES's trace of each neuron's delayed spikes, xbar = a^(t + D - last) xbar + 1 on arrival (a cell's
 * spikes in time order). */
static void lowrank_partial(FfFitNet *f, int32_t t0) {
  memset(f->lr_u, 0, (size_t)f->D * f->B * f->R * sizeof *f->lr_u);
  const Emit *v = f->win.v;
  /* the compacted list holds a cell's spikes together, in time order: a kernel per spike adds u,
   * and the trace takes them in order (first spike of a cell: its run) */
  const FfFitDev d = ff_fit_dev_view(f);
  const FfFitArgs a = {.t0 = t0, .win = ff_fit_stage(f, FF_FIT_STAGE_WIN, v, f->win.n * (int64_t)sizeof *v),
                       .n_win = f->win.n, .lr_u = f->lr_u, .lr_bq = f->lr_bq, .x = f->lr_xbar, .last = f->lr_xlast,
                       .apow = f->apow};
  if (f->cuda) ff_fit_launch(f, &d, NULL, &a, FF_FITK_LOWRANK, f->win.n);
  else FF_FIT_FOR(f, i, f->win.n, ff_fitd_lowrank_spike(&d, &a, i));
}

/* Collective: all ranks of f->s.comm must call it. After window [t0, t0 + D): pack its spikes,
 * exchange them, and sort the arrivals of the next window by (step, trial); presynaptic ES traces
 * take their arrivals in time order. status != FF_OK tells the other ranks to stop. */
static int exchange_window(FfFitNet *f, int32_t t0, int status) {
  const FfNet *net = f->net;
  const int32_t B = f->B, D = f->D;
  FF_CALL(status, collect_window(f));
  const int64_t n = status == FF_OK ? f->win.n : 0;
  uint64_t *send = NULL;
  FF_CALL(status, ff_exchange_send_buffer(f->x, n, &send));
  for (int64_t q = 0; status == FF_OK && q < n; ++q) {
    const Emit *e = &f->win.v[q];
    send[q] = ff_spike_pack(net->new_base + e->j, e->t - t0, e->b);
  }
  if (f->lr_a && status == FF_OK) lowrank_partial(f, t0);
  const uint64_t *recv;
  int64_t got;
  FfExchangeStats xs = {0, 0, 0.0, 0.0};
  const double t_x = ff_wall_seconds();
  /* a failure anywhere fails the exchange everywhere, so that no rank waits */
  FF_TRY(ff_exchange_run(f->x, status == FF_OK ? n : 0, status, &recv, &got, &xs));
  /* every rank got here: u of the next window */
  if (f->lr_a)
    FF_TRY(FF_MPI(MPI_Allreduce(MPI_IN_PLACE, f->lr_u, (int)((int64_t)D * B * f->R), MPI_INT64_T, MPI_SUM, f->s.comm)));
  f->stats.exchange_s += ff_wall_seconds() - t_x;
  if (f->nccl) FF_TRY(ff_arrivals_place(&f->arr, net, recv, got)); /* as a device places them */
  else FF_TRY(ff_arrivals_sort(&f->arr, net, recv, got));
  const int64_t n_arr = f->arr.off[(int64_t)D * B]; /* the next window's arrivals, where kernels read them */
  f->arr_pre = ff_fit_stage(f, FF_FIT_STAGE_PRE, f->arr.pre, n_arr * (int64_t)sizeof *f->arr.pre);
  f->arr_trial = ff_fit_stage(f, FF_FIT_STAGE_TRIAL, f->arr.trial, n_arr * (int64_t)sizeof *f->arr.trial);
  if (f->px) { /* arrivals at step t0 + D + k: eps = a^(t - last) eps + 1, one per (stand-in, trial) and step */
    const FfFitDev d = ff_fit_dev_view(f);
    for (int32_t k = 0; k < D && t0 + D + k < f->s.steps; ++k) {
      const int64_t a0 = f->arr.off[(int64_t)k * B], a1 = f->arr.off[(int64_t)(k + 1) * B];
      if (a1 == a0) continue;
      const FfFitArgs a = {.t = t0 + D + k, .pre = f->arr_pre + a0, .trial = f->arr_trial + a0, .x = f->px,
                           .last = f->plast, .apow = f->apow};
      if (f->cuda) ff_fit_launch(f, &d, NULL, &a, FF_FITK_ARRIVE, a1 - a0);
      else FF_FIT_FOR(f, q, a1 - a0, ff_fitd_arrive_pre(&d, &a, q));
    }
  }
  return ff_fit_status(f);
}

/* Collective: all ranks of f->s.comm must call it, whatever their status. The neuropil rates of
 * the B samples into rates [B x P]: integer sums of synapses x counts, added across ranks, with a
 * flag of any rank's failure in the same sum, so that all ranks stop together. */
static int neuropil_rates(FfFitNet *f, int32_t B, int status, double *rates) {
  const FfFitSetup *s = &f->s;
  const FfNet *net = f->net;
  const int32_t P = f->P;
  const int64_t nr = (int64_t)B * P;
  int64_t *sums;
  FF_TRY(FF_CALLOC(sums, nr + 1, "neuropil sums"));
  for (int32_t j = 0; status == FF_OK && j < f->n; ++j)
    for (int64_t k = net->np_row[j]; k < net->np_row[j + 1]; ++k) {
      const int32_t p = s->np_of[net->np_id[k]];
      if (p < 0) continue;
      for (int32_t b = 0; b < B; ++b)
        sums[(int64_t)b * P + p] += (int64_t)net->np_syn[k] * f->count[(int64_t)j * f->B + b];
    }
  sums[nr] = status != FF_OK;
  int st = FF_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, (int)(nr + 1), MPI_INT64_T, MPI_SUM, s->comm));
  if (st == FF_OK && status == FF_OK && sums[nr] > 0)
    st = FF_ERROR(FF_ERR_MPI, "%lld other rank(s) failed in the last window of a batch", (long long)sums[nr]);
  const double t_count = (double)(s->steps - s->warmup) * s->model->dt_ms * 1e-3;
  for (int64_t q = 0; st == FF_OK && status == FF_OK && q < nr; ++q)
    rates[q] = (double)sums[q] / (double)f->np_row_syn[q % P] / t_count;
  free(sums);
  return status != FF_OK ? status : st;
}

/* The steps of window [t0, t1): arrivals, then every neuron-trial (and D-RTRL's connection traces). */
static int run_steps(FfFitNet *f, int32_t t0, int32_t t1) {
  int status = FF_OK;
  double ta = ff_wall_seconds();
  for (int32_t t = t0; t < t1 && status == FF_OK; ++t) {
    if (t0 > 0) ff_fit_deliver(f, t - t0);
    const double tb = ff_wall_seconds();
    f->stats.deliver_s += tb - ta;
    ff_fit_update(f, t);
    if (f->cv) ff_fit_pathways(f, t);
    /* read and written: acc 8 + 8, v 4 + 4, g 4 + 4, hold 1 + 1; read: w 4, next_bg 4; 3 floats read
     * and written per kept trace; D-RTRL's pathways apart */
    f->stats.update_bytes += (double)f->n * f->Bcur * (42 + (f->ev ? 24 : 0) + (f->fv ? 24 : 0));
    ta = ff_wall_seconds();
    f->stats.step_s += ta - tb;
    f->stats.steps++;
  }
  return status;
}

int ff_fit_forward(FfFitNet *f, int32_t B, const double *x, const uint32_t *key, int traces, double *rates) {
  const FfFitSetup *s = &f->s;
  if (B < 1 || B > f->B) return FF_ERROR(FF_ERR_INTERNAL, "batch of %d samples, room for %d", B, f->B);
  f->Bcur = B;
  f->traces = traces;
  f->rec.n = 0;
  /* traces are buffers of the trainer; a forward without them leaves them alone */
  float *ev = f->ev, *fv = f->fv, *cv = f->cv, *px = f->px, *st = f->st_s, *xbar = f->lr_xbar;
  double *ubar = f->lr_ubar;
  if (!traces) {
    f->ev = f->fv = f->cv = f->px = f->st_s = f->lr_xbar = NULL;
    f->lr_ubar = NULL;
  }
  start_batch(f, x, key);
  ff_arrivals_clear(&f->arr);
  int status = FF_OK;
  const int64_t n_windows = ff_window_count(s->steps, f->D);
  for (int64_t w = 0; w < n_windows && status == FF_OK; ++w) {
    const FfWindow win = ff_window(w, f->D, s->steps);
    status = run_steps(f, (int32_t)win.first, (int32_t)win.end);
    if (w + 1 < n_windows) status = exchange_window(f, (int32_t)win.first, status);
    else FF_CALL(status, collect_window(f)); /* spikes of the last window arrive after the end */
  }
  if (!traces) {
    f->ev = ev;
    f->fv = fv;
    f->cv = cv;
    f->px = px;
    f->st_s = st;
    f->lr_xbar = xbar;
    f->lr_ubar = ubar;
  }
  /* the last window has no exchange: the rates' sum tells the ranks of a failure in it */
  if (f->px && traces && status == FF_OK) /* decay every presynaptic trace to the last step */
    traces_decay_to(f, f->px, f->plast, (int64_t)f->n_pre * f->B, s->steps - 1);
  if (f->lr_xbar && traces && status == FF_OK) /* and every delayed-spike trace */
    traces_decay_to(f, f->lr_xbar, f->lr_xlast, (int64_t)f->n * f->B, s->steps - 1);
  if (status == FF_OK) status = ff_fit_status(f);
  return neuropil_rates(f, B, status, rates);
}

void ff_fit_view(FfFitNet *f, FfFitView *v) {
  *v = (FfFitView){.n_local = f->n, .n_np = f->P, .batch = f->B, .n_conn = f->E, .enc_w = f->enc_w,
                   .enc_b = f->enc_b, .enc_m = f->enc_m, .enc_v = f->enc_v, .enc_bm = f->enc_bm, .enc_bv = f->enc_bv,
                   .conn_w = f->conn_w, .conn_m = f->conn_m, .conn_v = f->conn_v, .g_enc_w = f->g_enc_w,
                   .g_enc_b = f->g_enc_b, .g_conn = f->g_conn, .lr_rank = f->R, .lr_a = f->lr_a, .lr_b = f->lr_b,
                   .lr_am = f->lr_am, .lr_av = f->lr_av, .lr_bm = f->lr_bm, .lr_bv = f->lr_bv, .g_lr_a = f->g_lr_a,
                   .g_lr_b = f->g_lr_b, .adam_t = f->adam_t, .count = f->count, .ext_w = f->w};
}

void ff_fit_stats(const FfFitNet *f, FfFitStats *s) { *s = f->stats; }

void ff_fit_set_adam_t(FfFitNet *f, int64_t t) { f->adam_t = t; }

void ff_fit_record(FfFitNet *f, int on) { f->record = on; }

int ff_fit_recorded(FfFitNet *f, int64_t **gid, int32_t **step, int64_t *n) {
  *n = f->rec.n;
  *gid = NULL;
  *step = NULL;
  FF_TRY(FF_MALLOC(*gid, f->rec.n > 0 ? f->rec.n : 1, "recorded spikes"));
  FF_TRY(FF_MALLOC(*step, f->rec.n > 0 ? f->rec.n : 1, "recorded spikes"));
  for (int64_t i = 0; i < f->rec.n; ++i) {
    (*gid)[i] = f->net->gid[f->rec.v[i].j];
    (*step)[i] = f->rec.v[i].t;
  }
  return FF_OK;
}

/* sigma^2 are the eigenvalues of (A^T A)(B B^T), which with A^T A = V L V^T are those of the symmetric
 * L^1/2 V^T (B B^T) V L^1/2. */
int ff_fit_lowrank_spectrum(FfFitNet *f, double *sv) {
  const int32_t R = f->R;
  const int64_t nr = (int64_t)R * R;
  FfExact *mine, *all;
  double *ga = NULL, *gb = NULL, *m = NULL, *w = NULL;
  FF_TRY(FF_CALLOC(mine, 2 * nr, "low-rank Gram matrices"));
  if (FF_CALLOC(all, 2 * nr, "low-rank Gram matrices") != FF_OK) {
    free(mine);
    return FF_ERR_NOMEM;
  }
  for (int32_t j = 0; j < f->n; ++j) {
    const float *a = f->lr_a + (int64_t)j * R, *b = f->lr_b + (int64_t)j * R;
    for (int32_t k = 0; k < R; ++k)
      for (int32_t l = k; l < R; ++l) { /* a product of two floats is exact in double */
        ff_exact_add(&mine[(int64_t)k * R + l], (double)a[k] * (double)a[l]);
        ff_exact_add(&mine[nr + (int64_t)k * R + l], (double)b[k] * (double)b[l]);
      }
  }
  int st = ff_exact_reduce(mine, all, 2 * nr, f->s.comm);
  if (st == FF_OK && (FF_MALLOC(ga, nr, "low-rank Gram matrices") != FF_OK || FF_MALLOC(gb, nr, "low-rank Gram matrices") != FF_OK ||
                      FF_MALLOC(m, nr, "low-rank Gram matrices") != FF_OK || FF_MALLOC(w, R, "low-rank spectrum") != FF_OK))
    st = FF_ERR_NOMEM;
  for (int32_t k = 0; st == FF_OK && k < R; ++k)
    for (int32_t l = k; l < R; ++l) {
      ga[k * R + l] = ga[l * R + k] = ff_exact_value(&all[(int64_t)k * R + l]);
      gb[k * R + l] = gb[l * R + k] = ff_exact_value(&all[nr + (int64_t)k * R + l]);
    }
  if (st == FF_OK && LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', R, ga, R, w) != 0)
    st = FF_ERROR(FF_ERR_INPUT, "the low-rank term's A^T A has no eigen-decomposition (A is not finite)");
  for (int32_t k = 0; st == FF_OK && k < R; ++k) /* m = L^1/2 V^T G_B V L^1/2; ga's columns are V */
    for (int32_t l = 0; l < R; ++l) {
      double s = 0.0;
      for (int32_t i = 0; i < R; ++i)
        for (int32_t q = 0; q < R; ++q) s += ga[i * R + k] * gb[i * R + q] * ga[q * R + l];
      m[k * R + l] = sqrt(fmax(w[k], 0.0)) * s * sqrt(fmax(w[l], 0.0));
    }
  if (st == FF_OK && LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', R, m, R, w) != 0)
    st = FF_ERROR(FF_ERR_INPUT, "the low-rank term's A B has no singular values (B is not finite)");
  for (int32_t k = 0; st == FF_OK && k < R; ++k) sv[k] = sqrt(fmax(w[R - 1 - k], 0.0)); /* dsyev: ascending */
  free(mine);
  free(all);
  free(ga);
  free(gb);
  free(m);
  free(w);
  return st;
}
