/* Scores of a forecast of neuropil rates against the recordings (docs/design.md §2.7): bin accuracy
 * (the share of neuropil-frames whose predicted rate class equals the recorded one), mean squared
 * error, the Pearson correlation of each neuropil's predicted and recorded series, and the
 * correlation between the predicted and recorded functional-connectivity matrices (Pearson
 * correlations between neuropils over the frames; their off-diagonal entries are compared).
 * Frames where the forecast is NaN (no prediction) are left out. Everything is computed in double,
 * in a fixed order, on data every rank holds alike. */
#ifndef FLYFIT_METRICS_H
#define FLYFIT_METRICS_H

#include <stdint.h>

#include "flyfit/round1.h"

typedef struct {
  double bin_acc, mse;
  double mean_pearson; /* over neuropils whose series are not constant; NaN if none */
  double fc_corr;      /* over the neuropil pairs both matrices have (a constant series has none);
                          NaN when fewer than 2 pairs */
  int64_t frames;      /* frames scored */
} FfScore;

/* Scores pred against rec ([T x P] both) over frames [t0, t1). pearson: [P] or NULL (NaN for a
 * constant series). fc_pred, fc_rec: [P x P] or NULL, the two FC matrices. */
int ff_score(const double *pred, const double *rec, int64_t T, int32_t P, int64_t t0, int64_t t1, const FfBins *bins,
             FfScore *s, double *pearson, double *fc_pred, double *fc_rec);

/* The naive forecasts: "same as last frame" (frame k predicted by recorded frame k-1; frame 0 NaN)
 * and the per-neuropil mean over the training frames [0, n_train). out: [T x P]. */
void ff_forecast_last_frame(const double *rec, int64_t T, int32_t P, double *out);
void ff_forecast_mean(const double *rec, int64_t T, int32_t P, int64_t n_train, double *out);

#endif
