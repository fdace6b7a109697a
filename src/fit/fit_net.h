/* The trainable network's state, shared by its two halves: the stepper (fit_net.c: creation, the
 * forward pass, the spike exchange) and the learning rule (fit_grad.c: gradients, the norm, Adam,
 * the loss). Private to src/fit; everything else sees FfFitNet through include/flyfit/fit.h. */
#ifndef FLYFIT_SRC_FIT_NET_H
#define FLYFIT_SRC_FIT_NET_H

#include "flyfit/arrivals.h"
#include "flyfit/fit.h"
#include "flyfit/fit_dev.h"
#include "flyfit/scramble.h"

typedef FfFitEmit Emit;

typedef struct {
  Emit *v;
  int64_t n, cap;
} EmitVec;

/* backend = cuda: the staging buffers of host arrays (ff_fit_stage). */
enum { FF_FIT_STAGE_PRE, FF_FIT_STAGE_TRIAL, FF_FIT_STAGE_WIN, FF_FIT_STAGE_DL, FF_FIT_STAGES };

struct FfFitNet {
  FfFitSetup s;
  const FfNet *net;
  FfFitNeuron nrn;
  int32_t n, B, P, D, n_pre;
  int64_t E;
  int32_t Bcur; /* samples in the current batch */
  /* parameters, Adam state and gradients */
  float *enc_w, *enc_b, *enc_m, *enc_v, *enc_bm, *enc_bv, *g_enc_w, *g_enc_b;
  float *conn_w, *conn_m, *conn_v, *g_conn;
  int8_t *conn_sign;
  int64_t *wq;   /* [E] fixed-point weights, 2^-FF_FIT_FIX mV */
  int64_t adam_t;
  /* the low-rank term (fit.h): R components; rows [n x R] of A and of B^T, B^T in fixed point */
  int32_t R;
  float *lr_a, *lr_b, *lr_am, *lr_av, *lr_bm, *lr_bv, *g_lr_a, *g_lr_b;
  int64_t *lr_bq;
  int64_t *lr_u;       /* [D x B x R + 1] u of the current window's steps (fixed point), summed over ranks */
  double *lr_ubar;     /* [R x B] ES presynaptic trace of u */
  float *lr_xbar;      /* [n x B] ES trace of each own neuron's delayed spikes (lazy, as px) */
  int32_t *lr_xlast;
  double *lr_ud;       /* [B x R] u of the current step as numbers */
  uint8_t *lr_nz;      /* [B] whether a sample has any low-rank input this step */
  double *lr_v;        /* [R x B] sum_i A_ik G_ib, the backward pass's projection */
  /* neuron-trial state [n x B] */
  float *v, *g, *w;
  uint8_t *hold;
  int32_t *count, *next_bg;
  int64_t *acc;        /* [B x n]: trial-major, unlike the rest (fit_dev.h) */
  float *ev, *eg, *ec; /* encoder-weight trace */
  float *fv, *fg, *fc; /* ES postsynaptic factor */
  float *cv, *cg, *cc; /* D-RTRL per-connection traces [E x B] */
  float *st_s, *st_sg; /* this step's spike and surrogate, for the per-connection traces */
  uint8_t *st_held, *xmark; /* [n x B], [n_pre x B] */
  float *px;           /* ES presynaptic trace [n_pre x B] */
  int32_t *plast;
  /* readout */
  int64_t *np_row_syn; /* [P] sum over all neurons of synapses in each fitted neuropil (global) */
  float *dldc;         /* [n x B] */
  double *xhat;        /* [B x P] encoder input of the current batch */
  uint32_t *keys;      /* [B] random-number identity of each sample */
  /* window machinery */
  int emulate;         /* backend = emulate: every kernel serial, in a scrambled order */
  int nccl;            /* transport = nccl: words gathered from every rank, placed as a device does */
  int32_t slots;       /* spike slots per cell and window: ceil(D / refractory steps) */
  int32_t *wcount, *wstep; /* [n x B], [n x B x slots]: the window's spikes of each cell */
  int32_t *overflow;   /* set by a kernel if a cell spiked more often than its slots allow (never) */
  /* backend = cuda (src/fit/cuda/fit_cuda.cu): every array above is managed memory, every kernel runs
   * on the GPU; the network's arrays the kernels read are copied there once, the host arrays they read
   * (arrivals, the window's spikes, the loss's gradient) staged before each launch */
  int cuda;
  char device[128];    /* the GPU, for the log */
  int cuda_status;     /* the first failure of a launch (then no more): the next status reports it */
  const int64_t *gid, *pre_indptr, *np_row; /* the network's own arrays, or their copies (cuda) */
  const int32_t *target, *np_syn, *np_of;
  const int16_t *np_id;
  void *stage_p[FF_FIT_STAGES];
  int64_t stage_cap[FF_FIT_STAGES];
  const int32_t *arr_pre, *arr_trial; /* the window's arrivals where the kernels read them */
  /* sparse x dense delivery: the connections by target (CSR) and the step's arrival matrix */
  int64_t *t_indptr;   /* [n + 1] */
  int32_t *t_pre;      /* [E] stand-in of each connection, in target order */
  int32_t *t_e;        /* [E] the connection (its index in the stand-in order) */
  int64_t *t_w;        /* [E] its fixed-point weight, in target order (kept with wq) */
  uint8_t *xdense;     /* [n_pre x B] the step's arrivals */
  int spmm_ok;         /* every target's sum of |weights| is below 2^53: exact in double too */
  int spmm_failed;     /* auto could not build the arrays: per spike from then on */
  EmitVec win;         /* the last window's spikes, compacted in (neuron, trial, step) order */
  int record;          /* keep the spikes of sample 0 (ff_fit_record) */
  EmitVec rec;         /* (local neuron, step, 0) of the last forward */
  FfArrivals arr;      /* arrivals of the current window, step-major: slot k B + b */
  FfExchange *x;
  double *apow;        /* [steps + 1] a^k for the lazy presynaptic traces */
  double *bg_pow;      /* [steps + 1] (1 - p)^k, k >= 1, for the background's gaps (fit_dev.h) */
  FfFitStats stats;
  FfFitMemory mem;     /* the allocation table */
  int traces;          /* the current forward updates traces */
};

/* The launch of a kernel over the elements q = 0 .. N-1: the CPU's threads in ascending order
 * (schedule(dynamic, 64): elements of uneven work), or backend = emulate's serial scrambled order. */
#define FF_FIT_FOR(f, q, N, ...)                                                                             \
  do {                                                                                                      \
    const int64_t N_ = (N);                                                                                 \
    const int nt_ = (f)->s.threads > 0 ? (f)->s.threads : 1;                                                \
    if ((f)->emulate) {                                                                                     \
      FF_FOR_SCRAMBLED(q, N_) { __VA_ARGS__; }                                                              \
    } else {                                                                                                \
      _Pragma("omp parallel for schedule(dynamic, 64) num_threads(nt_)") for (int64_t q = 0; q < N_; ++q) { \
        __VA_ARGS__;                                                                                        \
      }                                                                                                     \
    }                                                                                                       \
  } while (0)

/* The launch of a kernel over cells (j, b), j < NJ, b < NB: the CPU's threads over j (static: a
 * thread keeps its neurons from step to step), b innermost; or emulate's scrambled order. */
#define FF_FIT_CELLS(f, j, b, NJ, NB, ...)                                                                   \
  do {                                                                                                      \
    const int32_t NJ_ = (NJ), NB_ = (NB);                                                                   \
    const int nt_ = (f)->s.threads > 0 ? (f)->s.threads : 1;                                                \
    if ((f)->emulate) {                                                                                     \
      FF_FOR_SCRAMBLED(q_, (int64_t)NJ_ * NB_) {                                                            \
        const int32_t j = (int32_t)(q_ / NB_), b = (int32_t)(q_ % NB_);                                     \
        __VA_ARGS__;                                                                                        \
      }                                                                                                     \
    } else {                                                                                                \
      _Pragma("omp parallel for schedule(static) num_threads(nt_)") for (int32_t j = 0; j < NJ_; ++j) {     \
        for (int32_t b = 0; b < NB_; ++b) {                                                                 \
          __VA_ARGS__;                                                                                      \
        }                                                                                                   \
      }                                                                                                     \
    }                                                                                                       \
  } while (0)

/* backend = cuda: kernel `kind` over n elements on the GPU. A failure is kept in f->cuda_status, and
 * later launches do nothing, until the caller's next status check reports it (ff_fit_status). */
void ff_fit_launch(FfFitNet *f, const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, FfFitKernel kind, int64_t n);
/* backend = cuda: `bytes` of host array src copied into staging buffer `slot`, where kernels can read
 * it (NULL after a failure); otherwise src itself. */
const void *ff_fit_stage(FfFitNet *f, int slot, const void *src, int64_t bytes);
/* The kept failure of a launch, or FF_OK. */
int ff_fit_status(const FfFitNet *f);

/* The kernels' view of f's arrays (fit_dev.h) at step t (the low-rank term's lr_on set by the caller). */
FfFitDev ff_fit_dev_view(const FfFitNet *f);

/* Sparse x dense delivery's arrays (16 B a connection, 1 B a stand-in x sample): the connections by
 * target, a counting sort of the stand-in order, and the arrival matrix of a step; built at creation
 * for delivery = spmm, at the first dense step for auto. */
int ff_fit_create_spmm(FfFitNet *f);

/* The steps of a window (fit_steps.c). The arrivals of step k of the window into the accumulators. */
void ff_fit_deliver(FfFitNet *f, int32_t k);
/* Every neuron-trial one step at step t, with its traces; spikes into the cells' window slots. */
void ff_fit_update(FfFitNet *f, int32_t t);
/* D-RTRL: every connection's trace for step t. */
void ff_fit_pathways(FfFitNet *f, int32_t t);

#endif
