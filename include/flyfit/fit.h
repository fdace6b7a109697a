/* Round 1 of the fitting (docs/design.md §2.5): the spiking network, driven by an input encoder, learns
 * to turn the previous frame's neuropil rates into the next frame's, by online eligibility traces.
 *
 * FfFitNet is one rank's share of the trainable network: its neurons' encoder rows, the weights of
 * the connections that end on them, the Adam state of both, and the stepper that simulates a batch
 * of B samples side by side (one sample = one frame period from the initial state) while it updates
 * the traces. Everything a rank computes is about what it owns; what crosses ranks is the spikes
 * (once per delay window), integer sums of spike counts per neuropil, and one fixed-point sum for
 * the gradient norm, so weights and losses are bit-identical for any rank count and partition.
 *
 * The low-rank recurrent term (FF_TRAIN_LOWRANK, the original's trainable recurrence): neuron i also
 * receives I_i(t) = sum_k A_ik u_k(t) mV into g, u(t) = B s(t - D), with s the spikes of every
 * neuron, delayed by the synaptic delay D. Each rank owns its neurons' rows of A [N x r] and columns
 * of B [r x N] (stored as rows of B^T). u is summed over ranks once per delay window in fixed point
 * (2^-FF_FIT_FIX), like the synaptic input, and I enters the neuron's fixed-point input sum, so that
 * the term changes nothing while B = 0 (its initial value; A starts LeCun-normal, sd 1/sqrt(r)).
 * Its gradient is ES-D-RTRL's factorisation: dL/dA_ik = sum_b G_ib ubar_kb and dL/dB_kj =
 * sum_b (sum_i A_ik G_ib) xbar_jb, with G_ib = dL/dc_ib eps_f,c_ib / (1 - (1 - a)^T) the
 * postsynaptic factor of the connections' rule, ubar and xbar low-passed (decay a) u and delayed own
 * spikes: memory O(B (n_local + r)); the sum over i is exact across ranks.
 *
 * Layouts: per neuron-trial arrays are [n_local x B], trial fastest (but the synaptic accumulators,
 * [B x n_local], trial-major, include/flyfit/fit_dev.h); encoder rows [n_local x P];
 * low-rank rows [n_local x r]; connection arrays follow the rank's slab (net.h). Parameters and
 * traces are float. */
#ifndef FLYFIT_FIT_H
#define FLYFIT_FIT_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/exchange.h"
#include "flyfit/fit_neuron.h"
#include "flyfit/model.h"
#include "flyfit/net.h"

enum { FF_TRAIN_ENCODER = 1, FF_TRAIN_CONNECTIONS = 2, FF_TRAIN_LOWRANK = 4 };
typedef enum { FF_LOSS_MSE = 0, FF_LOSS_MAE = 1, FF_LOSS_HUBER = 2 } FfLoss;

/* Synaptic input is summed in fixed point, 2^-FF_FIT_FIX mV, so arrival order never matters. */
enum { FF_FIT_FIX = 32 };

typedef struct {
  const FfModel *model;     /* brainscale step order */
  const FfNet *net;         /* this rank's slab */
  int32_t n_np;             /* neuropils the loss sees (P) */
  const int32_t *np_of;     /* [connectome neuropils] index among the P, or -1 when not fitted */
  int32_t batch;            /* B: samples side by side (at most) */
  int32_t steps;            /* per sample */
  int32_t warmup;           /* steps before spikes are counted */
  double background_hz;     /* Poisson background to every neuron */
  double x_scale;           /* encoder input = rates / x_scale (Hz) */
  int fixed_init;           /* every sample starts from the initial state of sample key 0 */
  int kick_before_decay;    /* a background kick enters v before the membrane decay (the original's order) */
  int trainable;            /* FF_TRAIN_* bits */
  int32_t lowrank_rank;     /* r of the low-rank term (with FF_TRAIN_LOWRANK; 1 <= r <= neurons) */
  double etrace_decay;      /* 0: D-RTRL; else ES-D-RTRL decay for pathways */
  int keep_sign;            /* connection weights keep the sign of their synapses */
  double enc_init_mV;       /* encoder bias at start; weights ~ enc_init_sd_mV N(0,1) / sqrt(P) */
  double enc_init_sd_mV;
  double max_trace_bytes;   /* limit for D-RTRL per-connection traces */
  uint64_t seed;
  int threads;
  int exchange;             /* FfExchangeMode */
  int emulate;              /* backend = emulate: the kernels (fit_dev.h) serially, in a scrambled order */
  int cuda;                 /* backend = cuda: the kernels on GPU `device` (src/fit/cuda/fit_cuda.cu) */
  int device;
  int delivery;             /* FfDelivery (config.h): per spike, sparse x dense, or chosen per step */
  double spmm_density;      /* auto: sparse x dense at or above this share of arrivals */
  int nccl;                 /* transport = nccl: spikes gathered from every rank and placed as a device
                               does (emulate only: an MPI allgather in NCCL's stead) */
  MPI_Comm comm;
} FfFitSetup;

typedef struct FfFitNet FfFitNet;

/* Collective: all ranks of s->comm must call it. Builds the rank's parameters (encoder from the
 * seed; connection weights w_syn x signed synapse count) and buffers for batches of up to
 * setup->batch samples. A rank that fails still takes part in every collective step. */
int ff_fit_create(const FfFitSetup *s, FfFitNet **f);
void ff_fit_destroy(FfFitNet **f);
/* Puts the encoder and connection weights back to their values at creation (the untrained model). */
int ff_fit_reset_params(FfFitNet *f);

/* Collective: all ranks of the setup's comm must call it. Simulates B <= batch samples side by
 * side. x: [B x P] input rates (Hz) of each sample, the same on every rank; key: [B] a 32-bit
 * identity per sample that keys its random numbers (initial state, background). With traces != 0
 * the eligibility traces are updated too. On return rates: [B x P] the neuropil rates (Hz) of each
 * sample, identical on every rank. A failure on any rank fails the call on every rank. */
int ff_fit_forward(FfFitNet *f, int32_t B, const double *x, const uint32_t *key, int traces, double *rates);

/* After a forward with traces: adds dL/dtheta of this batch to the gradient accumulators, given
 * dL/drates [B x P] (the same on every rank). */
int ff_fit_backward(FfFitNet *f, const double *dl_drates);

/* Collective. Global L2 norm of the accumulated gradient (a fixed-point sum: rank-count invariant). */
int ff_fit_grad_norm(FfFitNet *f, double *norm);
/* Adam step with learning rate lr on the gradient scaled by `scale` (clipping), then zero the
 * accumulators. Returns FF_ERR_INPUT naming the parameter if any value becomes NaN or infinite. */
int ff_fit_adam(FfFitNet *f, double lr, double beta1, double beta2, double eps, double scale);
void ff_fit_zero_grad(FfFitNet *f);

/* Loss of predictions r against targets y ([n]), and dL/dr into g (may be NULL). Mean over n. */
double ff_fit_loss(int loss, double huber_delta, const double *r, const double *y, int64_t n, double *g);

/* Access for checkpoints, tests and results. Counts are this rank's. */
typedef struct {
  int32_t n_local, n_np, batch;
  int64_t n_conn;
  float *enc_w, *enc_b;            /* [n_local x P], [n_local] */
  float *enc_m, *enc_v, *enc_bm, *enc_bv; /* Adam state */
  float *conn_w, *conn_m, *conn_v; /* [n_conn] (NULL when connections are not trained) */
  float *g_enc_w, *g_enc_b, *g_conn; /* gradient accumulators */
  int32_t lr_rank;                 /* r (0 without the low-rank term) */
  float *lr_a, *lr_b;              /* [n_local x r]: rows of A, rows of B^T (NULL without the term) */
  float *lr_am, *lr_av, *lr_bm, *lr_bv, *g_lr_a, *g_lr_b; /* their Adam state and gradients */
  int64_t adam_t;
  const int32_t *count;            /* [n_local x B] spikes in the counting window, last forward */
  const float *ext_w;              /* [n_local x B] encoder output w = ReLU(z), last forward */
} FfFitView;
void ff_fit_view(FfFitNet *f, FfFitView *v);
/* With on, the next forwards keep the spikes of their first sample; ff_fit_recorded hands this
 * rank's (original neuron index, step) pairs of the last forward (caller frees both arrays). */
void ff_fit_record(FfFitNet *f, int on);
int ff_fit_recorded(FfFitNet *f, int64_t **gid, int32_t **step, int64_t *n);
/* Adam's step count, after parameters were restored from a checkpoint. */
void ff_fit_set_adam_t(FfFitNet *f, int64_t t);
/* Re-derives the fixed-point synaptic weights (and the low-rank B) after they were set from outside. */
int ff_fit_sync_weights(FfFitNet *f);
/* Collective: all ranks of the comm must call it. The singular values of the low-rank term's N x N
 * matrix A B, largest first, into sv [r]: from the r x r Gram matrices A^T A and B B^T, summed exactly
 * over the ranks (so the same for any partition). */
int ff_fit_lowrank_spectrum(FfFitNet *f, double *sv);

/* The random numbers of the model, exposed so that tests can rebuild a forward pass on their own:
 * the steps from a background spike at `step` (-1: the start) to the next one, a geometric gap of
 * the Bernoulli(p) process per step, from the table pw[k - 1] = (1 - p)^k, k = 1 .. K, that
 * ff_fit_bg_powers makes (repeated products: the same bits with any libm; a gap past the table is
 * K + 1, so K must reach past the last step); and the initial state of a neuron in a sample,
 * v ~ N(0, v_sd), g ~ U(0, g_max). Keyed by (seed, neuron, sample key, step). */
void ff_fit_bg_powers(double p, int32_t K, double *pw);
int32_t ff_fit_bg_gap(uint64_t seed, int64_t gid, uint32_t key, int32_t step, const double *pw, int32_t K);
void ff_fit_init_state(uint64_t seed, int64_t gid, uint32_t key, double v_sd, double g_max, float *v, float *g);

/* Timings and counts of this rank since creation. Bytes are counted as STREAM counts them: every
 * array element a step reads, and every one it writes (update: the cells' state, inputs and kept
 * traces; delivery: per synaptic event its target, weight and the accumulator read and written). */
typedef struct {
  double step_s, deliver_s, grad_s, exchange_s; /* step_s: the neurons' update (delivery apart) */
  int64_t steps, spikes, events;
  int64_t spmm_steps;       /* steps delivered as sparse x dense (the rest per spike, or without arrivals) */
  double update_bytes, deliver_bytes;
} FfFitStats;
void ff_fit_stats(const FfFitNet *f, FfFitStats *s);

/* The arrays of this rank's network (and of its connections' targets), from the allocation table of
 * ff_fit_create, by what they grow with: bytes[k] = units[k] x bytes per unit. A device holds the
 * same arrays, so this is round 1's device memory too. */
enum {
  FF_FIT_MEM_CELL,      /* neuron-trials (n x B): state, traces, spike slots */
  FF_FIT_MEM_NEURON,    /* neurons: encoder rows, low-rank rows, their Adam state */
  FF_FIT_MEM_CONN,      /* connections: weights, targets, Adam state, the transpose for SpMM */
  FF_FIT_MEM_STANDIN,   /* stand-ins (presynaptic neurons with a target here) */
  FF_FIT_MEM_PRE,       /* stand-in x trial: ES presynaptic traces */
  FF_FIT_MEM_CONN_CELL, /* connection x trial: D-RTRL's traces */
  FF_FIT_MEM_STEP,      /* steps of a sample */
  FF_FIT_MEM_OTHER,     /* the rest (trials x neuropils, x rank, x delay) */
  FF_FIT_MEM_KINDS
};
typedef struct {
  double bytes[FF_FIT_MEM_KINDS], units[FF_FIT_MEM_KINDS];
} FfFitMemory;
void ff_fit_memory(const FfFitNet *f, FfFitMemory *m);
/* The GPU of backend = cuda, in words ("GPU 0 NVIDIA H100 ..."); NULL on CPU cores. */
const char *ff_fit_device(const FfFitNet *f);

#endif
