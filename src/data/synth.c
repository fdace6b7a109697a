/* Synthetic FlyWire-like brain and its export as Codex CSV (see include/flyfit/synth.h).
 * Every random number is ff_rng4(seed, stream, neuron, index, ...), a pure function of its key, so
 * any thread may build any neuron and the result never depends on the schedule or thread count.
 * Invariants: each row holds exactly its drawn degree, sorted by target, with no self or repeated
 * pair; neuropil indices are positions in the strcmp-sorted name table; the neuropil a connection's
 * synapses lie in is recomputable from (seed, neuron, position in row), which the CSV writer
 * (synth_files.c) uses. */
#include "flyfit/synth.h"
#include "flyfit/error.h"
#include "flyfit/rng.h"
#include "synth_gen.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Model constants. The lognormal widths give FlyWire-like tails: out-degree up to tens of times the
 * mean, in-degree likewise (targets are weighted by a per-neuron attractiveness), and synapse counts
 * with ~35% single-synapse connections, ~20% with 5 or more and a tail past a thousand. */
#define DEGREE_SIGMA 1.0
#define INWEIGHT_SIGMA 1.0
#define SYN_SIGMA 1.2
#define SYN_MAX 10000
#define P_HOME 0.62          /* target drawn from the source's own neuropil */
#define P_NEAR 0.33          /* from another neuropil, weight ~ size * exp(-distance / NEAR_LENGTH_UM) */
#define NEAR_LENGTH_UM 60.0  /* the remaining 5% are uniform over the whole brain */
#define P_SPLIT 0.2          /* connections (of >= 2 synapses) whose synapses lie in two neuropils */
#define MIXED_ROUNDS 8       /* rounds of redrawing duplicates before drawing uniformly ... */
#define UNIFORM_ROUNDS 8     /* ... and before filling a saturated row deterministically */
#define ROOT_ID_BASE 720575940600000000LL


/* ---- neuropil table ------------------------------------------------------------------------ */

/* Right-hemisphere centres (x > 0), rough positions in a 900 µm wide brain; weights are relative
 * neuron shares: the optic lobe (ME, LO, LOP, LA, AME) holds ~59% of neurons, as in FlyWire. */
typedef struct {
  const char *name;
  double x, y, z, weight;
} BaseNeuropil;

static const BaseNeuropil PAIRED[35] = {
    {"AL", 60, -20, 80, 2.0},     {"AME", 290, 20, 20, 0.5},   {"AMMC", 80, -60, 40, 0.3},
    {"AOTU", 150, 50, 60, 0.6},   {"ATL", 30, 40, -60, 0.2},   {"AVLP", 150, -20, 50, 2.5},
    {"BU", 70, 20, 30, 0.1},      {"CAN", 40, -60, -20, 0.2},  {"CRE", 50, 40, 40, 0.6},
    {"EPA", 100, 0, 0, 0.2},      {"FLA", 30, -80, 30, 0.3},   {"GA", 80, 10, 20, 0.1},
    {"GOR", 90, 20, 20, 0.2},     {"IB", 40, 20, -40, 0.5},    {"ICL", 100, 30, -10, 0.6},
    {"IPS", 110, -30, -40, 0.6},  {"LA", 400, 0, 0, 4.0},      {"LAL", 80, 0, 30, 0.6},
    {"LH", 160, 60, -30, 1.0},    {"LO", 270, -10, -30, 8.0},  {"LOP", 280, 0, -50, 5.0},
    {"ME", 330, 0, 0, 18.0},      {"MB_CA", 110, 80, -70, 1.2}, {"MB_ML", 40, 40, 40, 0.4},
    {"MB_PED", 100, 50, 0, 0.2},  {"MB_VL", 100, 80, 40, 0.4}, {"PLP", 170, 20, -40, 1.0},
    {"PVLP", 190, -20, 20, 1.5},  {"SCL", 120, 60, -20, 0.6},  {"SIP", 90, 70, 20, 0.5},
    {"SLP", 150, 80, -20, 1.5},   {"SMP", 40, 80, 10, 1.5},    {"SPS", 90, 0, -50, 1.0},
    {"VES", 80, -30, 20, 0.5},    {"WED", 140, -40, -10, 0.8}};

static const BaseNeuropil UNPAIRED[8] = {{"EB", 0, 20, 30, 0.5},   {"FB", 0, 40, -10, 1.5},
                                         {"GNG", 0, -100, 0, 3.0}, {"NO", 0, 10, -30, 0.2},
                                         {"OCG", 0, 110, -80, 0.1}, {"PB", 0, 60, -70, 0.3},
                                         {"PRW", 0, -60, 60, 0.3}, {"SAD", 0, -60, 0, 0.8}};

static int cmp_neuropil(const void *a, const void *b) {
  return strcmp(((const FfSynthNeuropil *)a)->name, ((const FfSynthNeuropil *)b)->name);
}

void ff_synth_neuropil_table(FfSynthNeuropil t[FF_SYNTH_NEUROPILS]) {
  int k = 0;
  double total = 0.0;
  for (int i = 0; i < 35; ++i)
    for (int side = 0; side < 2; ++side, ++k) {
      const BaseNeuropil *b = &PAIRED[i];
      snprintf(t[k].name, sizeof t[k].name, "%s_%s", b->name, side ? "R" : "L");
      t[k].centre[0] = side ? b->x : -b->x;
      t[k].centre[1] = b->y;
      t[k].centre[2] = b->z;
      t[k].share = b->weight;
      total += b->weight;
    }
  for (int i = 0; i < 8; ++i, ++k) {
    snprintf(t[k].name, sizeof t[k].name, "%s", UNPAIRED[i].name);
    t[k].centre[0] = UNPAIRED[i].x;
    t[k].centre[1] = UNPAIRED[i].y;
    t[k].centre[2] = UNPAIRED[i].z;
    t[k].share = UNPAIRED[i].weight;
    total += UNPAIRED[i].weight;
  }
  for (k = 0; k < NPIL; ++k) t[k].share /= total;
  qsort(t, NPIL, sizeof *t, cmp_neuropil);
}

void ff_synth_gen_free(Gen *g) {
  FF_FREE(g->region);
  FF_FREE(g->member_ptr);
  FF_FREE(g->member);
  FF_FREE(g->alias_prob);
  FF_FREE(g->alias);
}

/* Mean of min(ceil(X), SYN_MAX) for X ~ lognormal(mu, SYN_SIGMA): sum over t of Pr(X > t). */
static double syn_mean(double mu) {
  double m = 1.0;
  for (int t = 1; t < SYN_MAX; ++t) {
    double q = 0.5 * erfc((log((double)t) - mu) / (SYN_SIGMA * 1.4142135623730951));
    m += q;
    if (q < 1e-17) break;
  }
  return m;
}

static int options_check(const FfSynthOptions *o) {
  if (o->n_neurons < 1 || o->n_neurons >= INT32_MAX)
    return FF_ERROR(FF_ERR_INPUT, "the neuron count must be between 1 and %d, not %lld", INT32_MAX - 1,
                    (long long)o->n_neurons);
  if (!(o->mean_out_degree >= 0.0) || !isfinite(o->mean_out_degree))
    return FF_ERROR(FF_ERR_INPUT, "the mean out-degree must be a finite number >= 0, not %g", o->mean_out_degree);
  if (!(o->mean_synapses > 1.0 && o->mean_synapses < 1000.0))
    return FF_ERROR(FF_ERR_INPUT, "the mean synapse count per connection must be above 1 and below 1000, not %g",
                    o->mean_synapses);
  if (!(o->inhibitory_fraction >= 0.0 && o->inhibitory_fraction <= 1.0))
    return FF_ERROR(FF_ERR_INPUT, "the inhibitory fraction must be between 0 and 1, not %g", o->inhibitory_fraction);
  return FF_OK;
}

/* Regions get exact quotas (every neuropil non-empty once n >= 78) and are dealt out by a
 * Fisher-Yates shuffle, so neuron index carries no anatomical order, as in FlyWire. */
static int gen_regions(Gen *g) {
  const int64_t n = g->n;
  double want[NPIL];
  int64_t given = 0, base = n >= NPIL ? 1 : 0, rest = n - base * NPIL;
  for (int p = 0; p < NPIL; ++p) {
    want[p] = g->np[p].share * (double)rest;
    g->quota[p] = base + (int64_t)floor(want[p]);
    given += g->quota[p];
  }
  /* Largest remainders get the leftover neurons; ties go to the lower index. */
  while (given < n) {
    int best = 0;
    double bf = -1.0;
    for (int p = 0; p < NPIL; ++p) {
      double f = want[p] - floor(want[p]);
      if (f > bf) {
        bf = f;
        best = p;
      }
    }
    g->quota[best]++;
    want[best] = floor(want[best]); /* its remainder is used up */
    given++;
  }
  FF_TRY(FF_MALLOC(g->region, n, "synthetic neuron regions"));
  int64_t k = 0;
  for (int p = 0; p < NPIL; ++p)
    for (int64_t q = 0; q < g->quota[p]; ++q) g->region[k++] = (int16_t)p;
  for (int64_t j = n - 1; j > 0; --j) {
    uint32_t r[4];
    ff_rng4(g->seed, FF_STREAM_SYNTH_REGION, (uint32_t)j, 0, 0, r);
    int64_t s = (int64_t)(ff_u01_53(r[0], r[1]) * (double)(j + 1));
    if (s > j) s = j;
    int16_t t = g->region[j];
    g->region[j] = g->region[s];
    g->region[s] = t;
  }
  return FF_OK;
}

static void gen_near(Gen *g) {
  for (int p = 0; p < NPIL; ++p) {
    double acc = 0.0;
    for (int q = 0; q < NPIL; ++q) {
      if (q != p && g->quota[q] > 0) {
        double dx = g->np[p].centre[0] - g->np[q].centre[0], dy = g->np[p].centre[1] - g->np[q].centre[1],
               dz = g->np[p].centre[2] - g->np[q].centre[2];
        acc += (double)g->quota[q] * exp(-sqrt(dx * dx + dy * dy + dz * dz) / NEAR_LENGTH_UM);
      }
      g->near_cum[p][q] = acc;
    }
  }
}

int ff_synth_gen_init(Gen *g, const FfSynthOptions *o) {
  memset(g, 0, sizeof *g);
  FF_TRY(options_check(o));
  g->seed = o->seed;
  g->n = o->n_neurons;
  ff_synth_neuropil_table(g->np);
  FF_TRY(gen_regions(g));
  gen_near(g);
  g->deg_mu = o->mean_out_degree > 0 ? log(o->mean_out_degree) - 0.5 * DEGREE_SIGMA * DEGREE_SIGMA : -INFINITY;
  /* The mean of the discretised, capped lognormal has no closed form: bisect its mu. */
  double lo = -40.0, hi = log(o->mean_synapses) + 1.0;
  for (int it = 0; it < 100; ++it) {
    double mid = 0.5 * (lo + hi);
    if (syn_mean(mid) < o->mean_synapses) lo = mid;
    else hi = mid;
  }
  g->syn_mu = 0.5 * (lo + hi);
  return FF_OK;
}

/* Vose's alias construction for weights w[0..m) (overwritten): O(1) weighted draws afterwards.
 * Serial, so its floating-point results do not depend on the thread count. */
static void alias_build(double *w, int32_t *alias, int64_t m, int64_t *small, int64_t *large) {
  double total = 0.0;
  for (int64_t t = 0; t < m; ++t) total += w[t];
  int64_t ns = 0, nl = 0;
  for (int64_t t = 0; t < m; ++t) {
    w[t] *= (double)m / total;
    alias[t] = (int32_t)t;
    if (w[t] < 1.0) small[ns++] = t;
    else large[nl++] = t;
  }
  while (ns > 0 && nl > 0) {
    int64_t s = small[--ns], l = large[nl - 1];
    alias[s] = (int32_t)l; /* w[s] stays as the probability of keeping s */
    w[l] -= 1.0 - w[s];
    if (w[l] < 1.0) {
      --nl;
      small[ns++] = l;
    }
  }
  while (nl > 0) w[large[--nl]] = 1.0; /* rounding leftovers are full slots */
  while (ns > 0) w[small[--ns]] = 1.0;
}

/* Groups neurons by region, with alias tables of a lognormal attractiveness per neuron: weighted
 * target draws give a heavy-tailed in-degree, as in FlyWire. */
static int gen_members(Gen *g) {
  const int64_t n = g->n;
  FF_TRY(FF_CALLOC(g->member_ptr, NPIL + 1, "synthetic region offsets"));
  FF_TRY(FF_MALLOC(g->member, n, "synthetic region members"));
  FF_TRY(FF_MALLOC(g->alias_prob, n, "synthetic target weights"));
  FF_TRY(FF_MALLOC(g->alias, n, "synthetic target aliases"));
  for (int p = 0; p < NPIL; ++p) g->member_ptr[p + 1] = g->member_ptr[p] + g->quota[p];
  int64_t fill[NPIL];
  memcpy(fill, g->member_ptr, sizeof fill);
  for (int64_t j = 0; j < n; ++j) g->member[fill[g->region[j]]++] = (int32_t)j;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < n; ++t) {
    uint32_t r[4];
    ff_rng4(g->seed, FF_STREAM_SYNTH_NEURON, (uint32_t)g->member[t], 1, 0, r);
    g->alias_prob[t] = exp(INWEIGHT_SIGMA * ff_normal(r[0], r[1]));
  }
  int64_t *work;
  FF_TRY(FF_MALLOC(work, 2 * n, "alias table work lists"));
  for (int p = 0; p < NPIL; ++p) {
    int64_t b = g->member_ptr[p];
    alias_build(g->alias_prob + b, g->alias + b, g->quota[p], work, work + n);
  }
  free(work);
  return FF_OK;
}

/* ---- per-neuron and per-connection draws --------------------------------------------------- */

int64_t ff_synth_degree(const Gen *g, int64_t i) {
  uint32_t r[4];
  ff_rng4(g->seed, FF_STREAM_SYNTH_NEURON, (uint32_t)i, 0, 0, r);
  /* floor(x + u) with u uniform has expectation x: the mean degree is exact, not rounded. */
  double x = exp(g->deg_mu + DEGREE_SIGMA * ff_normal(r[0], r[1])) + ff_u01(r[2]);
  if (!(x < (double)(g->n - 1))) return g->n - 1;
  return (int64_t)x;
}

int ff_synth_inhibitory(const Gen *g, int64_t i, double fraction) {
  uint32_t r[4];
  ff_rng4(g->seed, FF_STREAM_SYNTH_NEURON, (uint32_t)i, 0, 0, r);
  return (uint64_t)r[3] < ff_bernoulli_threshold(fraction);
}

/* Returns a neuropil other than p, weighted by near_cum[p], or -1 when no other one has neurons. */
static int near_sample(const Gen *g, int p, double u) {
  const double *cum = g->near_cum[p];
  if (cum[NPIL - 1] <= 0.0) return -1;
  double x = u * cum[NPIL - 1];
  int lo = 0, hi = NPIL - 1;
  while (lo < hi) { /* first q with cum[q] > x; zero-weight entries (p itself) are never chosen */
    int mid = (lo + hi) / 2;
    if (cum[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

static int32_t member_sample(const Gen *g, int p, uint32_t slot_bits, uint32_t keep_bits) {
  int64_t b = g->member_ptr[p], t = (int64_t)(((uint64_t)slot_bits * (uint64_t)g->quota[p]) >> 32);
  if (ff_u01(keep_bits) >= g->alias_prob[b + t]) t = g->alias[b + t];
  return g->member[b + t];
}

static int32_t draw_target(const Gen *g, int64_t i, uint64_t draw, int uniform_only) {
  uint32_t r[4];
  ff_rng4(g->seed, FF_STREAM_SYNTH_TARGET, (uint32_t)i, (uint32_t)draw, (uint32_t)(draw >> 32), r);
  double u = ff_u01(r[0]);
  int p = -1;
  if (!uniform_only && u < P_HOME + P_NEAR) p = u < P_HOME ? g->region[i] : near_sample(g, g->region[i], ff_u01(r[1]));
  if (p >= 0 && g->quota[p] > 0) return member_sample(g, p, r[2], r[3]);
  return (int32_t)(((uint64_t)r[2] * (uint64_t)g->n) >> 32);
}

/* Plain int32 sort (quicksort, insertion sort below 24): rows are short and qsort's indirect
 * comparisons were a fifth of the generation time. */
static void sort_i32(int32_t *v, int64_t k) {
  while (k > 24) {
    int32_t a = v[0], b = v[k / 2], c = v[k - 1];
    int32_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
    int64_t lo = 0, hi = k - 1;
    while (lo <= hi) {
      while (v[lo] < pivot) ++lo;
      while (v[hi] > pivot) --hi;
      if (lo <= hi) {
        int32_t t = v[lo];
        v[lo++] = v[hi];
        v[hi--] = t;
      }
    }
    /* Recurse on the smaller side, loop on the larger: stack depth stays O(log k). */
    if (hi + 1 < k - lo) {
      sort_i32(v, hi + 1);
      v += lo;
      k -= lo;
    } else {
      sort_i32(v + lo, k - lo);
      k = hi + 1;
    }
  }
  for (int64_t t = 1; t < k; ++t) {
    int32_t x = v[t];
    int64_t u = t;
    for (; u > 0 && v[u - 1] > x; --u) v[u] = v[u - 1];
    v[u] = x;
  }
}

static int64_t sort_unique(int32_t *v, int64_t k) {
  sort_i32(v, k);
  int64_t m = 0;
  for (int64_t t = 0; t < k; ++t)
    if (m == 0 || v[t] != v[m - 1]) v[m++] = v[t];
  return m;
}

static int in_sorted(const int32_t *v, int64_t m, int32_t x) {
  int64_t lo = 0, hi = m;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < m && v[lo] == x;
}

/* Fills row[0..k) with k distinct targets != i, ascending. Duplicates are redrawn (later draws
 * continue the same counter sequence, so the outcome is still a function of the key); a row that
 * cannot be completed that way (its neuropils nearly saturated) is completed by walking the
 * remaining neurons from a random start. k <= n-1 guarantees termination. */
static void row_targets(const Gen *g, int64_t i, int32_t *row, int64_t k) {
  int64_t m = 0;
  uint64_t draw = 0;
  for (int round = 0; m < k; ++round) {
    if (round == MIXED_ROUNDS + UNIFORM_ROUNDS) {
      uint32_t r[4];
      ff_rng4(g->seed, FF_STREAM_SYNTH_FILL, (uint32_t)i, 0, 0, r);
      int64_t j = (int64_t)(ff_u01_53(r[0], r[1]) * (double)g->n) % g->n, t = m;
      for (int64_t seen = 0; t < k && seen < g->n; ++seen, j = (j + 1 == g->n ? 0 : j + 1))
        if (j != i && !in_sorted(row, m, (int32_t)j)) row[t++] = (int32_t)j;
      m = sort_unique(row, k);
      break;
    }
    for (int64_t t = m; t < k;) {
      int32_t j = draw_target(g, i, draw++, round >= MIXED_ROUNDS);
      if (j != i) row[t++] = j;
    }
    m = sort_unique(row, k);
  }
}

static int32_t conn_synapses(const Gen *g, int64_t i, int64_t e_local) {
  uint32_t r[4];
  ff_rng4(g->seed, FF_STREAM_SYNTH_COUNT, (uint32_t)i, (uint32_t)e_local, 0, r);
  double x = exp(g->syn_mu + SYN_SIGMA * ff_normal(r[0], r[1]));
  if (!(x < (double)SYN_MAX)) return SYN_MAX;
  int32_t s = (int32_t)ceil(x);
  return s < 1 ? 1 : s;
}

void ff_synth_place(const Gen *g, int64_t i, int64_t e_local, int32_t post, int32_t s, Placement *pl) {
  int16_t a = g->region[post];
  pl->parts = 1;
  pl->np[0] = a;
  pl->syn[0] = s;
  if (s < 2) return;
  uint32_t r[4];
  ff_rng4(g->seed, FF_STREAM_SYNTH_SPLIT, (uint32_t)i, (uint32_t)e_local, 0, r);
  if ((uint64_t)r[0] >= ff_bernoulli_threshold(P_SPLIT)) return;
  int b = g->region[i] != a ? g->region[i] : near_sample(g, a, ff_u01(r[2]));
  if (b < 0 || b == a) return;
  int32_t sb = 1 + (int32_t)(ff_u01(r[1]) * (double)(s / 2));
  pl->parts = 2;
  pl->np[1] = (int16_t)b;
  pl->syn[0] = s - sb;
  pl->syn[1] = sb;
}

/* Presynaptic synapses per neuropil of neuron i; returns how many neuropils are nonzero, or -1 if a
 * sum does not fit in int32. */
static int row_neuropils(const Gen *g, const FfConnectome *c, int64_t i, int64_t acc[NPIL]) {
  memset(acc, 0, NPIL * sizeof *acc);
  for (int64_t e = c->indptr[i]; e < c->indptr[i + 1]; ++e) {
    Placement pl;
    int32_t s = c->count[e] < 0 ? -c->count[e] : c->count[e];
    ff_synth_place(g, i, e - c->indptr[i], c->post[e], s, &pl);
    for (int q = 0; q < pl.parts; ++q) acc[pl.np[q]] += pl.syn[q];
  }
  int nz = 0;
  for (int p = 0; p < NPIL; ++p) {
    if (acc[p] > INT32_MAX) return -1;
    nz += acc[p] > 0;
  }
  return nz;
}

/* ---- generation ---------------------------------------------------------------------------- */

void ff_synth_defaults(FfSynthOptions *o) {
  memset(o, 0, sizeof *o);
  o->n_neurons = 138639;
  o->seed = 1;
  o->root_ids = NULL;
  o->mean_out_degree = 108.9;
  o->mean_synapses = 3.61;
  o->inhibitory_fraction = 0.27;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int set_root_ids(const Gen *g, const FfSynthOptions *o, FfConnectome *c) {
  const int64_t n = g->n;
  FF_TRY(FF_MALLOC(c->root_id, n, "root ids"));
  if (o->root_ids) {
    memcpy(c->root_id, o->root_ids, (size_t)n * sizeof *c->root_id);
    int64_t *sorted;
    FF_TRY(FF_MALLOC(sorted, n, "sorted root ids"));
    memcpy(sorted, c->root_id, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
    for (int64_t j = 1; j < n; ++j)
      if (sorted[j] == sorted[j - 1]) {
        long long dup = (long long)sorted[j];
        free(sorted);
        return FF_ERROR(FF_ERR_INPUT, "root id %lld is given twice; root ids must be unique", dup);
      }
    free(sorted);
    return FF_OK;
  }
  /* Ascending ids with the FlyWire prefix: 10^8 values are spread over the neurons, jittered. */
  int64_t stride = n <= 100000000 ? 100000000 / n : 1;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    uint32_t r[4];
    ff_rng4(g->seed, FF_STREAM_SYNTH_ROOT, (uint32_t)j, 0, 0, r);
    c->root_id[j] = ROOT_ID_BASE + j * stride + (stride > 1 ? (int64_t)(r[0] % (uint32_t)stride) : 0);
  }
  return FF_OK;
}

static int generate(Gen *g, const FfSynthOptions *o, FfConnectome *c) {
  const int64_t n = g->n;
  FF_TRY(gen_members(g));
  c->n = n;
  FF_TRY(FF_CALLOC(c->indptr, n + 1, "connection offsets"));
  FF_TRY(FF_CALLOC(c->np_indptr, n + 1, "neuropil table offsets"));
  FF_TRY(FF_MALLOC(c->home, n, "home neuropils"));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) c->indptr[i + 1] = ff_synth_degree(g, i);
  for (int64_t i = 0; i < n; ++i) c->indptr[i + 1] += c->indptr[i];
  const int64_t n_conn = c->indptr[n];
  FF_TRY(FF_MALLOC(c->post, n_conn, "connection targets"));
  FF_TRY(FF_MALLOC(c->count, n_conn, "synapse counts"));

  int overflow = 0;
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t start = c->indptr[i], k = c->indptr[i + 1] - start;
    const int sign = ff_synth_inhibitory(g, i, o->inhibitory_fraction) ? -1 : 1;
    row_targets(g, i, c->post + start, k);
    for (int64_t t = 0; t < k; ++t) c->count[start + t] = sign * conn_synapses(g, i, t);
    int64_t acc[NPIL];
    int nz = row_neuropils(g, c, i, acc);
    if (nz < 0) {
#pragma omp atomic write
      overflow = 1;
      nz = 0;
    }
    c->np_indptr[i + 1] = nz;
  }
  if (overflow)
    return FF_ERROR(FF_ERR_INPUT, "a neuron has more than 2^31 synapses in one neuropil; lower the degree or synapse mean");
  for (int64_t i = 0; i < n; ++i) c->np_indptr[i + 1] += c->np_indptr[i];
  const int64_t nnz = c->np_indptr[n];
  FF_TRY(FF_MALLOC(c->np_id, nnz, "neuropil table ids"));
  FF_TRY(FF_MALLOC(c->np_syn, nnz, "neuropil table synapses"));
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; ++i) {
    int64_t acc[NPIL], w = c->np_indptr[i];
    row_neuropils(g, c, i, acc);
    for (int p = 0; p < NPIL; ++p)
      if (acc[p] > 0) {
        c->np_id[w] = (int16_t)p;
        c->np_syn[w++] = (int32_t)acc[p];
      }
  }

  c->n_neuropils = NPIL;
  FF_TRY(FF_CALLOC(c->neuropil_names, NPIL, "neuropil names"));
  for (int p = 0; p < NPIL; ++p) {
    FF_TRY(FF_MALLOC(c->neuropil_names[p], strlen(g->np[p].name) + 1, "a neuropil name"));
    strcpy(c->neuropil_names[p], g->np[p].name);
  }
  FF_TRY(set_root_ids(g, o, c));
  FF_TRY(ff_connectome_set_home(c));
  snprintf(c->source, sizeof c->source, "flyfit-synth seed=%llu", (unsigned long long)o->seed);
  snprintf(c->release, sizeof c->release, "synthetic");
  return FF_OK;
}

int ff_synth_generate(const FfSynthOptions *o, FfConnectome *c) {
  Gen g;
  memset(c, 0, sizeof *c);
  int st = ff_synth_gen_init(&g, o);
  FF_CALL(st, generate(&g, o, c));
  ff_synth_gen_free(&g);
  if (st != FF_OK) ff_connectome_destroy(c);
  return st;
}

/* ---- statistics ---------------------------------------------------------------------------- */

int ff_synth_stats(const FfConnectome *c, FfSynthStats *s) {
  memset(s, 0, sizeof *s);
  const int64_t n = c->n, e_all = ff_connectome_n_conn(c);
  int32_t *in;
  FF_TRY(FF_CALLOC(in, n, "in-degrees"));
  int64_t syn = 0, max_syn = 0, le2 = 0, ge100 = 0, max_deg = 0, home_same = 0, senders = 0, inhib = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t deg = c->indptr[i + 1] - c->indptr[i];
    if (deg > max_deg) max_deg = deg;
    if (deg > 0) {
      senders++;
      inhib += c->count[c->indptr[i]] < 0;
    }
    for (int64_t e = c->indptr[i]; e < c->indptr[i + 1]; ++e) {
      int64_t a = c->count[e] < 0 ? -(int64_t)c->count[e] : c->count[e];
      syn += a;
      if (a > max_syn) max_syn = a;
      le2 += a <= 2;
      ge100 += a >= 100;
      in[c->post[e]]++;
      home_same += c->home && c->home[i] >= 0 && c->home[i] == c->home[c->post[e]];
    }
  }
  for (int64_t j = 0; j < n; ++j)
    if (in[j] > s->max_in_degree) s->max_in_degree = in[j];
  free(in);
  s->neurons = n;
  s->connections = e_all;
  s->synapses = syn;
  s->mean_out_degree = n > 0 ? (double)e_all / (double)n : 0.0;
  s->max_out_degree = max_deg;
  s->mean_synapses = e_all > 0 ? (double)syn / (double)e_all : 0.0;
  s->max_synapses = max_syn;
  s->share_le2_synapses = e_all > 0 ? (double)le2 / (double)e_all : 0.0;
  s->conn_ge100_synapses = ge100;
  s->inhibitory_fraction = senders > 0 ? (double)inhib / (double)senders : 0.0;
  s->home_share = e_all > 0 ? (double)home_same / (double)e_all : 0.0;
  s->neuropil_entries = c->np_indptr ? c->np_indptr[n] : 0;
  return FF_OK;
}

