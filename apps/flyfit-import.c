/* bin/flyfit-import: builds connectome.h5 from the public FlyWire tables, and activity.h5 from a
 * calcium recording.
 *   flyfit-import shiu --neurons NEURONS.csv --connectivity CONNECTIVITY.csv -o connectome.h5
 *   flyfit-import codex --connections connections.csv.gz [--neurons NEURONS.csv] -o connectome.h5
 *   flyfit-import cells FILE.npz|.csv|.h5 -o cells.h5 (cells x frames for mode = cells)
 *   flyfit-import activity FLY.npz [--connectome connectome.h5 [--mapping FILE]] -o activity.h5
 *   flyfit-import shuffle connectome.h5 -o shuffled.h5 [--seed S] [--swaps-per-connection X]
 * Bad input stops with FILE:LINE: reason, exit status 2, and no output file (the file is written
 * under a temporary name and renamed only when complete). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "flyfit/activity.h"
#include "flyfit/cells.h"
#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/import.h"
#include "flyfit/log.h"
#include "flyfit/shuffle.h"

typedef struct {
  const char *neurons, *connectivity, *connections, *out, *release;
} Args;

typedef struct Command Command;
struct Command {
  const char *name, *usage, *help;
  int (*run)(const Args *a, FfConnectome *c); /* connectome commands share the options below */
  int need_neurons, need_connectivity, need_connections;
  int (*main)(int argc, char **argv, const Command *cmd); /* a command with options of its own */
};

static int activity_main(int argc, char **argv, const Command *cmd);
static int cells_main(int argc, char **argv, const Command *cmd);
static int shuffle_main(int argc, char **argv, const Command *cmd);

static int run_shiu(const Args *a, FfConnectome *c) { return ff_import_shiu(a->neurons, a->connectivity, c); }
static int run_codex(const Args *a, FfConnectome *c) { return ff_import_codex(a->connections, a->neurons, c); }

static const Command COMMANDS[] = {
    {"shiu", "flyfit-import shiu --neurons NEURONS.csv --connectivity CONNECTIVITY.csv -o connectome.h5 [--release R]",
     "Shiu et al. format: the neuron list (first column the root id; row order is the neuron index) and the\n"
     "connectivity table with the columns Presynaptic_ID, Postsynaptic_ID, Presynaptic_Index,\n"
     "Postsynaptic_Index, Connectivity, Excitatory, Excitatory x Connectivity (CSV, plain or .gz).\n"
     "This format has no neuropils, so the connectome gets none.",
     run_shiu, 1, 1, 0, NULL},
    {"codex", "flyfit-import codex --connections connections.csv.gz [--neurons NEURONS.csv] -o connectome.h5 [--release R]",
     "FlyWire Codex connections table: pre_root_id, post_root_id, neuropil, syn_count, nt_type, one row per\n"
     "(pre, post, neuropil). Counts are summed per pair; the sign is -1 for GABA and GLUT neurons (from the\n"
     "row with most synapses), +1 otherwise. Neurons follow NEURONS.csv when given (a root id missing from it\n"
     "is an error), else their first appearance.",
     run_codex, 0, 0, 1, NULL},
    {"activity",
     "flyfit-import activity FLY.npz [--connectome connectome.h5 [--mapping FILE] [--drop-unmatched]] -o activity.h5\n"
     "         [--names-key areas] [--traces-key traces] [--id ID] [--fs-hz 1.2] [--highpass-hz 0.01]\n"
     "         [--trim-frames 100] [--calcium-tau-s 0.8] [--deconv-lambda 0] [--max-rate-hz 100]",
     "A whole-brain calcium recording (Mann, Turner & Clandinin resting-state files, one .npz per fly, named\n"
     "by the fly id such as 2017-10-30_1.npz) to activity.h5. The .npz holds region names (member 'areas',\n"
     "a fixed-width string array) and raw traces [regions, frames] (member 'traces'); region 0 is the\n"
     "background and is dropped. Members may be float, int or bool, C or Fortran order, stored or deflated.\n"
     "\n"
     "Preprocessing, in this order (docs/design.md §2.3):\n"
     "  1. dF/F = (F - mean F) / mean F per region, the mean over all frames; a region holding NaN or Inf,\n"
     "     a constant region or one with mean 0 is an error naming it;\n"
     "  2. first-order Butterworth high-pass at --highpass-hz (0.01 Hz; 0 = none) for frames at --fs-hz\n"
     "     (1.2 Hz): bilinear transform with pre-warping, as scipy.signal.butter(1, fc, 'hp', fs=fs),\n"
     "     applied causally from zero initial state, as sosfilt (not filtfilt);\n"
     "  3. drop the first --trim-frames frames (100);\n"
     "  4. non-negative deconvolution with an exponential calcium kernel, decay time --calcium-tau-s\n"
     "     (0.8 s, so c_t = g c_(t-1) + s_t with g = exp(-1/(tau fs))): OASIS (Friedrich, Zhou & Paninski 2017)\n"
     "     solves min 1/2 |dF/F - c|^2 + lambda sum s_t over s_t >= 0 exactly. --deconv-lambda (0, in dF/F\n"
     "     units) trades fit for sparsity: 0 explains every rise of the trace by a spike;\n"
     "  5. scale so that the largest value over all regions and frames is --max-rate-hz (100): the rates are\n"
     "     Hz, one value per frame.\n"
     "\n"
     "--connectome matches each region to a neuropil of connectome.h5 (/neuropils/names) by exact name and\n"
     "stores the neuropil's index. --mapping FILE renames regions first: one 'region_name neuropil_name' per\n"
     "line, blank- or comma-separated, '#' comments; unnamed regions keep their names. A region without a\n"
     "neuropil or a neuropil without a region is an error listing them all, unless --drop-unmatched, which\n"
     "leaves them out with a warning.\n"
     "\n"
     "activity.h5: /areas string[P] (kept regions, background excluded), /traces float32[T, P] raw,\n"
     "/dff float32[T', P] after steps 1-3, /rates float32[T', P] Hz after steps 1-5 (T' = T - trim),\n"
     "/neuropil_index int32[P] with --connectome; attributes fs_hz, neural_activity_id (the file name\n"
     "without .npz, or --id), source, created_by (this command line), every parameter above, calcium_gamma.\n"
     "Exit status: 0 done, 1 bad command line, 2 bad input (no output file is written, and an existing\n"
     "one is left as it was), 3 I/O failure.",
     NULL, 0, 0, 0, activity_main},
    {"cells", "flyfit-import cells FILE.npz|FILE.csv|FILE.h5 -o cells.h5 [--key K] [--fs-hz F] [--transpose]\n"
     "         [--calcium-tau-s 0.7] [--highpass-hz 0.01]",
     "Fluorescence of recorded cells, cells x frames, to the recording [run] mode = cells reads ([data] recording;\n"
     "docs/formats.md). No connectome and no neuropils are needed.\n"
     "  FILE.npz   member F (--key), the frame rate from member fs or --fs-hz\n"
     "  FILE.csv   one row per cell, one number per frame, no header (plain or .gz); --fs-hz required\n"
     "  FILE.h5    dataset /F (--key), the frame rate from its attribute fs_hz (or the file's) or --fs-hz\n"
     "  --transpose  the file holds frames x cells\n"
     "Every value must be finite and the recording at least as long as the deconvolution needs (three calcium\n"
     "decay times, --calcium-tau-s, and 10 frames). The preprocessing chain of flyfit (dF/F, the high-pass\n"
     "--highpass-hz, OASIS) runs per cell and is stored as /cells/deconvolved for a look; a run deconvolves\n"
     "/cells/fluorescence again with its own [cells] keys.\n"
     "Exit status: 0 done, 1 bad command line, 2 bad input (naming the file, cell and frame), 3 I/O failure.",
     NULL, 0, 0, 0, cells_main},
    {"shuffle", "flyfit-import shuffle connectome.h5 -o shuffled.h5 [--seed S] [--swaps-per-connection X]",
     "The degree-preserving shuffled twin of a connectome, the control that asks whether the wiring matters:\n"
     "directed edge swaps (Maslov & Sneppen 2002) turn two connections a->b and c->d into a->d and c->b,\n"
     "each keeping its synapse count with its presynaptic neuron; a swap that would make a self-connection\n"
     "or repeat a connection is refused. Every neuron keeps its in- and out-degree, its sign, its synapses\n"
     "per neuropil and its home neuropil, so the neuropils keep their sizes and read-out weights; which\n"
     "neuron reaches which is randomised. The result depends only on the input, --seed and\n"
     "--swaps-per-connection.\n"
     "\n"
     "  --seed S                   seed of the swaps, 0..2^63-1 (default 1)\n"
     "  --swaps-per-connection X   attempts per connection, 0..1000 (default 10)\n"
     "\n"
     "shuffled.h5 is a connectome.h5 (docs/formats.md) with a group /shuffle whose attributes say what it\n"
     "is: source_file, seed, swaps_per_connection, attempts, swaps (accepted), changed (share of the\n"
     "original connections no longer present), method. A partition of the input (/partition) is not\n"
     "copied: the wiring changed. The output must not be the input.\n"
     "Exit status: 0 done, 1 bad command line, 2 bad input (an existing output is left as it was),\n"
     "3 I/O failure.",
     NULL, 0, 0, 0, shuffle_main},
};
enum { N_COMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static void usage(FILE *f) {
  fprintf(f, "usage:\n");
  for (int k = 0; k < N_COMMANDS; ++k) fprintf(f, "  %s\n", COMMANDS[k].usage);
  fprintf(f, "Run flyfit-import COMMAND --help for details.\n");
}

int main(int argc, char **argv) {
  ff_log_init("flyfit-import", 0, 1);
  ff_h5_init();
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? FF_ERR_USAGE : 0;
  }
  const Command *cmd = NULL;
  for (int k = 0; k < N_COMMANDS; ++k)
    if (!strcmp(argv[1], COMMANDS[k].name)) cmd = &COMMANDS[k];
  if (cmd == NULL) {
    fprintf(stderr, "flyfit-import: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return FF_ERR_USAGE;
  }
  if (cmd->main) return cmd->main(argc, argv, cmd);
  static const struct option OPTS[] = {{"neurons", required_argument, 0, 'n'}, {"connectivity", required_argument, 0, 'c'},
                                       {"connections", required_argument, 0, 'x'}, {"output", required_argument, 0, 'o'},
                                       {"release", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  Args a = {NULL, NULL, NULL, NULL, NULL};
  int opt;
  optind = 2;
  while ((opt = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
    switch (opt) {
    case 'n': a.neurons = optarg; break;
    case 'c': a.connectivity = optarg; break;
    case 'x': a.connections = optarg; break;
    case 'o': a.out = optarg; break;
    case 'r': a.release = optarg; break;
    case 'h': printf("usage: %s\n\n%s\n", cmd->usage, cmd->help); return 0;
    default: fprintf(stderr, "usage: %s\n", cmd->usage); return FF_ERR_USAGE;
    }
  }
  const char *missing = !a.out ? "-o" : (cmd->need_neurons && !a.neurons) ? "--neurons"
                        : (cmd->need_connectivity && !a.connectivity)     ? "--connectivity"
                        : (cmd->need_connections && !a.connections)       ? "--connections" : NULL;
  if (missing || optind != argc) {
    if (missing) fprintf(stderr, "flyfit-import %s: %s is required\n", cmd->name, missing);
    else fprintf(stderr, "flyfit-import %s: unexpected argument '%s'\n", cmd->name, argv[optind]);
    fprintf(stderr, "usage: %s\n", cmd->usage);
    return FF_ERR_USAGE;
  }
  if (!cmd->need_connectivity && a.connectivity) {
    fprintf(stderr, "flyfit-import %s: --connectivity belongs to 'shiu'\n", cmd->name);
    return FF_ERR_USAGE;
  }
  if (!cmd->need_connections && a.connections) {
    fprintf(stderr, "flyfit-import %s: --connections belongs to 'codex'\n", cmd->name);
    return FF_ERR_USAGE;
  }
  const double t0 = ff_wall_seconds();
  FfConnectome c;
  int st = cmd->run(&a, &c);
  if (st == FF_OK) {
    if (a.release) snprintf(c.release, sizeof c.release, "%s", a.release);
    char created[1024];
    snprintf(created, sizeof created, "flyfit-import %s", cmd->name);
    st = ff_connectome_write(&c, a.out, created);
    if (st != FF_OK) ff_connectome_destroy(&c); /* a failed run cleans up after itself */
  }
  if (st != FF_OK) {
    ff_log_report_status(st);
    return st;
  }
  int64_t synapses = 0;
  for (int64_t e = 0; e < ff_connectome_n_conn(&c); ++e) synapses += c.count[e] < 0 ? -(int64_t)c.count[e] : c.count[e];
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  fprintf(stderr, "flyfit-import: %s: %lld neurons, %lld connections, %lld synapses, %d neuropils, %.2f s, peak memory %.0f MB\n",
          a.out, (long long)c.n, (long long)ff_connectome_n_conn(&c), (long long)synapses, c.n_neuropils,
          ff_wall_seconds() - t0, (double)ru.ru_maxrss / 1024.0);
  ff_connectome_destroy(&c);
  return 0;
}

/* ---- activity ------------------------------------------------------------------------------------ */

/* Strict number parsing for options: the whole argument, finite. */
static int parse_number(const char *opt, const char *arg, double *out) {
  char *end;
  errno = 0;
  const double v = strtod(arg, &end);
  if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(v)) {
    fprintf(stderr, "flyfit-import activity: %s '%s' is not a number\n", opt, arg);
    return FF_ERR_USAGE;
  }
  *out = v;
  return FF_OK;
}

/* The command line as one string for created_by, arguments with blanks or quotes single-quoted. */
static void command_line(int argc, char **argv, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "flyfit-import");
  for (int k = 1; k < argc && n < cap; ++k) {
    const int quote = argv[k][0] == '\0' || strpbrk(argv[k], " \t\n'\"\\$`*?;&|<>()") != NULL;
    n += (size_t)snprintf(buf + n, cap - n, quote ? " '%s'" : " %s", argv[k]);
  }
}

/* The connectome's neuropil names, without reading its connections. */
static int read_neuropil_names(const char *path, char ***names, int64_t *n) {
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int st = ff_h5_read_strings(f, path, "/neuropils/names", names, n);
  H5Fclose(f);
  return st;
}

typedef struct {
  const char *npz, *out, *mapping, *connectome, *names_key, *traces_key, *id;
  int drop_unmatched;
  FfPreprocess p;
} ActivityArgs;

static int activity_run(const ActivityArgs *a, const char *created_by, FfRecording *rec, int64_t *T_out) {
  FF_TRY(ff_recording_read_npz(a->npz, a->names_key, a->traces_key, rec));
  if (a->id) snprintf(rec->id, sizeof rec->id, "%s", a->id);
  const int64_t P_all = rec->P;
  FfRegionMap map = {0, NULL, NULL, NULL};
  if (a->connectome) {
    char **np_names = NULL;
    int64_t n_np = 0;
    int st = read_neuropil_names(a->connectome, &np_names, &n_np);
    if (st == FF_OK) {
      st = ff_activity_map_regions((const char *const *)rec->areas, rec->P, (const char *const *)np_names, n_np,
                                   a->mapping, a->drop_unmatched, &map);
      if (st != FF_OK) ff_error_prefix("'%s' regions against '%s' neuropils: ", a->npz, a->connectome);
    }
    if (st == FF_OK) st = ff_recording_select(rec, map.region, map.n);
    /* the matching itself goes into activity.h5 (/neuropil_names), so flyfit needs no mapping file */
    if (st == FF_OK) st = FF_CALLOC(rec->matched, rec->P, "neuropil names");
    for (int64_t k = 0; st == FF_OK && k < map.n; ++k)
      if ((rec->matched[k] = strdup(np_names[map.neuropil[k]])) == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory");
    ff_h5_free_strings(&np_names, n_np);
    if (st != FF_OK) {
      ff_region_map_destroy(&map);
      ff_error_trace(__FILE__, __LINE__, __func__);
      return st;
    }
    if (map.warning) ff_warn("%s: %s", a->npz, map.warning);
  }
  /* activity.h5 keeps the raw traces as float32: preprocess exactly those values, so that flyfit,
   * rerunning the chain from /traces, gets these rates bit for bit. */
  double *dff = NULL, *rates = NULL;
  int st = ff_recording_round_to_float(rec);
  const FfTraceLabels lab = {a->npz, (const char *const *)rec->areas, rec->rows};
  if (st == FF_OK) st = ff_activity_preprocess(rec->traces, rec->P, rec->T, &a->p, &lab, &dff, &rates, T_out);
  if (st == FF_OK) {
    const FfActivityFile out = {rec, &a->p, dff, rates, *T_out, map.neuropil, a->connectome, a->mapping, map.warning,
                                created_by};
    st = ff_activity_write(a->out, &out);
  }
  if (st == FF_OK && P_all != rec->P)
    fprintf(stderr, "flyfit-import: kept %lld of %lld regions\n", (long long)rec->P, (long long)P_all);
  free(dff);
  free(rates);
  ff_region_map_destroy(&map);
  if (st != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return st;
}

static int activity_main(int argc, char **argv, const Command *cmd) {
  enum { O_MAPPING = 256, O_CONNECTOME, O_DROP, O_NAMES, O_TRACES, O_ID, O_FS, O_HP, O_TRIM, O_TAU, O_LAMBDA, O_MAX };
  static const struct option OPTS[] = {
      {"mapping", required_argument, 0, O_MAPPING},     {"connectome", required_argument, 0, O_CONNECTOME},
      {"drop-unmatched", no_argument, 0, O_DROP},       {"names-key", required_argument, 0, O_NAMES},
      {"traces-key", required_argument, 0, O_TRACES},   {"id", required_argument, 0, O_ID},
      {"fs-hz", required_argument, 0, O_FS},            {"highpass-hz", required_argument, 0, O_HP},
      {"trim-frames", required_argument, 0, O_TRIM},    {"calcium-tau-s", required_argument, 0, O_TAU},
      {"deconv-lambda", required_argument, 0, O_LAMBDA}, {"max-rate-hz", required_argument, 0, O_MAX},
      {"output", required_argument, 0, 'o'},            {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  ActivityArgs a = {NULL, NULL, NULL, NULL, "areas", "traces", NULL, 0, {0, 0, 0, 0, 0, 0}};
  ff_preprocess_defaults(&a.p);
  char created_by[4096]; /* before getopt_long, which reorders argv */
  command_line(argc, argv, created_by, sizeof created_by);
  int opt, st = FF_OK;
  double trim = (double)a.p.trim_frames;
  optind = 2;
  while (st == FF_OK && (opt = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
    switch (opt) {
    case O_MAPPING: a.mapping = optarg; break;
    case O_CONNECTOME: a.connectome = optarg; break;
    case O_DROP: a.drop_unmatched = 1; break;
    case O_NAMES: a.names_key = optarg; break;
    case O_TRACES: a.traces_key = optarg; break;
    case O_ID: a.id = optarg; break;
    case O_FS: st = parse_number("--fs-hz", optarg, &a.p.fs_hz); break;
    case O_HP: st = parse_number("--highpass-hz", optarg, &a.p.highpass_hz); break;
    case O_TRIM: st = parse_number("--trim-frames", optarg, &trim); break;
    case O_TAU: st = parse_number("--calcium-tau-s", optarg, &a.p.calcium_tau_s); break;
    case O_LAMBDA: st = parse_number("--deconv-lambda", optarg, &a.p.deconv_lambda); break;
    case O_MAX: st = parse_number("--max-rate-hz", optarg, &a.p.max_rate_hz); break;
    case 'o': a.out = optarg; break;
    case 'h': printf("usage: %s\n\n%s\n", cmd->usage, cmd->help); return 0;
    default: st = FF_ERR_USAGE;
    }
  }
  if (st == FF_OK && (trim != floor(trim) || fabs(trim) > 1e15)) {
    fprintf(stderr, "flyfit-import activity: --trim-frames %g is not a whole number of frames\n", trim);
    st = FF_ERR_USAGE;
  }
  a.p.trim_frames = (int64_t)trim;
  if (st == FF_OK && optind < argc) a.npz = argv[optind++];
  const char *problem = st != FF_OK              ? NULL
                        : !a.npz                 ? "the recording FLY.npz is required"
                        : optind < argc          ? "only one recording at a time"
                        : !a.out                 ? "-o is required"
                        : a.mapping && !a.connectome ? "--mapping needs --connectome (the neuropils to map to)"
                        : a.drop_unmatched && !a.connectome ? "--drop-unmatched needs --connectome"
                                                             : NULL;
  if (problem) fprintf(stderr, "flyfit-import activity: %s\n", problem);
  if (st == FF_OK && !problem && ff_preprocess_check(&a.p) != FF_OK) {
    fprintf(stderr, "flyfit-import activity: %s\n", ff_error_message());
    st = FF_ERR_USAGE;
  }
  if (st != FF_OK || problem) {
    fprintf(stderr, "usage: %s\n", cmd->usage);
    return FF_ERR_USAGE;
  }
  const double t0 = ff_wall_seconds();
  FfRecording rec;
  int64_t T_out = 0;
  st = activity_run(&a, created_by, &rec, &T_out);
  if (st != FF_OK) {
    ff_log_report_status(st);
    ff_recording_destroy(&rec);
    return st;
  }
  fprintf(stderr, "flyfit-import: %s: fly %s, %lld regions, %lld frames at %g Hz (%lld after dropping %lld), %.2f s\n",
          a.out, rec.id, (long long)rec.P, (long long)rec.T, a.p.fs_hz, (long long)T_out, (long long)a.p.trim_frames,
          ff_wall_seconds() - t0);
  ff_recording_destroy(&rec);
  return 0;
}

/* ---- cells --------------------------------------------------------------------------------------- */

static int cells_main(int argc, char **argv, const Command *cmd) {
  enum { O_KEY = 256, O_FS, O_TRANSPOSE, O_TAU, O_HP };
  static const struct option OPTS[] = {{"key", required_argument, 0, O_KEY},         {"fs-hz", required_argument, 0, O_FS},
                                       {"transpose", no_argument, 0, O_TRANSPOSE},   {"calcium-tau-s", required_argument, 0, O_TAU},
                                       {"highpass-hz", required_argument, 0, O_HP},  {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
  const char *key = NULL, *out = NULL, *in = NULL;
  double fs = 0;
  int transpose = 0, opt, st = FF_OK;
  FfCellsParams p;
  ff_cells_params_defaults(&p);
  char created_by[4096];
  command_line(argc, argv, created_by, sizeof created_by);
  optind = 2;
  while (st == FF_OK && (opt = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
    switch (opt) {
    case O_KEY: key = optarg; break;
    case O_FS: st = parse_number("--fs-hz", optarg, &fs); break;
    case O_TRANSPOSE: transpose = 1; break;
    case O_TAU: st = parse_number("--calcium-tau-s", optarg, &p.calcium_tau_s); break;
    case O_HP: st = parse_number("--highpass-hz", optarg, &p.highpass_hz); break;
    case 'o': out = optarg; break;
    case 'h': printf("usage: %s\n\n%s\n", cmd->usage, cmd->help); return 0;
    default: st = FF_ERR_USAGE;
    }
  }
  if (st == FF_OK && optind < argc) in = argv[optind++];
  const char *problem = st != FF_OK                 ? NULL
                        : !in                       ? "the recording FILE is required"
                        : optind < argc             ? "only one recording at a time"
                        : !out                      ? "-o is required"
                        : !(p.calcium_tau_s > 0)    ? "--calcium-tau-s must be > 0"
                        : !(p.highpass_hz >= 0)     ? "--highpass-hz must be >= 0"
                                                    : NULL;
  if (problem) fprintf(stderr, "flyfit-import cells: %s\n", problem);
  if (st != FF_OK || problem) {
    fprintf(stderr, "usage: %s\n", cmd->usage);
    return FF_ERR_USAGE;
  }
  const double t0 = ff_wall_seconds();
  FfCellsRecording r;
  st = ff_cells_import(in, key, fs, transpose, &r);
  FF_CALL(st, ff_cells_check(&r, p.calcium_tau_s, in));
  if (st == FF_OK && p.highpass_hz > 0 && !(p.highpass_hz < r.fs_hz / 2))
    st = FF_ERROR(FF_ERR_USAGE, "--highpass-hz %g must be below half the frame rate (%g Hz)", p.highpass_hz, r.fs_hz);
  FF_CALL(st, FF_MALLOC(r.deconvolved, r.n_cells * r.n_frames, "deconvolved spikes"));
  FF_CALL(st, ff_cells_deconvolve(&r, &p, r.deconvolved, NULL));
  r.deconv_tau_s = p.calcium_tau_s;
  r.deconv_highpass_hz = p.highpass_hz;
  FF_CALL(st, ff_cells_recording_write(out, &r, created_by));
  if (st == FF_OK)
    fprintf(stderr, "flyfit-import: %s: %lld cells, %lld frames at %g Hz from %s, %.2f s\n", out, (long long)r.n_cells,
            (long long)r.n_frames, r.fs_hz, in, ff_wall_seconds() - t0);
  else ff_log_report_status(st);
  ff_cells_recording_destroy(&r);
  return st;
}

/* ---- shuffle ------------------------------------------------------------------------------------- */

/* Whether two paths name the same existing file (so that -o cannot replace its own input). */
static int same_file(const char *a, const char *b) {
  struct stat x, y;
  return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* --seed: the whole argument a decimal integer in 0..2^63-1 (the range of [run] seed). */
static int parse_seed(const char *arg, uint64_t *out) {
  char *end;
  errno = 0;
  const unsigned long long v = strtoull(arg, &end, 10);
  if (arg[0] == '-' || arg[0] == '+' || end == arg || *end != '\0' || errno == ERANGE || v > (unsigned long long)INT64_MAX) {
    fprintf(stderr, "flyfit-import shuffle: --seed '%s' is not a whole number in 0..2^63-1\n", arg);
    return FF_ERR_USAGE;
  }
  *out = v;
  return FF_OK;
}

static int shuffle_main(int argc, char **argv, const Command *cmd) {
  enum { O_SEED = 256, O_SWAPS };
  static const struct option OPTS[] = {{"seed", required_argument, 0, O_SEED},
                                       {"swaps-per-connection", required_argument, 0, O_SWAPS},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  char created_by[4096]; /* before getopt_long, which reorders argv */
  command_line(argc, argv, created_by, sizeof created_by);
  const char *in = NULL, *out = NULL;
  uint64_t seed = 1;
  double swaps = 10.0;
  int opt, st = FF_OK;
  optind = 2;
  while (st == FF_OK && (opt = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
    switch (opt) {
    case O_SEED: st = parse_seed(optarg, &seed); break;
    case O_SWAPS: st = parse_number("--swaps-per-connection", optarg, &swaps); break;
    case 'o': out = optarg; break;
    case 'h': printf("usage: %s\n\n%s\n", cmd->usage, cmd->help); return 0;
    default: st = FF_ERR_USAGE;
    }
  }
  if (st == FF_OK && !(swaps >= 0 && swaps <= 1000)) {
    fprintf(stderr, "flyfit-import shuffle: --swaps-per-connection %g: 0..1000\n", swaps);
    st = FF_ERR_USAGE;
  }
  if (st == FF_OK && optind < argc) in = argv[optind++];
  const char *problem = st != FF_OK     ? NULL
                        : !in           ? "the connectome to shuffle is required"
                        : optind < argc ? "only one connectome at a time"
                        : !out          ? "-o is required"
                        : (!strcmp(in, out) || same_file(in, out))
                            ? "-o names the input: write the shuffled twin to another file"
                            : NULL;
  if (problem) fprintf(stderr, "flyfit-import shuffle: %s\n", problem);
  if (st != FF_OK || problem) {
    fprintf(stderr, "usage: %s\n", cmd->usage);
    return FF_ERR_USAGE;
  }
  const double t0 = ff_wall_seconds();
  FfConnectome c, s;
  FfShuffleRecord r = {in, seed, swaps, {0, 0, 0.0}};
  st = ff_connectome_read(in, &c);
  if (st == FF_OK) {
    st = ff_connectome_shuffle(&c, r.seed, swaps, &s, &r.stats);
    if (st == FF_OK) {
      st = ff_connectome_shuffle_write(&s, &r, out, created_by);
      ff_connectome_destroy(&s);
    }
  }
  if (st != FF_OK) {
    ff_connectome_destroy(&c);
    ff_log_report_status(st);
    return st;
  }
  fprintf(stderr,
          "flyfit-import: %s: shuffled %s (seed %llu, %g swaps per connection): %lld neurons, %lld connections, "
          "%lld attempts, %lld swaps accepted, %.1f%% of the connections changed, %.2f s\n",
          out, in, (unsigned long long)r.seed, swaps, (long long)c.n, (long long)ff_connectome_n_conn(&c),
          (long long)r.stats.attempts, (long long)r.stats.swaps, 100.0 * r.stats.changed, ff_wall_seconds() - t0);
  ff_connectome_destroy(&c);
  return 0;
}
