/* Inference of mode = cells (cells.h, docs/design.md §2.10.2-2.10.4): the preprocessing chain per cell, inferred
 * spikes per frame, the driven Izhikevich neuron of a cell, the baselines (correlation, partial correlation,
 * lagged cross-correlation) and the cross-validated logistic regression of E/I (ROC/AUC: cells_roc.c). All host code in a fixed
 * order: the same input gives the same bits wherever it runs. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/activity.h"
#include "flyfit/blas.h"
#include "flyfit/cells.h"
#include "flyfit/error.h"
#include "flyfit/neuron_models.h"
#include "flyfit/rng.h"

void ff_cells_params_from_config(const FfConfig *c, FfCellsParams *p) {
  p->stdp.rule = c->cells_rule;
  p->stdp.a_plus = c->cells_a_plus;
  p->stdp.a_minus = c->cells_a_minus;
  p->stdp.tau_plus_ms = c->cells_tau_plus_ms;
  p->stdp.tau_minus_ms = c->cells_tau_minus_ms;
  p->stdp.w_min = 0.0;
  p->stdp.w_max = c->cells_w_max;
  p->w_init = c->cells_w_init;
  p->passes = c->cells_passes;
  p->calcium_tau_s = c->cells_calcium_tau_s;
  p->highpass_hz = c->cells_highpass_hz;
  p->deconv_lambda = c->cells_deconv_lambda;
  p->spike_z = c->cells_spike_z;
  p->max_per_frame = c->cells_max_per_frame;
  p->drive_mV = c->cells_drive_mV;
  p->coupling_mV = c->cells_coupling_mV;
  p->placement = c->cells_placement;
  p->dt_ms = c->cells_dt_ms;
  p->xcorr_lag = c->cells_xcorr_lag;
  p->partial_ridge = c->cells_partial_ridge;
  p->folds = c->cells_folds;
  p->partial_max_cells = c->cells_partial_max_cells;
  p->seed = (uint64_t)c->seed;
}

void ff_cells_params_defaults(FfCellsParams *p) {
  FfConfig c;
  ff_config_init(&c);
  ff_cells_params_from_config(&c, p);
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* the median of v [n] (sorted in place) */
static double median(double *v, int64_t n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int ff_cells_deconvolve(const FfCellsRecording *r, const FfCellsParams *p, double *s, double *dff) {
  const int64_t n = r->n_cells, T = r->n_frames;
  if (T < 2) return FF_ERROR(FF_ERR_INPUT, "'%s': %lld frame(s): deconvolution needs more", r->file, (long long)T);
  double *x = NULL;
  char **names = NULL, *pool = NULL;
  int st = FF_MALLOC(x, n * T, "dF/F");
  FF_CALL(st, FF_MALLOC(names, n, "cell names"));
  FF_CALL(st, FF_MALLOC(pool, n * 24, "cell names"));
  if (st == FF_OK) {
    memcpy(x, r->fluor, sizeof(double) * (size_t)(n * T));
    for (int64_t i = 0; i < n; ++i) {
      names[i] = pool + i * 24;
      snprintf(names[i], 24, "cell %lld", (long long)i);
    }
    const FfTraceLabels lab = {r->file, (const char *const *)names, NULL};
    st = ff_activity_dff(x, n, T, &lab);
  }
  if (st == FF_OK && p->highpass_hz > 0) {
    if (!(p->highpass_hz < r->fs_hz / 2))
      st = FF_ERROR(FF_ERR_INPUT, "[cells] highpass_hz = %g must be below half the frame rate (%g Hz) of '%s'",
                    p->highpass_hz, r->fs_hz, r->file);
    else ff_activity_highpass(x, n, T, p->highpass_hz, r->fs_hz);
  }
  /* OASIS fits c >= 0 with no baseline, and dF/F against the mean puts the resting level below 0: subtract each
   * cell's resting level, the 10th percentile of its frames plus 1.28 noise sds (the noise's own 10th percentile) */
  double *buf = NULL;
  FF_CALL(st, FF_MALLOC(buf, T, "a cell's frames"));
  for (int64_t i = 0; st == FF_OK && i < n; ++i) {
    double *y = x + i * T;
    for (int64_t t = 1; t < T; ++t) buf[t - 1] = fabs(y[t] - y[t - 1]);
    const double sd = 1.4826 * median(buf, T - 1) / sqrt(2.0);
    memcpy(buf, y, sizeof(double) * (size_t)T);
    qsort(buf, (size_t)T, sizeof *buf, cmp_double);
    const double base = buf[(T - 1) / 10] + 1.2816 * sd;
    for (int64_t t = 0; t < T; ++t) y[t] -= base;
  }
  free(buf);
  const double gamma = exp(-1.0 / (p->calcium_tau_s * r->fs_hz));
  FF_CALL(st, ff_activity_deconvolve(x, n, T, gamma, p->deconv_lambda, s));
  if (st == FF_OK && dff) memcpy(dff, x, sizeof(double) * (size_t)(n * T));
  free(x);
  free(names);
  free(pool);
  return st;
}

int ff_cells_counts(const double *s, const double *dff, int64_t n, int64_t T, const FfCellsParams *p, int32_t *counts) {
  if (T < 2) return FF_ERROR(FF_ERR_INPUT, "%lld frame(s): the noise of a cell needs at least 2", (long long)T);
  double *buf = NULL;
  FF_TRY(FF_MALLOC(buf, T, "a cell's frames"));
  for (int64_t i = 0; i < n; ++i) {
    const double *si = s + i * T, *y = dff + i * T;
    for (int64_t t = 1; t < T; ++t) buf[t - 1] = fabs(y[t] - y[t - 1]);
    const double sd = 1.4826 * median(buf, T - 1) / sqrt(2.0), thr = p->spike_z * sd;
    int64_t m = 0;
    for (int64_t t = 0; t < T; ++t)
      if (si[t] > thr) buf[m++] = si[t];
    const double unit = m ? median(buf, m) : 1.0;
    for (int64_t t = 0; t < T; ++t) {
      int64_t c = 0;
      if (si[t] > thr) {
        c = (int64_t)floor(si[t] / unit + 0.5);
        if (c < 1) c = 1;
        if (c > p->max_per_frame) c = p->max_per_frame;
      }
      counts[i * T + t] = (int32_t)c;
    }
  }
  free(buf);
  return FF_OK;
}

void ff_cells_neuron_params(int excitatory, double *par) {
  /* RS and FS of Izhikevich 2003 */
  const double rs_fs[FF_IZH_NPARAM] = {excitatory ? 0.02 : 0.1, 0.2, -65.0, excitatory ? 8.0 : 2.0, 30.0};
  memcpy(par, rs_fs, sizeof rs_fs);
}

int64_t ff_cells_steps(int64_t T, double fs_hz, const FfCellsParams *p) {
  return (int64_t)ceil((double)T * (1000.0 / fs_hz) / p->dt_ms);
}

int ff_cells_inputs(const int32_t *counts, int64_t T, double fs_hz, int64_t cell, int64_t pass, const FfCellsParams *p,
                    double **times, int64_t *n) {
  const double frame_ms = 1000.0 / fs_hz;
  const int32_t *c = counts + cell * T;
  int64_t n_in = 0;
  for (int64_t t = 0; t < T; ++t) n_in += c[t];
  double *in = NULL;
  FF_TRY(FF_MALLOC(in, n_in + 1, "input spikes"));
  int64_t k = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t k0 = k;
    for (int32_t q = 0; q < c[t]; ++q) {
      uint32_t w[4];
      ff_rng4(p->seed, FF_STREAM_CELLS_JITTER, (uint32_t)t, (uint32_t)cell, (uint32_t)(pass * 16 + q), w);
      const double u = p->placement == FF_CELLS_PLACE_RANDOM ? ff_u01(w[0]) : ((double)q + 0.5) / (double)c[t];
      in[k++] = ((double)t + u) * frame_ms;
    }
    qsort(in + k0, (size_t)(k - k0), sizeof *in, cmp_double);
  }
  *times = in;
  *n = n_in;
  return FF_OK;
}

int ff_cells_drive(const int32_t *counts, int64_t T, double fs_hz, int64_t cell, int excitatory, int64_t pass,
                   const FfCellsParams *p, double **times, int64_t *n) {
  double par[FF_IZH_NPARAM], *in = NULL, *out = NULL;
  const double dt = p->dt_ms;
  const int64_t steps = ff_cells_steps(T, fs_hz, p);
  int64_t n_in = 0, cap = 16, n_out = 0;
  ff_cells_neuron_params(excitatory, par);
  int st = ff_cells_inputs(counts, T, fs_hz, cell, pass, p, &in, &n_in);
  FF_CALL(st, FF_MALLOC(out, cap, "model spikes"));
  if (st) {
    free(in);
    return st;
  }
  double x[FF_IZH_NSTATE] = {-65.0, 0.2 * -65.0};
  int64_t next = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const double t_end = (double)(s + 1) * dt;
    while (next < n_in && in[next] < t_end) {
      x[FF_IZH_V] += p->drive_mV;
      ++next;
    }
    if (ff_izhikevich_step(par, dt, 0.0, x)) {
      if (n_out == cap) {
        cap *= 2;
        st = FF_REALLOC(out, cap, "model spikes");
        if (st) break;
      }
      out[n_out++] = t_end;
    }
  }
  free(in);
  if (st) {
    free(out);
    return st;
  }
  *times = out;
  *n = n_out;
  return FF_OK;
}

/* z-scores of every cell's frames: z [n × T]; a constant cell gets zeros */
static int zscores(const double *s, int64_t n, int64_t T, double **z) {
  FF_TRY(FF_MALLOC(*z, n * T, "z-scores"));
  for (int64_t i = 0; i < n; ++i) {
    const double *x = s + i * T;
    double m = 0, v = 0;
    for (int64_t t = 0; t < T; ++t) m += x[t];
    m /= (double)T;
    for (int64_t t = 0; t < T; ++t) v += (x[t] - m) * (x[t] - m);
    const double sd = sqrt(v / (double)T);
    for (int64_t t = 0; t < T; ++t) (*z)[i * T + t] = sd > 0 ? (x[t] - m) / sd : 0.0;
  }
  return FF_OK;
}

static double lagged(const double *a, const double *b, int64_t T, int64_t lag) {
  double acc = 0;
  for (int64_t t = 0; t + lag < T; ++t) acc += a[t] * b[t + lag];
  return acc / (double)(T - lag);
}

int ff_cells_corr(const double *s, int64_t n, int64_t T, double *m) {
  double *z = NULL;
  FF_TRY(zscores(s, n, T, &z));
  for (int64_t i = 0; i < n; ++i) {
    m[i * n + i] = 0.0;
    for (int64_t j = i + 1; j < n; ++j) m[i * n + j] = m[j * n + i] = lagged(z + i * T, z + j * T, T, 0);
  }
  free(z);
  return FF_OK;
}

int ff_cells_corr_rows(const double *s, int64_t n, int64_t T, int64_t i0, int64_t i1, double *m) {
  double *z = NULL;
  FF_TRY(zscores(s, n, T, &z));
  for (int64_t i = i0; i < i1; ++i) /* lagged(z_i, z_j, 0) = lagged(z_j, z_i, 0): the products commute */
    for (int64_t j = 0; j < n; ++j) m[(i - i0) * n + j] = i == j ? 0.0 : lagged(z + i * T, z + j * T, T, 0);
  free(z);
  return FF_OK;
}

int ff_cells_xcorr_rows(const double *s, int64_t n, int64_t T, int64_t max_lag, int64_t i0, int64_t i1, double *m) {
  double *z = NULL;
  if (max_lag < 1 || max_lag >= T)
    return FF_ERROR(FF_ERR_INPUT, "[cells] xcorr_lag = %lld must be within 1..%lld (the frames - 1)", (long long)max_lag,
                    (long long)(T - 1));
  FF_TRY(zscores(s, n, T, &z));
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double best = -INFINITY;
      for (int64_t l = 1; l <= max_lag && i != j; ++l) {
        const double v = lagged(z + i * T, z + j * T, T, l);
        if (v > best) best = v;
      }
      m[(i - i0) * n + j] = i == j ? 0.0 : best;
    }
  free(z);
  return FF_OK;
}

int ff_cells_xcorr(const double *s, int64_t n, int64_t T, int64_t max_lag, double *m) {
  return ff_cells_xcorr_rows(s, n, T, max_lag, 0, n, m);
}

int ff_cells_partial(const double *s, int64_t n, int64_t T, double ridge, double *m) {
  double *c = NULL;
  FF_TRY(FF_MALLOC(c, n * n, "correlation matrix"));
  int st = ff_cells_corr(s, n, T, c);
  for (int64_t i = 0; i < n; ++i) c[i * n + i] = 1.0 + ridge;
  if (st == FF_OK) {
    const int threads = ff_blas_pin(); /* the same bits on any rank count and binding */
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)n, c, (lapack_int)n);
    if (info == 0) info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', (lapack_int)n, c, (lapack_int)n);
    ff_blas_unpin(threads);
    if (info != 0)
      st = FF_ERROR(FF_ERR_INPUT, "partial correlation: the regularised correlation matrix is not positive definite "
                                  "(LAPACK info %d); raise [cells] partial_ridge",
                    (int)info);
  }
  for (int64_t i = 0; st == FF_OK && i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double pij = i <= j ? c[i * n + j] : c[j * n + i]; /* dpotri fills the upper triangle */
      m[i * n + j] = i == j ? 0.0 : -pij / sqrt(c[i * n + i] * c[j * n + j]);
    }
  free(c);
  return st;
}

/* Newton's method on the L2-penalised logistic loss; x [m × d] standardised; b [d + 1] (intercept last) */
static void logreg_fit(const double *x, const int8_t *y, int64_t m, int64_t d, double l2, double *b) {
  const int64_t q = d + 1;
  double H[17 * 17], g[17];
  for (int64_t k = 0; k < q; ++k) b[k] = 0;
  for (int it = 0; it < 50; ++it) {
    memset(H, 0, sizeof H);
    memset(g, 0, sizeof g);
    for (int64_t i = 0; i < m; ++i) {
      double eta = b[d];
      for (int64_t k = 0; k < d; ++k) eta += b[k] * x[i * d + k];
      const double pr = 1.0 / (1.0 + exp(-eta)), w = pr * (1 - pr), e = pr - (double)y[i];
      for (int64_t k = 0; k < q; ++k) {
        const double xk = k < d ? x[i * d + k] : 1.0;
        g[k] += e * xk;
        for (int64_t l = 0; l < q; ++l) H[k * q + l] += w * xk * (l < d ? x[i * d + l] : 1.0);
      }
    }
    for (int64_t k = 0; k < d; ++k) {
      g[k] += l2 * b[k];
      H[k * q + k] += l2;
    }
    H[d * q + d] += 1e-9;
    /* solve H step = g by Gaussian elimination with partial pivoting (q <= 17) */
    double step[17];
    for (int64_t col = 0; col < q; ++col) {
      int64_t piv = col;
      for (int64_t r2 = col + 1; r2 < q; ++r2)
        if (fabs(H[r2 * q + col]) > fabs(H[piv * q + col])) piv = r2;
      for (int64_t l = 0; l < q; ++l) {
        const double t = H[col * q + l];
        H[col * q + l] = H[piv * q + l];
        H[piv * q + l] = t;
      }
      const double tg = g[col];
      g[col] = g[piv];
      g[piv] = tg;
      for (int64_t r2 = col + 1; r2 < q; ++r2) {
        const double f = H[r2 * q + col] / H[col * q + col];
        for (int64_t l = col; l < q; ++l) H[r2 * q + l] -= f * H[col * q + l];
        g[r2] -= f * g[col];
      }
    }
    for (int64_t k = q - 1; k >= 0; --k) {
      double acc = g[k];
      for (int64_t l = k + 1; l < q; ++l) acc -= H[k * q + l] * step[l];
      step[k] = acc / H[k * q + k];
    }
    double change = 0;
    for (int64_t k = 0; k < q; ++k) {
      b[k] -= step[k];
      change += fabs(step[k]);
    }
    if (change < 1e-12) break;
  }
}

int ff_cells_logreg_cv(const double *x, int64_t n, int64_t d, const int8_t *y, int64_t folds, uint64_t seed,
                       int8_t *pred) {
  if (d > 16) return FF_ERROR(FF_ERR_INTERNAL, "logistic regression of %lld features (at most 16)", (long long)d);
  if (folds < 2 || folds > n)
    return FF_ERROR(FF_ERR_INPUT, "[cells] folds = %lld must be within 2..%lld (the cells)", (long long)folds,
                    (long long)n);
  FfCellsRanked *perm = NULL;
  int64_t *fold = NULL;
  double *xs = NULL, b[17];
  int8_t *ys = NULL;
  int st = FF_MALLOC(perm, n, "fold order");
  FF_CALL(st, FF_MALLOC(fold, n, "folds"));
  FF_CALL(st, FF_MALLOC(xs, n * d, "standardised features"));
  FF_CALL(st, FF_MALLOC(ys, n, "training labels"));
  for (int64_t i = 0; st == FF_OK && i < n; ++i) {
    uint32_t w[4];
    ff_rng4(seed, FF_STREAM_CELLS_FOLDS, (uint32_t)i, 0, 0, w);
    perm[i].score = ff_u01_53(w[0], w[1]);
    perm[i].index = i;
  }
  if (st == FF_OK) {
    qsort(perm, (size_t)n, sizeof *perm, ff_cells_ranked_cmp);
    for (int64_t k = 0; k < n; ++k) fold[perm[k].index] = k % folds;
  }
  for (int64_t f = 0; st == FF_OK && f < folds; ++f) {
    double mean[16], sd[16];
    int64_t m = 0;
    for (int64_t k = 0; k < d; ++k) {
      double s1 = 0, s2 = 0;
      int64_t c = 0;
      for (int64_t i = 0; i < n; ++i)
        if (fold[i] != f) s1 += x[i * d + k], ++c;
      mean[k] = s1 / (double)c;
      for (int64_t i = 0; i < n; ++i)
        if (fold[i] != f) s2 += (x[i * d + k] - mean[k]) * (x[i * d + k] - mean[k]);
      sd[k] = sqrt(s2 / (double)c);
      if (!(sd[k] > 0)) sd[k] = 1.0;
    }
    for (int64_t i = 0; i < n; ++i)
      if (fold[i] != f) {
        for (int64_t k = 0; k < d; ++k) xs[m * d + k] = (x[i * d + k] - mean[k]) / sd[k];
        ys[m++] = y[i];
      }
    logreg_fit(xs, ys, m, d, 1.0, b);
    for (int64_t i = 0; i < n; ++i)
      if (fold[i] == f) {
        double eta = b[d];
        for (int64_t k = 0; k < d; ++k) eta += b[k] * (x[i * d + k] - mean[k]) / sd[k];
        pred[i] = (int8_t)(eta > 0);
      }
  }
  free(perm);
  free(fold);
  free(xs);
  free(ys);
  return st;
}
