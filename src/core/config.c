/* The configuration key table and everything driven by it: INI parsing, --set overrides,
 * presets, range checks, the effective-config echo and --help-config.
 * Invariant: every FfConfig field that a user can set has exactly one row in KEYS.
 * INI files are read line by line here, by inih's rules but with no limit on a line's length
 * (libinih reads each line into a buffer fixed when the library is built, 200 bytes in Debian's). */
#include "flyfit/config.h"
#include "flyfit/error.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef enum { T_INT, T_REAL, T_BOOL, T_STRING, T_ENUM } KeyType;

typedef struct {
  const char *section, *name;
  KeyType type;
  const char *def;      /* default as text; NULL = from the preset (see PRESETS) */
  double min, max;      /* inclusive range for T_INT / T_REAL */
  const char *choices;  /* "a|b|c" for T_ENUM */
  const char *unit;
  const char *help;
  size_t offset;
} Key;

#define OFF(f) offsetof(FfConfig, f)
#define BIG 1e300
static const Key KEYS[] = {
    {"data", "connectome", T_STRING, "", 0, 0, NULL, "path", "connectome HDF5 file (flyfit-import or flyfit-synth make one)", OFF(connectome)},
    {"data", "activity", T_STRING, "", 0, 0, NULL, "path", "recordings, activity.h5 (flyfit-import activity or flyfit-synth --activity); needed by mode = fit", OFF(activity)},
    {"data", "recording", T_STRING, "", 0, 0, NULL, "path", "mode = neuron: a single neuron's sweeps, HDF5 (flyfit-synth --neuron makes one; docs/formats.md), or a CSV of the recorded voltage (mV), one sweep per column, with recording_current; mode = cells: a recording of cells (flyfit-import cells or flyfit-synth --cells; docs/formats.md); mode = netopt: a recorded network's spike trains as the target instead of the planted one, HDF5 (flyfit-synth --network) or a CSV of spike times (ms), one cell per column, excitatory first", OFF(recording)},
    {"data", "recording_current", T_STRING, "", 0, 0, NULL, "path", "mode = neuron, a CSV recording: the input current's CSV (the model's input unit, e.g. nA for hh), the same sweeps and samples as the voltage's", OFF(recording_current)},
    {"data", "recording_spikes", T_STRING, "", 0, 0, NULL, "path", "mode = neuron, a CSV recording: the spike times' CSV (ms from the sweep's start), one sweep per column (missing times empty); needed by the spike losses", OFF(recording_spikes)},
    {"data", "recording_dt", T_REAL, "0", 0, 1e6, NULL, "ms", "mode = neuron, a CSV recording: the time step of its samples; 0 = from the voltage file's first column t_ms", OFF(recording_dt)},
    {"data", "recording_layout", T_ENUM, "columns", 0, 0, "columns|rows", "", "mode = neuron, CSV recordings: columns = one sweep per column, one sample per line; rows = one sweep per line (brian2modelfitting's example files)", OFF(recording_layout)},
    {"data", "mapping", T_STRING, "", 0, 0, NULL, "path", "region -> neuropil mapping file (two columns); regions not in it match neuropils of the same name. An activity.h5 imported with --connectome stores its matching (/neuropil_names) and needs none; given anyway, it must give that matching or the run stops", OFF(mapping)},
    {"data", "drop_unmatched", T_BOOL, "false", 0, 0, NULL, "", "leave out regions and neuropils without a match (a warning) instead of stopping", OFF(drop_unmatched)},
    {"data", "flywire_version", T_STRING, "", 0, 0, NULL, "", "when set, the connectome's release must be this (e.g. 783)", OFF(flywire_version)},
    {"data", "neural_activity_id", T_STRING, "", 0, 0, NULL, "", "when set, the recording's id must be this (e.g. 2017-10-30_1)", OFF(neural_activity_id)},

    {"run", "mode", T_ENUM, "simulate", 0, 0, "simulate|fit|round2|predict|all|task|neuron|netopt|cells", "", "simulate the network; fit = round 1 (the spiking network); round2 = the recurrent encoder/decoder; predict = forecast the recordings with both; all = fit, round2, predict and figures; task = train an E/I spiking network on evidence accumulation ([task]; no connectome); neuron = fit one neuron model to [data] recording ([neuron] section); netopt = fit an E/I Izhikevich network's connection probability and weight scale to the firing statistics of a planted network or of [data] recording ([netopt]); cells = functional connectivity of the recorded cells of [data] recording by STDP ([cells] section)", OFF(mode)},
    {"run", "preset", T_ENUM, "shiu", 0, 0, "shiu|brainscale", "", "model constants: shiu (Shiu et al. whole-brain LIF, Brian2) or brainscale (the fitting model); every [model] key overrides one value", OFF(preset)},
    {"run", "duration_ms", T_REAL, "1000", 1e-9, 1e9, NULL, "ms", "simulated time of each trial", OFF(duration_ms)},
    {"run", "batch", T_INT, "1", 1, 65535, NULL, "", "independent trials run side by side (different random input)", OFF(batch)},
    {"run", "seed", T_INT, "1", 0, 9.2e18, NULL, "", "seed of every random number (Philox counters keyed by neuron, step, trial)", OFF(seed)},
    {"run", "threads", T_INT, "0", 0, 4096, NULL, "", "OpenMP threads per rank; 0 = the cores this rank may use, split evenly among the ranks of its node that share them", OFF(threads)},
    {"run", "partition", T_ENUM, "file", 0, 0, "file|auto", "", "file: use /partition/k{ranks} made by flyfit-partition (one rank needs none); auto: make it with METIS on rank 0 if missing and keep it in the file", OFF(partition)},
    {"run", "exchange", T_ENUM, "auto", 0, 0, "allgather|targeted|auto", "", "spikes to every rank, only to the ranks that need them, or the cheaper of the two (results are the same)", OFF(exchange)},
    {"run", "backend", T_ENUM, "cpu", 0, 0, "cpu|cuda|emulate", "", "where neurons are advanced: cpu cores, one CUDA GPU per rank (the simulation, round 1 and the prediction's network; round 2's GRU stays on CPU cores), or emulate = the device kernels (the simulation's, and round 1's and the prediction's network) run serially on the CPU in scrambled orders (slow; for testing without a GPU)", OFF(backend)},
    {"run", "transport", T_ENUM, "mpi", 0, 0, "mpi|nccl", "", "how spikes travel between ranks: MPI from host memory, or NCCL between GPUs (backend = cuda; emulate imitates it over MPI)", OFF(transport)},
    {"run", "devices", T_STRING, "", 0, 0, NULL, "list", "GPU ids the ranks of a node use, in node-local rank order (e.g. 0,1,2,3); empty = GPU number = node-local rank", OFF(devices)},
    {"run", "progress_s", T_REAL, "10", 0, 1e6, NULL, "s", "wall seconds between progress lines on rank 0; 0 = none", OFF(progress_s)},
    {"run", "resume", T_STRING, "", 0, 0, NULL, "path", "fit: continue from this checkpoint, or auto = the newest valid one in [output] dir; task: from this resume point, or auto = [output] dir/task-last.h5 when it exists", OFF(resume)},

    {"model", "dt_ms", T_REAL, NULL, 1e-6, 100, NULL, "ms", "time step", OFF(dt_ms)},
    {"model", "v_rest_mV", T_REAL, NULL, -1e3, 1e3, NULL, "mV", "resting potential", OFF(v_rest_mV)},
    {"model", "v_reset_mV", T_REAL, NULL, -1e3, 1e3, NULL, "mV", "potential after a spike", OFF(v_reset_mV)},
    {"model", "v_th_mV", T_REAL, NULL, -1e3, 1e3, NULL, "mV", "spike when v exceeds this", OFF(v_th_mV)},
    {"model", "tau_m_ms", T_REAL, NULL, 1e-6, 1e6, NULL, "ms", "membrane time constant", OFF(tau_m_ms)},
    {"model", "tau_syn_ms", T_REAL, NULL, 1e-6, 1e6, NULL, "ms", "synaptic time constant (decay of g)", OFF(tau_syn_ms)},
    {"model", "tau_ref_ms", T_REAL, NULL, 0, 1e6, NULL, "ms", "refractory period", OFF(tau_ref_ms)},
    {"model", "delay_ms", T_REAL, NULL, 1e-6, 1e6, NULL, "ms", "synaptic delay, the same for every connection; a multiple of dt", OFF(delay_ms)},
    {"model", "w_syn_mV", T_REAL, NULL, -1e6, 1e6, NULL, "mV", "weight per synapse: a connection adds w_syn x signed synapse count to g", OFF(w_syn_mV)},
    {"model", "v_init_sd_mV", T_REAL, NULL, 0, 1e3, NULL, "mV", "initial v ~ N(v_rest, sd)", OFF(v_init_sd_mV)},
    {"model", "g_init_max_mV", T_REAL, NULL, 0, 1e3, NULL, "mV", "initial g ~ U(0, max)", OFF(g_init_max_mV)},
    {"model", "step_order", T_ENUM, NULL, 0, 0, "shiu|brainscale", "", "order within a step: shiu = integrate, threshold, inputs, reset (Brian2); brainscale = decay g, inputs, update v, threshold, reset", OFF(step_order)},

    {"stimulus", "poisson_neurons", T_STRING, "", 0, 0, NULL, "list", "neurons given Poisson input: indices and ranges (1,5,10-12) or @FILE with one index or root id per line", OFF(poisson_neurons)},
    {"stimulus", "poisson_rate_hz", T_REAL, NULL, 0, 1e6, NULL, "Hz", "rate of the Poisson input", OFF(poisson_rate_hz)},
    {"stimulus", "poisson_weight_mV", T_REAL, NULL, -1e6, 1e6, NULL, "mV", "jump of v per Poisson or file input spike", OFF(poisson_weight_mV)},
    {"stimulus", "driven_refractory", T_BOOL, NULL, 0, 0, NULL, "", "whether neurons with Poisson or file input keep their refractory period", OFF(driven_refractory)},
    {"stimulus", "silence", T_STRING, "", 0, 0, NULL, "list", "neurons whose outgoing connections are cut (same syntax as poisson_neurons)", OFF(silence)},
    {"stimulus", "spikes_file", T_STRING, "", 0, 0, NULL, "path", "text file of rows 'neuron_index time_ms': input spikes added to v like Poisson spikes", OFF(spikes_file)},
    {"stimulus", "background_rate_hz", T_REAL, NULL, 0, 1e6, NULL, "Hz", "Poisson background input to every neuron (ignored while refractory)", OFF(background_rate_hz)},
    {"stimulus", "background_weight_mV", T_REAL, NULL, -1e6, 1e6, NULL, "mV", "jump of v per background spike; 0 = no background", OFF(background_weight_mV)},

    {"preprocess", "fs_hz", T_REAL, "0", 0, 1e6, NULL, "Hz", "frame rate of the recording; 0 = the one stored in activity.h5", OFF(fs_hz)},
    {"preprocess", "highpass_hz", T_REAL, "0.01", 0, 1e6, NULL, "Hz", "cutoff of the first-order Butterworth high-pass applied to dF/F; 0 = none", OFF(highpass_hz)},
    {"preprocess", "trim_frames", T_INT, "100", 0, 1e9, NULL, "frames", "frames dropped at the start, after filtering", OFF(trim_frames)},
    {"preprocess", "calcium_tau_s", T_REAL, "0.8", 1e-6, 1e6, NULL, "s", "decay time constant of the calcium kernel (AR(1) deconvolution)", OFF(calcium_tau_s)},
    {"preprocess", "deconv_lambda", T_REAL, "0", 0, 1e9, NULL, "", "sparsity penalty of the non-negative deconvolution", OFF(deconv_lambda)},
    {"preprocess", "max_rate_hz", T_REAL, "100", 1e-9, 1e6, NULL, "Hz", "rates are scaled so that the largest is this", OFF(max_rate_hz)},

    {"fit", "epochs_round1", T_INT, "40", 0, 32767, NULL, "", "epochs of round 1 (spiking network)", OFF(epochs_round1)},
    {"fit", "batch", T_INT, "128", 1, 65535, NULL, "", "samples (frames) simulated side by side per optimizer step", OFF(fit_batch)},
    {"fit", "split", T_REAL, "0.7", 1e-9, 1, NULL, "", "share of the frames used for training (the rest test); n_train = floor(T split) rounded down to a multiple of the batch, plus 1", OFF(split)},
    {"fit", "validation", T_REAL, "0.15", 0, 0.5, NULL, "", "share of the training frames, at their end, held out as the validation block that picks every epoch and hyper-parameter (both rounds, the controls' ridge strength); 0 = none: the last epoch is kept", OFF(validation)},
    {"fit", "validation_gap", T_INT, "2", 0, 1000, NULL, "frames", "frames left out between the frames that train and the validation block, so that their calcium does not overlap", OFF(validation_gap)},
    {"fit", "bin_size", T_REAL, "5", 0, 1e6, NULL, "Hz", "width of the rate classes for bin accuracy and input jitter: edges 0, bin, 2 bin, ... up to ceil(max rate), then max_rate_hz", OFF(bin_size_hz)},
    {"fit", "lr", T_REAL, "0.01", 0, 1e300, NULL, "", "Adam learning rate", OFF(lr)},
    {"fit", "lr_decay", T_REAL, "0.9", 0, 1, NULL, "", "learning rate multiplied by this every lr_decay_every epochs", OFF(lr_decay)},
    {"fit", "lr_decay_every", T_INT, "10", 1, 1e9, NULL, "epochs", "period of the learning-rate step decay", OFF(lr_decay_every)},
    {"fit", "clip_norm", T_REAL, "1", 0, 1e30, NULL, "", "gradients are scaled so that their global L2 norm is at most this; 0 = no clipping", OFF(clip_norm)},
    {"fit", "adam_beta1", T_REAL, "0.9", 0, 1, NULL, "", "Adam first-moment decay", OFF(beta1)},
    {"fit", "adam_beta2", T_REAL, "0.999", 0, 1, NULL, "", "Adam second-moment decay", OFF(beta2)},
    {"fit", "adam_eps", T_REAL, "1e-8", 0, 1, NULL, "", "Adam epsilon", OFF(adam_eps)},
    {"fit", "loss", T_ENUM, "mse", 0, 0, "mse|mae|huber", "", "loss between predicted and recorded neuropil rates at the end of each sample", OFF(loss)},
    {"fit", "huber_delta", T_REAL, "1", 1e-12, 1e9, NULL, "Hz", "Huber loss: quadratic below, linear above this difference", OFF(huber_delta_hz)},
    {"fit", "etrace_decay", T_REAL, "0.99", 0, 0.999999, NULL, "", "0 = D-RTRL (one trace per parameter); otherwise ES-D-RTRL with this decay for connection weights and the low-rank term (which needs it)", OFF(etrace_decay)},
    {"fit", "trainable", T_STRING, "encoder", 0, 0, NULL, "list", "what round 1 trains (comma list): encoder, connections, lowrank (the original's rank-r recurrent term A (B s) on the delayed spikes, beside the frozen connectome)", OFF(trainable)},
    {"fit", "lowrank_rank", T_INT, "20", 1, 1e9, NULL, "", "r of the low-rank recurrent term (trainable = lowrank): at most the neuron count", OFF(lowrank_rank)},
    {"fit", "keep_sign", T_BOOL, "true", 0, 0, NULL, "", "connection weights keep the sign of their synapses (projected to 0 rather than flipping)", OFF(keep_sign)},
    {"fit", "warmup_fraction", T_REAL, "0.1", 0, 0.999, NULL, "", "share of each sample simulated before spikes are counted", OFF(warmup_fraction)},
    {"fit", "sample_ms", T_REAL, "0", 0, 1e7, NULL, "ms", "simulated time per sample; 0 = one frame period (1/fs)", OFF(sample_ms)},
    {"fit", "background_hz", T_REAL, "20", 0, 1e5, NULL, "Hz", "Poisson background to every neuron; each spike adds the neuron's encoder output to v", OFF(fit_background_hz)},
    {"fit", "encoder_bias_mV", T_REAL, "1.2", -1e3, 1e3, NULL, "mV", "initial encoder bias (the input weight of a neuron before training)", OFF(encoder_bias_mV)},
    {"fit", "encoder_sd_mV", T_REAL, "1", 0, 1e3, NULL, "mV", "initial encoder weights ~ N(0, sd^2 / P) per (neuron, neuropil), on the inputs encoder_input gives", OFF(encoder_sd_mV)},
    {"fit", "encoder_input", T_ENUM, "scaled", 0, 0, "scaled|hz", "", "what the encoder reads: scaled = rates / max_rate_hz (0..1); hz = rates in Hz (the original's)", OFF(encoder_input)},
    {"fit", "shuffle", T_BOOL, "true", 0, 0, NULL, "", "shuffle the training samples every epoch; false = in recording order (the original's)", OFF(shuffle)},
    {"fit", "kick_order", T_ENUM, "after_decay", 0, 0, "after_decay|before_decay", "", "when a background spike's kick w enters v: after_decay = after the step's membrane decay, v~ = e v + (1 - e) g + w (flyfit); before_decay = into v before it, v~ = e (v + w) + (1 - e) g, so the kick counts e = exp(-dt/tau_m) (0.990 at 0.2 ms; the original's order, which compat keeps as flyfit's)", OFF(kick_order)},
    {"fit", "init_state", T_ENUM, "random", 0, 0, "random|fixed", "", "initial state of a sample: random = its own draw of v ~ N(0, v_init_sd_mV), g ~ U(0, g_init_max_mV); fixed = one draw for every sample (the original's)", OFF(init_state)},
    {"fit", "compat", T_ENUM, "none", 0, 0, "none|brainscale", "", "brainscale = as close to the original (BrainScale's drosophila_whole_brain_fitting.py) as flyfit can be: encoder_input = hz, encoder_bias_mV = 0, encoder_sd_mV = sqrt 2 (Kaiming), bin_size = 0.25, lr_decay = 1, shuffle = false, rnn_noise = 0.05 Hz, trainable = encoder, lowrank (rank 20, ES-D-RTRL 0.99), init_state = fixed; a key given that contradicts it is an error", OFF(compat)},
    {"fit", "checkpoint_every", T_INT, "1", 1, 1e9, NULL, "epochs", "checkpoint period (the best epoch is always kept)", OFF(checkpoint_every)},
    {"fit", "epochs_round2", T_INT, "30", 0, 32767, NULL, "", "epochs of round 2 (recurrent encoder/decoder)", OFF(epochs_round2)},
    {"fit", "rnn_hidden", T_INT, "256", 1, 65536, NULL, "", "GRU hidden units (H)", OFF(rnn_hidden)},
    {"fit", "rnn_batch", T_INT, "128", 2, 65536, NULL, "", "round-2 sequences per step: half recorded rates jittered in their classes, half round-1 simulated rates plus noise", OFF(rnn_batch)},
    {"fit", "rnn_iters", T_INT, "100", 1, 1e9, NULL, "", "round-2 optimizer steps per epoch", OFF(rnn_iters)},
    {"fit", "rnn_seq_len", T_INT, "0", 0, 1e9, NULL, "frames", "round-2 sequences: windows of this many frames at random starts; 0 = all training frames", OFF(rnn_seq_len)},
    {"fit", "rnn_lr", T_REAL, "0.001", 0, 1e300, NULL, "", "round-2 Adam learning rate", OFF(rnn_lr)},
    {"fit", "rnn_lr_decay", T_REAL, "0.9", 0, 1, NULL, "", "round-2 learning rate multiplied by this every rnn_lr_decay_every epochs", OFF(rnn_lr_decay)},
    {"fit", "rnn_lr_decay_every", T_INT, "10", 1, 1e9, NULL, "epochs", "period of the round-2 step decay", OFF(rnn_lr_decay_every)},
    {"fit", "rnn_loss", T_ENUM, "bin", 0, 0, "bin|mse", "", "round-2 loss: bin = the bin-interval loss (zero inside the target's rate class, the original's); mse = squared error to the recorded rate", OFF(rnn_loss)},
    {"fit", "rnn_noise", T_REAL, "0.1", 0, 1e3, NULL, "", "sd of the Gaussian noise on round-1 simulated rates, as a fraction of max_rate_hz (clamped at 0)", OFF(rnn_noise)},
    {"fit", "max_trace_mb", T_REAL, "4096", 0, 1e12, NULL, "MB", "limit of D-RTRL's per-connection traces per rank", OFF(max_trace_mb)},
    {"fit", "delivery", T_ENUM, "auto", 0, 0, "auto|spike|spmm", "", "round 1's synaptic delivery per step: spike = each arriving spike adds its connections' weights to its targets; spmm = sparse x dense, every target gathers its connections' weights times the step's arrival matrix [stand-ins x samples] (cuSPARSE's form; exact: integer sums); auto = spmm for a step whose arrivals fill at least spmm_density of that matrix; the same bits either way", OFF(delivery)},
    {"fit", "spmm_density", T_REAL, "0.3", 0, 1, NULL, "", "delivery = auto: the share of (stand-in, sample) pairs with an arrival from which a step is delivered as sparse x dense; 0.3 is the crossover measured on CPU cores (20,000 neurons, batch 128, one thread: per spike 9.5 ms a step at 1.1%, sparse x dense 282 ms at any share); a GPU's is unmeasured", OFF(spmm_density)},

    {"predict", "allow_incomplete", T_BOOL, "false", 0, 0, NULL, "", "use a gru-best.h5 that a round 2 left when it was stopped or failed (refused otherwise, naming how to finish it)", OFF(allow_incomplete)},
    {"predict", "warmup_frames", T_INT, "100", 0, 1e9, NULL, "frames", "frames fed with recorded rates before the model runs on its own predictions", OFF(warmup_frames)},
    {"predict", "round1_checkpoint", T_STRING, "", 0, 0, NULL, "path", "round-1 parameters; empty = [output] dir/checkpoint-best.h5", OFF(round1_checkpoint)},
    {"predict", "checkpoint_s", T_REAL, "300", 0, 1e9, NULL, "s", "the prediction saves its resume point (DIR/predict-partial.h5) at most this often, and after each of its passes; [run] resume = auto continues from it; 0 = after every frame", OFF(predict_checkpoint_s)},
    {"predict", "round2_checkpoint", T_STRING, "", 0, 0, NULL, "path", "round-2 parameters; empty = [output] dir/gru-best.h5", OFF(round2_checkpoint)},

    {"task", "n_rec", T_INT, "200", 2, 100000, NULL, "", "mode = task: recurrent neurons, 4:1 excitatory:inhibitory (then a multiple of 5) unless e_share is set", OFF(task_n_rec)},
    {"task", "e_share", T_REAL, "0.8", 0, 1, NULL, "", "share of the recurrent neurons that are excitatory (rounded; at least one of each kind)", OFF(task_e_share)},
    {"task", "ff_scale", T_REAL, "1", 0, 1e6, NULL, "", "initial input weights: |truncated normal| of variance ff_scale / 100 (KaimingNormal)", OFF(task_ff_scale)},
    {"task", "rec_scale", T_REAL, "0.5", 0, 1e6, NULL, "", "initial recurrent weights: |truncated normal| of variance rec_scale / fan-in from excitatory neurons, w_ei_ratio rec_scale / fan-in from inhibitory ones (fan-in: the population's size times the connection probability)", OFF(task_rec_scale)},
    {"task", "reset_grad", T_BOOL, "true", 0, 0, NULL, "", "the spike's surrogate gradient flows through the soft reset and the adaptation current, as in the original (brainstate's soft reset); false = the spike is a constant there (BPTT's gradient then grows without bound over a 2,200-step trial at the default scales)", OFF(task_reset_grad)},
    {"task", "w_ei_ratio", T_REAL, "4", 0, 1e6, NULL, "", "initial variance scale of inhibitory connections relative to excitatory ones", OFF(task_w_ei_ratio)},
    {"task", "conn_method", T_ENUM, "dense", 0, 0, "dense|gaussian|rand", "", "recurrent connectivity: dense = every pair (no autapses); gaussian = from excitatory neurons by distance on a ring, exp(-d^2 / (2 20^2)), d in excitatory neurons, from inhibitory ones with probability 0.1; rand = each pair with probability 0.1", OFF(task_conn)},
    {"task", "n_cues", T_INT, "7", 1, 1e6, NULL, "", "cues per trial; the label is the side with more (a tie goes to the last cue's)", OFF(task_n_cues)},
    {"task", "cue_prob", T_REAL, "0.3", 0, 0.5, NULL, "", "each trial favours left or right with probability 1/2, and each of its cues falls on the other side with this probability (0.3: the original's EvidenceAccumulation prob; 0.5: every cue a fair coin)", OFF(task_cue_prob)},
    {"task", "cue_ms", T_REAL, "100", 0, 1e7, NULL, "ms", "length of a cue (its group of 25 inputs fires at 40 Hz)", OFF(task_cue_ms)},
    {"task", "gap_ms", T_REAL, "50", 0, 1e7, NULL, "ms", "silence before each cue (the first cue starts after it)", OFF(task_gap_ms)},
    {"task", "delay_ms", T_REAL, "1000", 0, 1e7, NULL, "ms", "delay between the last cue's gap and the recall period; at least dt (1 ms)", OFF(task_delay_ms)},
    {"task", "recall_ms", T_REAL, "150", 0, 1e7, NULL, "ms", "recall period: the recall group fires and the loss (cross-entropy) is taken at every step", OFF(task_recall_ms)},
    {"task", "method", T_ENUM, "bptt", 0, 0, "bptt|diag|expsm_diag", "", "gradient: bptt = backpropagation through time (exact, memory grows with the trial); diag = D-RTRL (a trace per weight); expsm_diag = ES-D-RTRL (factorised traces, etrace_decay)", OFF(task_method)},
    {"task", "etrace_decay", T_REAL, "0.98", 0, 0.999999, NULL, "", "expsm_diag: decay of the pre- and postsynaptic traces per step", OFF(task_etrace_decay)},
    {"task", "weights", T_STRING, "", 0, 0, NULL, "path", "start from the trained network of an earlier mode = task run's results.h5 (same n_rec, e_share, conn_method and seed); with max_batches = 0 the run only scores and records it (the original's --mode sim): the test accuracy and the raster and readout of a test trial", OFF(task_weights)},
    {"task", "lr", T_REAL, "0.001", 0, 1e300, NULL, "", "Adam learning rate (beta and epsilon: [fit] adam_*)", OFF(task_lr)},
    {"task", "batch", T_INT, "128", 1, 65535, NULL, "", "trials per Adam step, split over the ranks in whole trials", OFF(task_batch)},
    {"task", "target_acc", T_REAL, "0.9", 0, 1, NULL, "", "training stops when the validation accuracy reaches this", OFF(task_target_acc)},
    {"task", "split", T_ENUM, "trials", 0, 0, "trials|neurons", "", "what the ranks divide: trials = each rank takes whole trials of the batch (and its threads whole trials of those); neurons = every trial runs on all ranks, each rank holding and advancing a block of the neurons (their rows of the weights and their traces), the spikes of every 1 ms step exchanged as the simulation exchanges them, for networks too large for one rank (n_rec 1e4 and up); diag and expsm_diag only (BPTT's backward pass needs the whole network), one thread per rank; the same result either way, bit for bit", OFF(task_split)},
    {"task", "max_batches", T_INT, "2000", 0, 1e9, NULL, "", "training stops after this many batches", OFF(task_max_batches)},
    {"task", "val_every", T_INT, "10", 1, 1e9, NULL, "batches", "the validation accuracy is scored every this many batches, and after the last", OFF(task_val_every)},
    {"task", "val_trials", T_INT, "256", 1, 1e9, NULL, "", "validation trials (keyed apart from the training trials)", OFF(task_val_trials)},
    {"task", "test_trials", T_INT, "512", 1, 1e9, NULL, "", "test trials, scored once at the end (keyed apart from both)", OFF(task_test_trials)},
    {"neuron", "model", T_ENUM, "hh", 0, 0, "hh|gif|izhikevich|adex", "", "mode = neuron: the model fitted (docs/design.md §2.9.2)", OFF(neuron_model)},
    {"neuron", "loss", T_ENUM, "voltage", 0, 0, "voltage|spike|gamma|vanrossum|isi", "", "voltage = mean squared difference of v (mV^2) over every sample; spike, isi, vanrossum, gamma = the mean over the sweeps of the SPIKE-distance, the ISI-distance, the van Rossum distance (tau 10 ms) or 1 - the coincidence factor (precision 2 ms) against the recording's spike times (optimizer = de)", OFF(neuron_loss)},
    {"neuron", "optimizer", T_ENUM, "lbfgs", 0, 0, "lbfgs|de|ga", "", "lbfgs = NLopt's L-BFGS with bounds on the exact gradient (the forward sensitivities), multi-start, loss = voltage only; de = differential evolution (DE/rand/1/bin), any loss and any model; ga = genetic algorithm (tournaments of 3, BLX-0.5 blend, Gaussian mutation, one elite), any loss and any model", OFF(neuron_optimizer)},
    {"neuron", "starts", T_INT, "8", 1, 1e6, NULL, "", "lbfgs: start points, each the best of a screening keyed by (seed, start), spread over the ranks, the best by (loss, start); de, ga: the population (4 or more), its evaluations spread over the ranks", OFF(neuron_starts)},
    {"neuron", "bounds", T_STRING, "", 0, 0, NULL, "list", "the fitted parameters, name=low:high in the model's names and units (e.g. gL=0.004:0.016, VT=-70:-40); empty = the parameters with sensitivities within [d/2, 2d] of their defaults d (d -+ |d|/2 for d < 0)", OFF(neuron_bounds)},
    {"neuron", "max_evals", T_INT, "2000", 1, 1e9, NULL, "", "model evaluations (a simulation of every sweep) in all, split evenly among the starts (de, ga: max_evals / starts generations, the first the initial population)", OFF(neuron_max_evals)},
    {"netopt", "n_exc", T_INT, "200", 1, 20000, NULL, "", "mode = netopt: excitatory (regular-spiking Izhikevich) cells", OFF(netopt_n_exc)},
    {"netopt", "n_inh", T_INT, "50", 0, 20000, NULL, "", "mode = netopt: inhibitory (fast-spiking) cells", OFF(netopt_n_inh)},
    {"netopt", "duration_ms", T_REAL, "3000", 10, 1e7, NULL, "ms", "mode = netopt: simulated time of each network (1 ms steps); 3000 chosen on validation seeds 2 and 3 (1000 left p x w 6% off and the LV test failing on one of them)", OFF(netopt_duration_ms)},
    {"netopt", "target_p", T_REAL, "0.2", 0, 1, NULL, "", "mode = netopt: the planted network's connection probability (the target statistics come from it, with other noise)", OFF(netopt_target_p)},
    {"netopt", "target_w", T_REAL, "20", 0, 1e3, NULL, "", "mode = netopt: the planted network's weight scale", OFF(netopt_target_w)},
    {"netopt", "bounds", T_STRING, "p=0.05:0.5, w=5:60", 0, 0, NULL, "list", "mode = netopt: the search box, p=low:high, w=low:high", OFF(netopt_bounds)},
    {"netopt", "population", T_INT, "16", 4, 1e6, NULL, "", "mode = netopt: differential evolution's population, spread over the ranks", OFF(netopt_population)},
    {"netopt", "generations", T_INT, "30", 1, 1e6, NULL, "", "mode = netopt: generations after the initial population", OFF(netopt_generations)},
    {"netopt", "split", T_ENUM, "members", 0, 0, "members|cells", "", "mode = netopt: what the ranks divide; members = each candidate network runs whole on one rank, the population spread over the ranks (best for a few hundred cells); cells = every candidate runs on all ranks, its cells split in blocks and the spikes of each 1 ms step exchanged as the simulation exchanges them (large networks); the same result either way, bit for bit", OFF(netopt_split)},
    {"netopt", "spike_pairs", T_INT, "100", 0, 1e6, NULL, "", "mode = netopt: cell pairs whose mean SPIKE-distance enters the loss, within the excitatory cells, within the inhibitory ones and between the two; 0 = rates and LV only", OFF(netopt_spike_pairs)},
    {"cells", "rule", T_ENUM, "all", 0, 0, "all|nearest", "", "mode = cells: the STDP pair rule: all = every pre/post pair adds up (traces accumulate), nearest = nearest-neighbour (a trace is reset to A at each spike)", OFF(cells_rule)},
    {"cells", "a_plus", T_REAL, "0.003", 0, 1e6, NULL, "", "weight change of a pre-before-post pair at lag 0 (potentiation)", OFF(cells_a_plus)},
    {"cells", "a_minus", T_REAL, "-0.0015", -1e6, 0, NULL, "", "weight change of a post-before-pre pair at lag 0 (depression, negative)", OFF(cells_a_minus)},
    {"cells", "tau_plus_ms", T_REAL, "20", 1e-6, 1e6, NULL, "ms", "decay of potentiation with the lag", OFF(cells_tau_plus_ms)},
    {"cells", "tau_minus_ms", T_REAL, "60", 1e-6, 1e6, NULL, "ms", "decay of depression with the lag", OFF(cells_tau_minus_ms)},
    {"cells", "w_max", T_REAL, "1", 1e-12, 1e12, NULL, "", "weights are clipped to [0, w_max] after every change", OFF(cells_w_max)},
    {"cells", "w_init", T_REAL, "0.5", 0, 1e12, NULL, "", "the weight every synapse starts from (at most w_max)", OFF(cells_w_init)},
    {"cells", "passes", T_INT, "1", 1, 1e6, NULL, "", "passes over the recording, the weights carried from one to the next; with placement = even every pass sees the same trains (more passes only matter once weights reach a bound), with random each places the spikes anew", OFF(cells_passes)},
    {"cells", "calcium_tau_s", T_REAL, "0.7", 1e-6, 1e6, NULL, "s", "decay of the calcium kernel of the deconvolution (OASIS, AR(1)); the recording needs 3 tau fs frames, at least 10", OFF(cells_calcium_tau_s)},
    {"cells", "highpass_hz", T_REAL, "0.01", 0, 1e6, NULL, "Hz", "high-pass of each cell's dF/F before the deconvolution (first-order Butterworth, causal); 0 = off", OFF(cells_highpass_hz)},
    {"cells", "deconv_lambda", T_REAL, "0", 0, 1e6, NULL, "dF/F", "sparsity penalty of the deconvolution (OASIS's lambda)", OFF(cells_deconv_lambda)},
    {"cells", "spike_z", T_REAL, "1.5", 0, 1e6, NULL, "", "a frame's deconvolved amount counts as spikes when above spike_z noise sds of its cell (sd from the median absolute frame-to-frame difference of dF/F)", OFF(cells_spike_z)},
    {"cells", "max_per_frame", T_INT, "5", 1, 1000, NULL, "", "at most this many inferred spikes in one frame (amount / the cell's median counted amount, rounded)", OFF(cells_max_per_frame)},
    {"cells", "drive_mV", T_REAL, "40", 0, 1e6, NULL, "mV", "each inferred spike kicks its cell's Izhikevich neuron's v by this, at its time inside its frame ([cells] placement)", OFF(cells_drive_mV)},
    {"cells", "placement", T_ENUM, "even", 0, 0, "even|random", "", "where the m inferred spikes of a frame lie inside it: even = at (k + 1/2) / m of the frame, so that cells active in the same frame fire together (a pre/post pair at lag 0 potentiates by a_plus); random = uniformly, anew in each pass", OFF(cells_placement)},
    {"cells", "dt_ms", T_REAL, "0.5", 1e-3, 10, NULL, "ms", "time step of the driven Izhikevich neurons (forward Euler)", OFF(cells_dt_ms)},
    {"cells", "types", T_ENUM, "rs", 0, 0, "rs|truth", "", "the neurons' types: rs = regular spiking for every cell (the types are what the classifier finds out); truth = RS for the recording's E cells and FS for its I cells (an oracle; needs /truth)", OFF(cells_types)},
    {"cells", "xcorr_lag", T_INT, "2", 1, 1e6, NULL, "frames", "lagged cross-correlation baseline: the largest correlation of i's frames with j's over lags 1..xcorr_lag", OFF(cells_xcorr_lag)},
    {"cells", "partial_ridge", T_REAL, "0.1", 1e-12, 1e12, NULL, "", "partial-correlation baseline: ridge added to the correlation matrix's diagonal before inverting it", OFF(cells_partial_ridge)},
    {"cells", "coupling_mV", T_REAL, "0", 0, 1e3, NULL, "mV", "currents through the learned weights: a model spike of cell i kicks the potential of every other cell j by coupling_mV x w_ij one step later (negative from I cells with types = truth), w as learned by the end of the previous pass (w_init in the first); 0: each cell driven by its recording alone", OFF(cells_coupling_mV)},
    {"cells", "partial_max_cells", T_INT, "20000", 2, 1e7, NULL, "cells", "partial-correlation baseline only up to this many cells: rank 0 inverts the whole n x n matrix (16 n^2 bytes, n^3/3 flops); above it the baseline is skipped, its AUC NaN", OFF(cells_partial_max_cells)},
    {"cells", "folds", T_INT, "5", 2, 1e6, NULL, "", "E/I classifier: cross-validation folds (logistic regression, L2 1)", OFF(cells_folds)},

    {"output", "dir", T_STRING, "out", 0, 0, NULL, "path", "directory for results.h5, flyfit.log and spikes.txt", OFF(out_dir)},
    {"output", "spikes", T_STRING, "all", 0, 0, NULL, "list", "spikes recorded into results.h5: none, all, or a neuron list", OFF(spikes)},
    {"output", "spikes_txt", T_BOOL, "false", 0, 0, NULL, "", "also write spikes.txt (trial 0: 'neuron_index time_ms', sorted by time then neuron)", OFF(spikes_txt)},
    {"output", "figures", T_BOOL, "true", 0, 0, NULL, "", "predict, all and task end by drawing the figures (tools/flyfit-plot) into [output] dir/figures", OFF(figures)},
    {"output", "state_neurons", T_STRING, "", 0, 0, NULL, "list", "neurons whose v and g are recorded at every step into results.h5", OFF(state_neurons)},
};
#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* Preset values of the keys whose default is NULL, in the order of FfPreset. */
static const struct {
  const char *key;
  const char *value[2];
} PRESETS[] = {
    {"model.dt_ms", {"0.1", "0.2"}},
    {"model.v_rest_mV", {"-52", "0"}},
    {"model.v_reset_mV", {"-52", "0"}},
    {"model.v_th_mV", {"-45", "1"}},
    {"model.tau_m_ms", {"20", "20"}},
    {"model.tau_syn_ms", {"5", "5"}},
    {"model.tau_ref_ms", {"2.2", "5"}},
    {"model.delay_ms", {"1.8", "1.8"}},
    {"model.w_syn_mV", {"0.275", "0.000825"}},
    {"model.v_init_sd_mV", {"0", "0.8"}},
    {"model.g_init_max_mV", {"0", "0.2"}},
    {"model.step_order", {"shiu", "brainscale"}},
    {"stimulus.poisson_rate_hz", {"150", "20"}},
    {"stimulus.poisson_weight_mV", {"68.75", "1.1"}},
    {"stimulus.driven_refractory", {"false", "true"}},
    {"stimulus.background_rate_hz", {"0", "20"}},
    {"stimulus.background_weight_mV", {"0", "0"}},
};
#define N_PRESETS ((int)(sizeof PRESETS / sizeof PRESETS[0]))

_Static_assert(sizeof KEYS / sizeof KEYS[0] <= sizeof((FfConfig *)0)->source, "FfConfig.source too small");

const char *ff_preset_name(int preset) { return preset == FF_PRESET_BRAINSCALE ? "brainscale" : "shiu"; }

static int key_find(const char *section, const char *name) {
  for (int k = 0; k < N_KEYS; ++k)
    if (strcmp(KEYS[k].section, section) == 0 && strcmp(KEYS[k].name, name) == 0) return k;
  return -1;
}

static const char *preset_value(int k, int preset) {
  char full[128];
  snprintf(full, sizeof full, "%s.%s", KEYS[k].section, KEYS[k].name);
  for (int p = 0; p < N_PRESETS; ++p)
    if (strcmp(PRESETS[p].key, full) == 0) return PRESETS[p].value[preset];
  return NULL;
}

/* Index of `value` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *value) {
  int i = 0;
  for (const char *p = choices; *p; ++i) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (strlen(value) == n && strncmp(p, value, n) == 0) return i;
    if (!bar) break;
    p = bar + 1;
  }
  return -1;
}

static void choice_name(const char *choices, int index, char *buf, size_t cap) {
  const char *p = choices;
  for (int i = 0; i < index && p; ++i) {
    p = strchr(p, '|');
    if (p) ++p;
  }
  if (!p) p = "?";
  size_t n = strcspn(p, "|");
  if (n >= cap) n = cap - 1;
  memcpy(buf, p, n);
  buf[n] = '\0';
}

/* Parses `value` for key k into c. `where` prefixes the message ("file:12" or "--set ..."). */
static int key_assign(FfConfig *c, int k, const char *value, const char *where) {
  const Key *key = &KEYS[k];
  char *field = (char *)c + key->offset;
  char *end;
  switch (key->type) {
  case T_INT: {
    long long v = strtoll(value, &end, 10);
    if (end == value || *end != '\0')
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: '%s' is not an integer", where, key->section, key->name, value);
    if ((double)v < key->min || (double)v > key->max)
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s = %lld is out of range %.17g..%.17g", where, key->section, key->name, v,
                      key->min, key->max);
    *(int64_t *)field = v;
    break;
  }
  case T_REAL: {
    double v = strtod(value, &end);
    if (end == value || *end != '\0')
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: '%s' is not a number%s%s", where, key->section, key->name, value,
                      key->unit[0] ? " in " : "", key->unit);
    if (!isfinite(v))
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: '%s' is not a finite number", where, key->section, key->name, value);
    if (v < key->min || v > key->max)
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s = %g %s is out of range %g..%g", where, key->section, key->name, v,
                      key->unit, key->min, key->max);
    *(double *)field = v;
    break;
  }
  case T_BOOL:
    if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcasecmp(value, "on") || !strcmp(value, "1"))
      *(bool *)field = true;
    else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") || !strcasecmp(value, "off") || !strcmp(value, "0"))
      *(bool *)field = false;
    else
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: '%s' is not true or false", where, key->section, key->name, value);
    break;
  case T_STRING:
    if (strlen(value) >= FF_CONFIG_STR) {
      if (!strcmp(key->unit, "list"))
        return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: the value is %zu characters long, longer than the limit of %d; "
                                      "put the list in a file, one neuron index or root id per line, and write "
                                      "%s = @FILE", where, key->section, key->name, strlen(value), FF_CONFIG_STR - 1,
                        key->name);
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: the value is %zu characters long, longer than the limit of %d",
                      where, key->section, key->name, strlen(value), FF_CONFIG_STR - 1);
    }
    strcpy(field, value);
    break;
  case T_ENUM: {
    int i = choice_index(key->choices, value);
    if (i < 0)
      return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s: '%s' is not one of %s", where, key->section, key->name, value,
                      key->choices);
    *(int *)field = i;
    break;
  }
  }
  return FF_OK;
}

static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b), d[64][64];
  if (la > 63 || lb > 63) return 99;
  for (int i = 0; i <= la; ++i) d[i][0] = i;
  for (int j = 0; j <= lb; ++j) d[0][j] = j;
  for (int i = 1; i <= la; ++i)
    for (int j = 1; j <= lb; ++j) {
      int s = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
      d[i][j] = s < del ? (s < ins ? s : ins) : (del < ins ? del : ins);
    }
  return d[la][lb];
}

static int unknown_key(const char *section, const char *name, const char *where) {
  char want[160], best[160] = "";
  int best_d = 4;
  snprintf(want, sizeof want, "%s.%s", section, name);
  for (int k = 0; k < N_KEYS; ++k) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", KEYS[k].section, KEYS[k].name);
    int d = edit_distance(want, full);
    if (d < best_d) {
      best_d = d;
      snprintf(best, sizeof best, "[%s] %s", KEYS[k].section, KEYS[k].name);
    }
  }
  int known_section = 0;
  for (int k = 0; k < N_KEYS; ++k) known_section |= !strcmp(KEYS[k].section, section);
  if (!known_section && !best[0])
    return FF_ERROR(FF_ERR_INPUT, "%s: unknown section [%s] (sections: data, run, model, stimulus, preprocess, fit, predict, task, neuron, netopt, cells, output)", where,
                    section);
  if (best[0])
    return FF_ERROR(FF_ERR_INPUT, "%s: unknown key [%s] %s (did you mean %s?); flyfit --help-config lists all keys",
                    where, section, name, best);
  return FF_ERROR(FF_ERR_INPUT, "%s: unknown key [%s] %s; flyfit --help-config lists all keys", where, section, name);
}

void ff_config_init(FfConfig *c) {
  memset(c, 0, sizeof *c);
  for (int k = 0; k < N_KEYS; ++k)
    if (KEYS[k].def) {
      int st = key_assign(c, k, KEYS[k].def, "default");
      (void)st; /* defaults are valid by construction; tests check every default parses */
    }
}

/* ---- INI lines (inih's rules) ---------------------------------------------------------------
 * A line is blank, a comment (first non-blank ';' or '#'), "[section]" (anything after ']' is
 * ignored), "name = value" or "name : value", or an indented continuation of the value above it.
 * Blanks around names and values are stripped; ';' after a blank starts a comment; a UTF-8 BOM
 * may open the file. inih leaves a continuation to the handler: here only list keys take one, the
 * parts joined by commas (a list ignores empty items). */

static char *rstrip(char *s) {
  char *p = s + strlen(s);
  while (p > s && isspace((unsigned char)p[-1])) *--p = '\0';
  return s;
}

static char *lskip(char *s) {
  while (*s && isspace((unsigned char)*s)) ++s;
  return s;
}

/* The first character of s that is in chars (NULL: none is), or that starts an inline comment
 * (';' after a blank), or the end of s. */
static char *find_chars_or_comment(char *s, const char *chars) {
  int was_space = 0;
  while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
    was_space = isspace((unsigned char)*s);
    ++s;
  }
  return s;
}

/* One "name = value" of the file: key lookup, "set twice", assignment. */
static int file_assign(FfConfig *c, const char *section, const char *name, const char *value, const char *where,
                       int lineno, int *key) {
  int k = key_find(section, name);
  if (k < 0) return unknown_key(section, name, where);
  if (c->source[k] == FF_SRC_FILE)
    return FF_ERROR(FF_ERR_INPUT, "%s: [%s] %s is set twice (first on line %d)", where, section, name, c->line[k]);
  FF_TRY(key_assign(c, k, value, where));
  c->source[k] = FF_SRC_FILE;
  c->line[k] = lineno;
  *key = k;
  return FF_OK;
}

/* An indented line after key k (set on an earlier line): more items of a list. */
static int file_continue(FfConfig *c, int k, const char *more, const char *where) {
  const Key *key = &KEYS[k];
  if (strcmp(key->unit, "list") != 0)
    return FF_ERROR(FF_ERR_INPUT, "%s: this line is indented, so it continues [%s] %s of line %d, which takes one "
                                  "line; only lists continue on indented lines (remove the indentation if it is a "
                                  "key of its own)", where, key->section, key->name, c->line[k]);
  const char *field = (const char *)c + key->offset;
  size_t n = strlen(field), m = strlen(more);
  char *joined;
  FF_TRY(FF_MALLOC(joined, n + m + 2, "config list"));
  memcpy(joined, field, n);
  joined[n] = ',';
  memcpy(joined + n + 1, more, m + 1);
  int st = key_assign(c, k, joined, where);
  free(joined);
  return st;
}

int ff_config_load(FfConfig *c, const char *path) {
  if (strlen(path) >= sizeof c->path) return FF_ERROR(FF_ERR_INPUT, "config path too long: %s", path);
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) /* a device (/dev/null) or a pipe (<(...)) is read as text */
    return FF_ERROR(FF_ERR_INPUT, "config file '%s' is a directory, not a file; give the path of an INI file", path);
  FILE *f = fopen(path, "r");
  if (f == NULL) return FF_ERROR(FF_ERR_INPUT, "cannot read config file '%s'; check the path", path);
  strcpy(c->path, path);
  char *line = NULL, *section = NULL; /* section: the last "[...]" seen, NULL before any */
  size_t cap = 0;
  int lineno = 0, prev = -1, st = FF_OK; /* prev: the key of the last "name = value", -1 after a section */
  char where[FF_CONFIG_STR + 32];
  while (st == FF_OK && getline(&line, &cap, f) != -1) {
    ++lineno;
    snprintf(where, sizeof where, "%s:%d", path, lineno);
    char *start = line;
    if (lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
        (unsigned char)line[2] == 0xBF)
      start += 3;
    start = lskip(rstrip(start));
    if (*start == '\0' || *start == ';' || *start == '#') continue;
    if (prev >= 0 && start > line && *start != '[') { /* inih would take an indented "[x]" as a value too */
      *find_chars_or_comment(start, NULL) = '\0';
      FF_CALL(st, file_continue(c, prev, rstrip(start), where));
    } else if (*start == '[') {
      char *end = find_chars_or_comment(start + 1, "]");
      if (*end != ']') {
        st = FF_ERROR(FF_ERR_INPUT, "%s: not an INI line: a section header lacks its ']'", where);
        break;
      }
      *end = '\0';
      free(section);
      section = strdup(start + 1);
      if (section == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory reading %s", where);
      prev = -1;
    } else {
      char *end = find_chars_or_comment(start, "=:");
      if (*end != '=' && *end != ':') {
        st = FF_ERROR(FF_ERR_INPUT, "%s: not an INI line (expected '[section]' or 'key = value')", where);
        break;
      }
      *end = '\0';
      char *value = end + 1;
      *find_chars_or_comment(value, NULL) = '\0';
      FF_CALL(st, file_assign(c, section ? section : "", rstrip(start), rstrip(lskip(value)), where, lineno, &prev));
    }
  }
  if (st == FF_OK && ferror(f)) st = FF_ERROR(FF_ERR_IO, "%s: could not be read", path);
  free(line);
  free(section);
  fclose(f);
  return st;
}

int ff_config_set(FfConfig *c, const char *assignment) {
  char where[FF_CONFIG_STR + 32], buf[FF_CONFIG_STR + 256];
  snprintf(where, sizeof where, "--set %s", assignment);
  if (strlen(assignment) >= sizeof buf) return FF_ERROR(FF_ERR_INPUT, "%s: too long", where);
  strcpy(buf, assignment);
  char *eq = strchr(buf, '='), *dot = strchr(buf, '.');
  if (!eq || !dot || dot > eq)
    return FF_ERROR(FF_ERR_USAGE, "%s: expected section.key=value, e.g. --set run.batch=4", where);
  *eq = '\0';
  *dot = '\0';
  const char *section = buf, *name = dot + 1, *value = eq + 1;
  int k = key_find(section, name);
  if (k < 0) return unknown_key(section, name, where);
  FF_TRY(key_assign(c, k, value, where));
  c->source[k] = FF_SRC_SET;
  return FF_OK;
}

bool ff_config_is_set(const FfConfig *c, const char *section, const char *name) {
  const int k = key_find(section, name);
  return k >= 0 && (c->source[k] == FF_SRC_FILE || c->source[k] == FF_SRC_SET);
}

static double steps_of(double t, double dt) { return t / dt; }

bool ff_mode_uses_connectome(FfMode mode) {
  return mode == FF_MODE_SIMULATE || ff_mode_uses_activity(mode);
}

bool ff_mode_uses_activity(FfMode mode) {
  return mode == FF_MODE_FIT || mode == FF_MODE_ROUND2 || mode == FF_MODE_PREDICT || mode == FF_MODE_ALL;
}

static void value_text(const FfConfig *c, int k, char *buf, size_t cap);

/* [fit] compat = brainscale: the keys it sets. A key left at its default takes the value; a key the
 * file or --set gave must agree (compared as the configuration prints them; trainable as a set). */
static int apply_compat(FfConfig *c) {
  if (c->compat != FF_COMPAT_BRAINSCALE) return FF_OK;
  char noise[64];
  snprintf(noise, sizeof noise, "%.17g", 0.05 / c->max_rate_hz); /* 0.05 Hz, as a share of max_rate_hz */
  const struct {
    const char *section, *name, *value;
  } SET[] = {{"fit", "encoder_input", "hz"},        {"fit", "encoder_bias_mV", "0"},
             {"fit", "encoder_sd_mV", "1.4142135623730951"}, {"fit", "bin_size", "0.25"},
             {"fit", "lr_decay", "1"},              {"fit", "shuffle", "false"},
             {"fit", "rnn_noise", noise},           {"fit", "trainable", "encoder, lowrank"},
             {"fit", "lowrank_rank", "20"},         {"fit", "etrace_decay", "0.99"},
             {"fit", "init_state", "fixed"}};
  const char *cfg = c->path[0] ? c->path : "configuration";
  for (size_t q = 0; q < sizeof SET / sizeof SET[0]; ++q) {
    const int k = key_find(SET[q].section, SET[q].name);
    if (k < 0) return FF_ERROR(FF_ERR_INTERNAL, "compat: no key [%s] %s", SET[q].section, SET[q].name);
    if (c->source[k] == FF_SRC_DEFAULT) {
      FF_TRY(key_assign(c, k, SET[q].value, "[fit] compat = brainscale"));
      c->source[k] = FF_SRC_PRESET;
      continue;
    }
    FfConfig *want;
    FF_TRY(FF_MALLOC(want, 1, "configuration"));
    *want = *c;
    int st = key_assign(want, k, SET[q].value, "[fit] compat = brainscale");
    char have_text[FF_CONFIG_STR], want_text[FF_CONFIG_STR];
    value_text(c, k, have_text, sizeof have_text);
    value_text(want, k, want_text, sizeof want_text);
    int same = strcmp(have_text, want_text) == 0;
    if (st == FF_OK && !strcmp(SET[q].name, "trainable")) {
      int a = 0, b = 0;
      st = ff_config_trainable(c, &a);
      FF_CALL(st, ff_config_trainable(want, &b));
      same = a == b;
    }
    free(want);
    FF_TRY(st);
    if (!same)
      return FF_ERROR(FF_ERR_INPUT,
                      "%s: [%s] %s = %s contradicts [fit] compat = brainscale, which sets it to %s (the original's): "
                      "remove the key, or set [fit] compat = none to depart from the original",
                      cfg, SET[q].section, SET[q].name, have_text, want_text);
  }
  return FF_OK;
}

int ff_config_finish(FfConfig *c) {
  for (int k = 0; k < N_KEYS; ++k) {
    if (KEYS[k].def || c->source[k] != FF_SRC_DEFAULT) continue;
    const char *v = preset_value(k, c->preset);
    if (!v) return FF_ERROR(FF_ERR_INTERNAL, "no preset value for [%s] %s", KEYS[k].section, KEYS[k].name);
    FF_TRY(key_assign(c, k, v, "preset"));
    c->source[k] = FF_SRC_PRESET;
  }
  FF_TRY(apply_compat(c));
  const char *cfg = c->path[0] ? c->path : "configuration";
  if (c->spikes_txt && strcmp(c->spikes, "none") == 0)
    return FF_ERROR(FF_ERR_INPUT, "%s: [output] spikes_txt = true contradicts [output] spikes = none (no spikes are "
                                  "recorded to write): record some ([output] spikes = all or a list) or drop spikes_txt",
                    cfg);
  if (c->mode == FF_MODE_CELLS && c->recording[0] == '\0')
    return FF_ERROR(FF_ERR_INPUT, "%s: [run] mode = cells needs [data] recording, a recording of cells "
                                  "(bin/flyfit-synth --cells 259 -o FILE.h5 makes a planted one; bin/flyfit-import cells "
                                  "imports cells x frames)", cfg);
  if (c->mode == FF_MODE_CELLS && c->cells_w_init > c->cells_w_max)
    return FF_ERROR(FF_ERR_INPUT, "%s: [cells] w_init = %g must not exceed w_max = %g", cfg, c->cells_w_init,
                    c->cells_w_max);
  if (c->mode == FF_MODE_NEURON && c->recording[0] == '\0')
    return FF_ERROR(FF_ERR_INPUT, "%s: [run] mode = neuron needs [data] recording, a single neuron's sweeps "
                                  "(bin/flyfit-synth --neuron hh -o FILE.h5 makes a planted one)", cfg);
  if (ff_mode_uses_connectome(c->mode) && c->connectome[0] == '\0')
    return FF_ERROR(FF_ERR_INPUT, "%s: [data] connectome is not set; give the path of a connectome.h5 "
                                  "(bin/flyfit-synth -o FILE makes a synthetic one)", cfg);
  if (!(c->v_th_mV > c->v_rest_mV) || !(c->v_th_mV > c->v_reset_mV))
    return FF_ERROR(FF_ERR_INPUT,
                    "%s: [model] v_th_mV = %g must lie above v_rest_mV = %g and v_reset_mV = %g, "
                    "or neurons would fire at rest",
                    cfg, c->v_th_mV, c->v_rest_mV, c->v_reset_mV);
  double d = steps_of(c->delay_ms, c->dt_ms);
  if (d < 0.999999 || fabs(d - nearbyint(d)) > 1e-6 * d)
    return FF_ERROR(FF_ERR_INPUT, "%s: [model] delay_ms = %g must be a positive multiple of dt_ms = %g", cfg,
                    c->delay_ms, c->dt_ms);
  if (nearbyint(d) > 65535)
    return FF_ERROR(FF_ERR_INPUT, "%s: [model] delay_ms / dt_ms = %g steps; at most 65535 are supported", cfg, d);
  double n = steps_of(c->duration_ms, c->dt_ms);
  if (n < 0.999999 || n > 2e9)
    return FF_ERROR(FF_ERR_INPUT, "%s: [run] duration_ms = %g is %g steps of dt_ms = %g; it must be 1..2e9 steps", cfg,
                    c->duration_ms, n, c->dt_ms);
  if (c->poisson_rate_hz * c->dt_ms * 1e-3 > 1.0)
    return FF_ERROR(FF_ERR_INPUT, "%s: [stimulus] poisson_rate_hz = %g is more than one spike per step of %g ms", cfg,
                    c->poisson_rate_hz, c->dt_ms);
  if (c->background_rate_hz * c->dt_ms * 1e-3 > 1.0)
    return FF_ERROR(FF_ERR_INPUT, "%s: [stimulus] background_rate_hz = %g is more than one spike per step", cfg,
                    c->background_rate_hz);
  if (c->transport == FF_TRANSPORT_NCCL && c->backend == FF_BACKEND_CPU)
    return FF_ERROR(FF_ERR_INPUT, "%s: [run] transport = nccl moves spikes between GPUs: it needs [run] backend = cuda "
                                  "(or emulate); with backend = cpu use transport = mpi", cfg);
  for (const char *p = c->devices; *p;) { /* "0,1,2": non-negative integers, commas, blanks */
    char *end;
    while (*p == ' ' || *p == ',') ++p;
    if (!*p) break;
    const long v = strtol(p, &end, 10);
    if (end == p || v < 0 || v > 1023 || (*end && *end != ',' && *end != ' '))
      return FF_ERROR(FF_ERR_INPUT, "%s: [run] devices = '%s': give GPU ids as a comma list, e.g. 0,1,2,3", cfg,
                      c->devices);
    p = end;
  }
  if (ff_mode_uses_activity(c->mode)) {
    if (c->activity[0] == '\0')
      return FF_ERROR(FF_ERR_INPUT, "%s: [run] mode = fit, round2, predict and all need [data] activity, the recordings (activity.h5 from "
                                    "flyfit-import activity, or flyfit-synth --activity for synthetic ones)", cfg);
    if (c->step_order != FF_ORDER_BRAINSCALE)
      return FF_ERROR(FF_ERR_INPUT, "%s: [run] mode = fit, round2, predict and all use the brainscale model: set [run] preset = brainscale", cfg);
    if (c->fit_background_hz * c->dt_ms * 1e-3 >= 1.0)
      return FF_ERROR(FF_ERR_INPUT, "%s: [fit] background_hz = %g is a spike every step or more", cfg, c->fit_background_hz);
    int bits;
    FF_TRY(ff_config_trainable(c, &bits));
  }
  return FF_OK;
}

/* The words of [fit] trainable, word k for bit 1 << k (fit.h's FF_TRAIN_*). */
static const char *const TRAINABLE[] = {"encoder", "connections", "lowrank"};
enum { N_TRAINABLE = (int)(sizeof TRAINABLE / sizeof TRAINABLE[0]) };

void ff_config_trainable_text(int64_t bits, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int k = 0; k < N_TRAINABLE; ++k)
    if (bits >> k & 1) len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s", len ? ", " : "", TRAINABLE[k]);
}

int ff_config_trainable(const FfConfig *c, int *bits) {
  char buf[FF_CONFIG_STR];
  snprintf(buf, sizeof buf, "%s", c->trainable);
  *bits = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    int k = 0;
    while (k < N_TRAINABLE && strcmp(tok, TRAINABLE[k]) != 0) ++k;
    if (k < N_TRAINABLE) *bits |= 1 << k;
    else
      return FF_ERROR(FF_ERR_INPUT, "%s: [fit] trainable: '%s' is not one of encoder, connections, lowrank",
                      c->path[0] ? c->path : "configuration", tok);
  }
  if (*bits == 0)
    return FF_ERROR(FF_ERR_INPUT, "%s: [fit] trainable is empty; give encoder, connections, lowrank or a list",
                    c->path[0] ? c->path : "configuration");
  return FF_OK;
}

static void value_text(const FfConfig *c, int k, char *buf, size_t cap) {
  const Key *key = &KEYS[k];
  const char *field = (const char *)c + key->offset;
  switch (key->type) {
  case T_INT: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)field); break;
  case T_REAL: snprintf(buf, cap, "%.17g", *(const double *)field); break;
  case T_BOOL: snprintf(buf, cap, "%s", *(const bool *)field ? "true" : "false"); break;
  case T_STRING: snprintf(buf, cap, "%s", field); break;
  case T_ENUM: choice_name(key->choices, *(const int *)field, buf, cap); break;
  }
}

/* The keys of a round's trajectory: the model, the preprocessing, the fit (but how long it runs and
 * how often it saves), the preset and the seed; round 1's leave out round 2's keys (rnn_*). mode = task's (round2 = 2):
 * the [task] keys but how long it runs and how it is scored, Adam's constants and the seed. */
static int fingerprint(const FfConfig *c, int which, char **text) {
  static const char *const SKIP[] = {"fit.epochs_round1", "fit.checkpoint_every", "fit.max_trace_mb", "fit.epochs_round2",
                                     "fit.delivery", "fit.spmm_density", /* the same bits either way */
                                     /* checked by the shape of the checkpoint's /params/lowrank_a instead, so that
                                      * checkpoints made before the key existed still resume */
                                     "fit.lowrank_rank"};
  static const char *const TASK_SKIP[] = {"task.max_batches", "task.target_acc", "task.val_every", "task.val_trials",
                                          "task.test_trials", "task.split" /* the same bits either way */};
  static const char *const RNN[] = {"fit.rnn_hidden", "fit.rnn_batch", "fit.rnn_iters", "fit.rnn_seq_len", "fit.rnn_lr",
                                    "fit.rnn_lr_decay", "fit.rnn_lr_decay_every", "fit.rnn_noise", "fit.rnn_loss"};
  size_t cap = (size_t)N_KEYS * (FF_CONFIG_STR + 64) + 64, len = 0;
  char *out;
  FF_TRY(FF_MALLOC(out, cap, "config fingerprint"));
  out[0] = '\0';
  for (int k = 0; k < N_KEYS; ++k) {
    char full[160], val[FF_CONFIG_STR];
    snprintf(full, sizeof full, "%s.%s", KEYS[k].section, KEYS[k].name);
    const char *sec = KEYS[k].section;
    int take = !strcmp(sec, "model") || !strcmp(sec, "preprocess") || !strcmp(sec, "fit") ||
               !strcmp(full, "run.seed") || !strcmp(full, "run.preset");
    if (which == 2) {
      take = !strcmp(sec, "task") || !strcmp(full, "run.seed") || !strncmp(full, "fit.adam_", 9);
      for (size_t q = 0; q < sizeof TASK_SKIP / sizeof TASK_SKIP[0]; ++q) take &= strcmp(full, TASK_SKIP[q]) != 0;
    }
    for (size_t q = 0; q < sizeof SKIP / sizeof SKIP[0]; ++q) take &= strcmp(full, SKIP[q]) != 0;
    for (size_t q = 0; which == 0 && q < sizeof RNN / sizeof RNN[0]; ++q) take &= strcmp(full, RNN[q]) != 0;
    if (!take) continue;
    value_text(c, k, val, sizeof val);
    len += (size_t)snprintf(out + len, cap - len, "%s=%s\n", full, val);
  }
  *text = out;
  return FF_OK;
}

int ff_config_fingerprint(const FfConfig *c, char **text) { return fingerprint(c, 0, text); }
int ff_config_fingerprint_round2(const FfConfig *c, char **text) { return fingerprint(c, 1, text); }
int ff_config_fingerprint_task(const FfConfig *c, char **text) { return fingerprint(c, 2, text); }

int ff_config_format(const FfConfig *c, char **text) {
  size_t cap = (size_t)N_KEYS * (FF_CONFIG_STR + 128) + 1024, len = 0;
  char *out;
  FF_TRY(FF_MALLOC(out, cap, "config text"));
  static const char *SRC[] = {"default", "preset", "file", "--set"};
  len += (size_t)snprintf(out + len, cap - len, "# flyfit effective configuration (preset %s%s%s)\n",
                          ff_preset_name(c->preset), c->path[0] ? ", file " : "", c->path);
  const char *section = "";
  for (int k = 0; k < N_KEYS; ++k) {
    char val[FF_CONFIG_STR];
    if (strcmp(section, KEYS[k].section) != 0) {
      section = KEYS[k].section;
      len += (size_t)snprintf(out + len, cap - len, "\n[%s]\n", section);
    }
    value_text(c, k, val, sizeof val);
    len += (size_t)snprintf(out + len, cap - len, "%-22s = %-24s ; %s\n", KEYS[k].name, val, SRC[c->source[k]]);
  }
  *text = out;
  return FF_OK;
}

void ff_config_print_help(FILE *f, int markdown) {
  static const char *TYPE[] = {"int", "real", "bool", "string", "choice"};
  if (markdown)
    fprintf(f, "| key | type | default (shiu / brainscale) | range | unit | meaning |\n|---|---|---|---|---|---|\n");
  else
    fprintf(f, "flyfit configuration keys. Set them in the INI file under [section], or with\n"
               "--set section.key=value. 'preset' defaults come from [run] preset (shiu / brainscale).\n");
  const char *section = "";
  for (int k = 0; k < N_KEYS; ++k) {
    const Key *key = &KEYS[k];
    char def[256], range[128];
    if (key->def)
      snprintf(def, sizeof def, "%s", key->def[0] ? key->def : "\"\"");
    else
      snprintf(def, sizeof def, "%s / %s", preset_value(k, 0), preset_value(k, 1));
    if (key->type == T_INT || key->type == T_REAL)
      snprintf(range, sizeof range, "%g..%g", key->min, key->max);
    else if (key->type == T_ENUM)
      snprintf(range, sizeof range, "%s", key->choices);
    else
      range[0] = '\0';
    if (markdown) { /* a '|' inside a cell must be escaped */
      char esc[256];
      size_t n = 0;
      for (const char *p = range; *p && n + 2 < sizeof esc; ++p) {
        if (*p == '|') esc[n++] = '\\';
        esc[n++] = *p;
      }
      esc[n] = '\0';
      fprintf(f, "| `[%s] %s` | %s | %s | %s | %s | %s |\n", key->section, key->name, TYPE[key->type], def, esc,
              key->unit, key->help);
      continue;
    }
    if (strcmp(section, key->section) != 0) {
      section = key->section;
      fprintf(f, "\n[%s]\n", section);
    }
    fprintf(f, "  %-20s %-6s %s%s%s%s%s%s\n      %s\n", key->name, TYPE[key->type], key->def ? "default " : "preset ",
            def, range[0] ? ", range " : "", range, key->unit[0] ? ", unit " : "", key->unit, key->help);
  }
}
