/* Controls of a forecast (include/flyfit/controls.h). Ridge VAR solves its normal equations with
 * LAPACK's Cholesky (dposv); it runs on rank 0 only, with OpenBLAS held to one thread, so a
 * forecast is the same for any rank count. */
#include "flyfit/controls.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/blas.h"
#include "flyfit/error.h"


void ff_control_persistence(const double *x, int64_t T, int64_t P, int64_t k0, FfProtocol proto, double *y) {
  for (int64_t k = 0; k < T; ++k)
    for (int64_t p = 0; p < P; ++p) {
      const int64_t src = proto == FF_PROTOCOL_ONESTEP ? k - 1 : k0 - 1;
      y[k * P + p] = k < k0 || src < 0 ? NAN : x[src * P + p];
    }
}

void ff_control_constant(const double *level, int64_t T, int64_t P, int64_t k0, double *y) {
  for (int64_t k = 0; k < T; ++k)
    for (int64_t p = 0; p < P; ++p) y[k * P + p] = k < k0 ? NAN : level[p];
}

static int cmp_double(const void *a, const void *b) {
  const double u = *(const double *)a, v = *(const double *)b;
  return (u > v) - (u < v);
}

int ff_control_levels(const double *x, int64_t P, int64_t t0, int64_t t1, double *mean, double *median) {
  const int64_t n = t1 - t0;
  if (n < 1) return FF_ERROR(FF_ERR_INPUT, "no training frames for the mean and median controls");
  double *col;
  FF_TRY(FF_MALLOC(col, n, "median"));
  for (int64_t p = 0; p < P; ++p) {
    double s = 0.0;
    for (int64_t k = 0; k < n; ++k) s += (col[k] = x[(t0 + k) * P + p]);
    mean[p] = s / (double)n;
    qsort(col, (size_t)n, sizeof *col, cmp_double);
    median[p] = n % 2 ? col[n / 2] : 0.5 * (col[n / 2 - 1] + col[n / 2]);
  }
  free(col);
  return FF_OK;
}

void ff_var_destroy(FfVar *v) {
  if (v == NULL) return;
  free(v->coef);
  free(v->centre);
  memset(v, 0, sizeof *v);
}

/* The input row of target frame k: its lags, centred, then 1. src(l) gives the frame at lag l. */
static void input_row(const FfVar *v, const double *lag_frames[], double *row) {
  const int64_t P = v->P;
  for (int l = 0; l < v->order; ++l)
    for (int64_t p = 0; p < P; ++p) row[l * P + p] = lag_frames[l][p] - v->centre[p];
  row[v->order * P] = 1.0;
}

int ff_var_fit(const double *x, int64_t P, int64_t t0, int64_t t1, int order, double lambda, FfVar *v) {
  memset(v, 0, sizeof *v);
  if (order < 1 || order > 8) return FF_ERROR(FF_ERR_INPUT, "VAR order %d: 1..8", order);
  if (t0 < order) t0 = order; /* a target needs all its lags */
  const int64_t n = t1 - t0, d = order * P + 1;
  if (n < 2) return FF_ERROR(FF_ERR_INPUT, "VAR(%d): %lld training targets are too few", order, (long long)n);
  if (!(lambda >= 0.0)) return FF_ERROR(FF_ERR_INPUT, "VAR ridge strength %g: >= 0", lambda);
  v->order = order;
  v->P = P;
  v->lambda = lambda;
  double *G = NULL, *R = NULL, *row = NULL;
  int st = FF_CALLOC(v->coef, d * P, "VAR coefficients");
  FF_CALL(st, FF_CALLOC(v->centre, P, "VAR centre"));
  FF_CALL(st, FF_CALLOC(G, d * d, "VAR Gram matrix"));
  FF_CALL(st, FF_CALLOC(R, d * P, "VAR right-hand sides"));
  FF_CALL(st, FF_MALLOC(row, d, "VAR row"));
  if (st == FF_OK) {
    for (int64_t k = t0 - order; k < t1 - 1; ++k) /* the mean of the frames that serve as inputs */
      for (int64_t p = 0; p < P; ++p) v->centre[p] += x[k * P + p];
    for (int64_t p = 0; p < P; ++p) v->centre[p] /= (double)(t1 - 1 - (t0 - order));
    for (int64_t k = t0; k < t1; ++k) {
      const double *lags[8];
      for (int l = 0; l < order; ++l) lags[l] = x + (k - 1 - l) * P;
      input_row(v, lags, row);
      for (int64_t i = 0; i < d; ++i) {
        for (int64_t j = 0; j <= i; ++j) G[i * d + j] += row[i] * row[j];
        for (int64_t p = 0; p < P; ++p) R[i * P + p] += row[i] * x[k * P + p];
      }
    }
    for (int64_t i = 0; i < d; ++i) {
      for (int64_t j = 0; j < i; ++j) G[j * d + i] = G[i * d + j];
      if (i < d - 1) G[i * d + i] += lambda * (double)n; /* the intercept is not penalised */
    }
    const int threads = ff_blas_pin();
    const lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, (lapack_int)P, G, (lapack_int)d, R,
                                          (lapack_int)P);
    ff_blas_unpin(threads);
    if (info != 0)
      st = FF_ERROR(FF_ERR_INPUT, "VAR(%d) with ridge %g: the normal equations are singular (LAPACK dposv %d); "
                                  "use a larger ridge strength",
                    order, lambda, (int)info);
    else
      memcpy(v->coef, R, (size_t)(d * P) * sizeof *R);
  }
  free(G);
  free(R);
  free(row);
  if (st != FF_OK) ff_var_destroy(v);
  return st;
}

void ff_var_forecast(const FfVar *v, const double *x, int64_t T, int64_t k0, FfProtocol proto, double *y) {
  const int64_t P = v->P, d = v->order * P + 1;
  double *row = malloc((size_t)d * sizeof *row);
  for (int64_t k = 0; k < T; ++k) {
    if (k < k0 || k < v->order || row == NULL) {
      for (int64_t p = 0; p < P; ++p) y[k * P + p] = NAN;
      continue;
    }
    const double *lags[8];
    for (int l = 0; l < v->order; ++l) {
      const int64_t src = k - 1 - l; /* free-running: the model's own forecasts from k0 on */
      lags[l] = (proto == FF_PROTOCOL_FREE && src >= k0 ? y : x) + src * P;
    }
    input_row(v, lags, row);
    for (int64_t p = 0; p < P; ++p) {
      double s = 0.0;
      for (int64_t i = 0; i < d; ++i) s += row[i] * v->coef[i * P + p];
      y[k * P + p] = s > 0.0 ? s : 0.0;
    }
  }
  free(row);
}

int ff_var_select(const double *x, int64_t P, int64_t t0, int64_t t1, int64_t v0, int64_t v1, int order,
                  const double *grid, int n, FfVar *best, double *val_mse) {
  memset(best, 0, sizeof *best);
  if (n < 1 || v1 <= v0) return FF_ERROR(FF_ERR_INPUT, "VAR(%d): no ridge strengths or no validation frames", order);
  double *y;
  FF_TRY(FF_MALLOC(y, v1 * P, "VAR validation forecast"));
  int st = FF_OK;
  *val_mse = INFINITY;
  for (int g = 0; g < n && st == FF_OK; ++g) {
    FfVar v;
    st = ff_var_fit(x, P, t0, t1, order, grid[g], &v);
    if (st != FF_OK) break;
    ff_var_forecast(&v, x, v1, v0, FF_PROTOCOL_ONESTEP, y);
    double se = 0.0;
    for (int64_t k = v0; k < v1; ++k)
      for (int64_t p = 0; p < P; ++p) se += (y[k * P + p] - x[k * P + p]) * (y[k * P + p] - x[k * P + p]);
    const double mse = se / (double)((v1 - v0) * P);
    if (mse < *val_mse) {
      *val_mse = mse;
      ff_var_destroy(best);
      *best = v;
    } else {
      ff_var_destroy(&v);
    }
  }
  free(y);
  if (st != FF_OK) ff_var_destroy(best);
  return st;
}
