/* One neuron-trial of the fitting model (brainscale step order, docs/design.md §2.2) for one time step,
 * with the eligibility traces of round 1 (§2.5), used by round 1's kernels (include/flyfit/fit_dev.h)
 * and, written out as SIMD rows with the same arithmetic, the CPU's update (src/fit/fit_steps.c);
 * FF_HD, so that a CUDA launcher can share it (none exists yet: round 1 runs on CPU cores, or emulated).
 *
 * Forward, with h = (v, g, c) relative to rest, inputs `in` (synaptic, into g) and `xi` background
 * spikes, each adding the neuron's encoder weight w to v:
 *   g~ = Es g + in;  v~ = Em v + (1 - Em) g~ + w xi;  s = [v~ > th];  c += s (counting window only);
 *   v = s ? v_reset : v~;  g = s ? 0 : g~.
 * A refractory neuron (R-1 steps after a spike, as in the simulation backends) holds v and g and
 * drops its input. The spike's gradient is the surrogate dS/dv~ = a max(0, w_s - |v~ - th|)
 * (a = 0.3 per mV, w_s = 1.5 mV); the reset treats s as a constant (its surrogate does not flow
 * through the reset), the usual choice for surrogate-gradient training.
 *
 * The per-step Jacobian D_t = dh_t/dh_{t-1} of a non-refractory step, for the traces below:
 *   dg = Es e_g;  dv = Em e_v + (1 - Em) dg;  e_c += k S' dv;  e_v = (1 - s) dv;  e_g = (1 - s) dg
 * (k = 1 in the counting window, else 0); a refractory step leaves a trace unchanged (D_t = I).
 * Per-neuron parameters (the encoder weight w) have the exact diagonal trace e = D_t e + dh/dw,
 * dh/dw entering through dv += xi. A pathway into g (connections) has D_f = dh/d(in) =
 * ((1 - Em)(1 - s), 1 - s, k S'(1 - Em)), used by D-RTRL per connection (e = D_t e + D_f x) and by
 * ES-D-RTRL's factor on the postsynaptic side (eps_f = a D_t eps_f + (1 - a) D_f).
 * All arithmetic is float; the Makefile forbids fused multiply-add on both sides. */
#ifndef FLYFIT_FIT_NEURON_H
#define FLYFIT_FIT_NEURON_H

#include <math.h>
#include <stdint.h>

#include "flyfit/hd.h"

typedef struct {
  float em, es, one_minus_em; /* one-step decay factors and the gain of g into v */
  float u_th, u_reset;        /* threshold and reset, mV relative to rest */
  float surr_a, surr_w;       /* surrogate slope (1/mV) and half width (mV) */
  int32_t hold_steps;         /* R - 1: steps held after a spike */
  float kick;                 /* the gain of a background kick into v~: 1 (flyfit), or em when it enters v
                                 before the membrane decay, as in the original ([fit] kick_order) */
} FfFitNeuron;

/* What a step tells the traces: whether the neuron was held, spiked, and its surrogate. */
typedef struct {
  float s, sg; /* spike (0 or 1) and surrogate dS/dv~ (0 when held) */
  int held;
} FfFitStep;

/* Advances (v, g, hold) by one step; `in` is the synaptic input (mV into g), `ext` the external
 * jump of v (w xi), entering v~ times p->kick. Returns the spike. */
FF_HD static inline FfFitStep ff_fit_step(const FfFitNeuron *p, float *v, float *g, uint8_t *hold, float in,
                                          float ext) {
  FfFitStep r = {0.0f, 0.0f, 0};
  if (*hold > 0) { /* refractory: state held, input dropped */
    *hold = (uint8_t)(*hold - 1);
    r.held = 1;
    return r;
  }
  const float gt = p->es * *g + in;
  const float vt = p->em * *v + p->one_minus_em * gt + p->kick * ext;
  /* a max(0, w_s - |x|) without a branch (a branch on the sign or on |x| < w_s is mispredicted
   * often): the same bits as the branches, -0 and NaN included (dw > 0 exactly when |x| < w_s) */
  const float dw = p->surr_w - fabsf(vt - p->u_th);
  r.sg = p->surr_a * (dw > 0.0f ? dw : 0.0f);
  if (vt > p->u_th) {
    r.s = 1.0f;
    *v = p->u_reset;
    *g = 0.0f;
    *hold = (uint8_t)p->hold_steps;
  } else {
    *v = vt;
    *g = gt;
  }
  return r;
}

/* e = D_t e + (0, 0, 0) + d(v~)/dtheta contribution `dv_in` entering v~ (xi for the encoder weight). */
FF_HD static inline void ff_fit_trace_param(const FfFitNeuron *p, FfFitStep r, float kappa, float dv_in, float *ev,
                                            float *eg, float *ec) {
  if (r.held) return;
  const float dg = p->es * *eg;
  const float dv = p->em * *ev + p->one_minus_em * dg + dv_in;
  *ec = *ec + kappa * r.sg * dv;
  *ev = (1.0f - r.s) * dv;
  *eg = (1.0f - r.s) * dg;
}

/* D-RTRL trace of one connection: e = D_t e + D_f x (x: presynaptic spikes arriving this step). */
FF_HD static inline void ff_fit_trace_pathway(const FfFitNeuron *p, FfFitStep r, float kappa, float x, float *ev,
                                              float *eg, float *ec) {
  if (r.held) return; /* held: D_t = I and the input is dropped */
  const float dg = p->es * *eg + x;
  const float dv = p->em * *ev + p->one_minus_em * dg;
  *ec = *ec + kappa * r.sg * dv;
  *ev = (1.0f - r.s) * dv;
  *eg = (1.0f - r.s) * dg;
}

/* ES-D-RTRL postsynaptic factor: eps = a D_t eps + (1 - a) D_f. */
FF_HD static inline void ff_fit_trace_es(const FfFitNeuron *p, FfFitStep r, float kappa, float a, float *fv, float *fg,
                                         float *fc) {
  if (r.held) {
    *fv = a * *fv;
    *fg = a * *fg;
    *fc = a * *fc;
    return;
  }
  const float dg = p->es * *fg;
  const float dv = p->em * *fv + p->one_minus_em * dg;
  const float ns = 1.0f - r.s, b = 1.0f - a;
  *fc = a * (*fc + kappa * r.sg * dv) + b * (kappa * r.sg * p->one_minus_em);
  *fv = a * (ns * dv) + b * (ns * p->one_minus_em);
  *fg = a * (ns * dg) + b * ns;
}

#endif
