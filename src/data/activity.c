/* The preprocessing chain from calcium traces to rates (include/flyfit/activity.h).
 * Order: dF/F over all frames, high-pass, trim, OASIS deconvolution, scaling to max_rate_hz.
 * Invariant: every loop runs in a fixed order on one thread, so results are reproducible bit for bit. */
#include "flyfit/activity.h"
#include "flyfit/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846; /* M_PI is not in strict C11 */

void ff_preprocess_defaults(FfPreprocess *p) {
  p->fs_hz = 1.2;
  p->highpass_hz = 0.01;
  p->trim_frames = 100;
  p->calcium_tau_s = 0.8;
  p->deconv_lambda = 0.0;
  p->max_rate_hz = 100.0;
}

int ff_preprocess_check(const FfPreprocess *p) {
  if (!(isfinite(p->fs_hz) && p->fs_hz > 0))
    return FF_ERROR(FF_ERR_INPUT, "fs_hz = %g: the frame rate must be a positive number of Hz", p->fs_hz);
  if (!(isfinite(p->highpass_hz) && p->highpass_hz >= 0 && p->highpass_hz < p->fs_hz / 2))
    return FF_ERROR(FF_ERR_INPUT, "highpass_hz = %g: the cutoff must be at least 0 (no filter) and below half the "
                    "frame rate (%g Hz)", p->highpass_hz, p->fs_hz / 2);
  if (p->trim_frames < 0)
    return FF_ERROR(FF_ERR_INPUT, "trim_frames = %lld: cannot drop a negative number of frames",
                    (long long)p->trim_frames);
  if (!(isfinite(p->calcium_tau_s) && p->calcium_tau_s > 0))
    return FF_ERROR(FF_ERR_INPUT, "calcium_tau_s = %g: the calcium decay time must be a positive number of seconds",
                    p->calcium_tau_s);
  if (!(isfinite(p->deconv_lambda) && p->deconv_lambda >= 0))
    return FF_ERROR(FF_ERR_INPUT, "deconv_lambda = %g: the sparsity penalty must be 0 or more", p->deconv_lambda);
  if (!(isfinite(p->max_rate_hz) && p->max_rate_hz > 0))
    return FF_ERROR(FF_ERR_INPUT, "max_rate_hz = %g: the largest rate must be a positive number of Hz",
                    p->max_rate_hz);
  const double g = ff_preprocess_gamma(p);
  if (!(g > 0 && g < 1))
    return FF_ERROR(FF_ERR_INPUT, "calcium_tau_s = %g at fs_hz = %g gives the calcium decay factor %g per frame, "
                    "which must lie strictly between 0 and 1", p->calcium_tau_s, p->fs_hz, g);
  return FF_OK;
}

double ff_preprocess_gamma(const FfPreprocess *p) { return exp(-1.0 / (p->calcium_tau_s * p->fs_hz)); }

/* "'fly.npz'", or "the recording" when the source is not known. */
static const char *source_of(const FfTraceLabels *lab, char *buf, size_t cap) {
  if (lab && lab->source) snprintf(buf, cap, "'%s'", lab->source);
  else snprintf(buf, cap, "the recording");
  return buf;
}

/* "'fly.npz': region 'AL_R' (row 12)" */
static const char *label(const FfTraceLabels *lab, int64_t p, char *buf, size_t cap) {
  const char *src = lab ? lab->source : NULL;
  const int64_t row = lab && lab->rows ? lab->rows[p] : p;
  size_t n = src ? (size_t)snprintf(buf, cap, "'%s': ", src) : 0;
  if (n >= cap) n = cap - 1;
  if (lab && lab->names)
    snprintf(buf + n, cap - n, "region '%s' (row %lld)", lab->names[p], (long long)row);
  else
    snprintf(buf + n, cap - n, "region %lld", (long long)row);
  return buf;
}

/* dF/F with the mean fluorescence of frames [0, n_ref). */
static int dff_ref(double *x, int64_t P, int64_t T, int64_t n_ref, const FfTraceLabels *lab) {
  char who[512];
  for (int64_t p = 0; p < P; ++p) {
    double *r = x + p * T;
    double sum = 0.0;
    int constant = 1;
    for (int64_t t = 0; t < T; ++t) {
      if (!isfinite(r[t]))
        return FF_ERROR(FF_ERR_INPUT, "%s holds %s at frame %lld; every frame must be a finite number", label(lab, p, who, sizeof who),
                        isnan(r[t]) ? "NaN" : "Inf", (long long)t);
      if (t < n_ref) sum += r[t];
      constant &= r[t] == r[0];
    }
    if (T == 0) return FF_ERROR(FF_ERR_INPUT, "%s has no frames", label(lab, p, who, sizeof who));
    if (constant)
      return FF_ERROR(FF_ERR_INPUT, "%s is constant (%g in every frame); dF/F needs a varying, nonzero trace",
                      label(lab, p, who, sizeof who), r[0]);
    const double mean = sum / (double)n_ref;
    if (mean == 0.0)
      return FF_ERROR(FF_ERR_INPUT, "%s has mean 0; dF/F divides by the mean fluorescence (are these raw traces?)",
                      label(lab, p, who, sizeof who));
    for (int64_t t = 0; t < T; ++t) r[t] = (r[t] - mean) / mean;
  }
  return FF_OK;
}

int ff_activity_dff(double *x, int64_t P, int64_t T, const FfTraceLabels *lab) { return dff_ref(x, P, T, T, lab); }

void ff_highpass_coeffs(double cutoff_hz, double fs_hz, double b[2], double a[2]) {
  /* Analog prototype s / (s + w) with w pre-warped to 2 fs tan(pi fc / fs), then s = 2 fs (z-1)/(z+1):
   * the 2 fs cancel and the -3 dB point lands exactly on cutoff_hz. */
  const double K = tan(PI * cutoff_hz / fs_hz);
  b[0] = 1.0 / (1.0 + K);
  b[1] = -b[0];
  a[0] = 1.0;
  a[1] = -(1.0 - K) / (1.0 + K);
}

void ff_activity_highpass(double *x, int64_t P, int64_t T, double cutoff_hz, double fs_hz) {
  if (cutoff_hz == 0.0) return;
  double b[2], a[2];
  ff_highpass_coeffs(cutoff_hz, fs_hz, b, a);
  for (int64_t p = 0; p < P; ++p) {
    double *r = x + p * T;
    double z = 0.0; /* the filter state: zero before the first frame, as sosfilt without zi */
    for (int64_t t = 0; t < T; ++t) {
      const double in = r[t], out = b[0] * in + z;
      z = b[1] * in - a[1] * out;
      r[t] = out;
    }
  }
}

static int check_length(int64_t T, int64_t trim, const FfTraceLabels *lab) {
  char who[512];
  if (trim < 0) return FF_ERROR(FF_ERR_INPUT, "trim_frames = %lld is negative", (long long)trim);
  if (T == 0) return FF_ERROR(FF_ERR_INPUT, "%s has no frames", source_of(lab, who, sizeof who));
  if (trim >= T)
    return FF_ERROR(FF_ERR_INPUT, "%s has %lld frames; dropping the first %lld (trim_frames) leaves none: lower "
                    "trim_frames or use a longer recording", source_of(lab, who, sizeof who), (long long)T,
                    (long long)trim);
  return FF_OK;
}

int ff_activity_trim(double *x, int64_t P, int64_t *T, int64_t trim, const FfTraceLabels *lab) {
  FF_TRY(check_length(*T, trim, lab));
  const int64_t n = *T - trim;
  /* Each row moves to an earlier address than it came from, so going forward never overwrites
   * data that is still to be moved. */
  for (int64_t p = 0; p < P; ++p) memmove(x + p * n, x + p * *T + trim, (size_t)n * sizeof *x);
  *T = n;
  return FF_OK;
}

/* ---- OASIS ---------------------------------------------------------------------------------------
 * With s_0 = c_0, the penalty lambda sum_t s_t equals lambda ((1 - gamma) sum_{t<T-1} c_t + c_{T-1}),
 * linear in c, so the problem is min 1/2 ||y' - c||^2 over c with c_t >= gamma c_{t-1} and c_0 >= 0,
 * where y' = y - lambda (1 - gamma) (y' = y - lambda in the last frame). Dividing by gamma^t turns
 * the constraints into a weighted isotonic regression, which the pool-adjacent-violators algorithm
 * solves: a pool [t, t+l) holds c = v gamma^k, v = sum_k gamma^k y'_{t+k} / sum_k gamma^2k, and two
 * neighbouring pools merge while the later one starts below the decayed end of the earlier one
 * (a negative spike). The lower bound c >= 0 is applied afterwards by clipping each pool's v at
 * 0, which is exact for isotonic regression with a constant bound. */

typedef struct {
  double sy; /* sum_k gamma^k y'_{t+k} */
  double w;  /* sum_k gamma^2k */
  int64_t t, l;
} Pool;

static void oasis(const double *y, int64_t T, double gamma, double lambda, Pool *pool, double *s, double *c) {
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) {
    const double yt = y[t] - lambda * (t == T - 1 ? 1.0 : 1.0 - gamma);
    pool[n++] = (Pool){yt, 1.0, t, 1};
    while (n > 1) {
      Pool *a = &pool[n - 2], *b = &pool[n - 1];
      const double ga = pow(gamma, (double)a->l);
      if (!(b->sy / b->w < ga * (a->sy / a->w))) break;
      a->sy += ga * b->sy;
      a->w += ga * ga * b->w;
      a->l += b->l;
      --n;
    }
  }
  double prev_end = 0.0; /* calcium one frame after the previous pool's last frame, before any spike */
  for (int64_t i = 0; i < n; ++i) {
    const double v = fmax(0.0, pool[i].sy / pool[i].w);
    /* v >= prev_end holds by the merge rule (same expressions, same rounding); fmax only guards
     * the clipped first pools, where both sides are 0. */
    s[pool[i].t] = fmax(0.0, v - prev_end);
    double ck = v;
    for (int64_t k = 0; k < pool[i].l; ++k) {
      if (k > 0) s[pool[i].t + k] = 0.0;
      if (c) c[pool[i].t + k] = ck;
      ck *= gamma;
    }
    prev_end = v * pow(gamma, (double)pool[i].l);
  }
}

int ff_oasis_ar1(const double *y, int64_t T, double gamma, double lambda, double *s, double *c) {
  if (!(gamma > 0 && gamma < 1) || !(lambda >= 0))
    return FF_ERROR(FF_ERR_INPUT, "deconvolution: gamma = %g must lie in (0, 1) and lambda = %g must be >= 0", gamma,
                    lambda);
  Pool *pool;
  FF_TRY(FF_MALLOC(pool, T, "deconvolution pools"));
  oasis(y, T, gamma, lambda, pool, s, c);
  free(pool);
  return FF_OK;
}

int ff_activity_deconvolve(const double *x, int64_t P, int64_t T, double gamma, double lambda, double *s) {
  if (!(gamma > 0 && gamma < 1) || !(lambda >= 0))
    return FF_ERROR(FF_ERR_INPUT, "deconvolution: gamma = %g must lie in (0, 1) and lambda = %g must be >= 0", gamma,
                    lambda);
  Pool *pool;
  FF_TRY(FF_MALLOC(pool, T, "deconvolution pools"));
  for (int64_t p = 0; p < P; ++p) oasis(x + p * T, T, gamma, lambda, pool, s + p * T, NULL);
  free(pool);
  return FF_OK;
}

/* Scales s [P x T] by max_rate_hz over its largest value in frames [0, n_ref). */
static int scale_ref(double *s, int64_t P, int64_t T, int64_t n_ref, double max_rate_hz, const FfTraceLabels *lab) {
  char who[512];
  double top = 0.0;
  for (int64_t p = 0; p < P; ++p)
    for (int64_t t = 0; t < n_ref; ++t) top = fmax(top, s[p * T + t]);
  if (!(top > 0.0))
    return FF_ERROR(FF_ERR_INPUT, "%s: the deconvolved activity is 0 in every region and frame, so there is no "
                    "maximum to scale to %g Hz (a flat recording, or deconv_lambda too large?)",
                    source_of(lab, who, sizeof who), max_rate_hz);
  const double f = max_rate_hz / top;
  for (int64_t k = 0; k < P * T; ++k) s[k] *= f;
  return FF_OK;
}

int ff_activity_scale(double *s, int64_t P, int64_t T, double max_rate_hz, const FfTraceLabels *lab) {
  return scale_ref(s, P, T, T, max_rate_hz, lab);
}

int ff_activity_preprocess(const double *traces, int64_t P, int64_t T, const FfPreprocess *p,
                           const FfTraceLabels *lab, double **dff, double **rates, int64_t *T_out) {
  return ff_activity_preprocess_ref(traces, P, T, T, p, lab, dff, rates, T_out);
}

int ff_activity_preprocess_ref(const double *traces, int64_t P, int64_t T, int64_t n_ref, const FfPreprocess *p,
                               const FfTraceLabels *lab, double **dff, double **rates, int64_t *T_out) {
  *dff = *rates = NULL;
  FF_TRY(ff_preprocess_check(p));
  FF_TRY(check_length(T, p->trim_frames, lab)); /* before dF/F, which would call an empty trace constant */
  if (n_ref > T) n_ref = T;
  if (n_ref <= p->trim_frames)
    return FF_ERROR(FF_ERR_INPUT, "preprocessing: %lld reference frames leave none after trimming %lld",
                    (long long)n_ref, (long long)p->trim_frames);
  double *x = NULL, *r = NULL, *head = NULL;
  int64_t n = T;
  const int64_t m = n_ref - p->trim_frames; /* reference frames after trimming */
  int st = FF_MALLOC(x, P * T, "dF/F traces");
  if (st == FF_OK) {
    if (P * T > 0) memcpy(x, traces, (size_t)(P * T) * sizeof *x);
    st = dff_ref(x, P, T, n_ref, lab);
  }
  if (st == FF_OK) {
    ff_activity_highpass(x, P, T, p->highpass_hz, p->fs_hz); /* causal: frame t reads frames <= t */
    st = ff_activity_trim(x, P, &n, p->trim_frames, lab);
  }
  if (st == FF_OK) st = FF_MALLOC(r, P * n, "rates");
  if (st == FF_OK) st = ff_activity_deconvolve(x, P, n, ff_preprocess_gamma(p), p->deconv_lambda, r);
  if (st == FF_OK && m < n) {
    /* the deconvolution looks ahead (a pool merges with later frames): the reference frames are
     * deconvolved on their own, so that nothing after them reaches them */
    st = FF_MALLOC(head, P * m, "rates");
    for (int64_t q = 0; st == FF_OK && q < P; ++q) {
      for (int64_t t = 0; t < m; ++t) head[q * m + t] = x[q * n + t];
    }
    double *s = NULL;
    if (st == FF_OK) st = FF_MALLOC(s, P * m, "rates");
    if (st == FF_OK) st = ff_activity_deconvolve(head, P, m, ff_preprocess_gamma(p), p->deconv_lambda, s);
    for (int64_t q = 0; st == FF_OK && q < P; ++q)
      for (int64_t t = 0; t < m; ++t) r[q * n + t] = s[q * m + t];
    free(s);
  }
  if (st == FF_OK) st = scale_ref(r, P, n, m, p->max_rate_hz, lab);
  free(head);
  if (st != FF_OK) {
    free(x);
    free(r);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  *dff = x;
  *rates = r;
  *T_out = n;
  return FF_OK;
}
