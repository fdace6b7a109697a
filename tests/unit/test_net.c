/* The network build (ff_net_load, ff_net_find_destinations): on a small hand-made connectome and
 * on random ones, stored with the block, random and METIS partitions for this rank count (and, on
 * one rank, also read whole without a partition), the neurons each rank holds and the incoming
 * connections of each (presynaptic neuron, signed synapse count) equal a slow obvious pass over
 * the connection table; so do the in-degrees, neuropil rows, stand-ins, owners and destinations.
 * A slab that does not match its checksum is refused. Runs on any number of ranks (testmpi.h). */
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
#include "flyfit/h5.h"
#include "flyfit/net.h"
#include "flyfit/partition.h"
#include "testmpi.h"
#include "testnet.h"

static char path[512];

/* Rank 0 writes c (and the partition p, unless NULL) to PATH; every rank agrees it is there. */
static void store(const FfConnectome *c, const FfPartition *p) {
  int st = FF_OK;
  if (tm_rank == 0) {
    unlink(path);
    st = ff_connectome_write(c, path, "tests/unit/test_net.c");
    if (st == FF_OK && p) st = ff_partition_store(path, p, "tests/unit/test_net.c");
    if (st) print_error("%s\n", ff_error_message());
  }
  assert_all(st == FF_OK);
}

#define EXPECT(cond, ...)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      if (errors++ < 5) print_error("rank " __VA_ARGS__), print_error("\n");                      \
    }                                                                                              \
  } while (0)

/* Mismatches between this rank's net and the connectome c split by owner/order (order NULL: one
 * rank holding everything in original order). */
static int check_net(const FfConnectome *c, const int32_t *owner, const int64_t *order, const FfNet *net) {
  int errors = 0;
  const int64_t n = c->n;
  int64_t *new_of = malloc((size_t)n * sizeof *new_of), *old_of = malloc((size_t)n * sizeof *old_of);
  for (int64_t q = 0; q < n; ++q) {
    old_of[q] = order ? order[q] : q;
    new_of[old_of[q]] = q;
  }
  EXPECT(net->n_global == n && net->rank == tm_rank && net->size == tm_size, "%d: sizes", tm_rank);
  /* the neurons: those the partition gives this rank, ascending */
  int32_t mine = 0;
  for (int64_t g = 0; g < n; ++g)
    if ((owner ? owner[g] : 0) == tm_rank) {
      EXPECT(mine < net->n_local && net->gid[mine] == g, "%d: local neuron %d is not %lld", tm_rank, mine, (long long)g);
      EXPECT(ff_net_local(net, g) == mine, "%d: ff_net_local(%lld)", tm_rank, (long long)g);
      EXPECT(mine >= net->n_local || new_of[g] == net->new_base + mine, "%d: new id of %lld", tm_rank, (long long)g);
      ++mine;
    } else {
      EXPECT(ff_net_local(net, g) == -1, "%d: ff_net_local(%lld) of another rank's neuron", tm_rank, (long long)g);
    }
  EXPECT(mine == net->n_local, "%d: %d neurons, expected %d", tm_rank, net->n_local, mine);
  if (errors) goto done;
  /* owners of every new id */
  for (int64_t q = 0; q < n; ++q)
    EXPECT(ff_net_owner(net, q) == (owner ? owner[old_of[q]] : 0), "%d: owner of new id %lld", tm_rank, (long long)q);
  /* incoming connections of each local neuron, as (pre gid, count) pairs summed into a fingerprint,
   * from the connection table ... */
  int64_t *want_n = calloc((size_t)net->n_local + 1, sizeof *want_n), *want_f = calloc((size_t)net->n_local + 1, sizeof *want_f);
  int64_t *got_n = calloc((size_t)net->n_local + 1, sizeof *got_n), *got_f = calloc((size_t)net->n_local + 1, sizeof *got_f);
  char *is_pre = calloc((size_t)n, 1);
  int64_t n_in = 0;
  for (int64_t p = 0; p < n; ++p)
    for (int64_t e = c->indptr[p]; e < c->indptr[p + 1]; ++e) {
      const int32_t i = ff_net_local(net, c->post[e]);
      if (i < 0) continue;
      want_n[i]++;
      want_f[i] += (p + 1) * 1000003 + c->count[e];
      is_pre[p] = 1;
      ++n_in;
    }
  /* ... and from the stand-ins */
  int64_t prev = -1;
  for (int32_t s = 0; s < net->n_pre; ++s) {
    const int64_t q = net->pre_new[s];
    EXPECT(q > prev && q < n && is_pre[old_of[q]], "%d: stand-in %d (new id %lld)", tm_rank, s, (long long)q);
    if (q <= prev || q >= n) break;
    prev = q;
    EXPECT(ff_net_standin(net, q) == s, "%d: ff_net_standin(%lld)", tm_rank, (long long)q);
    for (int64_t e = net->pre_indptr[s]; e < net->pre_indptr[s + 1]; ++e) {
      const int32_t t = net->target[e];
      EXPECT(t >= 0 && t < net->n_local && (e == net->pre_indptr[s] || t > net->target[e - 1]), "%d: target", tm_rank);
      if (t < 0 || t >= net->n_local) continue;
      got_n[t]++;
      got_f[t] += (old_of[q] + 1) * 1000003 + net->weight[e];
    }
  }
  int64_t standins = 0;
  for (int64_t p = 0; p < n; ++p) {
    standins += is_pre[p];
    if (!is_pre[p]) EXPECT(ff_net_standin(net, new_of[p]) == -1, "%d: a stand-in of %lld, which has no target here", tm_rank, (long long)p);
  }
  EXPECT(net->n_pre == standins, "%d: %d stand-ins, expected %lld", tm_rank, net->n_pre, (long long)standins);
  EXPECT(net->n_in == n_in, "%d: %lld connections, expected %lld", tm_rank, (long long)net->n_in, (long long)n_in);
  for (int32_t i = 0; i < net->n_local; ++i) {
    EXPECT(got_n[i] == want_n[i] && got_f[i] == want_f[i], "%d: the connections into neuron %lld differ", tm_rank,
           (long long)net->gid[i]);
    EXPECT(net->in_degree[i] == want_n[i], "%d: in-degree of %lld", tm_rank, (long long)net->gid[i]);
    /* neuropil rows */
    const int64_t g = net->gid[i], a = c->np_indptr[g], len = c->np_indptr[g + 1] - a;
    EXPECT(net->np_row[i + 1] - net->np_row[i] == len && !memcmp(net->np_id + net->np_row[i], c->np_id + a, (size_t)len * 2) &&
               !memcmp(net->np_syn + net->np_row[i], c->np_syn + a, (size_t)len * 4),
           "%d: neuropil row of %lld", tm_rank, (long long)g);
    /* destinations: the ranks holding a target of this neuron, ascending */
    char to[64] = {0};
    for (int64_t e = c->indptr[g]; e < c->indptr[g + 1]; ++e) to[owner ? owner[c->post[e]] : 0] = 1;
    int64_t d = net->dest_indptr[i];
    for (int r = 0; r < tm_size; ++r)
      if (to[r]) {
        EXPECT(d < net->dest_indptr[i + 1] && net->dest[d] == r, "%d: destinations of %lld lack rank %d", tm_rank, (long long)g, r);
        ++d;
      }
    EXPECT(d == net->dest_indptr[i + 1], "%d: destinations of %lld: more than expected", tm_rank, (long long)g);
  }
  EXPECT(net->n_neuropils == c->n_neuropils, "%d: neuropils", tm_rank);
  free(want_n), free(want_f), free(got_n), free(got_f), free(is_pre);
done:
  free(new_of);
  free(old_of);
  return errors;
}

/* Stores c with a partition for this rank count made by method (or none: -1), loads it, checks. */
static void load_and_check(const FfConnectome *c, int method) {
  FfPartition p;
  memset(&p, 0, sizeof p);
  if (method >= 0) assert_int_equal(ff_partition_make(c, tm_size, method, FF_BALANCE_BOTH, 5, &p), FF_OK);
  store(c, method >= 0 ? &p : NULL);
  FfNet net;
  memset(&net, 0, sizeof net);
  int st = ff_net_load(path, MPI_COMM_WORLD, &net);
  if (st) print_error("rank %d: %s\n", tm_rank, ff_error_message());
  assert_all(st == FF_OK);
  st = ff_net_find_destinations(&net, MPI_COMM_WORLD);
  assert_all(st == FF_OK);
  assert_all(net.from_partition == (method >= 0));
  const int errors = check_net(c, method >= 0 ? p.owner : NULL, method >= 0 ? p.order : NULL, &net);
  ff_net_destroy(&net);
  ff_partition_destroy(&p);
  assert_all(errors == 0);
}

/* 8 neurons: a self-connection (3), inhibitory counts, a neuron without targets (5), one without
 * inputs (0), a neuron every other one reaches (7) */
static const char *HAND = "0 1 2; 0 7 1; 1 2 -3; 1 7 1; 2 3 4; 2 7 -1; 3 3 2; 3 4 1; 3 7 5; 4 0 -2; 4 6 1; 4 7 1;"
                          "6 1 3; 6 7 2; 7 1 -1; 7 2 1";

static void test_hand_made(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-net", "h5");
  FfConnectome c;
  tn_edges(&c, 8, 3, HAND);
  assert_int_equal(ff_connectome_validate(&c, "HAND"), FF_OK);
  if (tm_size == 1) load_and_check(&c, -1); /* the whole table */
  load_and_check(&c, FF_PART_BLOCK);
  load_and_check(&c, FF_PART_RANDOM);
  ff_connectome_destroy(&c);
  if (tm_rank == 0) unlink(path);
}

static void test_random_networks(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-net-random", "h5");
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    FfConnectome c;
    tn_random(&c, 150 + 40 * (int64_t)seed, 8, 6, seed);
    if (tm_size == 1) load_and_check(&c, -1);
    load_and_check(&c, FF_PART_BLOCK);
    load_and_check(&c, FF_PART_RANDOM);
    load_and_check(&c, FF_PART_METIS);
    ff_connectome_destroy(&c);
  }
  if (tm_rank == 0) unlink(path);
}

/* One weight changed in the file after the partition was stored: the rank whose slab holds it
 * refuses it (checksum), and every rank learns of it by agreeing. */
static void test_damaged_slab(void **state) {
  (void)state;
  tm_path(path, sizeof path, "test-net-damaged", "h5");
  FfConnectome c;
  tn_random(&c, 120, 6, 4, 9);
  FfPartition p;
  assert_int_equal(ff_partition_make(&c, tm_size, FF_PART_BLOCK, FF_BALANCE_BOTH, 1, &p), FF_OK);
  store(&c, &p);
  if (tm_rank == 0) {
    char dset[64];
    snprintf(dset, sizeof dset, "/partition/k%d/weight", tm_size);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, dset, H5P_DEFAULT);
    assert_true(f >= 0 && d >= 0);
    int32_t *w = malloc((size_t)p.n_conn * sizeof *w);
    assert_true(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
    w[p.n_conn / 2] += w[p.n_conn / 2] > 0 ? 1 : -1; /* still a valid count; only the checksum tells */
    assert_true(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
    free(w);
    H5Dclose(d);
    H5Fclose(f);
  }
  assert_all(1);
  FfNet net;
  memset(&net, 0, sizeof net);
  const int st = ff_net_load(path, MPI_COMM_WORLD, &net);
  const int refused = st == FF_ERR_INPUT && strstr(ff_error_message(), "checksum") && strstr(ff_error_message(), path);
  int any = 0;
  assert_int_equal(FF_MPI(MPI_Allreduce(&refused, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD)), FF_OK);
  ff_net_destroy(&net);
  ff_partition_destroy(&p);
  ff_connectome_destroy(&c);
  assert_all(any);
  if (tm_rank == 0) unlink(path);
}

int main(int argc, char **argv) {
  tm_init(&argc, &argv);
  ff_h5_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_made),
      cmocka_unit_test(test_random_networks),
      cmocka_unit_test(test_damaged_slab),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
