/* The data set a fit sees (docs/design.md §2.3): the recorded neuropil rates, preprocessed and matched to
 * the connectome's neuropils, the same on every rank; and the rate classes ("bins") that bin
 * accuracy, input jitter and round 2's loss are measured in. */
#ifndef FLYFIT_DATASET_H
#define FLYFIT_DATASET_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"

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

/* Collective: all ranks of comm must call it. Rank 0 reads [data] activity's raw /traces, runs the
 * preprocessing chain with the [preprocess] keys (activity.h), maps regions to the connectome's
 * neuropils ([data] mapping, drop_unmatched) and broadcasts. */
int ff_fitdata_load(const FfConfig *cfg, MPI_Comm comm, FfFitData *rec);
void ff_fitdata_destroy(FfFitData *rec);

/* The frames' three blocks (docs/design.md §2.3). Sample k maps frame k to frame k+1 and belongs to
 * the block of its target. Training targets are frames [1, fit); the validation block's are
 * [val0, test0), after a gap of [fit] validation_gap frames; the test block's are [test0, T).
 * test0 = floor(T split) rounded down to a multiple of the batch, plus 1 (as without validation);
 * fit - 1 is a multiple of the batch too. Every choice (best epochs, ridge strength) is made on the
 * validation block; the test block is read once, at the end. Without validation (0): val0 = test0
 * and fit = test0. */
typedef struct {
  int64_t fit, val0, test0, T;
} FfSplit;
/* The split of T frames in batches of `batch` for cfg's [fit] split, validation and
 * validation_gap; an error names the key to change when a block would be empty. */
int ff_split_make(const FfConfig *cfg, const char *what, int64_t T, int32_t batch, FfSplit *s);

/* Rate classes: edges 0, bin, 2 bin, ... below ceil(max rate), then the top edge. */
typedef struct {
  int32_t n;      /* classes */
  double *edges;  /* [n + 1] */
} FfBins;
int ff_bins_make(double bin_size, double max_rate, double top, FfBins *b);
int32_t ff_bins_class(const FfBins *b, double rate);
void ff_bins_destroy(FfBins *b);

#endif
