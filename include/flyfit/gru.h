/* Round 2 of the fitting (docs/design.md §2.6): the recurrent encoder/decoder LayerNorm(P) -> GRU(P -> H)
 * -> Linear(H -> P) -> ReLU, trained by backpropagation through time to predict the next frame's
 * neuropil rates from the frames so far. Double precision, matrix products through CBLAS.
 *
 * The model is small and replicated on every rank; ranks split a batch of sequences. Gradients and
 * losses are bit-identical for any rank count because (1) sequences are computed in chunks of
 * `chunk` consecutive sequences of the global batch, and a chunk's numbers depend on nothing else
 * (not on the rank holding it, nor on the OpenBLAS thread count: the BLAS calls run on one thread),
 * and (2) each chunk's gradient enters an exact fixed-point sum (exact.h) whose integers the ranks add.
 *
 * Layouts: a batch of B sequences of L frames is [B x L x P], sequence slowest, feature fastest.
 * The functions that compute set OpenBLAS's process-wide thread count to 1 and restore it on return:
 * call them from one thread at a time. */
#ifndef FLYFIT_GRU_H
#define FLYFIT_GRU_H

#include <mpi.h>
#include <stdint.h>

enum {
  FF_GRU_H_DEFAULT = 256,   /* hidden units (docs/design.md §2.6) */
  FF_GRU_CHUNK_DEFAULT = 8  /* sequences per BLAS call: the unit of bit-reproducibility */
};
#define FF_GRU_OUT_SCALE_DEFAULT 100.0 /* Hz: y = ReLU(out_scale (W_o h + b_o)) */
#define FF_GRU_LN_EPS 1e-5             /* LayerNorm's variance epsilon (PyTorch's default) */

typedef struct {
  int32_t P;           /* features in and out: the fitted neuropils */
  int32_t H;           /* hidden units; 0 = FF_GRU_H_DEFAULT */
  int32_t chunk;       /* sequences per BLAS call; 0 = FF_GRU_CHUNK_DEFAULT. Results depend on it */
  double out_scale_hz; /* output scale s in y = ReLU(s (W_o h + b_o)); 0 = 100 Hz, so that the
                        * PyTorch-sized initial weights (|W_o h| < 1) reach the whole 0-100 Hz range
                        * and Adam's steps of about lr move a rate by about lr x 100 Hz */
  uint64_t seed;       /* initial parameters */
} FfGruSetup;

typedef struct FfGru FfGru;
typedef struct FfGruTape FfGruTape;

/* Parameter groups, in the order they lie in the flat arrays. Names are also the checkpoint's. */
typedef enum {
  FF_GRU_LN_GAMMA, /* [P] LayerNorm gain; init 1 */
  FF_GRU_LN_BETA,  /* [P] LayerNorm bias; init 0 (u is in standard deviations of the frame) */
  FF_GRU_W_IH,     /* [3H x P] input weights, row blocks r, z, n (PyTorch's weight_ih_l0) */
  FF_GRU_W_HH,     /* [3H x H] hidden weights, row blocks r, z, n (weight_hh_l0) */
  FF_GRU_B_IH,     /* [3H] (bias_ih_l0) */
  FF_GRU_B_HH,     /* [3H] (bias_hh_l0) */
  FF_GRU_W_OUT,    /* [P x H] output weights, in units of out_scale_hz */
  FF_GRU_B_OUT,    /* [P] output bias, in units of out_scale_hz */
  FF_GRU_NGROUPS
} FfGruGroupId;

typedef struct {
  const char *name;     /* "ln_gamma", "ln_beta", "w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out" */
  int64_t offset;       /* first element in the flat arrays */
  int32_t rows, cols;   /* shape (row-major); cols = 1 for vectors */
  int rank;             /* 1 for vectors, 2 for matrices (even with one column) */
} FfGruGroup;

/* The four flat arrays of ff_gru_nparams doubles. Gradients are d(loss)/d(parameter) as reduced by
 * ff_gru_reduce_grads; Adam's moments are PyTorch's exp_avg and exp_avg_sq. */
typedef enum { FF_GRU_PARAMS, FF_GRU_GRADS, FF_GRU_ADAM_M, FF_GRU_ADAM_V } FfGruArray;

/* Named views into one flat array (ff_gru_view). Shapes as in FfGruGroupId. */
typedef struct {
  double *ln_gamma, *ln_beta; /* [P] */
  double *w_ih;               /* [3H x P] */
  double *w_hh;               /* [3H x H] */
  double *b_ih, *b_hh;        /* [3H] */
  double *w_out;              /* [P x H] */
  double *b_out;              /* [P] */
} FfGruView;

/* Builds the model with deterministic initial parameters: each is a function of (seed, its flat
 * index) through ff_rng4, GRU and output weights and biases U(-1/sqrt(H), 1/sqrt(H)) as PyTorch,
 * LayerNorm gain 1 and bias 0. Adam's state and the gradients start at zero. */
int ff_gru_create(const FfGruSetup *s, FfGru **g);
/* Accepts NULL and clears the caller's pointer. */
void ff_gru_destroy(FfGru **g);

int64_t ff_gru_nparams(const FfGru *g);
/* The setup with defaults filled in. */
const FfGruSetup *ff_gru_setup(const FfGru *g);
void ff_gru_group(const FfGru *g, FfGruGroupId q, FfGruGroup *out);
double *ff_gru_array(FfGru *g, FfGruArray which); /* [nparams] */
void ff_gru_view(FfGru *g, FfGruArray which, FfGruView *v);
int64_t ff_gru_adam_steps(const FfGru *g);
/* Adam's step count, as a checkpoint restores it. */
void ff_gru_set_adam_steps(FfGru *g, int64_t steps);

/* Sets the output bias so that, with W_o h = 0, the output is rate_hz [P] (e.g. the training
 * frames' mean rates): a start near the data rather than at random rates around 0, where half the
 * ReLU outputs would be zero. */
void ff_gru_init_output_bias(FfGru *g, const double *rate_hz);

/* ---- forward and backward ---------------------------------------------------------------------
 * Per frame t of a sequence, x_t in R^P (rates, Hz), h_0 = 0 (PyTorch's GRU):
 *   u  = gamma (x_t - mean(x_t)) / sqrt(var(x_t) + 1e-5) + beta      (over the P features)
 *   r  = sigmoid(W_ir u + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz u + b_iz + W_hz h + b_hz)
 *   n  = tanh(W_in u + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h
 *   y_t = ReLU(out_scale (W_o h' + b_o))   (Hz), the prediction of frame t + 1. */

/* An empty tape; the forward sizes it. Accepts NULL in destroy. */
int ff_gru_tape_create(FfGruTape **t);
void ff_gru_tape_destroy(FfGruTape **t);

/* Teacher-forced forward of B sequences of L frames: x [B x L x P] Hz -> y [B x L x P] Hz. With a
 * tape, keeps what ff_gru_backward needs (about (3P + 5H) x B x L doubles); tape may be NULL.
 * Sequences are computed in chunks of `chunk` from the first; B = 0 is allowed. */
int ff_gru_forward(FfGru *g, int32_t B, int32_t L, const double *x, double *y, FfGruTape *tape);

/* Backpropagation through time of the tape's forward, given dy = d(loss)/dy [B x L x P]. Each
 * chunk's parameter gradient (a double sum in a fixed order) is added to this rank's exact
 * fixed-point accumulator; ff_gru_reduce_grads turns the accumulators into the gradient. The
 * input is not differentiated (it is data). */
int ff_gru_backward(FfGru *g, const FfGruTape *tape, const double *dy);

/* Clears the fixed-point accumulator and the gradient array. */
void ff_gru_zero_grad(FfGru *g);

/* Collective: all ranks of comm must call it. Sums every rank's accumulator (integers, so the sum
 * does not depend on how the chunks were spread) and writes the result, rounded once to double, into the FF_GRU_GRADS array
 * of every rank. Each chunk's contribution is rounded to a multiple of 2^-128 before the exact sum,
 * so an element is within half an ulp of the exact sum of the chunks' doubles plus (chunks x 2^-129).
 * Use MPI_COMM_SELF on one process. A non-finite or over-2^100 contribution on any rank makes every
 * rank return FF_ERR_INPUT naming the parameter (training diverged). Accumulators are left as they
 * were: call ff_gru_zero_grad before the next batch. */
int ff_gru_reduce_grads(FfGru *g, MPI_Comm comm);

/* The chunk-aligned share of a global batch of B sequences for `rank` of `size`: sequences
 * [first, first + count). Whole chunks are dealt out in order, the first ranks taking one more. */
void ff_gru_shard(const FfGru *g, int32_t B, int rank, int size, int32_t *first, int32_t *count);

/* One frame for B sequences side by side, for autoregressive prediction: x [B x P] Hz, h [B x H]
 * the hidden state (zero before the first frame), updated in place, y [B x P] Hz. Running it over
 * frames 0..L-1 gives bit for bit the y of ff_gru_forward over the same B sequences. */
int ff_gru_step(FfGru *g, int32_t B, const double *x, double *h, double *y);

/* ---- losses ------------------------------------------------------------------------------------
 * Both return sum_i loss_i / denom over the n elements and write d(that)/d(yhat_i) into dl (may
 * be NULL). denom = the number of elements the mean runs over: n for a plain mean, the global
 * batch's B x L x P when each rank (or each sequence) is one part of it. Sums run in index order. */

/* Bin-interval loss, zero inside the target's rate bin [low_i, high_i):
 * relu(low - yhat)^2 + relu(yhat - high)^2. */
double ff_bin_interval_loss(const double *yhat, const double *low, const double *high, int64_t n, double denom,
                            double *dl);
/* (yhat - target)^2. */
double ff_mse_loss(const double *yhat, const double *target, int64_t n, double denom, double *dl);

/* ---- optimizer ------------------------------------------------------------------------------- */

/* Global L2 norm of the gradient array (a fixed-order sum over the replicated array, so the same
 * on every rank); when above max_norm > 0 the gradient is scaled to max_norm. Returns the norm
 * before scaling. */
double ff_gru_clip_grads(FfGru *g, double max_norm);

/* One Adam step (PyTorch's, no weight decay) on the gradient array with learning rate lr (the
 * caller applies the step decay). FF_ERR_INPUT naming the parameter when one becomes non-finite. */
int ff_gru_adam(FfGru *g, double lr, double beta1, double beta2, double eps);

/* Checkpoints of the GRU: ff_checkpoint_write_gru and ff_checkpoint_read_gru (checkpoint.h). */

#endif
