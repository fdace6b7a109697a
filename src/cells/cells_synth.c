/* flyfit-synth --cells (cells.h, docs/design.md §2.10.1): a planted Izhikevich E/I network (Izhikevich 2003's
 * heterogeneous RS and FS cells, noisy input current, sparse connections, E cells in ensembles wired more
 * densely and strongly among themselves) and the GCaMP-like calcium of its cells, sampled at a two-photon
 * frame rate with measurement noise. Every draw is Philox keyed by (pre, post), (step, cell) or (frame, cell):
 * the same seed gives the same file on any machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"
#include "flyfit/error.h"
#include "flyfit/neuron_models.h"
#include "flyfit/rng.h"

void ff_cells_synth_defaults(FfCellsSynth *o) {
  o->n_cells = 259;
  o->n_ensembles = 8;
  o->e_share = 0.8;
  o->seconds = 300.0;
  o->fs_hz = 30.0;
  o->p_in = 0.3;
  o->p_out = 0.03;
  o->p_ei = 0.2;
  o->p_ie = 0.15;
  o->p_ii = 0.15;
  o->calcium_tau_s = 0.7;
  o->dff_per_spike = 0.25;
  o->noise = 0.05;
  o->seed = 1;
}

enum { NET_EDGE = 0, NET_WEIGHT = 1, NET_CELL = 2 };
static const double DT_MS = 0.5;
/* input current sd per step (Izhikevich 2003's 5 and 2 per 1 ms step, scaled for sparse wiring) */
static const double SIGMA_E = 4.0, SIGMA_I = 2.0;

static double u01(uint64_t seed, uint32_t stream, uint32_t a, uint32_t b, uint32_t c, int word) {
  uint32_t w[4];
  ff_rng4(seed, stream, a, b, c, w);
  return ff_u01(w[word]);
}

/* the planted weight of pre -> post (v kick of the target, mV), 0 for none */
static double planted_weight(const FfCellsSynth *o, int64_t pre, int64_t post, int e_pre, int e_post, int32_t ens_pre,
                             int32_t ens_post) {
  if (pre == post) return 0.0;
  double p, lo, hi;
  if (e_pre && e_post) {
    const int same = ens_pre == ens_post;
    p = same ? o->p_in : o->p_out;
    lo = same ? 6.0 : 3.0;
    hi = same ? 10.0 : 6.0;
  } else if (e_pre) {
    p = o->p_ei, lo = 3.0, hi = 6.0;
  } else if (e_post) {
    p = o->p_ie, lo = -8.0, hi = -4.0;
  } else {
    p = o->p_ii, lo = -6.0, hi = -3.0;
  }
  if (u01(o->seed, FF_STREAM_CELLS_NET, (uint32_t)pre, (uint32_t)post, NET_EDGE, 0) >= p) return 0.0;
  return lo + (hi - lo) * u01(o->seed, FF_STREAM_CELLS_NET, (uint32_t)pre, (uint32_t)post, NET_WEIGHT, 0);
}

int ff_cells_synth(const FfCellsSynth *o, FfCellsRecording *r, int64_t *spike_counts) {
  memset(r, 0, sizeof *r);
  const int64_t n = o->n_cells, n_e = (int64_t)llround(o->e_share * (double)n);
  if (n < 2 || n_e < 1 || n_e >= n || o->n_ensembles < 1 || o->n_ensembles > n_e)
    return FF_ERROR(FF_ERR_USAGE, "--cells %lld with e_share %g and %lld ensembles: needs at least one E and one I cell "
                                  "and at most one ensemble per E cell",
                    (long long)n, o->e_share, (long long)o->n_ensembles);
  const int64_t T = (int64_t)floor(o->seconds * o->fs_hz), steps = (int64_t)ceil(o->seconds * 1000.0 / DT_MS);
  if (T < 1) return FF_ERROR(FF_ERR_USAGE, "--seconds %g at %g Hz gives no frame", o->seconds, o->fs_hz);
  r->n_cells = n;
  r->n_frames = T;
  r->fs_hz = o->fs_hz;
  r->has_truth = 1;
  double *par = NULL, *x = NULL, *kick = NULL, *c = NULL, *amp = NULL, *f0 = NULL;
  int64_t *fired = NULL;
  int st = FF_MALLOC(r->fluor, n * T, "fluorescence");
  FF_CALL(st, FF_CALLOC(r->w_true, n * n, "planted weights"));
  FF_CALL(st, FF_MALLOC(r->excitatory, n, "cell types"));
  FF_CALL(st, FF_MALLOC(r->ensemble, n, "ensembles"));
  FF_CALL(st, FF_MALLOC(par, n * FF_IZH_NPARAM, "neuron parameters"));
  FF_CALL(st, FF_MALLOC(x, n * FF_IZH_NSTATE, "neuron states"));
  FF_CALL(st, FF_CALLOC(kick, n, "synaptic kicks"));
  FF_CALL(st, FF_CALLOC(c, n, "calcium"));
  FF_CALL(st, FF_MALLOC(amp, n, "dF/F per spike"));
  FF_CALL(st, FF_MALLOC(f0, n, "baseline fluorescence"));
  FF_CALL(st, FF_MALLOC(fired, n, "spiking cells"));
  if (st) {
    free(par), free(x), free(kick), free(c), free(amp), free(f0), free(fired);
    ff_cells_recording_destroy(r);
    return st;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int e = i < n_e;
    r->excitatory[i] = (int8_t)e;
    r->ensemble[i] = e ? (int32_t)(i * o->n_ensembles / n_e) : -1;
    const double q = u01(o->seed, FF_STREAM_CELLS_NET, (uint32_t)i, (uint32_t)i, NET_CELL, 0);
    double *p = par + i * FF_IZH_NPARAM;
    /* Izhikevich 2003: E cells from RS (q = 0) towards chattering, I cells from FS towards LTS */
    p[FF_IZH_A] = e ? 0.02 : 0.02 + 0.08 * q;
    p[FF_IZH_B] = e ? 0.2 : 0.25 - 0.05 * q;
    p[FF_IZH_C] = e ? -65.0 + 15.0 * q * q : -65.0;
    p[FF_IZH_D] = e ? 8.0 - 6.0 * q * q : 2.0;
    p[FF_IZH_V_PEAK] = 30.0;
    x[i * FF_IZH_NSTATE + FF_IZH_V] = -65.0;
    x[i * FF_IZH_NSTATE + FF_IZH_U] = p[FF_IZH_B] * -65.0;
    amp[i] = o->dff_per_spike * (0.8 + 0.4 * u01(o->seed, FF_STREAM_CELLS_NET, (uint32_t)i, (uint32_t)i, NET_CELL, 1));
    f0[i] = 50.0 + 100.0 * u01(o->seed, FF_STREAM_CELLS_NET, (uint32_t)i, (uint32_t)i, NET_CELL, 2);
    if (spike_counts) spike_counts[i] = 0;
  }
  /* above the reference's 259 cells the probabilities shrink as 259 / N, so that every cell keeps the in-degree it
   * has at 259 (inputs grow with N at fixed probabilities, and the network runs away) */
  FfCellsSynth os = *o;
  const double scale = n > FF_CELLS_REF_N ? (double)FF_CELLS_REF_N / (double)n : 1.0;
  os.p_in *= scale, os.p_out *= scale, os.p_ei *= scale, os.p_ie *= scale, os.p_ii *= scale;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      r->w_true[i * n + j] = planted_weight(&os, i, j, r->excitatory[i], r->excitatory[j], r->ensemble[i], r->ensemble[j]);
  const double decay = exp(-DT_MS / (o->calcium_tau_s * 1000.0));
  int64_t frame = 0;
  for (int64_t k = 0; k < steps && frame < T; ++k) {
    int64_t n_fired = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t w[4];
      ff_rng4(o->seed, FF_STREAM_CELLS_INPUT, (uint32_t)k, (uint32_t)i, (uint32_t)(k >> 32), w);
      const double cur = (r->excitatory[i] ? SIGMA_E : SIGMA_I) * ff_normal(w[0], w[1]);
      double *xi = x + i * FF_IZH_NSTATE;
      xi[FF_IZH_V] += kick[i];
      kick[i] = 0.0;
      c[i] *= decay;
      if (ff_izhikevich_step(par + i * FF_IZH_NPARAM, DT_MS, cur, xi)) {
        fired[n_fired++] = i;
        c[i] += amp[i];
        if (spike_counts) ++spike_counts[i];
      }
    }
    for (int64_t q = 0; q < n_fired; ++q) /* delivered at the next step */
      for (int64_t j = 0; j < n; ++j) kick[j] += r->w_true[fired[q] * n + j];
    /* frame f is the calcium at its end, t = (f + 1) / fs */
    while (frame < T && (double)(k + 1) * DT_MS >= (double)(frame + 1) * 1000.0 / o->fs_hz) {
      for (int64_t i = 0; i < n; ++i) {
        uint32_t w[4];
        ff_rng4(o->seed, FF_STREAM_CELLS_MEASURE, (uint32_t)frame, (uint32_t)i, (uint32_t)(frame >> 32), w);
        r->fluor[i * T + frame] = f0[i] * (1.0 + c[i] + o->noise * ff_normal(w[0], w[1]));
      }
      ++frame;
    }
  }
  for (; frame < T; ++frame) /* rounding of the last frame's time */
    for (int64_t i = 0; i < n; ++i) r->fluor[i * T + frame] = r->fluor[i * T + frame - 1];
  free(par), free(x), free(kick), free(c), free(amp), free(f0), free(fired);
  return FF_OK;
}
