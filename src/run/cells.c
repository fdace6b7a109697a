/* [run] mode = cells (cells.h, docs/design.md §2.10): functional connectivity of the recorded cells of [data]
 * recording. Every rank deconvolves every cell (cheap: n x frames); the cells are split in blocks over the ranks
 * (ff_net_blocks), and every n x n matrix stays split by rows, presynaptic cell i on the rank of its block: its
 * driven neuron, its outgoing synapses' STDP, its rows of the truth, of the correlation and of the cross-correlation,
 * its pairs of every ROC (ff_cells_roc_ranks counts across the ranks) and its rows of results.h5 (a parallel file).
 * The spike trains are shared (exact copies). Rank 0 alone inverts n x n for the partial correlation (up to [cells]
 * partial_max_cells; it then hands each rank its rows) and runs the E/I classifier on the gathered features. The
 * sums across ranks (the mean learned weight, each cell's incoming weights) are exact: the results are the same,
 * bit for bit, on any rank count. Output: DIR/results.h5 (/cells), the log, run.json and the last line
 * "cells done: auc_stdp=.. ...". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/atomic.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/net.h"
#include "flyfit/plot.h"
#include "flyfit/ranks.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"


enum { N_METHODS = 4, N_FEATURES = 5 };
/* The stored ROC curves: at most this many points (the AUC counts every pair); a 10,000-cell run has 1e8 pairs. */
enum { ROC_POINTS = 10001 };
static const char *const METHODS[N_METHODS] = {"stdp", "corr", "partial", "xcorr"};
static const char FEATURE_NAMES[] = "log_rate mean_out_w sd_out_w mean_in_w fano_1s"; /* the columns of x */

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

/* Collective. The cells of this rank's block drive their neurons; the trains are then gathered on every rank, in
 * cell order. */
static int drive_all(const FfRun *r, const FfNet *net, const FfCellsRecording *rec, const int32_t *counts,
                     const FfCellsParams *p, Trains *tr) {
  const int64_t n = rec->n_cells, P = p->passes, i0 = net->new_base, rows = net->n_local;
  int64_t have = 0, cap = 1024, *mylen = NULL;
  double *mytimes = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_CALLOC(mylen, rows * P + 1, "spike counts of this rank's cells");
  FF_CALL(st, FF_MALLOC(mytimes, cap, "this rank's spike trains"));
  FF_CALL(st, FF_CALLOC(tr->len, n * P, "spike counts"));
  FF_CALL(st, FF_CALLOC(tr->off, n * P, "spike train offsets"));
  FF_CALL(st, FF_MALLOC(rc, r->size, "gather counts"));
  FF_CALL(st, FF_MALLOC(rd, r->size, "gather offsets"));
  FfProgress prog;
  if (r->rank == 0) ff_progress_start(&prog, "cells: drove", "cells", (double)rows, r->cfg.progress_s);
  for (int64_t k = 0; st == FF_OK && k < rows; ++k) {
    const int64_t i = i0 + k;
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
  /* the counts, then the times in the same order (each rank's spikes follow the ranks before it) */
  FF_CALL(st, ff_net_block_counts(net, P, rc, rd));
  FF_CALL(st, FF_MPI(MPI_Allgatherv(mylen, (int)(rows * P), MPI_INT64_T, tr->len, rc, rd, MPI_INT64_T, r->comm)));
  int64_t total = 0;
  for (int q = 0; st == FF_OK && q < r->size; ++q) {
    const int64_t first = total;
    for (int64_t x = rd[q]; x < rd[q] + rc[q]; ++x) tr->off[x] = total, total += tr->len[x];
    if (total > INT32_MAX)
      st = FF_ERROR(FF_ERR_INPUT, "%lld model spikes are too many to share in one message; use fewer passes",
                    (long long)total);
    else rc[q] = (int)(total - first), rd[q] = (int)first;
  }
  FF_CALL(st, FF_MALLOC(tr->times, total + 1, "every spike train"));
  FF_CALL(st, FF_MPI(MPI_Allgatherv(mytimes, (int)have, MPI_DOUBLE, tr->times, rc, rd, MPI_DOUBLE, r->comm)));
  free(mylen);
  free(mytimes);
  free(rc);
  free(rd);
  return ff_ranks_agree(st, r->comm);
}

/* Collective. The learned weights of the synapses from this rank's cells, w [rows × n] (pre-major); *mean_w on
 * every rank, an exact sum across ranks. */
static int learn(const FfRun *r, const FfNet *net, const Trains *tr, const FfCellsParams *p, double *w,
                 double *mean_w) {
  const int64_t n = net->n_global, P = p->passes, i0 = net->new_base, rows = net->n_local;
  FfProgress prog;
  if (r->rank == 0) ff_progress_start(&prog, "cells: learned", "presynaptic cells", (double)rows, r->cfg.progress_s);
  for (int64_t k = 0; k < rows; ++k) {
    const int64_t i = i0 + k;
    for (int64_t j = 0; j < n; ++j) {
      double x = p->w_init;
      for (int64_t q = 0; q < P && i != j; ++q)
        x = ff_stdp_pair(&p->stdp, tr->times + tr->off[i * P + q], tr->len[i * P + q], tr->times + tr->off[j * P + q],
                         tr->len[j * P + q], x);
      w[k * n + j] = i == j ? 0.0 : x;
    }
    if (r->rank == 0) ff_progress_update(&prog, (double)(k + 1));
  }
  double sum = 0;
  int st = ff_exact_sum(r->comm, w, rows * n, &sum);
  *mean_w = sum / ((double)n * (double)(n - 1));
  return ff_ranks_agree(st, r->comm);
}

/* Collective. Rows of the partial correlation, part [rows × n]: rank 0 inverts the whole matrix (ff_cells_partial,
 * 2 n^2 numbers for the time) and hands every rank its rows. */
static int partial_rows(const FfRun *r, const FfNet *net, const FfCellsParams *p, const double *s, int64_t T,
                        double *part) {
  const int64_t n = net->n_global;
  double *whole = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_MALLOC(rc, r->size, "scatter counts");
  FF_CALL(st, FF_MALLOC(rd, r->size, "scatter offsets"));
  FF_CALL(st, ff_net_block_counts(net, n, rc, rd));
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK && r->rank == 0) {
    st = FF_MALLOC(whole, n * n, "the partial correlation");
    FF_CALL(st, ff_cells_partial(s, n, T, p->partial_ridge, whole));
  }
  st = ff_ranks_root_status(st, r->comm, "compute the partial correlation");
  FF_CALL(st, FF_MPI(MPI_Scatterv(whole, rc, rd, MPI_DOUBLE, part, (int)(net->n_local * n), MPI_DOUBLE, 0, r->comm)));
  free(whole);
  free(rc);
  free(rd);
  return ff_ranks_agree(st, r->comm);
}

/* Collective. The classifier's inputs of every cell, gathered on rank 0 into rates [n] and x [n × N_FEATURES]: the
 * inferred rate, the mean and sd of the cell's learned outgoing weights (its row, on its rank), the mean of its
 * incoming ones (a column: exact sums across the ranks) and the Fano factor of its counts in 1 s bins. */
static int features(const FfRun *r, const FfNet *net, const int32_t *counts, int64_t T, double fs, const double *w,
                    double *rates, double *x) {
  const int64_t n = net->n_global, i0 = net->new_base, rows = net->n_local;
  const int64_t bin = fs >= 1 ? (int64_t)floor(fs + 0.5) : 1, nb = T / bin > 0 ? T / bin : 1;
  FfExact *in = NULL, *in_all = NULL;
  double *my_rates = NULL, *my_x = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_CALLOC(in, n, "incoming weight sums");
  FF_CALL(st, FF_CALLOC(in_all, n, "incoming weight sums"));
  FF_CALL(st, FF_MALLOC(my_rates, rows + 1, "rates of this rank's cells"));
  FF_CALL(st, FF_MALLOC(my_x, rows * N_FEATURES + 1, "features of this rank's cells"));
  FF_CALL(st, FF_MALLOC(rc, r->size, "gather counts"));
  FF_CALL(st, FF_MALLOC(rd, r->size, "gather offsets"));
  for (int64_t k = 0; st == FF_OK && k < rows; ++k)
    for (int64_t j = 0; j < n; ++j)
      if (j != i0 + k) ff_exact_add(&in[j], w[k * n + j]);
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, ff_exact_reduce(in, in_all, n, r->comm));
  for (int64_t k = 0; st == FF_OK && k < rows; ++k) {
    const int64_t i = i0 + k;
    const double *wi = w + k * n;
    const int32_t *ci = counts + i * T;
    double tot = 0, s1 = 0, s2 = 0, m_b = 0, v_b = 0;
    for (int64_t t = 0; t < T; ++t) tot += ci[t];
    for (int64_t j = 0; j < n; ++j)
      if (j != i) s1 += wi[j];
    const double mo = s1 / (double)(n - 1);
    for (int64_t j = 0; j < n; ++j)
      if (j != i) s2 += (wi[j] - mo) * (wi[j] - mo);
    for (int64_t b = 0; b < nb; ++b) {
      double c = 0;
      for (int64_t t = b * bin; t < (b + 1) * bin && t < T; ++t) c += ci[t];
      m_b += c;
    }
    m_b /= (double)nb;
    for (int64_t b = 0; b < nb; ++b) {
      double c = 0;
      for (int64_t t = b * bin; t < (b + 1) * bin && t < T; ++t) c += ci[t];
      v_b += (c - m_b) * (c - m_b);
    }
    v_b /= (double)nb;
    my_rates[k] = tot * fs / (double)T;
    double *xi = my_x + k * N_FEATURES;
    xi[0] = log(my_rates[k] + 0.01);
    xi[1] = mo;
    xi[2] = sqrt(s2 / (double)(n - 1));
    xi[3] = ff_exact_value(&in_all[i]) / (double)(n - 1);
    xi[4] = m_b > 0 ? v_b / m_b : 0.0;
  }
  FF_CALL(st, ff_net_block_counts(net, 1, rc, rd));
  FF_CALL(st, FF_MPI(MPI_Gatherv(my_rates, (int)rows, MPI_DOUBLE, rates, rc, rd, MPI_DOUBLE, 0, r->comm)));
  FF_CALL(st, ff_net_block_counts(net, N_FEATURES, rc, rd));
  FF_CALL(st, FF_MPI(MPI_Gatherv(my_x, (int)(rows * N_FEATURES), MPI_DOUBLE, x, rc, rd, MPI_DOUBLE, 0, r->comm)));
  free(in);
  free(in_all);
  free(my_rates);
  free(my_x);
  free(rc);
  free(rd);
  return ff_ranks_agree(st, r->comm);
}

/* What results.h5 gets: this rank's rows of every matrix, and rank 0's whole vectors. */
typedef struct {
  const FfRun *r;
  const FfNet *net;
  const FfCellsRecording *rec;
  const double *m[N_METHODS]; /* [rows × n] this rank's rows; m[2] NULL when the partial correlation was skipped */
  const double *rates;        /* rank 0: [n] inferred spikes per s */
  const double *features;     /* rank 0: [n × N_FEATURES] */
  const int8_t *pred;         /* rank 0: [n] 1 = E */
  double auc[N_METHODS];
  double fpr[N_METHODS][ROC_POINTS], tpr[N_METHODS][ROC_POINTS]; /* the same on every rank */
  int64_t pts[N_METHODS];
  double ei_acc, ei_majority, mean_w;
  int64_t confusion[4]; /* truth E/I x predicted E/I */
} Out;

/* Collective (a parallel file): every rank writes its rows of the matrices, rank 0 the rest. */
static int write_results(hid_t f, void *ctx) {
  const Out *o = ctx;
  const int64_t n = o->rec->n_cells, nn[2] = {n, n}, fd[2] = {n, N_FEATURES}, cd[2] = {2, 2};
  const int64_t i0 = o->net->new_base, rows = o->net->n_local, all = o->r->rank == 0 ? n : 0;
  const FfConfig *c = &o->r->cfg;
  const FfH5Attr a[] = {FF_ATTR_FIXED("format", "flyfit-cells-results-1"),
                        FF_ATTR_FIXED("recording", c->recording),
                        FF_ATTR_FIXED("rule", c->cells_rule ? "nearest" : "all"),
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
  const FfH5Attr run[] = {FF_ATTR_FIXED("mode", "cells"), FF_ATTR_FIXED("version", o->r->version),
                          FF_ATTR_INT("ranks", o->r->size), FF_ATTR_FIXED("config", o->r->config_text)};
  const FfH5Attr cols[] = {FF_ATTR_FIXED("columns", FEATURE_NAMES)};
  FF_TRY(ff_h5_group(f, "/cells"));
  FF_TRY(ff_h5_write_attrs(f, "/cells", a, (int)(sizeof a / sizeof a[0])));
  FF_TRY(ff_h5_group(f, "/run"));
  FF_TRY(ff_h5_write_attrs(f, "/run", run, (int)(sizeof run / sizeof run[0])));
  for (int k = 0; k < N_METHODS; ++k) {
    static const char *const dset[N_METHODS] = {"/cells/weights", "/cells/corr", "/cells/partial", "/cells/xcorr"};
    if (o->m[k]) FF_TRY(ff_h5_write_rows(f, dset[k], H5T_NATIVE_DOUBLE, 2, nn, i0, rows, o->m[k]));
  }
  FF_TRY(ff_h5_write_rows(f, "/cells/rates", H5T_NATIVE_DOUBLE, 1, &n, 0, all, o->rates));
  FF_TRY(ff_h5_write_rows(f, "/cells/features", H5T_NATIVE_DOUBLE, 2, fd, 0, all, o->features));
  FF_TRY(ff_h5_write_attrs(f, "/cells/features", cols, 1));
  if (o->rec->has_truth) {
    FF_TRY(ff_h5_write_rows(f, "/cells/truth/weights", H5T_NATIVE_DOUBLE, 2, nn, i0, rows, o->rec->w_true));
    FF_TRY(ff_h5_write_rows(f, "/cells/truth/excitatory", H5T_NATIVE_INT8, 1, &n, 0, all, o->rec->excitatory));
    FF_TRY(ff_h5_write_rows(f, "/cells/truth/ensemble", H5T_NATIVE_INT32, 1, &n, 0, all, o->rec->ensemble));
    FF_TRY(ff_h5_write_rows(f, "/cells/ei_predicted", H5T_NATIVE_INT8, 1, &n, 0, all, o->pred));
    FF_TRY(ff_h5_write_rows(f, "/cells/ei_confusion", H5T_NATIVE_INT64, 2, cd, 0, all ? 2 : 0, o->confusion));
    for (int k = 0; k < N_METHODS; ++k) {
      if (!o->m[k]) continue;
      char path[64];
      snprintf(path, sizeof path, "/cells/roc/%s/fpr", METHODS[k]);
      FF_TRY(ff_h5_write_rows(f, path, H5T_NATIVE_DOUBLE, 1, &o->pts[k], 0, all ? o->pts[k] : 0, o->fpr[k]));
      snprintf(path, sizeof path, "/cells/roc/%s/tpr", METHODS[k]);
      FF_TRY(ff_h5_write_rows(f, path, H5T_NATIVE_DOUBLE, 1, &o->pts[k], 0, all ? o->pts[k] : 0, o->tpr[k]));
    }
  }
  return FF_OK;
}

/* Collective. The ROC of every method against the truth's rows (every rank the same curves and AUCs). */
static int score_all(const FfRun *r, const FfNet *net, const FfCellsRecording *rec, Out *o) {
  const int64_t n = net->n_global, i0 = net->new_base, rows = net->n_local;
  int8_t *label = NULL;
  int st = FF_MALLOC(label, rows * n + 1, "connection labels");
  for (int64_t k = 0; st == FF_OK && k < rows; ++k)
    for (int64_t j = 0; j < n; ++j) label[k * n + j] = (int8_t)(j == i0 + k ? -1 : rec->w_true[k * n + j] != 0);
  st = ff_ranks_agree(st, r->comm);
  for (int k = 0; st == FF_OK && k < N_METHODS; ++k)
    if (o->m[k]) st = ff_cells_roc_ranks(r->comm, o->m[k], label, rows * n, ROC_POINTS, &o->auc[k], o->fpr[k],
                                         o->tpr[k], &o->pts[k]);
  free(label);
  return ff_ranks_agree(st, r->comm);
}

/* Rank 0: the cross-validated E/I labels and their scores into o. */
static int classify(const FfCellsRecording *rec, const FfCellsParams *p, const double *x, int8_t *pred, Out *o) {
  const int64_t n = rec->n_cells;
  FF_TRY(ff_cells_logreg_cv(x, n, N_FEATURES, rec->excitatory, p->folds, p->seed, pred));
  int64_t right = 0, n_e = 0;
  for (int64_t i = 0; i < n; ++i) {
    right += pred[i] == rec->excitatory[i];
    n_e += rec->excitatory[i];
    ++o->confusion[(rec->excitatory[i] ? 0 : 2) + (pred[i] ? 0 : 1)];
  }
  o->ei_acc = (double)right / (double)n;
  o->ei_majority = (double)(n_e > n - n_e ? n_e : n - n_e) / (double)n;
  return FF_OK;
}

/* Collective. Scores, classifier, results.h5 and the summary line, from this rank's rows in o->m. */
static int finish(const FfRun *r, const FfNet *net, const FfCellsRecording *rec, const FfCellsParams *p,
                  const int32_t *counts, Out *o, double t0) {
  const int64_t n = rec->n_cells;
  double *rates = NULL, *x = NULL;
  int8_t *pred = NULL;
  int st = FF_OK;
  if (r->rank == 0) {
    st = FF_MALLOC(rates, n, "rates");
    FF_CALL(st, FF_MALLOC(x, n * N_FEATURES, "features"));
    FF_CALL(st, FF_CALLOC(pred, n, "E/I predictions"));
  }
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, features(r, net, counts, rec->n_frames, rec->fs_hz, o->m[0], rates, x));
  for (int k = 0; k < N_METHODS; ++k) o->auc[k] = NAN;
  o->ei_acc = o->ei_majority = NAN;
  if (rec->has_truth) {
    const double ts = MPI_Wtime();
    FF_CALL(st, score_all(r, net, rec, o));
    if (st == FF_OK) ff_log("cells: ROC of every method over %lld pairs in %.2f s", (long long)(n * (n - 1)),
                            MPI_Wtime() - ts);
    if (st == FF_OK && r->rank == 0) st = classify(rec, p, x, pred, o);
    st = ff_ranks_root_status(st, r->comm, "classify the cells");
    double ei[2] = {o->ei_acc, o->ei_majority};
    FF_CALL(st, FF_MPI(MPI_Bcast(ei, 2, MPI_DOUBLE, 0, r->comm)));
    o->ei_acc = ei[0], o->ei_majority = ei[1];
  }
  o->rates = rates;
  o->features = x;
  o->pred = pred;
  char path[FF_CONFIG_STR + 32];
  snprintf(path, sizeof path, "%s/results.h5", r->cfg.out_dir);
  if (st == FF_OK && r->rank == 0) /* the file's size is known: refuse at once where it cannot fit */
    st = ff_atomic_check_space(path, (double)n * (double)n * 8.0 * (N_METHODS + rec->has_truth), "results.h5");
  st = ff_ranks_root_status(st, r->comm, "find room for '%s'", path);
  FF_CALL(st, ff_h5_write_atomic_parallel(path, r->comm, write_results, o));
  if (st == FF_OK && r->rank == 0) {
    double best = o->auc[1];
    for (int k = 2; k < N_METHODS; ++k) best = o->auc[k] > best ? o->auc[k] : best; /* a skipped NaN never wins */
    if (rec->has_truth) {
      ff_log("cells: AUC of a connection: stdp %.4f, correlation %.4f, partial correlation %.4f, cross-correlation "
             "%.4f", o->auc[0], o->auc[1], o->auc[2], o->auc[3]);
      ff_log("cells: E/I by logistic regression, %lld-fold: accuracy %.4f (majority %.4f); truth E: %lld E, %lld I; "
             "truth I: %lld E, %lld I",
             (long long)p->folds, o->ei_acc, o->ei_majority, (long long)o->confusion[0], (long long)o->confusion[1],
             (long long)o->confusion[2], (long long)o->confusion[3]);
    } else {
      ff_log("cells: the recording has no /truth: connectivity and features written, nothing scored");
    }
    if (r->cfg.figures) ff_plot_draw(ff_run_plot_tool(), r->cfg.out_dir);
    ff_runjson_phase("cells", MPI_Wtime() - t0);
    ff_runjson_metrics("cells done: mean_w=%.17g", o->mean_w); /* the summary line's pairs go there too */
    ff_summary("cells done: auc_stdp=%.4f auc_corr=%.4f auc_partial=%.4f auc_xcorr=%.4f auc_best_baseline=%.4f "
               "ei_acc=%.4f ei_majority=%.4f\n",
               o->auc[0], o->auc[1], o->auc[2], o->auc[3], best, o->ei_acc, o->ei_majority);
  }
  free(rates);
  free(x);
  free(pred);
  return ff_ranks_agree(st, r->comm);
}

int ff_mode_cells(FfRun *r) {
  const FfConfig *c = &r->cfg;
  FfCellsParams p;
  ff_cells_params_from_config(c, &p);
  FfCellsRecording rec;
  memset(&rec, 0, sizeof rec);
  FfNet net;
  memset(&net, 0, sizeof net);
  /* 1. inputs, on every rank (the same checks give the same status; one rank reports); the truth's rows below */
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
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, ff_net_blocks(n, r->comm, "the recording's cells", &net));
  const int64_t rows = net.n_local;
  if (st == FF_OK && rec.has_truth) st = ff_cells_truth_rows(&rec, r->comm, net.new_base, rows);
  st = ff_ranks_agree(st, r->comm);
  double *s = NULL, *dff = NULL, *mat[N_METHODS] = {NULL, NULL, NULL, NULL}; /* this rank's rows */
  int32_t *counts = NULL;
  Out *o = NULL;
  if (st == FF_OK) {
    st = FF_MALLOC(s, n * T, "deconvolved spikes");
    FF_CALL(st, FF_MALLOC(dff, n * T, "dF/F"));
    FF_CALL(st, FF_MALLOC(counts, n * T, "inferred spikes"));
    FF_CALL(st, FF_CALLOC(o, 1, "the results"));
    FF_CALL(st, ff_cells_deconvolve(&rec, &p, s, dff));
  }
  if (st == FF_OK && r->rank == 0) st = ff_run_make_dir(c->out_dir);
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK) st = ff_run_open_log(r);
  if (st) {
    free(s), free(dff), free(counts), free(o);
    ff_net_destroy(&net);
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
  const int with_partial = n <= p.partial_max_cells;
  ff_log("cells: every n x n matrix split by rows: rank 0 holds %lld of %lld (%.1f MB for each of %d matrices%s)",
         (long long)rows, (long long)n, (double)rows * (double)n * 8e-6, 3 + with_partial + rec.has_truth,
         rec.has_truth ? ", the truth's among them" : "");
  if (!with_partial)
    ff_log("cells: the partial correlation is skipped: %lld cells are more than [cells] partial_max_cells = %lld "
           "(rank 0 would invert the whole %lld x %lld matrix); its AUC is NaN",
           (long long)n, (long long)p.partial_max_cells, (long long)n, (long long)n);
  for (int k = 0; st == FF_OK && k < N_METHODS; ++k)
    if (k != 2 || with_partial) st = FF_MALLOC(mat[k], rows * n + 1, "this rank's rows of a connectivity matrix");
  st = ff_ranks_agree(st, r->comm);
  /* 2. the partial correlation first, while rank 0 holds nothing else of n x n size */
  const double tb = MPI_Wtime();
  if (with_partial) FF_CALL(st, partial_rows(r, &net, &p, s, T, mat[2]));
  /* 3. STDP on the driven neurons' trains */
  Trains tr;
  memset(&tr, 0, sizeof tr);
  double mean_w = 0;
  const double tl = MPI_Wtime();
  FF_CALL(st, drive_all(r, &net, &rec, counts, &p, &tr));
  FF_CALL(st, learn(r, &net, &tr, &p, mat[0], &mean_w));
  if (st == FF_OK) {
    int64_t spikes = 0;
    for (int64_t k = 0; k < n * p.passes; ++k) spikes += tr.len[k];
    ff_log("cells: %lld model spikes over %lld passes; mean learned weight %.6g (%.2f s)", (long long)spikes,
           (long long)p.passes, mean_w, MPI_Wtime() - tl);
  }
  trains_destroy(&tr);
  /* 4. the correlation and the cross-correlation, by rows */
  const double tc = MPI_Wtime();
  if (st == FF_OK) st = ff_cells_corr_rows(s, n, T, net.new_base, net.new_base + rows, mat[1]);
  if (st == FF_OK) st = ff_cells_xcorr_rows(s, n, T, p.xcorr_lag, net.new_base, net.new_base + rows, mat[3]);
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK)
    ff_log("cells: baselines in %.2f s (partial correlation %.2f s on rank 0; correlation and cross-correlation "
           "%.2f s, rows over %d rank%s)", MPI_Wtime() - tc + (tl - tb), tl - tb, MPI_Wtime() - tc, r->size,
           r->size == 1 ? "" : "s");
  /* 5. scores, classifier and results.h5 */
  if (st == FF_OK) {
    o->r = r;
    o->net = &net;
    o->rec = &rec;
    for (int k = 0; k < N_METHODS; ++k) o->m[k] = mat[k];
    o->mean_w = mean_w;
    st = finish(r, &net, &rec, &p, counts, o, t0);
  }
  for (int k = 0; k < N_METHODS; ++k) free(mat[k]);
  free(s), free(dff), free(counts), free(o);
  ff_net_destroy(&net);
  ff_cells_recording_destroy(&rec);
  return st;
}
