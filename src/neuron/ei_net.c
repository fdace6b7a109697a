/* Izhikevich's E/I network for mode = netopt (ei_net.h): connectivity, one run, rate and LV, and the
 * two-sample tests. Every random number is keyed by what it belongs to, so a run is the same on any rank. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/ei_net.h"
#include "flyfit/error.h"
#include "flyfit/rng.h"

int ff_ei_net_create(FfEiNet *net, int32_t n_exc, int32_t n_inh, double duration_ms, uint64_t seed) {
  memset(net, 0, sizeof *net);
  const int64_t n = (int64_t)n_exc + n_inh;
  if (n_exc < 1 || n_inh < 0 || n > 20000 || !(duration_ms >= 10))
    return FF_ERROR(FF_ERR_INPUT, "[netopt] %d excitatory and %d inhibitory cells for %g ms: give 1..20000 cells and "
                                  "at least 10 ms", n_exc, n_inh, duration_ms);
  net->n_exc = n_exc;
  net->n_inh = n_inh;
  net->duration_ms = duration_ms;
  net->seed = seed;
  net->u = malloc(sizeof(float) * (size_t)(n * n));
  net->r = malloc(sizeof(float) * (size_t)(n * n));
  if (!net->u || !net->r) {
    ff_ei_net_destroy(net);
    return FF_ERROR(FF_ERR_NOMEM, "out of memory for the %lld x %lld connectivity", (long long)n, (long long)n);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      uint32_t w[4];
      ff_rng4(seed, FF_STREAM_NETOPT_CONN, (uint32_t)i, (uint32_t)j, 0, w);
      net->u[i * n + j] = i == j ? 2.0f : (float)ff_u01(w[0]); /* no self-connection */
      net->r[i * n + j] = (float)ff_u01(w[1]);
    }
  return FF_OK;
}

void ff_ei_net_destroy(FfEiNet *net) {
  free(net->u);
  free(net->r);
  net->u = net->r = NULL;
}

int ff_ei_net_run(const FfEiNet *net, double p, double w, uint32_t trial, double *rate, double *lv) {
  const int64_t n = (int64_t)net->n_exc + net->n_inh, steps = (int64_t)floor(net->duration_ms + 0.5);
  double *v = malloc(sizeof(double) * (size_t)n), *u = malloc(sizeof(double) * (size_t)n);
  double *in = malloc(sizeof(double) * (size_t)n), *last = malloc(sizeof(double) * (size_t)n);
  double *prev = malloc(sizeof(double) * (size_t)n), *sum = malloc(sizeof(double) * (size_t)n);
  int64_t *count = calloc((size_t)n, sizeof(int64_t)), *fired = malloc(sizeof(int64_t) * (size_t)n);
  int st = FF_OK;
  if (!v || !u || !in || !last || !prev || !sum || !count || !fired)
    st = FF_ERROR(FF_ERR_NOMEM, "out of memory for a network run");
  int64_t n_fired = 0;
  for (int64_t i = 0; st == FF_OK && i < n; ++i) {
    v[i] = -65.0;
    u[i] = 0.2 * -65.0;
    last[i] = prev[i] = -1.0;
    sum[i] = 0.0;
  }
  for (int64_t t = 0; st == FF_OK && t < steps; ++t) {
    for (int64_t i = 0; i < n; ++i) { /* thalamic noise, then the spikes of the step before */
      uint32_t q[4];
      ff_rng4(net->seed, FF_STREAM_NETOPT_NOISE, (uint32_t)t, (uint32_t)i, trial, q);
      in[i] = (i < net->n_exc ? 5.0 : 2.0) * ff_normal(q[0], q[1]);
      for (int64_t k = 0; k < n_fired; ++k) {
        const int64_t j = fired[k];
        if (net->u[i * n + j] < p) in[i] += (j < net->n_exc ? 0.5 : -1.0) * w * net->r[i * n + j];
      }
    }
    n_fired = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int exc = i < net->n_exc;
      const double a = exc ? 0.02 : 0.1, d = exc ? 8.0 : 2.0;
      for (int h = 0; h < 2; ++h) v[i] += 0.5 * (0.04 * v[i] * v[i] + 5.0 * v[i] + 140.0 - u[i] + in[i]);
      u[i] += a * (0.2 * v[i] - u[i]);
      if (v[i] >= 30.0 || !isfinite(v[i])) {
        v[i] = -65.0;
        u[i] += d;
        fired[n_fired++] = i;
        const double tt = (double)(t + 1); /* ms */
        if (count[i] >= 2) { /* LV term of the two intervals before this spike */
          const double i1 = last[i] - prev[i], i2 = tt - last[i];
          sum[i] += 3.0 * (i1 - i2) * (i1 - i2) / ((i1 + i2) * (i1 + i2));
        }
        prev[i] = last[i];
        last[i] = tt;
        ++count[i];
      }
    }
  }
  for (int64_t i = 0; st == FF_OK && i < n; ++i) {
    rate[i] = 1000.0 * (double)count[i] / ((double)steps);
    lv[i] = count[i] >= 3 ? sum[i] / (double)(count[i] - 2) : NAN;
  }
  free(v);
  free(u);
  free(in);
  free(last);
  free(prev);
  free(sum);
  free(count);
  free(fired);
  return st;
}

/* mean and variance (n - 1) of the finite entries */
static int64_t moments(const double *x, int64_t n, double *mean, double *var) {
  double s = 0.0, ss = 0.0;
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i)
    if (isfinite(x[i])) s += x[i], ++k;
  *mean = k ? s / (double)k : NAN;
  for (int64_t i = 0; i < n; ++i)
    if (isfinite(x[i])) ss += (x[i] - *mean) * (x[i] - *mean);
  *var = k > 1 ? ss / (double)(k - 1) : NAN;
  return k;
}

/* the continued fraction of the incomplete beta function (modified Lentz) */
static double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  d = fabs(d) < tiny ? tiny : d;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d;
    d = fabs(d) < tiny ? tiny : d;
    c = 1.0 + aa / c;
    c = fabs(c) < tiny ? tiny : c;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d;
    d = fabs(d) < tiny ? tiny : d;
    c = 1.0 + aa / c;
    c = fabs(c) < tiny ? tiny : c;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-15) break;
  }
  return h;
}

/* the regularised incomplete beta function I_x(a, b) */
static double inc_beta(double a, double b, double x) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  const double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return exp(lbt) * beta_cf(a, b, x) / a;
  return 1.0 - exp(lbt) * beta_cf(b, a, 1.0 - x) / b;
}

double ff_welch_p(const double *a, int64_t na, const double *b, int64_t nb) {
  double ma, va, mb, vb;
  const int64_t ka = moments(a, na, &ma, &va), kb = moments(b, nb, &mb, &vb);
  if (ka < 2 || kb < 2) return NAN;
  const double sa = va / (double)ka, sb = vb / (double)kb, se2 = sa + sb;
  if (!(se2 > 0)) return ma == mb ? 1.0 : 0.0;
  const double t = (ma - mb) / sqrt(se2);
  const double df = se2 * se2 / (sa * sa / (double)(ka - 1) + sb * sb / (double)(kb - 1));
  return inc_beta(0.5 * df, 0.5, df / (df + t * t));
}

static int cmp_double(const void *x, const void *y) {
  const double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

double ff_ks2_p(const double *a, int64_t na, const double *b, int64_t nb) {
  double *x = malloc(sizeof(double) * (size_t)(na > 0 ? na : 1)), *y = malloc(sizeof(double) * (size_t)(nb > 0 ? nb : 1));
  int64_t n1 = 0, n2 = 0;
  for (int64_t i = 0; x && i < na; ++i)
    if (isfinite(a[i])) x[n1++] = a[i];
  for (int64_t i = 0; y && i < nb; ++i)
    if (isfinite(b[i])) y[n2++] = b[i];
  double p = NAN;
  if (x && y && n1 > 0 && n2 > 0) {
    qsort(x, (size_t)n1, sizeof(double), cmp_double);
    qsort(y, (size_t)n2, sizeof(double), cmp_double);
    double D = 0.0;
    for (int64_t i = 0, j = 0; i < n1 || j < n2;) { /* both empirical CDFs after each distinct value */
      const double t = j >= n2 || (i < n1 && x[i] <= y[j]) ? x[i] : y[j];
      while (i < n1 && x[i] <= t) ++i;
      while (j < n2 && y[j] <= t) ++j;
      const double diff = fabs((double)i / (double)n1 - (double)j / (double)n2);
      if (diff > D) D = diff;
    }
    const double lam = sqrt((double)n1 * (double)n2 / (double)(n1 + n2)) * D;
    if (lam < 0.2) p = 1.0; /* the series converges slowly there and equals 1 to double precision */
    else {
      double s = 0.0;
      for (int k = 1; k <= 200; ++k) s += (k % 2 ? 2.0 : -2.0) * exp(-2.0 * k * k * lam * lam);
      p = s < 0 ? 0.0 : s > 1 ? 1.0 : s;
    }
  }
  free(x);
  free(y);
  return p;
}
