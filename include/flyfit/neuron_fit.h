/* Fitting single-neuron models to recorded sweeps (docs/design.md §2.9.4-2.9.5): the recording file
 * (flyfit-synth --neuron writes one with planted parameters, docs/formats.md), the voltage loss with its
 * exact gradient from the forward sensitivities (neuron_models.h), the spike-train losses (spike_dist.h),
 * and the optimizers [run] mode = neuron runs (src/run/neuron.c): a bounded multi-start L-BFGS and
 * differential evolution. */
#ifndef FLYFIT_NEURON_FIT_H
#define FLYFIT_NEURON_FIT_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/neuron_models.h"

/* ---- the recording --------------------------------------------------------------------------------- */
typedef struct {
  const FfNeuronModel *model; /* the model named by the file (NULL: none named) */
  double dt_ms;
  int64_t n_sweeps, n_steps;   /* every sweep has n_steps samples at t = k dt */
  double *current;             /* [n_sweeps x n_steps], held over each step, in the model's input unit */
  double *voltage;             /* [n_sweeps x n_steps] mV, v at t = k dt (measurement noise included) */
  int64_t *spike_indptr;       /* [n_sweeps + 1] into spike_times */
  double *spike_times;         /* ms, sorted within each sweep */
  int has_truth;               /* /truth present: the planted parameters */
  double truth[FF_NEURON_MAX_PARAM];
} FfNeuronRecording;

/* Reads and checks a recording: the datasets present with matching shapes (a sweep length that differs
 * between current and voltage is named), every value finite (the first NaN or infinity is named by sweep
 * and step), dt > 0. Errors are FF_ERR_INPUT naming the file and the dataset. */
int ff_neuron_recording_read(const char *path, FfNeuronRecording *r);
/* Reads a recording from CSV files (docs/formats.md#neuron-recordings-as-csv): voltage (mV) and current
 * (the model's input unit) one sweep per column (rows = 0; a header row naming the sweeps; a first column
 * with an empty name, pandas' index, is skipped, one named t_ms gives dt) or one sweep per line (rows = 1,
 * brian2modelfitting's example files: pandas' index column first); spikes (ms, optional: NULL or "") in
 * the same layout, a sweep's missing times left empty. dt_ms > 0 or the t_ms column gives the time step.
 * The checks of ff_neuron_recording_read; errors name the file, the line and the fix. */
int ff_neuron_recording_read_csv(const char *voltage, const char *current, const char *spikes, double dt_ms, int rows,
                                 FfNeuronRecording *r);
/* n_trains spike trains from a CSV of times (ms), one train per column (rows = 0; missing times empty) or per
 * line (rows = 1), each strictly increasing within [0, t_end_ms]: the layout of recording_spikes above, also
 * read by mode = netopt for a recorded network. `expected` says what the count must match ("sweeps in the
 * traces") and `unit` what a train is ("sweep") in the messages. *indptr [n_trains + 1], *times: the caller's. */
int ff_spike_trains_read_csv(const char *path, int rows, int64_t n_trains, const char *expected, const char *unit,
                             double t_end_ms, int64_t **indptr, double **times);
/* Writes r atomically (with /truth when has_truth); created_by is stored as an attribute. */
int ff_neuron_recording_write(const char *path, const FfNeuronRecording *r, double noise_mV, uint64_t seed,
                              const char *created_by);
void ff_neuron_recording_destroy(FfNeuronRecording *r);

/* flyfit-synth --neuron: the planted sweeps. */
typedef struct {
  const FfNeuronModel *model;
  double params[FF_NEURON_MAX_PARAM]; /* the planted values (start from model->defaults) */
  int64_t sweeps;                     /* current steps, amplitudes spread evenly over [amp_lo, amp_hi] */
  double duration_ms, dt_ms;          /* per sweep; the step is on from 10% to 80% of it */
  double amp_lo, amp_hi;              /* in the model's input unit */
  double noise_mV;                    /* sd of the Gaussian measurement noise on v (FF_STREAM_NEURON_NOISE) */
  uint64_t seed;
  int ou;                             /* 0: the current steps above; 1: an Ornstein-Uhlenbeck current */
  double ou_mean, ou_sd, ou_tau_ms;   /* its mean and stationary sd (the input unit) and correlation time */
} FfNeuronSynthOptions;

/* Defaults for model m (HH: five 100 ms sweeps at dt 0.01 ms, 0.05-0.8 nA, noise 1 mV; the OU current's
 * mean, sd and tau for --stimulus ou: GIF 1.2, 0.8 nA, 5 ms). */
void ff_neuron_synth_defaults(const FfNeuronModel *m, FfNeuronSynthOptions *o);
/* "k=v,k=v" into o->params, each name one of the model's (an unknown one is named with the list). */
int ff_neuron_synth_params(FfNeuronSynthOptions *o, const char *text);
/* Simulates the sweeps into r (spike times noise-free, voltage with noise). The OU current is exact for
 * its discretisation: I_{k+1} = mean + (I_k - mean) e^{-dt/tau} + sd sqrt(1 - e^{-2 dt/tau}) xi_k, I_0 drawn
 * from the stationary law, xi keyed by (step, sweep) in FF_STREAM_NEURON_OU. */
int ff_neuron_synth(const FfNeuronSynthOptions *o, FfNeuronRecording *r);

/* ---- the fit ------------------------------------------------------------------------------------------ */
enum { FF_NEURON_LOSS_VOLTAGE, FF_NEURON_LOSS_SPIKE, FF_NEURON_LOSS_GAMMA, FF_NEURON_LOSS_VANROSSUM,
       FF_NEURON_LOSS_ISI };
enum { FF_NEURON_OPT_LBFGS, FF_NEURON_OPT_DE, FF_NEURON_OPT_GA };

typedef struct {
  const FfNeuronModel *model;
  int n_fit;                          /* parameters fitted */
  int index[FF_NEURON_MAX_PARAM];     /* their indices in the model's parameter vector */
  double lo[FF_NEURON_MAX_PARAM], hi[FF_NEURON_MAX_PARAM];
  double fixed[FF_NEURON_MAX_PARAM];  /* the full vector: the model's defaults, fitted entries overwritten */
} FfNeuronProblem;

/* The fitted parameters and their bounds from [neuron] bounds ("name=low:high, ..."; empty: the model's
 * parameters with sensitivities, each within [d/2, 2d] of its default d, or d -+ |d|/2 when d < 0, -1:1
 * when d = 0). An unknown name, a malformed entry, low > high or a name given twice is FF_ERR_INPUT
 * naming the key. */
int ff_neuron_problem(const FfNeuronModel *m, const char *bounds, FfNeuronProblem *p);

/* The voltage loss: the mean over every sample of every sweep of (v_model - v_recorded)^2 (mV^2), at the
 * parameters x [n_fit] (the others fixed), and its gradient by x (grad may be NULL; it needs the model's
 * sensitivities by every fitted parameter). work: n_steps x (1 + n_sens) doubles. A parameter vector the
 * model cannot integrate is FF_ERR_INPUT (message set). */
int ff_neuron_voltage_loss(const FfNeuronProblem *p, const FfNeuronRecording *r, const double *x, double *loss,
                           double *grad, double *work);

/* One start of the bounded L-BFGS (NLopt's LD_LBFGS, in coordinates scaled to [0, 1] per parameter):
 * from x0 [n_fit], at most max_evals evaluations. x [n_fit] gets the best point, *loss its loss,
 * *evals the evaluations used, history [max_evals] (or NULL) the loss of every evaluation in order. */
int ff_neuron_lbfgs(const FfNeuronProblem *p, const FfNeuronRecording *r, const double *x0, int64_t max_evals,
                    double *x, double *loss, int64_t *evals, double *history);

/* Candidate k of start s, uniform within the bounds: keyed by (seed, s, k) in FF_STREAM_NEURON_START, so
 * the same on every rank count. */
void ff_neuron_start_point(const FfNeuronProblem *p, uint64_t seed, int64_t s, int64_t k, double *x0);

/* Start s of the multi-start (§2.9.4): max_evals / 4 candidates (ff_neuron_start_point) screened by their
 * loss without the gradient, then L-BFGS from the best of them (x0 [n_fit] gets it) with the rest of the
 * evaluations. x, *loss, *evals and history [max_evals] (or NULL: screening first, then L-BFGS) as
 * ff_neuron_lbfgs. */
int ff_neuron_fit_start(const FfNeuronProblem *p, const FfNeuronRecording *r, uint64_t seed, int64_t s,
                        int64_t max_evals, double *x0, double *x, double *loss, int64_t *evals, double *history);

/* A spike-train loss (FF_NEURON_LOSS_SPIKE, _ISI, _VANROSSUM, _GAMMA): the mean over the sweeps of the
 * SPIKE-distance, the ISI-distance, the van Rossum distance (tau FF_NEURON_VR_TAU_MS) or 1 - Γ (precision
 * FF_NEURON_GAMMA_DELTA_MS; 2 when the model fires too often for Γ to be defined) between the model's
 * spikes and the recording's /sweeps/spike_times over [0, n_steps dt]. work: n_steps doubles and n_steps
 * bytes after them. */
enum { FF_NEURON_VR_TAU_MS = 10, FF_NEURON_GAMMA_DELTA_MS = 2 };
int ff_neuron_spike_loss(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x,
                         double *loss, double *work);

/* Either loss by kind (FF_NEURON_LOSS_*), without the gradient; parameters the model cannot integrate
 * score 1e30. */
double ff_neuron_loss(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x, double *work);

/* Differential evolution, DE/rand/1/bin (F 0.7, CR 0.9) in the scaled coordinates, for any loss and any
 * model: member i of the initial population is ff_neuron_start_point(p, seed, i, 0); generation g's
 * mutation and crossover of member i are keyed by (seed, g, i) in FF_STREAM_NEURON_DE; a trial replaces its
 * target when its loss is not larger. The evaluations of a generation are spread over the ranks of comm
 * (member i on rank i mod ranks) and shared, so every rank holds the same population: bit-identical on
 * any rank count. pop [np x n_fit] and loss [np] get the final population, x0 [np x n_fit] the initial one,
 * history [np x (generations + 1)] each member's loss per generation. Collective. */
int ff_neuron_de(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, uint64_t seed, int64_t np,
                 int64_t generations, MPI_Comm comm, double *x0, double *pop, double *loss, double *history);

/* The genetic algorithm (optimizer = ga), for any loss and any model, in the scaled coordinates: a
 * population of np; generation g keeps the best member (the lowest index among equals) unchanged as child
 * 0 and breeds children 1..np-1, each from two parents chosen by tournaments of FF_NEURON_GA_TOURNAMENT
 * (FF_STREAM_NEURON_GA_SELECT), blended by BLX-alpha (each coordinate uniform on the parents' interval
 * widened by alpha times its width on both sides, FF_STREAM_NEURON_GA_CROSS), then each coordinate with
 * probability 1/n_fit moved by a Gaussian of sd FF_NEURON_GA_SIGMA (FF_STREAM_NEURON_GA_MUTATE), reflected
 * into [0, 1]. Every draw is keyed by (seed, g, child). Evaluations: np + generations (np - 1), spread and
 * shared as ff_neuron_de's, so bit-identical on any rank count. x0, pop, loss, history as ff_neuron_de
 * (history: the loss of slot i after generation g). Collective. */
/* ---- identifiability (docs/design.md §2.9.6) ----------------------------------------------------------- */
enum { FF_NEURON_CI_GAUSS_NEWTON, FF_NEURON_CI_SLICE };
typedef struct {
  double low[FF_NEURON_MAX_PARAM], high[FF_NEURON_MAX_PARAM]; /* the 95% interval, clipped to the bounds */
  double sd[FF_NEURON_MAX_PARAM];   /* Gauss-Newton standard deviation; NaN for a slice */
  int method[FF_NEURON_MAX_PARAM];  /* FF_NEURON_CI_* */
  int identifiable[FF_NEURON_MAX_PARAM]; /* 0: the data cannot determine it (the interval spans the bounds,
                                            or it lies in a null direction of the Gauss-Newton matrix) */
  double sigma2;                    /* voltage loss: the residual variance N L / (N - n), mV^2 */
  double threshold;                 /* the rise of the loss that bounds a slice */
  int64_t evals;                    /* loss evaluations used */
} FfNeuronIdent;

/* Intervals and identifiability at a fit x [n_fit] with loss `loss` (kind FF_NEURON_LOSS_*). Voltage
 * loss: the parameters whose voltage sensitivity is not identically zero get the Gauss-Newton interval
 * x +- 1.96 sd, sd from sigma2 (J^T J)^-1, J = dv/dp over every sample (a parameter with a share above 0.1
 * in an eigenvector of the scaled J^T J whose eigenvalue is below 1e-10 of the largest is flagged); the
 * others, and every parameter of a spike loss, a slice: the loss along that parameter alone, at steps of
 * 0.001, 0.002, 0.004, ... of the bounds' width each way, and the interval out to the first step where it
 * rises by more than `threshold` (voltage: 3.84 sigma2 / N, the 95% likelihood-ratio bound; spike losses:
 * max(loss, 0.01), a heuristic) or to the bound. Flagged: a Gauss-Newton interval that spans the bounds, a
 * slice that rules out neither bound. */
int ff_neuron_identify(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x, double loss,
                       FfNeuronIdent *id);

#define FF_NEURON_GA_TOURNAMENT 3
#define FF_NEURON_GA_BLX_ALPHA 0.5
#define FF_NEURON_GA_SIGMA 0.1
int ff_neuron_ga(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, uint64_t seed, int64_t np,
                 int64_t generations, MPI_Comm comm, double *x0, double *pop, double *loss, double *history);

#endif
