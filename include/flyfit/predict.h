/* Prediction ([run] mode = predict, and the end of mode = all; docs/design.md §2.7): every model
 * forecasts the recording in two protocols, one step ahead (frame k from the recorded frames before
 * it) and free-running (from frame k0 = max(warmup_frames, 2) on its own outputs). The chain: at
 * frame k the GRU (round 2) reads z_k and forecasts frame k+1, y^_{k+1}; from k0 on, the network,
 * driven through the round-1 encoder by frame k as the model knows it (the recording at k0-1, then
 * y^_k), makes z_{k+1}, the GRU's next input:
 *     GRU output -> encoder -> spiking network -> neuropil rates -> next GRU input
 * Models: chain (z, the headline), chain_gru (y^), untrained, the controls of controls.h fitted on
 * the training frames (persistence, mean, median, var1, var2), gru_only (a GRU trained on the
 * recording alone) and snn_only (the round-1 network alone). Scores (metrics.h) over the test block
 * and over every forecast frame go to the log, a table on stdout, results.h5 (/predict/forecast,
 * /predict/metrics) and the summary line, last on stdout:
 * "predict done: headline=chain test_mse=... test_bin_acc=... test_pearson=... test_fc_corr=...
 * MODEL_PROTOCOL_test_mse=..." for every model and protocol. */
#ifndef FLYFIT_PREDICT_H
#define FLYFIT_PREDICT_H

#include <mpi.h>

#include "flyfit/round1.h"
#include "flyfit/round2.h"

typedef struct {
  const FfConfig *cfg;
  const char *config_text, *version, *hosts, *mode; /* mode: "predict" or "all" */
  FfRound1 *r1;               /* data, bins and network; its parameters are the trained ones */
  const FfRound2Result *r2;   /* the trained GRU (and round 2's history, when known) */
  const FfRound2Result *gru_only; /* the GRU trained on recordings alone, or NULL: no gru_only model */
  const char *plot_tool;      /* tools/flyfit-plot, or NULL: no figures */
  int threads;
  MPI_Comm comm;
} FfPredictSetup;

/* Collective. Forecasts with the trained and the untrained chain, scores every forecast, writes
 * DIR/results.h5 and, when plot_tool is set and [output] figures, DIR/figures. */
int ff_predict_run(const FfPredictSetup *s);

#endif
