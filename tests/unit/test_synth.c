/* Tests of the synthetic brain generator (src/data/synth.c): connectome invariants, determinism across
 * seeds and thread counts, FlyWire-like statistics at N = 20000 computed here from the raw arrays,
 * and the Codex CSV export read back by an independent parser in this file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/synth.h"

static FfConnectome make(int64_t n, uint64_t seed) {
  FfSynthOptions o;
  FfConnectome c;
  ff_synth_defaults(&o);
  o.n_neurons = n;
  o.seed = seed;
  int st = ff_synth_generate(&o, &c);
  if (st) print_error("%s\n", ff_error_message());
  assert_int_equal(st, FF_OK);
  return c;
}

static int same_connectome(const FfConnectome *a, const FfConnectome *b) {
  int64_t n = a->n, e = ff_connectome_n_conn(a);
  if (b->n != n || ff_connectome_n_conn(b) != e || a->np_indptr[n] != b->np_indptr[n]) return 0;
  int64_t nnz = a->np_indptr[n];
  return !memcmp(a->root_id, b->root_id, (size_t)n * 8) && !memcmp(a->home, b->home, (size_t)n * 2) &&
         !memcmp(a->indptr, b->indptr, (size_t)(n + 1) * 8) && !memcmp(a->post, b->post, (size_t)e * 4) &&
         !memcmp(a->count, b->count, (size_t)e * 4) && !memcmp(a->np_indptr, b->np_indptr, (size_t)(n + 1) * 8) &&
         !memcmp(a->np_id, b->np_id, (size_t)nnz * 2) && !memcmp(a->np_syn, b->np_syn, (size_t)nnz * 4);
}

/* The 78 FlyWire neuropil names, written out independently of the generator's table. */
static const char *PAIRED[35] = {"AL",  "AME", "AMMC", "AOTU",  "ATL",   "AVLP", "BU",  "CAN", "CRE",
                                 "EPA", "FLA", "GA",   "GOR",   "IB",    "ICL",  "IPS", "LA",  "LAL",
                                 "LH",  "LO",  "LOP",  "ME",    "MB_CA", "MB_ML", "MB_PED", "MB_VL", "PLP",
                                 "PVLP", "SCL", "SIP", "SLP",   "SMP",   "SPS",  "VES", "WED"};
static const char *UNPAIRED[8] = {"EB", "FB", "GNG", "NO", "OCG", "PB", "PRW", "SAD"};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_neuropils_named_and_sorted(void **state) {
  (void)state;
  char names[78][16];
  char *sorted[78];
  int k = 0;
  for (int i = 0; i < 35; ++i) {
    snprintf(names[k], 16, "%s_L", PAIRED[i]);
    sorted[k] = names[k], ++k;
    snprintf(names[k], 16, "%s_R", PAIRED[i]);
    sorted[k] = names[k], ++k;
  }
  for (int i = 0; i < 8; ++i) snprintf(names[k], 16, "%s", UNPAIRED[i]), sorted[k] = names[k], ++k;
  qsort(sorted, 78, sizeof *sorted, cmp_str);

  FfConnectome c = make(3000, 1);
  assert_int_equal(c.n_neuropils, 78);
  for (int p = 0; p < 78; ++p) assert_string_equal(c.neuropil_names[p], sorted[p]);
  /* Every neuropil holds synapses (an importer only sees neuropils that occur in the CSV). */
  int64_t used[78] = {0};
  for (int64_t t = 0; t < c.np_indptr[c.n]; ++t) used[c.np_id[t]] += c.np_syn[t];
  for (int p = 0; p < 78; ++p) assert_true(used[p] > 0);

  FfSynthNeuropil t[FF_SYNTH_NEUROPILS];
  ff_synth_neuropil_table(t);
  double optic = 0.0, total = 0.0;
  for (int p = 0; p < 78; ++p) {
    assert_string_equal(t[p].name, sorted[p]);
    total += t[p].share;
    const char *nm = t[p].name;
    if (!strncmp(nm, "ME_", 3) || !strncmp(nm, "LO_", 3) || !strncmp(nm, "LOP_", 4) || !strncmp(nm, "LA_", 3) ||
        !strncmp(nm, "AME_", 4))
      optic += t[p].share;
    size_t len = strlen(nm);
    if (len > 2 && nm[len - 2] == '_') { /* mirror images */
      char other[16];
      snprintf(other, sizeof other, "%.*s_%c", (int)len - 2, nm, nm[len - 1] == 'L' ? 'R' : 'L');
      for (int q = 0; q < 78; ++q)
        if (!strcmp(t[q].name, other)) {
          assert_true(t[q].centre[0] == -t[p].centre[0] && t[q].centre[0] != 0.0);
          assert_true(t[q].centre[1] == t[p].centre[1] && t[q].centre[2] == t[p].centre[2]);
        }
    }
  }
  assert_true(fabs(total - 1.0) < 1e-9);
  assert_true(optic > 0.5 && optic < 0.7);
  ff_connectome_destroy(&c);
}

static void test_valid_and_deterministic(void **state) {
  (void)state;
  FfConnectome a = make(5000, 7), b = make(5000, 7), d = make(5000, 8);
  assert_int_equal(ff_connectome_validate(&a, "synthetic"), FF_OK);
  assert_int_equal(ff_connectome_validate(&d, "synthetic"), FF_OK);
  assert_true(same_connectome(&a, &b));
  assert_false(same_connectome(&a, &d));
  int64_t e = ff_connectome_n_conn(&a) < ff_connectome_n_conn(&d) ? ff_connectome_n_conn(&a) : ff_connectome_n_conn(&d);
  int64_t equal = 0;
  for (int64_t t = 0; t < e; ++t) equal += a.post[t] == d.post[t];
  assert_true(equal < e / 10); /* not a shifted copy: the seeds give different wiring */
  assert_string_equal(a.source, "flyfit-synth seed=7");
  assert_string_equal(a.release, "synthetic");
  for (int64_t i = 0; i < a.n; ++i) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)a.root_id[i]);
    assert_int_equal(strlen(buf), 18);
    assert_memory_equal(buf, "7205759406", 10);
    if (i > 0) assert_true(a.root_id[i] > a.root_id[i - 1]);
  }
  ff_connectome_destroy(&a);
  ff_connectome_destroy(&b);
  ff_connectome_destroy(&d);
}

static void test_thread_count_independent(void **state) {
  (void)state;
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  FfConnectome a = make(8000, 3);
  omp_set_num_threads(2);
  FfConnectome b = make(8000, 3);
  omp_set_num_threads(5); /* more threads than cores: a different schedule again */
  FfConnectome d = make(8000, 3);
  omp_set_num_threads(saved);
  assert_true(same_connectome(&a, &b));
  assert_true(same_connectome(&a, &d));
  ff_connectome_destroy(&a);
  ff_connectome_destroy(&b);
  ff_connectome_destroy(&d);
}

/* Statistics computed here from the raw arrays, compared with the FlyWire 783 targets. */
static void test_statistics_flywire_like(void **state) {
  (void)state;
  const int64_t n = 20000;
  FfConnectome c = make(n, 1);
  FfSynthNeuropil t[FF_SYNTH_NEUROPILS];
  ff_synth_neuropil_table(t);
  int64_t e_all = ff_connectome_n_conn(&c), syn = 0, max_deg = 0, max_syn = 0, small = 0, senders = 0, inhib = 0;
  int64_t same = 0, near = 0, with_home = 0, optic = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t deg = c.indptr[i + 1] - c.indptr[i];
    if (deg > max_deg) max_deg = deg;
    int neg = 0;
    for (int64_t e = c.indptr[i]; e < c.indptr[i + 1]; ++e) {
      int64_t s = llabs((long long)c.count[e]);
      neg += c.count[e] < 0;
      syn += s;
      if (s > max_syn) max_syn = s;
      small += s <= 2;
      int hp = c.home[i], hq = c.home[c.post[e]];
      if (hp < 0 || hq < 0) continue;
      with_home++;
      same += hp == hq;
      double dx = t[hp].centre[0] - t[hq].centre[0], dy = t[hp].centre[1] - t[hq].centre[1],
             dz = t[hp].centre[2] - t[hq].centre[2];
      near += sqrt(dx * dx + dy * dy + dz * dz) <= 150.0;
    }
    assert_true(neg == 0 || neg == deg); /* a neuron's connections all have its sign */
    if (deg > 0) senders++, inhib += neg > 0;
    const char *h = c.home[i] >= 0 ? c.neuropil_names[c.home[i]] : "";
    optic += !strncmp(h, "ME_", 3) || !strncmp(h, "LO", 2) || !strncmp(h, "LA_", 3) || !strncmp(h, "AME_", 4);
  }
  double mean_deg = (double)e_all / (double)n, mean_syn = (double)syn / (double)e_all;
  double f_inh = (double)inhib / (double)senders, f_same = (double)same / (double)with_home;
  double f_near = (double)near / (double)with_home, f_optic = (double)optic / (double)n;
  /* What the locality would be if targets were drawn at random in proportion to neuropil size. */
  double rand_same = 0.0, rand_near = 0.0;
  for (int p = 0; p < 78; ++p)
    for (int q = 0; q < 78; ++q) {
      double dx = t[p].centre[0] - t[q].centre[0], dy = t[p].centre[1] - t[q].centre[1],
             dz = t[p].centre[2] - t[q].centre[2];
      rand_same += p == q ? t[p].share * t[q].share : 0.0;
      rand_near += sqrt(dx * dx + dy * dy + dz * dz) <= 150.0 ? t[p].share * t[q].share : 0.0;
    }
  print_message("# N=%lld: degree %.2f (max %lld), synapses %.3f (max %lld, %.2f with 1-2), inhibitory %.3f\n",
                (long long)n, mean_deg, (long long)max_deg, mean_syn, (long long)max_syn,
                (double)small / (double)e_all, f_inh);
  print_message("# same home %.3f (random %.3f), within 150 um %.3f (random %.3f), optic-lobe homes %.3f\n", f_same,
                rand_same, f_near, rand_near, f_optic);
  assert_true(fabs(mean_deg / 108.9 - 1.0) < 0.05);
  assert_true(fabs(mean_syn / 3.61 - 1.0) < 0.05);
  assert_true(fabs(f_inh - 0.27) < 0.03);
  assert_true(max_deg > 15 * mean_deg);   /* heavy-tailed out-degree */
  assert_true(max_syn >= 300);            /* long tail of strong connections ... */
  assert_true(small > e_all * 4 / 10);    /* ... over many 1-2 synapse ones */
  assert_true(f_same > 0.45 && f_same > 4 * rand_same);
  assert_true(f_near > 0.8 && f_near > rand_near + 0.2);
  assert_true(f_optic > 0.5);

  FfSynthStats s;
  assert_int_equal(ff_synth_stats(&c, &s), FF_OK);
  assert_int_equal(s.connections, e_all);
  assert_int_equal(s.synapses, syn);
  assert_int_equal(s.max_out_degree, max_deg);
  assert_true(fabs(s.inhibitory_fraction - f_inh) < 1e-12);
  assert_true(fabs(s.home_share - (double)same / (double)e_all) < 1e-12);
  ff_connectome_destroy(&c);
}

/* Small and saturated brains: fewer neurons than neuropils, and a mean degree far above n-1 (every
 * row must then hold all n-1 other neurons, which exercises the deterministic fill). */
static void test_small_and_saturated(void **state) {
  (void)state;
  FfSynthOptions o;
  FfConnectome c;
  ff_synth_defaults(&o);
  o.n_neurons = 1;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  assert_int_equal(ff_connectome_n_conn(&c), 0);
  assert_int_equal(c.home[0], -1);
  ff_connectome_destroy(&c);

  o.n_neurons = 40;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  assert_int_equal(ff_connectome_validate(&c, "n=40"), FF_OK);
  ff_connectome_destroy(&c);

  o.n_neurons = 300;
  o.mean_out_degree = 1e6;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  assert_int_equal(ff_connectome_validate(&c, "saturated"), FF_OK);
  for (int64_t i = 0; i < c.n; ++i) assert_int_equal(c.indptr[i + 1] - c.indptr[i], 299);
  ff_connectome_destroy(&c);

  o.n_neurons = 500;
  o.mean_out_degree = 0.0;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  assert_int_equal(ff_connectome_n_conn(&c), 0);
  ff_connectome_destroy(&c);
}

static void test_bad_options(void **state) {
  (void)state;
  FfSynthOptions o;
  FfConnectome c;
  ff_synth_defaults(&o);
  o.n_neurons = 0;
  assert_int_equal(ff_synth_generate(&o, &c), FF_ERR_INPUT);
  ff_synth_defaults(&o);
  o.mean_synapses = 1.0;
  assert_int_equal(ff_synth_generate(&o, &c), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "synapse"));
  ff_synth_defaults(&o);
  o.inhibitory_fraction = 1.5;
  assert_int_equal(ff_synth_generate(&o, &c), FF_ERR_INPUT);
  ff_synth_defaults(&o);
  int64_t ids[4] = {11, 12, 13, 12};
  o.n_neurons = 4;
  o.root_ids = ids;
  assert_int_equal(ff_synth_generate(&o, &c), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "12"));
}

static void test_given_root_ids(void **state) {
  (void)state;
  FfSynthOptions o;
  FfConnectome c;
  ff_synth_defaults(&o);
  int64_t ids[200];
  for (int i = 0; i < 200; ++i) ids[i] = 720575940596125868LL - 7919LL * i; /* descending, as a real list may be */
  o.n_neurons = 200;
  o.root_ids = ids;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  assert_memory_equal(c.root_id, ids, sizeof ids);
  ff_connectome_destroy(&c);
}

/* ---- Codex CSV read back by a parser independent of the importer ---------------------------- */

static int64_t find_root(const FfConnectome *c, int64_t id) {
  for (int64_t i = 0; i < c->n; ++i)
    if (c->root_id[i] == id) return i;
  return -1;
}

/* Rebuilds count and the neuropil table from the CSV and compares them with c. */
static void check_codex(const FfConnectome *c, const char *path) {
  gzFile f = gzopen(path, "rb"); /* reads plain files too */
  assert_non_null(f);
  char line[256];
  assert_non_null(gzgets(f, line, sizeof line));
  assert_string_equal(line, "pre_root_id,post_root_id,neuropil,syn_count,nt_type\n");
  int64_t e_all = ff_connectome_n_conn(c), nnz = c->np_indptr[c->n];
  int32_t *sum = calloc((size_t)e_all + 1, sizeof *sum);
  int64_t *np = calloc((size_t)nnz + 1, sizeof *np);
  assert_non_null(sum);
  assert_non_null(np);
  int64_t rows = 0, split_pairs = 0, last_pre = -1, last_post = -1;
  while (gzgets(f, line, sizeof line)) {
    long long pre_id, post_id;
    int syn;
    char name[32], nt[16];
    assert_int_equal(sscanf(line, "%lld,%lld,%31[^,],%d,%15s", &pre_id, &post_id, name, &syn, nt), 5);
    int64_t i = find_root(c, pre_id), j = find_root(c, post_id);
    assert_true(i >= 0 && j >= 0 && syn > 0);
    int64_t e = c->indptr[i];
    while (e < c->indptr[i + 1] && c->post[e] != j) ++e;
    assert_true(e < c->indptr[i + 1]); /* the pair is a connection of the connectome */
    sum[e] += syn;
    int inhibitory = !strcmp(nt, "GABA") || !strcmp(nt, "GLUT");
    assert_true(inhibitory || !strcmp(nt, "ACH") || !strcmp(nt, "DA") || !strcmp(nt, "SER") || !strcmp(nt, "OCT"));
    assert_int_equal(inhibitory, c->count[e] < 0);
    int p = 0;
    while (p < c->n_neuropils && strcmp(c->neuropil_names[p], name)) ++p;
    assert_true(p < c->n_neuropils);
    int64_t t = c->np_indptr[i];
    while (t < c->np_indptr[i + 1] && c->np_id[t] != p) ++t;
    assert_true(t < c->np_indptr[i + 1]);
    np[t] += syn;
    split_pairs += pre_id == last_pre && post_id == last_post;
    last_pre = pre_id;
    last_post = post_id;
    rows++;
  }
  assert_true(gzeof(f));
  gzclose(f);
  for (int64_t e = 0; e < e_all; ++e) assert_int_equal(sum[e], abs(c->count[e]));
  for (int64_t t = 0; t < nnz; ++t) assert_int_equal(np[t], c->np_syn[t]);
  assert_true(split_pairs > e_all / 20); /* some pairs have rows in two neuropils */
  free(sum);
  free(np);
}

static void test_codex_round_trip(void **state) {
  (void)state;
  FfSynthOptions o;
  FfConnectome c;
  ff_synth_defaults(&o);
  o.n_neurons = 600;
  o.seed = 42;
  assert_int_equal(ff_synth_generate(&o, &c), FF_OK);
  char dir[] = "/tmp/flyfit-test-synth.XXXXXX", plain[128], gz[128], list[128];
  assert_non_null(mkdtemp(dir));
  snprintf(plain, sizeof plain, "%s/c.csv", dir);
  snprintf(gz, sizeof gz, "%s/c.csv.gz", dir);
  snprintf(list, sizeof list, "%s/n.csv", dir);
  assert_int_equal(ff_synth_write_codex(&c, &o, plain), FF_OK);
  assert_int_equal(ff_synth_write_codex(&c, &o, gz), FF_OK);
  check_codex(&c, plain);
  check_codex(&c, gz);

  /* The .gz file is the plain file compressed. */
  gzFile a = gzopen(plain, "rb"), b = gzopen(gz, "rb");
  static char ba[1 << 16], bb[1 << 16];
  int na, nb;
  do {
    na = gzread(a, ba, sizeof ba);
    nb = gzread(b, bb, sizeof bb);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, (size_t)(na > 0 ? na : 0));
  } while (na > 0);
  gzclose(a);
  gzclose(b);

  assert_int_equal(ff_synth_write_neuron_list(&c, list), FF_OK);
  FILE *f = fopen(list, "r");
  char line[64];
  assert_non_null(fgets(line, sizeof line, f));
  assert_string_equal(line, ",Completed\n");
  for (int64_t i = 0; i < c.n; ++i) {
    char want[64];
    snprintf(want, sizeof want, "%lld,True\n", (long long)c.root_id[i]);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, want);
  }
  assert_null(fgets(line, sizeof line, f));
  fclose(f);

  /* Options other than those it was made with cannot place the synapses: refused, file untouched. */
  o.seed = 43;
  assert_int_equal(ff_synth_write_codex(&c, &o, plain), FF_ERR_INPUT);
  check_codex(&c, plain);
  unlink(plain);
  unlink(gz);
  unlink(list);
  rmdir(dir);
  ff_connectome_destroy(&c);
}

static void test_stats_closed_form(void **state) {
  (void)state;
  /* 0 -> 1 (3 syn), 0 -> 2 (1 syn), 2 -> 0 (-120 syn); homes 0, 1, 0. */
  int64_t root[3] = {1, 2, 3}, indptr[4] = {0, 2, 2, 3}, npp[4] = {0, 1, 1, 2};
  int32_t post[3] = {1, 2, 0}, count[3] = {3, 1, -120}, nps[2] = {4, 120};
  int16_t home[3] = {0, 1, 0}, npi[2] = {0, 0};
  FfConnectome c = {.n = 3, .root_id = root, .home = home, .indptr = indptr, .post = post, .count = count,
                    .n_neuropils = 2, .np_indptr = npp, .np_id = npi, .np_syn = nps};
  FfSynthStats s;
  assert_int_equal(ff_synth_stats(&c, &s), FF_OK);
  assert_int_equal(s.connections, 3);
  assert_int_equal(s.synapses, 124);
  assert_int_equal(s.max_out_degree, 2);
  assert_int_equal(s.max_in_degree, 1);
  assert_int_equal(s.max_synapses, 120);
  assert_int_equal(s.conn_ge100_synapses, 1);
  assert_true(fabs(s.mean_out_degree - 1.0) < 1e-12);
  assert_true(fabs(s.share_le2_synapses - 1.0 / 3.0) < 1e-12);
  assert_true(fabs(s.inhibitory_fraction - 0.5) < 1e-12);
  assert_true(fabs(s.home_share - 2.0 / 3.0) < 1e-12); /* 0->2 and 2->0 stay in neuropil 0 */
  assert_int_equal(s.neuropil_entries, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_neuropils_named_and_sorted), cmocka_unit_test(test_valid_and_deterministic),
      cmocka_unit_test(test_thread_count_independent),   cmocka_unit_test(test_statistics_flywire_like),
      cmocka_unit_test(test_small_and_saturated),        cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_given_root_ids),             cmocka_unit_test(test_codex_round_trip),
      cmocka_unit_test(test_stats_closed_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
