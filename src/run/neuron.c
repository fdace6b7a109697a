/* [run] mode = neuron (docs/design.md §2.9.5): one neuron model fitted to [data] recording by a bounded
 * multi-start L-BFGS on the voltage loss and its exact gradient, or by differential evolution or a genetic
 * algorithm on any loss.
 * L-BFGS: start s runs on rank s mod ranks, each start alone and in the same arithmetic on any rank.
 * DE and the GA: member i is evaluated on rank i mod ranks, every rank holding the whole population. Rank 0 takes
 * the best by (loss, start or member): the result is the same, bit for bit, on any rank count. Output: DIR/results.h5 (/neuron), the log,
 * run.json and the final line "neuron done: model=M loss=L evals=E NAME=VALUE ...". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/csv.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/neuron_fit.h"
#include "flyfit/ranks.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"

static const char *const LOSS_NAMES[] = {"voltage", "spike", "gamma", "vanrossum", "isi"};
static const char *const OPT_NAMES[] = {"lbfgs", "de", "ga"};

/* The configuration's own checks (the same on every rank). */
static int check_config(const FfConfig *c, const FfNeuronModel *m, FfNeuronProblem *p) {
  if (c->neuron_optimizer == FF_NEURON_OPT_LBFGS && c->neuron_loss != FF_NEURON_LOSS_VOLTAGE)
    return FF_ERROR(FF_ERR_INPUT, "[neuron] loss = %s has no gradient: optimizer = lbfgs minimises loss = voltage; "
                                  "use optimizer = de", LOSS_NAMES[c->neuron_loss]);
  if (c->neuron_optimizer != FF_NEURON_OPT_LBFGS && c->neuron_starts < 4)
    return FF_ERROR(FF_ERR_INPUT, "[neuron] starts = %lld: optimizer = %s takes it as its population, 4 or more",
                    (long long)c->neuron_starts, OPT_NAMES[c->neuron_optimizer]);
  FF_TRY(ff_neuron_problem(m, c->neuron_bounds, p));
  for (int q = 0; q < p->n_fit && c->neuron_optimizer == FF_NEURON_OPT_LBFGS; ++q)
    if (p->index[q] >= m->n_sens)
      return FF_ERROR(FF_ERR_INPUT, "[neuron] bounds: optimizer = lbfgs needs the gradient by %s, but model %s has "
                                    "sensitivities by its first %d parameters only (%s...)",
                      m->param_names[p->index[q]], m->name, m->n_sens, m->n_sens ? m->param_names[0] : "none");
  return FF_OK;
}

typedef struct {
  const FfNeuronProblem *p;
  const FfNeuronRecording *rec;
  const FfRun *r;
  const double *rows; /* [starts x width] */
  int64_t width, per_start, best, evals;
  const double *fit_v; /* [sweeps x steps] the fitted model's voltage */
  const int64_t *fit_indptr; /* [sweeps + 1] into fit_spikes */
  const double *fit_spikes;  /* ms, the fitted model's spikes (step k's dated (k + 1) dt) */
  const FfNeuronIdent *id;
} Results;

static int write_results(hid_t f, void *ctx) {
  const Results *o = ctx;
  const FfNeuronProblem *p = o->p;
  const FfNeuronModel *m = p->model;
  const int n = p->n_fit;
  const int64_t S = o->r->cfg.neuron_starts, nf = n, hs[2] = {S, o->per_start}, xs[2] = {S, n};
  const char *names[FF_NEURON_MAX_PARAM], *units[FF_NEURON_MAX_PARAM];
  double fitted[FF_NEURON_MAX_PARAM];
  double *loss = NULL, *evals = NULL, *x0 = NULL, *x = NULL, *hist = NULL;
  int st = FF_MALLOC(loss, S, "start losses");
  FF_CALL(st, FF_MALLOC(evals, S, "start evaluations"));
  FF_CALL(st, FF_MALLOC(x0, S * n, "start points"));
  FF_CALL(st, FF_MALLOC(x, S * n, "start results"));
  FF_CALL(st, FF_MALLOC(hist, S * o->per_start, "loss history"));
  for (int64_t s = 0; st == FF_OK && s < S; ++s) {
    const double *row = o->rows + s * o->width;
    loss[s] = row[0];
    evals[s] = row[1];
    memcpy(x0 + s * n, row + 2, sizeof(double) * (size_t)n);
    memcpy(x + s * n, row + 2 + n, sizeof(double) * (size_t)n);
    memcpy(hist + s * o->per_start, row + 2 + 2 * n, sizeof(double) * (size_t)o->per_start);
  }
  for (int q = 0; q < n; ++q) {
    names[q] = m->param_names[p->index[q]];
    units[q] = m->param_units[p->index[q]];
    fitted[q] = o->rows[o->best * o->width + 2 + n + q];
  }
  const int64_t vd[2] = {o->rec->n_sweeps, o->rec->n_steps};
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-neuron-results-1"),
                        FF_ATTR_STRING("model", m->name),
                        FF_ATTR_STRING("loss", LOSS_NAMES[o->r->cfg.neuron_loss]),
                        FF_ATTR_STRING("optimizer", OPT_NAMES[o->r->cfg.neuron_optimizer]),
                        FF_ATTR_STRING("recording", o->r->cfg.recording),
                        FF_ATTR_INT("seed", o->r->cfg.seed),
                        FF_ATTR_INT("starts", S),
                        FF_ATTR_INT("best_start", o->best),
                        FF_ATTR_INT("evals", o->evals),
                        FF_ATTR_DOUBLE("best_loss", loss ? loss[o->best] : 0.0)};
  const FfH5Attr run[] = {FF_ATTR_STRING("mode", "neuron"), FF_ATTR_STRING("version", o->r->version),
                          FF_ATTR_INT("ranks", o->r->size), FF_ATTR_STRING("config", o->r->config_text)};
  FF_CALL(st, ff_h5_group(f, "/neuron"));
  FF_CALL(st, ff_h5_write_attrs(f, "/neuron", a, (int)(sizeof a / sizeof a[0])));
  FF_CALL(st, ff_h5_group(f, "/run"));
  FF_CALL(st, ff_h5_write_attrs(f, "/run", run, (int)(sizeof run / sizeof run[0])));
  FF_CALL(st, ff_h5_write_strings(f, "/neuron/names", names, nf));
  FF_CALL(st, ff_h5_write_strings(f, "/neuron/units", units, nf));
  FF_CALL(st, ff_h5_write(f, "/neuron/fitted", H5T_NATIVE_DOUBLE, 1, &nf, fitted));
  FF_CALL(st, ff_h5_write(f, "/neuron/lower", H5T_NATIVE_DOUBLE, 1, &nf, p->lo));
  FF_CALL(st, ff_h5_write(f, "/neuron/upper", H5T_NATIVE_DOUBLE, 1, &nf, p->hi));
  FF_CALL(st, ff_h5_write(f, "/neuron/starts/loss", H5T_NATIVE_DOUBLE, 1, &S, loss));
  FF_CALL(st, ff_h5_write(f, "/neuron/starts/evals", H5T_NATIVE_DOUBLE, 1, &S, evals));
  FF_CALL(st, ff_h5_write(f, "/neuron/starts/x0", H5T_NATIVE_DOUBLE, 2, xs, x0));
  FF_CALL(st, ff_h5_write(f, "/neuron/starts/x", H5T_NATIVE_DOUBLE, 2, xs, x));
  FF_CALL(st, ff_h5_write(f, "/neuron/loss_history", H5T_NATIVE_DOUBLE, 2, hs, hist));
  FF_CALL(st, ff_h5_write(f, "/neuron/fitted_voltage", H5T_NATIVE_DOUBLE, 2, vd, o->fit_v));
  /* the recording itself, so that the figures need nothing else (docs/design.md §2.9.5) */
  const int64_t ns1 = o->rec->n_sweeps + 1, nfs = o->fit_indptr[o->rec->n_sweeps];
  const FfH5Attr dt[] = {FF_ATTR_DOUBLE("dt_ms", o->rec->dt_ms)};
  FF_CALL(st, ff_h5_write(f, "/neuron/recorded_voltage", H5T_NATIVE_DOUBLE, 2, vd, o->rec->voltage));
  FF_CALL(st, ff_h5_write(f, "/neuron/current", H5T_NATIVE_DOUBLE, 2, vd, o->rec->current));
  FF_CALL(st, ff_h5_write_attrs(f, "/neuron/current", dt, 1));
  FF_CALL(st, ff_h5_write(f, "/neuron/fitted_spike_indptr", H5T_NATIVE_INT64, 1, &ns1, o->fit_indptr));
  FF_CALL(st, ff_h5_write(f, "/neuron/fitted_spike_times", H5T_NATIVE_DOUBLE, 1, &nfs, o->fit_spikes));
  if (o->rec->spike_indptr) {
    const int64_t nrs = o->rec->spike_indptr[o->rec->n_sweeps];
    FF_CALL(st, ff_h5_write(f, "/neuron/recorded_spike_indptr", H5T_NATIVE_INT64, 1, &ns1, o->rec->spike_indptr));
    FF_CALL(st, ff_h5_write(f, "/neuron/recorded_spike_times", H5T_NATIVE_DOUBLE, 1, &nrs, o->rec->spike_times));
  }
  {
    double ident[FF_NEURON_MAX_PARAM], sd[FF_NEURON_MAX_PARAM];
    const char *method[FF_NEURON_MAX_PARAM];
    for (int q = 0; q < n; ++q) {
      ident[q] = o->id->identifiable[q];
      sd[q] = o->id->sd[q];
      method[q] = o->id->method[q] == FF_NEURON_CI_GAUSS_NEWTON ? "gauss-newton" : "slice";
    }
    const FfH5Attr ia[] = {FF_ATTR_DOUBLE("sigma2", o->id->sigma2), FF_ATTR_DOUBLE("threshold", o->id->threshold),
                           FF_ATTR_INT("evals", o->id->evals)};
    FF_CALL(st, ff_h5_write(f, "/neuron/ci_low", H5T_NATIVE_DOUBLE, 1, &nf, o->id->low));
    FF_CALL(st, ff_h5_write(f, "/neuron/ci_high", H5T_NATIVE_DOUBLE, 1, &nf, o->id->high));
    FF_CALL(st, ff_h5_write(f, "/neuron/ci_sd", H5T_NATIVE_DOUBLE, 1, &nf, sd));
    FF_CALL(st, ff_h5_write_strings(f, "/neuron/ci_method", method, nf));
    FF_CALL(st, ff_h5_write(f, "/neuron/identifiable", H5T_NATIVE_DOUBLE, 1, &nf, ident));
    FF_CALL(st, ff_h5_write_attrs(f, "/neuron/ci_low", ia, (int)(sizeof ia / sizeof ia[0])));
  }
  if (o->rec->has_truth) {
    double t[FF_NEURON_MAX_PARAM];
    for (int q = 0; q < n; ++q) t[q] = o->rec->truth[p->index[q]];
    FF_CALL(st, ff_h5_write(f, "/neuron/planted", H5T_NATIVE_DOUBLE, 1, &nf, t));
  }
  free(loss);
  free(evals);
  free(x0);
  free(x);
  free(hist);
  return st;
}

/* This rank's starts s = rank, rank + size, ...: each row [loss, evals, x0 [n], x [n], history [per]]. */
static int run_starts(const FfRun *r, const FfNeuronProblem *p, const FfNeuronRecording *rec, int64_t per,
                      int64_t width, double *mine, int64_t *n_mine) {
  const int n = p->n_fit;
  int64_t k = 0;
  for (int64_t s = r->rank; s < r->cfg.neuron_starts; s += r->size, ++k) {
    double *row = mine + k * width, *x0 = row + 2, *x = row + 2 + n, *hist = row + 2 + 2 * n;
    for (int64_t e = 0; e < per; ++e) hist[e] = NAN;
    int64_t evals = 0;
    FF_TRY(ff_neuron_fit_start(p, rec, (uint64_t)r->cfg.seed, s, per, x0, x, &row[0], &evals, hist));
    row[1] = (double)evals;
  }
  *n_mine = k;
  return FF_OK;
}

/* Differential evolution or the genetic algorithm (collective): every rank holds the whole population; it
 * keeps the rows of the members s = rank, rank + size, ... as run_starts does; evals: DE evaluates every
 * member once per generation (generations + 1 each), the GA all but its elite (slot 0: 1). */
static int run_pop(const FfRun *r, const FfNeuronProblem *p, const FfNeuronRecording *rec, int64_t per,
                  int64_t width, double *mine, int64_t *n_mine) {
  const int n = p->n_fit;
  const int64_t S = r->cfg.neuron_starts;
  double *x0 = NULL, *pop = NULL, *loss = NULL, *hist = NULL;
  int st = FF_MALLOC(x0, S * n, "the initial population");
  FF_CALL(st, FF_MALLOC(pop, S * n, "the population"));
  FF_CALL(st, FF_MALLOC(loss, S, "the population's losses"));
  FF_CALL(st, FF_MALLOC(hist, S * per, "the population's history"));
  st = ff_ranks_agree(st, r->comm);
  if (r->cfg.neuron_optimizer == FF_NEURON_OPT_GA)
    FF_CALL(st, ff_neuron_ga(p, rec, r->cfg.neuron_loss, (uint64_t)r->cfg.seed, S, per - 1, r->comm, x0, pop, loss, hist));
  else
    FF_CALL(st, ff_neuron_de(p, rec, r->cfg.neuron_loss, (uint64_t)r->cfg.seed, S, per - 1, r->comm, x0, pop, loss, hist));
  const int ga = r->cfg.neuron_optimizer == FF_NEURON_OPT_GA;
  int64_t k = 0;
  for (int64_t s = r->rank; st == FF_OK && s < S; s += r->size, ++k) {
    double *row = mine + k * width;
    row[0] = loss[s];
    row[1] = ga && s == 0 ? 1.0 : (double)per;
    memcpy(row + 2, x0 + s * n, sizeof(double) * (size_t)n);
    memcpy(row + 2 + n, pop + s * n, sizeof(double) * (size_t)n);
    memcpy(row + 2 + 2 * n, hist + s * per, sizeof(double) * (size_t)per);
  }
  *n_mine = k;
  free(x0);
  free(pop);
  free(loss);
  free(hist);
  return st;
}

int ff_mode_neuron(FfRun *r) {
  const FfConfig *c = &r->cfg;
  const FfNeuronModel *m = ff_neuron_model(ff_neuron_model_names[c->neuron_model]);
  FfNeuronProblem p;
  FfNeuronRecording rec;
  memset(&rec, 0, sizeof rec);
  /* 1. inputs, on every rank (the same checks give the same status; one rank reports) */
  int st = check_config(c, m, &p);
  if (st == FF_OK) {
    const int csv = ff_csv_path(c->recording);
    if (!csv && (c->recording_current[0] || c->recording_spikes[0]))
      st = FF_ERROR(FF_ERR_INPUT, "[data] recording_current and recording_spikes go with a CSV recording (a name "
                                  "ending in .csv); '%s' is HDF5 and holds its own current and spikes: leave them out",
                    c->recording);
    else
      st = csv ? ff_neuron_recording_read_csv(c->recording, c->recording_current, c->recording_spikes, c->recording_dt,
                                              c->recording_layout, &rec)
               : ff_neuron_recording_read(c->recording, &rec);
    if (st) ff_error_prefix("[data] recording: ");
  }
  if (st == FF_OK && r->rank == 0) st = ff_run_make_dir(c->out_dir);
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK) st = ff_run_open_log(r);
  if (st) {
    ff_neuron_recording_destroy(&rec);
    return st;
  }
  ff_run_phase(r, "neuron");
  const double t0 = MPI_Wtime();
  const int n = p.n_fit;
  const int de = c->neuron_optimizer != FF_NEURON_OPT_LBFGS; /* de or ga: a population */
  const int64_t S = c->neuron_starts, per = c->neuron_max_evals / S > 1 ? c->neuron_max_evals / S : de ? 2 : 1;
  const int64_t width = 2 + 2 * n + per, mine_max = (S + r->size - 1) / r->size;
  char line[2048];
  int len = snprintf(line, sizeof line, "neuron: model %s, %d sweeps of %lld samples (dt %g ms) from %s; fitting",
                     m->name, (int)rec.n_sweeps, (long long)rec.n_steps, rec.dt_ms, c->recording);
  for (int q = 0; q < n; ++q)
    len += snprintf(line + len, sizeof line - (size_t)len, " %s in [%g, %g] %s%s", m->param_names[p.index[q]], p.lo[q],
                    p.hi[q], m->param_units[p.index[q]], q + 1 < n ? "," : "");
  ff_log("%s", line);
  if (de)
    ff_log("neuron: loss %s, %s, a population of %lld over %d rank%s, %lld generations", LOSS_NAMES[c->neuron_loss],
           c->neuron_optimizer == FF_NEURON_OPT_GA ? "genetic algorithm" : "differential evolution", (long long)S,
           r->size, r->size == 1 ? "" : "s", (long long)per - 1);
  else
    ff_log("neuron: loss %s, optimizer %s, %lld starts on %d rank%s, at most %lld evaluations each",
           LOSS_NAMES[c->neuron_loss], OPT_NAMES[c->neuron_optimizer], (long long)S, r->size, r->size == 1 ? "" : "s",
           (long long)per);
  if (rec.model && rec.model != m)
    ff_warn("[data] recording names model %s; fitting model %s as [neuron] model says", rec.model->name, m->name);
  /* 2. the starts, spread over the ranks */
  double *mine = NULL, *all = NULL, *fit_v = NULL, *fit_spikes = NULL;
  int64_t *fit_indptr = NULL;
  uint8_t *spiked = NULL;
  int *counts = NULL, *displs = NULL;
  int64_t n_mine = 0;
  st = FF_MALLOC(mine, mine_max * width, "this rank's starts");
  if (de) FF_CALL(st, run_pop(r, &p, &rec, per, width, mine, &n_mine));
  else FF_CALL(st, run_starts(r, &p, &rec, per, width, mine, &n_mine));
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK && r->rank == 0) {
    st = FF_MALLOC(all, S * width, "every start");
    FF_CALL(st, FF_MALLOC(counts, r->size, "gather counts"));
    FF_CALL(st, FF_MALLOC(displs, r->size, "gather offsets"));
    for (int q = 0, off = 0; st == FF_OK && q < r->size; ++q) {
      const int64_t nq = q < S ? (S - q + r->size - 1) / r->size : 0;
      counts[q] = (int)(nq * width);
      displs[q] = off;
      off += counts[q];
    }
  }
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK && (int64_t)S * width > INT32_MAX)
    st = FF_ERROR(FF_ERR_INPUT, "[neuron] starts x max_evals is too large to gather (%lld values)", (long long)(S * width));
  double *packed = r->rank == 0 ? all : NULL;
  double *gathered = NULL;
  if (st == FF_OK && r->rank == 0) st = FF_MALLOC(gathered, S * width, "gathered starts");
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, ff_ranks_agree(FF_MPI(MPI_Gatherv(mine, (int)(n_mine * width), MPI_DOUBLE, gathered, counts, displs,
                                                MPI_DOUBLE, 0, r->comm)),
                             r->comm));
  /* 3. rank 0: rows by start index, the best by (loss, start), the fitted traces, results.h5, the summary */
  if (st == FF_OK && r->rank == 0) {
    for (int q = 0; q < r->size; ++q)
      for (int64_t k = 0, s = q; s < S; s += r->size, ++k)
        memcpy(packed + s * width, gathered + displs[q] + k * width, sizeof(double) * (size_t)width);
    int64_t best = 0, evals = 0;
    for (int64_t s = 0; s < S; ++s) {
      const double *row = packed + s * width;
      evals += (int64_t)row[1];
      if (row[0] < packed[best * width]) best = s;
      if (de && s >= 8) continue; /* a population: its first members only */
      len = snprintf(line, sizeof line, "%s %lld: loss %.6g%s after %lld evaluations:", de ? "member" : "start",
                     (long long)s, row[0], c->neuron_loss == FF_NEURON_LOSS_VOLTAGE ? " mV^2" : "", (long long)row[1]);
      for (int q = 0; q < n; ++q)
        len += snprintf(line + len, sizeof line - (size_t)len, " %s=%.6g", m->param_names[p.index[q]], row[2 + n + q]);
      ff_log("%s", line);
    }
    const double *bx = packed + best * width + 2 + n;
    double par[FF_NEURON_MAX_PARAM];
    memcpy(par, p.fixed, sizeof par);
    for (int q = 0; q < n; ++q) par[p.index[q]] = bx[q];
    st = FF_MALLOC(fit_v, rec.n_sweeps * rec.n_steps, "the fitted voltage");
    FF_CALL(st, FF_MALLOC(spiked, rec.n_sweeps * rec.n_steps, "the fitted spikes"));
    FF_CALL(st, FF_MALLOC(fit_indptr, rec.n_sweeps + 1, "the fitted spike index"));
    for (int64_t s = 0; st == FF_OK && s < rec.n_sweeps; ++s)
      st = ff_neuron_simulate(m, par, rec.dt_ms, rec.current + s * rec.n_steps, rec.n_steps, NULL,
                              fit_v + s * rec.n_steps, spiked + s * rec.n_steps, NULL, NULL);
    int64_t nsp = 0;
    for (int64_t k = 0; st == FF_OK && k < rec.n_sweeps * rec.n_steps; ++k) nsp += spiked[k];
    FF_CALL(st, FF_MALLOC(fit_spikes, nsp > 0 ? nsp : 1, "the fitted spike times"));
    if (st == FF_OK) {
      fit_indptr[0] = 0;
      for (int64_t s = 0, j = 0; s < rec.n_sweeps; ++s) {
        for (int64_t k = 0; k < rec.n_steps; ++k)
          if (spiked[s * rec.n_steps + k]) fit_spikes[j++] = (double)(k + 1) * rec.dt_ms;
        fit_indptr[s + 1] = j;
      }
    }
    FfNeuronIdent id;
    FF_CALL(st, ff_neuron_identify(&p, &rec, c->neuron_loss, bx, packed[best * width], &id));
    if (st == FF_OK) {
      Results o = {&p, &rec, r, packed, width, per, best, evals, fit_v, fit_indptr, fit_spikes, &id};
      char path[FF_CONFIG_STR + 32];
      snprintf(path, sizeof path, "%s/results.h5", c->out_dir);
      st = ff_h5_write_atomic(path, write_results, &o);
    }
    if (st == FF_OK) {
      for (int q = 0; q < n && rec.has_truth; ++q) {
        const double t = rec.truth[p.index[q]];
        ff_log("%s = %.9g %s (planted %.9g, %+.3f%%)", m->param_names[p.index[q]], bx[q], m->param_units[p.index[q]],
               t, t != 0 ? 100.0 * (bx[q] - t) / fabs(t) : 0.0);
      }
      for (int q = 0; q < n; ++q)
        ff_log("%s = %.6g %s, 95%% interval [%.6g, %.6g] (%s)%s", m->param_names[p.index[q]], bx[q],
               m->param_units[p.index[q]], id.low[q], id.high[q],
               id.method[q] == FF_NEURON_CI_GAUSS_NEWTON ? "Gauss-Newton" : "slice",
               id.identifiable[q] ? "" : ": NOT IDENTIFIABLE, the data cannot determine it within its bounds");
      ff_log("neuron: best %s %lld, loss %.9g%s, %lld evaluations in %.2f s", de ? "member" : "start", (long long)best,
             packed[best * width], c->neuron_loss == FF_NEURON_LOSS_VOLTAGE ? " mV^2" : "", (long long)evals,
             MPI_Wtime() - t0);
      ff_runjson_metrics("neuron done: best_loss=%.17g best_start=%lld starts=%lld", packed[best * width],
                         (long long)best, (long long)S);
      ff_runjson_phase("neuron", MPI_Wtime() - t0);
      len = snprintf(line, sizeof line, "neuron done: model=%s loss=%s evals=%lld", m->name, LOSS_NAMES[c->neuron_loss],
                     (long long)evals);
      for (int q = 0; q < n; ++q)
        len += snprintf(line + len, sizeof line - (size_t)len, " %s=%.9g", m->param_names[p.index[q]], bx[q]);
      for (int q = 0, k = 0; q < n; ++q) /* unidentifiable=k1,k2 after the parameters, only when there are some */
        if (!id.identifiable[q])
          len += snprintf(line + len, sizeof line - (size_t)len, "%s%s", k++ ? "," : " unidentifiable=",
                          m->param_names[p.index[q]]);
      ff_summary("%s\n", line);
    }
  }
  st = ff_ranks_root_status(st, r->comm, "finish the neuron fit");
  free(mine);
  free(all);
  free(gathered);
  free(counts);
  free(displs);
  free(fit_v);
  free(fit_spikes);
  free(fit_indptr);
  free(spiked);
  ff_neuron_recording_destroy(&rec);
  return st;
}
