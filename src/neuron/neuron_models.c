/* The single-neuron model table and the sweep driver (include/flyfit/neuron_models.h, docs/design.md
 * §2.9.2): names, units and planted defaults of each model's parameters, its initial state, and one
 * loop that steps a sweep, records v, spikes and dv/dp, and stops with a message at the first state
 * that is not finite. */
#include "flyfit/neuron_models.h"
#include "flyfit/error.h"

#include <string.h>

/* HH: the Brian2 model-fitting example's constants (area 20,000 µm², 1 µF/cm² -> 0.2 nF) and issue 19's
 * planted conductances and threshold */
static const char *const hh_names[FF_HH_NPARAM] = {"gL", "gNa", "gK", "VT", "ENa", "EK", "EL", "C"};
static const char *const hh_units[FF_HH_NPARAM] = {"uS", "uS", "uS", "mV", "mV", "mV", "mV", "nF"};
static const double hh_defaults[FF_HH_NPARAM] = {0.008364, 24.698, 5.815, -55.31, 50.0, -90.0, -65.0, 0.2};

static void hh_init(const double *p, double *x, double *s) {
  x[FF_HH_V] = p[FF_HH_EL];
  x[FF_HH_M] = x[FF_HH_H] = x[FF_HH_N] = 0.0;
  if (s) memset(s, 0, sizeof(double) * FF_HH_NSTATE * FF_HH_NSENS);
}

/* GIF: BrainPy's defaults, with a = 0.005 /ms (issue 19's planted value; BrainPy's is 0) */
static const char *const gif_names[FF_GIF_NPARAM] = {"V_rest", "V_reset", "V_th_inf", "V_th_reset", "R", "tau", "a",
                                                     "b", "k1", "k2", "R1", "R2", "A1", "A2"};
static const char *const gif_units[FF_GIF_NPARAM] = {"mV", "mV", "mV", "mV", "MOhm", "ms", "1/ms",
                                                     "1/ms", "1/ms", "1/ms", "1", "1", "nA", "nA"};
static const double gif_defaults[FF_GIF_NPARAM] = {-70.0, -70.0, -50.0, -60.0, 20.0, 20.0, 0.005,
                                                   0.01, 0.2, 0.02, 0.0, 1.0, 0.0, 0.0};

static void gif_init(const double *p, double *x, double *s) {
  x[FF_GIF_V] = p[FF_GIF_V_REST];
  x[FF_GIF_TH] = p[FF_GIF_TH_INF];
  x[FF_GIF_I1] = x[FF_GIF_I2] = 0.0;
  if (s) {
    memset(s, 0, sizeof(double) * FF_GIF_NSTATE * FF_GIF_NSENS);
    s[FF_GIF_V * FF_GIF_NSENS + FF_GIF_V_REST] = 1.0;
    s[FF_GIF_TH * FF_GIF_NSENS + FF_GIF_TH_INF] = 1.0;
  }
}

/* Izhikevich: regular spiking */
static const char *const izh_names[FF_IZH_NPARAM] = {"a", "b", "c", "d", "v_peak"};
static const char *const izh_units[FF_IZH_NPARAM] = {"1/ms", "1", "mV", "1", "mV"};
static const double izh_defaults[FF_IZH_NPARAM] = {0.02, 0.2, -65.0, 8.0, 30.0};

static void izh_init(const double *p, double *x, double *s) {
  (void)s;
  x[FF_IZH_V] = p[FF_IZH_C];
  x[FF_IZH_U] = p[FF_IZH_B] * p[FF_IZH_C];
}
static int izh_step(const double *p, double dt, double i, double *x, double *s) {
  (void)s;
  return ff_izhikevich_step(p, dt, i, x);
}

/* AdEx: Brette & Gerstner 2005's values, V_peak = VT + 5 DeltaT as in Brian2's AdEx example */
static const char *const adex_names[FF_ADEX_NPARAM] = {"C", "gL", "EL", "VT", "DeltaT", "a", "tau_w", "b", "V_r",
                                                       "V_peak"};
static const char *const adex_units[FF_ADEX_NPARAM] = {"pF", "nS", "mV", "mV", "mV", "nS", "ms", "pA", "mV", "mV"};
static const double adex_defaults[FF_ADEX_NPARAM] = {281.0, 30.0, -70.6, -50.4, 2.0, 4.0, 144.0, 80.5, -70.6, -40.4};

static void adex_init(const double *p, double *x, double *s) {
  (void)s;
  x[FF_ADEX_V] = p[FF_ADEX_EL];
  x[FF_ADEX_W] = 0.0;
}
static int adex_step(const double *p, double dt, double i, double *x, double *s) {
  (void)s;
  return ff_adex_step(p, dt, i, x);
}

static const FfNeuronModel models[] = {
    {"hh", FF_HH_NPARAM, FF_HH_NSTATE, FF_HH_NSENS, hh_names, hh_units, hh_defaults, "nA", hh_init, ff_hh_step},
    {"gif", FF_GIF_NPARAM, FF_GIF_NSTATE, FF_GIF_NSENS, gif_names, gif_units, gif_defaults, "nA", gif_init,
     ff_gif_step},
    {"izhikevich", FF_IZH_NPARAM, FF_IZH_NSTATE, 0, izh_names, izh_units, izh_defaults, "1", izh_init, izh_step},
    {"adex", FF_ADEX_NPARAM, FF_ADEX_NSTATE, 0, adex_names, adex_units, adex_defaults, "pA", adex_init, adex_step},
};
enum { N_MODELS = sizeof models / sizeof models[0] };
FF_STATIC_ASSERT((int)FF_GIF_NPARAM <= (int)FF_NEURON_MAX_PARAM && (int)FF_ADEX_NPARAM <= (int)FF_NEURON_MAX_PARAM,
                 "a model has more parameters than FF_NEURON_MAX_PARAM");

const char *const ff_neuron_model_names[] = {"hh", "gif", "izhikevich", "adex", NULL};

const FfNeuronModel *ff_neuron_model(const char *name) {
  for (int k = 0; k < (int)N_MODELS; ++k)
    if (name && strcmp(models[k].name, name) == 0) return &models[k];
  return NULL;
}

int ff_neuron_param_index(const FfNeuronModel *m, const char *name, int *index) {
  for (int k = 0; k < m->n_param; ++k)
    if (strcmp(m->param_names[k], name) == 0) {
      *index = k;
      return FF_OK;
    }
  char list[256] = "";
  for (int k = 0; k < m->n_param; ++k) {
    strncat(list, k ? " " : "", sizeof list - strlen(list) - 1);
    strncat(list, m->param_names[k], sizeof list - strlen(list) - 1);
  }
  return FF_ERROR(FF_ERR_INPUT, "model %s has no parameter '%s' (its parameters: %s)", m->name, name, list);
}

/* the parameters a model divides by, or takes the exponential over */
static int must_be_positive(const FfNeuronModel *m, int k) {
  if (m->step == ff_hh_step) return k == FF_HH_C || k == FF_HH_GL;
  if (m->step == ff_gif_step) return k == FF_GIF_TAU;
  if (m->step == adex_step) return k == FF_ADEX_C || k == FF_ADEX_DT || k == FF_ADEX_TAU_W;
  return 0;
}

int ff_neuron_params_check(const FfNeuronModel *m, const double *p) {
  for (int k = 0; k < m->n_param; ++k) {
    if (!isfinite(p[k]))
      return FF_ERROR(FF_ERR_INPUT, "model %s: parameter %s = %g is not finite", m->name, m->param_names[k], p[k]);
    if (must_be_positive(m, k) && !(p[k] > 0))
      return FF_ERROR(FF_ERR_INPUT, "model %s: parameter %s = %g must be > 0", m->name, m->param_names[k], p[k]);
  }
  return FF_OK;
}

int ff_neuron_simulate(const FfNeuronModel *m, const double *p, double dt, const double *i, int64_t n,
                       const double *x0, double *v, uint8_t *spiked, double *dv_dp, double *x_end) {
  FF_TRY(ff_neuron_params_check(m, p));
  if (!(dt > 0 && isfinite(dt))) return FF_ERROR(FF_ERR_INPUT, "model %s: dt = %g ms must be > 0", m->name, dt);
  if (n < 0) return FF_ERROR(FF_ERR_INPUT, "model %s: negative step count %lld", m->name, (long long)n);
  for (int64_t k = 0; k < n; ++k)
    if (!isfinite(i[k]))
      return FF_ERROR(FF_ERR_INPUT, "model %s: the input current at step %lld is not finite", m->name, (long long)k);
  double x[FF_NEURON_MAX_STATE], s[FF_NEURON_MAX_STATE * FF_NEURON_MAX_PARAM];
  const int ns = dv_dp ? m->n_sens : 0; /* the sensitivities only when asked for */
  double *sp = ns ? s : NULL;
  m->init(p, x, sp);
  if (x0) {
    memcpy(x, x0, sizeof(double) * (size_t)m->n_state);
    if (sp) memset(s, 0, sizeof(double) * (size_t)(m->n_state * ns));
  }
  for (int64_t k = 0; k < n; ++k) {
    v[k] = x[0];
    if (dv_dp)
      for (int j = 0; j < m->n_sens; ++j) dv_dp[k * m->n_sens + j] = ns ? s[j] : 0.0;
    const int spike = m->step(p, dt, i[k], x, sp);
    if (spiked) spiked[k] = (uint8_t)spike;
    for (int q = 0; q < m->n_state; ++q)
      if (!isfinite(x[q]))
        return FF_ERROR(FF_ERR_INPUT,
                        "model %s: the state became non-finite at step %lld (t = %g ms): the parameters cannot be "
                        "integrated at dt = %g ms",
                        m->name, (long long)k, (double)(k + 1) * dt, dt);
  }
  if (x_end) memcpy(x_end, x, sizeof(double) * (size_t)m->n_state);
  return FF_OK;
}
