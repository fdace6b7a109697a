/* [run] mode = netopt (docs/design.md §2.9.7): the connection probability p and weight scale w of Izhikevich's
 * E/I network (ei_net.h) fitted by differential evolution to the firing statistics of a target: a planted
 * network (the same connectivity draws, other thalamic noise) or a recorded one ([data] recording). With
 * [netopt] split = members, member i of each generation runs whole on rank i mod ranks; with split = cells,
 * every member runs on all ranks, its cells split in blocks and the spikes exchanged every step. Either way
 * the losses are shared and every rank holds the same population: the result is the same, bit for bit, on
 * any rank count and either split. Output: DIR/results.h5 (/netopt), the log, run.json and the final line
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

/* The statistics a candidate is scored on: mean rate and LV per population, the SPIKE-distances */
typedef struct {
  double mean_rate[2], mean_lv[2]; /* E, I */
  double sync[3];                  /* mean SPIKE-distance within E, within I, between E and I (NaN: not used) */
} Stats;

typedef struct {
  const FfEiNet *net;
  int64_t pairs;  /* [netopt] spike_pairs */
  uint64_t seed;
  double t_end;   /* ms: the simulated steps */
  double *rate, *lv; /* [n] scratch, then the last run's */
} Scorer;

static int stats_of(const Scorer *sc, const FfSpikeTrains *s, Stats *out) {
  const FfEiNet *net = sc->net;
  const int64_t n = (int64_t)net->n_exc + net->n_inh;
  ff_ei_net_rates(s, sc->t_end, sc->rate, sc->lv);
  for (int g = 0; g < 2; ++g) {
    double sr = 0, sl = 0;
    int64_t nr = 0, nl = 0;
    for (int64_t i = g ? net->n_exc : 0; i < (g ? n : net->n_exc); ++i) {
      sr += sc->rate[i], ++nr;
      if (isfinite(sc->lv[i])) sl += sc->lv[i], ++nl;
    }
    out->mean_rate[g] = nr ? sr / (double)nr : NAN;
    out->mean_lv[g] = nl ? sl / (double)nl : NAN;
  }
  return ff_ei_net_spike_sync(s, net->n_exc, sc->pairs, sc->seed, sc->t_end, out->sync);
}

/* the loss of a candidate's statistics: squared relative errors of the mean rates, squared errors of the mean
 * LVs and of the mean SPIKE-distances (a statistic the candidate lacks scores 1) */
static double loss_of(const Stats *s, const Stats *target) {
  double l = 0.0;
  for (int g = 0; g < 2; ++g) {
    if (isfinite(target->mean_rate[g]) && target->mean_rate[g] > 0) {
      const double e = (s->mean_rate[g] - target->mean_rate[g]) / target->mean_rate[g];
      l += e * e;
    }
    if (isfinite(target->mean_lv[g])) {
      const double e = isfinite(s->mean_lv[g]) ? s->mean_lv[g] - target->mean_lv[g] : 1.0;
      l += e * e;
    }
  }
  for (int g = 0; g < 3; ++g)
    if (isfinite(target->sync[g])) {
      const double e = isfinite(s->sync[g]) ? s->sync[g] - target->sync[g] : 1.0;
      l += e * e;
    }
  return l;
}

/* One candidate under the noise of `trial` (1: the fit's): its loss (collective over the ranks when the cells are
 * split). */
static int evaluate(const Scorer *sc, const Stats *target, double p, double w, uint32_t trial, double *loss) {
  FfSpikeTrains s;
  Stats st_c;
  int st = ff_ei_net_run(sc->net, p, w, trial, &s);
  FF_CALL(st, stats_of(sc, &s, &st_c));
  ff_spike_trains_destroy(&s);
  if (st == FF_OK) *loss = loss_of(&st_c, target);
  return st;
}

/* Member i's loss under the fit's noise, as this rank adds it into the losses summed over the ranks (*share): member i
 * is scored by rank i mod ranks, or, when the cells are split, by every rank together and reported by rank 0; 0
 * elsewhere. A member run whole that fails scores 1e30; a split run's failure is every rank's and is returned. */
static int score_member(const FfRun *r, const Scorer *sc, const Stats *target, int split, int64_t i, double p, double w,
                        double *share) {
  double l = 0.0;
  int st = FF_OK;
  if (split || i % r->size == r->rank) {
    st = evaluate(sc, target, p, w, 1, &l);
    if (st != FF_OK && !split) {
      ff_error_clear();
      l = 1e30;
      st = FF_OK;
    }
  }
  *share = split && r->rank != 0 ? 0.0 : l;
  return st;
}

static double de_u(uint64_t seed, int64_t g, int64_t i, uint32_t what, int k) {
  uint32_t o[4];
  ff_rng4(seed, FF_STREAM_NETOPT_DE, (uint32_t)g, (uint32_t)i, what, o);
  return ff_u01(o[k]);
}

/* The interval of p w, by a parametric bootstrap along the determined direction: NOISE_TRIALS times, the fitted
 * network under a new noise draw (trial 2 + 2q) is taken as the target, and the loss of candidates under another
 * (trial 3 + 2q) is scanned at PROFILE factors 0.9 .. 1.1 of the best w (p held: only p w is determined), its
 * minimum refined by the parabola through the lowest grid point and its neighbours. The spread of those minima is
 * the estimate's spread under the noise of both the target and the candidates; the interval is the estimate +- 2 sd. */
enum { PROFILE = 21, NOISE_TRIALS = 8 };

typedef struct {
  double factor[PROFILE], loss[NOISE_TRIALS][PROFILE], pw[NOISE_TRIALS], pw_sd, pw_lo, pw_hi;
} Profile;

static double grid_factor(int k) { return 0.9 + 0.2 * k / (PROFILE - 1); }

/* Collective: every rank gets the profile of the best (p, w). */
static int profile_pw(const FfRun *r, const Scorer *sc, double p, double w, int split, Profile *pr) {
  enum { N = PROFILE * NOISE_TRIALS };
  double *mine = NULL, *all = NULL;
  int st = FF_MALLOC(mine, N, "profile");
  FF_CALL(st, FF_MALLOC(all, N, "profile"));
  for (int q = 0; q < NOISE_TRIALS; ++q) {
    Stats tq; /* the bootstrap's target: every rank computes it (collective when split) */
    FfSpikeTrains s;
    if (st == FF_OK) st = ff_ei_net_run(sc->net, p, w, (uint32_t)(2 + 2 * q), &s);
    if (st == FF_OK) {
      st = stats_of(sc, &s, &tq);
      ff_spike_trains_destroy(&s);
    }
    for (int k = 0; k < PROFILE; ++k) {
      const int x = q * PROFILE + k;
      double l = 0.0;
      if (st == FF_OK && (split || x % r->size == r->rank))
        st = evaluate(sc, &tq, p, w * grid_factor(k), (uint32_t)(3 + 2 * q), &l);
      if (mine) mine[x] = split && r->rank != 0 ? 0.0 : l;
    }
    if (split) st = ff_ranks_agree(st, r->comm);
  }
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, FF_MPI(MPI_Allreduce(mine, all, N, MPI_DOUBLE, MPI_SUM, r->comm)));
  double mean = 0.0, ss = 0.0;
  for (int q = 0; st == FF_OK && q < NOISE_TRIALS; ++q) {
    const double *l = all + q * PROFILE;
    int m = 0;
    for (int k = 1; k < PROFILE; ++k)
      if (l[k] < l[m]) m = k;
    double f = grid_factor(m);
    if (m > 0 && m < PROFILE - 1) { /* the vertex of the parabola through the three points */
      const double den = l[m - 1] - 2.0 * l[m] + l[m + 1];
      if (den > 0) f += 0.5 * (l[m - 1] - l[m + 1]) / den * (grid_factor(1) - grid_factor(0));
    }
    memcpy(pr->loss[q], l, sizeof pr->loss[q]);
    pr->pw[q] = p * w * f;
    mean += pr->pw[q] / NOISE_TRIALS;
  }
  for (int q = 0; st == FF_OK && q < NOISE_TRIALS; ++q) ss += (pr->pw[q] - mean) * (pr->pw[q] - mean);
  for (int k = 0; k < PROFILE; ++k) pr->factor[k] = grid_factor(k);
  pr->pw_sd = sqrt(ss / (NOISE_TRIALS - 1));
  pr->pw_lo = p * w - 2.0 * pr->pw_sd;
  pr->pw_hi = p * w + 2.0 * pr->pw_sd;
  free(mine);
  free(all);
  return st;
}

typedef struct {
  const FfRun *r;
  const FfEiNet *net;
  const Profile *prof;
  double lo[2], hi[2], best[2], best_loss, welch_p, ks_p, truth[2];
  int64_t np, gens, best_i;
  const double *hist, *rate_t, *lv_t, *rate_f, *lv_f, *sync_t, *sync_f;
  const FfSpikeTrains *spikes_t, *spikes_f;
  const char *target;
} Out;

static int write_trains(hid_t f, const char *group, const FfSpikeTrains *s) {
  char a[96], b[96];
  snprintf(a, sizeof a, "%s/spike_indptr", group);
  snprintf(b, sizeof b, "%s/spike_times", group);
  const int64_t ni = s->n + 1, ns = s->indptr[s->n];
  FF_TRY(ff_h5_write(f, a, H5T_NATIVE_INT64, 1, &ni, s->indptr));
  return ff_h5_write(f, b, H5T_NATIVE_DOUBLE, 1, &ns, s->times);
}

static int write_results(hid_t f, void *ctx) {
  const Out *o = ctx;
  const int64_t n = (int64_t)o->net->n_exc + o->net->n_inh, two = 2, three = 3, hs[2] = {o->np, o->gens + 1};
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-netopt-results-2"),
                        FF_ATTR_INT("n_exc", o->net->n_exc),
                        FF_ATTR_INT("n_inh", o->net->n_inh),
                        FF_ATTR_DOUBLE("duration_ms", o->net->duration_ms),
                        FF_ATTR_INT("seed", o->r->cfg.seed),
                        FF_ATTR_STRING("target", o->target),
                        FF_ATTR_STRING("split", o->r->cfg.netopt_split == FF_NETOPT_SPLIT_CELLS ? "cells" : "members"),
                        FF_ATTR_INT("spike_pairs", o->r->cfg.netopt_spike_pairs),
                        FF_ATTR_DOUBLE("p", o->best[0]),
                        FF_ATTR_DOUBLE("w", o->best[1]),
                        FF_ATTR_DOUBLE("target_p", o->truth[0]),
                        FF_ATTR_DOUBLE("target_w", o->truth[1]),
                        FF_ATTR_DOUBLE("loss", o->best_loss),
                        FF_ATTR_DOUBLE("welch_p", o->welch_p),
                        FF_ATTR_DOUBLE("lv_ks_p", o->ks_p),
                        FF_ATTR_DOUBLE("pw_lower", o->prof->pw_lo),
                        FF_ATTR_DOUBLE("pw_upper", o->prof->pw_hi),
                        FF_ATTR_DOUBLE("pw_sd", o->prof->pw_sd),
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
  FF_CALL(st, ff_h5_write(f, "/netopt/target_spike_distance", H5T_NATIVE_DOUBLE, 1, &three, o->sync_t));
  FF_CALL(st, ff_h5_write(f, "/netopt/fitted_spike_distance", H5T_NATIVE_DOUBLE, 1, &three, o->sync_f));
  const int64_t np_ = PROFILE, nn_ = NOISE_TRIALS, pd[2] = {NOISE_TRIALS, PROFILE};
  FF_CALL(st, ff_h5_write(f, "/netopt/profile/factor", H5T_NATIVE_DOUBLE, 1, &np_, o->prof->factor));
  FF_CALL(st, ff_h5_write(f, "/netopt/profile/loss", H5T_NATIVE_DOUBLE, 2, pd, o->prof->loss));
  FF_CALL(st, ff_h5_write(f, "/netopt/profile/pw", H5T_NATIVE_DOUBLE, 1, &nn_, o->prof->pw));
  FF_CALL(st, write_trains(f, "/netopt/target_spikes", o->spikes_t));
  FF_CALL(st, write_trains(f, "/netopt/fitted_spikes", o->spikes_f));
  return st;
}
/* The target's statistics: the planted network under trial 0's noise (computed alike on every rank), or the
 * recorded trains of [data] recording. */
static int target_stats(const FfRun *r, const Scorer *sc, FfSpikeTrains *s, Stats *t, double truth[2]) {
  const FfConfig *c = &r->cfg;
  if (c->recording[0]) {
    FF_TRY(ff_ei_net_read_target(c->recording, c->netopt_n_exc, c->netopt_n_inh, c->netopt_duration_ms, s, truth));
  } else {
    truth[0] = c->netopt_target_p;
    truth[1] = c->netopt_target_w;
    FF_TRY(ff_ei_net_run(sc->net, truth[0], truth[1], 0, s));
  }
  return stats_of(sc, s, t);
}

int ff_mode_netopt(FfRun *r) {
  const FfConfig *c = &r->cfg;
  const int split = c->netopt_split == FF_NETOPT_SPLIT_CELLS;
  double lo[2] = {0, 0}, hi[2] = {0, 0}, truth[2] = {NAN, NAN};
  FfEiNet net;
  FfSpikeTrains spikes_t, spikes_f;
  memset(&net, 0, sizeof net);
  memset(&spikes_t, 0, sizeof spikes_t);
  memset(&spikes_f, 0, sizeof spikes_f);
  int st = parse_bounds(c->netopt_bounds, lo, hi);
  st = ff_ranks_agree(st, r->comm);
  if (st == FF_OK) /* collective when split */
    st = ff_ei_net_create(&net, (int32_t)c->netopt_n_exc, (int32_t)c->netopt_n_inh, c->netopt_duration_ms,
                          (uint64_t)c->seed, split ? r->comm : MPI_COMM_NULL);
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
  Scorer sc = {&net, c->netopt_spike_pairs, (uint64_t)c->seed, floor(net.duration_ms + 0.5), rate, lv};
  Stats target;
  st = ff_ranks_agree(st, r->comm);
  FF_CALL(st, target_stats(r, &sc, &spikes_t, &target, truth));
  if (st == FF_OK) {
    memcpy(rate_t, rate, sizeof(double) * (size_t)n);
    memcpy(lv_t, lv, sizeof(double) * (size_t)n);
    ff_log("netopt: %lld excitatory and %lld inhibitory Izhikevich cells, %g ms; the target (%s) fires %.3g (E) and "
           "%.3g (I) Hz, LV %.3g and %.3g, SPIKE-distance %.3g (E-E), %.3g (I-I), %.3g (E-I) over %lld pairs each",
           (long long)c->netopt_n_exc, (long long)c->netopt_n_inh, net.duration_ms,
           c->recording[0] ? c->recording : "planted", target.mean_rate[0], target.mean_rate[1], target.mean_lv[0],
           target.mean_lv[1], target.sync[0], target.sync[1], target.sync[2], (long long)c->netopt_spike_pairs);
    if (!(target.mean_rate[0] > 0))
      st = c->recording[0] ? FF_ERROR(FF_ERR_INPUT, "'%s': its excitatory cells never fire: nothing to fit", c->recording)
                           : FF_ERROR(FF_ERR_INPUT, "[netopt] the planted network (target_p = %g, target_w = %g) does "
                                                    "not fire: nothing to fit", truth[0], truth[1]);
    ff_log("netopt: differential evolution over p in [%g, %g], w in [%g, %g]: a population of %lld, %lld generations; "
           "%s", lo[0], hi[0], lo[1], hi[1], (long long)NP, (long long)G,
           split ? "every candidate on all ranks, the cells split in blocks" : "the candidates spread over the ranks");
  }
  st = ff_ranks_agree(st, r->comm);
  FfProgress prog;
  if (st == FF_OK) ff_progress_start(&prog, "netopt", "generations", (double)G + 1, c->progress_s);
  for (int64_t i = 0; st == FF_OK && i < NP; ++i) {
    for (int k = 0; k < 2; ++k) pop[i * 2 + k] = lo[k] + de_u((uint64_t)c->seed, 0, i, 0, k) * (hi[k] - lo[k]);
    st = score_member(r, &sc, &target, split, i, pop[i * 2], pop[i * 2 + 1], &tl[i]);
  }
  if (st == FF_OK) st = FF_MPI(MPI_Allreduce(tl, loss, (int)NP, MPI_DOUBLE, MPI_SUM, r->comm)); /* one owner each */
  for (int64_t i = 0; st == FF_OK && i < NP; ++i) hist[i * (G + 1)] = loss[i];
  if (st == FF_OK) ff_progress_update(&prog, 1.0);
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
    for (int64_t i = 0; st == FF_OK && i < NP; ++i)
      st = score_member(r, &sc, &target, split, i, trial[i * 2], trial[i * 2 + 1], &tl[i]);
    st = ff_ranks_agree(st, r->comm);
    FF_CALL(st, FF_MPI(MPI_Allreduce(MPI_IN_PLACE, tl, (int)NP, MPI_DOUBLE, MPI_SUM, r->comm)));
    for (int64_t i = 0; st == FF_OK && i < NP; ++i) {
      if (tl[i] <= loss[i]) {
        loss[i] = tl[i];
        pop[i * 2] = trial[i * 2];
        pop[i * 2 + 1] = trial[i * 2 + 1];
      }
      hist[i * (G + 1) + g] = loss[i];
    }
    if (st == FF_OK) ff_progress_update(&prog, (double)g + 1);
  }
  st = ff_ranks_agree(st, r->comm);
  /* the best member under trial 1 on every rank (collective when split); rank 0 reports it */
  int64_t b = 0;
  for (int64_t i = 1; st == FF_OK && i < NP; ++i)
    if (loss[i] < loss[b]) b = i;
  Stats s;
  Profile prof;
  memset(&prof, 0, sizeof prof);
  if (st == FF_OK) st = profile_pw(r, &sc, pop[b * 2], pop[b * 2 + 1], split, &prof);
  if (st == FF_OK) st = ff_ei_net_run(&net, pop[b * 2], pop[b * 2 + 1], 1, &spikes_f);
  FF_CALL(st, stats_of(&sc, &spikes_f, &s));
  if (st == FF_OK && r->rank == 0) {
    Out o = {r, &net, &prof, {lo[0], lo[1]}, {hi[0], hi[1]}, {pop[b * 2], pop[b * 2 + 1]}, loss[b], 0, 0,
             {truth[0], truth[1]}, NP, G, b, hist, rate_t, lv_t, rate, lv, target.sync, s.sync, &spikes_t, &spikes_f,
             c->recording[0] ? c->recording : "planted"};
    o.welch_p = ff_welch_p(rate_t, n, rate, n);
    o.ks_p = ff_ks2_p(lv_t, n, lv, n);
    char path[FF_CONFIG_STR + 32];
    snprintf(path, sizeof path, "%s/results.h5", c->out_dir);
    st = ff_h5_write_atomic(path, write_results, &o);
    if (st == FF_OK) {
      const double pw = o.best[0] * o.best[1], tpw = truth[0] * truth[1];
      ff_log("netopt: best member %lld, loss %.6g: p = %.6g, w = %.6g, p w = %.6g (planted %.6g, %+.2f%%); rates "
             "%.3g (E) and %.3g (I) Hz, LV %.3g and %.3g, SPIKE-distance %.3g, %.3g, %.3g; Welch p = %.3g (rates), KS "
             "p = %.3g (LV); %lld evaluations in %.2f s",
             (long long)b, o.best_loss, o.best[0], o.best[1], pw, tpw, 100.0 * (pw - tpw) / tpw, s.mean_rate[0],
             s.mean_rate[1], s.mean_lv[0], s.mean_lv[1], s.sync[0], s.sync[1], s.sync[2], o.welch_p, o.ks_p,
             (long long)(NP * (G + 1)), MPI_Wtime() - t0);
      ff_log("netopt: p w in [%.6g, %.6g] (+- 2 sd, sd %.3g from a parametric bootstrap: the loss's minimum along w, %d "
             "draws of the fitted network's and the candidates' noise%s)", prof.pw_lo, prof.pw_hi, prof.pw_sd, NOISE_TRIALS,
             isfinite(tpw) ? (tpw >= prof.pw_lo && tpw <= prof.pw_hi ? "; holds the planted value" : "; misses the planted value")
                           : "");
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
  ff_spike_trains_destroy(&spikes_t);
  ff_spike_trains_destroy(&spikes_f);
  ff_ei_net_destroy(&net);
  return st;
}
