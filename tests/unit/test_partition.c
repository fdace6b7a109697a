/* Partitions (src/partition/assign.c, metis.c, build.c): the block, random and METIS assignments are
 * complete, balanced within what each promises (blocks and random: sizes differ by at most one;
 * METIS: neurons and incoming connections within 3% of the mean, README "Partitions"), and
 * deterministic by seed; ff_partition_make's renumbering, slabs and report equal a slow obvious
 * recomputation from the connection table. No MPI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/partition.h"
#include "testnet.h"
#include "testutil.h"

/* Every neuron has a rank in 0..K-1; sizes[r] = neurons of rank r. */
static void count_sizes(const int32_t *owner, int64_t n, int K, int64_t *sizes) {
  memset(sizes, 0, (size_t)K * sizeof *sizes);
  for (int64_t i = 0; i < n; ++i) {
    if (owner[i] < 0 || owner[i] >= K) fail_msg("neuron %lld has rank %d, outside 0..%d", (long long)i, owner[i], K - 1);
    sizes[owner[i]]++;
  }
}

/* sizes differ by at most one and add up to n */
static void expect_even(const int64_t *sizes, int K, int64_t n) {
  int64_t lo = n, hi = 0, sum = 0;
  for (int r = 0; r < K; ++r) {
    lo = sizes[r] < lo ? sizes[r] : lo;
    hi = sizes[r] > hi ? sizes[r] : hi;
    sum += sizes[r];
  }
  assert_int_equal(sum, n);
  assert_true(lo == n / K && hi - lo <= 1);
}

static void test_block(void **state) {
  (void)state;
  const int64_t ns[] = {1, 7, 100, 1001};
  const int ks[] = {1, 2, 3, 7, 64};
  for (size_t a = 0; a < 4; ++a)
    for (size_t b = 0; b < 5; ++b) {
      const int64_t n = ns[a];
      const int K = ks[b];
      if (K > n) continue;
      int32_t *owner = malloc((size_t)n * sizeof *owner);
      int64_t sizes[64];
      for (int64_t i = 0; i < n; ++i) owner[i] = -1;
      ff_partition_block(n, K, owner);
      count_sizes(owner, n, K, sizes);
      expect_even(sizes, K, n);
      for (int64_t i = 1; i < n; ++i) assert_true(owner[i] == owner[i - 1] || owner[i] == owner[i - 1] + 1);
      assert_int_equal(owner[0], 0);
      assert_int_equal(owner[n - 1], K - 1);
      free(owner);
    }
}

static void test_random(void **state) {
  (void)state;
  const int64_t n = 1000;
  int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c), *blk = malloc(n * sizeof *blk);
  int64_t sizes[8];
  for (int K = 1; K <= 8; ++K) {
    assert_int_equal(ff_partition_random(n, K, 42, a), FF_OK);
    count_sizes(a, n, K, sizes);
    expect_even(sizes, K, n);
    assert_int_equal(ff_partition_random(n, K, 42, b), FF_OK);
    assert_memory_equal(a, b, n * sizeof *a); /* the same seed, the same assignment */
    if (K == 1) continue;
    assert_int_equal(ff_partition_random(n, K, 43, c), FF_OK);
    int64_t moved = 0, not_block = 0;
    ff_partition_block(n, K, blk);
    for (int64_t i = 0; i < n; ++i) {
      moved += a[i] != c[i];
      not_block += a[i] != blk[i];
    }
    /* another seed moves most neurons (chance keeps 1/K of them), and it is no block assignment */
    assert_true(moved > n / 4);
    assert_true(not_block > n / 4);
  }
  free(a);
  free(b);
  free(c);
  free(blk);
}

/* The largest share over the mean, of neurons and of incoming connections + 1 (METIS's weights). */
static void imbalance(const FfConnectome *net, const int32_t *owner, int K, double *neurons, double *conn) {
  int64_t nn[16] = {0}, cc[16] = {0}, tn = 0, tc = 0;
  for (int64_t i = 0; i < net->n; ++i) nn[owner[i]]++;
  for (int64_t i = 0; i < net->n; ++i) cc[owner[i]]++;
  for (int64_t e = 0; e < ff_connectome_n_conn(net); ++e) cc[owner[net->post[e]]]++;
  int64_t mn = 0, mc = 0;
  for (int r = 0; r < K; ++r) {
    tn += nn[r];
    tc += cc[r];
    mn = nn[r] > mn ? nn[r] : mn;
    mc = cc[r] > mc ? cc[r] : mc;
  }
  *neurons = (double)mn * K / (double)tn;
  *conn = (double)mc * K / (double)tc;
}

static int64_t edge_cut(const FfConnectome *net, const int32_t *owner) {
  int64_t cut = 0;
  for (int64_t i = 0; i < net->n; ++i)
    for (int64_t e = net->indptr[i]; e < net->indptr[i + 1]; ++e) cut += owner[i] != owner[net->post[e]];
  return cut;
}

static void test_metis(void **state) {
  (void)state;
  FfConnectome net;
  tn_random(&net, 2000, 12, 9, 5);
  const int64_t n = net.n;
  int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *rnd = malloc(n * sizeof *rnd);
  int64_t sizes[16];
  const int ks[] = {2, 3, 4, 8};
  const int balances[] = {FF_BALANCE_BOTH, FF_BALANCE_NEURONS, FF_BALANCE_CONNECTIONS};
  for (size_t k = 0; k < 4; ++k)
    for (size_t bi = 0; bi < 3; ++bi) {
      const int K = ks[k], bal = balances[bi];
      assert_int_equal(ff_partition_metis(&net, K, bal, 7, a), FF_OK);
      count_sizes(a, n, K, sizes);
      for (int r = 0; r < K; ++r) assert_true(sizes[r] > 0);
      double in, ic;
      imbalance(&net, a, K, &in, &ic);
      print_message("# METIS K=%d balance %s: imbalance neurons %.4f, connections %.4f, cut %lld\n", K,
                    ff_part_balance_name(bal), in, ic, (long long)edge_cut(&net, a));
      /* what is balanced is within 3% of the mean (one neuron's weight of rounding allowed) */
      if (bal != FF_BALANCE_CONNECTIONS) assert_true(in <= 1.03 + (double)K / (double)n);
      if (bal != FF_BALANCE_NEURONS) assert_true(ic <= 1.03 + 20.0 * K / (double)(n + ff_connectome_n_conn(&net)));
      assert_int_equal(ff_partition_metis(&net, K, bal, 7, b), FF_OK);
      assert_memory_equal(a, b, n * sizeof *a);
      /* a graph partitioner cuts fewer connections than chance on a graph with neighbourhoods */
      assert_int_equal(ff_partition_random(n, K, 7, rnd), FF_OK);
      assert_true(edge_cut(&net, a) < edge_cut(&net, rnd) / 2);
    }
  assert_int_equal(ff_partition_metis(&net, 1, FF_BALANCE_BOTH, 7, a), FF_OK);
  for (int64_t i = 0; i < n; ++i) assert_int_equal(a[i], 0);
  free(a);
  free(b);
  free(rnd);
  ff_connectome_destroy(&net);
}

/* The renumbering, slabs and report of ff_partition_make, against the connection table. */
static void check_make(const FfConnectome *net, const FfPartition *p) {
  const int K = p->ranks;
  const int64_t n = net->n, E = ff_connectome_n_conn(net);
  int64_t *new_of = malloc((size_t)n * sizeof *new_of), *seen = calloc((size_t)n, sizeof *seen);
  /* order: a permutation; new ids rank by rank, original order within a rank */
  for (int64_t q = 0; q < n; ++q) {
    const int64_t i = p->order[q];
    assert_true(i >= 0 && i < n && !seen[i]);
    seen[i] = 1;
    new_of[i] = q;
    const int r = p->owner[i];
    assert_true(q >= p->neuron_offsets[r] && q < p->neuron_offsets[r + 1]);
    if (q > p->neuron_offsets[r]) assert_true(p->order[q - 1] < i);
  }
  assert_int_equal(p->neuron_offsets[0], 0);
  assert_int_equal(p->neuron_offsets[K], n);
  /* rank r's slab: every connection into its neurons, once, with its weight */
  int64_t cut = 0;
  for (int r = 0; r < K; ++r) {
    const int64_t base = p->neuron_offsets[r], nr = p->neuron_offsets[r + 1] - base;
    /* expected: in[j] = sum over connections into local j of (pre new id + 1) * weight (a fingerprint),
     * and their count */
    int64_t *want_n = calloc((size_t)nr + 1, sizeof *want_n), *got_n = calloc((size_t)nr + 1, sizeof *got_n);
    int64_t *want_f = calloc((size_t)nr + 1, sizeof *want_f), *got_f = calloc((size_t)nr + 1, sizeof *got_f);
    int64_t conns = 0, ghosts = 0;
    char *is_pre = calloc((size_t)n, 1);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t e = net->indptr[i]; e < net->indptr[i + 1]; ++e) {
        const int32_t j = net->post[e];
        if (p->owner[j] != r) continue;
        const int64_t lj = new_of[j] - base;
        want_n[lj]++;
        want_f[lj] += (new_of[i] + 1) * 1000003 + net->count[e];
        ++conns;
        is_pre[i] = 1;
      }
    for (int64_t i = 0; i < n; ++i) ghosts += is_pre[i] && p->owner[i] != r;
    int64_t prev = -1;
    for (int64_t s = p->pre_offsets[r]; s < p->pre_offsets[r + 1]; ++s) {
      assert_true(p->pre[s] > prev); /* stand-ins ascending, each once */
      prev = p->pre[s];
      assert_true(is_pre[p->order[p->pre[s]]]);
      assert_true(p->pre_conn[s + 1] > p->pre_conn[s]); /* a stand-in has a target here */
      for (int64_t e = p->pre_conn[s]; e < p->pre_conn[s + 1]; ++e) {
        const int32_t t = p->target[e];
        assert_true(t >= 0 && t < nr);
        if (e > p->pre_conn[s]) assert_true(t > p->target[e - 1]);
        got_n[t]++;
        got_f[t] += (p->pre[s] + 1) * 1000003 + p->weight[e];
      }
    }
    assert_memory_equal(want_n, got_n, (size_t)nr * sizeof *want_n);
    assert_memory_equal(want_f, got_f, (size_t)nr * sizeof *want_f);
    assert_int_equal(p->rep_neurons[r], nr);
    assert_int_equal(p->rep_connections[r], conns);
    assert_int_equal(p->rep_ghosts[r], ghosts);
    free(want_n), free(got_n), free(want_f), free(got_f), free(is_pre);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = net->indptr[i]; e < net->indptr[i + 1]; ++e) cut += p->owner[i] != p->owner[net->post[e]];
  assert_int_equal(p->edge_cut, cut);
  assert_int_equal(p->pre_conn[p->n_standins], E);
  /* send pairs: (neuron of r, other rank with a connection from it) */
  for (int r = 0; r < K; ++r) {
    int64_t pairs = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (p->owner[i] != r) continue;
      char to[64] = {0};
      for (int64_t e = net->indptr[i]; e < net->indptr[i + 1]; ++e) to[p->owner[net->post[e]]] = 1;
      for (int q = 0; q < K; ++q) pairs += q != r && to[q];
    }
    assert_int_equal(p->rep_send_pairs[r], pairs);
  }
  /* neuropil rows follow the renumbering */
  for (int64_t q = 0; q < n; ++q) {
    const int64_t i = p->order[q], len = net->np_indptr[i + 1] - net->np_indptr[i];
    assert_int_equal(p->np_row[q + 1] - p->np_row[q], len);
    assert_memory_equal(p->np_id + p->np_row[q], net->np_id + net->np_indptr[i], (size_t)len * sizeof *p->np_id);
    assert_memory_equal(p->np_syn + p->np_row[q], net->np_syn + net->np_indptr[i], (size_t)len * sizeof *p->np_syn);
  }
  free(new_of);
  free(seen);
}

static void test_make(void **state) {
  (void)state;
  FfConnectome net;
  tn_random(&net, 300, 9, 5, 11);
  const int methods[] = {FF_PART_BLOCK, FF_PART_RANDOM, FF_PART_METIS};
  for (int K = 1; K <= 5; ++K)
    for (size_t m = 0; m < 3; ++m) {
      FfPartition p;
      assert_int_equal(ff_partition_make(&net, K, methods[m], FF_BALANCE_BOTH, 3, &p), FF_OK);
      assert_int_equal(p.ranks, K);
      check_make(&net, &p);
      ff_partition_destroy(&p);
    }
  ff_connectome_destroy(&net);
}

static void test_make_refuses(void **state) {
  (void)state;
  FfConnectome net;
  tn_edges(&net, 3, 2, "0 1 2; 1 2 -1");
  FfPartition p;
  assert_int_equal(ff_partition_make(&net, 0, FF_PART_BLOCK, FF_BALANCE_BOTH, 1, &p), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "at least 1"));
  ff_partition_destroy(&p);
  assert_int_equal(ff_partition_make(&net, 4, FF_PART_METIS, FF_BALANCE_BOTH, 1, &p), FF_ERR_INPUT);
  assert_non_null(strstr(ff_error_message(), "more ranks than the 3 neurons"));
  ff_partition_destroy(&p);
  ff_connectome_destroy(&net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_block), cmocka_unit_test(test_random), cmocka_unit_test(test_metis),
      cmocka_unit_test(test_make), cmocka_unit_test(test_make_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
