/* Results files (DIR/results.h5), written atomically by rank 0 (h5.h, atomic.h).
 * A fit's (modes fit, round2, predict, all): /config, /run and /partition_report as below
 * (ff_results_begin), round 1's sections /fit/round1/<metric> [epochs], /fit/{neuropils, bin_edges,
 * recorded_rates}, /round1/{sim_rates, test_pred}, round 2's /fit/round2/<metric>, and /predict
 * (predict.h).
 * A simulation's, with spikes.txt, gathered on rank 0. Layout:
 *   /config                 string   effective configuration (INI text)
 *   /run                    attrs    ranks, threads, hosts, backend, version, steps, dt_ms, ...
 *   /timing                 attrs    setup_s, simulate_s, windows, exchange (allgather | targeted)
 *   /timing/peak_rss_mb     float64  [ranks] peak resident memory of each rank
 *   /timing/{create_s, compute_s, pack_s, comm_s, unpack_s}  float64 [ranks] wall seconds per phase
 *   /counts/{spikes, events, words_sent, words_recv, neurons, connections, standins}  int64 [ranks]
 *   /partition_report/      copy of the connectome's /partition/k{ranks}/report (several ranks)
 *   /neurons/spike_count    int32    [batch, N]
 *   /neuropils/names        string   [P]
 *   /neuropils/rate_hz      float64  [batch, P]   r_P = sum_i w_iP rate_i (docs/design.md §2.1)
 *   /spikes/{batch,step,neuron}      [S] sorted by (batch, step, neuron); attr dt_ms
 *   /state/{neuron,v_mV,g_mV}        [K], [batch, steps, K] */
#ifndef FLYFIT_RESULTS_H
#define FLYFIT_RESULTS_H

#include <hdf5.h>
#include <mpi.h>

#include "flyfit/config.h"
#include "flyfit/dataset.h"
#include "flyfit/sim.h"

typedef struct {
  const FfConfig *cfg;
  const char *config_text;
  const char *version;
  const FfSimSetup *setup;
  int ranks;
  double setup_s, simulate_s;
  const double *peak_rss_mb; /* [ranks], on rank 0 */
  const char *hosts;         /* rank 0: the node of every rank, comma-separated */
} FfRunInfo;

/* Collective: all ranks of comm must call it. Gathers every rank's output to rank 0, computes neuropil rates and writes
 * DIR/results.h5 (and DIR/spikes.txt when [output] spikes_txt). */
int ff_results_write(const FfRunInfo *info, const FfSimOutput *local, MPI_Comm comm);

/* Copies the connectome's /partition/k{ranks}/report (neurons, connections, ghosts per rank, edge
 * cut, imbalance) into the open results file as /partition_report, when there is one. */
int ff_results_copy_partition_report(hid_t out, const char *connectome, int ranks);

/* ---- a fit's results ----------------------------------------------------------------------------- */

/* /config, the /run attributes (mode names the run) and /partition_report of a fit, on an open file. */
int ff_results_begin(hid_t f, const char *config_text, const char *mode, const char *version, const char *hosts,
                     int ranks, int threads, const FfConfig *cfg, const char *recording_id);

/* A training history hist [epochs x n_metrics] as one dataset group/<names[m]> [epochs] per metric. */
int ff_results_write_history(hid_t f, const char *group, const double *hist, int64_t epochs, int n_metrics,
                             const char *const *names);

/* What round 1 puts in a results file (ff_round1_results fills it). */
typedef struct {
  const FfFitData *data;
  const FfBins *bins;
  int64_t n_train, n_test;      /* frames */
  const double *hist;           /* [epochs x n_metrics] */
  int64_t epochs, best_epoch;
  int n_metrics;
  const char *const *metric_names;
  double untrained_loss, untrained_acc, untrained_mse; /* the untrained model on the test samples */
  double test_loss, test_acc, test_mse; /* the kept epoch on the test samples, scored once (NaN: not trained here) */
  double best_val_loss;         /* the kept epoch's validation loss (NaN: none) */
  int64_t val0;                 /* the first validation frame (= n_train without a validation block) */
  const double *sim;            /* [n_train - 1 x P] the best network over the training samples, or NULL */
  const double *test_pred;      /* [n_test x P] and over the test samples, or NULL */
  int32_t lowrank_rank;         /* r of the low-rank term (0: none) */
  const double *lowrank_sv;     /* [r] the kept network's singular values of A B, largest first, or NULL */
} FfRound1Results;
int ff_results_write_round1(hid_t f, const FfRound1Results *r);
/* Round 2's: /fit/round2/<metric> [epochs] with attributes epochs, best_epoch and the kept epoch's
 * test_loss, test_bin_acc, test_mse (test[3], NaN when not trained in this run). */
int ff_results_write_round2(hid_t f, const double *hist, int64_t epochs, int n_metrics, const char *const *names,
                            int64_t best_epoch, const double test[3]);

/* Neuropil rates rate[b][P] = sum_i syn[i][P] count[b][i] / (sum_i syn[i][P]) / duration_s.
 * Each rank adds its neurons to the integer sums (syn_sum[P], acc[b x P]), which are then added
 * across ranks: integer sums do not depend on how the neurons are split. */
void ff_neuropil_sums(int64_t n, int32_t n_neuropils, const int64_t *np_row, const int16_t *np_id, const int32_t *np_syn,
                      int32_t batch, const int32_t *count, int64_t *syn_sum, int64_t *acc);
void ff_neuropil_rates(int32_t n_neuropils, int32_t batch, const int64_t *syn_sum, const int64_t *acc, double duration_s,
                       double *rate);

#endif
