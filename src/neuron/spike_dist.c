/* Spike-train distances (include/flyfit/spike_dist.h, docs/design.md §2.9.1). The ISI- and
 * SPIKE-distances follow PySpike 0.7's Cython code (isi_distance_cython, spike_distance_cython) step
 * for step, the same operations in the same order, so that the values agree to rounding; its branch
 * for equal spike times in both trains is kept, since it sets the profile to 0 there exactly. */
#include "flyfit/spike_dist.h"
#include "flyfit/error.h"

#include <math.h>

int ff_spike_index_check(const int64_t *indptr, int64_t n, int64_t n_times, const char *what) {
  if (indptr[0] != 0) return FF_ERROR(FF_ERR_INPUT, "%s starts at %lld, not 0", what, (long long)indptr[0]);
  for (int64_t i = 0; i < n; ++i)
    if (indptr[i + 1] < indptr[i] || indptr[i + 1] > n_times)
      return FF_ERROR(FF_ERR_INPUT, "%s[%lld] = %lld is not a valid index into the %lld spike times", what,
                      (long long)i + 1, (long long)indptr[i + 1], (long long)n_times);
  return FF_OK;
}

int ff_spike_train_check(const double *t, int64_t n, double t_start, double t_end, const char *what) {
  if (!(isfinite(t_start) && isfinite(t_end) && t_start < t_end))
    return FF_ERROR(FF_ERR_INPUT, "spike trains: the interval [%g, %g] is empty or not finite", t_start, t_end);
  if (n < 0) return FF_ERROR(FF_ERR_INPUT, "%s: negative spike count %lld", what, (long long)n);
  if (n > 0 && !t) return FF_ERROR(FF_ERR_INPUT, "%s: %lld spikes but no array", what, (long long)n);
  for (int64_t i = 0; i < n; ++i) {
    if (!(t[i] >= t_start && t[i] <= t_end))
      return FF_ERROR(FF_ERR_INPUT, "%s: spike %lld at %g is outside [%g, %g]", what, (long long)i, t[i], t_start,
                      t_end);
    if (i > 0 && !(t[i] > t[i - 1]))
      return FF_ERROR(FF_ERR_INPUT, "%s: spike %lld at %.17g does not follow spike %lld at %.17g (times must increase)",
                      what, (long long)i, t[i], (long long)(i - 1), t[i - 1]);
  }
  return FF_OK;
}

/* Both trains checked, and an empty one replaced by the two edges as spikes (PySpike's
 * SpikeTrain.get_spikes_non_empty): the distances below need at least one spike per train. */
static int prepare(const double **t1, int64_t *n1, const double **t2, int64_t *n2, double t_start, double t_end,
                   double edges[2]) {
  FF_TRY(ff_spike_train_check(*t1, *n1, t_start, t_end, "train 1"));
  FF_TRY(ff_spike_train_check(*t2, *n2, t_start, t_end, "train 2"));
  edges[0] = t_start;
  edges[1] = t_end;
  if (*n1 == 0) {
    *t1 = edges;
    *n1 = 2;
  }
  if (*n2 == 0) {
    *t2 = edges;
    *n2 = 2;
  }
  return FF_OK;
}

/* The interval of a train after its last spike: PySpike's edge correction. */
static double last_isi(const double *s, int64_t n, double t_end, double prev) {
  return n > 1 ? fmax(t_end - s[n - 1], prev) : t_end - s[n - 1];
}

int ff_isi_distance(const double *t1, int64_t n1, const double *t2, int64_t n2, double t_start, double t_end,
                    double *out) {
  double edges[2];
  FF_TRY(prepare(&t1, &n1, &t2, &n2, t_start, t_end, edges));
  const double *s1 = t1, *s2 = t2;
  const int64_t N1 = n1, N2 = n2;
  double nu1, nu2;
  int64_t i1, i2;
  /* the first interval: up to the first spike, or from a spike at t_start on */
  if (s1[0] > t_start) {
    nu1 = N1 > 1 ? fmax(s1[0] - t_start, s1[1] - s1[0]) : s1[0] - t_start;
    i1 = -1;
  } else {
    nu1 = N1 > 1 ? s1[1] - s1[0] : t_end - s1[0];
    i1 = 0;
  }
  if (s2[0] > t_start) {
    nu2 = N2 > 1 ? fmax(s2[0] - t_start, s2[1] - s2[0]) : s2[0] - t_start;
    i2 = -1;
  } else {
    nu2 = N2 > 1 ? s2[1] - s2[0] : t_end - s2[0];
    i2 = 0;
  }
  double last_t = t_start, cur = fabs(nu1 - nu2) / fmax(nu1, nu2), sum = 0.0, t = t_start;
  while (i1 + i2 < N1 + N2 - 2) {
    if (i1 < N1 - 1 && (i2 == N2 - 1 || s1[i1 + 1] < s2[i2 + 1])) {
      ++i1;
      t = s1[i1];
      nu1 = i1 < N1 - 1 ? s1[i1 + 1] - s1[i1] : last_isi(s1, N1, t_end, nu1);
    } else if (i2 < N2 - 1 && (i1 == N1 - 1 || s1[i1 + 1] > s2[i2 + 1])) {
      ++i2;
      t = s2[i2];
      nu2 = i2 < N2 - 1 ? s2[i2 + 1] - s2[i2] : last_isi(s2, N2, t_end, nu2);
    } else { /* the next spikes of both trains coincide */
      ++i1;
      ++i2;
      t = s1[i1];
      nu1 = i1 < N1 - 1 ? s1[i1 + 1] - s1[i1] : last_isi(s1, N1, t_end, nu1);
      nu2 = i2 < N2 - 1 ? s2[i2 + 1] - s2[i2] : last_isi(s2, N2, t_end, nu2);
    }
    sum += cur * (t - last_t);
    cur = fabs(nu1 - nu2) / fmax(nu1, nu2);
    last_t = t;
  }
  sum += cur * (t_end - last_t);
  *out = sum / (t_end - t_start);
  return FF_OK;
}

/* PySpike's get_min_dist: the distance from t to the nearest of lo, s[start..n) and hi, scanning s
 * forward from start while the distance shrinks (s sorted, so the first increase ends the search). */
static double min_dist(double t, const double *s, int64_t n, int64_t start, double lo, double hi) {
  double d = fabs(t - lo);
  for (int64_t k = start < 0 ? 0 : start; k < n; ++k) {
    const double dk = fabs(t - s[k]);
    if (dk > d) return d;
    d = dk;
  }
  const double de = fabs(hi - t);
  return de > d ? d : de;
}

static double isi_avrg(double a, double b) { return 0.5 * (a + b) * (a + b); }

int ff_spike_distance(const double *t1, int64_t n1, const double *t2, int64_t n2, double t_start, double t_end,
                      double *out) {
  double edges[2];
  FF_TRY(prepare(&t1, &n1, &t2, &n2, t_start, t_end, edges));
  const int64_t N1 = n1, N2 = n2;
  /* auxiliary spikes: each train's first and last interval continued past the edges */
  const double aux1[2] = {N1 > 1 ? fmin(t_start, 2 * t1[0] - t1[1]) : t_start,
                          N1 > 1 ? fmax(t_end, 2 * t1[N1 - 1] - t1[N1 - 2]) : t_end};
  const double aux2[2] = {N2 > 1 ? fmin(t_start, 2 * t2[0] - t2[1]) : t_start,
                          N2 > 1 ? fmax(t_end, 2 * t2[N2 - 1] - t2[N2 - 2]) : t_end};
  double t_p1 = t1[0] == t_start ? t_start : aux1[0];
  double t_p2 = t2[0] == t_start ? t_start : aux2[0];
  double t_f1, t_f2, dt_p1, dt_p2, dt_f1, dt_f2, isi1, isi2, s1, s2;
  int64_t i1, i2;
  if (t1[0] > t_start) {
    t_f1 = t1[0];
    dt_f1 = min_dist(t_f1, t2, N2, 0, aux2[0], aux2[1]);
    isi1 = N1 > 1 ? fmax(t_f1 - t_start, t1[1] - t1[0]) : t_f1 - t_start;
    dt_p1 = dt_f1;
    s1 = dt_p1;
    i1 = -1;
  } else {
    t_f1 = N1 > 1 ? t1[1] : t_end;
    dt_f1 = min_dist(t_f1, t2, N2, 0, aux2[0], aux2[1]);
    dt_p1 = min_dist(t_p1, t2, N2, 0, aux2[0], aux2[1]);
    isi1 = t_f1 - t1[0];
    s1 = dt_p1;
    i1 = 0;
  }
  if (t2[0] > t_start) {
    t_f2 = t2[0];
    dt_f2 = min_dist(t_f2, t1, N1, 0, aux1[0], aux1[1]);
    dt_p2 = dt_f2;
    isi2 = N2 > 1 ? fmax(t_f2 - t_start, t2[1] - t2[0]) : t_f2 - t_start;
    s2 = dt_p2;
    i2 = -1;
  } else {
    t_f2 = N2 > 1 ? t2[1] : t_end;
    dt_f2 = min_dist(t_f2, t1, N1, 0, aux1[0], aux1[1]);
    dt_p2 = min_dist(t_p2, t1, N1, 0, aux1[0], aux1[1]);
    isi2 = t_f2 - t2[0];
    s2 = dt_p2;
    i2 = 0;
  }
  double y_start = (s1 * isi2 + s2 * isi1) / isi_avrg(isi1, isi2), y_end, t_last = t_start, t_cur = t_start,
         sum = 0.0;
  while (i1 + i2 < N1 + N2 - 2) {
    if (i1 < N1 - 1 && (t_f1 < t_f2 || i2 == N2 - 1)) {
      ++i1;
      s1 = dt_f1 * (t_f1 - t_p1) / isi1; /* the end of the previous piece */
      dt_p1 = dt_f1;
      t_p1 = t_f1;
      t_f1 = i1 < N1 - 1 ? t1[i1 + 1] : aux1[1];
      t_cur = t_p1;
      s2 = (dt_p2 * (t_f2 - t_p1) + dt_f2 * (t_p1 - t_p2)) / isi2;
      y_end = (s1 * isi2 + s2 * isi1) / isi_avrg(isi1, isi2);
      sum += 0.5 * (y_start + y_end) * (t_cur - t_last);
      if (i1 < N1 - 1) {
        dt_f1 = min_dist(t_f1, t2, N2, i2, aux2[0], aux2[1]);
        isi1 = t_f1 - t_p1;
      } else { /* after the last spike (PySpike: "Eero's correction", s1 not rescaled) */
        dt_f1 = dt_p1;
        isi1 = last_isi(t1, N1, t_end, t1[N1 - 1] - t1[N1 > 1 ? N1 - 2 : 0]);
      }
      s1 = dt_p1;
      y_start = (s1 * isi2 + s2 * isi1) / isi_avrg(isi1, isi2);
    } else if (i2 < N2 - 1 && (t_f1 > t_f2 || i1 == N1 - 1)) {
      ++i2;
      s2 = dt_f2 * (t_f2 - t_p2) / isi2;
      dt_p2 = dt_f2;
      t_p2 = t_f2;
      t_f2 = i2 < N2 - 1 ? t2[i2 + 1] : aux2[1];
      t_cur = t_p2;
      s1 = (dt_p1 * (t_f1 - t_p2) + dt_f1 * (t_p2 - t_p1)) / isi1;
      y_end = (s1 * isi2 + s2 * isi1) / isi_avrg(isi1, isi2);
      sum += 0.5 * (y_start + y_end) * (t_cur - t_last);
      if (i2 < N2 - 1) {
        dt_f2 = min_dist(t_f2, t1, N1, i1, aux1[0], aux1[1]);
        isi2 = t_f2 - t_p2;
      } else {
        dt_f2 = dt_p2;
        isi2 = last_isi(t2, N2, t_end, t2[N2 - 1] - t2[N2 > 1 ? N2 - 2 : 0]);
      }
      s2 = dt_p2;
      y_start = (s1 * isi2 + s2 * isi1) / isi_avrg(isi1, isi2);
    } else { /* a spike in both trains at once: the profile is 0 there */
      ++i1;
      ++i2;
      t_p1 = t_f1;
      t_p2 = t_f2;
      dt_p1 = 0.0;
      dt_p2 = 0.0;
      t_cur = t_f1;
      sum += 0.5 * y_start * (t_cur - t_last);
      y_start = 0.0;
      if (i1 < N1 - 1) {
        t_f1 = t1[i1 + 1];
        dt_f1 = min_dist(t_f1, t2, N2, i2, aux2[0], aux2[1]);
        isi1 = t_f1 - t_p1;
      } else {
        t_f1 = aux1[1];
        dt_f1 = dt_p1;
        isi1 = last_isi(t1, N1, t_end, t1[N1 - 1] - t1[N1 > 1 ? N1 - 2 : 0]);
      }
      if (i2 < N2 - 1) {
        t_f2 = t2[i2 + 1];
        dt_f2 = min_dist(t_f2, t1, N1, i1, aux1[0], aux1[1]);
        isi2 = t_f2 - t_p2;
      } else {
        t_f2 = aux2[1];
        dt_f2 = dt_p2;
        isi2 = last_isi(t2, N2, t_end, t2[N2 - 1] - t2[N2 > 1 ? N2 - 2 : 0]);
      }
    }
    t_last = t_cur;
  }
  s1 = dt_f1;
  s2 = dt_f2;
  y_end = (s1 * isi2 + s2 * isi1) / isi_avrg(isi1, isi2);
  sum += 0.5 * (y_start + y_end) * (t_end - t_last);
  *out = sum / (t_end - t_start);
  return FF_OK;
}

/* Checks a train for the van Rossum distance: sorted (equal times allowed: two spikes at once) and finite. */
static int check_sorted(const double *t, int64_t n, const char *what) {
  if (n < 0 || (n > 0 && !t)) return FF_ERROR(FF_ERR_INPUT, "%s: bad spike array (count %lld)", what, (long long)n);
  for (int64_t i = 0; i < n; ++i) {
    if (!isfinite(t[i])) return FF_ERROR(FF_ERR_INPUT, "%s: spike %lld is not finite", what, (long long)i);
    if (i > 0 && t[i] < t[i - 1])
      return FF_ERROR(FF_ERR_INPUT, "%s: spike %lld at %.17g precedes spike %lld at %.17g (times must be sorted)",
                      what, (long long)i, t[i], (long long)(i - 1), t[i - 1]);
  }
  return FF_OK;
}

int ff_van_rossum(const double *t1, int64_t n1, const double *t2, int64_t n2, double tau, double *out) {
  if (!(tau > 0 && isfinite(tau))) return FF_ERROR(FF_ERR_INPUT, "van Rossum distance: tau = %g must be > 0", tau);
  FF_TRY(check_sorted(t1, n1, "train 1"));
  FF_TRY(check_sorted(t2, n2, "train 2"));
  /* Between consecutive events of the merged trains f1 - f2 = d exp(-(t - t_k)/tau), whose square
   * integrates to d^2 tau/2 (1 - exp(-2 L/tau)) over a piece of length L; after the last event to
   * d^2 tau/2. d jumps by +1 at a spike of train 1 and by -1 at one of train 2. */
  double d = 0.0, sum = 0.0, t_prev = 0.0;
  int64_t i = 0, j = 0;
  while (i < n1 || j < n2) {
    const double t = (j >= n2 || (i < n1 && t1[i] <= t2[j])) ? t1[i] : t2[j];
    double jump = 0.0;
    while (i < n1 && t1[i] == t) {
      jump += 1.0;
      ++i;
    }
    while (j < n2 && t2[j] == t) {
      jump -= 1.0;
      ++j;
    }
    if (d != 0.0) { /* not before the first event */
      /* expm1: a short piece keeps its digits; d e^{-x} + jump as (d + jump) + d (e^{-x} - 1), so that a
       * spike answering one just before it leaves d (1 - e^{-x}) without cancellation */
      const double x = (t - t_prev) / tau, em1 = expm1(-x);
      sum += d * d * -expm1(-2.0 * x); /* times tau/2, applied below */
      d = (d + jump) + d * em1;
    } else {
      d += jump;
    }
    t_prev = t;
  }
  sum += d * d;
  /* D^2 = (1/tau) ∫ ... = sum / 2 */
  *out = sqrt(0.5 * sum);
  return FF_OK;
}

int ff_gamma_factor(const double *data, int64_t n_data, const double *model, int64_t n_model, double t_start,
                    double t_end, double delta, double *gamma, int64_t *n_coinc) {
  FF_TRY(ff_spike_train_check(data, n_data, t_start, t_end, "data train"));
  FF_TRY(ff_spike_train_check(model, n_model, t_start, t_end, "model train"));
  if (!(delta > 0 && isfinite(delta)))
    return FF_ERROR(FF_ERR_INPUT, "coincidence factor: the window delta = %g must be > 0", delta);
  /* the largest one-to-one pairing within ±delta: in time order, each data spike takes the earliest
   * model spike still free in its window (optimal for equal windows on a line) */
  int64_t coinc = 0;
  for (int64_t i = 0, j = 0; i < n_data && j < n_model; ++i) {
    while (j < n_model && model[j] < data[i] - delta) ++j;
    if (j < n_model && model[j] <= data[i] + delta) {
      ++coinc;
      ++j;
    }
  }
  if (n_coinc) *n_coinc = coinc;
  if (n_data + n_model == 0) {
    *gamma = 1.0;
    return FF_OK;
  }
  const double nu = (double)n_model / (t_end - t_start), norm = 1.0 - 2.0 * nu * delta;
  if (!(norm > 0))
    return FF_ERROR(FF_ERR_INPUT,
                    "coincidence factor: 2 x rate x delta = %g >= 1 (%lld model spikes in %g, delta %g): "
                    "the window is too wide for chance coincidences to be subtracted",
                    2.0 * nu * delta, (long long)n_model, t_end - t_start, delta);
  const double expected = 2.0 * nu * delta * (double)n_data;
  *gamma = ((double)coinc - expected) / (0.5 * (double)(n_data + n_model) * norm);
  return FF_OK;
}
