/* Scores of a forecast of neuropil rates against the recordings (docs/design.md §2.7): bin accuracy
 * (the share of neuropil-frames whose predicted rate class equals the recorded one), mean squared
 * error, the Pearson correlation of each neuropil's predicted and recorded series, and the
 * correlation between the predicted and recorded functional-connectivity matrices (Pearson
 * correlations between neuropils over the frames; their off-diagonal entries are compared).
 * Frames where the forecast is NaN (no prediction) are left out. The mean Pearson r is taken over
 * the same neuropils for every forecast: those whose recorded series varies over the scored frames;
 * a forecast that is constant there scores r = 0 (it is not dropped). Everything is computed in
 * double, in a fixed order, on data every rank holds alike. */
#ifndef FLYFIT_METRICS_H
#define FLYFIT_METRICS_H

#include <stdint.h>

#include "flyfit/round1.h"

typedef struct {
  double bin_acc, mse;
  double bin_acc_fine; /* bin accuracy in the finer classes (the original's 0.25 Hz); NaN without them */
  double mean_pearson; /* over the neuropils whose recorded series varies; NaN if none */
  int32_t neuropils;   /* how many those are */
  double fc_corr;      /* over the neuropil pairs both matrices have (a constant series has none);
                          NaN when fewer than 2 pairs */
  int64_t frames;      /* frames scored */
} FfScore;

/* Scores pred against rec ([T x P] both) over frames [t0, t1), with the classes bins and (or NULL)
 * the finer ones. pearson: [P] or NULL (NaN for a neuropil whose recording is constant, 0 where
 * only the forecast is). fc_pred, fc_rec: [P x P] or NULL, the two FC matrices. */
int ff_score(const double *pred, const double *rec, int64_t T, int32_t P, int64_t t0, int64_t t1, const FfBins *bins,
             const FfBins *fine, FfScore *s, double *pearson, double *fc_pred, double *fc_rec);

#endif
