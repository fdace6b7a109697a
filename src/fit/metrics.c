/* Forecast scores and naive forecasts (include/flyfit/metrics.h). */
#include "flyfit/metrics.h"
#include "flyfit/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pearson correlation of a and b over the frames where keep[t]; NaN for a constant series. */
static double pearson(const double *a, const double *b, int64_t stride_a, int64_t stride_b, const uint8_t *keep,
                      int64_t t0, int64_t t1) {
  double ma = 0, mb = 0, a0 = NAN, b0 = NAN;
  int64_t n = 0;
  int vary_a = 0, vary_b = 0; /* tested exactly: a constant's rounded mean would give it a tiny variance */
  for (int64_t t = t0; t < t1; ++t)
    if (keep[t]) {
      if (n == 0) {
        a0 = a[t * stride_a];
        b0 = b[t * stride_b];
      }
      vary_a |= a[t * stride_a] != a0;
      vary_b |= b[t * stride_b] != b0;
      ma += a[t * stride_a];
      mb += b[t * stride_b];
      ++n;
    }
  if (n < 2 || !vary_a || !vary_b) return NAN;
  ma /= (double)n;
  mb /= (double)n;
  double sab = 0, saa = 0, sbb = 0;
  for (int64_t t = t0; t < t1; ++t)
    if (keep[t]) {
      const double x = a[t * stride_a] - ma, y = b[t * stride_b] - mb;
      sab += x * y;
      saa += x * x;
      sbb += y * y;
    }
  return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* FC matrix [P x P] of series x [T x P] over the kept frames (1 on the diagonal, NaN for a constant series). */
static void fc_matrix(const double *x, int64_t T, int32_t P, const uint8_t *keep, int64_t t0, int64_t t1, double *fc) {
  (void)T;
  for (int32_t p = 0; p < P; ++p)
    for (int32_t q = p; q < P; ++q) {
      const double r = p == q ? 1.0 : pearson(x + p, x + q, P, P, keep, t0, t1);
      fc[(int64_t)p * P + q] = fc[(int64_t)q * P + p] = r;
    }
}

/* Correlation of the off-diagonal entries (upper triangle) that both FC matrices [P x P] have: a
 * neuropil whose series is constant has no correlations. NaN with fewer than 2 such pairs. */
static double matrix_corr(const double *fp, const double *fr, int32_t P) {
  double ma = 0, mb = 0;
  int64_t n = 0;
  for (int32_t p = 0; p < P; ++p)
    for (int32_t q = p + 1; q < P; ++q) {
      const double a = fp[(int64_t)p * P + q], b = fr[(int64_t)p * P + q];
      if (isnan(a) || isnan(b)) continue;
      ma += a;
      mb += b;
      ++n;
    }
  if (n < 2) return NAN;
  ma /= (double)n;
  mb /= (double)n;
  double sab = 0, saa = 0, sbb = 0;
  for (int32_t p = 0; p < P; ++p)
    for (int32_t q = p + 1; q < P; ++q) {
      if (isnan(fp[(int64_t)p * P + q]) || isnan(fr[(int64_t)p * P + q])) continue;
      const double a = fp[(int64_t)p * P + q] - ma, b = fr[(int64_t)p * P + q] - mb;
      sab += a * b;
      saa += a * a;
      sbb += b * b;
    }
  return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* Whether neuropil p's recording varies over frames [t0, t1) (tested exactly). */
static int varies(const double *rec, int32_t P, int32_t p, int64_t t0, int64_t t1) {
  for (int64_t t = t0 + 1; t < t1; ++t)
    if (rec[t * P + p] != rec[t0 * P + p]) return 1;
  return 0;
}

int ff_score(const double *pred, const double *rec, int64_t T, int32_t P, int64_t t0, int64_t t1, const FfBins *bins,
             const FfBins *fine, FfScore *s, double *pearson_out, double *fc_pred, double *fc_rec) {
  memset(s, 0, sizeof *s);
  if (t0 < 0) t0 = 0;
  if (t1 > T) t1 = T;
  uint8_t *keep;
  FF_TRY(FF_CALLOC(keep, T > 0 ? T : 1, "frame mask"));
  double hits = 0, hits_fine = 0, sq = 0;
  int64_t cells = 0;
  for (int64_t t = t0; t < t1; ++t) {
    int ok = 1;
    for (int32_t p = 0; p < P; ++p) ok &= !isnan(pred[t * P + p]);
    keep[t] = (uint8_t)ok;
    if (!ok) continue;
    s->frames++;
    for (int32_t p = 0; p < P; ++p) {
      const double d = pred[t * P + p] - rec[t * P + p];
      sq += d * d;
      hits += ff_bins_class(bins, pred[t * P + p]) == ff_bins_class(bins, rec[t * P + p]);
      if (fine) hits_fine += ff_bins_class(fine, pred[t * P + p]) == ff_bins_class(fine, rec[t * P + p]);
      ++cells;
    }
  }
  s->bin_acc = cells ? hits / (double)cells : NAN;
  s->bin_acc_fine = cells && fine ? hits_fine / (double)cells : NAN;
  s->mse = cells ? sq / (double)cells : NAN;
  double sum_r = 0;
  int n_r = 0;
  for (int32_t p = 0; p < P; ++p) {
    double r = NAN;
    if (t1 > t0 && varies(rec, P, p, t0, t1)) { /* in the set: a forecast without correlation scores 0 */
      r = pearson(pred + p, rec + p, P, P, keep, t0, t1);
      if (isnan(r)) r = 0.0;
      sum_r += r;
      ++n_r;
    }
    if (pearson_out) pearson_out[p] = r;
  }
  s->mean_pearson = n_r ? sum_r / n_r : NAN;
  s->neuropils = n_r;
  s->fc_corr = NAN;
  double *fp = fc_pred, *fr = fc_rec;
  int own = 0;
  if (P >= 3 && (fp == NULL || fr == NULL)) {
    own = 1;
    fp = malloc((size_t)P * P * sizeof *fp);
    fr = malloc((size_t)P * P * sizeof *fr);
    if (fp == NULL || fr == NULL) {
      free(fp);
      free(fr);
      free(keep);
      return FF_ERROR(FF_ERR_NOMEM, "out of memory for FC matrices");
    }
  }
  if (fp && fr) {
    fc_matrix(pred, T, P, keep, t0, t1, fp);
    fc_matrix(rec, T, P, keep, t0, t1, fr);
    s->fc_corr = matrix_corr(fp, fr, P);
  }
  if (own) {
    free(fp);
    free(fr);
  }
  free(keep);
  return FF_OK;
}
