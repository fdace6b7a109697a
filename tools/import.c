/* bin/flyfit-import: builds connectome.h5 from the public FlyWire tables.
 *   flyfit-import shiu --neurons NEURONS.csv --connectivity CONNECTIVITY.csv -o connectome.h5
 *   flyfit-import codex --connections connections.csv.gz [--neurons NEURONS.csv] -o connectome.h5
 * Bad input stops with FILE:LINE: reason, exit status 2, and no output file (the file is written
 * under a temporary name and renamed only when complete). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/import.h"
#include "flyfit/log.h"

typedef struct {
  const char *neurons, *connectivity, *connections, *out, *release;
} Args;

typedef struct {
  const char *name, *usage, *help;
  int (*run)(const Args *a, FfConnectome *c);
  int need_neurons, need_connectivity, need_connections;
} Command;

static int run_shiu(const Args *a, FfConnectome *c) { return ff_import_shiu(a->neurons, a->connectivity, c); }
static int run_codex(const Args *a, FfConnectome *c) { return ff_import_codex(a->connections, a->neurons, c); }

static const Command COMMANDS[] = {
    {"shiu", "flyfit-import shiu --neurons NEURONS.csv --connectivity CONNECTIVITY.csv -o connectome.h5 [--release R]",
     "Shiu et al. format: the neuron list (first column the root id; row order is the neuron index) and the\n"
     "connectivity table with the columns Presynaptic_ID, Postsynaptic_ID, Presynaptic_Index,\n"
     "Postsynaptic_Index, Connectivity, Excitatory, Excitatory x Connectivity (CSV, plain or .gz).\n"
     "This format has no neuropils, so the connectome gets none.",
     run_shiu, 1, 1, 0},
    {"codex", "flyfit-import codex --connections connections.csv.gz [--neurons NEURONS.csv] -o connectome.h5 [--release R]",
     "FlyWire Codex connections table: pre_root_id, post_root_id, neuropil, syn_count, nt_type, one row per\n"
     "(pre, post, neuropil). Counts are summed per pair; the sign is -1 for GABA and GLUT neurons (from the\n"
     "row with most synapses), +1 otherwise. Neurons follow NEURONS.csv when given (a root id missing from it\n"
     "is an error), else their first appearance.",
     run_codex, 0, 0, 1},
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
