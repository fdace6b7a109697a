/* The neuron and synapse model of docs/design.md §2.2 in discrete time, shared by every backend.
 *
 * Both equations are linear, so a neuron left without input evolves in closed form. With
 * u = v - v_rest, the state j steps after an "anchor" (u, g) is
 *     u_j = Em^j u + C_j g,     g_j = Es^j g,
 * where Em = exp(-dt/tau_m), Es = exp(-dt/tau_syn) and C_j depends on the step order: the shiu
 * order integrates u and g exactly together (C_j = gamma (Es^j - Em^j)); the brainscale order
 * decays g first and then integrates u exactly with g held over the step. The tables Em^j, Es^j,
 * C_j are computed once, in double, on the host (model.c), so every backend reads the same bits.
 * Beyond kmax steps every term is below 1e-20 of its start and the neuron is exactly at rest.
 *
 * This closed form is what makes the simulation event-driven: a neuron is touched only when an
 * input arrives, and ff_first_crossing() says at which step, if any, it will next spike. */
#ifndef FLYFIT_MODEL_H
#define FLYFIT_MODEL_H

#include <math.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/hd.h"
#include "flyfit/rng.h"

typedef struct {
  double em; /* Em^j */
  double es; /* Es^j */
  double c;  /* C_j >= 0 */
} FfProp;

typedef struct {
  /* time */
  double dt_ms;
  int32_t delay_steps;     /* D: a spike at step s reaches its targets at step s + D */
  int32_t ref_steps;       /* R: after a spike at s, steps s+1 .. s+R-1 are refractory */
  int32_t ref_steps_driven; /* R for neurons with Poisson or file input */
  int step_order;          /* FfStepOrder */

  /* potentials relative to rest (mV) */
  double v_rest, u_th, u_reset;

  /* weights (mV) */
  double w_syn;        /* per signed synapse, added to g */
  double w_ext;        /* per Poisson / file input spike, added to v */
  double w_background; /* per background spike, added to v */
  uint64_t p_ext_u32, p_background_u32; /* Bernoulli thresholds per step (rng.h) */

  /* initial state */
  double v_init_sd, g_init_max;

  /* propagator */
  int32_t kmax;       /* table has entries 0..kmax */
  const FfProp *tab;  /* [kmax + 1], tab[0] = {1, 1, 0} */
  double em1, es1;    /* Em and Es for one step */
  double one_minus_em; /* 1 - Em, the brainscale gain of g into u */
  double c_max;       /* max over j of C_j */
  int degenerate;     /* tau_m == tau_syn: C_j = delta j E^j */
  double gamma;       /* C_j = gamma (Es^j - Em^j) when not degenerate */
  double delta;
  double log_em, log_es;
} FfModel;

/* Builds the model from a finished config (ff_config_finish). Allocates the table. */
int ff_model_build(const FfConfig *cfg, FfModel *m);
void ff_model_destroy(FfModel *m);

/* Steps a spike at s keeps the neuron refractory: s .. s + R - 1 (at least the spike step itself).
 * `driven`: the neuron has Poisson or file input. */
FF_HD static inline int32_t ff_refractory_steps(const FfModel *m, int driven) {
  const int32_t r = driven ? m->ref_steps_driven : m->ref_steps;
  return r > 1 ? r : 1;
}

/* u after j >= 0 free steps from the anchor (u, g). */
FF_HD static inline double ff_free_u(const FfModel *m, double u, double g, int32_t j) {
  if (j <= 0) return u;
  if (j > m->kmax) return 0.0;
  return m->tab[j].em * u + m->tab[j].c * g;
}

FF_HD static inline double ff_free_g(const FfModel *m, double g, int32_t j) {
  if (j <= 0) return g;
  if (j > m->kmax) return 0.0;
  return m->tab[j].es * g;
}

/* The first j >= 1 at which the free trajectory from anchor (u, g) has u_j > u_th, or 0 if never.
 * The sequence u_j has at most one interior extremum, so the answer is j = 1, or the first
 * crossing before the peak, found by bisection on table values. The peak is located from the
 * continuous solution and then refined by hill-climbing on table values, so the result depends
 * only on table values, never on the rounding of log(). */
FF_HD static inline int32_t ff_first_crossing(const FfModel *m, double u, double g) {
  const double th = m->u_th;
  /* Fast exit: u_j <= Em max(u,0) + max_j(C_j) max(g,0) for every j >= 1. */
  const double bound = m->em1 * (u > 0.0 ? u : 0.0) + m->c_max * (g > 0.0 ? g : 0.0);
  if (bound * (1.0 + 1e-12) < th) return 0;
  if (ff_free_u(m, u, g, 1) > th) return 1;
  if (g == 0.0) return 0; /* pure decay toward rest, already below threshold */
  double jstar;
  if (!m->degenerate) {
    const double alpha = u - m->gamma * g, beta = m->gamma * g;
    /* interior maximum iff the second derivative at the stationary point is negative */
    if (!(alpha * m->log_em * (m->log_em - m->log_es) < 0.0)) return 0;
    const double r = -(beta * m->log_es) / (alpha * m->log_em);
    if (!(r > 0.0)) return 0;
    jstar = log(r) / (m->log_em - m->log_es);
  } else {
    if (!(m->delta * g > 0.0)) return 0;
    jstar = -1.0 / m->log_em - u / (m->delta * g);
  }
  if (!(jstar >= 1.0) || jstar > (double)m->kmax) return 0;
  int32_t j = (int32_t)(jstar + 0.5);
  double fj = ff_free_u(m, u, g, j);
  for (;;) { /* climb to the discrete maximum */
    if (j < m->kmax) {
      const double f1 = ff_free_u(m, u, g, j + 1);
      if (f1 > fj) { ++j; fj = f1; continue; }
    }
    if (j > 1) {
      const double f0 = ff_free_u(m, u, g, j - 1);
      if (f0 > fj) { --j; fj = f0; continue; }
    }
    break;
  }
  if (!(fj > th)) return 0;
  int32_t lo = 1, hi = j; /* u_lo <= th < u_hi, rising in between */
  while (hi - lo > 1) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (ff_free_u(m, u, g, mid) > th) hi = mid; else lo = mid;
  }
  return hi;
}

/* ---- one neuron, as every simulation backend advances it ----------------------------------------
 * A neuron's state is an anchor (u, g, t_anchor): its value after step t_anchor. These functions
 * are the whole per-neuron arithmetic of the CPU backend and the device kernels alike. */

/* The step of the next spike of a neuron anchored at (u, g) after step t_anchor, or -1 when it
 * does not spike without new input. */
FF_HD static inline int32_t ff_next_spike(const FfModel *m, double u, double g, int32_t t_anchor) {
  const int32_t j = ff_first_crossing(m, u, g);
  return j > 0 ? t_anchor + j : -1;
}

/* The anchor right after a spike at step n: u = u_reset, g = 0, after the last refractory step, so
 * that input before then is dropped. `driven`: the neuron has Poisson or file input. */
FF_HD static inline void ff_after_spike(const FfModel *m, int driven, int32_t n, double *u, double *g,
                                        int32_t *t_anchor) {
  *u = m->u_reset;
  *g = 0.0;
  *t_anchor = n + ff_refractory_steps(m, driven) - 1;
}

/* Input at step n > *t_anchor: `syn` signed synapse counts (into g), `ext` stimulus and `bg`
 * background spikes (into v), added in the model's step order; the anchor moves to n. Returns 1
 * when the neuron crosses threshold at n now (brainscale; a shiu neuron's spikes are predicted by
 * ff_next_spike). */
FF_HD static inline int ff_take_input(const FfModel *m, int32_t n, double syn, double ext, double bg, double *u,
                                      double *g, int32_t *t_anchor) {
  if (m->step_order == FF_ORDER_SHIU) {
    const int32_t j = n - *t_anchor;
    const double u1 = ff_free_u(m, *u, *g, j), g1 = ff_free_g(m, *g, j);
    *t_anchor = n;
    *g = g1 + m->w_syn * syn;
    *u = u1 + (m->w_ext * ext + m->w_background * bg);
    return 0;
  }
  const int32_t j = n - 1 - *t_anchor;
  double u1 = ff_free_u(m, *u, *g, j), g1 = ff_free_g(m, *g, j);
  g1 = m->es1 * g1 + m->w_syn * syn;
  u1 = m->em1 * u1 + m->one_minus_em * g1 + (m->w_ext * ext + m->w_background * bg);
  *u = u1;
  *g = g1;
  *t_anchor = n;
  return u1 > m->u_th;
}

/* v (mV) and g (mV) at step n of a neuron anchored at (u, g, t_anchor), as recorded. */
FF_HD static inline void ff_state_at(const FfModel *m, double u, double g, int32_t t_anchor, int32_t n, double *v_mV,
                                     double *g_mV) {
  const int32_t j = n - t_anchor;
  *v_mV = m->v_rest + (j > 0 ? ff_free_u(m, u, g, j) : u);
  *g_mV = j > 0 ? ff_free_g(m, g, j) : g;
}

/* Whether (neuron gid, trial b) gets a spike at step n from the Bernoulli input `stream`
 * (FF_STREAM_POISSON or FF_STREAM_BACKGROUND) with threshold p_u32 (rng.h): one Philox draw,
 * keyed by neuron, step / 4 and trial, serves 4 steps, whichever thread draws it. */
FF_HD static inline int ff_input_spike(uint64_t seed, uint32_t stream, int64_t gid, int32_t b, int32_t n,
                                       uint64_t p_u32) {
  uint32_t w[4];
  ff_rng4(seed, stream, (uint32_t)(n >> 2), (uint32_t)gid, (uint32_t)b, w);
  return w[n & 3] < p_u32;
}

#endif
