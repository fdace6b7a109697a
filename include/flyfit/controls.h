/* The controls a reviewer asks a forecast to beat, fitted on the training frames only: persistence
 * (the last frame), the per-neuropil mean and median, and ridge VAR(1)/VAR(2) with the ridge
 * strength chosen on the validation block. Each forecasts a recording x [T x P] (frame-major, Hz)
 * in both protocols: one step ahead (frame k from the recorded frames before it) and free-running
 * (from frame k0 on, on its own outputs, the recording used only before k0). Forecasts are rates,
 * so VAR's are clamped at 0 as the chain's ReLU clamps its own. Frames without a forecast are NaN. */
#ifndef FLYFIT_CONTROLS_H
#define FLYFIT_CONTROLS_H

#include <stdint.h>

typedef enum { FF_PROTOCOL_ONESTEP = 0, FF_PROTOCOL_FREE = 1 } FfProtocol;

/* Persistence: one step, y_k = x_{k-1}; free-running, y_k = x_{k0-1} for every k >= k0. */
void ff_control_persistence(const double *x, int64_t T, int64_t P, int64_t k0, FfProtocol proto, double *y);
/* A constant forecast (the training frames' per-neuropil mean or median) from frame k0 on. */
void ff_control_constant(const double *level, int64_t T, int64_t P, int64_t k0, double *y);
/* Per-neuropil mean and median of frames [t0, t1). */
int ff_control_levels(const double *x, int64_t P, int64_t t0, int64_t t1, double *mean, double *median);

/* Ridge VAR(order): x_k = b + sum_{l=1..order} A_l x_{k-l}, fitted on the targets k in [t0, t1)
 * (their lags may reach before t0, never before frame 0), with penalty lambda x (number of targets)
 * on A but not on b, inputs centred on the training mean so that lambda's scale is the data's. */
typedef struct {
  int order;
  int64_t P;
  double lambda;
  double *coef; /* [(order x P + 1) x P]: rows are the inputs (lag 1 neuropils, lag 2, ..., then 1) */
  double *centre; /* [P] training mean the inputs are centred on */
} FfVar;
int ff_var_fit(const double *x, int64_t P, int64_t t0, int64_t t1, int order, double lambda, FfVar *v);
/* Forecasts frames k >= k0 (k0 >= order) in either protocol; y [T x P], NaN before k0. */
void ff_var_forecast(const FfVar *v, const double *x, int64_t T, int64_t k0, FfProtocol proto, double *y);
/* Fits on targets [t0, t1) for each lambda in grid[n] and keeps the one whose one-step MSE on the
 * validation targets [v0, v1) is lowest (the first on ties); *val_mse gets that MSE. */
int ff_var_select(const double *x, int64_t P, int64_t t0, int64_t t1, int64_t v0, int64_t v1, int order,
                  const double *grid, int n, FfVar *best, double *val_mse);
void ff_var_destroy(FfVar *v);

#endif
