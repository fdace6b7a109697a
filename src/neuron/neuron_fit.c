/* Single-neuron fitting (neuron_fit.h, docs/design.md §2.9.4): the fitted parameters and their bounds,
 * the voltage loss with its exact gradient, one bounded L-BFGS start through NLopt, and the start points. */
#include <math.h>
#include <mpi.h>
#include <lapacke.h>
#include <nlopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/neuron_fit.h"
#include "flyfit/rng.h"
#include "flyfit/spike_dist.h"

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

/* ---- spike-train losses and differential evolution ------------------------------------------------------ */
int ff_neuron_spike_loss(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x,
                         double *loss, double *work) {
  const FfNeuronModel *m = p->model;
  if (r->spike_indptr == NULL)
    return FF_ERROR(FF_ERR_INPUT, "a spike-train loss needs the recording's spike times (/sweeps/spike_times)");
  double par[FF_NEURON_MAX_PARAM];
  memcpy(par, p->fixed, sizeof par);
  for (int q = 0; q < p->n_fit; ++q) par[p->index[q]] = x[q];
  const int64_t n = r->n_steps;
  double *v = work, *t = work; /* the spike times overwrite v, which is not needed */
  uint8_t *spiked = (uint8_t *)(work + n);
  const double T = (double)n * r->dt_ms;
  double sum = 0.0;
  for (int64_t s = 0; s < r->n_sweeps; ++s) {
    FF_TRY(ff_neuron_simulate(m, par, r->dt_ms, r->current + s * n, n, NULL, v, spiked, NULL, NULL));
    int64_t ns = 0;
    for (int64_t k = 0; k < n; ++k)
      if (spiked[k]) t[ns++] = (double)(k + 1) * r->dt_ms;
    const double *d = r->spike_times + r->spike_indptr[s];
    const int64_t nd = r->spike_indptr[s + 1] - r->spike_indptr[s];
    double l = 0.0;
    if (kind == FF_NEURON_LOSS_SPIKE) FF_TRY(ff_spike_distance(d, nd, t, ns, 0.0, T, &l));
    else if (kind == FF_NEURON_LOSS_ISI) FF_TRY(ff_isi_distance(d, nd, t, ns, 0.0, T, &l));
    else if (kind == FF_NEURON_LOSS_VANROSSUM) FF_TRY(ff_van_rossum(d, nd, t, ns, FF_NEURON_VR_TAU_MS, &l));
    else {
      double g;
      if (2.0 * (double)ns / T * FF_NEURON_GAMMA_DELTA_MS >= 1.0) l = 2.0; /* Γ undefined: far too many spikes */
      else {
        FF_TRY(ff_gamma_factor(d, nd, t, ns, 0.0, T, FF_NEURON_GAMMA_DELTA_MS, &g, NULL));
        l = 1.0 - g;
      }
    }
    sum += l;
  }
  *loss = sum / (double)r->n_sweeps;
  return FF_OK;
}

double ff_neuron_loss(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x, double *work) {
  double l;
  const int st = kind == FF_NEURON_LOSS_VOLTAGE ? ff_neuron_voltage_loss(p, r, x, &l, NULL, work)
                                                : ff_neuron_spike_loss(p, r, kind, x, &l, work);
  if (st != FF_OK) {
    ff_error_clear();
    l = 1e30;
  }
  return l;
}

/* one uniform (0, 1) of generation g, member i, word w */
static double de_u(uint64_t seed, int64_t g, int64_t i, uint32_t what, int w) {
  uint32_t o[4];
  ff_rng4(seed, FF_STREAM_NEURON_DE, (uint32_t)g, (uint32_t)i, what, o);
  return ff_u01(o[w]);
}

/* Collective. The initial population of DE and the GA: member i is start point i (x0 and pop), its loss computed by
 * rank i mod size and shared (one owner each: the sum is exact), into loss and generation 0 of history. tl [np] and
 * work [2 steps] are scratch. */
static int initial_population(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, uint64_t seed,
                              int64_t np, int64_t generations, MPI_Comm comm, double *x0, double *pop, double *loss,
                              double *history, double *tl, double *work) {
  const int n = p->n_fit;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  for (int64_t i = 0; i < np; ++i) {
    ff_neuron_start_point(p, seed, i, 0, pop + i * n);
    memcpy(x0 + i * n, pop + i * n, sizeof(double) * (size_t)n);
    tl[i] = i % size == rank ? ff_neuron_loss(p, r, kind, pop + i * n, work) : 0.0;
  }
  FF_TRY(FF_MPI(MPI_Allreduce(tl, loss, (int)np, MPI_DOUBLE, MPI_SUM, comm)));
  for (int64_t i = 0; i < np; ++i) history[i * (generations + 1)] = loss[i];
  return FF_OK;
}

int ff_neuron_de(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, uint64_t seed, int64_t np,
                 int64_t generations, MPI_Comm comm, double *x0, double *pop, double *loss, double *history) {
  const int n = p->n_fit;
  const double F = 0.7, CR = 0.9;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (np < 4) return FF_ERROR(FF_ERR_INPUT, "[neuron] starts = %lld: optimizer = de needs a population of 4 or more", (long long)np);
  double *work = NULL, *trial = NULL, *tl = NULL;
  int st = FF_MALLOC(work, r->n_steps * 2, "loss work space");
  FF_CALL(st, FF_MALLOC(trial, np * n, "trial vectors"));
  FF_CALL(st, FF_MALLOC(tl, np, "trial losses"));
  FF_CALL(st, initial_population(p, r, kind, seed, np, generations, comm, x0, pop, loss, history, tl, work));
  for (int64_t g = 1; st == FF_OK && g <= generations; ++g) {
    for (int64_t i = 0; i < np; ++i) {
      int64_t d[3];
      for (int k = 0, a = 0; k < 3; ++a) { /* three donors, distinct and not i */
        const int64_t c = (int64_t)(de_u(seed, g, i, 0x100u + (uint32_t)a, 0) * (double)np);
        int dup = c == i || c >= np;
        for (int q = 0; q < k; ++q) dup |= d[q] == c;
        if (!dup) d[k++] = c;
      }
      const int jr = (int)(de_u(seed, g, i, 0, 0) * n);
      for (int q = 0; q < n; ++q) {
        const double w = p->hi[q] - p->lo[q];
        double z = w > 0 ? (pop[i * n + q] - p->lo[q]) / w : 0.0;
        if (q == jr || de_u(seed, g, i, 1u + (uint32_t)(q / 4), q % 4) < CR) {
          const double z1 = w > 0 ? (pop[d[0] * n + q] - p->lo[q]) / w : 0.0,
                       z2 = w > 0 ? (pop[d[1] * n + q] - p->lo[q]) / w : 0.0,
                       z3 = w > 0 ? (pop[d[2] * n + q] - p->lo[q]) / w : 0.0;
          z = z1 + F * (z2 - z3);
          if (z < 0) z = 0.5 * z1; /* back inside, between the base and the bound */
          if (z > 1) z = 0.5 * (z1 + 1.0);
        }
        trial[i * n + q] = p->lo[q] + z * w;
      }
    }
    for (int64_t i = 0; i < np; ++i) tl[i] = i % size == rank ? ff_neuron_loss(p, r, kind, trial + i * n, work) : 0.0;
    st = FF_MPI(MPI_Allreduce(MPI_IN_PLACE, tl, (int)np, MPI_DOUBLE, MPI_SUM, comm));
    for (int64_t i = 0; st == FF_OK && i < np; ++i) {
      if (tl[i] <= loss[i]) {
        loss[i] = tl[i];
        memcpy(pop + i * n, trial + i * n, sizeof(double) * (size_t)n);
      }
      history[i * (generations + 1) + g] = loss[i];
    }
  }
  free(work);
  free(trial);
  free(tl);
  return st;
}

/* ---- the genetic algorithm ---------------------------------------------------------------------------------- */
/* Scaled coordinate of parameter q of x: (x - lo) / (hi - lo), 0 for a fixed interval. */
static double scaled(const FfNeuronProblem *p, const double *x, int q) {
  const double w = p->hi[q] - p->lo[q];
  return w > 0 ? (x[q] - p->lo[q]) / w : 0.0;
}

/* The winner of a tournament of FF_NEURON_GA_TOURNAMENT members drawn from the words w: the least loss,
 * ties to the lower index, so that the choice is a function of the losses and the words alone. */
static int64_t tournament(const double *loss, int64_t np, const uint32_t *w) {
  int64_t best = -1;
  for (int k = 0; k < FF_NEURON_GA_TOURNAMENT; ++k) {
    int64_t c = (int64_t)(ff_u01(w[k]) * (double)np);
    if (c >= np) c = np - 1;
    if (best < 0 || loss[c] < loss[best] || (loss[c] == loss[best] && c < best)) best = c;
  }
  return best;
}

int ff_neuron_ga(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, uint64_t seed, int64_t np,
                 int64_t generations, MPI_Comm comm, double *x0, double *pop, double *loss, double *history) {
  const int n = p->n_fit;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (np < 4) return FF_ERROR(FF_ERR_INPUT, "[neuron] starts = %lld: optimizer = ga needs a population of 4 or more", (long long)np);
  double *work = NULL, *child = NULL, *tl = NULL;
  int st = FF_MALLOC(work, r->n_steps * 2, "loss work space");
  FF_CALL(st, FF_MALLOC(child, np * n, "the children"));
  FF_CALL(st, FF_MALLOC(tl, np, "the children's losses"));
  /* the initial population: DE's */
  FF_CALL(st, initial_population(p, r, kind, seed, np, generations, comm, x0, pop, loss, history, tl, work));
  const double alpha = FF_NEURON_GA_BLX_ALPHA, sigma = FF_NEURON_GA_SIGMA, pm = 1.0 / n;
  for (int64_t g = 1; st == FF_OK && g <= generations; ++g) {
    int64_t elite = 0;
    for (int64_t i = 1; i < np; ++i)
      if (loss[i] < loss[elite]) elite = i;
    memcpy(child, pop + elite * n, sizeof(double) * (size_t)n); /* child 0: the best, unchanged */
    for (int64_t i = 1; i < np; ++i) {
      uint32_t w[8];
      ff_rng4(seed, FF_STREAM_NEURON_GA_SELECT, (uint32_t)g, (uint32_t)i, 0, w);
      ff_rng4(seed, FF_STREAM_NEURON_GA_SELECT, (uint32_t)g, (uint32_t)i, 1, w + 4);
      const int64_t a = tournament(loss, np, w), b = tournament(loss, np, w + 4);
      for (int q = 0; q < n; ++q) {
        uint32_t u[4], m[4];
        ff_rng4(seed, FF_STREAM_NEURON_GA_CROSS, (uint32_t)g, (uint32_t)i, (uint32_t)(q / 4), u);
        ff_rng4(seed, FF_STREAM_NEURON_GA_MUTATE, (uint32_t)g, (uint32_t)i, (uint32_t)q, m);
        const double za = scaled(p, pop + a * n, q), zb = scaled(p, pop + b * n, q);
        const double lo = za < zb ? za : zb, d = fabs(za - zb);
        double z = lo - alpha * d + ff_u01(u[q % 4]) * (1.0 + 2.0 * alpha) * d; /* BLX-alpha */
        if (ff_u01(m[0]) < pm) z += sigma * ff_normal(m[1], m[2]);
        if (z < 0) z = -z; /* reflected at the bounds, then clamped */
        if (z > 1) z = 2.0 - z;
        z = z < 0 ? 0 : z > 1 ? 1 : z;
        child[i * n + q] = p->lo[q] + z * (p->hi[q] - p->lo[q]);
      }
    }
    tl[0] = rank == 0 ? loss[elite] : 0.0; /* the elite is not evaluated again */
    for (int64_t i = 1; i < np; ++i) tl[i] = i % size == rank ? ff_neuron_loss(p, r, kind, child + i * n, work) : 0.0;
    st = FF_MPI(MPI_Allreduce(MPI_IN_PLACE, tl, (int)np, MPI_DOUBLE, MPI_SUM, comm));
    for (int64_t i = 0; st == FF_OK && i < np; ++i) {
      loss[i] = tl[i];
      history[i * (generations + 1) + g] = loss[i];
    }
    if (st == FF_OK) memcpy(pop, child, sizeof(double) * (size_t)(np * n));
  }
  free(work);
  free(child);
  free(tl);
  return st;
}

/* ---- identifiability ----------------------------------------------------------------------------------------- */
/* One end (dir +-1) of parameter q's slice: the value at the first step where the loss rises by more than
 * id->threshold (the bound, when that is the step), or the bound itself with *open = 1 when it never does. */
static double slice_end(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x, double loss,
                        int q, int dir, double *work, FfNeuronIdent *id, int *open) {
  const double w = p->hi[q] - p->lo[q], bound = dir > 0 ? p->hi[q] : p->lo[q];
  *open = 1;
  if (!(w > 0)) return bound;
  const double z = (x[q] - p->lo[q]) / w, room = dir > 0 ? 1.0 - z : z;
  double y[FF_NEURON_MAX_PARAM];
  memcpy(y, x, sizeof(double) * (size_t)p->n_fit);
  for (double t = 1e-3;; t *= 2.0) {
    if (t >= room) y[q] = bound;
    else y[q] = p->lo[q] + (z + dir * t) * w;
    const double l = ff_neuron_loss(p, r, kind, y, work);
    ++id->evals;
    if (!(l - loss <= id->threshold)) {
      *open = 0;
      return y[q];
    }
    if (t >= room) return y[q];
  }
}

int ff_neuron_identify(const FfNeuronProblem *p, const FfNeuronRecording *r, int kind, const double *x, double loss,
                       FfNeuronIdent *id) {
  const FfNeuronModel *m = p->model;
  const int n = p->n_fit, ns = m->n_sens;
  const int64_t N = r->n_sweeps * r->n_steps;
  memset(id, 0, sizeof *id);
  int gn[FF_NEURON_MAX_PARAM] = {0}, null_dir[FF_NEURON_MAX_PARAM] = {0};
  double G[FF_NEURON_MAX_PARAM * FF_NEURON_MAX_PARAM] = {0};
  double *work = NULL;
  FF_TRY(FF_MALLOC(work, r->n_steps * (1 + (ns > 1 ? ns : 1)) + r->n_steps, "identifiability work space"));
  if (kind == FF_NEURON_LOSS_VOLTAGE) {
    id->sigma2 = N > n ? loss * (double)N / (double)(N - n) : loss;
    id->threshold = 3.84 * id->sigma2 / (double)N;
    double par[FF_NEURON_MAX_PARAM];
    memcpy(par, p->fixed, sizeof par);
    for (int q = 0; q < n; ++q) par[p->index[q]] = x[q];
    int st = FF_OK;
    for (int64_t s = 0; ns > 0 && st == FF_OK && s < r->n_sweeps; ++s) {
      st = ff_neuron_simulate(m, par, r->dt_ms, r->current + s * r->n_steps, r->n_steps, NULL, work, NULL,
                              work + r->n_steps, NULL);
      const double *dv = work + r->n_steps;
      for (int64_t k = 0; st == FF_OK && k < r->n_steps; ++k)
        for (int a = 0; a < n; ++a)
          for (int b = 0; b < n && p->index[a] < ns; ++b)
            if (p->index[b] < ns) G[a * n + b] += dv[k * ns + p->index[a]] * dv[k * ns + p->index[b]];
    }
    ++id->evals;
    if (st) {
      free(work);
      return st;
    }
    for (int q = 0; q < n; ++q) gn[q] = p->index[q] < ns && G[q * n + q] > 0;
  } else {
    id->threshold = loss > 0.01 ? loss : 0.01;
  }
  /* Gauss-Newton on the parameters with a sensitivity: S = D^-1 G D^-1 (D = sqrt(diag G)), S = V diag(l) V^T */
  int act[FF_NEURON_MAX_PARAM], na = 0;
  for (int q = 0; q < n; ++q)
    if (gn[q]) act[na++] = q;
  if (na > 0) {
    double S[FF_NEURON_MAX_PARAM * FF_NEURON_MAX_PARAM], l[FF_NEURON_MAX_PARAM], d[FF_NEURON_MAX_PARAM];
    for (int a = 0; a < na; ++a) d[a] = sqrt(G[act[a] * n + act[a]]);
    for (int a = 0; a < na; ++a)
      for (int b = 0; b < na; ++b) S[a * na + b] = G[act[a] * n + act[b]] / (d[a] * d[b]);
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', na, S, na, l) != 0) {
      free(work);
      return FF_ERROR(FF_ERR_INTERNAL, "the eigenvalues of the Gauss-Newton matrix did not converge");
    }
    const double lmax = l[na - 1];
    for (int a = 0; a < na; ++a) {
      double c = 0.0; /* (S^+)_aa over the eigenvalues kept */
      for (int e = 0; e < na; ++e) {
        if (l[e] < 1e-10 * lmax) {
          if (fabs(S[a * na + e]) > 0.1) null_dir[act[a]] = 1;
          continue;
        }
        c += S[a * na + e] * S[a * na + e] / l[e];
      }
      const int q = act[a];
      id->method[q] = FF_NEURON_CI_GAUSS_NEWTON;
      id->sd[q] = sqrt(id->sigma2 * c) / d[a];
      id->low[q] = null_dir[q] ? p->lo[q] : x[q] - 1.96 * id->sd[q];
      id->high[q] = null_dir[q] ? p->hi[q] : x[q] + 1.96 * id->sd[q];
    }
  }
  for (int q = 0; q < n; ++q) {
    if (!gn[q]) {
      id->method[q] = FF_NEURON_CI_SLICE;
      id->sd[q] = NAN;
      int open_lo, open_hi;
      id->low[q] = slice_end(p, r, kind, x, loss, q, -1, work, id, &open_lo);
      id->high[q] = slice_end(p, r, kind, x, loss, q, +1, work, id, &open_hi);
      null_dir[q] = open_lo && open_hi; /* no value within the bounds is ruled out */
    }
    if (id->low[q] < p->lo[q]) id->low[q] = p->lo[q];
    if (id->high[q] > p->hi[q]) id->high[q] = p->hi[q];
    id->identifiable[q] = !null_dir[q] && !(id->low[q] <= p->lo[q] && id->high[q] >= p->hi[q]);
  }
  free(work);
  return FF_OK;
}
