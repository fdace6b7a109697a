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
#include "flyfit/ei_net.h"
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


/* Collective. The weights onto this rank's cells, wc [n × rows] (wc[i × rows + (j - i0)]), from every rank's rows of
 * w [rows × n]: the block transpose (MPI_Alltoallv) that the coupled network's delivery needs. sbuf [rows × n]. */
static int columns_of(const FfRun *r, const FfNet *net, const double *w, double *sbuf, double *wc) {
  const int64_t n = net->n_global, rows = net->n_local, K = r->size;
  int *sc = NULL, *sd = NULL, *rc = NULL, *rd = NULL;
  int st = FF_MALLOC(sc, K, "transpose counts");
  FF_CALL(st, FF_MALLOC(sd, K, "transpose offsets"));
  FF_CALL(st, FF_MALLOC(rc, K, "transpose counts"));
  FF_CALL(st, FF_MALLOC(rd, K, "transpose offsets"));
  for (int64_t q = 0; st == FF_OK && q < K; ++q) {
    const int64_t j0 = net->neuron_offsets[q], cols = net->neuron_offsets[q + 1] - j0;
    if (rows * n > INT32_MAX || cols * n > INT32_MAX)
      st = FF_ERROR(FF_ERR_UNSUPPORTED, "[cells] coupling_mV: a rank's block of weights passes 2^31 numbers; use more "
                                        "ranks");
    else {
      sc[q] = (int)(rows * cols), sd[q] = (int)(rows * j0);
      rc[q] = (int)(cols * rows), rd[q] = (int)(j0 * rows); /* rank q's rows i land at wc[i × rows] */
      for (int64_t k = 0; k < rows; ++k)
        for (int64_t c = 0; c < cols; ++c) sbuf[rows * j0 + k * cols + c] = w[k * n + j0 + c];
    }
  }
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, FF_MPI(MPI_Alltoallv(sbuf, sc, sd, MPI_DOUBLE, wc, rc, rd, MPI_DOUBLE, r->comm)));
  free(sc);
  free(sd);
  free(rc);
  free(rd);
  return st;
}

/* Collective. Pass q's trains of this rank's cells, each cell driven alone (ff_cells_drive) or, with x, all of them
 * as a network through the weights wc (ff_cells_network_pass); then shared on every rank, in cell order. */
static int drive_pass(const FfRun *r, const FfNet *net, FfExchange *x, const FfCellsRecording *rec,
                      const int32_t *counts, const FfCellsParams *p, int64_t q, const double *wc, FfSpikeTrains *tr) {
  const int64_t i0 = net->new_base, rows = net->n_local;
  const int8_t *types = r->cfg.cells_types == 1 ? rec->excitatory : NULL;
  double **mine = NULL, *packed = NULL;
  int64_t *len = NULL, have = 0;
  ff_spike_trains_destroy(tr);
  int st = FF_CALLOC(mine, rows + 1, "this rank's spike trains");
  FF_CALL(st, FF_CALLOC(len, rows + 1, "spike counts of this rank's cells"));
  if (x) { /* collective step by step: every rank enters, a failed one stops the rest at the next exchange */
    st = ff_cells_network_pass(net, x, counts, rec->n_frames, rec->fs_hz, types, q, p, wc, mine, len);
  } else {
    for (int64_t k = 0; st == FF_OK && k < rows; ++k)
      st = ff_cells_drive(counts, rec->n_frames, rec->fs_hz, i0 + k, types ? types[i0 + k] : 1, q, p, &mine[k], &len[k]);
  }
  st = ff_ranks_agree(st, r->comm);
  for (int64_t k = 0; st == FF_OK && k < rows; ++k) have += len[k];
  FF_CALL(st, FF_MALLOC(packed, have + 1, "this rank's spike trains"));
  for (int64_t k = 0, o = 0; st == FF_OK && k < rows; o += len[k], ++k)
    if (len[k]) memcpy(packed + o, mine[k], sizeof(double) * (size_t)len[k]);
  FF_CALL(st, ff_spike_trains_allgather(net, r->comm, len, packed, tr));
  for (int64_t k = 0; mine && k < rows; ++k) free(mine[k]);
  free(mine);
  free(len);
  free(packed);
  return ff_ranks_agree(st, r->comm);
}

/* Pass q of STDP on the synapses from this rank's cells, w [rows × n] (pre-major) carried from the pass before. */
static void learn_pass(const FfRun *r, const FfNet *net, const FfSpikeTrains *tr, const FfCellsParams *p, int64_t q,
                       double *w) {
  const int64_t n = net->n_global, i0 = net->new_base, rows = net->n_local;
  FfProgress prog;
  char what[64];
  snprintf(what, sizeof what, "cells: pass %lld, learned", (long long)(q + 1));
  if (r->rank == 0) ff_progress_start(&prog, what, "presynaptic cells", (double)rows, r->cfg.progress_s);
  for (int64_t k = 0; k < rows; ++k) {
    const int64_t i = i0 + k;
    for (int64_t j = 0; j < n; ++j)
      if (i != j)
        w[k * n + j] = ff_stdp_pair(&p->stdp, tr->times + tr->indptr[i], tr->indptr[i + 1] - tr->indptr[i],
                                    tr->times + tr->indptr[j], tr->indptr[j + 1] - tr->indptr[j], w[k * n + j]);
    if (r->rank == 0) ff_progress_update(&prog, (double)(k + 1));
  }
}

/* Collective. Every pass: the driven neurons (coupled through the weights of the pass before when [cells]
 * coupling_mV > 0), their trains shared, STDP on this rank's rows w [rows × n]. Then on every rank: each cell's
 * incoming weights summed exactly across the ranks, in_all [n], their total (the same exact sum) as *mean_w, and the
 * model spikes of every pass. */
static int learn(const FfRun *r, const FfNet *net, const FfCellsRecording *rec, const int32_t *counts,
                 const FfCellsParams *p, double *w, FfExact *in_all, double *mean_w, int64_t *spikes) {
  const int64_t n = net->n_global, i0 = net->new_base, rows = net->n_local;
  const int coupled = p->coupling_mV > 0;
  FfExchange *x = NULL;
  double *wc = NULL, *sbuf = NULL;
  FfSpikeTrains tr;
  memset(&tr, 0, sizeof tr);
  for (int64_t k = 0; k < rows; ++k)
    for (int64_t j = 0; j < n; ++j) w[k * n + j] = i0 + k == j ? 0.0 : p->w_init;
  int st = FF_OK;
  if (coupled) {
    st = FF_MALLOC(wc, n * rows + 1, "the weights onto this rank's cells");
    FF_CALL(st, FF_MALLOC(sbuf, n * rows + 1, "the weights onto this rank's cells"));
    st = ff_ranks_agree(st, r->comm);
    FF_CALL(st, ff_exchange_create(net, FF_EXCHANGE_ALLGATHER, r->comm, &x, NULL));
    st = ff_ranks_agree(st, r->comm);
  }
  *spikes = 0;
  for (int64_t q = 0; st == FF_OK && q < p->passes; ++q) {
    if (coupled) st = columns_of(r, net, w, sbuf, wc);
    FF_CALL(st, drive_pass(r, net, x, rec, counts, p, q, wc, &tr));
    if (st == FF_OK) learn_pass(r, net, &tr, p, q, w);
    if (st == FF_OK) *spikes += tr.indptr[n];
  }
  FfExact *in = NULL, total = {0};
  FF_CALL(st, FF_CALLOC(in, n, "incoming weight sums"));
  for (int64_t k = 0; st == FF_OK && k < rows; ++k)
    for (int64_t j = 0; j < n; ++j)
      if (j != i0 + k) ff_exact_add(&in[j], w[k * n + j]);
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, ff_exact_reduce(in, in_all, n, r->comm));
  for (int64_t j = 0; st == FF_OK && j < n; ++j) ff_exact_merge(&total, &in_all[j]); /* every weight, exactly */
  *mean_w = ff_exact_value(&total) / ((double)n * (double)(n - 1));
  free(in);
  ff_spike_trains_destroy(&tr);
  ff_exchange_destroy(&x);
  free(wc);
  free(sbuf);
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
                    const FfExact *in_all, double *rates, double *x) {
  const int64_t n = net->n_global, i0 = net->new_base, rows = net->n_local;
  const int64_t bin = fs >= 1 ? (int64_t)floor(fs + 0.5) : 1, nb = T / bin > 0 ? T / bin : 1;
  double *my_rates = NULL, *my_x = NULL;
  int *rc = NULL, *rd = NULL;
  int st = FF_MALLOC(my_rates, rows + 1, "rates of this rank's cells");
  FF_CALL(st, FF_MALLOC(my_x, rows * N_FEATURES + 1, "features of this rank's cells"));
  FF_CALL(st, FF_MALLOC(rc, r->size, "gather counts"));
  FF_CALL(st, FF_MALLOC(rd, r->size, "gather offsets"));
  st = ff_ranks_agree(st, r->comm);
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
  const FfExact *in_all;      /* [n] every cell's incoming weights, summed exactly */
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
  FF_CALL(st, features(r, net, counts, rec->n_frames, rec->fs_hz, o->m[0], o->in_all, rates, x));
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
  if (p.coupling_mV > 0)
    ff_log("cells: the neurons are coupled: a spike of cell i kicks cell j by %g mV x w_ij one step later (%s), w as "
           "learned by the pass before; their spikes cross the ranks every %g ms step",
           p.coupling_mV, c->cells_types == 1 ? "negative from the planted I cells" : "every cell excitatory",
           p.dt_ms);
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
  double mean_w = 0;
  int64_t spikes = 0;
  FfExact *in_all = NULL;
  const double tl = MPI_Wtime();
  FF_CALL(st, FF_CALLOC(in_all, n, "incoming weight sums"));
  FF_CALL(st, learn(r, &net, &rec, counts, &p, mat[0], in_all, &mean_w, &spikes));
  if (st == FF_OK)
    ff_log("cells: %lld model spikes over %lld passes%s; mean learned weight %.6g (%.2f s)", (long long)spikes,
           (long long)p.passes, p.coupling_mV > 0 ? ", coupled through the weights" : "", mean_w, MPI_Wtime() - tl);
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
    o->in_all = in_all;
    st = finish(r, &net, &rec, &p, counts, o, t0);
  }
  free(in_all);
  for (int k = 0; k < N_METHODS; ++k) free(mat[k]);
  free(s), free(dff), free(counts), free(o);
  ff_net_destroy(&net);
  ff_cells_recording_destroy(&rec);
  return st;
}
