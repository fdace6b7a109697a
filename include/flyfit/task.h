/* [run] mode = task: a conductance-based E/I recurrent spiking network trained on evidence accumulation (after Wang et
 * al., ICML 2024 workshop, task-coba-ei-rsnn.py), by BPTT, D-RTRL or ES-D-RTRL (docs/design.md §2.8). Trials are pure
 * functions of (seed, set, trial index); the network starts from the seed; every trial's gradient is computed whole by
 * one rank and the batch's sum is exact (exact.h), so the result is the same bits for any rank count. All arithmetic is
 * double. */
#ifndef FLYFIT_TASK_H
#define FLYFIT_TASK_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/exchange.h"
#include "flyfit/net.h"

typedef enum { FF_TASK_BPTT = 0, FF_TASK_DIAG = 1, FF_TASK_EXPSM_DIAG = 2 } FfTaskMethod;
typedef enum { FF_TASK_CONN_DENSE = 0, FF_TASK_CONN_GAUSSIAN = 1, FF_TASK_CONN_RAND = 2 } FfTaskConn;
/* The trial sets: their trials are keyed apart, so validation and test never see a training trial. */
typedef enum { FF_TASK_TRAIN = 0, FF_TASK_VALID = 1, FF_TASK_TEST = 2 } FfTaskSet;

enum {
  FF_TASK_N_IN = 100, /* Poisson input neurons: 4 groups of 25, left cue, right cue, recall, noise */
  FF_TASK_GROUP = 25,
  FF_TASK_N_OUT = 2 /* readout classes: 0 = left, 1 = right */
};

/* Everything a trial and the network are made of. ff_task_spec_from_config fills it from [task]; the constants below
 * the config's are the model's (docs/design.md §2.8), fixed but kept here so that tests can vary them. Voltages are
 * normalised: rest 0, threshold 1. */
typedef struct {
  /* network */
  int32_t n_rec, n_exc;           /* neurons 0..n_exc-1 are excitatory, the rest inhibitory */
  double w_ei_ratio;              /* inhibitory columns' initial variance scale = w_ei_ratio w_rec_scale */
  int conn;                       /* FfTaskConn */
  double w_in_scale, w_rec_scale; /* KaimingNormal variance scales: |w| ~ |truncated N|, variance scale / fan-in */
  double p_rand;                  /* conn = rand (and gaussian's inhibitory columns): connection probability */
  double sigma_gauss;             /* conn = gaussian: width of the excitatory profile on the ring, in neurons */
  /* neurons and synapses */
  double dt_ms, tau_m_ms, tau_syn_ms, tau_a_ms, tau_out_ms;
  double tau_a_spread;       /* each neuron's tau_a ~ Uniform((1 - spread) tau_a, (1 + spread) tau_a) */
  double beta_a;             /* adaptation current: I_a <- rho_i (I_a - beta_a s) */
  double e_exc, e_inh;       /* reversal potentials */
  double sg_alpha, sg_width; /* surrogate dS/dx = sg_alpha max(0, sg_width - |x|), x = v - 1 */
  int reset_grad;            /* the surrogate's gradient flows through the reset and the adaptation (the original's) */
  int smooth;                /* tests only: spikes are S(v - 1), the surrogate's integral (reset, I_a: reset_grad) */
  /* task */
  int32_t n_cues, cue_steps, gap_steps, delay_steps, recall_steps;
  double cue_hz, noise_hz; /* rate of a cue (or recall) group while on; of the noise group always */
  double cue_prob;         /* a cue's probability of falling on the side its trial does not favour */
  /* training */
  int method; /* FfTaskMethod */
  double etrace_decay;
} FfTaskSpec;

/* The spec of [task] (and [run] seed elsewhere); every bad value is an FF_ERR_INPUT naming its key. */
int ff_task_spec_from_config(const FfConfig *c, FfTaskSpec *s);
/* Steps of one trial, and the first recall step. */
int32_t ff_task_steps(const FfTaskSpec *s);
int32_t ff_task_recall0(const FfTaskSpec *s);
const char *ff_task_method_name(int method);

/* One trial: its label and the input spikes of every step (CSR by step). */
typedef struct {
  int32_t T, recall0;
  int label;      /* 0: more left cues, 1: more right (a tie goes to the last cue's side) */
  int32_t n_left; /* of n_cues */
  int32_t *ptr;   /* [T + 1] */
  int16_t *in;    /* [ptr[T]] input neurons that spike at each step */
  int64_t cap;    /* capacity of in */
} FfTaskTrial;

/* Trial `index` of `set`, from the seed alone (FF_STREAM_TASK_CUES, FF_STREAM_TASK_INPUT). Reuses tr's buffers;
 * ff_task_trial_destroy frees them.
 * */
int ff_task_trial_make(const FfTaskSpec *s, uint64_t seed, int set, int64_t index, FfTaskTrial *tr);
void ff_task_trial_destroy(FfTaskTrial *tr);

/* A network split over the ranks by neurons ([task] split = neurons): each rank owns a block of neurons (net.h's
 * ff_net_blocks), holds their rows of w only, advances them and computes their rows' gradient; the spikes of every
 * step cross the ranks by the simulation's exchange (exchange.h: one window per 1 ms step, the synaptic delay). Every
 * rank then knows every spike, so the readout, its gradient and the learning signal are computed alike on every rank.
 * The online methods only: their traces belong to a neuron's own row; BPTT's backward pass would need the transpose. */
typedef struct {
  MPI_Comm comm;
  FfNet part;    /* every rank's block of neurons */
  FfExchange *x; /* the spike exchange */
} FfTaskSplit;

/* Collective over comm. */
int ff_task_split_create(int32_t n, MPI_Comm comm, FfTaskSplit *sp);
void ff_task_split_destroy(FfTaskSplit *sp);

/* The network's parameters, one flat vector theta [n_param] = w (the rows held), w_out, b_out.
 * */
typedef struct {
  int32_t n, n_exc, n_pre; /* n_pre = FF_TASK_N_IN + n: the columns of w */
  int32_t row0, rows;      /* the rows of w held: all of them (0, n), or a rank's block when split */
  const FfTaskSplit *split; /* NULL: the whole network here */
  int64_t n_param;
  double *theta;       /* [n_param] */
  double *w;           /* = theta: [rows x n_pre] >= 0, row i at (i - row0); column c < 100 input c, else neuron c - 100 */
  double *w_out;       /* = theta + rows n_pre: [2 x n_exc] */
  double *b_out;       /* [2] */
  unsigned char *mask; /* [rows x n_pre] 1 where a connection exists (w is 0 elsewhere, always) */
  double *rho_a;       /* [n] each neuron's adaptation decay exp(-dt / tau_a,i), drawn from the seed, not trained */
} FfTaskNet;

/* Column c of w is excitatory (inputs and neurons < n_exc) or inhibitory. */
static inline int ff_task_col_exc(const FfTaskNet *net, int32_t c) { return c < FF_TASK_N_IN + net->n_exc; }

/* The initial network of the seed (FF_STREAM_TASK_INIT); _split: only this rank's rows of sp (NULL: all). */
int ff_task_net_init(const FfTaskSpec *s, uint64_t seed, FfTaskNet *net);
int ff_task_net_init_split(const FfTaskSpec *s, uint64_t seed, const FfTaskSplit *sp, FfTaskNet *net);
int ff_task_net_copy(const FfTaskNet *from, FfTaskNet *to);
void ff_task_net_destroy(FfTaskNet *net);
/* Dale's law: every existing weight >= 0 (sign by population), every other exactly 0. */
void ff_task_net_project(FfTaskNet *net);
/* The trained weights of an earlier run's results.h5 (/task/params/{w, mask, w_out, b_out, rho_a}) into net, made by
 * ff_task_net_init for this run: FF_ERR_INPUT naming the file and the dataset when a shape, the mask or the adaptation
 * constants differ (another n_rec, e_share, conn_method or seed), or a weight breaks Dale's law. net changes only
 * when everything was read. */
int ff_task_net_load(const char *path, FfTaskNet *net);

/* A trial's score: mean cross-entropy over the recall steps, and whether the mean recall logit picks the label. */
typedef struct {
  double loss;
  int correct;
  int64_t spikes; /* of the recurrent neurons, over the trial */
} FfTaskScore;

/* Buffers of one trial's forward and gradient pass, for one spec and network size. */
typedef struct FfTaskWork FfTaskWork;
int ff_task_work_create(const FfTaskSpec *s, const FfTaskNet *net, FfTaskWork **w);
void ff_task_work_destroy(FfTaskWork **w);

/* A raster of one trial (ff_task_trial_run with rec): spikes by step, and the readout every step. */
typedef struct {
  int64_t n_spikes, cap;
  int32_t *step, *neuron; /* [n_spikes] in (step, neuron) order */
  double *logits;         /* [T x 2] */
} FfTaskRecord;
void ff_task_record_destroy(FfTaskRecord *r);

/* Forward only: the score of the trial (rec, when not NULL, gets its raster and readout). */
int ff_task_trial_run(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, FfTaskWork *w, FfTaskScore *sc,
                      FfTaskRecord *rec);
/* The trial's score and the gradient of its loss by method (FfTaskMethod) into grad [n_param] (overwritten; 0 where
 * mask is 0). bptt is exact (the surrogate aside; without reset_grad the reset and adaptation take the spike as a
 * constant); diag and expsm_diag give the excitatory rows of w (the inhibitory rows get no learning signal: 0). */
int ff_task_trial_grad(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, int method, FfTaskWork *w,
                       double *grad, FfTaskScore *sc);

/* ---- training (task_train.c) ---------------------------------------------------------------------- */

enum { FF_TASK_LOSS = 0, FF_TASK_ACC = 1, FF_TASK_VAL_ACC = 2, FF_TASK_SECONDS = 3, FF_TASK_METRICS = 4 };
extern const char *const FF_TASK_METRIC_NAMES[FF_TASK_METRICS];

typedef struct {
  const FfTaskSpec *spec;
  uint64_t seed;
  int64_t batch, max_batches, val_trials, test_trials, val_every;
  double lr, beta1, beta2, adam_eps, target_acc, progress_s;
  MPI_Comm comm;
  int threads; /* OpenMP threads of this rank: each takes whole trials (0 or 1: none) */
  int split;   /* 0: the batch's trials over the ranks; 1: every trial on all ranks, the neurons split (FfTaskSplit) */
  /* the resume point (checkpoint.h's FfTaskState): read from `resume` first when it names a file (rank 0; NULL or ""
   * none), written to `point` at every validation and when a signal stops the training (NULL: never) */
  const char *resume, *point;
  const char *weights;     /* an earlier run's results.h5 to start from (ff_task_net_load; rank 0 reads it), or NULL */
  const char *fingerprint; /* ff_config_fingerprint_task */
} FfTaskTrainSetup;

typedef struct {
  FfTaskNet net;                  /* the trained network */
  int64_t batches;                /* Adam steps taken */
  double *hist;                   /* [batches x FF_TASK_METRICS]; val_acc NaN where not evaluated */
  double val_acc, test_acc, loss; /* the last validation, the test (scored once), the last batch's loss */
  double seconds;                 /* wall time of the training */
} FfTaskResult;

/* Collective. Trains from the seed's network (or the resume point's) until the validation accuracy reaches target_acc
 * or after max_batches batches, then scores the test trials once. Each batch's trials are split over the ranks in
 * whole trials; their gradients, losses and counts are summed exactly. A signal (ff_signals_arm(1)) stops it after the
 * batch in progress with the resume point written: FF_STOPPED. */
int ff_task_train(const FfTaskTrainSetup *t, FfTaskResult *out);
/* Collective. Accuracy and mean loss of the network on trials 0..n-1 of `set`.
 * */
int ff_task_evaluate(const FfTaskSpec *s, const FfTaskNet *net, uint64_t seed, int set, int64_t n, int threads,
                     MPI_Comm comm, double *acc, double *loss);
void ff_task_result_destroy(FfTaskResult *r);

#endif
