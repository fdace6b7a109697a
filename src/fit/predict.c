/* Prediction with the chained model and its scores (include/flyfit/predict.h). */
#include "flyfit/predict.h"
#include "flyfit/error.h"
#include "flyfit/fit.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/runjson.h"
#include "flyfit/metrics.h"

#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PREDICT_KEY 0xC0000000u /* random input of the network during prediction, per frame */

enum { M_TRAINED, M_UNTRAINED, M_LAST, M_MEAN, N_MODELS };
static const char *const MODEL_NAMES[N_MODELS] = {"trained", "untrained", "last_frame", "mean"};

typedef struct {
  int64_t n;            /* spikes of the recorded frame, rank 0 */
  int64_t *gid;
  int32_t *step;
  int64_t frame;
} Raster;

/* Gathers every rank's recorded spikes of the last forward to rank 0. */
static int gather_raster(FfFitNet *f, MPI_Comm comm, Raster *r) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t *gid = NULL, n = 0;
  int32_t *step = NULL;
  FF_TRY(ff_fit_recorded(f, &gid, &step, &n));
  int *cnt = NULL, *dsp = NULL, mine = (int)n;
  if (rank == 0) {
    FF_TRY(FF_MALLOC(cnt, size, "raster counts"));
    FF_TRY(FF_MALLOC(dsp, size, "raster offsets"));
  }
  MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, comm);
  int64_t total = 0;
  if (rank == 0) {
    for (int q = 0; q < size; ++q) {
      dsp[q] = (int)total;
      total += cnt[q];
    }
    FF_TRY(FF_MALLOC(r->gid, total > 0 ? total : 1, "raster"));
    FF_TRY(FF_MALLOC(r->step, total > 0 ? total : 1, "raster"));
    r->n = total;
  }
  MPI_Gatherv(gid, mine, MPI_INT64_T, r->gid, cnt, dsp, MPI_INT64_T, 0, comm);
  MPI_Gatherv(step, mine, MPI_INT32_T, r->step, cnt, dsp, MPI_INT32_T, 0, comm);
  free(gid);
  free(step);
  free(cnt);
  free(dsp);
  return FF_OK;
}

/* One forecast of the whole recording by the chain of gru and the network f as they are now.
 * pred: [T x P], frame 0 NaN. With raster, the spikes of the first frame the network simulates. */
static int chain(const FfPredictSetup *s, FfGru *gru, const char *what, double *pred, Raster *raster) {
  const FfFitData *d = ff_round1_data(s->r1);
  FfFitNet *f = ff_round1_net(s->r1);
  const int64_t T = d->T, P = d->P;
  const int64_t W = s->cfg->warmup_frames < T - 1 ? s->cfg->warmup_frames : T - 1;
  const int32_t H = ff_gru_setup(gru)->H;
  double *h, *z;
  FF_TRY(FF_CALLOC(h, H, "GRU state"));
  FF_TRY(FF_MALLOC(z, P, "GRU input"));
  memcpy(z, d->rates, (size_t)P * sizeof *z);
  for (int64_t p = 0; p < P; ++p) pred[p] = NAN;
  FfProgress prog;
  char label[64];
  snprintf(label, sizeof label, "prediction (%s):", what);
  ff_progress_start(&prog, label, "frames", (double)(T - 1), s->cfg->progress_s);
  int st = FF_OK, recorded = 0;
  for (int64_t k = 0; st == FF_OK && k + 1 < T; ++k) {
    /* z holds frame k's rates: the GRU predicts frame k+1 */
    double *yhat = pred + (k + 1) * P;
    st = ff_gru_step(gru, 1, z, h, yhat);
    if (st != FF_OK) break;
    if (k + 1 < W) {
      memcpy(z, d->rates + (k + 1) * P, (size_t)P * sizeof *z); /* warm-up: the recording */
    } else if (k + 2 < T) {
      /* on its own: frame k as the model knows it (recorded in the warm-up, else the GRU's forecast
       * of it) drives the network, whose rates are frame k+1, the GRU's next input */
      const double *drive = k < W ? d->rates + k * P : pred + k * P;
      const uint32_t key = PREDICT_KEY | (uint32_t)(k + 1);
      const int rec = raster && !recorded;
      ff_fit_record(f, rec);
      st = ff_fit_forward(f, 1, drive, &key, 0, z);
      ff_fit_record(f, 0);
      if (st == FF_OK && rec) {
        st = gather_raster(f, s->comm, raster);
        raster->frame = k + 1;
        recorded = 1;
      }
    }
    ff_progress_update(&prog, (double)(k + 1));
  }
  free(h);
  free(z);
  return st;
}

typedef struct {
  FfScore score[N_MODELS][2]; /* [model][all, test] */
  double *pearson;            /* [N_MODELS x 2 x P] */
  double *fc_rec, *fc_pred;   /* [P x P] over the test frames, trained model */
} Scores;

static void print_table(const Scores *sc, int64_t n_test, int64_t n_all, FILE *out) {
  fprintf(out, "%-12s %33s    %33s\n", "", "test frames", "all frames");
  fprintf(out, "%-12s %8s %10s %7s %7s    %8s %10s %7s %7s\n", "forecast", "bin_acc", "mse", "r", "fc_corr", "bin_acc",
          "mse", "r", "fc_corr");
  for (int m = 0; m < N_MODELS; ++m) {
    const FfScore *t = &sc->score[m][1], *a = &sc->score[m][0];
    fprintf(out, "%-12s %8.4f %10.4g %7.3f %7.3f    %8.4f %10.4g %7.3f %7.3f\n", MODEL_NAMES[m], t->bin_acc, t->mse,
            t->mean_pearson, t->fc_corr, a->bin_acc, a->mse, a->mean_pearson, a->fc_corr);
  }
  fprintf(out, "(%lld test frames, %lld frames in all; r: mean Pearson correlation over neuropils)\n",
          (long long)n_test, (long long)n_all);
}

static int write_results(const FfPredictSetup *s, double *const fc[N_MODELS], const Scores *sc, const Raster *ras,
                         double seconds) {
  const FfConfig *cfg = s->cfg;
  const FfFitData *d = ff_round1_data(s->r1);
  const int64_t T = d->T, P = d->P;
  int size;
  MPI_Comm_size(s->comm, &size);
  char path[FF_CONFIG_STR + 64], tmp[FF_CONFIG_STR + 128];
  snprintf(path, sizeof path, "%s/results.h5", cfg->out_dir);
  hid_t f;
  FF_TRY(ff_h5_create_tmp(path, &f, tmp, sizeof tmp));
  int st = ff_results_begin(f, s->config_text, s->mode, s->version, s->hosts, size, s->threads, cfg, d->id);
  if (st == FF_OK)
    st = ff_round1_write_sections(s->r1, f, ff_round1_sim_rates(s->r1), ff_round1_test_pred(s->r1));
  if (st == FF_OK && s->r2->epochs > 0 && s->r2->hist) st = ff_round2_write_sections(s->r2, f);
#define W(call) if (st == FF_OK) st = (call)
  int64_t dims[2] = {T, P};
  W(ff_h5_write(f, "/predict/recorded", H5T_NATIVE_DOUBLE, 2, dims, d->rates));
  for (int m = 0; m < N_MODELS; ++m) {
    char name[64];
    snprintf(name, sizeof name, "/predict/%s", MODEL_NAMES[m]);
    W(ff_h5_write(f, name, H5T_NATIVE_DOUBLE, 2, dims, fc[m]));
    for (int scope = 0; scope < 2; ++scope) {
      char g[96];
      snprintf(g, sizeof g, "/predict/metrics/%s/%s/pearson", MODEL_NAMES[m], scope ? "test" : "all");
      const int64_t np = P;
      W(ff_h5_write(f, g, H5T_NATIVE_DOUBLE, 1, &np, sc->pearson + ((int64_t)m * 2 + scope) * P));
      if (st != FF_OK) break;
      *strrchr(g, '/') = '\0';
      hid_t gr = H5Gopen2(f, g, H5P_DEFAULT);
      const FfScore *x = &sc->score[m][scope];
      W(ff_h5_write_attr_double(gr, "bin_acc", x->bin_acc));
      W(ff_h5_write_attr_double(gr, "mse", x->mse));
      W(ff_h5_write_attr_double(gr, "mean_pearson", x->mean_pearson));
      W(ff_h5_write_attr_double(gr, "fc_corr", x->fc_corr));
      W(ff_h5_write_attr_int(gr, "frames", x->frames));
      H5Gclose(gr);
    }
  }
  dims[0] = P;
  W(ff_h5_write(f, "/predict/fc/recorded", H5T_NATIVE_DOUBLE, 2, dims, sc->fc_rec));
  W(ff_h5_write(f, "/predict/fc/trained", H5T_NATIVE_DOUBLE, 2, dims, sc->fc_pred));
  W(ff_h5_write(f, "/predict/raster/neuron", H5T_NATIVE_INT64, 1, &ras->n, ras->gid));
  W(ff_h5_write(f, "/predict/raster/step", H5T_NATIVE_INT32, 1, &ras->n, ras->step));
  if (st == FF_OK) {
    hid_t g = H5Gopen2(f, "/predict/raster", H5P_DEFAULT);
    W(ff_h5_write_attr_double(g, "dt_ms", cfg->dt_ms));
    W(ff_h5_write_attr_int(g, "frame", ras->frame));
    H5Gclose(g);
    g = H5Gopen2(f, "/predict", H5P_DEFAULT);
    W(ff_h5_write_attr_int(g, "warmup_frames", cfg->warmup_frames < T - 1 ? cfg->warmup_frames : T - 1));
    W(ff_h5_write_attr_int(g, "test_start", ff_round1_train_frames(s->r1)));
    W(ff_h5_write_attr_int(g, "frames", T));
    W(ff_h5_write_attr_double(g, "seconds", seconds));
    W(ff_h5_write_attr_string(g, "about", "trained/untrained: the chained model's forecast of each frame (NaN: none); "
                                          "last_frame: the recorded previous frame; mean: the training frames' mean"));
    H5Gclose(g);
  }
#undef W
  if (st != FF_OK) {
    ff_h5_abandon(f, tmp);
    return st;
  }
  return ff_h5_commit(f, tmp, path);
}

/* tools/flyfit-plot results.h5 -o DIR/figures, on rank 0; a failure is a warning, not an error. */
static void figures(const FfPredictSetup *s) {
  char res[FF_CONFIG_STR + 64], dir[FF_CONFIG_STR + 64];
  snprintf(res, sizeof res, "%s/results.h5", s->cfg->out_dir);
  snprintf(dir, sizeof dir, "%s/figures", s->cfg->out_dir);
  char *argv[] = {"/usr/bin/python3", (char *)s->plot_tool, res, "-o", dir, "--quiet", NULL}; /* a fit has no /spikes */
  pid_t pid;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
    ff_warn("could not start %s %s: no figures", argv[0], s->plot_tool);
    return;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ff_log("figures in %s", dir);
  else ff_warn("%s exited with status %d: the figures in %s may be missing", s->plot_tool, WEXITSTATUS(status), dir);
}

int ff_predict_run(const FfPredictSetup *s) {
  int rank;
  MPI_Comm_rank(s->comm, &rank);
  const FfFitData *d = ff_round1_data(s->r1);
  const FfBins *bins = ff_round1_bins(s->r1);
  const int64_t T = d->T, P = d->P, n_train = ff_round1_train_frames(s->r1);
  const double t0 = ff_wall_seconds();
  double *fc[N_MODELS] = {NULL, NULL, NULL, NULL};
  Scores sc;
  memset(&sc, 0, sizeof sc);
  Raster ras;
  memset(&ras, 0, sizeof ras);
  FfGru *untrained = NULL;
  double *mean = NULL;
  int st = FF_OK;
  for (int m = 0; m < N_MODELS && st == FF_OK; ++m) st = FF_MALLOC(fc[m], T * P, "forecasts");
  if (st == FF_OK) st = FF_CALLOC(mean, P, "mean rates");
  ff_log("prediction: %lld frames, the first %lld fed with the recording, then on its own; test frames from %lld",
         (long long)T, (long long)(s->cfg->warmup_frames < T - 1 ? s->cfg->warmup_frames : T - 1), (long long)n_train);
  /* the trained chain (the network holds the trained parameters), then the untrained one */
  if (st == FF_OK) st = chain(s, s->r2->gru, "trained", fc[M_TRAINED], &ras);
  if (st == FF_OK) st = ff_fit_reset_params(ff_round1_net(s->r1));
  if (st == FF_OK) {
    for (int64_t t = 0; t < n_train; ++t)
      for (int64_t p = 0; p < P; ++p) mean[p] += d->rates[t * P + p] / (double)n_train;
    st = ff_round2_untrained(s->cfg, (int32_t)P, mean, &untrained);
  }
  if (st == FF_OK) st = chain(s, untrained, "untrained", fc[M_UNTRAINED], NULL);
  if (st == FF_OK) {
    ff_forecast_last_frame(d->rates, T, (int32_t)P, fc[M_LAST]);
    ff_forecast_mean(d->rates, T, (int32_t)P, n_train, fc[M_MEAN]);
    st = FF_MALLOC(sc.pearson, N_MODELS * 2 * P, "correlations");
  }
  if (st == FF_OK) st = FF_MALLOC(sc.fc_rec, P * P, "FC matrix");
  if (st == FF_OK) st = FF_MALLOC(sc.fc_pred, P * P, "FC matrix");
  for (int m = 0; m < N_MODELS && st == FF_OK; ++m)
    for (int scope = 0; scope < 2 && st == FF_OK; ++scope)
      st = ff_score(fc[m], d->rates, T, (int32_t)P, scope ? n_train : 1, T, bins, &sc.score[m][scope],
                    sc.pearson + ((int64_t)m * 2 + scope) * P, m == M_TRAINED && scope ? sc.fc_pred : NULL,
                    m == M_TRAINED && scope ? sc.fc_rec : NULL);
  const double seconds = ff_wall_seconds() - t0;
  if (st == FF_OK && rank == 0) st = write_results(s, fc, &sc, &ras, seconds);
  MPI_Bcast(&st, 1, MPI_INT, 0, s->comm);
  if (st == FF_OK && rank == 0) {
    ff_log("wrote %s/results.h5 (prediction %.1f s)", s->cfg->out_dir, seconds);
    if (s->plot_tool && s->cfg->figures) figures(s);
    print_table(&sc, T - n_train, T - 1, stdout);
    const FfScore *tr = &sc.score[M_TRAINED][1], *un = &sc.score[M_UNTRAINED][1], *la = &sc.score[M_LAST][1],
                  *me = &sc.score[M_MEAN][1];
    ff_summary("predict done: test_bin_acc=%.6g test_mse=%.6g test_pearson=%.6g test_fc_corr=%.6g untrained_test_bin_acc=%.6g "
           "untrained_test_mse=%.6g last_frame_test_bin_acc=%.6g last_frame_test_mse=%.6g mean_test_bin_acc=%.6g "
           "mean_test_mse=%.6g all_bin_acc=%.6g all_mse=%.6g\n",
           tr->bin_acc, tr->mse, tr->mean_pearson, tr->fc_corr, un->bin_acc, un->mse, la->bin_acc, la->mse, me->bin_acc,
           me->mse, sc.score[M_TRAINED][0].bin_acc, sc.score[M_TRAINED][0].mse);
  }
  ff_gru_destroy(&untrained);
  for (int m = 0; m < N_MODELS; ++m) free(fc[m]);
  free(mean);
  free(sc.pearson);
  free(sc.fc_rec);
  free(sc.fc_pred);
  free(ras.gid);
  free(ras.step);
  if (st != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return st;
}
