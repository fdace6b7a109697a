/* [run] mode = netopt (docs/design.md §2.9.7): the connection probability p and weight scale w of Izhikevich's
 * E/I network (ei_net.h) fitted by differential evolution to the firing statistics of a planted network (the
 * same connectivity draws, other thalamic noise). Member i of each generation is simulated on rank i mod
 * ranks and the losses shared, so every rank holds the same population: the result is the same, bit for
 * bit, on any rank count. Output: DIR/results.h5 (/netopt), the log, run.json and the final line
 * "netopt done: p=P w=W pw=PW ... welch_p=X lv_ks_p=Y". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/ei_net.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/ranks.h"
#include "flyfit/rng.h"
#include "flyfit/run.h"
#include "flyfit/runjson.h"

/* "p=low:high, w=low:high" into lo[2], hi[2] */
static int parse_bounds(const char *text, double *lo, double *hi) {
  char buf[FF_CONFIG_STR];
  int got[2] = {0, 0};
  snprintf(buf, sizeof buf, "%s", text);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') ++tok;
    double a, b;
    char name[8], tail;
    if (sscanf(tok, "%7[^=]=%lf:%lf %c", name, &a, &b, &tail) != 3 || (strcmp(name, "p") && strcmp(name, "w")))
      return FF_ERROR(FF_ERR_INPUT, "[netopt] bounds: '%s' is not p=low:high or w=low:high", tok);
    const int k = name[0] == 'w';
    if (!(a <= b) || !isfinite(a) || !isfinite(b) || a < 0 || (k == 0 && b > 1))
      return FF_ERROR(FF_ERR_INPUT, "[netopt] bounds: %s = %g:%g needs 0 <= low <= high%s", name, a, b,
                      k == 0 ? " <= 1" : "");
    lo[k] = a, hi[k] = b, got[k] = 1;
  }
  if (!got[0] || !got[1]) return FF_ERROR(FF_ERR_INPUT, "[netopt] bounds needs both p=low:high and w=low:high");
  return FF_OK;
}

typedef struct {
  double mean_rate[2], mean_lv[2]; /* E, I */
} Stats;

static void stats_of(const FfEiNet *net, const double *rate, const double *lv, Stats *s) {
  const int64_t n = (int64_t)net->n_exc + net->n_inh;
  for (int g = 0; g < 2; ++g) {
    double sr = 0, sl = 0;
    int64_t nr = 0, nl = 0;
    for (int64_t i = g ? net->n_exc : 0; i < (g ? n : net->n_exc); ++i) {
      sr += rate[i], ++nr;
      if (isfinite(lv[i])) sl += lv[i], ++nl;
    }
    s->mean_rate[g] = nr ? sr / (double)nr : NAN;
    s->mean_lv[g] = nl ? sl / (double)nl : NAN;
  }
}

/* the loss of a candidate: squared relative errors of the mean rates, squared errors of the mean LVs
 * (a population without LV scores 1 there), 1e30 for a run that fails */
static double loss_of(const FfEiNet *net, const Stats *target, double p, double w, double *rate, double *lv) {
  if (ff_ei_net_run(net, p, w, 1, rate, lv) != FF_OK) {
    ff_error_clear();
    return 1e30;
  }
  Stats s;
  stats_of(net, rate, lv, &s);
  double l = 0.0;
  for (int g = 0; g < 2; ++g) {
    if (isfinite(target->mean_rate[g]) && target->mean_rate[g] > 0) {
      const double e = (s.mean_rate[g] - target->mean_rate[g]) / target->mean_rate[g];
      l += e * e;
    }
    if (isfinite(target->mean_lv[g])) {
      const double e = isfinite(s.mean_lv[g]) ? s.mean_lv[g] - target->mean_lv[g] : 1.0;
      l += e * e;
    }
  }
  return l;
}

static double de_u(uint64_t seed, int64_t g, int64_t i, uint32_t what, int k) {
  uint32_t o[4];
  ff_rng4(seed, FF_STREAM_NETOPT_DE, (uint32_t)g, (uint32_t)i, what, o);
  return ff_u01(o[k]);
}

typedef struct {
  const FfRun *r;
  const FfEiNet *net;
  double lo[2], hi[2], best[2], best_loss, welch_p, ks_p;
  int64_t np, gens, best_i;
  const double *hist, *rate_t, *lv_t, *rate_f, *lv_f;
} Out;

static int write_results(hid_t f, void *ctx) {
  const Out *o = ctx;
  const int64_t n = (int64_t)o->net->n_exc + o->net->n_inh, two = 2, hs[2] = {o->np, o->gens + 1};
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-netopt-results-1"),
                        FF_ATTR_INT("n_exc", o->net->n_exc),
                        FF_ATTR_INT("n_inh", o->net->n_inh),
                        FF_ATTR_DOUBLE("duration_ms", o->net->duration_ms),
                        FF_ATTR_INT("seed", o->r->cfg.seed),
                        FF_ATTR_DOUBLE("p", o->best[0]),
                        FF_ATTR_DOUBLE("w", o->best[1]),
                        FF_ATTR_DOUBLE("target_p", o->r->cfg.netopt_target_p),
                        FF_ATTR_DOUBLE("target_w", o->r->cfg.netopt_target_w),
                        FF_ATTR_DOUBLE("loss", o->best_loss),
                        FF_ATTR_DOUBLE("welch_p", o->welch_p),
                        FF_ATTR_DOUBLE("lv_ks_p", o->ks_p),
                        FF_ATTR_INT("population", o->np),
                        FF_ATTR_INT("generations", o->gens),
                        FF_ATTR_INT("best_member", o->best_i)};
  const FfH5Attr run[] = {FF_ATTR_STRING("mode", "netopt"), FF_ATTR_STRING("version", o->r->version),
                          FF_ATTR_INT("ranks", o->r->size), FF_ATTR_STRING("config", o->r->config_text)};
  int st = ff_h5_group(f, "/netopt");
  FF_CALL(st, ff_h5_write_attrs(f, "/netopt", a, (int)(sizeof a / sizeof a[0])));
  FF_CALL(st, ff_h5_group(f, "/run"));
  FF_CALL(st, ff_h5_write_attrs(f, "/run", run, (int)(sizeof run / sizeof run[0])));
  FF_CALL(st, ff_h5_write(f, "/netopt/fitted", H5T_NATIVE_DOUBLE, 1, &two, o->best));
  FF_CALL(st, ff_h5_write(f, "/netopt/lower", H5T_NATIVE_DOUBLE, 1, &two, o->lo));
  FF_CALL(st, ff_h5_write(f, "/netopt/upper", H5T_NATIVE_DOUBLE, 1, &two, o->hi));
  FF_CALL(st, ff_h5_write(f, "/netopt/loss_history", H5T_NATIVE_DOUBLE, 2, hs, o->hist));
  FF_CALL(st, ff_h5_write(f, "/netopt/target_rate_hz", H5T_NATIVE_DOUBLE, 1, &n, o->rate_t));
  FF_CALL(st, ff_h5_write(f, "/netopt/target_lv", H5T_NATIVE_DOUBLE, 1, &n, o->lv_t));
  FF_CALL(st, ff_h5_write(f, "/netopt/fitted_rate_hz", H5T_NATIVE_DOUBLE, 1, &n, o->rate_f));
  FF_CALL(st, ff_h5_write(f, "/netopt/fitted_lv", H5T_NATIVE_DOUBLE, 1, &n, o->lv_f));
  return st;
}

int ff_mode_netopt(FfRun *r) {
  const FfConfig *c = &r->cfg;
  double lo[2] = {0, 0}, hi[2] = {0, 0};
  FfEiNet net;
  memset(&net, 0, sizeof net);
  int st = parse_bounds(c->netopt_bounds, lo, hi);
  FF_CALL(st, ff_ei_net_create(&net, (int32_t)c->netopt_n_exc, (int32_t)c->netopt_n_inh, c->netopt_duration_ms,
                               (uint64_t)c->seed));
  if (st == FF_OK && r->rank == 0) st = ff_run_make_dir(c->out_dir);
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK) st = ff_run_open_log(r);
  if (st) {
    ff_ei_net_destroy(&net);
    return st;
  }
  ff_run_phase(r, "netopt");
  const double t0 = MPI_Wtime();
  const int64_t n = (int64_t)net.n_exc + net.n_inh, NP = c->netopt_population, G = c->netopt_generations;
  double *rate_t = NULL, *lv_t = NULL, *rate = NULL, *lv = NULL, *pop = NULL, *trial = NULL, *loss = NULL, *tl = NULL,
         *hist = NULL;
  st = FF_MALLOC(rate_t, n, "target rates");
  FF_CALL(st, FF_MALLOC(lv_t, n, "target LV"));
  FF_CALL(st, FF_MALLOC(rate, n, "rates"));
  FF_CALL(st, FF_MALLOC(lv, n, "LV"));
  FF_CALL(st, FF_MALLOC(pop, NP * 2, "population"));
  FF_CALL(st, FF_MALLOC(trial, NP * 2, "trials"));
  FF_CALL(st, FF_MALLOC(loss, NP, "losses"));
  FF_CALL(st, FF_MALLOC(tl, NP, "trial losses"));
  FF_CALL(st, FF_MALLOC(hist, NP * (G + 1), "loss history"));
  /* the target: the planted network under trial 0's noise, computed alike on every rank */
  FF_CALL(st, ff_ei_net_run(&net, c->netopt_target_p, c->netopt_target_w, 0, rate_t, lv_t));
  Stats target;
  if (st == FF_OK) {
    stats_of(&net, rate_t, lv_t, &target);
    ff_log("netopt: %lld excitatory and %lld inhibitory Izhikevich cells, %g ms; the planted p = %g, w = %g fire "
           "%.3g (E) and %.3g (I) Hz, LV %.3g and %.3g",
           (long long)c->netopt_n_exc, (long long)c->netopt_n_inh, net.duration_ms, c->netopt_target_p,
           c->netopt_target_w, target.mean_rate[0], target.mean_rate[1], target.mean_lv[0], target.mean_lv[1]);
    if (!(target.mean_rate[0] > 0))
      st = FF_ERROR(FF_ERR_INPUT, "[netopt] the planted network (p = %g, w = %g) does not fire: nothing to fit",
                    c->netopt_target_p, c->netopt_target_w);
    ff_log("netopt: differential evolution over p in [%g, %g], w in [%g, %g]: a population of %lld over %d rank%s, "
           "%lld generations", lo[0], hi[0], lo[1], hi[1], (long long)NP, r->size, r->size == 1 ? "" : "s",
           (long long)G);
  }
  for (int64_t i = 0; st == FF_OK && i < NP; ++i) {
    for (int k = 0; k < 2; ++k) pop[i * 2 + k] = lo[k] + de_u((uint64_t)c->seed, 0, i, 0, k) * (hi[k] - lo[k]);
    tl[i] = i % r->size == r->rank ? loss_of(&net, &target, pop[i * 2], pop[i * 2 + 1], rate, lv) : 0.0;
  }
  if (st == FF_OK) st = FF_MPI(MPI_Allreduce(tl, loss, (int)NP, MPI_DOUBLE, MPI_SUM, r->comm)); /* one owner each */
  for (int64_t i = 0; st == FF_OK && i < NP; ++i) hist[i * (G + 1)] = loss[i];
  for (int64_t g = 1; st == FF_OK && g <= G; ++g) { /* DE/rand/1/bin, F 0.7, CR 0.9, as ff_neuron_de */
    for (int64_t i = 0; i < NP; ++i) {
      int64_t d[3];
      for (int k = 0, a = 0; k < 3; ++a) {
        const int64_t cnd = (int64_t)(de_u((uint64_t)c->seed, g, i, 0x100u + (uint32_t)a, 0) * (double)NP);
        int dup = cnd == i || cnd >= NP;
        for (int q = 0; q < k; ++q) dup |= d[q] == cnd;
        if (!dup) d[k++] = cnd;
      }
      const int jr = (int)(de_u((uint64_t)c->seed, g, i, 1, 0) * 2);
      for (int q = 0; q < 2; ++q) {
        const double wd = hi[q] - lo[q];
        double z = wd > 0 ? (pop[i * 2 + q] - lo[q]) / wd : 0.0;
        if (q == jr || de_u((uint64_t)c->seed, g, i, 2, q) < 0.9) {
          const double z1 = wd > 0 ? (pop[d[0] * 2 + q] - lo[q]) / wd : 0.0, z2 = wd > 0 ? (pop[d[1] * 2 + q] - lo[q]) / wd : 0.0,
                       z3 = wd > 0 ? (pop[d[2] * 2 + q] - lo[q]) / wd : 0.0;
          z = z1 + 0.7 * (z2 - z3);
          if (z < 0) z = 0.5 * z1;
          if (z > 1) z = 0.5 * (z1 + 1.0);
        }
        trial[i * 2 + q] = lo[q] + z * wd;
      }
    }
    for (int64_t i = 0; i < NP; ++i)
      tl[i] = i % r->size == r->rank ? loss_of(&net, &target, trial[i * 2], trial[i * 2 + 1], rate, lv) : 0.0;
    st = FF_MPI(MPI_Allreduce(MPI_IN_PLACE, tl, (int)NP, MPI_DOUBLE, MPI_SUM, r->comm));
    for (int64_t i = 0; st == FF_OK && i < NP; ++i) {
      if (tl[i] <= loss[i]) {
        loss[i] = tl[i];
        pop[i * 2] = trial[i * 2];
        pop[i * 2 + 1] = trial[i * 2 + 1];
      }
      hist[i * (G + 1) + g] = loss[i];
    }
  }
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK && r->rank == 0) {
    int64_t b = 0;
    for (int64_t i = 1; i < NP; ++i)
      if (loss[i] < loss[b]) b = i;
    Out o = {r, &net, {lo[0], lo[1]}, {hi[0], hi[1]}, {pop[b * 2], pop[b * 2 + 1]}, loss[b], 0, 0, NP, G, b,
             hist, rate_t, lv_t, rate, lv};
    st = ff_ei_net_run(&net, o.best[0], o.best[1], 1, rate, lv);
    o.welch_p = ff_welch_p(rate_t, n, rate, n);
    o.ks_p = ff_ks2_p(lv_t, n, lv, n);
    Stats s;
    stats_of(&net, rate, lv, &s);
    if (st == FF_OK) {
      char path[FF_CONFIG_STR + 32];
      snprintf(path, sizeof path, "%s/results.h5", c->out_dir);
      st = ff_h5_write_atomic(path, write_results, &o);
    }
    if (st == FF_OK) {
      const double pw = o.best[0] * o.best[1], tpw = c->netopt_target_p * c->netopt_target_w;
      ff_log("netopt: best member %lld, loss %.6g: p = %.6g, w = %.6g, p w = %.6g (planted %.6g, %+.2f%%); rates "
             "%.3g (E) and %.3g (I) Hz, LV %.3g and %.3g; Welch p = %.3g (rates), KS p = %.3g (LV); %lld "
             "evaluations in %.2f s",
             (long long)b, o.best_loss, o.best[0], o.best[1], pw, tpw, 100.0 * (pw - tpw) / tpw, s.mean_rate[0],
             s.mean_rate[1], s.mean_lv[0], s.mean_lv[1], o.welch_p, o.ks_p, (long long)(NP * (G + 1)),
             MPI_Wtime() - t0);
      ff_runjson_phase("netopt", MPI_Wtime() - t0);
      ff_summary("netopt done: p=%.9g w=%.9g pw=%.9g target_pw=%.9g loss=%.9g evals=%lld welch_p=%.6g lv_ks_p=%.6g\n",
                 o.best[0], o.best[1], pw, tpw, o.best_loss, (long long)(NP * (G + 1)), o.welch_p, o.ks_p);
    }
  }
  st = ff_ranks_root_status(st, r->comm, "finish the network fit");
  free(rate_t);
  free(lv_t);
  free(rate);
  free(lv);
  free(pop);
  free(trial);
  free(loss);
  free(tl);
  free(hist);
  ff_ei_net_destroy(&net);
  return st;
}
