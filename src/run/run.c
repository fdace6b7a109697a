/* The run driver (run.h): every input is read and checked (the config on all ranks, files on
 * rank 0) before anything is written; after each step the ranks agree on one status
 * (ff_ranks_agree), so an error is reported once, by the lowest failing rank, and every rank exits
 * with the same status. The mode table says which modes need the connectome. */
#define _GNU_SOURCE
#include "flyfit/run.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flyfit/connectome.h"
#include "flyfit/cuda.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/partition.h"
#include "flyfit/ranks.h"
#include "flyfit/runjson.h"
#include "flyfit/signals.h"

/* A mode that uses the connectome (ff_mode_uses_connectome) gets its inputs checked, its partition
 * and this rank's slice of the network before it runs; the others get the configuration only. */
typedef struct {
  FfMode mode;
  const char *name; /* the [run] mode value */
  int (*run)(FfRun *r);
} FfModeEntry;

static const FfModeEntry MODES[] = {
    {FF_MODE_SIMULATE, "simulate", ff_mode_simulate}, {FF_MODE_FIT, "fit", ff_mode_fitting},
    {FF_MODE_ROUND2, "round2", ff_mode_fitting},     {FF_MODE_PREDICT, "predict", ff_mode_fitting},
    {FF_MODE_ALL, "all", ff_mode_fitting},           {FF_MODE_TASK, "task", ff_mode_task},
    {FF_MODE_NEURON, "neuron", ff_mode_neuron},      {FF_MODE_NETOPT, "netopt", ff_mode_netopt},
    {FF_MODE_CELLS, "cells", ff_mode_cells},
};
enum { N_MODES = sizeof MODES / sizeof MODES[0] };

static const FfModeEntry *mode_entry(int mode) {
  for (int k = 0; k < N_MODES; ++k)
    if ((int)MODES[k].mode == mode) return &MODES[k];
  return NULL;
}

static const char *const BACKEND_NAMES[] = {"cpu", "cuda", "emulate"};

int ff_run_make_dir(const char *path) {
  char buf[FF_CONFIG_STR];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; ++p) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return FF_ERROR(FF_ERR_IO, "[output] dir: cannot create '%s': %s", buf, strerror(errno));
      *p = c;
      if (c == '\0') break;
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return FF_ERROR(FF_ERR_IO, "[output] dir: '%s' is not a directory", path);
  char probe[FF_CONFIG_STR + 64];
  snprintf(probe, sizeof probe, "%s/.flyfit-write-test.%ld", path, (long)getpid());
  FILE *f = fopen(probe, "w");
  if (f == NULL) return FF_ERROR(FF_ERR_IO, "[output] dir: cannot write in '%s': %s", path, strerror(errno));
  fclose(f);
  remove(probe);
  return FF_OK;
}

/* Rank 0: the connectome's size and root ids, the stimulus, and a writable output directory. */
static int check_inputs(FfRun *r) {
  hid_t f;
  int64_t *root_ids = NULL;
  int st = ff_h5_open(r->cfg.connectome, H5P_DEFAULT, &f);
  if (st) {
    ff_error_prefix("[data] connectome: ");
    return st;
  }
  FF_CALL(st, ff_h5_read_all(f, r->cfg.connectome, "/neurons/root_id", H5T_NATIVE_INT64, -1, (void **)&root_ids,
                             &r->n_global));
  int64_t e, ip;
  FF_CALL(st, ff_h5_len(f, r->cfg.connectome, "/connections/post", &e));
  FF_CALL(st, ff_h5_len(f, r->cfg.connectome, "/connections/indptr", &ip));
  if (st == FF_OK && ip != r->n_global + 1)
    st = FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr has %lld entries for %lld neurons (expected %lld)",
                  r->cfg.connectome, (long long)ip, (long long)r->n_global, (long long)r->n_global + 1);
  if (st == FF_OK && !ff_h5_exists(f, "/neuropils/names"))
    st = FF_ERROR(FF_ERR_INPUT, "'%s': /neuropils/names is missing; remake the file with flyfit-import or flyfit-synth",
                  r->cfg.connectome);
  H5Fclose(f);
  if (st == FF_OK && (r->n_global <= 0 || r->n_global > INT32_MAX))
    st = FF_ERROR(FF_ERR_INPUT, "'%s': %lld neurons is outside 1..2^31-1", r->cfg.connectome, (long long)r->n_global);
  FF_CALL(st, ff_stimulus_load(&r->cfg, &r->model, r->n_global, root_ids, r->n_steps, &r->stim));
  free(root_ids);
  if (st) return st;
  const int64_t cells = r->cfg.batch * r->n_steps * r->stim.n_state;
  if (cells > (int64_t)1 << 27)
    return FF_ERROR(FF_ERR_INPUT, "[output] state_neurons: %lld neurons x %lld steps x %lld trials is too much to record "
                                  "(limit 1.3e8 values); record fewer neurons or a shorter run",
                    (long long)r->stim.n_state, (long long)r->n_steps, (long long)r->cfg.batch);
  FF_TRY(ff_run_make_dir(r->cfg.out_dir));
  return FF_OK;
}

/* Rank 0: a partition for this rank count must exist, or be made now with [run] partition = auto. */
static int check_partition(FfRun *r) {
  const int ranks = r->size;
  if (ranks > r->n_global)
    return FF_ERROR(FF_ERR_INPUT, "%d ranks for %lld neurons: use at most one rank per neuron", ranks,
                    (long long)r->n_global);
  if (ranks == 1) return FF_OK; /* one rank reads the connection table as it is */
  hid_t f;
  char group[64], have[512];
  snprintf(group, sizeof group, "/partition/k%d", ranks);
  FF_TRY(ff_h5_open(r->cfg.connectome, H5P_DEFAULT, &f));
  const int stored = ff_h5_exists(f, group);
  H5Fclose(f);
  if (stored) return FF_OK;
  FF_TRY(ff_partition_list(r->cfg.connectome, have, sizeof have));
  if (r->cfg.partition != FF_PARTITION_AUTO)
    return FF_ERROR(FF_ERR_INPUT,
                    "'%s' holds no partition for %d ranks (%s%s); make one with:\n"
                    "    flyfit-partition %s --ranks %d\nor set [run] partition = auto",
                    r->cfg.connectome, ranks, strcmp(have, "none") ? "it holds partitions for K = " : "it holds none",
                    strcmp(have, "none") ? have : "", r->cfg.connectome, ranks);
  ff_log("[run] partition = auto: %s has no partition for %d ranks (it has K = %s); making one with METIS on rank 0",
         r->cfg.connectome, ranks, have);
  FfConnectome c;
  FfPartition p;
  FF_TRY(ff_connectome_read(r->cfg.connectome, &c));
  int st = ff_partition_make(&c, ranks, FF_PART_METIS, FF_BALANCE_BOTH, (uint64_t)r->cfg.seed, &p);
  ff_connectome_destroy(&c);
  if (st == FF_OK) {
    char created[128];
    snprintf(created, sizeof created, "flyfit [run] partition = auto, seed %lld", (long long)r->cfg.seed);
    st = ff_partition_store(r->cfg.connectome, &p, created);
  }
  if (st == FF_OK)
    ff_log("stored /partition/k%d in %s: edge cut %.1f%% of connections, imbalance neurons %.3f, connections %.3f (%.1f s)",
           ranks, r->cfg.connectome, 100.0 * (double)p.edge_cut / (double)(p.n_conn ? p.n_conn : 1), p.imbalance_neurons,
           p.imbalance_connections, p.seconds);
  ff_partition_destroy(&p);
  return st;
}

/* Collective. The node of every rank, on rank 0, as "a,a,b,b" (the log and results.h5 name them;
 * scaling sweeps count nodes from it), and the number of distinct nodes. */
static int gather_hosts(FfRun *r) {
  char host[MPI_MAX_PROCESSOR_NAME] = "", *all = NULL;
  int host_len = 0;
  int st = FF_MPI(MPI_Get_processor_name(host, &host_len));
  if (r->rank == 0) FF_CALL(st, FF_CALLOC(all, (size_t)r->size * MPI_MAX_PROCESSOR_NAME, "host names"));
  st = ff_ranks_agree(st, r->comm); /* every rank, whatever its own status: it is collective */
  FF_CALL(st, FF_MPI(MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0,
                                r->comm)));
  r->n_nodes = 1;
  if (st == FF_OK && r->rank == 0) {
    char *list = NULL;
    FF_CALL(st, FF_MALLOC(list, (size_t)r->size * (MPI_MAX_PROCESSOR_NAME + 1) + 1, "host list"));
    size_t len = 0;
    for (int q = 0; st == FF_OK && q < r->size; ++q) {
      const char *h = all + (size_t)q * MPI_MAX_PROCESSOR_NAME;
      int seen = 0;
      for (int p = 0; p < q && !seen; ++p) seen = !strcmp(h, all + (size_t)p * MPI_MAX_PROCESSOR_NAME);
      r->n_nodes += q > 0 && !seen;
      len += (size_t)sprintf(list + len, "%s%s", q ? "," : "", h);
    }
    r->hosts = list;
  }
  free(all);
  return st;
}

/* Collective. The inputs every network mode shares, checked on rank 0; then this rank's share of
 * the network, and the run's description in the log. */
static int prepare_network(FfRun *r) {
  int st = r->rank == 0 ? check_inputs(r) : FF_OK;
  if (st == FF_OK && r->rank == 0) st = check_partition(r);
  FF_TRY(ff_ranks_agree(st, r->comm));
  FF_TRY(ff_ranks_agree(FF_MPI(MPI_Bcast(&r->n_global, 1, MPI_INT64_T, 0, r->comm)), r->comm));
  FF_TRY(ff_ranks_agree(ff_stimulus_bcast(&r->stim, r->comm), r->comm));
  FF_TRY(ff_ranks_agree(ff_net_load(r->cfg.connectome, r->comm, &r->net), r->comm));
  FF_TRY(ff_ranks_agree(ff_net_find_destinations(&r->net, r->comm), r->comm));
  /* simulate opens its log here; the fitting modes only once their own inputs have been checked too */
  if (r->cfg.mode == FF_MODE_SIMULATE) FF_TRY(ff_run_open_log(r));
  int64_t n_in = r->net.n_in, total_in = 0;
  FF_TRY(ff_ranks_agree(FF_MPI(MPI_Reduce(&n_in, &total_in, 1, MPI_INT64_T, MPI_SUM, 0, r->comm)), r->comm));
  FF_TRY(ff_ranks_agree(gather_hosts(r), r->comm));
  char cuda[512];
  ff_cuda_describe(cuda, sizeof cuda);
  ff_log("flyfit %s: %d rank%s x %d thread%s on %d node%s, backend %s%s; %s", r->version, r->size,
         r->size == 1 ? "" : "s", r->threads, r->threads == 1 ? "" : "s", r->n_nodes, r->n_nodes == 1 ? "" : "s",
         BACKEND_NAMES[r->cfg.backend], r->cfg.transport == FF_TRANSPORT_NCCL ? " (spikes by NCCL)" : "", cuda);
  ff_log("connectome %s: %lld neurons, %lld connections", r->cfg.connectome, (long long)r->n_global,
         (long long)total_in);
  return FF_OK;
}

int ff_run_open_log(FfRun *r) {
  FF_TRY(ff_ranks_agree(ff_log_open_file(r->log_path), r->comm));
  r->started = 1;
  return FF_OK;
}

/* Every rank: the configuration file, the --set overrides, the model and the effective text. */
static int load_config(FfRun *r, int argc, char **argv) {
  static const char USAGE_HINT[] = "usage: mpirun -np K flyfit CONFIG.ini [--set section.key=value ...]";
  ff_config_init(&r->cfg);
  int st = ff_config_load(&r->cfg, argv[1]);
  for (int a = 2; st == FF_OK && a < argc; ++a) {
    if (strcmp(argv[a], "--set") == 0 && a + 1 < argc)
      st = ff_config_set(&r->cfg, argv[++a]);
    else if (strncmp(argv[a], "--set=", 6) == 0)
      st = ff_config_set(&r->cfg, argv[a] + 6);
    else
      st = FF_ERROR(FF_ERR_USAGE, "unexpected argument '%s'\n%s", argv[a], USAGE_HINT);
  }
  FF_CALL(st, ff_config_finish(&r->cfg));
  FF_CALL(st, ff_model_build(&r->cfg, &r->model));
  FF_CALL(st, ff_config_format(&r->cfg, &r->config_text));
  if (st == FF_OK) r->n_steps = (int64_t)floor(r->cfg.duration_ms / r->model.dt_ms + 1e-6);
  snprintf(r->log_path, sizeof r->log_path, "%s/flyfit.log", r->cfg.out_dir);
  return st;
}

/* What a rerun of a run stopped in `phase` continues. */
static const char *resumable(const FfRun *r) {
  const char *p = r->phase ? r->phase : "";
  if (!strcmp(p, "round1"))
    return "round 1 continues from its newest checkpoint with [run] resume = auto (a stop at a safe point "
           "writes one; else the last epoch's)";
  if (!strcmp(p, "round2"))
    return r->cfg.mode == FF_MODE_ALL ? "round 1 is finished (checkpoint-best.h5) and round 2 continues from its last "
                                        "finished epoch (gru-last.h5): rerun with [run] resume = auto"
                                      : "round 2 continues from its last finished epoch (gru-last.h5) with [run] "
                                        "resume = auto";
  if (!strcmp(p, "task"))
    return "the training continues from its resume point (task-last.h5, written at every validation and at a stop) "
           "with [run] resume = auto";
  if (!strcmp(p, "predict"))
    return "rounds 1 and 2 are finished; the prediction continues from its resume point (predict-partial.h5) with "
           "[run] resume = auto";
  return "the phase is redone by a rerun";
}

static FfRunJson run_json(const FfRun *r, int status, const int *dev, const double *rss) {
  const FfModeEntry *m = mode_entry(r->cfg.mode);
  return (FfRunJson){r->cfg.out_dir, r->version, r->config_text ? r->config_text : "", m ? m->name : "?",
                     BACKEND_NAMES[r->cfg.backend], r->cfg.transport == FF_TRANSPORT_NCCL ? "nccl" : "mpi",
                     r->hosts, status, r->size, r->threads, r->n_nodes, dev, rss, MPI_Wtime() - r->t_start,
                     r->phase, resumable(r)};
}

void ff_run_phase(FfRun *r, const char *phase) {
  r->phase = phase;
  if (r->rank != 0 || !r->started) return;
  const FfRunJson j = run_json(r, FF_STOPPED, NULL, NULL);
  char *text = NULL, path[FF_CONFIG_STR + 32];
  if (ff_runjson_text(&j, &text) != FF_OK) {
    ff_warn("%s", ff_error_message());
    ff_error_clear();
    return;
  }
  snprintf(path, sizeof path, "%s/run.json", r->cfg.out_dir);
  ff_signals_record(text, path, r->log_path, phase);
  free(text);
}

/* Collective: run.json in the output directory (runjson.h), for a run that got past its input checks:
 * finished, stopped or failed (then it says so, naming the phase: an earlier run's "done" never stays). */
static void write_run_json(const FfRun *r, int status) {
  double *rss_all = NULL;
  if (ff_peak_memory(r->comm, 0, &rss_all) != FF_OK) return;
  int *dev = r->rank == 0 ? calloc((size_t)r->size, sizeof *dev) : NULL;
  const int st = FF_MPI(MPI_Gather(&r->device, 1, MPI_INT, dev, 1, MPI_INT, 0, r->comm));
  if (st == FF_OK && r->rank == 0 && rss_all && dev) {
    const FfRunJson j = run_json(r, status, dev, rss_all);
    if (ff_runjson_write(&j) != FF_OK) ff_warn("%s", ff_error_message());
  }
  free(rss_all);
  free(dev);
}

static void run_destroy(FfRun *r) {
  ff_sim_output_destroy(&r->out);
  ff_net_destroy(&r->net);
  ff_stimulus_destroy(&r->stim);
  ff_model_destroy(&r->model);
  FF_FREE(r->config_text);
  FF_FREE(r->hosts);
}

/* Collective. Everything between the configuration and run.json. */
static int run(FfRun *r, int argc, char **argv) {
  /* 1. configuration, on every rank; every rank parses the same text, so one reports */
  int st = load_config(r, argc, argv);
  if (st != FF_OK) {
    if (r->rank == 0) ff_log_report_status(st);
    return st;
  }
  const FfModeEntry *m = mode_entry(r->cfg.mode);
  if (m == NULL) return FF_ERROR(FF_ERR_INTERNAL, "mode %d has no entry in the mode table", (int)r->cfg.mode);
  r->threads = r->cfg.threads > 0 ? (int)r->cfg.threads : ff_ranks_cores(r->comm);
  FF_TRY(ff_ranks_agree(ff_dev_select(&r->cfg, r->comm, &r->device), r->comm));
  /* 2. the inputs the network modes share, and this rank's slice */
  if (ff_mode_uses_connectome(r->cfg.mode)) FF_TRY(prepare_network(r));
  else FF_TRY(ff_ranks_agree(gather_hosts(r), r->comm)); /* the nodes, for the log, results.h5 and run.json */
  /* 3. the mode */
  omp_set_num_threads(r->threads);
  return m->run(r);
}

int ff_run_main(int argc, char **argv, const char *version, MPI_Comm comm) {
  FfRun r;
  memset(&r, 0, sizeof r);
  r.comm = comm;
  r.version = version;
  r.device = -1;
  r.n_nodes = 1;
  r.t_start = MPI_Wtime();
  int st = ff_ranks_agree(FF_MPI(MPI_Comm_rank(comm, &r.rank)), comm);
  FF_CALL(st, FF_MPI(MPI_Comm_size(comm, &r.size)));
  FF_CALL(st, run(&r, argc, argv));
  /* a run refused before it started leaves the earlier run.json alone, like every other output; one that
   * started says how it ended */
  if (r.started) write_run_json(&r, st);
  ff_log_close_file();
  run_destroy(&r);
  return st;
}
