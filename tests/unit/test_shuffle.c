/* The degree-preserving shuffle (shuffle.h) on a synthetic brain, checked by counting: every
 * neuron keeps its out-degree, in-degree, outgoing synapse counts (as a multiset, so its sign and
 * totals) and neuropil table; there are no self-connections or repeats; what stays of the wiring
 * is the chance overlap expected from the degrees, and its neuropil locality falls to what
 * degree-preserving randomness gives (both expectations computed here from the degrees); the
 * result depends on the seed and only on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

#include "flyfit/shuffle.h"
#include "flyfit/synth.h"

static FfConnectome brain;

static int setup(void **state) {
  (void)state;
  FfSynthOptions o;
  ff_synth_defaults(&o);
  o.n_neurons = 1500;
  o.seed = 4;
  return ff_synth_generate(&o, &brain);
}

static int teardown(void **state) {
  (void)state;
  ff_connectome_destroy(&brain);
  return 0;
}

static int cmp_i32(const void *a, const void *b) {
  const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Share of connections whose target's home neuropil is the source's. */
static double home_share(const FfConnectome *c) {
  int64_t same = 0;
  for (int64_t i = 0; i < c->n; ++i)
    for (int64_t e = c->indptr[i]; e < c->indptr[i + 1]; ++e) same += c->home[c->post[e]] == c->home[i];
  return (double)same / (double)ff_connectome_n_conn(c);
}

static void test_degrees_and_tables_kept(void **state) {
  (void)state;
  FfConnectome s;
  FfShuffleStats st;
  assert_int_equal(ff_connectome_shuffle(&brain, 9, 10.0, &s, &st), 0);
  const int64_t n = brain.n, E = ff_connectome_n_conn(&brain);
  assert_int_equal(s.n, n);
  assert_int_equal(ff_connectome_n_conn(&s), E);
  int64_t *in_a = calloc((size_t)n, sizeof *in_a), *in_b = calloc((size_t)n, sizeof *in_b);
  int32_t *ca = malloc(sizeof(int32_t) * 4096), *cb = malloc(sizeof(int32_t) * 4096);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = brain.indptr[i + 1] - brain.indptr[i];
    assert_int_equal(s.indptr[i + 1] - s.indptr[i], d);
    assert_true(d <= 4096);
    memcpy(ca, brain.count + brain.indptr[i], (size_t)d * sizeof *ca);
    memcpy(cb, s.count + s.indptr[i], (size_t)d * sizeof *cb);
    qsort(ca, (size_t)d, sizeof *ca, cmp_i32);
    qsort(cb, (size_t)d, sizeof *cb, cmp_i32);
    assert_memory_equal(ca, cb, (size_t)d * sizeof *ca);
    for (int64_t e = brain.indptr[i]; e < brain.indptr[i + 1]; ++e) in_a[brain.post[e]]++;
    for (int64_t e = s.indptr[i]; e < s.indptr[i + 1]; ++e) {
      assert_true(s.post[e] != i); /* no self-connection; repeats are refused by validation */
      in_b[s.post[e]]++;
    }
    assert_int_equal(s.home[i], brain.home[i]);
  }
  assert_memory_equal(in_a, in_b, (size_t)n * sizeof *in_a);
  assert_memory_equal(s.np_indptr, brain.np_indptr, (size_t)(n + 1) * sizeof *s.np_indptr);
  assert_memory_equal(s.np_id, brain.np_id, (size_t)brain.np_indptr[n] * sizeof *s.np_id);
  assert_memory_equal(s.np_syn, brain.np_syn, (size_t)brain.np_indptr[n] * sizeof *s.np_syn);
  assert_int_equal(s.n_neuropils, brain.n_neuropils);
  print_message("# %lld of %lld swaps accepted, %.3f of the connections moved\n", (long long)st.swaps, (long long)st.attempts, st.changed);
  /* a random graph with these degrees still holds connection i->j with chance about
   * d_out(i) d_in(j) / E: what stays is that overlap, not more */
  double overlap = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = brain.indptr[i]; e < brain.indptr[i + 1]; ++e)
      overlap += (double)(brain.indptr[i + 1] - brain.indptr[i]) * (double)in_a[brain.post[e]] / (double)E;
  overlap /= (double)E;
  print_message("# kept %.3f of the connections; chance overlap of degree-preserving wiring %.3f\n", 1 - st.changed,
                overlap);
  assert_close(1.0 - st.changed, overlap, 0.25 * overlap);
  /* locality: the share of home-to-home connections expected if targets were drawn in proportion
   * to in-degree, independently of the source */
  double *in_home = calloc((size_t)brain.n_neuropils, sizeof *in_home);
  for (int64_t i = 0; i < n; ++i)
    if (brain.home[i] >= 0) in_home[brain.home[i]] += (double)in_a[i];
  double expect = 0.0;
  for (int64_t i = 0; i < n; ++i)
    if (brain.home[i] >= 0)
      expect += (double)(brain.indptr[i + 1] - brain.indptr[i]) * in_home[brain.home[i]] / (double)E;
  expect /= (double)E;
  const double before = home_share(&brain), after = home_share(&s);
  print_message("# home-to-home share: connectome %.3f, shuffled %.3f, degree-preserving expectation %.3f; %.1f%% moved\n",
                before, after, expect, 100 * st.changed);
  assert_true(before > 2 * expect);
  assert_close(after, expect, 0.15 * expect + 0.005);
  free(in_home);
  free(in_a);
  free(in_b);
  free(ca);
  free(cb);
  ff_connectome_destroy(&s);
}

static void test_seed_decides(void **state) {
  (void)state;
  FfConnectome a, b, c;
  FfShuffleStats st;
  assert_int_equal(ff_connectome_shuffle(&brain, 1, 2.0, &a, &st), 0);
  assert_int_equal(ff_connectome_shuffle(&brain, 1, 2.0, &b, &st), 0);
  assert_int_equal(ff_connectome_shuffle(&brain, 2, 2.0, &c, &st), 0);
  const int64_t E = ff_connectome_n_conn(&brain);
  assert_memory_equal(a.post, b.post, (size_t)E * sizeof *a.post);
  assert_true(memcmp(a.post, c.post, (size_t)E * sizeof *a.post) != 0);
  FfConnectome z;
  assert_int_equal(ff_connectome_shuffle(&brain, 1, 0.0, &z, &st), 0); /* no swaps: the same wiring */
  assert_memory_equal(z.post, brain.post, (size_t)E * sizeof *z.post);
  assert_close(st.changed, 0.0, 0);
  ff_connectome_destroy(&a);
  ff_connectome_destroy(&b);
  ff_connectome_destroy(&c);
  ff_connectome_destroy(&z);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_degrees_and_tables_kept), cmocka_unit_test(test_seed_decides)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
