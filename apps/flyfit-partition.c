/* bin/flyfit-partition: splits a connectome across K ranks and stores the result in the file.
 *   flyfit-partition connectome.h5 --ranks K [--method metis|block|random]
 *                    [--balance neurons|connections|both] [--seed S] [--report-only] [--json FILE]
 * Running it twice with the same arguments gives the same partition. The file is never left
 * damaged: the partition is added to a copy that replaces the original when complete. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/partition.h"

static const char USAGE[] =
    "usage: flyfit-partition connectome.h5 --ranks K [--method metis|block|random]\n"
    "                        [--balance neurons|connections|both] [--seed S] [--report-only] [--json FILE]\n"
    "Splits the neurons across K ranks and stores /partition/kK in the file; flyfit run on K ranks\n"
    "reads it, each rank only its own slab.\n"
    "  --method   metis (default): METIS k-way on the symmetrised connection graph; block: contiguous\n"
    "             ranges of neuron indices; random: a seeded random balanced assignment\n"
    "  --balance  what METIS keeps equal across ranks: neurons, incoming connections, or both (default)\n"
    "  --seed     seed for METIS and random (default 1)\n"
    "  --report-only  compute and print the report, but leave the file as it is\n"
    "  --json FILE    also write the report as JSON (per rank: neurons, connections, ghosts, send_pairs,\n"
    "                 send_peers, recv_peers), the input of tools/flyfit-scaling; - for stdout\n";

static int pick(const char *opt, const char *value, const char *const *names, int n, int *out) {
  for (int k = 0; k < n; ++k)
    if (!strcmp(value, names[k])) {
      *out = k;
      return FF_OK;
    }
  return FF_ERROR(FF_ERR_USAGE, "%s %s: expected one of %s", opt, value, n == 3 && names[0][0] == 'm' ? "metis, block, random"
                                                                                   : "both, neurons, connections");
}

int main(int argc, char **argv) {
  ff_log_init("flyfit-partition", 0, 1);
  ff_h5_init();
  static const struct option OPTS[] = {{"ranks", required_argument, 0, 'k'}, {"method", required_argument, 0, 'm'},
                                       {"balance", required_argument, 0, 'b'}, {"seed", required_argument, 0, 's'},
                                       {"report-only", no_argument, 0, 'r'}, {"json", required_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  static const char *const METHODS[] = {"metis", "block", "random"};
  static const char *const BALANCES[] = {"both", "neurons", "connections"};
  long long ranks = -1;
  int method = FF_PART_METIS, balance = FF_BALANCE_BOTH, opt, st = FF_OK, report_only = 0;
  const char *json = NULL;
  unsigned long long seed = 1;
  char *end;
  while (st == FF_OK && (opt = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
    switch (opt) {
    case 'k':
      ranks = strtoll(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0') st = FF_ERROR(FF_ERR_USAGE, "--ranks %s: not an integer", optarg);
      break;
    case 'm': st = pick("--method", optarg, METHODS, 3, &method); break;
    case 'b': st = pick("--balance", optarg, BALANCES, 3, &balance); break;
    case 's':
      seed = strtoull(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0') st = FF_ERROR(FF_ERR_USAGE, "--seed %s: not an integer", optarg);
      break;
    case 'r': report_only = 1; break;
    case 'j': json = optarg; break;
    case 'h': fputs(USAGE, stdout); return 0;
    default: fputs(USAGE, stderr); return FF_ERR_USAGE;
    }
  }
  if (st == FF_OK && optind != argc - 1) st = FF_ERROR(FF_ERR_USAGE, "give exactly one connectome file\n%s", USAGE);
  if (st == FF_OK && ranks == -1) st = FF_ERROR(FF_ERR_USAGE, "--ranks is required\n%s", USAGE);
  if (st == FF_OK && (ranks < 1 || ranks > 1 << 20))
    st = FF_ERROR(FF_ERR_INPUT, "--ranks %lld: the rank count must be between 1 and 1048576", ranks);
  if (st != FF_OK) {
    ff_log_report_status(st);
    return st;
  }
  const char *path = argv[optind];
  FfConnectome c;
  FfPartition p;
  memset(&c, 0, sizeof c);
  memset(&p, 0, sizeof p);
  const double t0 = ff_wall_seconds();
  FILE *jf = NULL;
  if (json != NULL && strcmp(json, "-") != 0 && (jf = fopen(json, "w")) == NULL) /* fail before the long work */
    st = FF_ERROR(FF_ERR_IO, "--json %s: cannot write: %s", json, strerror(errno));
  FF_CALL(st, ff_connectome_read(path, &c));
  FF_CALL(st, ff_partition_make(&c, (int)ranks, method, balance, seed, &p));
  if (st == FF_OK && !report_only) {
    char created[1024];
    snprintf(created, sizeof created, "flyfit-partition --ranks %lld --method %s --balance %s --seed %llu", ranks,
             METHODS[method], BALANCES[balance], seed);
    FF_CALL(st, ff_partition_store(path, &p, created));
  }
  if (st == FF_OK) {
    ff_partition_print_report(&p, stdout);
    if (json != NULL) ff_partition_print_json(&p, jf != NULL ? jf : stdout);
  }
  if (jf != NULL) {
    const int closed = fclose(jf);
    if (st == FF_OK && closed != 0) st = FF_ERROR(FF_ERR_IO, "--json %s: writing failed", json);
    if (st != FF_OK) remove(json);
  }
  /* one way out: what was read and made is freed on success and on every failure alike */
  ff_partition_destroy(&p);
  ff_connectome_destroy(&c);
  if (st != FF_OK) {
    ff_log_report_status(st);
    return st;
  }
  if (report_only)
    fprintf(stderr, "flyfit-partition: report only; %s is unchanged (%.2f s)\n", path, ff_wall_seconds() - t0);
  else
    fprintf(stderr, "flyfit-partition: stored /partition/k%lld in %s (%.2f s)\n", ranks, path, ff_wall_seconds() - t0);
  return 0;
}
