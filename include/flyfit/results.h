/* results.h5 and spikes.txt of a simulation, gathered on rank 0 and written atomically
 * (temporary name, then rename). Layout:
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

/* Collective. Gathers every rank's output to rank 0, computes neuropil rates and writes
 * DIR/results.h5 (and DIR/spikes.txt when [output] spikes_txt). */
int ff_results_write(const FfRunInfo *info, const FfSimOutput *local, MPI_Comm comm);

/* Copies the connectome's /partition/k{ranks}/report (neurons, connections, ghosts per rank, edge
 * cut, imbalance) into the open results file as /partition_report, when there is one. */
int ff_results_copy_partition_report(hid_t out, const char *connectome, int ranks);

/* Neuropil rates rate[b][P] = sum_i syn[i][P] count[b][i] / (sum_i syn[i][P]) / duration_s.
 * Each rank adds its neurons to the integer sums (syn_sum[P], acc[b x P]), which are then added
 * across ranks: integer sums do not depend on how the neurons are split. */
void ff_neuropil_sums(int64_t n, int32_t n_neuropils, const int64_t *np_row, const int16_t *np_id, const int32_t *np_syn,
                      int32_t batch, const int32_t *count, int64_t *syn_sum, int64_t *acc);
void ff_neuropil_rates(int32_t n_neuropils, int32_t batch, const int64_t *syn_sum, const int64_t *acc, double duration_s,
                       double *rate);

#endif
