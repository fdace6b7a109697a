/* [run] mode = cells (cells.h, docs/design.md §2.10): functional connectivity of the recorded cells of [data]
 * recording. Every rank deconvolves every cell (cheap); cell i's driven neuron runs on rank i mod ranks and the
 * spike trains are shared (exact copies); the synapses onto cell j learn on rank j mod ranks and rank 0 gathers
 * the columns. The baselines, the ROC curves and the E/I classifier run on rank 0 alone. So the results are the
 * same, bit for bit, on any rank count; the one floating sum across ranks (the mean learned weight) is exact.
 * Output: DIR/results.h5 (/cells), the log, run.json and the last line "cells done: auc_stdp=.. ...". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/plot.h"
#include "flyfit/ranks.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"


enum { N_METHODS = 4, N_FEATURES = 5 };
static const char *const METHODS[N_METHODS] = {"stdp", "corr", "partial", "xcorr"};
static const char *const FEATURES[N_FEATURES] = {"log_rate", "mean_out_w", "sd_out_w", "mean_in_w", "fano_1s"};

/* Every (cell, pass) spike train on every rank: train (i, q) is times + off[i × passes + q], len[...] spikes. */
typedef struct {
  int64_t *off, *len; /* [n × passes] */
  double *times;      /* ms */
} Trains;

static void trains_destroy(Trains *t) {
  FF_FREE(t->off);
  FF_FREE(t->len);
  FF_FREE(t->times);
}

/* Collective. Rank r drives cells r, r + size, ...; the trains are then gathered on every rank. */
static int drive_all(const FfRun *r, const FfCellsRecording *rec, const int32_t *counts, const FfCellsParams *p,
                     Trains *tr) {
  const int64_t n = rec->n_cells, P = p->passes, mine = (n - r->rank + r->size - 1) / r->size;
  int64_t *mylen = NULL, total = 0, have = 0, cap = 1024;
  double *mytimes = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_CALLOC(mylen, mine * P + 1, "spike counts of this rank's cells");
  FF_CALL(st, FF_MALLOC(mytimes, cap, "this rank's spike trains"));
  FF_CALL(st, FF_CALLOC(tr->len, n * P, "spike counts"));
  FF_CALL(st, FF_CALLOC(tr->off, n * P, "spike train offsets"));
  FF_CALL(st, FF_MALLOC(rc, r->size, "gather counts"));
  FF_CALL(st, FF_MALLOC(rd, r->size, "gather offsets"));
  FfProgress prog;
  if (r->rank == 0) ff_progress_start(&prog, "cells: drove", "cells", (double)((n + r->size - 1) / r->size), r->cfg.progress_s);
  int64_t k = 0;
  for (int64_t i = r->rank; st == FF_OK && i < n; i += r->size, ++k) {
    const int exc = r->cfg.cells_types == 1 ? rec->excitatory[i] : 1;
    for (int64_t q = 0; st == FF_OK && q < P; ++q) {
      double *t = NULL;
      int64_t m = 0;
      st = ff_cells_drive(counts, rec->n_frames, rec->fs_hz, i, exc, q, p, &t, &m);
      if (st == FF_OK && have + m > cap) {
        cap = 2 * (have + m);
        st = FF_REALLOC(mytimes, cap, "this rank's spike trains");
      }
      if (st == FF_OK) {
        memcpy(mytimes + have, t, sizeof(double) * (size_t)m);
        have += m;
        mylen[k * P + q] = m;
      }
      free(t);
    }
    if (r->rank == 0) ff_progress_update(&prog, (double)(k + 1));
  }
  st = ff_ranks_agree(st, r->comm);
  /* the counts first: rank q holds cells q, q + size, ... */
  int64_t *all_len = NULL;
  FF_CALL(st, FF_MALLOC(all_len, n * P, "gathered spike counts"));
  for (int q = 0, o = 0; st == FF_OK && q < r->size; ++q) {
    rc[q] = (int)(((n - q + r->size - 1) / r->size) * P);
    rd[q] = o;
    o += rc[q];
  }
  FF_CALL(st, FF_MPI(MPI_Allgatherv(mylen, (int)(mine * P), MPI_INT64_T, all_len, rc, rd, MPI_INT64_T, r->comm)));
  for (int q = 0; st == FF_OK && q < r->size; ++q)
    for (int64_t i = q, kk = 0; i < n; i += r->size, ++kk)
      for (int64_t pp = 0; pp < P; ++pp) tr->len[i * P + pp] = all_len[rd[q] + kk * P + pp];
  /* then the times, in the same order, and each train's offset in the gathered array */
  int64_t *per_rank = NULL;
  FF_CALL(st, FF_CALLOC(per_rank, r->size, "spikes per rank"));
  for (int q = 0; st == FF_OK && q < r->size; ++q)
    for (int64_t x = 0; x < rc[q]; ++x) per_rank[q] += all_len[rd[q] + x];
  for (int q = 0; st == FF_OK && q < r->size; ++q) total += per_rank[q];
  if (st == FF_OK && total > INT32_MAX)
    st = FF_ERROR(FF_ERR_INPUT, "%lld model spikes are too many to share in one message; use fewer passes",
                  (long long)total);
  FF_CALL(st, FF_MALLOC(tr->times, total + 1, "every spike train"));
  for (int q = 0, o = 0; st == FF_OK && q < r->size; ++q) {
    int64_t pos = o;
    for (int64_t i = q, kk = 0; i < n; i += r->size, ++kk)
      for (int64_t pp = 0; pp < P; ++pp) {
        tr->off[i * P + pp] = pos;
        pos += all_len[rd[q] + kk * P + pp];
      }
    rc[q] = (int)per_rank[q];
    rd[q] = o;
    o += rc[q];
  }
  FF_CALL(st, FF_MPI(MPI_Allgatherv(mytimes, (int)have, MPI_DOUBLE, tr->times, rc, rd, MPI_DOUBLE, r->comm)));
  free(mylen);
  free(mytimes);
  free(rc);
  free(rd);
  free(all_len);
  free(per_rank);
  return ff_ranks_agree(st, r->comm);
}

/* Collective. The learned weights of the synapses onto cells j = rank, rank + size, ..., gathered on rank 0 into
 * w [n × n] (pre-major); *mean_w on every rank, an exact sum across ranks. */
static int learn(const FfRun *r, int64_t n, const Trains *tr, const FfCellsParams *p, double *w, double *mean_w) {
  const int64_t P = p->passes, mine = (n - r->rank + r->size - 1) / r->size;
  double *cols = NULL, *all = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_MALLOC(cols, mine * n + 1, "this rank's learned columns");
  FF_CALL(st, FF_MALLOC(rc, r->size, "gather counts"));
  FF_CALL(st, FF_MALLOC(rd, r->size, "gather offsets"));
  if (r->rank == 0) FF_CALL(st, FF_MALLOC(all, n * n, "gathered columns"));
  FfProgress prog;
  if (r->rank == 0) ff_progress_start(&prog, "cells: learned", "postsynaptic cells", (double)mine, r->cfg.progress_s);
  int64_t k = 0;
  for (int64_t j = r->rank; st == FF_OK && j < n; j += r->size, ++k) {
    for (int64_t i = 0; i < n; ++i) {
      double x = p->w_init;
      for (int64_t q = 0; q < P && i != j; ++q)
        x = ff_stdp_pair(&p->stdp, tr->times + tr->off[i * P + q], tr->len[i * P + q], tr->times + tr->off[j * P + q],
                         tr->len[j * P + q], x);
      cols[k * n + i] = i == j ? 0.0 : x;
    }
    if (r->rank == 0) ff_progress_update(&prog, (double)(k + 1));
  }
  st = ff_ranks_agree(st, r->comm);
  for (int q = 0, o = 0; st == FF_OK && q < r->size; ++q) {
    rc[q] = (int)(((n - q + r->size - 1) / r->size) * n);
    rd[q] = o;
    o += rc[q];
  }
  double sum = 0;
  FF_CALL(st, ff_exact_sum(r->comm, cols, mine * n, &sum));
  *mean_w = sum / ((double)n * (double)(n - 1));
  FF_CALL(st, FF_MPI(MPI_Gatherv(cols, (int)(mine * n), MPI_DOUBLE, all, rc, rd, MPI_DOUBLE, 0, r->comm)));
  for (int q = 0; st == FF_OK && r->rank == 0 && q < r->size; ++q)
    for (int64_t j = q, kk = 0; j < n; j += r->size, ++kk)
      for (int64_t i = 0; i < n; ++i) w[i * n + j] = all[rd[q] + kk * n + i];
  free(cols);
  free(all);
  free(rc);
  free(rd);
  return ff_ranks_agree(st, r->comm);
}

/* Rank 0's results: every matrix, the truth, the ROC curves and the classifier. */
typedef struct {
  const FfRun *r;
  const FfCellsRecording *rec;
  const double *m[N_METHODS]; /* [n × n] */
  const double *rates;        /* [n] inferred spikes per s */
  const double *features;     /* [n × N_FEATURES] */
  const int8_t *pred;         /* [n] 1 = E, or NULL */
  double auc[N_METHODS];
  double *fpr[N_METHODS], *tpr[N_METHODS];
  int64_t pts[N_METHODS];
  double ei_acc, ei_majority, mean_w;
  int64_t confusion[4]; /* truth E/I x predicted E/I */
} Out;

static int write_results(hid_t f, void *ctx) {
  const Out *o = ctx;
  const int64_t n = o->rec->n_cells, nn[2] = {n, n}, fd[2] = {n, N_FEATURES}, cd[2] = {2, 2}, nf = N_FEATURES;
  const FfConfig *c = &o->r->cfg;
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-cells-results-1"),
                        FF_ATTR_STRING("recording", c->recording),
                        FF_ATTR_STRING("rule", c->cells_rule ? "nearest" : "all"),
                        FF_ATTR_INT("seed", c->seed),
                        FF_ATTR_INT("passes", c->cells_passes),
                        FF_ATTR_DOUBLE("fs_hz", o->rec->fs_hz),
                        FF_ATTR_DOUBLE("mean_w", o->mean_w),
                        FF_ATTR_DOUBLE("auc_stdp", o->auc[0]),
                        FF_ATTR_DOUBLE("auc_corr", o->auc[1]),
                        FF_ATTR_DOUBLE("auc_partial", o->auc[2]),
                        FF_ATTR_DOUBLE("auc_xcorr", o->auc[3]),
                        FF_ATTR_DOUBLE("ei_acc", o->ei_acc),
                        FF_ATTR_DOUBLE("ei_majority", o->ei_majority)};
  const FfH5Attr run[] = {FF_ATTR_STRING("mode", "cells"), FF_ATTR_STRING("version", o->r->version),
                          FF_ATTR_INT("ranks", o->r->size), FF_ATTR_STRING("config", o->r->config_text)};
  FF_TRY(ff_h5_group(f, "/cells"));
  FF_TRY(ff_h5_write_attrs(f, "/cells", a, (int)(sizeof a / sizeof a[0])));
  FF_TRY(ff_h5_group(f, "/run"));
  FF_TRY(ff_h5_write_attrs(f, "/run", run, (int)(sizeof run / sizeof run[0])));
  FF_TRY(ff_h5_write(f, "/cells/weights", H5T_NATIVE_DOUBLE, 2, nn, o->m[0]));
  FF_TRY(ff_h5_write(f, "/cells/corr", H5T_NATIVE_DOUBLE, 2, nn, o->m[1]));
  FF_TRY(ff_h5_write(f, "/cells/partial", H5T_NATIVE_DOUBLE, 2, nn, o->m[2]));
  FF_TRY(ff_h5_write(f, "/cells/xcorr", H5T_NATIVE_DOUBLE, 2, nn, o->m[3]));
  FF_TRY(ff_h5_write(f, "/cells/rates", H5T_NATIVE_DOUBLE, 1, &n, o->rates));
  FF_TRY(ff_h5_write(f, "/cells/features", H5T_NATIVE_DOUBLE, 2, fd, o->features));
  FF_TRY(ff_h5_write_strings(f, "/cells/feature_names", FEATURES, nf));
  if (o->rec->has_truth) {
    FF_TRY(ff_h5_write(f, "/cells/truth/weights", H5T_NATIVE_DOUBLE, 2, nn, o->rec->w_true));
    FF_TRY(ff_h5_write(f, "/cells/truth/excitatory", H5T_NATIVE_INT8, 1, &n, o->rec->excitatory));
    FF_TRY(ff_h5_write(f, "/cells/truth/ensemble", H5T_NATIVE_INT32, 1, &n, o->rec->ensemble));
    FF_TRY(ff_h5_write(f, "/cells/ei_predicted", H5T_NATIVE_INT8, 1, &n, o->pred));
    FF_TRY(ff_h5_write(f, "/cells/ei_confusion", H5T_NATIVE_INT64, 2, cd, o->confusion));
    for (int k = 0; k < N_METHODS; ++k) {
      char path[64];
      snprintf(path, sizeof path, "/cells/roc/%s/fpr", METHODS[k]);
      FF_TRY(ff_h5_write(f, path, H5T_NATIVE_DOUBLE, 1, &o->pts[k], o->fpr[k]));
      snprintf(path, sizeof path, "/cells/roc/%s/tpr", METHODS[k]);
      FF_TRY(ff_h5_write(f, path, H5T_NATIVE_DOUBLE, 1, &o->pts[k], o->tpr[k]));
    }
  }
  return FF_OK;
}

/* Rank 0: the firing statistics and learned-weight features of each cell, x [n × N_FEATURES] */
static void features_of(const int32_t *counts, int64_t n, int64_t T, double fs, const double *w, double *rates,
                        double *x) {
  const int64_t bin = fs >= 1 ? (int64_t)floor(fs + 0.5) : 1, nb = T / bin > 0 ? T / bin : 1;
  for (int64_t i = 0; i < n; ++i) {
    double tot = 0, s1 = 0, s2 = 0, in = 0, m_b = 0, v_b = 0;
    for (int64_t t = 0; t < T; ++t) tot += counts[i * T + t];
    for (int64_t j = 0; j < n; ++j)
      if (j != i) s1 += w[i * n + j], in += w[j * n + i];
    const double mo = s1 / (double)(n - 1);
    for (int64_t j = 0; j < n; ++j)
      if (j != i) s2 += (w[i * n + j] - mo) * (w[i * n + j] - mo);
    for (int64_t b = 0; b < nb; ++b) {
      double c = 0;
      for (int64_t t = b * bin; t < (b + 1) * bin && t < T; ++t) c += counts[i * T + t];
      m_b += c;
    }
    m_b /= (double)nb;
    for (int64_t b = 0; b < nb; ++b) {
      double c = 0;
      for (int64_t t = b * bin; t < (b + 1) * bin && t < T; ++t) c += counts[i * T + t];
      v_b += (c - m_b) * (c - m_b);
    }
    v_b /= (double)nb;
    rates[i] = tot * fs / (double)T;
    x[i * N_FEATURES + 0] = log(rates[i] + 0.01);
    x[i * N_FEATURES + 1] = mo;
    x[i * N_FEATURES + 2] = sqrt(s2 / (double)(n - 1));
    x[i * N_FEATURES + 3] = in / (double)(n - 1);
    x[i * N_FEATURES + 4] = m_b > 0 ? v_b / m_b : 0.0;
  }
}

/* Collective. The baselines into rank 0's base [3 n n] (correlation, partial correlation, cross-correlation): every
 * rank computes a block of rows of the correlation and the cross-correlation, rank 0 gathers them, then inverts for
 * the partial correlation (LAPACK, on rank 0). The same numbers on any rank count. */
static int baselines(const FfRun *r, const FfCellsParams *p, const double *s, int64_t n, int64_t T, double *base) {
  const double tb = MPI_Wtime();
  const int K = r->size;
  const int64_t i0 = n * r->rank / K, i1 = n * (r->rank + 1) / K;
  double *rows = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_MALLOC(rows, (i1 - i0) * n + 1, "this rank's rows of the baselines");
  FF_CALL(st, FF_MALLOC(rc, K, "gather counts"));
  FF_CALL(st, FF_MALLOC(rd, K, "gather offsets"));
  for (int k = 0; st == FF_OK && k < K; ++k) {
    const int64_t a = n * k / K, b = n * (k + 1) / K;
    if ((b - a) * n > INT32_MAX || a * n > INT32_MAX)
      st = FF_ERROR(FF_ERR_UNSUPPORTED, "%lld cells: a rank's rows of the baselines pass 2^31 numbers; use more ranks",
                    (long long)n);
    rc[k] = (int)((b - a) * n);
    rd[k] = (int)(a * n);
  }
  for (int q = 0; q < 2; ++q) { /* the correlation into base, the cross-correlation into base + 2 n n */
    if (st == FF_OK)
      st = q == 0 ? ff_cells_corr_rows(s, n, T, i0, i1, rows) : ff_cells_xcorr_rows(s, n, T, p->xcorr_lag, i0, i1, rows);
    st = ff_ranks_agree(st, r->comm);
    FF_CALL(st, FF_MPI(MPI_Gatherv(rows, (int)((i1 - i0) * n), MPI_DOUBLE, r->rank == 0 ? base + 2 * q * n * n : NULL,
                                   rc, rd, MPI_DOUBLE, 0, r->comm)));
  }
  if (st == FF_OK && r->rank == 0) st = ff_cells_partial(s, n, T, p->partial_ridge, base + n * n);
  if (st == FF_OK)
    ff_log("cells: baselines (correlation, partial correlation, cross-correlation) in %.2f s, rows over %d rank%s",
           MPI_Wtime() - tb, K, K == 1 ? "" : "s");
  free(rows);
  free(rc);
  free(rd);
  return ff_ranks_root_status(st, r->comm, "compute the baselines");
}

/* The stored ROC curve: at most ROC_POINTS points, evenly spaced along it and ending at its last (the AUC is computed
 * from every pair first); a 10,000-cell run has 1e8 pairs, whose full curves would fill 6 GB of results.h5 (and of
 * rank 0's memory: one method's whole curve is held at a time). */
enum { ROC_POINTS = 10001 };
static void roc_thin(double *fpr, double *tpr, int64_t *pts) {
  const int64_t m = *pts;
  if (m <= ROC_POINTS) return;
  for (int64_t k = 0; k < ROC_POINTS; ++k) {
    const int64_t q = k * (m - 1) / (ROC_POINTS - 1);
    fpr[k] = fpr[q];
    tpr[k] = tpr[q];
  }
  *pts = ROC_POINTS;
}

/* Rank 0: AUCs, classifier, results.h5 and the summary line, from the baselines in base [3 n n]. */
static int finish(const FfRun *r, const FfCellsRecording *rec, const FfCellsParams *p, const double *base,
                  const int32_t *counts, const double *w, double mean_w, double t0) {
  const int64_t n = rec->n_cells, T = rec->n_frames, pairs = n * (n - 1);
  double *rates = NULL, *x = NULL, *score = NULL, *fpr = NULL, *tpr = NULL; /* fpr, tpr: one method's whole curve */
  int8_t *label = NULL, *pred = NULL;
  Out o;
  memset(&o, 0, sizeof o);
  const int64_t kept = pairs + 1 < ROC_POINTS ? pairs + 1 : ROC_POINTS;
  int st = FF_MALLOC(rates, n, "rates");
  FF_CALL(st, FF_MALLOC(x, n * N_FEATURES, "features"));
  FF_CALL(st, FF_MALLOC(score, pairs, "pair scores"));
  FF_CALL(st, FF_MALLOC(label, pairs, "pair labels"));
  FF_CALL(st, FF_CALLOC(pred, n, "E/I predictions"));
  if (rec->has_truth) {
    FF_CALL(st, FF_MALLOC(fpr, pairs + 1, "ROC"));
    FF_CALL(st, FF_MALLOC(tpr, pairs + 1, "ROC"));
  }
  for (int k = 0; st == FF_OK && k < N_METHODS; ++k) {
    FF_CALL(st, FF_MALLOC(o.fpr[k], kept, "ROC"));
    FF_CALL(st, FF_MALLOC(o.tpr[k], kept, "ROC"));
  }
  o.r = r;
  o.rec = rec;
  o.m[0] = w;
  for (int k = 1; k < N_METHODS; ++k) o.m[k] = base + (k - 1) * n * n;
  o.rates = rates;
  o.features = x;
  o.mean_w = mean_w;
  for (int k = 0; k < N_METHODS; ++k) o.auc[k] = NAN;
  o.ei_acc = o.ei_majority = NAN;
  if (st == FF_OK) features_of(counts, n, T, rec->fs_hz, w, rates, x);
  if (st == FF_OK && rec->has_truth) {
    for (int k = 0; k < N_METHODS; ++k) {
      int64_t q = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          if (i != j) {
            score[q] = o.m[k][i * n + j];
            label[q++] = rec->w_true[i * n + j] != 0;
          }
      o.auc[k] = ff_cells_auc(score, label, pairs, fpr, tpr, &o.pts[k]);
      roc_thin(fpr, tpr, &o.pts[k]);
      memcpy(o.fpr[k], fpr, (size_t)o.pts[k] * sizeof *fpr);
      memcpy(o.tpr[k], tpr, (size_t)o.pts[k] * sizeof *tpr);
    }
    st = ff_cells_logreg_cv(x, n, N_FEATURES, rec->excitatory, p->folds, p->seed, pred);
    int64_t right = 0, n_e = 0;
    for (int64_t i = 0; st == FF_OK && i < n; ++i) {
      right += pred[i] == rec->excitatory[i];
      n_e += rec->excitatory[i];
      ++o.confusion[(rec->excitatory[i] ? 0 : 2) + (pred[i] ? 0 : 1)];
    }
    o.pred = pred;
    o.ei_acc = (double)right / (double)n;
    o.ei_majority = (double)(n_e > n - n_e ? n_e : n - n_e) / (double)n;
  }
  if (st == FF_OK) {
    char path[FF_CONFIG_STR + 32];
    snprintf(path, sizeof path, "%s/results.h5", r->cfg.out_dir);
    st = ff_h5_write_atomic(path, write_results, &o);
  }
  if (st == FF_OK) {
    double best = o.auc[1];
    for (int k = 2; k < N_METHODS; ++k) best = o.auc[k] > best ? o.auc[k] : best;
    if (rec->has_truth) {
      ff_log("cells: AUC of a connection: stdp %.4f, correlation %.4f, partial correlation %.4f, cross-correlation "
             "%.4f", o.auc[0], o.auc[1], o.auc[2], o.auc[3]);
      ff_log("cells: E/I by logistic regression, %lld-fold: accuracy %.4f (majority %.4f); truth E: %lld E, %lld I; "
             "truth I: %lld E, %lld I",
             (long long)p->folds, o.ei_acc, o.ei_majority, (long long)o.confusion[0], (long long)o.confusion[1],
             (long long)o.confusion[2], (long long)o.confusion[3]);
    } else {
      ff_log("cells: the recording has no /truth: connectivity and features written, nothing scored");
    }
    if (r->cfg.figures) ff_plot_draw(ff_run_plot_tool(), r->cfg.out_dir);
    ff_runjson_phase("cells", MPI_Wtime() - t0);
    ff_runjson_metrics("cells done: mean_w=%.17g", mean_w); /* the summary line's pairs go there too */
    ff_summary("cells done: auc_stdp=%.4f auc_corr=%.4f auc_partial=%.4f auc_xcorr=%.4f auc_best_baseline=%.4f "
               "ei_acc=%.4f ei_majority=%.4f\n",
               o.auc[0], o.auc[1], o.auc[2], o.auc[3], best, o.ei_acc, o.ei_majority);
  }
  for (int k = 0; k < N_METHODS; ++k) {
    free(o.fpr[k]);
    free(o.tpr[k]);
  }
  free(rates);
  free(x);
  free(score);
  free(label);
  free(pred);
  free(fpr);
  free(tpr);
  return st;
}

int ff_mode_cells(FfRun *r) {
  const FfConfig *c = &r->cfg;
  FfCellsParams p;
  ff_cells_params_from_config(c, &p);
  FfCellsRecording rec;
  memset(&rec, 0, sizeof rec);
  /* 1. inputs, on every rank (the same checks give the same status; one rank reports) */
  int st = ff_cells_recording_read(c->recording, p.calcium_tau_s, &rec);
  if (st) ff_error_prefix("[data] recording: ");
  if (st == FF_OK && c->cells_types == 1 && !rec.has_truth)
    st = FF_ERROR(FF_ERR_INPUT, "[cells] types = truth needs the recording's /truth, which '%s' lacks; use types = rs",
                  c->recording);
  if (st == FF_OK && p.highpass_hz > 0 && !(p.highpass_hz < rec.fs_hz / 2))
    st = FF_ERROR(FF_ERR_INPUT, "[cells] highpass_hz = %g must be below half the frame rate (%g Hz) of '%s'",
                  p.highpass_hz, rec.fs_hz, c->recording);
  if (st == FF_OK && p.folds > rec.n_cells)
    st = FF_ERROR(FF_ERR_INPUT, "[cells] folds = %lld exceeds the %lld cells of '%s'", (long long)p.folds,
                  (long long)rec.n_cells, c->recording);
  if (st == FF_OK && p.xcorr_lag >= rec.n_frames)
    st = FF_ERROR(FF_ERR_INPUT, "[cells] xcorr_lag = %lld must be below the %lld frames of '%s'", (long long)p.xcorr_lag,
                  (long long)rec.n_frames, c->recording);
  const int64_t n = rec.n_cells, T = rec.n_frames;
  double *s = NULL, *dff = NULL, *w = NULL;
  int32_t *counts = NULL;
  if (st == FF_OK) {
    st = FF_MALLOC(s, n * T, "deconvolved spikes");
    FF_CALL(st, FF_MALLOC(dff, n * T, "dF/F"));
    FF_CALL(st, FF_MALLOC(counts, n * T, "inferred spikes"));
    FF_CALL(st, ff_cells_deconvolve(&rec, &p, s, dff));
  }
  if (st == FF_OK && r->rank == 0) st = ff_run_make_dir(c->out_dir);
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK) st = ff_run_open_log(r);
  if (st) {
    free(s), free(dff), free(counts);
    ff_cells_recording_destroy(&rec);
    return st;
  }
  ff_run_phase(r, "cells");
  const double t0 = MPI_Wtime();
  st = ff_cells_counts(s, dff, n, T, &p, counts);
  int64_t total = 0;
  for (int64_t k = 0; k < n * T; ++k) total += counts[k];
  ff_log("cells: %lld cells, %lld frames at %g Hz (%.1f s) from %s%s; %lld inferred spikes (%.2f Hz per cell)",
         (long long)n, (long long)T, rec.fs_hz, (double)T / rec.fs_hz, c->recording, rec.has_truth ? " (planted truth)" : "",
         (long long)total, (double)total / ((double)n * (double)T / rec.fs_hz));
  ff_log("cells: STDP %s-to-all: A+ %g, A- %g, tau+ %g ms, tau- %g ms, w in [0, %g] from %g, %lld passes, %d rank%s",
         c->cells_rule ? "nearest" : "all", p.stdp.a_plus, p.stdp.a_minus, p.stdp.tau_plus_ms, p.stdp.tau_minus_ms,
         p.stdp.w_max, p.w_init, (long long)p.passes, r->size, r->size == 1 ? "" : "s");
  Trains tr;
  memset(&tr, 0, sizeof tr);
  double mean_w = 0;
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, drive_all(r, &rec, counts, &p, &tr));
  if (st == FF_OK && r->rank == 0) st = FF_MALLOC(w, n * n, "learned weights");
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, learn(r, n, &tr, &p, w, &mean_w));
  if (st == FF_OK) {
    int64_t spikes = 0;
    for (int64_t k = 0; k < n * p.passes; ++k) spikes += tr.len[k];
    ff_log("cells: %lld model spikes over %lld passes; mean learned weight %.6g (%.2f s)", (long long)spikes,
           (long long)p.passes, mean_w, MPI_Wtime() - t0);
  }
  double *base = NULL; /* rank 0: the baselines */
  if (st == FF_OK && r->rank == 0) st = FF_MALLOC(base, 3 * n * n, "baselines");
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, baselines(r, &p, s, n, T, base));
  if (st == FF_OK && r->rank == 0) st = finish(r, &rec, &p, base, counts, w, mean_w, t0);
  free(base);
  st = ff_ranks_root_status(st, r->comm, "finish the cells run");
  trains_destroy(&tr);
  free(s), free(dff), free(counts), free(w);
  ff_cells_recording_destroy(&rec);
  return st;
}
