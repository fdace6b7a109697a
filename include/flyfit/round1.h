/* Round 1 of the fitting, end to end ([run] mode = fit; DESIGN.md §2.3-2.4): recordings in,
 * train/test split, rate classes and input jitter, epochs of online-gradient training of the
 * spiking network (fit.h), per-epoch metrics, checkpoints and resume, and after training the
 * network's simulated neuropil rates over the training frames, kept for round 2.
 *
 * Samples: sample k takes frame k's rates as input and is scored against frame k+1's. With T
 * frames and batch B, n_train = floor(T split) rounded down to a multiple of B, plus 1: the first
 * n_train frames give n_train - 1 training samples (whole batches), the rest give the test samples.
 * Every random number is keyed by (seed, sample, epoch), so runs are bit-identical for any rank
 * count and a resumed run equals an uninterrupted one. */
#ifndef FLYFIT_ROUND1_H
#define FLYFIT_ROUND1_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/model.h"
#include "flyfit/net.h"

/* The recorded neuropil rates a fit sees, the same on every rank. */
typedef struct {
  int64_t T;            /* frames */
  int32_t P;            /* fitted neuropils (recording regions matched to the connectome) */
  char **names;         /* [P] connectome neuropil names */
  int32_t *np_index;    /* [P] index in the connectome's /neuropils/names */
  double *rates;        /* [T x P] Hz */
  double fs_hz;         /* frame rate */
  char id[256];         /* neural_activity_id */
  uint64_t hash;        /* of the rates and names, for checkpoints */
} FfFitData;

/* Collective. Rank 0 reads [data] activity's raw /traces, runs the preprocessing chain with the
 * [preprocess] keys (activity.h), maps regions to the connectome's neuropils ([data] mapping,
 * drop_unmatched) and broadcasts. */
int ff_fitdata_load(const FfConfig *cfg, MPI_Comm comm, FfFitData *rec);
void ff_fitdata_destroy(FfFitData *rec);

/* Rate classes: edges 0, bin, 2 bin, ... below ceil(max rate), then the top edge. */
typedef struct {
  int32_t n;      /* classes */
  double *edges;  /* [n + 1] */
} FfBins;
int ff_bins_make(double bin_size, double max_rate, double top, FfBins *b);
int32_t ff_bins_class(const FfBins *b, double rate);
void ff_bins_destroy(FfBins *b);

typedef struct {
  const FfConfig *cfg;
  const char *config_text, *version, *hosts;
  const FfModel *model;
  const FfNet *net;
  int threads;
  MPI_Comm comm;
} FfRound1Setup;

typedef struct FfRound1 FfRound1;

/* Collective. Reads and checks every input (recordings, split, rate classes, the checkpoint to
 * resume from) and scores the untrained model, writing nothing: a bad input stops here, before
 * the run's log or any output is touched. */
int ff_round1_prepare(const FfRound1Setup *s, FfRound1 **r);
/* Collective. Trains, writes checkpoints and DIR/results.h5, and prints the summary line
 * "fit done: epochs=... train_loss=... test_loss=... test_bin_acc=... untrained_test_loss=...
 * untrained_test_bin_acc=..." as the last line on stdout (rank 0). */
int ff_round1_run(FfRound1 *r);
void ff_round1_destroy(FfRound1 **r);

#endif
