/* Single-neuron models for fitting to recorded sweeps (docs/design.md §2.9.2): Hodgkin–Huxley
 * (Traub–Miles, as in the Brian2 model-fitting example), GIF (Mihalas–Niebur, two adaptation
 * currents), Izhikevich and AdEx. One time step of each is an FF_HD function on a plain double
 * array of parameters and of state, so that a CUDA kernel can step many candidates with the same
 * arithmetic; the host drives a whole sweep through the model table (FfNeuronModel).
 * HH and GIF also propagate forward sensitivities, the derivatives of the state by the parameters,
 * exact for the discrete scheme (§2.9.3): s[k x n_sens + j] = d x_k / d p_j, updated from the old state
 * and sensitivities in the same step. A reset is a discrete event taken as fixed: the derivative of
 * the map on the side the step took (what a central difference sees while no spike moves).
 * Units: time ms, voltage mV; the input current and the conductances per model (below and in
 * FfNeuronModel.param_units). */
#ifndef FLYFIT_NEURON_MODELS_H
#define FLYFIT_NEURON_MODELS_H

#include <math.h>
#include <stdint.h>

#include "flyfit/hd.h"

/* ---- Hodgkin–Huxley, Traub–Miles (brian2modelfitting's HH examples) ------------------------------
 * C dv/dt = gL (EL - v) - gNa m^3 h (v - ENa) - gK n^4 (v - EK) + I, and for x in m, h, n
 * dx/dt = alpha_x(u) (1 - x) - beta_x(u) x with u = v - VT:
 *   alpha_m = 0.32 (13 - u) / (e^{(13-u)/4} - 1)   beta_m = 0.28 (u - 40) / (e^{(u-40)/5} - 1)
 *   alpha_h = 0.128 e^{(17-u)/18}                   beta_h = 4 / (1 + e^{(40-u)/5})
 *   alpha_n = 0.032 (15 - u) / (e^{(15-u)/5} - 1)   beta_n = 0.5 e^{(10-u)/40}         (per ms)
 * Units: µS, mV, nF, nA (µS x mV = nA, nA / nF = mV/ms). Integration: Brian2's exponential_euler,
 * which finds every equation linear in its own variable (v's too) and sets, from the old state,
 * y <- -b/a + (y + b/a) e^{a dt} for dy/dt = a y + b. The fitted parameters gL, gNa, gK, VT come
 * first: they are the ones with sensitivities. A spike is an upward crossing of m = 0.5 (the
 * examples' threshold 'm > 0.5'). */
enum { FF_HH_GL, FF_HH_GNA, FF_HH_GK, FF_HH_VT, FF_HH_ENA, FF_HH_EK, FF_HH_EL, FF_HH_C, FF_HH_NPARAM };
enum { FF_HH_V, FF_HH_M, FF_HH_H, FF_HH_N, FF_HH_NSTATE };
enum { FF_HH_NSENS = 4 }; /* gL, gNa, gK, VT */

/* x / (e^{x/k} - 1) and its derivative by x, with the removable singularity at x = 0 by its series */
FF_HD static inline double ff_vtrap(double x, double k, double *dfdx) {
  const double y = x / k;
  if (fabs(y) < 1e-6) {
    *dfdx = -0.5 + y / 6.0;
    return k * (1.0 - 0.5 * y + y * y / 12.0);
  }
  const double e = exp(y), em1 = e - 1.0;
  *dfdx = (em1 - y * e) / (em1 * em1);
  return x / em1;
}

/* alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n at u = v - VT (per ms), and their derivatives by u */
FF_HD static inline void ff_hh_rates(double u, double r[6], double dr[6]) {
  double d;
  r[0] = 0.32 * ff_vtrap(13.0 - u, 4.0, &d);
  dr[0] = -0.32 * d;
  r[1] = 0.28 * ff_vtrap(u - 40.0, 5.0, &d);
  dr[1] = 0.28 * d;
  r[2] = 0.128 * exp((17.0 - u) / 18.0);
  dr[2] = -r[2] / 18.0;
  const double e = exp((40.0 - u) / 5.0);
  r[3] = 4.0 / (1.0 + e);
  dr[3] = 4.0 * e / (5.0 * (1.0 + e) * (1.0 + e));
  r[4] = 0.032 * ff_vtrap(15.0 - u, 5.0, &d);
  dr[4] = -0.032 * d;
  r[5] = 0.5 * exp((10.0 - u) / 40.0);
  dr[5] = -r[5] / 40.0;
}

/* One exponential-Euler update of y (dy/dt = a y + b, a != 0) and its partial derivatives by y, a, b. */
FF_HD static inline double ff_expeuler(double y, double a, double b, double dt, double *dy, double *da, double *db) {
  const double e = exp(a * dt), c = b / a, phi = (e - 1.0) / a;
  *dy = e;
  *da = (y + c) * e * dt - c * phi;
  *db = phi;
  return -c + (c + y) * e;
}

/* One step of HH: x [FF_HH_NSTATE] from t to t + dt under the input i (nA, held over the step);
 * s [FF_HH_NSTATE x FF_HH_NSENS] (or NULL) the sensitivities, updated alike. Returns 1 on a spike
 * (m crossed 0.5 upwards), else 0. */
FF_HD static inline int ff_hh_step(const double *p, double dt, double i, double *x, double *s) {
  const double v = x[FF_HH_V], m = x[FF_HH_M], h = x[FF_HH_H], n = x[FF_HH_N], c = p[FF_HH_C];
  double r[6], dr[6];
  ff_hh_rates(v - p[FF_HH_VT], r, dr);
  const double m3h = m * m * m * h, n4 = n * n * n * n;
  const double G = p[FF_HH_GL] + p[FF_HH_GNA] * m3h + p[FF_HH_GK] * n4;
  const double B = p[FF_HH_GL] * p[FF_HH_EL] + p[FF_HH_GNA] * m3h * p[FF_HH_ENA] + p[FF_HH_GK] * n4 * p[FF_HH_EK] + i;
  double gy[4], ga[4], gb[4]; /* the partial derivatives of each update by its own y, a and b */
  const double vn = ff_expeuler(v, -G / c, B / c, dt, &gy[0], &ga[0], &gb[0]);
  const double mn = ff_expeuler(m, -(r[0] + r[1]), r[0], dt, &gy[1], &ga[1], &gb[1]);
  const double hn = ff_expeuler(h, -(r[2] + r[3]), r[2], dt, &gy[2], &ga[2], &gb[2]);
  const double nn = ff_expeuler(n, -(r[4] + r[5]), r[4], dt, &gy[3], &ga[3], &gb[3]);
  if (s) {
    double out[FF_HH_NSTATE * FF_HH_NSENS];
    const double gna = p[FF_HH_GNA], gk = p[FF_HH_GK];
    for (int j = 0; j < FF_HH_NSENS; ++j) {
      const double sv = s[FF_HH_V * FF_HH_NSENS + j], sm = s[FF_HH_M * FF_HH_NSENS + j],
                   sh = s[FF_HH_H * FF_HH_NSENS + j], sn = s[FF_HH_N * FF_HH_NSENS + j];
      const double du = sv - (j == FF_HH_VT ? 1.0 : 0.0); /* d(v - VT) */
      const double dm3h = 3.0 * m * m * h * sm + m * m * m * sh, dn4 = 4.0 * n * n * n * sn;
      const double dG = (j == FF_HH_GL) + (j == FF_HH_GNA) * m3h + (j == FF_HH_GK) * n4 + gna * dm3h + gk * dn4;
      const double dB = (j == FF_HH_GL) * p[FF_HH_EL] + (j == FF_HH_GNA) * m3h * p[FF_HH_ENA] +
                        (j == FF_HH_GK) * n4 * p[FF_HH_EK] + gna * p[FF_HH_ENA] * dm3h + gk * p[FF_HH_EK] * dn4;
      out[FF_HH_V * FF_HH_NSENS + j] = gy[0] * sv + ga[0] * (-dG / c) + gb[0] * (dB / c);
      out[FF_HH_M * FF_HH_NSENS + j] = gy[1] * sm + (ga[1] * -(dr[0] + dr[1]) + gb[1] * dr[0]) * du;
      out[FF_HH_H * FF_HH_NSENS + j] = gy[2] * sh + (ga[2] * -(dr[2] + dr[3]) + gb[2] * dr[2]) * du;
      out[FF_HH_N * FF_HH_NSENS + j] = gy[3] * sn + (ga[3] * -(dr[4] + dr[5]) + gb[3] * dr[4]) * du;
    }
    for (int k = 0; k < FF_HH_NSTATE * FF_HH_NSENS; ++k) s[k] = out[k];
  }
  const int spike = mn > 0.5 && m <= 0.5;
  x[FF_HH_V] = vn;
  x[FF_HH_M] = mn;
  x[FF_HH_H] = hn;
  x[FF_HH_N] = nn;
  return spike;
}

/* ---- GIF, Mihalas–Niebur (2009), in BrainPy's form (R, tau) --------------------------------------
 * tau dV/dt = -(V - V_rest) + R (I1 + I2 + I);  dTh/dt = a (V - V_rest) - b (Th - Th_inf);
 * dI_j/dt = -k_j I_j. A spike when V >= Th after a step: I_j <- R_j I_j + A_j, V <- V_reset,
 * Th <- max(Th_reset, Th). Units: mV, ms, nA, R in MΩ (MΩ x nA = mV), a and b per ms.
 * Integration: exponential Euler from the old state (each variable exact with the others held
 * over the step; I_j exact). Sensitivities by every parameter. */
enum {
  FF_GIF_V_REST, FF_GIF_V_RESET, FF_GIF_TH_INF, FF_GIF_TH_RESET, FF_GIF_R, FF_GIF_TAU, FF_GIF_A, FF_GIF_B,
  FF_GIF_K1, FF_GIF_K2, FF_GIF_R1, FF_GIF_R2, FF_GIF_A1, FF_GIF_A2, FF_GIF_NPARAM
};
enum { FF_GIF_V, FF_GIF_TH, FF_GIF_I1, FF_GIF_I2, FF_GIF_NSTATE };
enum { FF_GIF_NSENS = FF_GIF_NPARAM };

/* (1 - e^{-b dt}) / b and its derivative by b; dt and -dt^2/2 at b = 0 */
FF_HD static inline double ff_phi_decay(double b, double dt, double *dphi) {
  const double y = b * dt;
  if (fabs(y) < 1e-5) {
    *dphi = dt * dt * (-0.5 + y / 3.0);
    return dt * (1.0 - 0.5 * y + y * y / 6.0);
  }
  const double e = exp(-y), phi = -expm1(-y) / b;
  *dphi = (dt * e - phi) / b;
  return phi;
}

/* One step of GIF: x [FF_GIF_NSTATE], s [FF_GIF_NSTATE x FF_GIF_NSENS] or NULL; i in nA.
 * Returns 1 on a spike. */
FF_HD static inline int ff_gif_step(const double *p, double dt, double i, double *x, double *s) {
  const double V = x[FF_GIF_V], Th = x[FF_GIF_TH], I1 = x[FF_GIF_I1], I2 = x[FF_GIF_I2];
  const double R = p[FF_GIF_R], tau = p[FF_GIF_TAU], a = p[FF_GIF_A], b = p[FF_GIF_B];
  const double e1 = exp(-p[FF_GIF_K1] * dt), e2 = exp(-p[FF_GIF_K2] * dt), ev = exp(-dt / tau);
  double dphi;
  const double eb = exp(-b * dt), phi = ff_phi_decay(b, dt, &dphi);
  const double itot = I1 + I2 + i, vinf = p[FF_GIF_V_REST] + R * itot, drive = a * (V - p[FF_GIF_V_REST]) + b * p[FF_GIF_TH_INF];
  double I1n = I1 * e1, I2n = I2 * e2, Vn = vinf + (V - vinf) * ev, Thn = Th * eb + drive * phi;
  const int spike = Vn >= Thn;
  const int th_reset = spike && p[FF_GIF_TH_RESET] > Thn; /* max(Th_reset, Th) takes the reset value */
  if (s) {
    for (int j = 0; j < FF_GIF_NSENS; ++j) {
      const double sV = s[FF_GIF_V * FF_GIF_NSENS + j], sTh = s[FF_GIF_TH * FF_GIF_NSENS + j],
                   sI1 = s[FF_GIF_I1 * FF_GIF_NSENS + j], sI2 = s[FF_GIF_I2 * FF_GIF_NSENS + j];
      double dI1 = e1 * sI1 - (j == FF_GIF_K1) * dt * I1 * e1;
      double dI2 = e2 * sI2 - (j == FF_GIF_K2) * dt * I2 * e2;
      const double dvinf = (j == FF_GIF_V_REST) + (j == FF_GIF_R) * itot + R * (sI1 + sI2);
      double dV = dvinf * (1.0 - ev) + ev * sV + (j == FF_GIF_TAU) * (V - vinf) * ev * dt / (tau * tau);
      const double ddrive = (j == FF_GIF_A) * (V - p[FF_GIF_V_REST]) + a * (sV - (j == FF_GIF_V_REST)) +
                            (j == FF_GIF_B) * p[FF_GIF_TH_INF] + b * (j == FF_GIF_TH_INF);
      double dTh = eb * sTh - (j == FF_GIF_B) * dt * Th * eb + phi * ddrive + (j == FF_GIF_B) * drive * dphi;
      if (spike) {
        dI1 = p[FF_GIF_R1] * dI1 + (j == FF_GIF_R1) * I1n + (j == FF_GIF_A1);
        dI2 = p[FF_GIF_R2] * dI2 + (j == FF_GIF_R2) * I2n + (j == FF_GIF_A2);
        dV = (j == FF_GIF_V_RESET);
        if (th_reset) dTh = (j == FF_GIF_TH_RESET);
      }
      s[FF_GIF_V * FF_GIF_NSENS + j] = dV;
      s[FF_GIF_TH * FF_GIF_NSENS + j] = dTh;
      s[FF_GIF_I1 * FF_GIF_NSENS + j] = dI1;
      s[FF_GIF_I2 * FF_GIF_NSENS + j] = dI2;
    }
  }
  if (spike) {
    I1n = p[FF_GIF_R1] * I1n + p[FF_GIF_A1];
    I2n = p[FF_GIF_R2] * I2n + p[FF_GIF_A2];
    Vn = p[FF_GIF_V_RESET];
    if (th_reset) Thn = p[FF_GIF_TH_RESET];
  }
  x[FF_GIF_V] = Vn;
  x[FF_GIF_TH] = Thn;
  x[FF_GIF_I1] = I1n;
  x[FF_GIF_I2] = I2n;
  return spike;
}

/* ---- Izhikevich (2003) -----------------------------------------------------------------------------
 * dv/dt = 0.04 v^2 + 5 v + 140 - u + I;  du/dt = a (b v - u); v >= v_peak: v <- c, u <- u + d.
 * Izhikevich's units (mV, ms, I in his dimensionless current). Forward Euler from the old state. */
enum { FF_IZH_A, FF_IZH_B, FF_IZH_C, FF_IZH_D, FF_IZH_V_PEAK, FF_IZH_NPARAM };
enum { FF_IZH_V, FF_IZH_U, FF_IZH_NSTATE };

FF_HD static inline int ff_izhikevich_step(const double *p, double dt, double i, double *x) {
  const double v = x[FF_IZH_V], u = x[FF_IZH_U];
  double vn = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + i);
  double un = u + dt * p[FF_IZH_A] * (p[FF_IZH_B] * v - u);
  const int spike = vn >= p[FF_IZH_V_PEAK];
  if (spike) {
    vn = p[FF_IZH_C];
    un += p[FF_IZH_D];
  }
  x[FF_IZH_V] = vn;
  x[FF_IZH_U] = un;
  return spike;
}

/* ---- AdEx, Brette & Gerstner (2005) ----------------------------------------------------------------
 * C dV/dt = -gL (V - EL) + gL DeltaT e^{(V - VT)/DeltaT} - w + I;  tau_w dw/dt = a (V - EL) - w;
 * V >= V_peak: V <- V_r, w <- w + b. Units: pF, nS, mV, ms, pA (nS x mV = pA, pA / pF = mV/ms).
 * Forward Euler from the old state (the exponential term makes V's equation nonlinear in V). */
enum {
  FF_ADEX_C, FF_ADEX_GL, FF_ADEX_EL, FF_ADEX_VT, FF_ADEX_DT, FF_ADEX_A, FF_ADEX_TAU_W, FF_ADEX_B, FF_ADEX_V_R,
  FF_ADEX_V_PEAK, FF_ADEX_NPARAM
};
enum { FF_ADEX_V, FF_ADEX_W, FF_ADEX_NSTATE };

FF_HD static inline int ff_adex_step(const double *p, double dt, double i, double *x) {
  const double V = x[FF_ADEX_V], w = x[FF_ADEX_W], gl = p[FF_ADEX_GL], dT = p[FF_ADEX_DT];
  double Vn = V + dt / p[FF_ADEX_C] * (-gl * (V - p[FF_ADEX_EL]) + gl * dT * exp((V - p[FF_ADEX_VT]) / dT) - w + i);
  double wn = w + dt / p[FF_ADEX_TAU_W] * (p[FF_ADEX_A] * (V - p[FF_ADEX_EL]) - w);
  const int spike = Vn >= p[FF_ADEX_V_PEAK];
  if (spike) {
    Vn = p[FF_ADEX_V_R];
    wn += p[FF_ADEX_B];
  }
  x[FF_ADEX_V] = Vn;
  x[FF_ADEX_W] = wn;
  return spike;
}

/* ---- the model table (host) -------------------------------------------------------------------------- */
enum { FF_NEURON_MAX_PARAM = 16, FF_NEURON_MAX_STATE = 4 };

typedef struct {
  const char *name;                 /* "hh", "gif", "izhikevich", "adex" */
  int32_t n_param, n_state, n_sens; /* n_sens: the leading parameters with sensitivities (0: none) */
  const char *const *param_names;   /* [n_param], the model's own names (HH: gL gNa gK VT ...) */
  const char *const *param_units;   /* [n_param] */
  const double *defaults;           /* [n_param]: the planted values of flyfit-synth */
  const char *input_unit;           /* the unit of the input current */
  /* the default initial state x0 [n_state] and its sensitivities s0 [n_state x n_sens] (may be NULL):
   * HH at v = EL with m = h = n = 0 (Brian2's defaults), GIF at rest with Th = Th_inf, no currents,
   * Izhikevich at v = c, u = b c, AdEx at EL with w = 0 */
  void (*init)(const double *p, double *x0, double *s0);
  /* one step (the FF_HD function above); s is ignored where n_sens = 0 */
  int (*step)(const double *p, double dt, double i, double *x, double *s);
} FfNeuronModel;

/* The model called name, or NULL. */
const FfNeuronModel *ff_neuron_model(const char *name);
/* The names of all models, NULL-terminated. */
extern const char *const ff_neuron_model_names[];
/* The index of parameter `name` of model m; FF_ERR_INPUT naming the model's parameters if unknown. */
int ff_neuron_param_index(const FfNeuronModel *m, const char *name, int *index);
/* Checks a parameter vector: finite, and positive where the model divides by it (C, tau, dt...). */
int ff_neuron_params_check(const FfNeuronModel *m, const double *p);

/* One sweep of n steps of dt (ms) under the input i [n] (held over each step): v [n] gets the membrane
 * potential at the start of each step (t = k dt, v[0] the initial one: Brian2's StateMonitor);
 * spiked [n] (or NULL) 1 where step k ends in a spike (at t = (k + 1) dt); dv_dp [n x n_sens] (or NULL,
 * and NULL for a model without sensitivities) dv[k]/dp_j. x0 [n_state] (or NULL: the model's init,
 * with its sensitivities) is the initial state; x_end [n_state] (or NULL) gets the final one.
 * Bad parameters, dt <= 0 or a non-finite input are FF_ERR_INPUT; a state that becomes non-finite
 * is FF_ERR_INPUT too, naming the step (parameters the model cannot integrate at this dt). */
int ff_neuron_simulate(const FfNeuronModel *m, const double *p, double dt, const double *i, int64_t n,
                       const double *x0, double *v, uint8_t *spiked, double *dv_dp, double *x_end);

#endif
