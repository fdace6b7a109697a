/* mode = task, one trial: the forward pass of the E/I network and the gradient of the trial's loss by BPTT (the exact
 * reference: a tape of every step, then the adjoints backwards), D-RTRL (a trace per weight, forward in time) or
 * ES-D-RTRL (presynaptic traces x postsynaptic factors). Equations, surrogate and the derivation of each method:
 * docs/design.md §2.8. One trial is computed whole, in a fixed order, by one rank, so its gradient is the same bits
 * wherever it runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/spike.h"
#include "flyfit/task.h"

struct FfTaskWork {
  int32_t n, n_exc, n_pre, T;
  int32_t row0, rows;          /* the neurons this rank advances (net's rows) */
  int32_t e1;                  /* own excitatory rows: [row0, e1) */
  /* state of the trial */
  double *v, *ge, *gi, *a, *s; /* [n] membrane, conductances, adaptation current, the last step's spikes */
  double *r;                   /* [n_exc] low-passed spikes the readout reads */
  double *ce, *ci;             /* [n] this step's conductance increments */
  double *vh, *gsum, *psi;     /* [n] this step's pre-update v (after reset), ge + gi, surrogate */
  double *psi_old;             /* [n] the last step's surrogate: the reset's and adaptation's dS/dv (reset_grad) */
  double *pre;                 /* [n_pre] this step's presynaptic spikes: inputs, then the last step's spikes */
  double *lsig;                /* [n_exc] learning signal dL/dr of this step's readout */
  /* BPTT (allocated on first use): the tape [T x n] and the adjoints */
  double *t_vh, *t_gsum, *t_psi, *t_s, *t_dy; /* t_dy [T x 2] */
  double *dr, *dv, *dge, *dgi, *ds, *da;      /* [n] */
  /* D-RTRL: x̄ [n_pre], the traces e (of v), ea (of the adaptation current) and ē [own excitatory rows x n_pre] */
  double *xbar, *e, *ea, *ebar;
  /* ES-D-RTRL: x̂ [n_pre], and per excitatory neuron the factors of both pathways (v, adaptation, g) */
  double *xhat, *eps_ve, *eps_vi, *eps_ae, *eps_ai, *eps_g, *epsbar_e, *epsbar_i; /* [n_exc] */
};

void ff_task_work_destroy(FfTaskWork **wp) {
  FfTaskWork *w = *wp;
  if (w == NULL) return;
  double **all[] = {&w->v,      &w->ge,     &w->gi,   &w->a,    &w->s,        &w->r,        &w->ce,   &w->ci,
                    &w->vh,     &w->gsum,   &w->psi,  &w->pre,  &w->lsig,     &w->t_vh,     &w->t_gsum, &w->t_psi,
                    &w->t_s,    &w->t_dy,   &w->dr,   &w->dv,   &w->dge,      &w->dgi,      &w->ds,   &w->da,
                    &w->xbar,   &w->e,      &w->ea,   &w->ebar, &w->xhat,     &w->eps_ve,   &w->eps_vi, &w->eps_ae,
                    &w->eps_ai, &w->eps_g,  &w->epsbar_e, &w->epsbar_i, &w->psi_old};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; ++k) FF_FREE(*all[k]);
  FF_FREE(*wp);
}

int ff_task_work_create(const FfTaskSpec *s, const FfTaskNet *net, FfTaskWork **wp) {
  FfTaskWork *w;
  FF_TRY(FF_CALLOC(w, 1, "task work"));
  w->n = net->n;
  w->n_exc = net->n_exc;
  w->n_pre = net->n_pre;
  w->row0 = net->row0;
  w->rows = net->rows;
  w->e1 = net->row0 + net->rows < net->n_exc ? net->row0 + net->rows : net->n_exc;
  if (w->e1 < w->row0) w->e1 = w->row0;
  w->T = ff_task_steps(s);
  const int64_t n = net->n;
  int st = FF_OK;
  double **per_n[] = {&w->v, &w->ge, &w->gi, &w->a, &w->s, &w->ce, &w->ci, &w->vh, &w->gsum, &w->psi, &w->psi_old};
  for (size_t k = 0; k < sizeof per_n / sizeof per_n[0]; ++k) FF_CALL(st, FF_CALLOC(*per_n[k], n, "task state"));
  FF_CALL(st, FF_CALLOC(w->r, net->n_exc, "task readout state"));
  FF_CALL(st, FF_CALLOC(w->lsig, net->n_exc, "task learning signal"));
  FF_CALL(st, FF_CALLOC(w->pre, net->n_pre, "task presynaptic spikes"));
  if (st != FF_OK) ff_task_work_destroy(&w);
  *wp = w;
  return st;
}

/* The buffers of a method, on first use: BPTT's grow with the trial, the others' do not. */
static int work_method(FfTaskWork *w, int method) {
  const int64_t n = w->n, ne = w->e1 - w->row0, np = w->n_pre, T = w->T;
  int st = FF_OK;
  if (method == FF_TASK_BPTT && w->t_vh == NULL) {
    double **tape[] = {&w->t_vh, &w->t_gsum, &w->t_psi, &w->t_s};
    for (size_t k = 0; k < 4; ++k) FF_CALL(st, FF_MALLOC(*tape[k], T * n, "BPTT tape"));
    FF_CALL(st, FF_MALLOC(w->t_dy, T * FF_TASK_N_OUT, "BPTT tape"));
    double **adj[] = {&w->dr, &w->dv, &w->dge, &w->dgi, &w->ds, &w->da};
    for (size_t k = 0; k < 6; ++k) FF_CALL(st, FF_MALLOC(*adj[k], n, "BPTT adjoints"));
  }
  if (method == FF_TASK_DIAG && w->e == NULL) {
    FF_CALL(st, FF_MALLOC(w->xbar, np, "D-RTRL presynaptic trace"));
    FF_CALL(st, FF_MALLOC(w->e, ne * np, "D-RTRL traces"));
    FF_CALL(st, FF_MALLOC(w->ea, ne * np, "D-RTRL traces"));
    FF_CALL(st, FF_MALLOC(w->ebar, ne * np, "D-RTRL traces"));
  }
  if (method == FF_TASK_EXPSM_DIAG && w->xhat == NULL) {
    FF_CALL(st, FF_MALLOC(w->xhat, np, "ES-D-RTRL presynaptic trace"));
    double **f[] = {&w->eps_ve, &w->eps_vi, &w->eps_ae, &w->eps_ai, &w->eps_g, &w->epsbar_e, &w->epsbar_i};
    for (size_t k = 0; k < 7; ++k) FF_CALL(st, FF_MALLOC(*f[k], w->n_exc, "ES-D-RTRL factors"));
  }
  return st;
}

void ff_task_record_destroy(FfTaskRecord *r) {
  FF_FREE(r->step);
  FF_FREE(r->neuron);
  FF_FREE(r->logits);
  r->n_spikes = r->cap = 0;
}

/* The surrogate: dS/dx = alpha max(0, width - |x|) (a triangle; brainstate's ReluGrad). */
static inline double surrogate(const FfTaskSpec *s, double x) {
  const double m = s->sg_width - fabs(x);
  return m > 0.0 ? s->sg_alpha * m : 0.0;
}

/* Its integral, the smooth pseudo-spike of FfTaskSpec.smooth: 0 below -width, alpha width^2 above width. */
static inline double surrogate_integral(const FfTaskSpec *s, double x) {
  const double a = s->sg_alpha, wd = s->sg_width;
  if (x <= -wd) return 0.0;
  if (x <= 0.0) return 0.5 * a * (x + wd) * (x + wd);
  if (x < wd) return a * wd * wd - 0.5 * a * (wd - x) * (wd - x);
  return a * wd * wd;
}

/* The model's per-step factors. */
typedef struct {
  double al, be, ka, lam; /* decays of v, g, readout, ES traces (the adaptation's is each neuron's: rho_a) */
} Decays;

static Decays decays(const FfTaskSpec *s) {
  return (Decays){exp(-s->dt_ms / s->tau_m_ms), exp(-s->dt_ms / s->tau_syn_ms),
                  exp(-s->dt_ms / s->tau_out_ms), s->etrace_decay};
}

static void reset_state(FfTaskWork *w) {
  const size_t n = (size_t)w->n * sizeof(double);
  memset(w->v, 0, n);
  memset(w->ge, 0, n);
  memset(w->gi, 0, n);
  memset(w->a, 0, n);
  memset(w->s, 0, n);
  memset(w->psi, 0, n);
  memset(w->r, 0, (size_t)w->n_exc * sizeof(double));
}

/* One step t: the conductance increments from the inputs of step t and the spikes of step t - 1 (w->pre, set by the
 * caller), then the update of every neuron held (net's rows); w->s becomes their step t's spikes (new_spikes adds the
 * other ranks' and then the readout's trace). */
static void step(const FfTaskSpec *s, const FfTaskNet *net, const Decays *k, FfTaskWork *w) {
  const int32_t np = net->n_pre, i0 = net->row0, i1 = net->row0 + net->rows;
  memset(w->ce, 0, (size_t)w->n * sizeof(double));
  memset(w->ci, 0, (size_t)w->n * sizeof(double));
  for (int32_t c = 0; c < np; ++c) {
    const double p = w->pre[c];
    if (p == 0.0) continue;
    double *to = ff_task_col_exc(net, c) ? w->ce : w->ci;
    const double *col = net->w + c - (int64_t)i0 * np;
    for (int32_t i = i0; i < i1; ++i) to[i] += col[(int64_t)i * np] * p;
  }
  for (int32_t i = i0; i < i1; ++i) {
    /* the reset and adaptation: by the last step's spike (its surrogate's gradient flows through them when
     * reset_grad; a constant otherwise); the smooth pseudo-network has them only with reset_grad */
    const double s_old = s->smooth && !s->reset_grad ? 0.0 : w->s[i];
    w->psi_old[i] = s->reset_grad ? w->psi[i] : 0.0;
    w->ge[i] = k->be * w->ge[i] + w->ce[i];
    w->gi[i] = k->be * w->gi[i] + w->ci[i];
    w->a[i] = net->rho_a[i] * (w->a[i] - s->beta_a * s_old); /* the adaptation current, <= 0 */
    const double vh = w->v[i] - s_old;
    w->v[i] = k->al * vh + (1.0 - k->al) * (w->ge[i] * (s->e_exc - vh) + w->gi[i] * (s->e_inh - vh) + w->a[i]);
    const double x = w->v[i] - 1.0;
    w->vh[i] = vh;
    w->gsum[i] = w->ge[i] + w->gi[i];
    w->psi[i] = surrogate(s, x);
    w->s[i] = s->smooth ? surrogate_integral(s, x) : x > 0.0 ? 1.0 : 0.0;
  }
}

/* After step: the spikes of the neurons other ranks hold (a split network: the simulation's exchange, one window per
 * step; a failed rank stops every rank here), then the readout's low-passed trace of every excitatory neuron. */
static int new_spikes(const FfTaskNet *net, const Decays *k, FfTaskWork *w) {
  if (net->split) {
    const int32_t i0 = net->row0, i1 = net->row0 + net->rows;
    int64_t n_out = 0;
    for (int32_t i = i0; i < i1; ++i) n_out += w->s[i] > 0.5;
    uint64_t *buf = NULL;
    const uint64_t *got = NULL;
    int64_t n_got = 0;
    FfExchangeStats xs = {0};
    int st = ff_exchange_send_buffer(net->split->x, n_out, &buf);
    for (int32_t i = i0, q = 0; st == FF_OK && i < i1; ++i)
      if (w->s[i] > 0.5) buf[q++] = ff_spike_pack(i, 0, 0);
    FF_TRY(ff_exchange_run(net->split->x, st == FF_OK ? n_out : 0, st, &got, &n_got, &xs));
    for (int32_t j = 0; j < i0; ++j) w->s[j] = 0.0;
    for (int32_t j = i1; j < w->n; ++j) w->s[j] = 0.0;
    for (int64_t q = 0; q < n_got; ++q) w->s[ff_spike_gid(got[q])] = 1.0;
  }
  for (int32_t j = 0; j < w->n_exc; ++j) w->r[j] = k->ka * w->r[j] + w->s[j];
  return FF_OK;
}

/* The readout at a recall step: its cross-entropy (added to *loss, mean over the recall steps), the logits (added to
 * sum_y), and dL/dy into dy[2]. */
static void readout(const FfTaskNet *net, const FfTaskWork *w, int label, int32_t R, double *y, double *dy,
                    double *loss) {
  for (int k = 0; k < FF_TASK_N_OUT; ++k) {
    double acc = net->b_out[k];
    const double *wo = net->w_out + (int64_t)k * net->n_exc;
    for (int32_t j = 0; j < net->n_exc; ++j) acc += wo[j] * w->r[j];
    y[k] = acc;
  }
  const double m = y[0] > y[1] ? y[0] : y[1];
  const double e0 = exp(y[0] - m), e1 = exp(y[1] - m), z = e0 + e1;
  *loss += (m + log(z) - y[label]) / R;
  dy[0] = (e0 / z - (label == 0)) / R;
  dy[1] = (e1 / z - (label == 1)) / R;
}

/* The presynaptic spikes of step t: its inputs, then the last step's spikes. */
static void set_pre(const FfTaskTrial *tr, int32_t t, FfTaskWork *w) {
  memset(w->pre, 0, FF_TASK_N_IN * sizeof(double));
  for (int32_t q = tr->ptr[t]; q < tr->ptr[t + 1]; ++q) w->pre[tr->in[q]] = 1.0;
  memcpy(w->pre + FF_TASK_N_IN, w->s, (size_t)w->n * sizeof(double));
}

/* D-RTRL after step t: x̄ <- be x̄ + pre; for each excitatory neuron i and column c the exact traces of the neuron's
 * own dynamics, with q = psi_i(t - 1) the reset's and adaptation's dS/dv (0 without reset_grad):
 *   ea = rho_i (ea - beta_a q e),  e = d_i (1 - q) e + (1 - al)(E_c - vh_i) x̄_c + (1 - al) ea,
 * and the readout-filtered ē = ka ē + psi_i e; at a recall step the gradient gets lsig_i ē. */
static void diag_step(const FfTaskNet *net, const FfTaskSpec *s, const Decays *k, FfTaskWork *w, int recall,
                      double *gw) {
  const int32_t np = net->n_pre, ne = net->n_exc, c_inh = FF_TASK_N_IN + ne, i0 = w->row0;
  for (int32_t c = 0; c < np; ++c) w->xbar[c] = k->be * w->xbar[c] + w->pre[c];
  for (int32_t i = i0; i < w->e1; ++i) {
    const double q = w->psi_old[i], rho = net->rho_a[i], psi = w->psi[i];
    const double dv = (k->al - (1.0 - k->al) * w->gsum[i]) * (1.0 - q), ca = -rho * s->beta_a * q, cv = 1.0 - k->al;
    const double fe = (1.0 - k->al) * (s->e_exc - w->vh[i]), fi = (1.0 - k->al) * (s->e_inh - w->vh[i]);
    const int64_t row = (int64_t)(i - i0) * np;
    double *e = w->e + row, *ea = w->ea + row, *eb = w->ebar + row;
    /* ea first (v(t) reads I_a(t)); ca = 0 when the last step was outside the surrogate's support */
    for (int32_t c = 0; c < np; ++c) ea[c] = rho * ea[c] + ca * e[c];
    for (int32_t c = 0; c < c_inh; ++c) e[c] = dv * e[c] + fe * w->xbar[c] + cv * ea[c];
    for (int32_t c = c_inh; c < np; ++c) e[c] = dv * e[c] + fi * w->xbar[c] + cv * ea[c];
    for (int32_t c = 0; c < np; ++c) eb[c] = k->ka * eb[c] + psi * e[c];
    if (recall) {
      const double L = w->lsig[i];
      double *g = gw + row;
      for (int32_t c = 0; c < np; ++c) g[c] += L * eb[c];
    }
  }
}

/* ES-D-RTRL after step t: x̂ <- lam x̂ + pre; per excitatory neuron the factor eps = (eps_v, eps_a, eps_g) of each
 * pathway (into ge, into gi), eps <- lam D eps + (1 - lam) D_f, D the neuron's Jacobian over (v, I_a, g) from the
 * last step (q = psi_i(t - 1) as in D-RTRL) and D_f = ((1 - al)(E - vh), 0, 1); its readout-filtered eps̄; at a recall
 * step dW_ic += lsig_i eps̄_i x̂_c. */
static void expsm_step(const FfTaskNet *net, const FfTaskSpec *s, const Decays *k, FfTaskWork *w, int recall,
                       double *gw) {
  const int32_t np = net->n_pre, ne = net->n_exc, c_inh = FF_TASK_N_IN + ne;
  const double lam = k->lam, cv = 1.0 - k->al;
  for (int32_t c = 0; c < np; ++c) w->xhat[c] = lam * w->xhat[c] + w->pre[c];
  for (int32_t i = w->row0; i < w->e1; ++i) {
    const double q = w->psi_old[i], rho = net->rho_a[i], psi = w->psi[i];
    const double d = k->al - (1.0 - k->al) * w->gsum[i], ca = -rho * s->beta_a * q;
    const double fe = cv * (s->e_exc - w->vh[i]), fi = cv * (s->e_inh - w->vh[i]);
    const double eg = w->eps_g[i];
    /* the adaptation first: v(t) reads I_a(t) */
    const double ae = rho * w->eps_ae[i] + ca * w->eps_ve[i], ai = rho * w->eps_ai[i] + ca * w->eps_vi[i];
    w->eps_ve[i] = lam * (d * (1.0 - q) * w->eps_ve[i] + cv * ae + fe * k->be * eg) + (1.0 - lam) * fe;
    w->eps_vi[i] = lam * (d * (1.0 - q) * w->eps_vi[i] + cv * ai + fi * k->be * eg) + (1.0 - lam) * fi;
    w->eps_ae[i] = lam * ae;
    w->eps_ai[i] = lam * ai;
    w->eps_g[i] = lam * k->be * eg + (1.0 - lam);
    w->epsbar_e[i] = k->ka * w->epsbar_e[i] + psi * w->eps_ve[i];
    w->epsbar_i[i] = k->ka * w->epsbar_i[i] + psi * w->eps_vi[i];
    if (recall) {
      const double le = w->lsig[i] * w->epsbar_e[i], li = w->lsig[i] * w->epsbar_i[i];
      double *g = gw + (int64_t)(i - w->row0) * np;
      for (int32_t c = 0; c < c_inh; ++c) g[c] += le * w->xhat[c];
      for (int32_t c = c_inh; c < np; ++c) g[c] += li * w->xhat[c];
    }
  }
}

/* BPTT's backward pass over the tape: dL/dr, dL/ds, dL/dv, dL/dg from the last step to the first; dL/dc(t) = dL/dg(t)
 * gives the weights' gradient, dW_ic += dL/dg_i(t) pre_c(t). */
static void bptt_backward(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, const Decays *k,
                          FfTaskWork *w, double *gw) {
  const int32_t n = net->n, ne = net->n_exc, np = net->n_pre, T = tr->T;
  const size_t bytes = (size_t)n * sizeof(double);
  memset(w->dr, 0, bytes);
  memset(w->dv, 0, bytes);  /* dL/dv(t + 1) until step t's is made */
  memset(w->dge, 0, bytes); /* dL/dg(t + 1), = dL/dc(t + 1) */
  memset(w->dgi, 0, bytes);
  memset(w->da, 0, bytes); /* dL/dI_a(t + 1) */
  for (int32_t t = T - 1; t >= 0; --t) {
    const double *vh = w->t_vh + (int64_t)t * n, *psi = w->t_psi + (int64_t)t * n;
    const double *gsum_next = t + 1 < T ? w->t_gsum + (int64_t)(t + 1) * n : NULL;
    /* dL/ds(t): the readout, then the recurrent connections into step t + 1 */
    memset(w->ds, 0, bytes);
    if (t >= tr->recall0) {
      const double *dy = w->t_dy + (int64_t)t * FF_TASK_N_OUT;
      for (int32_t j = 0; j < ne; ++j) {
        double L = 0.0;
        for (int q = 0; q < FF_TASK_N_OUT; ++q) L += net->w_out[(int64_t)q * ne + j] * dy[q];
        w->dr[j] = k->ka * w->dr[j] + L;
      }
    } else {
      for (int32_t j = 0; j < ne; ++j) w->dr[j] *= k->ka;
    }
    for (int32_t j = 0; j < ne; ++j) w->ds[j] = w->dr[j];
    for (int32_t i = 0; i < n; ++i) {
      const double de = w->dge[i], di = w->dgi[i];
      if (de == 0.0 && di == 0.0) continue;
      const double *row = net->w + (int64_t)i * np + FF_TASK_N_IN;
      for (int32_t j = 0; j < ne; ++j) w->ds[j] += row[j] * de;
      for (int32_t j = ne; j < n; ++j) w->ds[j] += row[j] * di;
    }
    /* dL/dv(t), dL/dI_a(t), dL/dg(t); with reset_grad, s(t) also resets v and drives I_a into step t + 1:
     * dL/ds(t) gets -dL/dv̂(t + 1) - rho beta_a dL/dI_a(t + 1) */
    for (int32_t i = 0; i < n; ++i) {
      const double from_next = gsum_next ? w->dv[i] * (k->al - (1.0 - k->al) * gsum_next[i]) : 0.0;
      const double ds = s->reset_grad ? w->ds[i] - from_next - net->rho_a[i] * s->beta_a * w->da[i] : w->ds[i];
      const double dv = ds * psi[i] + from_next;
      w->dv[i] = dv;
      w->da[i] = (1.0 - k->al) * dv + net->rho_a[i] * w->da[i];
      w->dge[i] = dv * (1.0 - k->al) * (s->e_exc - vh[i]) + k->be * w->dge[i];
      w->dgi[i] = dv * (1.0 - k->al) * (s->e_inh - vh[i]) + k->be * w->dgi[i];
    }
    /* the weights into step t: its inputs, and the spikes of step t - 1 */
    for (int32_t q = tr->ptr[t]; q < tr->ptr[t + 1]; ++q) {
      const int32_t c = tr->in[q];
      for (int32_t i = 0; i < n; ++i) gw[(int64_t)i * np + c] += w->dge[i];
    }
    if (t == 0) continue;
    const double *s_prev = w->t_s + (int64_t)(t - 1) * n;
    for (int32_t j = 0; j < n; ++j) {
      const double p = s_prev[j];
      if (p == 0.0) continue;
      const double *dg = j < ne ? w->dge : w->dgi;
      double *g = gw + FF_TASK_N_IN + j;
      for (int32_t i = 0; i < n; ++i) g[(int64_t)i * np] += dg[i] * p;
    }
  }
}

/* The trial forward, with method's gradient (method < 0: none) into grad and the raster into rec. */
static int run(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, int method, FfTaskWork *w,
               double *grad, FfTaskScore *sc, FfTaskRecord *rec) {
  if (w->n != net->n || w->n_pre != net->n_pre || w->T != tr->T || w->row0 != net->row0 || w->rows != net->rows)
    return FF_ERROR(FF_ERR_INTERNAL, "task work made for %d neurons and %d steps, used for %d and %d", w->n, w->T,
                    net->n, tr->T);
  if (net->split && (s->smooth || method == FF_TASK_BPTT))
    return FF_ERROR(FF_ERR_INPUT, "[task] split = neurons runs the online methods (diag, expsm_diag) on spiking "
                                  "networks: %s needs the whole network on each rank; use split = trials",
                    s->smooth ? "the smooth pseudo-network" : "bptt");
  if (method >= 0) FF_TRY(work_method(w, method));
  if (rec) {
    rec->n_spikes = 0;
    FF_TRY(FF_REALLOC(rec->logits, (int64_t)tr->T * FF_TASK_N_OUT, "task readout record"));
  }
  const Decays k = decays(s);
  const int32_t n = net->n, ne = net->n_exc, np = net->n_pre, T = tr->T, R = T - tr->recall0;
  double *gw = grad, *gout = grad ? grad + (int64_t)net->rows * np : NULL,
         *gb = gout ? gout + (int64_t)FF_TASK_N_OUT * ne : NULL;
  if (grad) memset(grad, 0, (size_t)net->n_param * sizeof *grad);
  reset_state(w);
  if (method == FF_TASK_DIAG) {
    memset(w->xbar, 0, (size_t)np * sizeof(double));
    const size_t te = (size_t)(w->e1 - w->row0) * (size_t)np * sizeof(double);
    memset(w->e, 0, te);
    memset(w->ea, 0, te);
    memset(w->ebar, 0, te);
  } else if (method == FF_TASK_EXPSM_DIAG) {
    memset(w->xhat, 0, (size_t)np * sizeof(double));
    double *f[] = {w->eps_ve, w->eps_vi, w->eps_ae, w->eps_ai, w->eps_g, w->epsbar_e, w->epsbar_i};
    for (int q = 0; q < 7; ++q) memset(f[q], 0, (size_t)ne * sizeof(double));
  }
  double loss = 0.0, ysum[FF_TASK_N_OUT] = {0.0, 0.0};
  int64_t spikes = 0;
  for (int32_t t = 0; t < T; ++t) {
    set_pre(tr, t, w);
    step(s, net, &k, w);
    FF_TRY(new_spikes(net, &k, w));
    const int recall = t >= tr->recall0;
    double y[FF_TASK_N_OUT] = {0.0, 0.0}, dy[FF_TASK_N_OUT] = {0.0, 0.0};
    if (recall || rec) {
      double l = 0.0;
      readout(net, w, tr->label, R, y, dy, &l);
      if (recall) {
        loss += l;
        ysum[0] += y[0];
        ysum[1] += y[1];
      } else {
        dy[0] = dy[1] = 0.0;
      }
    }
    for (int32_t i = 0; i < n; ++i) spikes += w->s[i] > 0.5;
    if (rec) {
      rec->logits[(int64_t)t * FF_TASK_N_OUT] = y[0];
      rec->logits[(int64_t)t * FF_TASK_N_OUT + 1] = y[1];
      for (int32_t i = 0; i < n; ++i) {
        if (!(w->s[i] > 0.5)) continue;
        if (rec->n_spikes == rec->cap) {
          const int64_t cap = rec->cap ? 2 * rec->cap : 4096;
          FF_TRY(FF_REALLOC(rec->step, cap, "task raster"));
          FF_TRY(FF_REALLOC(rec->neuron, cap, "task raster"));
          rec->cap = cap;
        }
        rec->step[rec->n_spikes] = t;
        rec->neuron[rec->n_spikes++] = i;
      }
    }
    if (grad == NULL || method < 0) continue;
    if (recall) { /* the readout's own gradient, and the learning signal dL/dr of this step */
      for (int q = 0; q < FF_TASK_N_OUT; ++q) {
        gb[q] += dy[q];
        double *g = gout + (int64_t)q * ne;
        for (int32_t j = 0; j < ne; ++j) g[j] += dy[q] * w->r[j];
      }
      for (int32_t j = 0; j < ne; ++j) {
        double L = 0.0;
        for (int q = 0; q < FF_TASK_N_OUT; ++q) L += net->w_out[(int64_t)q * ne + j] * dy[q];
        w->lsig[j] = L;
      }
    }
    if (method == FF_TASK_BPTT) {
      const int64_t o = (int64_t)t * n;
      memcpy(w->t_vh + o, w->vh, (size_t)n * sizeof(double));
      memcpy(w->t_gsum + o, w->gsum, (size_t)n * sizeof(double));
      memcpy(w->t_psi + o, w->psi, (size_t)n * sizeof(double));
      memcpy(w->t_s + o, w->s, (size_t)n * sizeof(double));
      w->t_dy[(int64_t)t * FF_TASK_N_OUT] = dy[0];
      w->t_dy[(int64_t)t * FF_TASK_N_OUT + 1] = dy[1];
    } else if (method == FF_TASK_DIAG) {
      diag_step(net, s, &k, w, recall, gw);
    } else {
      expsm_step(net, s, &k, w, recall, gw);
    }
  }
  if (grad && method == FF_TASK_BPTT) bptt_backward(s, net, tr, &k, w, gw);
  if (grad) /* connections that do not exist have no gradient: they stay 0 */
    for (int64_t q = 0; q < (int64_t)net->rows * np; ++q)
      if (!net->mask[q]) gw[q] = 0.0;
  sc->loss = loss;
  sc->correct = (ysum[1] > ysum[0] ? 1 : 0) == tr->label;
  sc->spikes = spikes;
  return FF_OK;
}

int ff_task_trial_run(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, FfTaskWork *w, FfTaskScore *sc,
                      FfTaskRecord *rec) {
  return run(s, net, tr, -1, w, NULL, sc, rec);
}

int ff_task_trial_grad(const FfTaskSpec *s, const FfTaskNet *net, const FfTaskTrial *tr, int method, FfTaskWork *w,
                       double *grad, FfTaskScore *sc) {
  if (method < FF_TASK_BPTT || method > FF_TASK_EXPSM_DIAG)
    return FF_ERROR(FF_ERR_INTERNAL, "task gradient method %d does not exist", method);
  return run(s, net, tr, method, w, grad, sc, NULL);
}
