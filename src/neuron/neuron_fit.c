/* Single-neuron fitting (neuron_fit.h, docs/design.md §2.9.4): the fitted parameters and their bounds,
 * the voltage loss with its exact gradient, one bounded L-BFGS start through NLopt, and the start points. */
#include <math.h>
#include <nlopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/neuron_fit.h"
#include "flyfit/rng.h"

int ff_neuron_problem(const FfNeuronModel *m, const char *bounds, FfNeuronProblem *p) {
  memset(p, 0, sizeof *p);
  p->model = m;
  memcpy(p->fixed, m->defaults, sizeof(double) * (size_t)m->n_param);
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", bounds ? bounds : "");
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') ++tok;
    if (!*tok) continue;
    char *eq = strchr(tok, '=');
    if (eq == NULL)
      return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds: '%s' is not name=low:high (e.g. gL=0.004:0.016)", tok);
    *eq = '\0';
    for (char *e = eq - 1; e >= tok && (*e == ' ' || *e == '\t'); --e) *e = '\0';
    int k;
    if (ff_neuron_param_index(m, tok, &k) != FF_OK) {
      ff_error_prefix("[neuron] bounds: ");
      return FF_ERR_INPUT;
    }
    for (int q = 0; q < p->n_fit; ++q)
      if (p->index[q] == k) return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds: %s is given twice", tok);
    char *end, *colon;
    const double lo = strtod(eq + 1, &colon);
    if (colon == eq + 1 || *colon != ':')
      return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds: %s = '%s' is not low:high", tok, eq + 1);
    const double hi = strtod(colon + 1, &end);
    while (*end == ' ' || *end == '\t') ++end;
    if (end == colon + 1 || *end || !isfinite(lo) || !isfinite(hi))
      return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds: %s = '%s' is not low:high (two finite numbers)", tok, eq + 1);
    if (lo > hi)
      return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds: %s = %g:%g has low > high", tok, lo, hi);
    p->index[p->n_fit] = k;
    p->lo[p->n_fit] = lo;
    p->hi[p->n_fit] = hi;
    ++p->n_fit;
  }
  if (p->n_fit == 0) { /* the defaults: every parameter with sensitivities, around its default */
    if (m->n_sens == 0)
      return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds is empty and model %s has no default fitted parameters: name "
                                    "them, e.g. bounds = %s=%g:%g",
                      m->name, m->param_names[0], m->defaults[0] * 0.5, m->defaults[0] * 2.0);
    for (int k = 0; k < m->n_sens; ++k) {
      const double d = m->defaults[k];
      p->index[k] = k;
      p->lo[k] = d > 0 ? 0.5 * d : d < 0 ? d - 0.5 * fabs(d) : -1.0;
      p->hi[k] = d > 0 ? 2.0 * d : d < 0 ? d + 0.5 * fabs(d) : 1.0;
    }
    p->n_fit = m->n_sens;
  }
  return FF_OK;
}

int ff_neuron_voltage_loss(const FfNeuronProblem *p, const FfNeuronRecording *r, const double *x, double *loss,
                           double *grad, double *work) {
  const FfNeuronModel *m = p->model;
  double par[FF_NEURON_MAX_PARAM];
  memcpy(par, p->fixed, sizeof par);
  for (int q = 0; q < p->n_fit; ++q) par[p->index[q]] = x[q];
  const int ns = m->n_sens;
  const int64_t w = r->n_steps;
  double *v = work, *dv = grad ? work + r->n_steps : NULL;
  double sum = 0.0, g[FF_NEURON_MAX_PARAM] = {0};
  for (int64_t s = 0; s < r->n_sweeps; ++s) {
    FF_TRY(ff_neuron_simulate(m, par, r->dt_ms, r->current + s * r->n_steps, w, NULL, v, NULL, dv, NULL));
    const double *y = r->voltage + s * r->n_steps;
    double ss = 0.0, gs[FF_NEURON_MAX_PARAM] = {0}; /* per sweep, then added in sweep order */
    for (int64_t k = 0; k < w; ++k) {
      const double e = v[k] - y[k];
      ss += e * e;
      if (dv)
        for (int q = 0; q < p->n_fit; ++q) gs[q] += e * dv[k * ns + p->index[q]];
    }
    sum += ss;
    for (int q = 0; q < p->n_fit; ++q) g[q] += gs[q];
  }
  const double n = (double)(r->n_sweeps * w);
  *loss = sum / n;
  if (grad)
    for (int q = 0; q < p->n_fit; ++q) grad[q] = 2.0 * g[q] / n;
  return FF_OK;
}

/* NLopt's objective, in scaled coordinates z = (x - lo) / (hi - lo) */
typedef struct {
  const FfNeuronProblem *p;
  const FfNeuronRecording *r;
  double *work, *history;
  int64_t evals, max_evals;
  double best, best_x[FF_NEURON_MAX_PARAM];
} Objective;

static double objective(unsigned n, const double *z, double *gz, void *data) {
  Objective *o = data;
  const FfNeuronProblem *p = o->p;
  double x[FF_NEURON_MAX_PARAM], g[FF_NEURON_MAX_PARAM], loss;
  for (unsigned q = 0; q < n; ++q) x[q] = p->lo[q] + z[q] * (p->hi[q] - p->lo[q]);
  if (ff_neuron_voltage_loss(p, o->r, x, &loss, gz ? g : NULL, o->work) != FF_OK) {
    ff_error_clear(); /* parameters the model cannot integrate: a loss worse than any */
    loss = 1e30;
    for (unsigned q = 0; gz && q < n; ++q) g[q] = 0.0;
  }
  for (unsigned q = 0; gz && q < n; ++q) gz[q] = g[q] * (p->hi[q] - p->lo[q]);
  if (o->history && o->evals < o->max_evals) o->history[o->evals] = loss;
  ++o->evals;
  if (loss < o->best) {
    o->best = loss;
    memcpy(o->best_x, x, sizeof(double) * n);
  }
  return loss;
}

/* One L-BFGS run from z (scaled coordinates) on the problem of o, at most max_evals evaluations. */
static void lbfgs_stage(Objective *o, unsigned n, double *z, int64_t max_evals) {
  nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, n);
  if (opt == NULL) return;
  double lb[FF_NEURON_MAX_PARAM], ub[FF_NEURON_MAX_PARAM], f = 0;
  for (unsigned q = 0; q < n; ++q) lb[q] = 0.0, ub[q] = 1.0;
  nlopt_set_lower_bounds(opt, lb);
  nlopt_set_upper_bounds(opt, ub);
  nlopt_set_min_objective(opt, objective, o);
  nlopt_set_maxeval(opt, (int)(max_evals < 1 ? 1 : max_evals > 1000000000 ? 1000000000 : max_evals));
  nlopt_set_ftol_rel(opt, 1e-12);
  nlopt_set_xtol_rel(opt, 1e-10);
  (void)nlopt_optimize(opt, z, &f); /* any ending: the best point evaluated counts */
  nlopt_destroy(opt);
}

int ff_neuron_lbfgs(const FfNeuronProblem *p, const FfNeuronRecording *r, const double *x0, int64_t max_evals,
                    double *x, double *loss, int64_t *evals, double *history) {
  const FfNeuronModel *m = p->model;
  for (int q = 0; q < p->n_fit; ++q)
    if (p->index[q] >= m->n_sens)
      return FF_ERROR(FF_ERR_INPUT, "[neuron] optimizer = lbfgs needs the gradient by %s, but model %s has "
                                    "sensitivities by %s only; fit it with optimizer = de, or leave it out of bounds",
                      m->param_names[p->index[q]], m->name, m->n_sens ? m->param_names[0] : "no parameter");
  const unsigned n = (unsigned)p->n_fit;
  Objective o = {p, r, NULL, history, 0, max_evals, INFINITY, {0}};
  FF_TRY(FF_MALLOC(o.work, r->n_steps * (1 + m->n_sens), "loss work space"));
  double z[FF_NEURON_MAX_PARAM];
  for (unsigned q = 0; q < n; ++q) {
    const double w = p->hi[q] - p->lo[q];
    z[q] = w > 0 ? (x0[q] - p->lo[q]) / w : 0.0;
    z[q] = z[q] < 0 ? 0 : z[q] > 1 ? 1 : z[q];
  }
  lbfgs_stage(&o, n, z, max_evals);
  free(o.work);
  if (!isfinite(o.best)) return FF_ERROR(FF_ERR_INTERNAL, "NLopt's L-BFGS stopped before any evaluation");
  memcpy(x, o.best_x, sizeof(double) * n); /* the best point evaluated (what NLopt returns, or better) */
  *loss = o.best;
  *evals = o.evals;
  return FF_OK;
}

int ff_neuron_fit_start(const FfNeuronProblem *p, const FfNeuronRecording *r, uint64_t seed, int64_t s,
                        int64_t max_evals, double *x0, double *x, double *loss, int64_t *evals, double *history) {
  const int64_t screen = max_evals / 4 > 1 ? max_evals / 4 : 1;
  double *work, c[FF_NEURON_MAX_PARAM], best = INFINITY;
  FF_TRY(FF_MALLOC(work, r->n_steps, "loss work space"));
  int st = FF_OK;
  for (int64_t k = 0; st == FF_OK && k < screen; ++k) {
    double l;
    ff_neuron_start_point(p, seed, s, k, c);
    if (ff_neuron_voltage_loss(p, r, c, &l, NULL, work) != FF_OK) {
      ff_error_clear();
      l = 1e30;
    }
    if (history) history[k] = l;
    if (l < best || k == 0) {
      best = l;
      memcpy(x0, c, sizeof(double) * (size_t)p->n_fit);
    }
  }
  free(work);
  FF_TRY(ff_neuron_lbfgs(p, r, x0, max_evals - screen, x, loss, evals, history ? history + screen : NULL));
  if (best < *loss) { /* L-BFGS never ends above its start; kept for the rule's sake */
    memcpy(x, x0, sizeof(double) * (size_t)p->n_fit);
    *loss = best;
  }
  *evals += screen;
  return FF_OK;
}

void ff_neuron_start_point(const FfNeuronProblem *p, uint64_t seed, int64_t s, int64_t k, double *x0) {
  for (int q = 0; q < p->n_fit; q += 4) {
    uint32_t w[4];
    ff_rng4(seed, FF_STREAM_NEURON_START, (uint32_t)s, (uint32_t)k, (uint32_t)(q / 4), w);
    for (int j = 0; j < 4 && q + j < p->n_fit; ++j)
      x0[q + j] = p->lo[q + j] + ff_u01(w[j]) * (p->hi[q + j] - p->lo[q + j]);
  }
}
