/* Builds the discrete model of include/flyfit/model.h from the configuration: step counts,
 * weights, and the closed-form propagator tables, computed once here in double. */
#include "flyfit/model.h"
#include "flyfit/error.h"
#include "flyfit/rng.h"

#include <stdlib.h>
#include <string.h>

/* Brian2's timestep(): the shift keeps exact multiples of dt in their own step. */
static int32_t steps_floor(double t, double dt) { return (int32_t)floor((t + 1e-3 * dt) / dt); }

int ff_model_build(const FfConfig *cfg, FfModel *m) {
  memset(m, 0, sizeof *m);
  const double h = cfg->dt_ms, tm = cfg->tau_m_ms, ts = cfg->tau_syn_ms;
  m->dt_ms = h;
  m->delay_steps = (int32_t)nearbyint(cfg->delay_ms / h);
  m->ref_steps = steps_floor(cfg->tau_ref_ms, h);
  m->ref_steps_driven = cfg->driven_refractory ? m->ref_steps : 0;
  m->step_order = cfg->step_order;
  m->v_rest = cfg->v_rest_mV;
  m->u_th = cfg->v_th_mV - cfg->v_rest_mV;
  m->u_reset = cfg->v_reset_mV - cfg->v_rest_mV;
  m->w_syn = cfg->w_syn_mV;
  m->w_ext = cfg->poisson_weight_mV;
  m->w_background = cfg->background_weight_mV;
  m->p_ext_u32 = ff_bernoulli_threshold(cfg->poisson_rate_hz * h * 1e-3);
  m->p_background_u32 = cfg->background_weight_mV != 0.0 ? ff_bernoulli_threshold(cfg->background_rate_hz * h * 1e-3) : 0;
  m->v_init_sd = cfg->v_init_sd_mV;
  m->g_init_max = cfg->g_init_max_mV;

  const double em = exp(-h / tm), es = exp(-h / ts);
  m->em1 = em;
  m->one_minus_em = -expm1(-h / tm);
  m->es1 = es;
  m->log_em = -h / tm;
  m->log_es = -h / ts;
  m->degenerate = fabs(tm - ts) <= 1e-9 * tm;
  /* One-step coefficient c1 of g in u, in a form without cancellation near tau_m = tau_syn:
   * exact (shiu):   c1 = ts/(ts-tm) (Es - Em) = ts/(ts-tm) Em expm1(h (ts-tm)/(ts tm))
   * held g (brainscale): u_1 = Em u + (1 - Em) g_1 with g_1 = Es g, so c1 = (1 - Em) Es. */
  double c1;
  if (cfg->step_order == FF_ORDER_SHIU) {
    c1 = m->degenerate ? em * h / tm : ts / (ts - tm) * em * expm1(h * (ts - tm) / (ts * tm));
    m->gamma = m->degenerate ? 0.0 : ts / (ts - tm);
    m->delta = h / tm;
  } else {
    c1 = -expm1(-h / tm) * es;
    m->gamma = m->degenerate ? 0.0 : -(-expm1(-h / tm)) * es / (em - es);
    m->delta = -expm1(-h / tm);
  }
  /* Table length: until both exponentials fall below 1e-20 (and C with them). */
  const double slow = tm > ts ? tm : ts;
  const double kmax_d = ceil(slow / h * log(1e20)) + 2;
  if (kmax_d > 5e7)
    return FF_ERROR(FF_ERR_INPUT, "tau_m_ms / dt_ms and tau_syn_ms / dt_ms must be below 1e6 (propagator table of %.3g entries)", kmax_d);
  m->kmax = (int32_t)kmax_d;
  FfProp *tab;
  FF_TRY(FF_MALLOC(tab, (size_t)m->kmax + 1, "propagator table"));
  tab[0] = (FfProp){1.0, 1.0, 0.0};
  /* Powers by repeated multiplication with the one-step factors, and C by its recursion
   * C_j = Em C_{j-1} + c1 Es^{j-1}; both orders share it because u_j obeys
   * u_j = Em u_{j-1} + c1 g_{j-1} for shiu and u_j = Em u_{j-1} + (1-Em) Es g_{j-1} for brainscale. */
  m->c_max = 0.0;
  for (int32_t j = 1; j <= m->kmax; ++j) {
    tab[j].em = tab[j - 1].em * em;
    tab[j].es = tab[j - 1].es * es;
    tab[j].c = em * tab[j - 1].c + c1 * tab[j - 1].es;
    if (tab[j].c > m->c_max) m->c_max = tab[j].c;
    if (!(tab[j].c >= 0.0)) {
      free(tab);
      return FF_ERROR(FF_ERR_INTERNAL, "propagator coefficient C_%d = %g is negative", j, tab[j].c);
    }
  }
  m->tab = tab;
  return FF_OK;
}

void ff_model_destroy(FfModel *m) {
  if (m == NULL) return;
  free((void *)m->tab);
  m->tab = NULL;
}
