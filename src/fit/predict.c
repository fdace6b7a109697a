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

/* Collective: all ranks of comm must call it. Gathers every rank's recorded spikes of the last
 * forward to rank 0. */
static int gather_raster(FfFitNet *f, MPI_Comm comm, Raster *r) {
  int rank, size;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  int64_t *gid = NULL, n = 0;
  int32_t *step = NULL;
  FF_TRY(ff_fit_recorded(f, &gid, &step, &n));
  int *cnt = NULL, *dsp = NULL, mine = (int)n;
  if (rank == 0) {
    FF_TRY(FF_MALLOC(cnt, size, "raster counts"));
    FF_TRY(FF_MALLOC(dsp, size, "raster offsets"));
  }
  int st = FF_MPI(MPI_Gather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, 0, comm));
  int64_t total = 0;
  if (st == FF_OK && rank == 0) {
    for (int q = 0; q < size; ++q) {
      dsp[q] = (int)total;
      total += cnt[q];
    }
    FF_TRY(FF_MALLOC(r->gid, total > 0 ? total : 1, "raster"));
    FF_TRY(FF_MALLOC(r->step, total > 0 ? total : 1, "raster"));
    r->n = total;
  }
  FF_CALL(st, FF_MPI(MPI_Gatherv(gid, mine, MPI_INT64_T, r->gid, cnt, dsp, MPI_INT64_T, 0, comm)));
  FF_CALL(st, FF_MPI(MPI_Gatherv(step, mine, MPI_INT32_T, r->step, cnt, dsp, MPI_INT32_T, 0, comm)));
  free(gid);
  free(step);
  free(cnt);
  free(dsp);
  return st;
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

typedef struct {
  const FfPredictSetup *s;
  double *const *fc; /* [N_MODELS] forecasts [T x P] */
  const Scores *sc;
  const Raster *ras;
  double seconds;
  int size;
} ResultsCtx;

/* /predict/<model> and /predict/metrics/<model>/{all, test}: each forecast and its scores. */
static int write_forecasts(hid_t f, const ResultsCtx *c, int64_t T, int64_t P) {
  const Scores *sc = c->sc;
  const int64_t dims[2] = {T, P};
  int st = FF_OK;
  for (int m = 0; m < N_MODELS && st == FF_OK; ++m) {
    char name[64];
    snprintf(name, sizeof name, "/predict/%s", MODEL_NAMES[m]);
    FF_CALL(st, ff_h5_write(f, name, H5T_NATIVE_DOUBLE, 2, dims, c->fc[m]));
    for (int scope = 0; scope < 2 && st == FF_OK; ++scope) {
      char g[96], d[112];
      snprintf(g, sizeof g, "/predict/metrics/%s/%s", MODEL_NAMES[m], scope ? "test" : "all");
      snprintf(d, sizeof d, "%s/pearson", g);
      FF_CALL(st, ff_h5_write(f, d, H5T_NATIVE_DOUBLE, 1, &P, sc->pearson + ((int64_t)m * 2 + scope) * P));
      const FfScore *x = &sc->score[m][scope];
      const FfH5Attr attrs[] = {FF_ATTR_DOUBLE("bin_acc", x->bin_acc), FF_ATTR_DOUBLE("mse", x->mse),
                                FF_ATTR_DOUBLE("mean_pearson", x->mean_pearson), FF_ATTR_DOUBLE("fc_corr", x->fc_corr),
                                FF_ATTR_INT("frames", x->frames)};
      FF_CALL(st, ff_h5_write_attrs(f, g, attrs, 5));
    }
  }
  return st;
}

static int results_body(hid_t f, void *ctx) {
  const ResultsCtx *c = ctx;
  const FfPredictSetup *s = c->s;
  const Raster *ras = c->ras;
  const FfConfig *cfg = s->cfg;
  const FfFitData *d = ff_round1_data(s->r1);
  const int64_t T = d->T, P = d->P;
  int64_t dims[2] = {T, P};
  FfRound1Results r1;
  ff_round1_results(s->r1, &r1);
  int st = ff_results_begin(f, s->config_text, s->mode, s->version, s->hosts, c->size, s->threads, cfg, d->id);
  FF_CALL(st, ff_results_write_round1(f, &r1));
  if (s->r2->epochs > 0 && s->r2->hist)
    FF_CALL(st, ff_results_write_round2(f, s->r2->hist, s->r2->epochs, R2_METRICS, FF_ROUND2_METRIC_NAMES,
                                        s->r2->best_epoch));
  FF_CALL(st, ff_h5_write(f, "/predict/recorded", H5T_NATIVE_DOUBLE, 2, dims, d->rates));
  FF_CALL(st, write_forecasts(f, c, T, P));
  dims[0] = P;
  FF_CALL(st, ff_h5_write(f, "/predict/fc/recorded", H5T_NATIVE_DOUBLE, 2, dims, c->sc->fc_rec));
  FF_CALL(st, ff_h5_write(f, "/predict/fc/trained", H5T_NATIVE_DOUBLE, 2, dims, c->sc->fc_pred));
  FF_CALL(st, ff_h5_write(f, "/predict/raster/neuron", H5T_NATIVE_INT64, 1, &ras->n, ras->gid));
  FF_CALL(st, ff_h5_write(f, "/predict/raster/step", H5T_NATIVE_INT32, 1, &ras->n, ras->step));
  const FfH5Attr raster[] = {FF_ATTR_DOUBLE("dt_ms", cfg->dt_ms), FF_ATTR_INT("frame", ras->frame)};
  FF_CALL(st, ff_h5_write_attrs(f, "/predict/raster", raster, 2));
  const FfH5Attr predict[] = {
      FF_ATTR_INT("warmup_frames", cfg->warmup_frames < T - 1 ? cfg->warmup_frames : T - 1),
      FF_ATTR_INT("test_start", ff_round1_train_frames(s->r1)), FF_ATTR_INT("frames", T),
      FF_ATTR_DOUBLE("seconds", c->seconds),
      FF_ATTR_STRING("about", "trained/untrained: the chained model's forecast of each frame (NaN: none); last_frame: "
                              "the recorded previous frame; mean: the training frames' mean")};
  FF_CALL(st, ff_h5_write_attrs(f, "/predict", predict, 5));
  return st;
}

/* Rank 0: DIR/results.h5 of a prediction: round 1's and round 2's sections, then /predict. */
static int write_results(const FfPredictSetup *s, double *const fc[N_MODELS], const Scores *sc, const Raster *ras,
                         double seconds) {
  char path[FF_CONFIG_STR + 64];
  snprintf(path, sizeof path, "%s/results.h5", s->cfg->out_dir);
  ResultsCtx c = {s, fc, sc, ras, seconds, 0};
  FF_TRY(FF_MPI(MPI_Comm_size(s->comm, &c.size)));
  return ff_h5_write_atomic(path, results_body, &c);
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

/* Collective. The four forecasts fc[N_MODELS] [T x P]: the trained chain (the network holds the
 * trained parameters; its first simulated frame's spikes into ras), then the untrained one, and the
 * two naive ones. */
static int forecasts(const FfPredictSetup *s, double *const fc[N_MODELS], Raster *ras) {
  const FfFitData *d = ff_round1_data(s->r1);
  const int64_t T = d->T, P = d->P, n_train = ff_round1_train_frames(s->r1);
  FfGru *untrained = NULL;
  double *mean = NULL;
  int st = FF_CALLOC(mean, P, "mean rates");
  FF_CALL(st, chain(s, s->r2->gru, "trained", fc[M_TRAINED], ras));
  FF_CALL(st, ff_fit_reset_params(ff_round1_net(s->r1)));
  if (st == FF_OK)
    for (int64_t t = 0; t < n_train; ++t)
      for (int64_t p = 0; p < P; ++p) mean[p] += d->rates[t * P + p] / (double)n_train;
  FF_CALL(st, ff_round2_untrained(s->cfg, (int32_t)P, mean, &untrained));
  FF_CALL(st, chain(s, untrained, "untrained", fc[M_UNTRAINED], NULL));
  if (st == FF_OK) {
    ff_forecast_last_frame(d->rates, T, (int32_t)P, fc[M_LAST]);
    ff_forecast_mean(d->rates, T, (int32_t)P, n_train, fc[M_MEAN]);
  }
  ff_gru_destroy(&untrained);
  free(mean);
  return st;
}

/* Every forecast's scores over all frames and over the test frames, with the trained one's FC
 * matrices. */
static int score_all(const FfPredictSetup *s, double *const fc[N_MODELS], Scores *sc) {
  const FfFitData *d = ff_round1_data(s->r1);
  const int64_t T = d->T, P = d->P, n_train = ff_round1_train_frames(s->r1);
  FF_TRY(FF_MALLOC(sc->pearson, N_MODELS * 2 * P, "correlations"));
  FF_TRY(FF_MALLOC(sc->fc_rec, P * P, "FC matrix"));
  FF_TRY(FF_MALLOC(sc->fc_pred, P * P, "FC matrix"));
  for (int m = 0; m < N_MODELS; ++m)
    for (int scope = 0; scope < 2; ++scope)
      FF_TRY(ff_score(fc[m], d->rates, T, (int32_t)P, scope ? n_train : 1, T, ff_round1_bins(s->r1), &sc->score[m][scope],
                      sc->pearson + ((int64_t)m * 2 + scope) * P, m == M_TRAINED && scope ? sc->fc_pred : NULL,
                      m == M_TRAINED && scope ? sc->fc_rec : NULL));
  return FF_OK;
}

/* Rank 0: the log, the figures, the table and the summary line. */
static void report(const FfPredictSetup *s, const Scores *sc, double seconds) {
  const int64_t T = ff_round1_data(s->r1)->T, n_train = ff_round1_train_frames(s->r1);
  ff_log("wrote %s/results.h5 (prediction %.1f s)", s->cfg->out_dir, seconds);
  if (s->plot_tool && s->cfg->figures) figures(s);
  print_table(sc, T - n_train, T - 1, stdout);
  const FfScore *tr = &sc->score[M_TRAINED][1], *un = &sc->score[M_UNTRAINED][1], *la = &sc->score[M_LAST][1],
                *me = &sc->score[M_MEAN][1];
  ff_summary("predict done: test_bin_acc=%.6g test_mse=%.6g test_pearson=%.6g test_fc_corr=%.6g untrained_test_bin_acc=%.6g "
         "untrained_test_mse=%.6g last_frame_test_bin_acc=%.6g last_frame_test_mse=%.6g mean_test_bin_acc=%.6g "
         "mean_test_mse=%.6g all_bin_acc=%.6g all_mse=%.6g\n",
         tr->bin_acc, tr->mse, tr->mean_pearson, tr->fc_corr, un->bin_acc, un->mse, la->bin_acc, la->mse, me->bin_acc,
         me->mse, sc->score[M_TRAINED][0].bin_acc, sc->score[M_TRAINED][0].mse);
}

int ff_predict_run(const FfPredictSetup *s) {
  const FfFitData *d = ff_round1_data(s->r1);
  const int64_t T = d->T, P = d->P;
  const double t0 = ff_wall_seconds();
  double *fc[N_MODELS] = {NULL, NULL, NULL, NULL};
  Scores sc;
  memset(&sc, 0, sizeof sc);
  Raster ras;
  memset(&ras, 0, sizeof ras);
  int rank;
  int st = FF_MPI(MPI_Comm_rank(s->comm, &rank));
  for (int m = 0; m < N_MODELS; ++m) FF_CALL(st, FF_MALLOC(fc[m], T * P, "forecasts"));
  ff_log("prediction: %lld frames, the first %lld fed with the recording, then on its own; test frames from %lld",
         (long long)T, (long long)(s->cfg->warmup_frames < T - 1 ? s->cfg->warmup_frames : T - 1),
         (long long)ff_round1_train_frames(s->r1));
  FF_CALL(st, forecasts(s, fc, &ras));
  FF_CALL(st, score_all(s, fc, &sc));
  const double seconds = ff_wall_seconds() - t0;
  if (rank == 0) FF_CALL(st, write_results(s, fc, &sc, &ras, seconds));
  const int sent = FF_MPI(MPI_Bcast(&st, 1, MPI_INT, 0, s->comm)); /* rank 0's status is everyone's */
  if (sent != FF_OK) st = sent;
  if (st == FF_OK && rank == 0) report(s, &sc, seconds);
  for (int m = 0; m < N_MODELS; ++m) free(fc[m]);
  free(sc.pearson);
  free(sc.fc_rec);
  free(sc.fc_pred);
  free(ras.gid);
  free(ras.step);
  return st;
}
