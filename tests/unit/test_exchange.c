/* The spike exchange (ff_exchange_*, ff_spike_pack): spike words unpack to what was packed; over
 * several windows of made-up spikes, allgather delivers every rank's words in rank order, and
 * targeted delivers exactly those of neurons with a target on the receiving rank (worked out from
 * the connection table and the partition, not from the exchange's destination lists), which are
 * the words allgather delivers that the rank has a stand-in for; word counts add up; auto picks
 * what its rule says; a rank that fails stops every rank. Runs on any number of ranks (testmpi.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/exchange.h"
#include "flyfit/h5.h"
#include "flyfit/net.h"
#include "flyfit/partition.h"
#include "testmpi.h"
#include "testnet.h"

static void test_pack_round_trip(void **state) {
  (void)state;
  const int64_t qs[] = {0, 1, 138638, 65535, 65536, 0x7fffffff, 0xffffffffll};
  const int32_t steps[] = {0, 1, 17, 32767, 65535};
  const int32_t bs[] = {0, 1, 127, 32768, 65535};
  for (size_t a = 0; a < sizeof qs / sizeof *qs; ++a)
    for (size_t b = 0; b < sizeof steps / sizeof *steps; ++b)
      for (size_t c = 0; c < sizeof bs / sizeof *bs; ++c) {
        const uint64_t w = ff_spike_pack(qs[a], steps[b], bs[c]);
        assert_int_equal(ff_spike_gid(w), qs[a]);
        assert_int_equal(ff_spike_step(w), steps[b]);
        assert_int_equal(ff_spike_batch(w), bs[c]);
        /* the fields do not overlap: the word is their bits side by side */
        assert_true(w == ((uint64_t)qs[a] | (uint64_t)steps[b] << 32 | (uint64_t)bs[c] << 48));
      }
}

typedef struct {
  FfConnectome c;
  FfPartition p; /* this rank count's partition (identity on one rank without one) */
  int stored;
  FfNet net;
  char *needs; /* [n] by new id: a neuron with a target on this rank */
} Fixture;

static char path[512];

static void fixture_make(Fixture *F, int method, int store_partition) {
  memset(F, 0, sizeof *F);
  tn_random(&F->c, 240, 7, 4, 21);
  assert_int_equal(ff_partition_make(&F->c, tm_size, method, FF_BALANCE_BOTH, 2, &F->p), FF_OK);
  F->stored = store_partition;
  int st = FF_OK;
  if (tm_rank == 0) {
    unlink(path);
    st = ff_connectome_write(&F->c, path, "tests/unit/test_exchange.c");
    if (st == FF_OK && store_partition) st = ff_partition_store(path, &F->p, "tests/unit/test_exchange.c");
  }
  assert_all(st == FF_OK);
  st = ff_net_load(path, MPI_COMM_WORLD, &F->net);
  if (st == FF_OK) st = ff_net_find_destinations(&F->net, MPI_COMM_WORLD);
  assert_all(st == FF_OK);
  const int64_t n = F->c.n;
  F->needs = calloc((size_t)n, 1);
  for (int64_t q = 0; q < n; ++q) {
    const int64_t g = F->stored ? F->p.order[q] : q;
    for (int64_t e = F->c.indptr[g]; e < F->c.indptr[g + 1]; ++e)
      if ((F->stored ? F->p.owner[F->c.post[e]] : 0) == tm_rank) F->needs[q] = 1;
  }
}

static void fixture_destroy(Fixture *F) {
  ff_net_destroy(&F->net);
  ff_partition_destroy(&F->p);
  ff_connectome_destroy(&F->c);
  free(F->needs);
  assert_all(1);
  if (tm_rank == 0) unlink(path);
}

/* Window w's made-up spikes: neuron (new id) q fires when a hash of (w, q) says so, at a step and
 * in a trial the hash also gives. The same list on every rank, ascending by q. */
static int64_t window_words(int64_t n, int w, uint64_t *out) {
  int64_t m = 0;
  if (w == 5) return 0; /* window 5: no spikes at all */
  for (int64_t q = 0; q < n; ++q) {
    uint64_t h = (uint64_t)(q + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(w + 7) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    if (h % 3 == 0 || w == 4) /* window 4: every neuron */
      out[m++] = ff_spike_pack(q, (int32_t)(h >> 8) % 18, (int32_t)(h >> 20) % 3);
  }
  return m;
}

/* Runs windows 0..5 through an exchange of `mode` and checks what each rank receives. */
static void run_windows(Fixture *F, int mode) {
  const int64_t n = F->c.n;
  FfExchange *x = NULL;
  double mean = -1;
  int st = ff_exchange_create(&F->net, mode, MPI_COMM_WORLD, &x, &mean);
  assert_all(st == FF_OK);
  /* the mean number of ranks that need a neuron, from the table */
  int64_t dests = 0;
  for (int64_t q = 0; q < n; ++q) {
    const int64_t g = F->stored ? F->p.order[q] : q;
    char to[64] = {0};
    for (int64_t e = F->c.indptr[g]; e < F->c.indptr[g + 1]; ++e) to[F->stored ? F->p.owner[F->c.post[e]] : 0] = 1;
    for (int r = 0; r < tm_size; ++r) dests += to[r];
  }
  const double want_mean = (double)dests / (double)n;
  assert_all(mean > want_mean - 1e-12 && mean < want_mean + 1e-12);
  const int want_mode = mode != FF_EXCHANGE_AUTO ? mode
                        : tm_size >= 3 && want_mean < 0.75 * tm_size ? FF_EXCHANGE_TARGETED : FF_EXCHANGE_ALLGATHER;
  assert_all(ff_exchange_mode(x) == want_mode);
  uint64_t *all = malloc((size_t)n * sizeof *all), *want = malloc((size_t)n * sizeof *want);
  int errors = 0;
  FfExchangeStats stats;
  memset(&stats, 0, sizeof stats);
  int64_t want_sent = 0, want_recv = 0;
  for (int w = 0; w < 6; ++w) {
    const int64_t m = window_words(n, w, all);
    /* this rank's words: those of its own new ids */
    const int64_t lo = F->net.new_base, hi = lo + F->net.n_local;
    int64_t mine = 0;
    uint64_t *send = NULL;
    st = ff_exchange_send_buffer(x, m + 1, &send);
    for (int64_t k = 0; st == FF_OK && k < m; ++k)
      if (ff_spike_gid(all[k]) >= lo && ff_spike_gid(all[k]) < hi) send[mine++] = all[k];
    const uint64_t *recv = NULL;
    int64_t got = -1;
    if (st == FF_OK) st = ff_exchange_run(x, mine, FF_OK, &recv, &got, &stats);
    /* expected: every word (allgather) or those this rank needs (targeted), in rank order = new-id order */
    int64_t nw = 0;
    for (int64_t k = 0; k < m; ++k)
      if (want_mode == FF_EXCHANGE_ALLGATHER || F->needs[ff_spike_gid(all[k])]) want[nw++] = all[k];
    if (st != FF_OK || got != nw || (nw && memcmp(recv, want, (size_t)nw * sizeof *want) != 0)) {
      if (errors++ == 0)
        print_error("rank %d, window %d, %s: got %lld words, expected %lld (%s)\n", tm_rank, w,
                    want_mode == FF_EXCHANGE_ALLGATHER ? "allgather" : "targeted", (long long)got, (long long)nw,
                    st ? ff_error_message() : "the words differ");
      continue;
    }
    /* what a rank keeps of allgather's words (those it has a stand-in for) is what targeted sends it */
    int64_t kept = 0, needed = 0;
    for (int64_t k = 0; k < got; ++k) kept += ff_net_standin(&F->net, ff_spike_gid(recv[k])) >= 0;
    for (int64_t k = 0; k < m; ++k) needed += F->needs[ff_spike_gid(all[k])];
    if (kept != needed) errors++, print_error("rank %d: %lld words with a stand-in, %lld needed\n", tm_rank, (long long)kept, (long long)needed);
    /* word counts: to and from other ranks */
    for (int64_t k = 0; k < m; ++k) {
      const int64_t q = ff_spike_gid(all[k]);
      const int own = q >= lo && q < hi;
      if (want_mode == FF_EXCHANGE_ALLGATHER) {
        want_sent += own ? tm_size - 1 : 0;
        want_recv += !own;
      } else {
        const int64_t g = F->stored ? F->p.order[q] : q;
        char to[64] = {0};
        for (int64_t e = F->c.indptr[g]; e < F->c.indptr[g + 1]; ++e) to[F->stored ? F->p.owner[F->c.post[e]] : 0] = 1;
        for (int r = 0; own && r < tm_size; ++r) want_sent += r != tm_rank && to[r];
        want_recv += !own && F->needs[q];
      }
    }
  }
  if (stats.words_sent != want_sent || stats.words_recv != want_recv)
    errors++, print_error("rank %d: words sent %lld (expected %lld), received %lld (expected %lld)\n", tm_rank,
                          (long long)stats.words_sent, (long long)want_sent, (long long)stats.words_recv,
                          (long long)want_recv);
  ff_exchange_destroy(&x);
  assert_null(x);
  free(all);
  free(want);
  assert_all(errors == 0);
}

static void test_allgather_and_targeted(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-exchange", "h5");
  const int methods[] = {FF_PART_BLOCK, FF_PART_METIS, FF_PART_RANDOM};
  for (size_t m = 0; m < 3; ++m) {
    Fixture F;
    fixture_make(&F, methods[m], tm_size > 1 || m > 0); /* one rank: the whole table, then a stored k1 */
    run_windows(&F, FF_EXCHANGE_ALLGATHER);
    run_windows(&F, FF_EXCHANGE_TARGETED);
    run_windows(&F, FF_EXCHANGE_AUTO);
    fixture_destroy(&F);
  }
}

/* The last rank fails in window 1: every rank's ff_exchange_run fails, the failing rank with its
 * own status, the others naming it; neither mode leaves a rank waiting. */
static void test_failure_stops_every_rank(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-exchange-fail", "h5");
  Fixture F;
  fixture_make(&F, FF_PART_BLOCK, tm_size > 1);
  for (int mode = FF_EXCHANGE_ALLGATHER; mode <= FF_EXCHANGE_TARGETED; ++mode) {
    FfExchange *x = NULL;
    assert_all(ff_exchange_create(&F.net, mode, MPI_COMM_WORLD, &x, NULL) == FF_OK);
    FfExchangeStats stats;
    memset(&stats, 0, sizeof stats);
    uint64_t *send;
    const uint64_t *recv;
    int64_t got;
    assert_all(ff_exchange_send_buffer(x, 1, &send) == FF_OK);
    send[0] = ff_spike_pack(F.net.new_base, 0, 0);
    int st = ff_exchange_run(x, F.net.n_local > 0, FF_OK, &recv, &got, &stats);
    assert_all(st == FF_OK);
    const int failing = tm_rank == tm_size - 1;
    if (failing) FF_ERROR(FF_ERR_INPUT, "a made-up failure");
    st = ff_exchange_run(x, 0, failing ? FF_ERR_INPUT : FF_OK, &recv, &got, &stats);
    char name[32];
    snprintf(name, sizeof name, "rank %d failed", tm_size - 1);
    const int ok = failing ? st == FF_ERR_INPUT && recv == NULL : st == FF_ERR_MPI && strstr(ff_error_message(), name) != NULL;
    if (!ok) print_error("rank %d, mode %d: status %d, message %s\n", tm_rank, mode, st, ff_error_message());
    ff_exchange_destroy(&x);
    assert_all(ok);
  }
  fixture_destroy(&F);
}

int main(int argc, char **argv) {
  tm_init(&argc, &argv);
  ff_h5_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack_round_trip),
      cmocka_unit_test(test_allgather_and_targeted),
      cmocka_unit_test(test_failure_stops_every_rank),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
