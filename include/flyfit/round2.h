/* Round 2 of the fitting (docs/design.md §2.6): the recurrent encoder/decoder (gru.h) learns, by
 * backpropagation through time over the training frames, to predict frame k+1's rates from the
 * frames up to k. Each step's batch is half recorded rates jittered within their classes and half
 * the round-1 network's simulated rates plus Gaussian noise (clamped at 0). Both halves give the
 * GRU frame k at position k: the simulated frame k is the network's rates driven by frame k-1,
 * what the chained model feeds the GRU when it runs on its own (predict.h). The loss is the
 * bin-interval loss: zero inside the target's class.
 *
 * The batch is split over the ranks in whole chunks of sequences; gradients and losses are summed
 * exactly (gru.h), so they are bit-identical for any rank count. Rank 0 owns Adam's state and the
 * checkpoint DIR/gru-best.h5 (the epoch of lowest validation loss, teacher-forced on the validation
 * block; without one, the last epoch) and broadcasts the parameters. The test block is scored once,
 * with the kept parameters, after the last epoch. */
#ifndef FLYFIT_ROUND2_H
#define FLYFIT_ROUND2_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/gru.h"
#include "flyfit/round1.h"

enum { R2_TRAIN_LOSS, R2_TRAIN_ACC, R2_VAL_LOSS, R2_VAL_ACC, R2_VAL_MSE, R2_LR, R2_SECONDS, R2_METRICS };
extern const char *const FF_ROUND2_METRIC_NAMES[R2_METRICS];

typedef struct {
  const FfConfig *cfg;
  const FfFitData *data;
  const FfBins *bins;
  FfSplit sp;             /* samples k -> k+1 for k < sp.fit - 1 train; validation and test blocks */
  const double *sim;      /* [sp.fit - 1 x P] at least: sim[k] is round 1's frame k+1, driven by frame k */
  MPI_Comm comm;
  /* The control "GRU alone" (predict.h's gru_only): every sequence recorded, none simulated (sim is
   * not read), and the checkpoint DIR/gru-only-best.h5 instead of DIR/gru-best.h5. */
  int recorded_only;
} FfRound2Setup;

typedef struct {
  FfGru *gru;             /* trained: the best epoch's parameters, on every rank */
  int64_t epochs;
  int64_t best_epoch;
  double *hist;           /* [epochs x R2_METRICS] */
  double test_loss, test_acc, test_mse; /* the kept GRU, teacher-forced on the test block (NaN when loaded) */
} FfRound2Result;

/* A GRU of the configured size with its initial parameters (the untrained model). */
int ff_round2_untrained(const FfConfig *cfg, int32_t P, const double *mean_rate, FfGru **g);
/* The checkpoint file names in [output] dir of the chain's GRU and of the GRU alone. */
#define FF_ROUND2_CHECKPOINT "gru-best.h5"
#define FF_ROUND2_ONLY_CHECKPOINT "gru-only-best.h5"
/* And round 2's resume points, written after every epoch; [run] resume = auto continues from them. */
#define FF_ROUND2_LAST "gru-last.h5"
#define FF_ROUND2_ONLY_LAST "gru-only-last.h5"

/* Collective: all ranks of s->comm must call it. Trains and writes DIR/gru-best.h5 (checkpoint.h);
 * its results section: ff_results_write_round2 (results.h). */
int ff_round2_run(const FfRound2Setup *s, FfRound2Result *r);
/* Collective: all ranks of comm must call it. Reads a round-2 checkpoint (rank 0) and broadcasts
 * it; P must be the recording's. */
int ff_round2_load(const FfConfig *cfg, const char *path, int32_t P, MPI_Comm comm, FfRound2Result *r);
void ff_round2_result_destroy(FfRound2Result *r);

#endif
