/* Functional connectivity of recorded cells (issue 20, docs/design.md §2.10): calcium of a few hundred cells
 * -> deconvolved spikes (the chain of activity.h), one Izhikevich neuron per cell driven by them, pair-based STDP
 * between every ordered pair, the learned weights read as connectivity; baselines (correlation, partial
 * correlation, lagged cross-correlation), ROC/AUC against a planted truth and a cross-validated E/I classifier.
 * Matrices are [n × n] doubles, row = presynaptic cell, column = postsynaptic cell (m[pre × n + post]).
 * Times are ms. Every function is deterministic (no threads, fixed order); randomness is Philox keyed by
 * (cell, frame, pass) in the FF_STREAM_CELLS_* streams. */
#ifndef FLYFIT_CELLS_H
#define FLYFIT_CELLS_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/exchange.h"
#include "flyfit/net.h"

/* ---- the pair rule ------------------------------------------------------------------------------- */

typedef enum { FF_STDP_ALL = 0, FF_STDP_NEAREST = 1 } FfStdpRule;

/* The reference study's cell count: the planted network's connection probabilities are set for it. */
enum { FF_CELLS_REF_N = 259 };

typedef struct {
  double a_plus;       /* weight change of a pre-before-post pair at lag 0 (0.003) */
  double a_minus;      /* of a post-before-pre pair at lag 0, negative for depression (-0.0015) */
  double tau_plus_ms;  /* decay of potentiation with the lag, ms (20) */
  double tau_minus_ms; /* of depression, ms (60) */
  double w_min, w_max; /* the weight is clipped to [w_min, w_max] after every change (0, 1) */
  int rule;            /* FfStdpRule: all-to-all (traces add up) or nearest-neighbour (a trace is reset to A) */
} FfStdp;

/* The reference's defaults above. */
void ff_stdp_defaults(FfStdp *p);

/* One synapse over one pass of two spike trains (ms, non-decreasing), starting from weight w0; returns the
 * final weight. Event-driven as Brian2's STDP example: a presynaptic spike at t decays the trace apre to t
 * and adds a_plus to it (all-to-all) or sets it to a_plus (nearest), then w <- clip(w + apost(t)); a
 * postsynaptic spike does the same with apost, a_minus and apre. A pre and a post spike at the same time:
 * the pre spike first (Brian2's order), so that pair potentiates by a_plus. Unclipped and all-to-all, the
 * result is w0 + sum over pairs of a_plus e^{-(t_post - t_pre)/tau_plus} (t_post >= t_pre) and
 * a_minus e^{-(t_pre - t_post)/tau_minus} (t_post < t_pre). */
double ff_stdp_pair(const FfStdp *p, const double *pre, int64_t n_pre, const double *post, int64_t n_post, double w0);

/* ---- a recording of cells (layout: docs/formats.md, "cells recording") --------------------------- */

typedef struct {
  int64_t n_cells, n_frames;
  double fs_hz;        /* frame rate, Hz */
  double *fluor;       /* [n_cells × n_frames] raw fluorescence, cell-major */
  int has_truth;       /* a planted recording: the three below */
  double *w_true;      /* [truth_rows × n] planted weights of presynaptic cells truth_row0.. (ff_cells_truth_rows),
                          pre-major; 0 = no connection; negative from I cells */
  int64_t truth_row0, truth_rows;
  int8_t *excitatory;  /* [n] 1 = E, 0 = I */
  int32_t *ensemble;   /* [n] planted ensemble of an E cell, -1 for I cells */
  double *deconvolved; /* [n × n_frames] flyfit-import's run of the chain (spike amounts, dF/F), or NULL; written
                          as /cells/deconvolved with attributes calcium_tau_s and highpass_hz below; never read
                          back (a run deconvolves the fluorescence with its own [cells] keys) */
  double deconv_tau_s, deconv_highpass_hz;
  char file[1024];     /* where it was read from, for messages */
} FfCellsRecording;

void ff_cells_recording_destroy(FfCellsRecording *r);
/* Reads /cells/fluorescence [cells, frames], attribute fs_hz and /truth when present (the weights' shape checked, no
 * row read: ff_cells_truth_rows). Every check a run needs: a non-finite value names cell and frame; fewer frames
 * than ff_cells_min_frames names both counts. */
int ff_cells_recording_read(const char *path, double calcium_tau_s, FfCellsRecording *r);
/* Collective: every rank of comm reads its rows [row0, row0 + rows) of r->file's /truth/weights (MPI-IO) into
 * r->w_true: a rank's block, where the whole matrix is n^2 numbers. */
int ff_cells_truth_rows(FfCellsRecording *r, MPI_Comm comm, int64_t row0, int64_t rows);
int ff_cells_recording_write(const char *path, const FfCellsRecording *r, const char *created_by);
/* The frames the deconvolution needs: three decay times of the kernel, and at least 10. */
int64_t ff_cells_min_frames(double calcium_tau_s, double fs_hz);
/* Every value finite and enough frames (what the reader checks), naming `where`. */
int ff_cells_check(const FfCellsRecording *r, double calcium_tau_s, const char *where);

/* flyfit-import cells: cells × frames from an .npz (member `key`, default "F"; the frame rate from member
 * "fs" or fs_hz > 0), a CSV (one row per cell, numbers only; fs_hz required) or an HDF5 file (dataset `key`,
 * default "/F", attribute fs_hz or fs_hz > 0). transpose: the file holds frames × cells. */
int ff_cells_import(const char *path, const char *key, double fs_hz, int transpose, FfCellsRecording *r);

/* ---- the planted ground truth (flyfit-synth --cells) --------------------------------------------- */

typedef struct {
  int64_t n_cells;       /* 259 */
  int64_t n_ensembles;   /* planted ensembles among the E cells (8) */
  double e_share;        /* 0.8 */
  double seconds;        /* recording length, s (300) */
  double fs_hz;          /* frame rate (30) */
  double p_in, p_out;    /* E -> E connection probability inside / outside an ensemble (0.3, 0.03) */
  double p_ei, p_ie, p_ii; /* E -> I, I -> E, I -> I (0.2, 0.15, 0.15); above FF_CELLS_REF_N cells all five times
                              FF_CELLS_REF_N / n_cells, so that the in-degree stays the reference network's */
  double calcium_tau_s;  /* indicator decay (0.7 s) */
  double dff_per_spike;  /* dF/F of one spike (0.25) */
  double noise;          /* measurement noise, sd in dF/F (0.05) */
  uint64_t seed;
} FfCellsSynth;

void ff_cells_synth_defaults(FfCellsSynth *o);
/* Simulates the planted Izhikevich E/I network (dt 0.5 ms) and its calcium; r gets fluorescence and truth.
 * spike_counts [n] (optional) receives each cell's spikes. */
int ff_cells_synth(const FfCellsSynth *o, FfCellsRecording *r, int64_t *spike_counts);

/* ---- inference ----------------------------------------------------------------------------------- */

typedef enum { FF_CELLS_PLACE_EVEN = 0, FF_CELLS_PLACE_RANDOM = 1 } FfCellsPlacement;

typedef struct {
  FfStdp stdp;
  double calcium_tau_s; /* kernel of the deconvolution, s (0.7) */
  double highpass_hz;   /* high-pass before it (0.01; 0 = off) */
  double deconv_lambda; /* OASIS sparsity (0) */
  double spike_z;       /* a frame's spike amount counts when above spike_z noise sds (1.5) */
  int64_t max_per_frame; /* at most this many inferred spikes in one frame (5) */
  double drive_mV;      /* each inferred spike kicks its neuron's v by this (40) */
  double coupling_mV;   /* a model spike of cell i kicks v of cell j by coupling_mV w_ij one step later (negative from
                           I cells with types = truth), w as learned by the previous pass; 0: no currents (0) */
  int placement;        /* FfCellsPlacement: where an inferred spike lies inside its frame */
  double dt_ms;         /* Izhikevich step (0.5) */
  double w_init;        /* the weight every synapse starts from (0.5) */
  int64_t passes;       /* passes over the recording (1) */
  int64_t xcorr_lag;    /* lagged cross-correlation: lags 1..xcorr_lag frames (2) */
  double partial_ridge; /* partial correlation: ridge added to the correlation matrix's diagonal (0.1) */
  int64_t folds;        /* E/I classifier: cross-validation folds (5) */
  int64_t partial_max_cells; /* the partial correlation (one rank inverts n x n) only up to this many cells (20000) */
  uint64_t seed;
} FfCellsParams;

/* The [cells] keys (and [run] seed) of a configuration; the defaults are those of the key table (config.c), the
 * one place that states them. */
void ff_cells_params_from_config(const FfConfig *c, FfCellsParams *p);
void ff_cells_params_defaults(FfCellsParams *p);

/* The preprocessing chain per cell (dF/F, high-pass, OASIS; no trim, no rate scale): s [n × T] spike
 * amounts in dF/F, and dff [n × T] (NULL allowed) the trace they were deconvolved from. A constant cell is an
 * error naming it and r->file. */
int ff_cells_deconvolve(const FfCellsRecording *r, const FfCellsParams *p, double *s, double *dff);
/* Inferred spikes per frame from s: n = round(s / unit) where s > spike_z × sd of the cell's noise (from the
 * median absolute frame-to-frame difference of its dF/F), unit = the median amount of those frames; at most
 * max_per_frame. counts [n × T]. */
int ff_cells_counts(const double *s, const double *dff, int64_t n, int64_t T, const FfCellsParams *p, int32_t *counts);
/* The driven neuron of `cell` for one pass: its inferred spikes, m of them in a frame placed evenly at
 * (k + 1/2) / m of the frame (k < m; placement even) or uniformly at random inside it (Philox keyed by
 * (cell, frame, pass); placement random), each kick v by drive_mV; returns the neuron's own spike times (ms) in
 * *times [*n] (caller frees). excitatory: RS (1) or FS (0) parameters. */
int ff_cells_drive(const int32_t *counts, int64_t T, double fs_hz, int64_t cell, int excitatory, int64_t pass,
                   const FfCellsParams *p, double **times, int64_t *n);
/* Its parts: the kick times (ms, ascending) of `cell` in `pass` into *times [*n] (caller frees); the Izhikevich
 * parameters par [5] (neuron_models.h order) of an RS (excitatory) or FS cell; the steps of dt_ms in a pass. */
int ff_cells_inputs(const int32_t *counts, int64_t T, double fs_hz, int64_t cell, int64_t pass, const FfCellsParams *p,
                    double **times, int64_t *n);
void ff_cells_neuron_params(int excitatory, double *par);
int64_t ff_cells_steps(int64_t T, double fs_hz, const FfCellsParams *p);
/* Collective over net's ranks. One pass of the driven neurons of this rank's block of cells (net from ff_net_blocks)
 * coupled through the weights: as ff_cells_drive, and at every step, after a cell's own kicks and before its update,
 * v_j += coupling_mV sign_i wc[i × rows + (j - i0)] for every other cell i that spiked at the step before (i
 * ascending; sign -1 where excitatory[i] = 0; excitatory NULL: every cell RS and +1). wc [n × rows] holds the weights
 * onto this rank's cells. The spikes of each step cross the ranks through x (allgather). times[k] (caller frees
 * each) and len[k] get cell i0 + k's spike times. */
int ff_cells_network_pass(const FfNet *net, FfExchange *x, const int32_t *counts, int64_t T, double fs_hz,
                          const int8_t *excitatory, int64_t pass, const FfCellsParams *p, const double *wc,
                          double **times, int64_t *len);

/* Baselines, each [n × n] (diagonal 0), from s [n × T]: Pearson correlation; partial correlation
 * -P_ij / sqrt(P_ii P_jj) of P = (C + ridge I)^-1, C the correlation matrix (LAPACK); lagged cross-correlation
 * m[i × n + j] = max over lags 1..L of corr(s_i(t), s_j(t + lag)) (i leads j). */
int ff_cells_corr(const double *s, int64_t n, int64_t T, double *m);
int ff_cells_partial(const double *s, int64_t n, int64_t T, double ridge, double *m);
int ff_cells_xcorr(const double *s, int64_t n, int64_t T, int64_t max_lag, double *m);
/* Rows [i0, i1) of the correlation and of the lagged cross-correlation into m [(i1 - i0) x n], entry for entry the
 * numbers of the whole matrices above: the ranks split them by rows. */
int ff_cells_corr_rows(const double *s, int64_t n, int64_t T, int64_t i0, int64_t i1, double *m);
int ff_cells_xcorr_rows(const double *s, int64_t n, int64_t T, int64_t max_lag, int64_t i0, int64_t i1, double *m);

/* A score with its index, and qsort's order for them: highest score first, then the lower index (the ROC's order,
 * the classifier's fold order). */
typedef struct {
  double score;
  int64_t index;
} FfCellsRanked;
int ff_cells_ranked_cmp(const void *a, const void *b);

/* ROC of scores against 0/1 labels: the AUC (ties count one half), and when fpr/tpr are not NULL the curve at
 * every distinct threshold, highest first, from (0, 0) to (1, 1) (*n_pts points, at most n + 1). */
double ff_cells_auc(const double *score, const int8_t *label, int64_t n, double *fpr, double *tpr, int64_t *n_pts);
/* Collective. The same ROC of pairs split over the ranks of comm (each rank its own n, in any order; label 1 a
 * positive, 0 a negative, below 0 a pair left out, such as a matrix's diagonal), without gathering them: *auc on every rank is ff_cells_auc's number for the pairs of all ranks, bit for bit while the area
 * counts stay below 2^53 (and exact integer counts beyond); the curve, on every rank, is (0, 0), the points just
 * above and at each of up to (max_pts - 2) / 2 thresholds among the positives' distinct scores (all of them when they
 * fit: then it is ff_cells_auc's curve, every vertex that a positive reaches) and (1, 1): *n_pts <= max_pts points. */
int ff_cells_roc_ranks(MPI_Comm comm, const double *score, const int8_t *label, int64_t n, int64_t max_pts,
                       double *auc, double *fpr, double *tpr, int64_t *n_pts);

/* Logistic regression with an L2 penalty (Newton's method, features standardised on the training folds),
 * cross-validated over `folds` folds (cell k in fold perm(k) mod folds, perm keyed by seed): pred [n] gets each
 * cell's held-out label (1 = E). x [n × d]. */
int ff_cells_logreg_cv(const double *x, int64_t n, int64_t d, const int8_t *y, int64_t folds, uint64_t seed,
                       int8_t *pred);

#endif
