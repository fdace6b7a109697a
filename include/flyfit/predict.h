/* Prediction ([run] mode = predict, and the end of mode = all; docs/design.md §2.7): the chained model
 * forecasts the recording frame by frame. At frame k the GRU (round 2) reads z_k, frame k's rates,
 * and predicts frame k+1, y^_{k+1}. Once it runs on its own, frame k as the model knows it, the
 * GRU's earlier forecast y^_k, drives the spiking network through the round-1 encoder for one frame,
 * and the network's neuropil rates are frame k+1, z_{k+1}, the GRU's next input:
 *     GRU output -> encoder -> spiking network -> neuropil rates -> next GRU input
 * (round 1 maps frame k to frame k+1; round 2 was trained on the network's frames the same way).
 * The first warmup_frames frames feed the recorded rates (z_k = recorded frame k); after that the
 * model runs on its own over the rest of the recording. y^ is the forecast that is scored.
 *
 * Scores (metrics.h) of the trained chain, the untrained chain (initial encoder, connections and
 * GRU), the "same as last frame" forecast and the per-neuropil mean over the training frames, over
 * all frames and over the test frames, go to the log, a table on stdout, results.h5 (/predict), and
 * the summary line "predict done: test_bin_acc=... test_mse=... test_pearson=... test_fc_corr=...
 * untrained_test_bin_acc=... untrained_test_mse=... last_frame_test_bin_acc=... last_frame_test_mse=...
 * mean_test_bin_acc=... mean_test_mse=... all_bin_acc=... all_mse=..." last on stdout. */
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
