/* Round 1 of the fitting, end to end ([run] mode = fit; docs/design.md §2.3-2.5): recordings in,
 * train/test split, rate classes and input jitter, epochs of online-gradient training of the
 * spiking network (fit.h), per-epoch metrics, checkpoints and resume, and after training the
 * network's simulated neuropil rates over the training frames, kept for round 2.
 *
 * Samples: sample k takes frame k's rates as input and is scored against frame k+1's. The frames
 * fall in three blocks (FfSplit, dataset.h): training, validation, test. Every epoch is scored on
 * the validation block, which picks the best epoch; the test block is scored once, after training,
 * with the best epoch's network (and with the untrained one, for comparison).
 * Every random number is keyed by (seed, sample, epoch), so runs are bit-identical for any rank
 * count and a resumed run equals an uninterrupted one. */
#ifndef FLYFIT_ROUND1_H
#define FLYFIT_ROUND1_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/dataset.h"
#include "flyfit/model.h"
#include "flyfit/net.h"
#include "flyfit/results.h"

typedef struct {
  const FfConfig *cfg;
  const char *config_text, *version, *hosts;
  const FfModel *model;
  const FfNet *net;
  int threads;
  MPI_Comm comm;
  int device; /* backend = cuda: this rank's GPU (ff_dev_select) */
  int train; /* 1: train and write results.h5 (mode fit); 2: train, results written later (mode all);
              * 0: only load the data and build the network (round 2, predict): no resume, no scoring */
} FfRound1Setup;

typedef struct FfRound1 FfRound1;

/* Collective: all ranks of s->comm must call it. Reads and checks every input (recordings, split,
 * rate classes, the checkpoint to resume from) and scores the untrained model, writing nothing: a
 * bad input stops here, before the run's log or any output is touched. */
int ff_round1_prepare(const FfRound1Setup *s, FfRound1 **r);
/* Collective: all ranks of the setup's comm must call it. Trains, writes checkpoints and
 * DIR/results.h5, and prints the summary line "fit done: epochs=... best_epoch=... train_loss=...
 * val_loss=... best_val_loss=... test_loss=... test_bin_acc=... untrained_test_loss=... ..." as the
 * last line on stdout (rank 0). */
int ff_round1_run(FfRound1 *r);
void ff_round1_destroy(FfRound1 **r);

/* For round 2 and prediction, after ff_round1_prepare (and ff_round1_run). */
const FfFitData *ff_round1_data(const FfRound1 *r);
const FfBins *ff_round1_bins(const FfRound1 *r);
int64_t ff_round1_train_frames(const FfRound1 *r); /* n_train: the frames before the test block */
const FfSplit *ff_round1_split(const FfRound1 *r);  /* the training, validation and test blocks */
struct FfFitNet *ff_round1_net(FfRound1 *r);
/* After ff_round1_run: the best network's rates over the training samples [n_train - 1 x P] and the
 * test samples [n_test x P] (owned by r). */
const double *ff_round1_sim_rates(const FfRound1 *r);
const double *ff_round1_test_pred(const FfRound1 *r);
/* Collective: all ranks of the setup's comm must call it. A round-1 checkpoint's parameters (its
 * network, recording and configuration checked) into the network. */
int ff_round1_load_params(FfRound1 *r, const char *path);
/* Collective: all ranks of the setup's comm must call it. The network's neuropil rates for samples
 * [k0, k0 + count) (frame k's rates in, frame k+1 predicted), the same random input as every
 * evaluation; *rates [count x P], caller frees. */
int ff_round1_simulate(FfRound1 *r, int64_t k0, int64_t count, double **rates);
/* What round 1 puts in a results file (ff_results_write_round1): its history, data, classes and
 * scores, and after ff_round1_run the best network's rates. The pointers are r's. */
void ff_round1_results(const FfRound1 *r, FfRound1Results *out);
/* The round-1 history [epochs x 10] and its column names, for results files written later. */
int64_t ff_round1_history(const FfRound1 *r, const double **hist, const char *const **names, int *n_metrics);

#endif
