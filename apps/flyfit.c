/* bin/flyfit: `mpirun -np K flyfit CONFIG [--set section.key=value ...]`.
 * Every input is read and checked (config on all ranks, files on rank 0) before anything is
 * written; after each phase the ranks agree on success, so an error is reported once, by the
 * lowest failing rank, and every rank exits with the same status. */
#define _GNU_SOURCE
#include <errno.h>
#include <mpi.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>

#include "flyfit/config.h"
#include "flyfit/connectome.h"
#include "flyfit/cuda.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/model.h"
#include "flyfit/net.h"
#include "flyfit/partition.h"
#include "flyfit/results.h"
#include "flyfit/predict.h"
#include "flyfit/ranks.h"
#include "flyfit/round1.h"
#include "flyfit/round2.h"
#include "flyfit/runjson.h"
#include "flyfit/signals.h"
#include "flyfit/sim.h"
#include "flyfit/stimulus.h"

#ifndef FF_VERSION
#define FF_VERSION "unknown"
#endif

static const char USAGE[] =
    "usage: mpirun -np K flyfit CONFIG.ini [--set section.key=value ...]\n"
    "       flyfit --help-config [markdown]   list every configuration key\n"
    "       flyfit --version\n"
    "Runs the whole-brain spiking model described by CONFIG.ini; see README.md.\n";

static int make_dir(const char *path) {
  char buf[FF_CONFIG_STR];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; ; ++p) {
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

typedef struct {
  FfConfig cfg;
  char *config_text;
  FfModel model;
  FfStimulus stim;
  int64_t n_global, n_steps;
  FfNet net;
  FfSimOutput out;
  char *hosts; /* rank 0: the node of every rank, comma-separated */
  int rank;
  int started;  /* the log is open: the run got past its input checks (run.json is written) */
  int threads, device, n_nodes;
  double t_start;
} Run;

/* Rank 0: the connectome's size and root ids, the stimulus, and a writable output directory. */
static int check_inputs(Run *r) {
  hid_t f;
  int64_t *root_ids = NULL;
  int st = ff_h5_open(r->cfg.connectome, H5P_DEFAULT, &f);
  if (st) {
    ff_error_prefix("[data] connectome: ");
    return st;
  }
  st = ff_h5_read_all(f, r->cfg.connectome, "/neurons/root_id", H5T_NATIVE_INT64, -1, (void **)&root_ids,
                          &r->n_global);
  if (st == FF_OK) {
    int64_t e, ip;
    st = ff_h5_len(f, r->cfg.connectome, "/connections/post", &e);
    if (st == FF_OK) st = ff_h5_len(f, r->cfg.connectome, "/connections/indptr", &ip);
    if (st == FF_OK && ip != r->n_global + 1)
      st = FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr has %lld entries for %lld neurons (expected %lld)",
                    r->cfg.connectome, (long long)ip, (long long)r->n_global, (long long)r->n_global + 1);
    if (st == FF_OK && !ff_h5_exists(f, "/neuropils/names"))
      st = FF_ERROR(FF_ERR_INPUT, "'%s': /neuropils/names is missing; remake the file with flyfit-import or flyfit-synth",
                    r->cfg.connectome);
  }
  H5Fclose(f);
  if (st) return st;
  if (r->n_global <= 0 || r->n_global > INT32_MAX)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %lld neurons is outside 1..2^31-1", r->cfg.connectome, (long long)r->n_global);
  st = ff_stimulus_load(&r->cfg, &r->model, r->n_global, root_ids, r->n_steps, &r->stim);
  free(root_ids);
  if (st) return st;
  const int64_t cells = r->cfg.batch * r->n_steps * r->stim.n_state;
  if (cells > (int64_t)1 << 27)
    return FF_ERROR(FF_ERR_INPUT, "[output] state_neurons: %lld neurons x %lld steps x %lld trials is too much to record "
                                  "(limit 1.3e8 values); record fewer neurons or a shorter run",
                    (long long)r->stim.n_state, (long long)r->n_steps, (long long)r->cfg.batch);
  FF_TRY(make_dir(r->cfg.out_dir));
  return FF_OK;
}

/* Rank 0: a partition for this rank count must exist, or be made now with [run] partition = auto. */
static int check_partition(Run *r, int ranks) {
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

/* tools/flyfit-plot beside the program (bin/../tools), or $FLYFIT_PLOT; NULL when there is none. */
static const char *plot_tool(void) {
  static char path[4200];
  const char *env = getenv("FLYFIT_PLOT");
  if (env && env[0]) return access(env, R_OK) == 0 ? env : NULL;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return NULL;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return NULL;
  *slash = '\0';
  snprintf(path, sizeof path, "%s/../tools/flyfit-plot", exe);
  return access(path, R_OK) == 0 ? path : NULL;
}

/* The trained model's files for round2 and predict: the configured path, or the default in DIR. */
static int model_file(const FfConfig *cfg, const char *key, const char *value, const char *dflt, const char *needs,
                      char *path, size_t cap) {
  if (value[0]) snprintf(path, cap, "%s", value);
  else snprintf(path, cap, "%s/%s", cfg->out_dir, dflt);
  if (access(path, R_OK) != 0)
    return FF_ERROR(FF_ERR_INPUT, "[run] mode = %s needs a trained model, but %s does not exist: run %s first (or mode = "
                                  "all), or point [predict] %s at one",
                    cfg->mode == FF_MODE_ROUND2 ? "round2" : "predict", path, needs, key);
  return FF_OK;
}

/* Modes fit, round2, predict and all: every input, the trained models the mode needs included, is
 * checked before the log opens; then the stages run in order. */
static int run_fitting(Run *r, MPI_Comm comm, int threads, const char *out_log) {
  const FfConfig *cfg = &r->cfg;
  const int mode = cfg->mode;
  const int train1 = mode == FF_MODE_FIT || mode == FF_MODE_ALL;
  FfRound1Setup fs = {cfg, r->config_text, FF_VERSION, r->hosts, &r->model, &r->net, threads, comm,
                      mode == FF_MODE_FIT ? 1 : mode == FF_MODE_ALL ? 2 : 0};
  FfRound1 *r1 = NULL;
  FfRound2Result r2;
  memset(&r2, 0, sizeof r2);
  double *sim = NULL;
  char ck1[FF_CONFIG_STR + 64], ck2[FF_CONFIG_STR + 64];
  int st = ff_ranks_agree(ff_round1_prepare(&fs, &r1), comm);
  if (st == FF_OK && !train1) {
    st = ff_ranks_agree(model_file(cfg, "round1_checkpoint", cfg->round1_checkpoint, "checkpoint-best.h5", "mode = fit", ck1,
                          sizeof ck1), comm);
    if (st == FF_OK) st = ff_ranks_agree(ff_round1_load_params(r1, ck1), comm);
  }
  if (st == FF_OK && (mode == FF_MODE_PREDICT || mode == FF_MODE_ALL)) {
    const int64_t T = ff_round1_data(r1)->T, k0 = ff_round1_train_frames(r1);
    if (cfg->warmup_frames >= T - 1)
      st = FF_ERROR(FF_ERR_INPUT, "[predict] warmup_frames = %lld leaves no frame to forecast: the recordings have %lld "
                                  "frames (after trimming); set it below %lld (the test frames start at %lld)",
                    (long long)cfg->warmup_frames, (long long)T, (long long)(T - 1), (long long)k0);
    else if (cfg->warmup_frames > k0 && r->rank == 0)
      ff_warn("[predict] warmup_frames = %lld reaches into the test frames (from %lld): those before it are fed the "
              "recording, not forecast on the model's own",
              (long long)cfg->warmup_frames, (long long)k0);
    st = ff_ranks_agree(st, comm);
  }
  if (st == FF_OK && mode == FF_MODE_PREDICT) {
    st = ff_ranks_agree(model_file(cfg, "round2_checkpoint", cfg->round2_checkpoint, "gru-best.h5", "mode = round2", ck2,
                          sizeof ck2), comm);
    if (st == FF_OK) st = ff_ranks_agree(ff_round2_load(cfg, ck2, ff_round1_data(r1)->P, comm, &r2), comm);
  }
  if (st == FF_OK) st = ff_ranks_agree(ff_log_open_file(out_log), comm);
  r->started = st == FF_OK;
  double t_phase = MPI_Wtime();
  if (st == FF_OK && !train1) ff_log("round 1: the trained network of %s", ck1);
  if (st == FF_OK && mode == FF_MODE_PREDICT) ff_log("round 2: the trained GRU of %s", ck2);
  if (st == FF_OK && train1) st = ff_ranks_agree(ff_round1_run(r1), comm);
  if (train1) ff_runjson_phase("round1", MPI_Wtime() - t_phase);
  t_phase = MPI_Wtime();
  if (st == FF_OK && (mode == FF_MODE_ROUND2 || mode == FF_MODE_ALL)) {
    const double *rates = ff_round1_sim_rates(r1);
    if (rates == NULL) { /* round 2 on its own: round 1's rates over the training frames, again */
      st = ff_ranks_agree(ff_round1_simulate(r1, 0, ff_round1_train_frames(r1) - 1, &sim), comm);
      rates = sim;
    }
    const FfRound2Setup s2 = {cfg, ff_round1_data(r1), ff_round1_bins(r1), ff_round1_train_frames(r1), rates, comm};
    if (st == FF_OK) st = ff_ranks_agree(ff_round2_run(&s2, &r2), comm);
    if (st == FF_OK && mode == FF_MODE_ROUND2 && r->rank == 0) {
      const double *h = r2.epochs ? r2.hist + (r2.epochs - 1) * R2_METRICS : NULL;
      ff_log("wrote %s/gru-best.h5 (epoch %lld)", cfg->out_dir, (long long)r2.best_epoch);
      ff_summary("round2 done: epochs=%lld best_epoch=%lld train_loss=%.6g test_loss=%.6g test_bin_acc=%.6g "
                 "test_mse=%.6g\n",
                 (long long)r2.epochs, (long long)r2.best_epoch, h ? h[R2_TRAIN_LOSS] : NAN, h ? h[R2_TEST_LOSS] : NAN,
                 h ? h[R2_TEST_ACC] : NAN, h ? h[R2_TEST_MSE] : NAN);
    }
    ff_runjson_phase("round2", MPI_Wtime() - t_phase);
    t_phase = MPI_Wtime();
  }
  if (st == FF_OK && (mode == FF_MODE_PREDICT || mode == FF_MODE_ALL)) {
    const FfPredictSetup ps = {cfg, r->config_text, FF_VERSION, r->hosts, mode == FF_MODE_ALL ? "all" : "predict", r1,
                               &r2, plot_tool(), threads, comm};
    if (ps.plot_tool == NULL && cfg->figures) ff_warn("tools/flyfit-plot not found beside the program: no figures");
    st = ff_ranks_agree(ff_predict_run(&ps), comm);
    ff_runjson_phase("predict", MPI_Wtime() - t_phase);
  }
  free(sim);
  ff_round2_result_destroy(&r2);
  ff_round1_destroy(&r1);
  return st;
}

static int run_flyfit(int argc, char **argv, MPI_Comm comm, Run *r) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  r->rank = rank;
  MPI_Comm_size(comm, &size);
  double t_start = MPI_Wtime();
  r->t_start = t_start;

  /* 1. configuration, on every rank */
  ff_config_init(&r->cfg);
  int st = ff_config_load(&r->cfg, argv[1]);
  for (int a = 2; st == FF_OK && a < argc; ++a) {
    if (strcmp(argv[a], "--set") == 0 && a + 1 < argc)
      st = ff_config_set(&r->cfg, argv[++a]);
    else if (strncmp(argv[a], "--set=", 6) == 0)
      st = ff_config_set(&r->cfg, argv[a] + 6);
    else
      st = FF_ERROR(FF_ERR_USAGE, "unexpected argument '%s'\n%s", argv[a], USAGE);
  }
  if (st == FF_OK) st = ff_config_finish(&r->cfg);
  if (st == FF_OK) st = ff_model_build(&r->cfg, &r->model);
  if (st == FF_OK) st = ff_config_format(&r->cfg, &r->config_text);
  if (st == FF_OK) r->n_steps = (int64_t)floor(r->cfg.duration_ms / r->model.dt_ms + 1e-6);
  /* every rank parses the same text: no need to print it more than once */
  if (st != FF_OK) {
    if (rank == 0) ff_log_report_status(st);
    return st;
  }
  const int threads = r->cfg.threads > 0 ? (int)r->cfg.threads : ff_ranks_cores(comm);
  int device = -1; /* the GPU of this rank, for backend = cuda */
  FF_TRY(ff_ranks_agree(ff_dev_select(&r->cfg, comm, &device), comm));
  r->threads = threads;
  r->device = device;

  /* 2. inputs, checked on rank 0 */
  st = rank == 0 ? check_inputs(r) : FF_OK;
  if (st == FF_OK && rank == 0) st = check_partition(r, size);
  FF_TRY(ff_ranks_agree(st, comm));
  MPI_Bcast(&r->n_global, 1, MPI_INT64_T, 0, comm);
  FF_TRY(ff_ranks_agree(ff_stimulus_bcast(&r->stim, comm), comm));

  /* 3. this rank's share of the network */
  FF_TRY(ff_ranks_agree(ff_net_load(r->cfg.connectome, comm, &r->net), comm));
  FF_TRY(ff_ranks_agree(ff_net_find_destinations(&r->net, comm), comm));

  /* 4. everything is valid: open the log and describe the run */
  char out_log[FF_CONFIG_STR + 32], cuda[512];
  snprintf(out_log, sizeof out_log, "%s/flyfit.log", r->cfg.out_dir);
  /* the fitting modes open their log only once their own inputs have been checked too (run_fitting) */
  if (r->cfg.mode == FF_MODE_SIMULATE) {
    FF_TRY(ff_ranks_agree(ff_log_open_file(out_log), comm));
    r->started = 1;
  }
  ff_cuda_describe(cuda, sizeof cuda);
  int64_t n_in = r->net.n_in, total_in = 0;
  MPI_Reduce(&n_in, &total_in, 1, MPI_INT64_T, MPI_SUM, 0, comm);
  /* the node of every rank, for the log and results.h5 (scaling sweeps count nodes from it) */
  char host[MPI_MAX_PROCESSOR_NAME] = "", *hosts = NULL;
  int host_len = 0, n_nodes = 1;
  MPI_Get_processor_name(host, &host_len);
  if (rank == 0) FF_TRY(FF_CALLOC(hosts, (size_t)size * MPI_MAX_PROCESSOR_NAME, "host names"));
  MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, comm);
  if (rank == 0) { /* "a,a,b,b": one name per rank; count the distinct ones */
    char *list = r->hosts = malloc((size_t)size * (MPI_MAX_PROCESSOR_NAME + 1) + 1);
    if (list == NULL) FF_TRY(FF_ERROR(FF_ERR_NOMEM, "out of memory listing hosts"));
    size_t len = 0;
    for (int q = 0; q < size; ++q) {
      const char *h = hosts + (size_t)q * MPI_MAX_PROCESSOR_NAME;
      int seen = 0;
      for (int p = 0; p < q && !seen; ++p) seen = !strcmp(h, hosts + (size_t)p * MPI_MAX_PROCESSOR_NAME);
      n_nodes += q > 0 && !seen;
      len += (size_t)sprintf(list + len, "%s%s", q ? "," : "", h);
    }
    free(hosts);
  }
  r->n_nodes = n_nodes;
  static const char *const BACKENDS[] = {"cpu", "cuda", "emulate"};
  ff_log("flyfit %s: %d rank%s x %d thread%s on %d node%s, backend %s%s; %s", FF_VERSION, size, size == 1 ? "" : "s",
         threads, threads == 1 ? "" : "s", n_nodes, n_nodes == 1 ? "" : "s", BACKENDS[r->cfg.backend],
         r->cfg.transport == FF_TRANSPORT_NCCL ? " (spikes by NCCL)" : "", cuda);
  ff_log("connectome %s: %lld neurons, %lld connections", r->cfg.connectome, (long long)r->n_global,
         (long long)total_in);
  if (r->cfg.mode != FF_MODE_SIMULATE) {
    ff_log("preset %s: dt %g ms, delay %d steps, refractory %d steps", ff_preset_name(r->cfg.preset), r->model.dt_ms,
           r->model.delay_steps, r->model.ref_steps);
    ff_log_file_only("effective configuration:\n%s", r->config_text);
    omp_set_num_threads(threads);
    return run_fitting(r, comm, threads, out_log);
  }
  ff_log("preset %s: dt %g ms, delay %d steps, refractory %d steps (%d for driven neurons), %lld steps x %lld trial%s",
         ff_preset_name(r->cfg.preset), r->model.dt_ms, r->model.delay_steps, r->model.ref_steps,
         r->model.ref_steps_driven, (long long)r->n_steps, (long long)r->cfg.batch, r->cfg.batch == 1 ? "" : "s");
  ff_log("stimulus: %lld Poisson neurons at %g Hz (%g mV), %lld file input spikes, %lld silenced",
         (long long)r->stim.n_poisson, r->cfg.poisson_rate_hz, r->cfg.poisson_weight_mV, (long long)r->stim.n_file,
         (long long)r->stim.n_silence);
  if (r->stim.n_file_late)
    ff_warn("%lld input spikes of %s fall after the end of the run and are ignored", (long long)r->stim.n_file_late,
            r->cfg.spikes_file);
  ff_log_file_only("effective configuration:\n%s", r->config_text);

  /* 5. simulate */
  omp_set_num_threads(threads);
  FfSimSetup setup = {&r->model, &r->net, &r->stim, r->n_steps, (int32_t)r->cfg.batch, (uint64_t)r->cfg.seed,
                      threads, r->cfg.progress_s, r->cfg.exchange, comm, r->cfg.transport, device};
  const FfBackend *backend = ff_backend_find(r->cfg.backend);
  MPI_Barrier(comm);
  double t_sim = MPI_Wtime();
  FF_TRY(ff_ranks_agree(ff_sim_run(backend, &setup, comm, &r->out), comm));
  double t_end = MPI_Wtime();
  ff_runjson_phase("setup", t_sim - t_start);
  ff_runjson_phase("simulate", t_end - t_sim);

  int64_t stats[3] = {r->out.spikes, r->out.events, r->out.words_sent}, tot[3];
  MPI_Reduce(stats, tot, 3, MPI_INT64_T, MPI_SUM, 0, comm);
  const double sim_s = (double)r->n_steps * r->model.dt_ms * 1e-3;
  ff_log("simulated %.6g s x %lld trial%s in %.3f s wall: %.4g s per simulated second; setup %.2f s", sim_s,
         (long long)r->cfg.batch, r->cfg.batch == 1 ? "" : "s", t_end - t_sim, (t_end - t_sim) / sim_s,
         t_sim - t_start);
  ff_log("spikes %lld (mean %.4g Hz per neuron), synaptic events %lld; %.3g MB sent between ranks (%.3g kB per window)",
         (long long)tot[0], (double)tot[0] / ((double)r->n_global * sim_s * (double)r->cfg.batch), (long long)tot[1],
         (double)tot[2] * 8e-6, r->out.windows ? (double)tot[2] * 8e-3 / (double)r->out.windows : 0.0);
  if (rank == 0)
    ff_runjson_metrics("simulate done: spikes=%lld synaptic_events=%lld mean_rate_hz=%.6g "
                       "wall_s_per_simulated_s=%.6g words_sent=%lld\n",
                       (long long)tot[0], (long long)tot[1],
                       (double)tot[0] / ((double)r->n_global * sim_s * (double)r->cfg.batch), (t_end - t_sim) / sim_s,
                       (long long)tot[2]);
  ff_log("rank 0: set-up %.3f s, compute %.3f s, pack %.3f s, MPI %.3f s, unpack %.3f s", r->out.create_s,
         r->out.compute_s, r->out.pack_s, r->out.comm_s, r->out.unpack_s);

  double *rss_all = NULL;
  FF_TRY(ff_peak_memory(comm, 1, &rss_all));

  /* 6. results */
  FfRunInfo info = {&r->cfg, r->config_text, FF_VERSION, &setup, size, t_sim - t_start, t_end - t_sim, rss_all,
                    r->hosts};
  st = ff_ranks_agree(ff_results_write(&info, &r->out, comm), comm);
  free(rss_all);
  if (st) return st;
  ff_log("wrote %s/results.h5%s", r->cfg.out_dir, r->cfg.spikes_txt ? " and spikes.txt" : "");
  return FF_OK;
}

/* Collective: run.json in the output directory (runjson.h), for a finished or stopped run. */
static void write_run_json(const Run *r, int status, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  double *rss_all = NULL;
  if (ff_peak_memory(comm, 0, &rss_all) != FF_OK) return;
  int *dev = rank == 0 ? calloc((size_t)size, sizeof *dev) : NULL;
  MPI_Gather(&r->device, 1, MPI_INT, dev, 1, MPI_INT, 0, comm);
  if (rank == 0 && rss_all && dev) {
    static const char *const MODES[] = {"simulate", "fit", "round2", "predict", "all"};
    static const char *const BACKENDS[] = {"cpu", "cuda", "emulate"};
    const int m = r->cfg.mode;
    const FfRunJson j = {r->cfg.out_dir, FF_VERSION, r->config_text ? r->config_text : "",
                         m >= 0 && m < 5 ? MODES[m] : "?", BACKENDS[r->cfg.backend],
                         r->cfg.transport == FF_TRANSPORT_NCCL ? "nccl" : "mpi", r->hosts, status, size, r->threads,
                         r->n_nodes, dev, rss_all, MPI_Wtime() - r->t_start};
    if (ff_runjson_write(&j) != FF_OK) ff_warn("%s", ff_error_message());
  }
  free(rss_all);
  free(dev);
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs(USAGE, stdout);
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "--help-config")) {
    ff_config_print_help(stdout, argc >= 3 && !strcmp(argv[2], "markdown"));
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "--version")) {
    char cuda[512];
    ff_cuda_describe(cuda, sizeof cuda);
    printf("flyfit %s (%s)\n", FF_VERSION, cuda);
    return 0;
  }
  if (argc < 2 || argv[1][0] == '-') {
    fputs(USAGE, stderr);
    return FF_ERR_USAGE;
  }
  int provided, rank, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  ff_log_init("flyfit", rank, size);
  ff_signals_install();
  ff_h5_init();
  Run r;
  memset(&r, 0, sizeof r);
  int st = run_flyfit(argc, argv, MPI_COMM_WORLD, &r);
  /* a failed run leaves the earlier run.json alone, like every other output */
  if (r.started && (st == FF_OK || st == FF_STOPPED)) write_run_json(&r, st, MPI_COMM_WORLD);
  ff_log_close_file();
  ff_sim_output_destroy(&r.out);
  ff_net_destroy(&r.net);
  ff_stimulus_destroy(&r.stim);
  ff_model_destroy(&r.model);
  free(r.config_text);
  free(r.hosts);
  MPI_Finalize();
  return st;
}
