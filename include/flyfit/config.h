/* Run configuration: INI files (inih's syntax, lines of any length) and --set overrides, all driven
 * by one table of keys (section, name, type, default, range, unit, help) in src/core/config.c. That
 * table also prints `flyfit --help-config` and the effective configuration echoed into the log and
 * results.h5.
 * Model constants default to the chosen preset's values unless set explicitly. */
#ifndef FLYFIT_CONFIG_H
#define FLYFIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { FF_CONFIG_STR = 4096, FF_CONFIG_MAX_KEYS = 256 };

typedef enum {
  FF_MODE_SIMULATE = 0,
  FF_MODE_FIT = 1,
  FF_MODE_ROUND2 = 2,
  FF_MODE_PREDICT = 3,
  FF_MODE_ALL = 4,
  FF_MODE_TASK = 5,  /* the E/I spiking network on evidence accumulation (task.h) */
  FF_MODE_NEURON = 6, /* single neurons fitted to recorded sweeps (src/run/neuron.c) */
  FF_MODE_NETOPT = 7, /* an E/I network's connectivity fitted by evolution (src/run/netopt.c) */
  FF_MODE_CELLS = 8   /* functional connectivity of recorded cells by STDP (cells.h, src/run/cells.c) */
} FfMode;
typedef enum { FF_PRESET_SHIU = 0, FF_PRESET_BRAINSCALE = 1 } FfPreset;
typedef enum { FF_ENCODER_SCALED = 0, FF_ENCODER_HZ = 1 } FfEncoderInput;
typedef enum { FF_INIT_RANDOM = 0, FF_INIT_FIXED = 1 } FfInitState;
typedef enum { FF_KICK_AFTER_DECAY = 0, FF_KICK_BEFORE_DECAY = 1 } FfKickOrder;
typedef enum { FF_DELIVERY_AUTO = 0, FF_DELIVERY_SPIKE = 1, FF_DELIVERY_SPMM = 2 } FfDelivery;
typedef enum { FF_COMPAT_NONE = 0, FF_COMPAT_BRAINSCALE = 1 } FfCompat;
/* Order of the sub-steps within one time step; see src/sim/sim_cpu.c for both. */
typedef enum { FF_ORDER_SHIU = 0, FF_ORDER_BRAINSCALE = 1 } FfStepOrder;
typedef enum { FF_PARTITION_FILE = 0, FF_PARTITION_AUTO = 1 } FfPartitionSource;
typedef enum { FF_BACKEND_CPU = 0, FF_BACKEND_CUDA = 1, FF_BACKEND_EMULATE = 2 } FfBackendKind;
/* Where spikes travel between ranks: MPI (host buffers) or NCCL (device buffers, cuda backend). */
typedef enum { FF_TRANSPORT_MPI = 0, FF_TRANSPORT_NCCL = 1 } FfTransport;

/* [netopt] split: what the ranks divide, the candidates of a generation or the cells of each candidate */
enum { FF_NETOPT_SPLIT_MEMBERS = 0, FF_NETOPT_SPLIT_CELLS = 1 };

typedef struct {
  char path[FF_CONFIG_STR]; /* the INI file read, "" if none */

  /* [data] */
  char connectome[FF_CONFIG_STR];
  char activity[FF_CONFIG_STR];           /* activity.h5 (flyfit-import activity, flyfit-synth --activity) */
  char recording[FF_CONFIG_STR];          /* mode = neuron: a single neuron's sweeps (flyfit-synth --neuron) */
  char recording_current[FF_CONFIG_STR];  /* mode = neuron, CSV recordings: the input current's CSV */
  char recording_spikes[FF_CONFIG_STR];   /* mode = neuron, CSV recordings: the spike times' CSV */
  double recording_dt;                    /* ms; 0 = the voltage CSV's t_ms column */
  int recording_layout;                   /* 0 = one sweep per column, 1 = one per row */
  char mapping[FF_CONFIG_STR];            /* region -> neuropil mapping file */
  bool drop_unmatched;
  char flywire_version[FF_CONFIG_STR];    /* checked against the connectome's release when set */
  char neural_activity_id[FF_CONFIG_STR]; /* checked against the recording's id when set */

  /* [run] */
  int mode;           /* FfMode */
  int preset;         /* FfPreset */
  double duration_ms; /* simulated time per trial */
  int64_t batch;      /* independent trials run side by side */
  int64_t seed;
  int64_t threads;    /* OpenMP threads per rank, 0 = all cores this rank may use */
  int partition;      /* FfPartitionSource */
  int exchange;       /* FfExchange (sim.h) */
  int backend;        /* FfBackendKind */
  int transport;      /* FfTransport (sim.h) */
  char devices[FF_CONFIG_STR]; /* GPU ids for the ranks of a node, "" = node-local rank */
  double progress_s;  /* seconds between progress lines, 0 = none */
  char resume[FF_CONFIG_STR]; /* checkpoint to continue from, "auto" = the newest valid one in [output] dir */

  /* [model] */
  double dt_ms, v_rest_mV, v_reset_mV, v_th_mV, tau_m_ms, tau_syn_ms, tau_ref_ms, delay_ms;
  double w_syn_mV;      /* per synapse; connection weight = w_syn * signed synapse count */
  double v_init_sd_mV;  /* initial v ~ N(v_rest, sd) */
  double g_init_max_mV; /* initial g ~ U(0, max) */
  int step_order;       /* FfStepOrder */

  /* [stimulus] */
  char poisson_neurons[FF_CONFIG_STR];
  double poisson_rate_hz, poisson_weight_mV;
  bool driven_refractory; /* do neurons with Poisson or file input keep a refractory period? */
  char silence[FF_CONFIG_STR];
  char spikes_file[FF_CONFIG_STR];
  double background_rate_hz, background_weight_mV;

  /* [preprocess]: calcium traces -> rates (docs/design.md §2.3) */
  double fs_hz;          /* frame rate; 0 = the recording's */
  double highpass_hz;    /* first-order Butterworth high-pass cutoff; 0 = none */
  int64_t trim_frames;   /* frames dropped at the start */
  double calcium_tau_s;  /* decay of the calcium kernel */
  double deconv_lambda;  /* sparsity penalty of the AR(1) deconvolution */
  double max_rate_hz;    /* the largest rate after scaling */

  /* [fit] */
  int64_t epochs_round1;
  int64_t fit_batch;        /* samples per optimizer step */
  double split;             /* share of the frames before the test frames */
  double validation;        /* share of those held out at their end as the validation block */
  int64_t validation_gap;   /* frames between the training frames and the validation block */
  double bin_size_hz;       /* width of the rate classes */
  double lr, lr_decay;      /* Adam learning rate, multiplied by lr_decay every lr_decay_every epochs */
  int64_t lr_decay_every;
  double clip_norm;         /* global gradient norm clip */
  double beta1, beta2, adam_eps;
  int loss;                 /* FfLoss (fit.h) */
  int rnn_loss;             /* 0 bin-interval, 1 mse (round 2) */
  double huber_delta_hz;
  double etrace_decay;      /* 0 = D-RTRL, else ES-D-RTRL */
  char trainable[FF_CONFIG_STR]; /* comma list: encoder, connections, lowrank */
  int64_t lowrank_rank;          /* r of the low-rank recurrent term */
  bool keep_sign;
  double warmup_fraction;   /* of each sample, before spikes are counted */
  double sample_ms;         /* 0 = one frame period */
  double fit_background_hz; /* Poisson background to every neuron */
  double encoder_bias_mV, encoder_sd_mV; /* initial encoder */
  int encoder_input;        /* FfEncoderInput: rates / max_rate_hz, or in Hz */
  bool shuffle;             /* shuffle the training samples every epoch */
  int init_state;           /* FfInitState: a random initial state per sample, or one fixed draw */
  int kick_order;           /* FfKickOrder: when a background kick enters v */
  int compat;               /* FfCompat: none, or as close to the original (BrainScale) as flyfit can be */
  int64_t checkpoint_every; /* epochs */
  double max_trace_mb;      /* limit of D-RTRL's per-connection traces per rank */
  int delivery;             /* FfDelivery: round 1's synaptic delivery, per spike or sparse x dense */
  double spmm_density;      /* auto: SpMM for a step whose arrivals fill at least this share */
  /* round 2: the recurrent encoder/decoder */
  int64_t epochs_round2, rnn_hidden, rnn_batch, rnn_iters, rnn_seq_len;
  double rnn_lr, rnn_lr_decay, rnn_noise;
  int64_t rnn_lr_decay_every;

  /* [predict] */
  int64_t warmup_frames;
  bool allow_incomplete;    /* use a round-2 model whose round 2 did not finish */
  double predict_checkpoint_s; /* the prediction's resume point: at most this often, and after each pass */
  char round1_checkpoint[FF_CONFIG_STR], round2_checkpoint[FF_CONFIG_STR]; /* "" = in [output] dir */

  /* [task]: mode = task (task.h, docs/design.md §2.8) */
  int64_t task_n_rec;        /* recurrent neurons */
  double task_e_share;       /* excitatory share */
  double task_w_ei_ratio;    /* initial inhibitory / excitatory weight scale */
  double task_ff_scale, task_rec_scale; /* initial variance scales of the input and recurrent weights */
  bool task_reset_grad;      /* the surrogate gradient flows through the reset and the adaptation current */
  int task_conn;             /* FfTaskConn */
  int64_t task_n_cues;
  double task_cue_prob; /* a cue's probability of the trial's minority side */
  char task_weights[FF_CONFIG_STR]; /* an earlier run's results.h5 to start from ("": the seed's network) */
  double task_cue_ms, task_gap_ms, task_delay_ms, task_recall_ms;
  int task_method;           /* FfTaskMethod */
  int task_split;            /* 0: the batch's trials over the ranks; 1: the neurons (FfTaskSplit) */
  double task_etrace_decay;  /* ES-D-RTRL */
  double task_lr;
  int64_t task_batch, task_max_batches, task_val_trials, task_test_trials, task_val_every;
  double task_target_acc;

  /* [output] */
  char out_dir[FF_CONFIG_STR];
  char spikes[FF_CONFIG_STR];        /* none | all | neuron list */
  bool spikes_txt;
  bool figures;                      /* run tools/flyfit-plot at the end of predict and all */
  char state_neurons[FF_CONFIG_STR]; /* neuron list whose v and g are recorded every step */

  /* [neuron]: mode = neuron, single-neuron fitting (neuron_fit.h) */
  int neuron_model;     /* index in ff_neuron_model_names */
  int neuron_loss;      /* FF_NEURON_LOSS_* */
  int neuron_optimizer; /* FF_NEURON_OPT_* */
  int64_t neuron_starts, neuron_max_evals;
  char neuron_bounds[FF_CONFIG_STR]; /* "name=low:high, ..." */
  /* [netopt]: mode = netopt (ei_net.h) */
  int64_t netopt_n_exc, netopt_n_inh, netopt_population, netopt_generations, netopt_spike_pairs;
  int netopt_split; /* FF_NETOPT_SPLIT_* */
  double netopt_duration_ms, netopt_target_p, netopt_target_w;
  char netopt_bounds[FF_CONFIG_STR]; /* "p=low:high, w=low:high" */

  /* [cells]: mode = cells, connectivity of recorded cells by STDP (cells.h, docs/design.md §2.10) */
  int cells_rule;                       /* FfStdpRule */
  double cells_a_plus, cells_a_minus;   /* weight change at lag 0 */
  double cells_tau_plus_ms, cells_tau_minus_ms;
  double cells_w_max, cells_w_init;
  int64_t cells_passes;
  double cells_calcium_tau_s, cells_highpass_hz, cells_deconv_lambda, cells_spike_z;
  int64_t cells_max_per_frame;
  double cells_drive_mV, cells_dt_ms;
  int cells_placement;                  /* FfCellsPlacement */
  int cells_types;                      /* 0 = rs for every cell, 1 = truth (the recording's /truth types) */
  int64_t cells_xcorr_lag;
  double cells_partial_ridge;
  int64_t cells_partial_max_cells;
  double cells_coupling_mV;
  int64_t cells_folds;

  /* Where each key's value came from (FfConfigSource) and the line it was set on, by the key's row in config.c's
   * table (a static assertion there says when FF_CONFIG_MAX_KEYS must grow). */
  unsigned char source[FF_CONFIG_MAX_KEYS];
  int line[FF_CONFIG_MAX_KEYS];
} FfConfig;

typedef enum { FF_SRC_DEFAULT = 0, FF_SRC_PRESET, FF_SRC_FILE, FF_SRC_SET } FfConfigSource;

/* Defaults of every key (preset keys are filled in by ff_config_finish). */
void ff_config_init(FfConfig *c);
/* Reads an INI file; unknown sections/keys, wrong types and out-of-range values are errors naming
 * file, line and key. A list key may continue on indented lines (the parts joined by commas). */
int ff_config_load(FfConfig *c, const char *path);
/* Applies one "section.key=value" override. */
int ff_config_set(FfConfig *c, const char *assignment);
/* Whether [section] name was given (file or --set) rather than left at its default or preset. */
bool ff_config_is_set(const FfConfig *c, const char *section, const char *name);
/* Fills preset-dependent keys that were not set and checks relations between keys. */
int ff_config_finish(FfConfig *c);
/* What a mode reads: the connectome (and its partition), and the recordings of [data] activity.
 * The one place that says so: ff_config_finish's checks and the run driver's mode table use it. */
bool ff_mode_uses_connectome(FfMode mode);
bool ff_mode_uses_activity(FfMode mode);
/* [fit] trainable as bits (1 encoder, 2 connections, 4 lowrank); an unknown word is an error naming the key. */
int ff_config_trainable(const FfConfig *c, int *bits);
/* Those bits spelled as [fit] trainable takes them ("encoder, lowrank"), into buf [cap]. */
void ff_config_trainable_text(int64_t bits, char *buf, size_t cap);
/* "section.key=value" lines of every key that determines a fit's trajectory (checkpoints store it;
 * a resume compares it). Caller frees. */
int ff_config_fingerprint(const FfConfig *c, char **text);
/* And round 2's: round 1's keys and round 2's (rnn_*), but not epochs_round2. */
int ff_config_fingerprint_round2(const FfConfig *c, char **text);
/* And mode = task's: the [task] keys but max_batches, target_acc and the scoring ones, Adam's constants, the seed. */
int ff_config_fingerprint_task(const FfConfig *c, char **text);
/* The effective configuration as INI text (caller frees), each line noting where the value came from. */
int ff_config_format(const FfConfig *c, char **text);
/* The key table as a reference (flyfit --help-config), as text or as a markdown table. */
void ff_config_print_help(FILE *f, int markdown);
const char *ff_preset_name(int preset);

#endif
