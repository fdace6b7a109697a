/* flyfit-synth: makes the synthetic FlyWire-like brain (the project's default data) and writes it
 * as connectome.h5, optionally also as a Codex connections CSV with its neuron list, then prints
 * its statistics. Exit status is the FfStatus: 1 bad command line, 2 bad input, 3 I/O failure.
 * Nothing is written until the command line and every input have been checked. */
#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/import.h"
#include "flyfit/log.h"
#include "flyfit/cells.h"
#include "flyfit/ei_net.h"
#include "flyfit/neuron_fit.h"
#include "flyfit/synth.h"
#include "flyfit/synth_realistic.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <mpi.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *USAGE =
    "usage: flyfit-synth [--neurons N] [--seed S] -o connectome.h5 [options]\n"
    "\n"
    "Generates a synthetic whole-brain connectome with the statistics of FlyWire release 783\n"
    "(default 138,639 neurons, ~15.1M connections, ~54.5M synapses, 78 neuropils) and writes it.\n"
    "The result depends only on the options and the seed, not on the thread count (OMP_NUM_THREADS).\n"
    "\n"
    "outputs (at least one):\n"
    "  -o, --output FILE        connectome.h5 (format: docs/design.md §4.2)\n"
    "  --codex-csv FILE         the same network as a FlyWire Codex connections CSV\n"
    "                           (pre_root_id,post_root_id,neuropil,syn_count,nt_type; gzip if FILE ends in .gz)\n"
    "  --neurons-csv FILE       its neuron list in the Shiu format (\",Completed\" header, one root id per row)\n"
    "\n"
    "options:\n"
    "  --neurons N              neuron count (default 138639, or the rows of --neurons-from)\n"
    "  --seed S                 random seed, 0..2^64-1 (default 1)\n"
    "  --neurons-from FILE      take root ids from a Shiu-format neuron list (e.g. Completeness_783.csv);\n"
    "                           with --neurons N only its first N rows are used\n"
    "  --degree D               mean out-degree, connections per neuron (default 108.9)\n"
    "  --synapses S             mean synapses per connection, > 1 (default 3.61)\n"
    "  --inhibitory F           fraction of inhibitory (GABA/GLUT) presynaptic neurons (default 0.27)\n"
    "\n"
    "synthetic recordings (needs -o):\n"
    "  --activity FILE          activity.h5 of the brain: raw traces of each neuropil at --fs-hz, and /dff and\n"
    "                           /rates through flyfit-import's default preprocessing; the model's truth in /truth\n"
    "  --activity-model M       what makes them (default realistic):\n"
    "                           realistic   recordings that flyfit's model did not make: latent neuropil\n"
    "                                       units coupled through the connectome, driven by a shared 1/f\n"
    "                                       signal, a few low-rank factors and private noise; softplus rates;\n"
    "                                       a GCaMP-like indicator with rise, decay and saturation; bleaching;\n"
    "                                       3% noise (docs/guide/data.md lists their statistics)\n"
    "                           brainscale  flyfit's own brainscale network run frame after frame, each frame's\n"
    "                                       input the last frame's neuropil rates plus a hidden drive, through a\n"
    "                                       hidden encoder; calcium with noise (a known answer for round 1)\n"
    "  --frames T               frames (default 1900), both models\n"
    "  --fs-hz F                frame rate (default 1.2), both models\n"
    "  --noise SD               measurement noise sd relative to the baseline fluorescence, both models\n"
    "                           (realistic 0.03, brainscale 0.002)\n"
    "  --tau-decay-s D          the indicator's decay time constant (0.8 s), both models\n"
    "  --seed S (above) seeds the recordings too. An option of the other model is refused.\n"
    "realistic model only:\n"
    "  --coupling C             connectome coupling as a fraction of the stability limit, [0, 1) (0.85)\n"
    "  --factors K              low-rank shared factors, 0..64 (4)\n"
    "  --bleach F               share of the fluorescence lost to photobleaching, [0, 1) (0.3)\n"
    "  --tau-rise-s R           the indicator's rise time constant, below --tau-decay-s (0.12 s)\n"
    "brainscale model only:\n"
    "  --sample-ms M            simulated time per frame (default 1000/fs: one frame period)\n"
    "  --threads T              threads for the network (default: OMP_NUM_THREADS or all cores)\n"
    "  --truth-bias-mv B, --truth-home-mv H\n"
    "                           the hidden encoder's bias (-0.6) and home-neuropil weight (1.6 mV)\n"
    "  --drive-hz D, --wave-hz A, --wave-frames W\n"
    "                           the hidden drive: OU noise of sd D (1 Hz) plus a sine of amplitude A (30 Hz)\n"
    "                           and period W frames (4; 0 = none), phases in four groups of neuropils\n"
    "\n"
    "a single neuron's sweeps instead (for [run] mode = neuron; layout: docs/formats.md):\n"
    "  --neuron MODEL           hh, gif, izhikevich or adex: -o FILE gets planted current steps, the voltage\n"
    "                           with Gaussian measurement noise, the spike times, and the parameters under /truth\n"
    "  --params k=v,...         planted parameters in the model's names and units (default: the model's\n"
    "                           defaults; hh: the Brian2 model-fitting example's gL 0.008364 uS, gNa 24.698 uS,\n"
    "                           gK 5.815 uS, VT -55.31 mV)\n"
    "  --sweeps N               sweeps, one current step each (5)\n"
    "  --sweep-ms T, --dt-ms D  sweep length and time step (hh: 100 ms at 0.01 ms; the others 500 ms at 0.1 ms);\n"
    "                           the step is on from 10% to 80% of the sweep\n"
    "  --current LO:HI          step amplitudes spread evenly from LO to HI, in the model's input unit\n"
    "                           (hh 0.05:0.8 nA, gif 0.5:2.5 nA, izhikevich 2:15, adex 300:1200 pA)\n"
    "  --noise-mv SD            measurement noise on v (1 mV); --seed S (above) seeds it\n"
    "  --stimulus steps|ou      the current: steps (above), or an Ornstein-Uhlenbeck current over the whole sweep\n"
    "  --ou MEAN:SD:TAU         its mean and sd (the input unit) and correlation time in ms (gif 1.2:0.8:5)\n"
    "\n"
    "recordings of cells instead (for [run] mode = cells; layout: docs/formats.md):\n"
    "  --cells N                an Izhikevich E/I network of N cells (80% E, RS; 20% I, FS) with planted\n"
    "                           ensembles; -o FILE gets their GCaMP-like calcium and /truth (weights, types,\n"
    "                           ensembles). With it: --seconds S (300), --ensembles K (8), --fs-hz F (30),\n"
    "                           --noise SD (0.05 dF/F), --tau-decay-s D (0.7 s); --seed S (above) seeds it\n"
    "\n"
    "a recorded E/I network instead (for [run] mode = netopt's [data] recording; layout: docs/formats.md):\n"
    "  --network E:I            Izhikevich's network of E regular-spiking and I fast-spiking cells (mode = netopt's,\n"
    "                           e.g. 200:50); -o FILE gets every cell's spike times and the planted p and w under\n"
    "                           /truth. With it: --params p=P,w=W (0.2, 20), --seconds S (3); --seed S (above)\n"
    "\n"
    "  -h, --help               this text\n"
    "\n"
    "example: flyfit-synth --neurons 3000 -o small.h5 --codex-csv small.csv.gz --neurons-csv small-neurons.csv\n"
    "         flyfit-synth --neurons 2000 -o brain.h5 --activity activity.h5 --frames 600\n"
    "         flyfit-synth --neurons 2000 -o brain.h5 --activity activity.h5 --activity-model brainscale --frames 400\n"
    "         flyfit-synth --neuron hh --params gL=0.01,VT=-56 --seed 3 -o hh.h5\n"
    "         flyfit-synth --cells 259 --seed 2 -o cells.h5\n"
    "         flyfit-synth --network 200:50 --params p=0.15,w=30 -o network.h5\n";

enum { MODEL_REALISTIC, MODEL_BRAINSCALE };

typedef struct {
  FfSynthOptions synth;
  const char *output, *codex_csv, *neurons_csv, *neurons_from, *activity;
  int model;                    /* MODEL_*: --activity-model */
  FfSynthActivityOptions act;   /* the brainscale model's options */
  FfSynthRealisticOptions real; /* the realistic model's */
  const char *only_brainscale, *only_realistic; /* the first option given that only that model uses */
  int neurons_given;
  const char *neuron, *neuron_params, *neuron_current; /* --neuron and its options */
  const char *neuron_stimulus, *neuron_ou;
  int64_t neuron_sweeps;
  double neuron_sweep_ms, neuron_dt_ms, neuron_noise_mv; /* < 0: the model's default */
  const char *neuron_only;                              /* the first --neuron option given */
  FfCellsSynth cells;                                   /* --cells and its options */
  int cells_given, fs_given, noise_given, decay_given;
  const char *cells_only;                               /* the first --cells-only option given */
  int64_t network_exc, network_inh;                     /* --network E:I */
  double network_seconds;                               /* --seconds with --network */
  char command[1024]; /* the command line, stored in the file's created_by attribute */
} SynthArgs;

enum { OPT_NEURONS = 256, OPT_SEED, OPT_CODEX, OPT_NEURONS_CSV, OPT_NEURONS_FROM, OPT_DEGREE, OPT_SYNAPSES, OPT_INHIB,
       OPT_ACTIVITY, OPT_FRAMES, OPT_FS, OPT_SAMPLE_MS, OPT_THREADS, OPT_BIAS, OPT_HOME, OPT_DRIVE, OPT_WAVE,
       OPT_WAVE_FRAMES, OPT_MODEL, OPT_NOISE, OPT_DECAY, OPT_COUPLING, OPT_FACTORS, OPT_BLEACH, OPT_RISE,
       OPT_NEURON, OPT_NPARAMS, OPT_SWEEPS, OPT_SWEEP_MS, OPT_DT, OPT_CURRENT, OPT_STIMULUS, OPT_OU, OPT_NOISE_MV,
       OPT_CELLS, OPT_SECONDS, OPT_ENSEMBLES, OPT_NETWORK };

static int parse_i64(const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end != '\0')
    return FF_ERROR(FF_ERR_USAGE, "%s: '%s' is not an integer", opt, text);
  if (v < lo || v > hi)
    return FF_ERROR(FF_ERR_USAGE, "%s: %lld is out of range %" PRId64 "..%" PRId64, opt, v, lo, hi);
  *out = v;
  return FF_OK;
}

static int parse_u64(const char *opt, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  if (text[0] == '-') return FF_ERROR(FF_ERR_USAGE, "%s: '%s' must not be negative", opt, text);
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || end == text || *end != '\0')
    return FF_ERROR(FF_ERR_USAGE, "%s: '%s' is not an integer in 0..2^64-1", opt, text);
  *out = v;
  return FF_OK;
}

static int parse_double(const char *opt, const char *text, double lo, double hi, int lo_open, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end != '\0' || v != v)
    return FF_ERROR(FF_ERR_USAGE, "%s: '%s' is not a number", opt, text);
  if (v < lo || (lo_open && v == lo) || v > hi)
    return FF_ERROR(FF_ERR_USAGE, "%s: %g is out of range %s%g..%g]", opt, v, lo_open ? "(" : "[", lo, hi);
  *out = v;
  return FF_OK;
}

/* The long name of option ch, for messages (argv[optind - 1] may be its value). */
static const char *long_name(const struct option *opts, int ch) {
  for (; opts->name; ++opts)
    if (opts->val == ch) return opts->name;
  return "?";
}

static int args_parse(int argc, char **argv, SynthArgs *a) {
  static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                           {"help", no_argument, NULL, 'h'},
                                           {"neurons", required_argument, NULL, OPT_NEURONS},
                                           {"seed", required_argument, NULL, OPT_SEED},
                                           {"codex-csv", required_argument, NULL, OPT_CODEX},
                                           {"neurons-csv", required_argument, NULL, OPT_NEURONS_CSV},
                                           {"neurons-from", required_argument, NULL, OPT_NEURONS_FROM},
                                           {"degree", required_argument, NULL, OPT_DEGREE},
                                           {"synapses", required_argument, NULL, OPT_SYNAPSES},
                                           {"inhibitory", required_argument, NULL, OPT_INHIB},
                                           {"activity", required_argument, NULL, OPT_ACTIVITY},
                                           {"frames", required_argument, NULL, OPT_FRAMES},
                                           {"fs-hz", required_argument, NULL, OPT_FS},
                                           {"sample-ms", required_argument, NULL, OPT_SAMPLE_MS},
                                           {"threads", required_argument, NULL, OPT_THREADS},
                                           {"truth-bias-mv", required_argument, NULL, OPT_BIAS},
                                           {"truth-home-mv", required_argument, NULL, OPT_HOME},
                                           {"drive-hz", required_argument, NULL, OPT_DRIVE},
                                           {"wave-hz", required_argument, NULL, OPT_WAVE},
                                           {"wave-frames", required_argument, NULL, OPT_WAVE_FRAMES},
                                           {"activity-model", required_argument, NULL, OPT_MODEL},
                                           {"coupling", required_argument, NULL, OPT_COUPLING},
                                           {"factors", required_argument, NULL, OPT_FACTORS},
                                           {"noise", required_argument, NULL, OPT_NOISE},
                                           {"bleach", required_argument, NULL, OPT_BLEACH},
                                           {"tau-rise-s", required_argument, NULL, OPT_RISE},
                                           {"tau-decay-s", required_argument, NULL, OPT_DECAY},
                                           {"neuron", required_argument, NULL, OPT_NEURON},
                                           {"params", required_argument, NULL, OPT_NPARAMS},
                                           {"sweeps", required_argument, NULL, OPT_SWEEPS},
                                           {"sweep-ms", required_argument, NULL, OPT_SWEEP_MS},
                                           {"dt-ms", required_argument, NULL, OPT_DT},
                                           {"current", required_argument, NULL, OPT_CURRENT},
                                           {"noise-mv", required_argument, NULL, OPT_NOISE_MV},
                                           {"stimulus", required_argument, NULL, OPT_STIMULUS},
                                           {"ou", required_argument, NULL, OPT_OU},
                                           {"cells", required_argument, NULL, OPT_CELLS},
                                           {"network", required_argument, NULL, OPT_NETWORK},
                                           {"seconds", required_argument, NULL, OPT_SECONDS},
                                           {"ensembles", required_argument, NULL, OPT_ENSEMBLES},
                                           {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof *a);
  ff_synth_defaults(&a->synth);
  ff_synth_activity_defaults(&a->act);
  ff_synth_realistic_defaults(&a->real);
  a->act.threads = omp_get_max_threads();
  a->model = MODEL_REALISTIC;
  a->neuron_sweeps = -1;
  ff_cells_synth_defaults(&a->cells);
  a->neuron_sweep_ms = a->neuron_dt_ms = a->neuron_noise_mv = -1.0;
  size_t used = 0;
  for (int k = 0; k < argc && used + 2 < sizeof a->command; ++k)
    used += (size_t)snprintf(a->command + used, sizeof a->command - used, "%s%s", k ? " " : "", argv[k]);
  opterr = 0; /* our own messages, through the one error path */
  int ch;
  while ((ch = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
    if (ch >= OPT_SAMPLE_MS && ch <= OPT_WAVE_FRAMES && !a->only_brainscale) a->only_brainscale = long_name(longopts, ch);
    if (ch >= OPT_COUPLING && ch <= OPT_RISE && !a->only_realistic) a->only_realistic = long_name(longopts, ch);
    if (ch >= OPT_NPARAMS && ch <= OPT_NOISE_MV && !a->neuron_only) a->neuron_only = long_name(longopts, ch);
    if ((ch == OPT_SECONDS || ch == OPT_ENSEMBLES) && !a->cells_only) a->cells_only = long_name(longopts, ch);
    a->fs_given |= ch == OPT_FS;
    a->noise_given |= ch == OPT_NOISE;
    a->decay_given |= ch == OPT_DECAY;
    switch (ch) {
    case 'o': a->output = optarg; break;
    case 'h': break; /* answered in main, before MPI starts */
    case OPT_NEURONS:
      FF_TRY(parse_i64("--neurons", optarg, 1, INT32_MAX - 1, &a->synth.n_neurons));
      a->neurons_given = 1;
      break;
    case OPT_SEED: FF_TRY(parse_u64("--seed", optarg, &a->synth.seed)); break;
    case OPT_CODEX: a->codex_csv = optarg; break;
    case OPT_NEURONS_CSV: a->neurons_csv = optarg; break;
    case OPT_NEURONS_FROM: a->neurons_from = optarg; break;
    case OPT_DEGREE: FF_TRY(parse_double("--degree", optarg, 0.0, 1e6, 0, &a->synth.mean_out_degree)); break;
    case OPT_SYNAPSES: FF_TRY(parse_double("--synapses", optarg, 1.0, 1000.0, 1, &a->synth.mean_synapses)); break;
    case OPT_INHIB: FF_TRY(parse_double("--inhibitory", optarg, 0.0, 1.0, 0, &a->synth.inhibitory_fraction)); break;
    case OPT_ACTIVITY: a->activity = optarg; break;
    case OPT_FRAMES: FF_TRY(parse_i64("--frames", optarg, 2, 65536, &a->act.frames)); break;
    case OPT_FS: FF_TRY(parse_double("--fs-hz", optarg, 0.0, 1e4, 1, &a->act.fs_hz)); break;
    case OPT_MODEL:
      if (!strcmp(optarg, "realistic")) a->model = MODEL_REALISTIC;
      else if (!strcmp(optarg, "brainscale")) a->model = MODEL_BRAINSCALE;
      else return FF_ERROR(FF_ERR_USAGE, "--activity-model '%s': it is realistic (the default) or brainscale", optarg);
      break;
    case OPT_COUPLING: FF_TRY(parse_double("--coupling", optarg, 0.0, 0.999, 0, &a->real.coupling)); break;
    case OPT_NOISE: /* both models; their defaults differ */
      FF_TRY(parse_double("--noise", optarg, 0.0, 10.0, 0, &a->real.noise));
      a->act.noise = a->real.noise;
      break;
    case OPT_BLEACH: FF_TRY(parse_double("--bleach", optarg, 0.0, 0.99, 0, &a->real.bleach_fraction)); break;
    case OPT_RISE: FF_TRY(parse_double("--tau-rise-s", optarg, 0.0, 1e3, 1, &a->real.tau_rise_s)); break;
    case OPT_DECAY: /* both models */
      FF_TRY(parse_double("--tau-decay-s", optarg, 0.0, 1e3, 1, &a->real.tau_decay_s));
      a->act.tau_s = a->real.tau_decay_s;
      break;
    case OPT_FACTORS: {
      int64_t k;
      FF_TRY(parse_i64("--factors", optarg, 0, 64, &k));
      a->real.n_factors = (int)k;
      break;
    }
    case OPT_SAMPLE_MS: FF_TRY(parse_double("--sample-ms", optarg, 0.0, 1e7, 1, &a->act.sample_ms)); break;
    case OPT_BIAS: FF_TRY(parse_double("--truth-bias-mv", optarg, -100, 100, 0, &a->act.bias_mV)); break;
    case OPT_HOME: FF_TRY(parse_double("--truth-home-mv", optarg, -100, 100, 0, &a->act.home_mV)); break;
    case OPT_DRIVE: FF_TRY(parse_double("--drive-hz", optarg, 0, 1e4, 0, &a->act.drive_hz)); break;
    case OPT_WAVE: FF_TRY(parse_double("--wave-hz", optarg, 0, 1e4, 0, &a->act.wave_hz)); break;
    case OPT_WAVE_FRAMES: FF_TRY(parse_double("--wave-frames", optarg, 0, 1e6, 0, &a->act.wave_frames)); break;
    case OPT_THREADS: {
      int64_t t;
      FF_TRY(parse_i64("--threads", optarg, 1, 4096, &t));
      a->act.threads = (int)t;
      break;
    }
    case OPT_NEURON: a->neuron = optarg; break;
    case OPT_NPARAMS: a->neuron_params = optarg; break;
    case OPT_SWEEPS: FF_TRY(parse_i64("--sweeps", optarg, 1, 100000, &a->neuron_sweeps)); break;
    case OPT_SWEEP_MS: FF_TRY(parse_double("--sweep-ms", optarg, 0.0, 1e8, 1, &a->neuron_sweep_ms)); break;
    case OPT_DT: FF_TRY(parse_double("--dt-ms", optarg, 0.0, 100.0, 1, &a->neuron_dt_ms)); break;
    case OPT_CURRENT: a->neuron_current = optarg; break;
    case OPT_STIMULUS: a->neuron_stimulus = optarg; break;
    case OPT_OU: a->neuron_ou = optarg; break;
    case OPT_CELLS:
      FF_TRY(parse_i64("--cells", optarg, 2, 100000, &a->cells.n_cells));
      a->cells_given = 1;
      break;
    case OPT_SECONDS:
      FF_TRY(parse_double("--seconds", optarg, 0.0, 1e6, 1, &a->cells.seconds));
      a->network_seconds = a->cells.seconds;
      break;
    case OPT_NETWORK: {
      char *colon, *end;
      errno = 0;
      a->network_exc = strtoll(optarg, &colon, 10);
      if (errno || colon == optarg || *colon != ':' || (a->network_inh = strtoll(colon + 1, &end, 10), end == colon + 1) ||
          *end || a->network_exc < 1 || a->network_inh < 0 || a->network_exc + a->network_inh > 20000)
        return FF_ERROR(FF_ERR_USAGE, "--network '%s' is not E:I, the excitatory and inhibitory cells (E >= 1, I >= 0, "
                                      "E + I <= 20000)", optarg);
      break;
    }
    case OPT_ENSEMBLES: FF_TRY(parse_i64("--ensembles", optarg, 1, 100000, &a->cells.n_ensembles)); break;
    case OPT_NOISE_MV: FF_TRY(parse_double("--noise-mv", optarg, 0.0, 1e3, 0, &a->neuron_noise_mv)); break;
    case ':': return FF_ERROR(FF_ERR_USAGE, "option '%s' needs a value", argv[optind - 1]);
    default: return FF_ERROR(FF_ERR_USAGE, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return FF_ERROR(FF_ERR_USAGE, "unexpected argument '%s'", argv[optind]);
  if (a->network_exc > 0) {
    if (!a->output) return FF_ERROR(FF_ERR_USAGE, "--network needs -o FILE.h5, the recording it writes");
    if (a->cells_given || a->neuron || a->codex_csv || a->neurons_csv || a->activity || a->neurons_from ||
        a->neurons_given || (a->cells_only && strcmp(a->cells_only, "seconds")) ||
        (a->neuron_only && strcmp(a->neuron_only, "params")))
      return FF_ERROR(FF_ERR_USAGE, "--network writes a recorded E/I network; of the other options it takes --params, "
                                    "--seconds and --seed only: drop the rest");
    return FF_OK;
  }
  if (a->cells_only && !a->cells_given)
    return FF_ERROR(FF_ERR_USAGE, "--%s is an option of --cells N (a recording of cells)", a->cells_only);
  if (a->cells_given) {
    if (!a->output) return FF_ERROR(FF_ERR_USAGE, "--cells needs -o FILE.h5, the recording it writes");
    if (a->neuron || a->codex_csv || a->neurons_csv || a->activity || a->neurons_from || a->neurons_given)
      return FF_ERROR(FF_ERR_USAGE, "--cells writes a recording of cells; --neuron, --neurons, --neurons-from, "
                                    "--codex-csv, --neurons-csv and --activity belong to other outputs: drop them");
    a->cells.seed = a->synth.seed;
    if (a->fs_given) a->cells.fs_hz = a->act.fs_hz;
    if (a->noise_given) a->cells.noise = a->real.noise;
    if (a->decay_given) a->cells.calcium_tau_s = a->real.tau_decay_s;
    return FF_OK;
  }
  if (a->neuron_only && !a->neuron)
    return FF_ERROR(FF_ERR_USAGE, "--%s is an option of --neuron MODEL (a single neuron's sweeps)", a->neuron_only);
  if (a->neuron) {
    if (!a->output) return FF_ERROR(FF_ERR_USAGE, "--neuron needs -o FILE.h5, the recording it writes");
    if (a->codex_csv || a->neurons_csv || a->activity || a->neurons_from || a->neurons_given)
      return FF_ERROR(FF_ERR_USAGE, "--neuron writes a single neuron's sweeps; --neurons, --neurons-from, --codex-csv, "
                                    "--neurons-csv and --activity belong to the synthetic brain: drop them");
    return FF_OK;
  }
  if (!a->output && !a->codex_csv && !a->neurons_csv)
    return FF_ERROR(FF_ERR_USAGE, "no output: give -o FILE (and/or --codex-csv, --neurons-csv)");
  if (a->activity && !a->output)
    return FF_ERROR(FF_ERR_USAGE, "--activity needs -o connectome.h5: the recordings belong to that brain");
  /* an option of the other model would be silently ignored: refuse it (without --activity none is used) */
  if (a->activity && a->model == MODEL_REALISTIC && a->only_brainscale)
    return FF_ERROR(FF_ERR_USAGE, "--%s is an option of --activity-model brainscale; the realistic model (the default) "
                    "does not use it: drop it, or add --activity-model brainscale", a->only_brainscale);
  if (a->activity && a->model == MODEL_BRAINSCALE && a->only_realistic)
    return FF_ERROR(FF_ERR_USAGE, "--%s is an option of --activity-model realistic; the brainscale model does not use "
                    "it: drop it, or leave --activity-model at realistic", a->only_realistic);
  if (a->model == MODEL_REALISTIC && !(a->real.tau_decay_s > a->real.tau_rise_s))
    return FF_ERROR(FF_ERR_USAGE, "--tau-decay-s %g must be longer than --tau-rise-s %g", a->real.tau_decay_s,
                    a->real.tau_rise_s);
  a->act.seed = a->synth.seed;
  a->real.seed = a->synth.seed;
  a->real.frames = a->act.frames; /* the options both models share */
  a->real.fs_hz = a->act.fs_hz;
  return FF_OK;
}

static double file_mb(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (double)st.st_size / 1e6 : -1.0;
}

static void report(const FfConnectome *c, const FfSynthStats *s, double gen_s) {
  ff_log("neurons            %" PRId64 " (%s, %d neuropils)", s->neurons, c->source, c->n_neuropils);
  ff_log("connections        %" PRId64, s->connections);
  ff_log("synapses           %" PRId64, s->synapses);
  ff_log("out-degree         mean %.2f, max %" PRId64 " (max in-degree %" PRId64 ")", s->mean_out_degree,
         s->max_out_degree, s->max_in_degree);
  ff_log("synapses/conn.     mean %.3f, max %" PRId64 "; %.1f%% with 1-2, %" PRId64 " with >= 100",
         s->mean_synapses, s->max_synapses, 100.0 * s->share_le2_synapses, s->conn_ge100_synapses);
  ff_log("inhibitory         %.3f of presynaptic neurons", s->inhibitory_fraction);
  ff_log("home neuropil      %.3f of connections end in the source's home neuropil", s->home_share);
  ff_log("neuropil table     %" PRId64 " (neuron, neuropil) entries", s->neuropil_entries);
  ff_log("generated in       %.2f s with %d threads", gen_s, omp_get_max_threads());
}

/* --network E:I: the planted E/I Izhikevich network of mode = netopt, its spike trains under the target's noise
 * (trial 0), into -o */
static int run_network(const SynthArgs *a) {
  double p = 0.2, w = 20.0; /* [netopt] target_p and target_w's defaults */
  const double ms = a->network_seconds > 0 ? 1000.0 * a->network_seconds : 3000.0;
  if (a->neuron_params) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", a->neuron_params);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char name[8], tail;
      double v;
      if (sscanf(tok, " %7[^=]=%lf %c", name, &v, &tail) != 2 || (strcmp(name, "p") && strcmp(name, "w")) ||
          !(v >= 0) || (name[0] == 'p' && v > 1) || !isfinite(v))
        return FF_ERROR(FF_ERR_USAGE, "--params '%s': --network takes p=P (0..1) and w=W (>= 0)", tok);
      if (name[0] == 'p') p = v;
      else w = v;
    }
  }
  FfEiNet net;
  FfSpikeTrains s;
  const double t0 = ff_wall_seconds();
  FF_TRY(ff_ei_net_create(&net, (int32_t)a->network_exc, (int32_t)a->network_inh, ms, a->synth.seed, MPI_COMM_NULL));
  int st = ff_ei_net_run(&net, p, w, 0, &s);
  FF_CALL(st, ff_ei_net_write_target(a->output, &s, a->network_exc, ms, p, w, a->synth.seed, a->command));
  if (st == FF_OK)
    ff_log("wrote %s: %lld excitatory and %lld inhibitory cells at p = %g, w = %g, %g ms, %lld spikes, in %.2f s",
           a->output, (long long)a->network_exc, (long long)a->network_inh, p, w, ms, (long long)s.indptr[s.n],
           ff_wall_seconds() - t0);
  ff_spike_trains_destroy(&s);
  ff_ei_net_destroy(&net);
  return st;
}

/* --neuron: the planted sweeps of one model into -o */
static int run_neuron(const SynthArgs *a) {
  const FfNeuronModel *m = ff_neuron_model(a->neuron);
  if (m == NULL) return FF_ERROR(FF_ERR_USAGE, "--neuron '%s': it is hh, gif, izhikevich or adex", a->neuron);
  FfNeuronSynthOptions o;
  ff_neuron_synth_defaults(m, &o);
  o.seed = a->synth.seed;
  if (a->neuron_sweeps > 0) o.sweeps = a->neuron_sweeps;
  if (a->neuron_sweep_ms > 0) o.duration_ms = a->neuron_sweep_ms;
  if (a->neuron_dt_ms > 0) o.dt_ms = a->neuron_dt_ms;
  if (a->neuron_noise_mv >= 0) o.noise_mV = a->neuron_noise_mv;
  if (a->neuron_current) {
    char *end, *colon;
    o.amp_lo = strtod(a->neuron_current, &colon);
    if (colon == a->neuron_current || *colon != ':' || (o.amp_hi = strtod(colon + 1, &end), end == colon + 1) ||
        *end || !isfinite(o.amp_lo) || !isfinite(o.amp_hi))
      return FF_ERROR(FF_ERR_USAGE, "--current '%s' is not LO:HI (two numbers)", a->neuron_current);
  }
  if (a->neuron_stimulus && strcmp(a->neuron_stimulus, "steps") && strcmp(a->neuron_stimulus, "ou"))
    return FF_ERROR(FF_ERR_USAGE, "--stimulus '%s': steps or ou", a->neuron_stimulus);
  o.ou = a->neuron_stimulus && !strcmp(a->neuron_stimulus, "ou");
  if (a->neuron_ou) {
    if (!o.ou) return FF_ERROR(FF_ERR_USAGE, "--ou is the current of --stimulus ou");
    char *e1, *e2, *e3;
    o.ou_mean = strtod(a->neuron_ou, &e1);
    if (e1 == a->neuron_ou || *e1 != ':' || (o.ou_sd = strtod(e1 + 1, &e2), e2 == e1 + 1) || *e2 != ':' ||
        (o.ou_tau_ms = strtod(e2 + 1, &e3), e3 == e2 + 1) || *e3 || !isfinite(o.ou_mean) || !(o.ou_sd >= 0) ||
        !(o.ou_tau_ms > 0) || !isfinite(o.ou_sd) || !isfinite(o.ou_tau_ms))
      return FF_ERROR(FF_ERR_USAGE, "--ou '%s' is not MEAN:SD:TAU (SD >= 0, TAU > 0 ms)", a->neuron_ou);
  }
  if (a->neuron_params) FF_TRY(ff_neuron_synth_params(&o, a->neuron_params));
  FfNeuronRecording r;
  const double t0 = ff_wall_seconds();
  FF_TRY(ff_neuron_synth(&o, &r));
  int st = ff_neuron_recording_write(a->output, &r, o.noise_mV, o.seed, a->command);
  if (st == FF_OK) {
    char params[1024] = "";
    for (int k = 0, len = 0; k < m->n_param; ++k)
      len += snprintf(params + len, sizeof params - (size_t)len, "%s%s=%g", k ? " " : "", m->param_names[k], o.params[k]);
    ff_log("neuron %s: %s", m->name, params);
    ff_log("wrote %s: %lld sweeps of %lld samples (dt %g ms), %lld spikes, noise %g mV, in %.2f s", a->output,
           (long long)r.n_sweeps, (long long)r.n_steps, r.dt_ms, (long long)r.spike_indptr[r.n_sweeps], o.noise_mV,
           ff_wall_seconds() - t0);
  }
  ff_neuron_recording_destroy(&r);
  return st;
}

/* --cells: the planted network's calcium and its truth into -o */
static int run_cells(const SynthArgs *a) {
  FfCellsRecording r;
  int64_t *counts = NULL;
  const double t0 = ff_wall_seconds();
  FF_TRY(FF_MALLOC(counts, a->cells.n_cells, "spike counts"));
  int st = ff_cells_synth(&a->cells, &r, counts);
  if (st) {
    free(counts);
    return st;
  }
  st = ff_cells_recording_write(a->output, &r, a->command);
  if (st == FF_OK) {
    int64_t n_e = 0, s_e = 0, s_i = 0, conn = 0;
    for (int64_t i = 0; i < r.n_cells; ++i) {
      n_e += r.excitatory[i];
      if (r.excitatory[i]) s_e += counts[i];
      else s_i += counts[i];
      for (int64_t j = 0; j < r.n_cells; ++j) conn += r.w_true[i * r.n_cells + j] != 0;
    }
    const double secs = (double)r.n_frames / r.fs_hz, n_i = (double)(r.n_cells - n_e);
    ff_log("cells: %lld (%lld E, %lld I) in %lld ensembles, %lld connections (%.1f%% of pairs)", (long long)r.n_cells,
           (long long)n_e, (long long)(r.n_cells - n_e), (long long)a->cells.n_ensembles, (long long)conn,
           100.0 * (double)conn / ((double)r.n_cells * (double)(r.n_cells - 1)));
    ff_log("rates: E %.2f Hz, I %.2f Hz (mean)", (double)s_e / ((double)n_e * secs), (double)s_i / (n_i * secs));
    ff_log("wrote %s: %lld frames at %g Hz, noise %g dF/F, decay %g s, in %.2f s", a->output, (long long)r.n_frames,
           r.fs_hz, a->cells.noise, a->cells.calcium_tau_s, ff_wall_seconds() - t0);
  }
  free(counts);
  ff_cells_recording_destroy(&r);
  return st;
}

static int run(const SynthArgs *a) {
  if (a->network_exc > 0) return run_network(a);
  if (a->cells_given) return run_cells(a);
  if (a->neuron) return run_neuron(a);
  FfSynthOptions o = a->synth;
  int64_t *ids = NULL, n_ids = 0;
  if (a->neurons_from) {
    FF_TRY(ff_neuron_list_read(a->neurons_from, &ids, &n_ids));
    if (!a->neurons_given) o.n_neurons = n_ids;
    if (o.n_neurons > n_ids) {
      free(ids);
      return FF_ERROR(FF_ERR_INPUT, "'%s' lists %" PRId64 " neurons, fewer than --neurons %" PRId64, a->neurons_from,
                      n_ids, o.n_neurons);
    }
    o.root_ids = ids;
  }
  FfConnectome c;
  double t0 = ff_wall_seconds();
  int st = ff_synth_generate(&o, &c);
  free(ids);
  o.root_ids = NULL; /* copied into c; the writers use c->root_id */
  if (st) return st;
  double t_gen = ff_wall_seconds() - t0;
  FfSynthStats s;
  st = ff_synth_stats(&c, &s);
  if (st == FF_OK) report(&c, &s, t_gen);
  if (st == FF_OK && a->output) {
    double t = ff_wall_seconds();
    st = ff_connectome_write(&c, a->output, a->command);
    if (st == FF_OK) ff_log("wrote %s (%.1f MB) in %.2f s", a->output, file_mb(a->output), ff_wall_seconds() - t);
  }
  if (st == FF_OK && a->codex_csv) {
    double t = ff_wall_seconds();
    st = ff_synth_write_codex(&c, &o, a->codex_csv);
    if (st == FF_OK)
      ff_log("wrote %s (%.1f MB) in %.2f s", a->codex_csv, file_mb(a->codex_csv), ff_wall_seconds() - t);
  }
  if (st == FF_OK && a->neurons_csv) {
    double t = ff_wall_seconds();
    st = ff_synth_write_neuron_list(&c, a->neurons_csv);
    if (st == FF_OK)
      ff_log("wrote %s (%.1f MB) in %.2f s", a->neurons_csv, file_mb(a->neurons_csv), ff_wall_seconds() - t);
  }
  if (st == FF_OK && a->activity) {
    double t = ff_wall_seconds();
    if (a->model == MODEL_REALISTIC) st = ff_synth_realistic_write(&c, &a->real, a->activity, a->command);
    else st = ff_synth_activity(a->output, &a->act, a->activity, a->command); /* reads the brain from the file */
    if (st == FF_OK)
      ff_log("wrote %s (%s model, %lld frames, %.1f MB) in %.2f s", a->activity,
             a->model == MODEL_REALISTIC ? "realistic" : "brainscale", (long long)a->act.frames, file_mb(a->activity),
             ff_wall_seconds() - t);
  }
  ff_connectome_destroy(&c);
  if (st == FF_OK) ff_log("total wall time    %.2f s", ff_wall_seconds() - t0);
  return st;
}

int main(int argc, char **argv) {
  for (int k = 1; k < argc; ++k)
    if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) {
      fputs(USAGE, stdout);
      return 0;
    }
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) { /* the recordings run the network on MPI_COMM_SELF */
    fputs("flyfit-synth: MPI_Init failed\n", stderr);
    return FF_ERR_MPI;
  }
  ff_log_init("flyfit-synth", 0, 1);
  ff_h5_init();
  SynthArgs a;
  int st = args_parse(argc, argv, &a);
  if (st != FF_OK) {
    ff_log_report_status(st);
    fputs("Try 'flyfit-synth --help'.\n", stderr);
    (void)FF_MPI(MPI_Finalize());
    return st;
  }
  st = run(&a);
  FF_CALL(st, FF_MPI(MPI_Finalize()));
  ff_log_report_status(st);
  return st;
}
