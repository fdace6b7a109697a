/* The fitting modes (fit, round2, predict, all): every input, the trained models a mode needs
 * included, is checked before the log opens; then the stages run in order: round 1 (the spiking
 * network), round 2 (the GRU on round 1's simulated rates), prediction (the chained model). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"
#include "flyfit/log.h"
#include "flyfit/predict.h"
#include "flyfit/ranks.h"
#include "flyfit/round1.h"
#include "flyfit/round2.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"

const char *ff_run_plot_tool(void) {
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
int ff_mode_fitting(FfRun *r) {
  const MPI_Comm comm = r->comm;
  const int threads = r->threads;
  const FfConfig *cfg = &r->cfg;
  ff_log("preset %s: dt %g ms, delay %d steps, refractory %d steps", ff_preset_name(cfg->preset), r->model.dt_ms,
         r->model.delay_steps, r->model.ref_steps);
  ff_log_file_only("effective configuration:\n%s", r->config_text);
  const int mode = cfg->mode;
  const int train1 = mode == FF_MODE_FIT || mode == FF_MODE_ALL;
  FfRound1Setup fs = {cfg, r->config_text, r->version, r->hosts, &r->model, &r->net, threads, comm, r->device,
                      mode == FF_MODE_FIT ? 1 : mode == FF_MODE_ALL ? 2 : 0};
  FfRound1 *r1 = NULL;
  FfRound2Result r2, r2o; /* the chain's GRU; the GRU alone (a control) */
  memset(&r2, 0, sizeof r2);
  memset(&r2o, 0, sizeof r2o);
  int have_r2o = 0;
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
    /* the GRU alone beside it, when round 2 made one: a control, so its absence is not an error */
    char cko[FF_CONFIG_STR + 64];
    snprintf(cko, sizeof cko, "%s/%s", cfg->out_dir, FF_ROUND2_ONLY_CHECKPOINT);
    if (st == FF_OK && access(cko, R_OK) == 0) {
      st = ff_ranks_agree(ff_round2_load(cfg, cko, ff_round1_data(r1)->P, comm, &r2o), comm);
      have_r2o = st == FF_OK;
    }
  }
  if (st == FF_OK) st = ff_run_open_log(r);
  if (st == FF_OK) ff_run_phase(r, train1 ? "round1" : mode == FF_MODE_ROUND2 ? "round2" : "predict");
  double t_phase = MPI_Wtime();
  if (st == FF_OK && !train1) ff_log("round 1: the trained network of %s", ck1);
  if (st == FF_OK && mode == FF_MODE_PREDICT) ff_log("round 2: the trained GRU of %s", ck2);
  if (st == FF_OK && train1) st = ff_ranks_agree(ff_round1_run(r1), comm);
  if (train1) ff_runjson_phase("round1", MPI_Wtime() - t_phase);
  t_phase = MPI_Wtime();
  if (st == FF_OK && (mode == FF_MODE_ROUND2 || mode == FF_MODE_ALL)) {
    ff_run_phase(r, "round2");
    const double *rates = ff_round1_sim_rates(r1);
    if (rates == NULL) { /* round 2 on its own: round 1's rates over the training frames, again */
      st = ff_ranks_agree(ff_round1_simulate(r1, 0, ff_round1_train_frames(r1) - 1, &sim), comm);
      rates = sim;
    }
    const FfRound2Setup s2 = {cfg, ff_round1_data(r1), ff_round1_bins(r1), *ff_round1_split(r1), rates, comm, 0};
    if (st == FF_OK) st = ff_ranks_agree(ff_round2_run(&s2, &r2), comm);
    const FfRound2Setup so = {cfg, ff_round1_data(r1), ff_round1_bins(r1), *ff_round1_split(r1), NULL, comm, 1};
    if (st == FF_OK) st = ff_ranks_agree(ff_round2_run(&so, &r2o), comm);
    have_r2o = st == FF_OK;
    if (st == FF_OK && mode == FF_MODE_ROUND2 && r->rank == 0) {
      const double *h = r2.epochs ? r2.hist + (r2.epochs - 1) * R2_METRICS : NULL;
      ff_log("wrote %s/gru-best.h5 (epoch %lld)", cfg->out_dir, (long long)r2.best_epoch);
      const double *b = r2.best_epoch ? r2.hist + (r2.best_epoch - 1) * R2_METRICS : NULL;
      ff_summary("round2 done: epochs=%lld best_epoch=%lld train_loss=%.6g val_loss=%.6g val_bin_acc=%.6g val_mse=%.6g "
                 "test_loss=%.6g test_bin_acc=%.6g test_mse=%.6g\n",
                 (long long)r2.epochs, (long long)r2.best_epoch, h ? h[R2_TRAIN_LOSS] : NAN, b ? b[R2_VAL_LOSS] : NAN,
                 b ? b[R2_VAL_ACC] : NAN, b ? b[R2_VAL_MSE] : NAN, r2.test_loss, r2.test_acc, r2.test_mse);
    }
    ff_runjson_phase("round2", MPI_Wtime() - t_phase);
    t_phase = MPI_Wtime();
  }
  if (st == FF_OK && (mode == FF_MODE_PREDICT || mode == FF_MODE_ALL)) {
    ff_run_phase(r, "predict");
    const FfPredictSetup ps = {cfg, r->config_text, r->version, r->hosts, mode == FF_MODE_ALL ? "all" : "predict", r1,
                               &r2, have_r2o ? &r2o : NULL, ff_run_plot_tool(), threads, comm};
    if (ps.plot_tool == NULL && cfg->figures) ff_warn("tools/flyfit-plot not found beside the program: no figures");
    st = ff_ranks_agree(ff_predict_run(&ps), comm);
    ff_runjson_phase("predict", MPI_Wtime() - t_phase);
  }
  free(sim);
  ff_round2_result_destroy(&r2);
  ff_round2_result_destroy(&r2o);
  ff_round1_destroy(&r1);
  return st;
}

