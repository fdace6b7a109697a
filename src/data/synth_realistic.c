/* Realistic synthetic recordings (include/flyfit/synth_realistic.h). Everything is a function of
 * the seed through Philox (streams FF_STREAM_SYNTH_REAL_*), so a file is reproduced exactly. The
 * model is deliberately not flyfit's spiking network: a fit of these recordings is scored against
 * data its model did not make. */
#include "flyfit/synth_realistic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/rng.h"

void ff_synth_realistic_defaults(FfSynthRealisticOptions *o) {
  *o = (FfSynthRealisticOptions){.frames = 1900, .fs_hz = 1.2, .substeps = 8, .tau_z_s = 1.0, .coupling = 0.85,
                                 .global_min = 0.15, .global_max = 0.45, .n_factors = 4, .factor_sd = 0.5,
                                 .private_sd = 1.0, .rate_min_hz = 3.0, .rate_max_hz = 10.0, .tau_rise_s = 0.12,
                                 .tau_decay_s = 0.8, .dff_max = 1.0, .kd_scale = 3.0, .bleach_fraction = 0.3,
                                 .bleach_tau_s = 400.0, .noise = 0.03, .seed = 1};
}

void ff_synth_realistic_destroy(FfSynthRealistic *r) {
  if (r == NULL) return;
  free(r->traces);
  free(r->clean);
  free(r->rates);
  free(r->drive);
  free(r->coupling);
  memset(r, 0, sizeof *r);
}

/* A standard normal number, a function of (stream, a, b, c). */
static double normal(uint64_t seed, uint32_t stream, uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r[4];
  ff_rng4(seed, stream, a, b, c, r);
  return ff_normal(r[0], r[1]);
}

static double uniform(uint64_t seed, uint32_t stream, uint32_t a, uint32_t b) {
  uint32_t r[4];
  ff_rng4(seed, stream, a, b, 0, r);
  return ff_u01(r[0]);
}

/* A 1/f-like process of unit variance: the mean of n_tau Ornstein-Uhlenbeck processes with time
 * constants log-spaced over [tau_lo, tau_hi] (their Lorentzian spectra add up to ~1/f between the
 * corners). One call advances all of them one step; state[n_tau] holds them. */
typedef struct {
  int n_tau;
  double a[12], s[12], state[12];
  uint32_t id; /* the process's counter word */
} Pink;

static void pink_init(Pink *p, uint64_t seed, uint32_t id, double tau_lo, double tau_hi, int n_tau, double dt) {
  p->n_tau = n_tau;
  p->id = id;
  for (int k = 0; k < n_tau; ++k) {
    const double tau = n_tau == 1 ? tau_lo : tau_lo * pow(tau_hi / tau_lo, (double)k / (n_tau - 1));
    p->a[k] = exp(-dt / tau);
    p->s[k] = sqrt(1.0 - p->a[k] * p->a[k]);
    p->state[k] = normal(seed, FF_STREAM_SYNTH_REAL_NOISE, 0xffffffffu, id, (uint32_t)k); /* stationary start */
  }
}

static double pink_step(Pink *p, uint64_t seed, uint32_t t) {
  double sum = 0.0;
  for (int k = 0; k < p->n_tau; ++k) {
    p->state[k] = p->a[k] * p->state[k] + p->s[k] * normal(seed, FF_STREAM_SYNTH_REAL_NOISE, t, p->id, (uint32_t)k);
    sum += p->state[k];
  }
  return sum / sqrt((double)p->n_tau);
}

/* Synapses from neurons homed in p onto neurons homed in q, without p = q, row-normalised and
 * symmetrised; returns its largest eigenvalue (power iteration; the matrix is non-negative and
 * symmetric, so the Perron root is the spectral radius). */
static double neuropil_coupling(const FfConnectome *c, double *C) {
  const int64_t P = c->n_neuropils;
  memset(C, 0, (size_t)(P * P) * sizeof *C);
  for (int64_t i = 0; i < c->n; ++i) {
    if (c->home[i] < 0) continue;
    for (int64_t e = c->indptr[i]; e < c->indptr[i + 1]; ++e) {
      const int16_t q = c->home[c->post[e]];
      if (q >= 0 && q != c->home[i]) C[c->home[i] * P + q] += fabs((double)c->count[e]);
    }
  }
  for (int64_t p = 0; p < P; ++p) {
    double row = 0.0;
    for (int64_t q = 0; q < P; ++q) row += C[p * P + q];
    if (row > 0.0)
      for (int64_t q = 0; q < P; ++q) C[p * P + q] /= row;
  }
  for (int64_t p = 0; p < P; ++p)
    for (int64_t q = p + 1; q < P; ++q) C[p * P + q] = C[q * P + p] = 0.5 * (C[p * P + q] + C[q * P + p]);
  double *v = malloc((size_t)P * sizeof *v), *w = malloc((size_t)P * sizeof *w), lambda = 0.0;
  if (v == NULL || w == NULL) {
    free(v);
    free(w);
    return -1.0;
  }
  for (int64_t p = 0; p < P; ++p) v[p] = 1.0;
  for (int it = 0; it < 500; ++it) {
    double norm = 0.0;
    for (int64_t p = 0; p < P; ++p) {
      w[p] = 0.0;
      for (int64_t q = 0; q < P; ++q) w[p] += C[p * P + q] * v[q];
      norm += w[p] * w[p];
    }
    norm = sqrt(norm);
    if (norm == 0.0) break;
    double vn = 0.0;
    for (int64_t p = 0; p < P; ++p) vn += v[p] * v[p];
    lambda = norm / sqrt(vn);
    for (int64_t p = 0; p < P; ++p) v[p] = w[p] / norm;
  }
  free(v);
  free(w);
  return lambda;
}

static int check_options(const FfSynthRealisticOptions *o, int64_t P) {
  if (o->frames < 2) return FF_ERROR(FF_ERR_USAGE, "--frames %lld: at least 2", (long long)o->frames);
  if (P < 1) return FF_ERROR(FF_ERR_INPUT, "the connectome has no neuropils: synthetic recordings need them");
  if (!(o->fs_hz > 0) || o->substeps < 1 || !(o->tau_z_s > 0) || !(o->tau_rise_s > 0) ||
      !(o->tau_decay_s > o->tau_rise_s) || o->n_factors < 0 || o->n_factors > 64 || !(o->coupling >= 0) ||
      !(o->coupling < 1) || !(o->rate_max_hz >= o->rate_min_hz) || !(o->rate_min_hz > 0) || !(o->noise >= 0) ||
      !(o->bleach_fraction >= 0 && o->bleach_fraction < 1) || !(o->bleach_tau_s > 0) || !(o->kd_scale > 0) ||
      !(o->dff_max > 0))
    return FF_ERROR(FF_ERR_USAGE, "realistic recordings: an option is out of range (fs > 0, substeps >= 1, "
                                  "0 < rise < decay, 0 <= coupling < 1, 0 < rate_min <= rate_max, 0 <= bleach < 1)");
  if ((double)o->frames * o->substeps > 4e9)
    return FF_ERROR(FF_ERR_USAGE, "--frames %lld x %d substeps is too long", (long long)o->frames, o->substeps);
  return FF_OK;
}

/* The latent units over n = T x substeps steps; out->drive gets each frame's mean input. */
static int simulate_latent(const FfSynthRealisticOptions *o, const double *C, double gain, int64_t P, double *z_all,
                           double *drive) {
  const uint64_t seed = o->seed;
  const int S = o->substeps, K = o->n_factors;
  const int64_t T = o->frames, n = T * S;
  const double dt = 1.0 / (o->fs_hz * S), a = dt / o->tau_z_s;
  Pink glob, *fac = malloc((size_t)(K > 0 ? K : 1) * sizeof *fac), *priv = malloc((size_t)P * sizeof *priv);
  double *load = malloc((size_t)(P * (K + 1)) * sizeof *load), *z = calloc((size_t)P, sizeof *z),
         *u = malloc((size_t)P * sizeof *u), *cz = malloc((size_t)P * sizeof *cz);
  int st = FF_OK;
  if (!fac || !priv || !load || !z || !u || !cz) st = FF_ERROR(FF_ERR_NOMEM, "out of memory for the latent units");
  if (st == FF_OK) {
    pink_init(&glob, seed, 0, 0.5, 300.0, 8, dt);
    for (int k = 0; k < K; ++k) pink_init(&fac[k], seed, 1 + (uint32_t)k, 2.0, 100.0, 5, dt);
    for (int64_t p = 0; p < P; ++p) pink_init(&priv[p], seed, 1000 + (uint32_t)p, 0.5, 2.0, 2, dt);
    for (int64_t p = 0; p < P; ++p) {
      load[p * (K + 1)] = o->global_min + (o->global_max - o->global_min) * uniform(seed, FF_STREAM_SYNTH_REAL_REGION, (uint32_t)p, 0);
      for (int k = 0; k < K; ++k)
        load[p * (K + 1) + 1 + k] = o->factor_sd * normal(seed, FF_STREAM_SYNTH_REAL_REGION, (uint32_t)p, 1 + (uint32_t)k, 1);
    }
    memset(drive, 0, (size_t)(T * P) * sizeof *drive);
    double f[65];
    for (int64_t t = 0; t < n; ++t) {
      const double g = pink_step(&glob, seed, (uint32_t)t);
      for (int k = 0; k < K; ++k) f[k] = pink_step(&fac[k], seed, (uint32_t)t);
      for (int64_t p = 0; p < P; ++p) {
        double v = load[p * (K + 1)] * g + o->private_sd * pink_step(&priv[p], seed, (uint32_t)t);
        for (int k = 0; k < K; ++k) v += load[p * (K + 1) + 1 + k] * f[k];
        u[p] = v;
        drive[(t / S) * P + p] += v / S;
      }
      for (int64_t p = 0; p < P; ++p) {
        double s = 0.0;
        for (int64_t q = 0; q < P; ++q) s += C[p * P + q] * z[q];
        cz[p] = s;
      }
      for (int64_t p = 0; p < P; ++p) {
        z[p] += a * (-z[p] + gain * cz[p] + u[p]);
        z_all[t * P + p] = z[p];
      }
    }
  }
  free(fac);
  free(priv);
  free(load);
  free(z);
  free(u);
  free(cz);
  return st;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Rates from the standardised latent activity, the indicator, bleaching and noise: fills traces
 * and rates (frame means). */
static int observe(const FfSynthRealisticOptions *o, int64_t P, double *z_all, FfSynthRealistic *out) {
  const uint64_t seed = o->seed;
  const int S = o->substeps;
  const int64_t T = o->frames, n = T * S;
  const double dt = 1.0 / (o->fs_hz * S);
  const double ad = exp(-dt / o->tau_decay_s), ar = exp(-dt / o->tau_rise_s);
  double *c = malloc((size_t)n * sizeof *c), *sorted = malloc((size_t)n * sizeof *sorted);
  if (c == NULL || sorted == NULL) {
    free(c);
    free(sorted);
    return FF_ERROR(FF_ERR_NOMEM, "out of memory for the indicator");
  }
  memset(out->rates, 0, (size_t)(T * P) * sizeof *out->rates);
  for (int64_t p = 0; p < P; ++p) {
    double mean = 0.0, var = 0.0;
    for (int64_t t = 0; t < n; ++t) mean += z_all[t * P + p];
    mean /= (double)n;
    for (int64_t t = 0; t < n; ++t) var += (z_all[t * P + p] - mean) * (z_all[t * P + p] - mean);
    const double sd = var > 0.0 ? sqrt(var / (double)n) : 1.0;
    const double scale = o->rate_min_hz + (o->rate_max_hz - o->rate_min_hz) * uniform(seed, FF_STREAM_SYNTH_REAL_REGION, (uint32_t)p, 100);
    double ud = 0.0, ur = 0.0;
    for (int64_t t = 0; t < n; ++t) {
      const double x = 1.5 * ((z_all[t * P + p] - mean) / sd - 0.3);
      const double rate = scale * (x > 30.0 ? x : log1p(exp(x))); /* softplus, Hz */
      out->rates[(t / S) * P + p] += rate / S;
      ud = ad * ud + rate * dt;
      ur = ar * ur + rate * dt;
      c[t] = ud - ur; /* difference of exponentials: rise tau_rise, decay tau_decay */
    }
    memcpy(sorted, c, (size_t)n * sizeof *c);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double); /* for the median: cheap at one neuropil's steps */
    const double kd = o->kd_scale * (sorted[n / 2] > 0.0 ? sorted[n / 2] : 1e-9);
    const double f0 = 500.0 + 1000.0 * uniform(seed, FF_STREAM_SYNTH_REAL_REGION, (uint32_t)p, 101);
    const double tb = o->bleach_tau_s * (0.7 + 0.6 * uniform(seed, FF_STREAM_SYNTH_REAL_REGION, (uint32_t)p, 102));
    for (int64_t k = 0; k < T; ++k) {
      double dff = 0.0; /* the exposure integrates the indicator over the frame */
      for (int s = 0; s < S; ++s) {
        const double x = c[k * S + s];
        dff += o->dff_max * x * x / (x * x + kd * kd);
      }
      dff /= S;
      const double bleach = 1.0 - o->bleach_fraction + o->bleach_fraction * exp(-(double)k / o->fs_hz / tb);
      out->clean[k * P + p] = f0 * bleach * (1.0 + dff);
      out->traces[k * P + p] =
          out->clean[k * P + p] + o->noise * f0 * normal(seed, FF_STREAM_SYNTH_REAL_MEASURE, (uint32_t)k, (uint32_t)p, 0);
    }
  }
  free(c);
  free(sorted);
  return FF_OK;
}

int ff_synth_realistic(const FfConnectome *c, const FfSynthRealisticOptions *o, FfSynthRealistic *out) {
  memset(out, 0, sizeof *out);
  const int64_t P = c->n_neuropils, T = o->frames;
  FF_TRY(check_options(o, P));
  out->T = T;
  out->P = P;
  double *z_all = NULL;
  int st = FF_MALLOC(out->traces, T * P, "traces");
  FF_CALL(st, FF_MALLOC(out->clean, T * P, "noise-free traces"));
  FF_CALL(st, FF_MALLOC(out->rates, T * P, "rates"));
  FF_CALL(st, FF_MALLOC(out->drive, T * P, "drive"));
  FF_CALL(st, FF_MALLOC(out->coupling, P * P, "coupling"));
  FF_CALL(st, FF_MALLOC(z_all, T * o->substeps * P, "latent activity"));
  double lambda = 0.0;
  if (st == FF_OK && (lambda = neuropil_coupling(c, out->coupling)) < 0.0)
    st = FF_ERROR(FF_ERR_NOMEM, "out of memory for the coupling");
  const double gain = lambda > 0.0 ? o->coupling / lambda : 0.0;
  FF_CALL(st, simulate_latent(o, out->coupling, gain, P, z_all, out->drive));
  FF_CALL(st, observe(o, P, z_all, out));
  free(z_all);
  if (st != FF_OK) ff_synth_realistic_destroy(out);
  return st;
}
