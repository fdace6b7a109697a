/* Izhikevich's E/I network for mode = netopt (ei_net.h): connectivity, one run (whole, or split over ranks
 * with the simulation's block partition and spike exchange), rate, LV and SPIKE-distance statistics, the
 * recorded network as a target, and the two-sample tests. Every random number is keyed by what it belongs
 * to, so a run is the same on any rank and any split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/csv.h"
#include "flyfit/ei_net.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/neuron_fit.h"
#include "flyfit/ranks.h"
#include "flyfit/rng.h"
#include "flyfit/spike.h"
#include "flyfit/spike_dist.h"

void ff_spike_trains_destroy(FfSpikeTrains *s) {
  free(s->indptr);
  free(s->times);
  memset(s, 0, sizeof *s);
}

int ff_spike_trains_allgather(const FfNet *blocks, MPI_Comm comm, const int64_t *len, const double *times,
                              FfSpikeTrains *out) {
  const int64_t n = blocks->n_global, L = blocks->n_local;
  const int K = blocks->size;
  int *rc = NULL, *rd = NULL;
  memset(out, 0, sizeof *out);
  out->n = n;
  int st = FF_CALLOC(out->indptr, n + 1, "spike index");
  FF_CALL(st, FF_MALLOC(rc, K, "counts"));
  FF_CALL(st, FF_MALLOC(rd, K, "offsets"));
  FF_CALL(st, ff_net_block_counts(blocks, 1, rc, rd));
  FF_CALL(st, FF_MPI(MPI_Allgatherv(len, (int)L, MPI_INT64_T, out->indptr + 1, rc, rd, MPI_INT64_T, comm)));
  for (int64_t i = 0; st == FF_OK && i < n; ++i) out->indptr[i + 1] += out->indptr[i];
  for (int k = 0; st == FF_OK && k < K; ++k) {
    const int64_t a = out->indptr[blocks->neuron_offsets[k]], b = out->indptr[blocks->neuron_offsets[k + 1]];
    if (b > INT32_MAX) st = FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes to share across the ranks at once");
    else rc[k] = (int)(b - a), rd[k] = (int)a;
  }
  const int64_t mine = st == FF_OK ? out->indptr[blocks->new_base + L] - out->indptr[blocks->new_base] : 0;
  FF_CALL(st, FF_MALLOC(out->times, out->indptr[n] > 0 ? out->indptr[n] : 1, "spike times"));
  FF_CALL(st, FF_MPI(MPI_Allgatherv(times, (int)mine, MPI_DOUBLE, out->times, rc, rd, MPI_DOUBLE, comm)));
  free(rc);
  free(rd);
  if (st) ff_spike_trains_destroy(out);
  return st;
}

int ff_ei_net_create(FfEiNet *net, int32_t n_exc, int32_t n_inh, double duration_ms, uint64_t seed, MPI_Comm comm) {
  memset(net, 0, sizeof *net);
  net->comm = MPI_COMM_NULL;
  const int64_t n = (int64_t)n_exc + n_inh;
  if (n_exc < 1 || n_inh < 0 || n > 20000 || !(duration_ms >= 10) || duration_ms > 65535.0 * 1000)
    return FF_ERROR(FF_ERR_INPUT, "[netopt] %d excitatory and %d inhibitory cells for %g ms: give 1..20000 cells and "
                                  "10 ms to 65535 s", n_exc, n_inh, duration_ms);
  net->n_exc = n_exc;
  net->n_inh = n_inh;
  net->duration_ms = duration_ms;
  net->seed = seed;
  net->rows = n;
  int st = FF_OK;
  if (comm != MPI_COMM_NULL) {
    net->comm = comm;
    st = ff_net_blocks(n, comm, "[netopt] split = cells", &net->part);
    if (st == FF_OK) {
      net->row0 = net->part.new_base;
      net->rows = net->part.n_local;
    }
    FF_CALL(st, ff_exchange_create(&net->part, FF_EXCHANGE_ALLGATHER, comm, &net->x, NULL));
  }
  const int64_t cells = net->rows * n;
  FF_CALL(st, FF_MALLOC(net->u, cells > 0 ? cells : 1, "the connection draws"));
  FF_CALL(st, FF_MALLOC(net->r, cells > 0 ? cells : 1, "the weight draws"));
  for (int64_t a = 0; st == FF_OK && a < net->rows; ++a)
    for (int64_t j = 0; j < n; ++j) {
      const int64_t i = net->row0 + a;
      uint32_t w[4];
      ff_rng4(seed, FF_STREAM_NETOPT_CONN, (uint32_t)i, (uint32_t)j, 0, w);
      net->u[a * n + j] = i == j ? 2.0f : (float)ff_u01(w[0]); /* no self-connection */
      net->r[a * n + j] = (float)ff_u01(w[1]);
    }
  if (st) ff_ei_net_destroy(net);
  return st;
}

void ff_ei_net_destroy(FfEiNet *net) {
  free(net->u);
  free(net->r);
  net->u = net->r = NULL;
  ff_exchange_destroy(&net->x);
  ff_net_destroy(&net->part);
}

/* This rank's spikes (local cell, time in ms, in time order) into the trains of every cell, on every rank. */
static int gather_trains(const FfEiNet *net, const int32_t *cell, const double *when, int64_t n_sp, FfSpikeTrains *out) {
  const int64_t n = (int64_t)net->n_exc + net->n_inh, L = net->rows;
  int64_t *cnt = NULL, *pos = NULL;
  double *mine = NULL;
  int st = FF_CALLOC(cnt, L + 1, "spike counts");
  FF_CALL(st, FF_MALLOC(pos, L + 1, "spike offsets"));
  FF_CALL(st, FF_MALLOC(mine, n_sp > 0 ? n_sp : 1, "spike times"));
  if (st == FF_OK) {
    for (int64_t k = 0; k < n_sp; ++k) cnt[cell[k] + 1]++;
    for (int64_t a = 0; a < L; ++a) cnt[a + 1] += cnt[a];
    memcpy(pos, cnt, sizeof(int64_t) * (size_t)(L + 1));
    for (int64_t k = 0; k < n_sp; ++k) mine[pos[cell[k]]++] = when[k]; /* stable: each cell's times stay in order */
  }
  if (st == FF_OK && net->comm == MPI_COMM_NULL) { /* one process: its cells are every cell */
    out->n = n;
    out->indptr = cnt;
    out->times = mine;
    cnt = NULL;
    mine = NULL;
  } else if (st == FF_OK) { /* every rank's per-cell counts, then its times */
    for (int64_t a = 0; a < L; ++a) pos[a] = cnt[a + 1] - cnt[a];
    st = ff_spike_trains_allgather(&net->part, net->comm, pos, mine, out);
  }
  free(cnt);
  free(pos);
  free(mine);
  if (st) ff_spike_trains_destroy(out);
  return st;
}

int ff_ei_net_run(const FfEiNet *net, double p, double w, uint32_t trial, FfSpikeTrains *out) {
  memset(out, 0, sizeof *out);
  const int64_t n = (int64_t)net->n_exc + net->n_inh, L = net->rows, steps = (int64_t)floor(net->duration_ms + 0.5);
  double *v = NULL, *u = NULL, *when = NULL;
  int64_t *fired = NULL, n_fired = 0, n_sp = 0, cap = 1024;
  int32_t *cell = NULL;
  int64_t *mine = NULL;
  int st = FF_MALLOC(v, L > 0 ? L : 1, "membrane potentials");
  FF_CALL(st, FF_MALLOC(u, L > 0 ? L : 1, "recovery variables"));
  FF_CALL(st, FF_MALLOC(fired, n, "the spikes of a step"));
  FF_CALL(st, FF_MALLOC(mine, L > 0 ? L : 1, "this rank's spikes of a step"));
  FF_CALL(st, FF_MALLOC(cell, cap, "spiking cells"));
  FF_CALL(st, FF_MALLOC(when, cap, "spike times"));
  for (int64_t a = 0; st == FF_OK && a < L; ++a) {
    v[a] = -65.0;
    u[a] = 0.2 * -65.0;
  }
  for (int64_t t = 0; t < steps; ++t) {
    int64_t n_new = 0;
    for (int64_t a = 0; st == FF_OK && a < L; ++a) {
      const int64_t i = net->row0 + a;
      const int exc = i < net->n_exc;
      uint32_t q[4]; /* thalamic noise, then the spikes of the step before in ascending presynaptic order */
      ff_rng4(net->seed, FF_STREAM_NETOPT_NOISE, (uint32_t)t, (uint32_t)i, trial, q);
      double in = (exc ? 5.0 : 2.0) * ff_normal(q[0], q[1]);
      const float *ur = net->u + a * n, *rr = net->r + a * n;
      for (int64_t k = 0; k < n_fired; ++k) {
        const int64_t j = fired[k];
        if (ur[j] < p) in += (j < net->n_exc ? 0.5 : -1.0) * w * rr[j];
      }
      const double ai = exc ? 0.02 : 0.1, d = exc ? 8.0 : 2.0;
      for (int h = 0; h < 2; ++h) v[a] += 0.5 * (0.04 * v[a] * v[a] + 5.0 * v[a] + 140.0 - u[a] + in);
      u[a] += ai * (0.2 * v[a] - u[a]);
      if (v[a] >= 30.0 || !isfinite(v[a])) {
        v[a] = -65.0;
        u[a] += d;
        mine[n_new++] = i;
        if (n_sp == cap) {
          cap *= 2;
          st = ff_realloc_((void **)&cell, (size_t)cap, sizeof *cell, "spiking cells", __FILE__, __LINE__, __func__);
          FF_CALL(st, ff_realloc_((void **)&when, (size_t)cap, sizeof *when, "spike times", __FILE__, __LINE__, __func__));
        }
        if (st == FF_OK) {
          cell[n_sp] = (int32_t)a;
          when[n_sp++] = (double)(t + 1); /* ms */
        }
      }
    }
    if (net->x == NULL) {
      if (st) break;
      for (int64_t k = 0; k < n_new; ++k) fired[k] = mine[k];
      n_fired = n_new;
      continue;
    }
    /* one delay window = one step: the spikes cross the ranks (a failed rank stops all at this exchange) */
    st = ff_exchange_ids(net->x, mine, n_new, st, fired, &n_fired); /* rank order = ascending cells */
    if (st) break;
  }
  if (net->x) st = ff_ranks_agree(st, net->comm); /* every rank gathers, or none */
  if (st == FF_OK) st = gather_trains(net, cell, when, n_sp, out);
  free(v);
  free(u);
  free(fired);
  free(mine);
  free(cell);
  free(when);
  return st;
}

void ff_ei_net_rates(const FfSpikeTrains *s, double t_end_ms, double *rate, double *lv) {
  for (int64_t i = 0; i < s->n; ++i) {
    const double *t = s->times + s->indptr[i];
    const int64_t c = s->indptr[i + 1] - s->indptr[i];
    double sum = 0.0;
    for (int64_t k = 2; k < c; ++k) { /* the two intervals before spike k */
      const double i1 = t[k - 1] - t[k - 2], i2 = t[k] - t[k - 1];
      sum += 3.0 * (i1 - i2) * (i1 - i2) / ((i1 + i2) * (i1 + i2));
    }
    rate[i] = 1000.0 * (double)c / t_end_ms;
    lv[i] = c >= 3 ? sum / (double)(c - 2) : NAN;
  }
}

int ff_ei_net_spike_sync(const FfSpikeTrains *s, int64_t n_exc, int64_t pairs, uint64_t seed, double t_end_ms,
                         double out[3]) {
  const int64_t n_inh = s->n - n_exc;
  const int64_t lo[3][2] = {{0, 0}, {n_exc, n_exc}, {0, n_exc}}, size[3][2] = {{n_exc, n_exc}, {n_inh, n_inh}, {n_exc, n_inh}};
  for (int g = 0; g < 3; ++g) {
    out[g] = NAN;
    if (pairs < 1 || size[g][0] < (g < 2 ? 2 : 1) || size[g][1] < 1) continue;
    double sum = 0.0;
    for (int64_t k = 0; k < pairs; ++k) {
      int64_t a, b;
      for (uint32_t attempt = 0;; ++attempt) { /* two distinct cells */
        uint32_t q[4];
        ff_rng4(seed, FF_STREAM_NETOPT_PAIRS, (uint32_t)g, (uint32_t)k, attempt, q);
        a = lo[g][0] + (int64_t)(ff_u01(q[0]) * (double)size[g][0]);
        b = lo[g][1] + (int64_t)(ff_u01(q[1]) * (double)size[g][1]);
        if (a >= lo[g][0] + size[g][0]) a = lo[g][0] + size[g][0] - 1;
        if (b >= lo[g][1] + size[g][1]) b = lo[g][1] + size[g][1] - 1;
        if (a != b) break;
      }
      double d;
      FF_TRY(ff_spike_distance(s->times + s->indptr[a], s->indptr[a + 1] - s->indptr[a], s->times + s->indptr[b],
                               s->indptr[b + 1] - s->indptr[b], 0.0, t_end_ms, &d));
      sum += d;
    }
    out[g] = sum / (double)pairs;
  }
  return FF_OK;
}

/* ---- a recorded network as the target ------------------------------------------------------------------ */

static int read_h5_target(hid_t f, const char *path, int64_t n_exc, int64_t n_inh, double duration_ms,
                          FfSpikeTrains *out) {
  if (!ff_h5_exists(f, "/network"))
    return FF_ERROR(FF_ERR_INPUT, "'%s' has no /network group: a recorded network for mode = netopt holds "
                                  "/network/spike_indptr and /network/spike_times (flyfit-synth --network writes one)", path);
  hid_t g = H5Gopen2(f, "/network", H5P_DEFAULT);
  int64_t fe = 0, fi = 0;
  double fd = 0;
  int st = g < 0 ? FF_ERROR(FF_ERR_INPUT, "'%s': cannot open /network", path) : FF_OK;
  FF_CALL(st, ff_h5_read_attr_int(g, path, "n_exc", &fe));
  FF_CALL(st, ff_h5_read_attr_int(g, path, "n_inh", &fi));
  FF_CALL(st, ff_h5_read_attr_double(g, path, "duration_ms", &fd));
  if (g >= 0) H5Gclose(g);
  if (st == FF_OK && (fe != n_exc || fi != n_inh))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' records %lld excitatory and %lld inhibitory cells but [netopt] n_exc = %lld and "
                                "n_inh = %lld: set them to the file's", path, (long long)fe, (long long)fi,
                  (long long)n_exc, (long long)n_inh);
  if (st == FF_OK && fd != duration_ms)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' records %g ms but [netopt] duration_ms = %g: set it to the file's", path, fd,
                  duration_ms);
  const int64_t n = n_exc + n_inh;
  int64_t len = 0;
  FF_CALL(st, ff_h5_read_all(f, path, "/network/spike_indptr", H5T_NATIVE_INT64, n + 1, (void **)&out->indptr, &len));
  FF_CALL(st, ff_h5_read_all(f, path, "/network/spike_times", H5T_NATIVE_DOUBLE, -1, (void **)&out->times, &len));
  out->n = n;
  if (st == FF_OK) {
    char what[FF_CONFIG_STR + 64];
    snprintf(what, sizeof what, "'%s': /network/spike_indptr", path);
    st = ff_spike_index_check(out->indptr, n, len, what);
  }
  for (int64_t i = 0; st == FF_OK && i < n; ++i) {
    char what[FF_CONFIG_STR + 64];
    snprintf(what, sizeof what, "'%s': cell %lld of /network", path, (long long)i);
    st = ff_spike_train_check(out->times + out->indptr[i], out->indptr[i + 1] - out->indptr[i], 0.0, duration_ms, what);
  }
  return st;
}

int ff_ei_net_read_target(const char *path, int64_t n_exc, int64_t n_inh, double duration_ms, FfSpikeTrains *out,
                          double truth[2]) {
  memset(out, 0, sizeof *out);
  truth[0] = truth[1] = NAN;
  int st;
  if (ff_csv_path(path)) {
    out->n = n_exc + n_inh;
    st = ff_spike_trains_read_csv(path, 0, out->n, "cells ([netopt] n_exc + n_inh)", "cell", duration_ms,
                                  &out->indptr, &out->times);
  } else {
    hid_t f;
    FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
    st = read_h5_target(f, path, n_exc, n_inh, duration_ms, out);
    if (st == FF_OK && ff_h5_exists(f, "/truth")) {
      hid_t g = H5Gopen2(f, "/truth", H5P_DEFAULT);
      st = g < 0 ? FF_ERROR(FF_ERR_INPUT, "'%s': cannot open /truth", path) : FF_OK;
      FF_CALL(st, ff_h5_read_attr_double(g, path, "p", &truth[0]));
      FF_CALL(st, ff_h5_read_attr_double(g, path, "w", &truth[1]));
      if (g >= 0) H5Gclose(g);
    }
    H5Fclose(f);
  }
  if (st) ff_spike_trains_destroy(out);
  return st;
}

typedef struct {
  const FfSpikeTrains *s;
  int64_t n_exc;
  double duration_ms, p, w;
  uint64_t seed;
  const char *created_by;
} TargetOut;

static int write_target_body(hid_t f, void *ctx) {
  const TargetOut *o = ctx;
  const int64_t ni = o->s->n + 1, ns = o->s->indptr[o->s->n];
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-network-spikes-1"), FF_ATTR_INT("n_exc", o->n_exc),
                        FF_ATTR_INT("n_inh", o->s->n - o->n_exc), FF_ATTR_DOUBLE("duration_ms", o->duration_ms),
                        FF_ATTR_STRING("created_by", o->created_by)};
  const FfH5Attr t[] = {FF_ATTR_DOUBLE("p", o->p), FF_ATTR_DOUBLE("w", o->w), FF_ATTR_INT("seed", o->seed)};
  int st = ff_h5_group(f, "/network");
  FF_CALL(st, ff_h5_write_attrs(f, "/network", a, (int)(sizeof a / sizeof a[0])));
  FF_CALL(st, ff_h5_write(f, "/network/spike_indptr", H5T_NATIVE_INT64, 1, &ni, o->s->indptr));
  FF_CALL(st, ff_h5_write(f, "/network/spike_times", H5T_NATIVE_DOUBLE, 1, &ns, o->s->times));
  if (isfinite(o->p)) {
    FF_CALL(st, ff_h5_group(f, "/truth"));
    FF_CALL(st, ff_h5_write_attrs(f, "/truth", t, (int)(sizeof t / sizeof t[0])));
  }
  return st;
}

int ff_ei_net_write_target(const char *path, const FfSpikeTrains *s, int64_t n_exc, double duration_ms, double p,
                           double w, uint64_t seed, const char *created_by) {
  TargetOut o = {s, n_exc, duration_ms, p, w, seed, created_by};
  return ff_h5_write_atomic(path, write_target_body, &o);
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
