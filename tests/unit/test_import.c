/* The importers against the fixtures in data/, value by value: the arrays below were worked out by
 * hand from the network described in data/README.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "flyfit/error.h"
#include "flyfit/idmap.h"
#include "flyfit/import.h"

#define DATA "data/"

static const int64_t ROOT[8] = {720575940596125868, 720575940597856265, 720575940597944841, 720575940598267657,
                                720575940599333574, 720575940599457990, 720575940599459782, 720575940599704006};
static const int64_t INDPTR[9] = {0, 2, 4, 6, 7, 8, 9, 11, 12};
static const int32_t POST[12] = {1, 3, 0, 2, 5, 7, 4, 6, 2, 0, 5, 3};
static const int32_t COUNT[12] = {12, 4, -9, -25, 3, 60, -6, 2, 8, 1, 14, 33};
/* neuropils by name: AL_L 0, GNG 1, LH_L 2, MB_CA_L 3, SAD 4 */
static const char *NAMES[5] = {"AL_L", "GNG", "LH_L", "MB_CA_L", "SAD"};
static const int64_t NP_INDPTR[9] = {0, 2, 5, 6, 7, 8, 9, 11, 12};
static const int16_t NP_ID[12] = {0, 2, 0, 1, 4, 1, 2, 3, 1, 2, 3, 4};
static const int32_t NP_SYN[12] = {11, 5, 9, 20, 5, 63, 6, 2, 8, 5, 10, 33};
static const int16_t HOME[8] = {0, 1, 1, 2, 3, 1, 3, 4};

static void check_connections(const FfConnectome *c) {
  assert_int_equal(c->n, 8);
  assert_memory_equal(c->root_id, ROOT, sizeof ROOT);
  assert_memory_equal(c->indptr, INDPTR, sizeof INDPTR);
  assert_memory_equal(c->post, POST, sizeof POST);
  assert_memory_equal(c->count, COUNT, sizeof COUNT);
  assert_int_equal(ff_connectome_validate(c, "import"), FF_OK);
}

static void test_shiu_fixture(void **state) {
  (void)state;
  FfConnectome c;
  assert_int_equal(ff_import_shiu(DATA "fixture_neurons.csv", DATA "fixture_connectivity.csv", &c), FF_OK);
  check_connections(&c);
  assert_int_equal(c.n_neuropils, 0);
  for (int i = 0; i < 8; ++i) {
    assert_int_equal(c.home[i], -1);
    assert_int_equal(c.np_indptr[i + 1], 0);
  }
  ff_connectome_destroy(&c);
}

static void test_codex_fixture(void **state) {
  (void)state;
  FfConnectome c;
  assert_int_equal(ff_import_codex(DATA "fixture_codex.csv", DATA "fixture_neurons.csv", &c), FF_OK);
  check_connections(&c);
  assert_int_equal(c.n_neuropils, 5);
  for (int p = 0; p < 5; ++p) assert_string_equal(c.neuropil_names[p], NAMES[p]);
  assert_memory_equal(c.np_indptr, NP_INDPTR, sizeof NP_INDPTR);
  assert_memory_equal(c.np_id, NP_ID, sizeof NP_ID);
  assert_memory_equal(c.np_syn, NP_SYN, sizeof NP_SYN);
  assert_memory_equal(c.home, HOME, sizeof HOME);
  ff_connectome_destroy(&c);
}

/* Without a neuron list, neurons are numbered by first appearance (pre before post, row by row):
 * the fixture's rows start 1->0, 0->1, 2->7, 6->5, ... */
static void test_codex_first_appearance(void **state) {
  (void)state;
  FfConnectome c;
  assert_int_equal(ff_import_codex(DATA "fixture_codex.csv", NULL, &c), FF_OK);
  const int order[8] = {1, 0, 2, 7, 6, 5, 3, 4}; /* original index of each new index */
  assert_int_equal(c.n, 8);
  for (int k = 0; k < 8; ++k) assert_true(c.root_id[k] == ROOT[order[k]]);
  /* same connections, renumbered */
  int inv[8];
  for (int k = 0; k < 8; ++k) inv[order[k]] = k;
  for (int i = 0; i < 8; ++i)
    for (int64_t e = INDPTR[i]; e < INDPTR[i + 1]; ++e) {
      const int a = inv[i], b = inv[POST[e]];
      int found = 0;
      for (int64_t f = c.indptr[a]; f < c.indptr[a + 1]; ++f)
        if (c.post[f] == b) found = c.count[f] == COUNT[e];
      if (!found) fail_msg("connection %d -> %d (%d) missing after renumbering", i, POST[e], COUNT[e]);
    }
  assert_int_equal(c.indptr[8], 12);
  ff_connectome_destroy(&c);
}

static void gzip_file(const char *from, const char *to) {
  FILE *f = fopen(from, "rb");
  gzFile g = gzopen(to, "wb");
  assert_non_null(f);
  assert_non_null(g);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) assert_int_equal(gzwrite(g, buf, (unsigned)n), (int)n);
  fclose(f);
  assert_int_equal(gzclose(g), Z_OK);
}

static void test_gzip_input(void **state) {
  (void)state;
  char codex[64], neurons[64];
  snprintf(codex, sizeof codex, "/tmp/flyfit-codex-%d.csv.gz", (int)getpid());
  snprintf(neurons, sizeof neurons, "/tmp/flyfit-neurons-%d.csv.gz", (int)getpid());
  gzip_file(DATA "fixture_codex.csv", codex);
  gzip_file(DATA "fixture_neurons.csv", neurons);
  FfConnectome c;
  assert_int_equal(ff_import_codex(codex, neurons, &c), FF_OK);
  check_connections(&c);
  assert_memory_equal(c.np_syn, NP_SYN, sizeof NP_SYN);
  ff_connectome_destroy(&c);
  unlink(codex);
  unlink(neurons);
}

/* The real FlyWire 783 neuron list, where this machine has it (../shared/data). */
static void test_neuron_list(void **state) {
  (void)state;
  const char *path = "../shared/data/Completeness_783.csv";
  if (access(path, R_OK) != 0) skip();
  int64_t *ids, n;
  assert_int_equal(ff_neuron_list_read(path, &ids, &n), FF_OK);
  assert_int_equal(n, 138639); /* FlyWire release 783 */
  assert_true(ids[0] == 720575940596125868);
  assert_true(ids[n - 1] > 720575940000000000);
  free(ids);
}

static void test_idmap(void **state) {
  (void)state;
  FfIdMap m;
  int32_t seen;
  assert_int_equal(ff_idmap_create(&m, 4), FF_OK);
  for (int32_t k = 0; k < 100000; ++k) { /* grows many times; keys share a long common prefix */
    assert_int_equal(ff_idmap_insert(&m, 720575940600000000LL + 7 * (int64_t)k, k, &seen), FF_OK);
    assert_int_equal(seen, -1);
  }
  assert_int_equal(ff_idmap_insert(&m, 720575940600000000LL + 7 * 500, 1, &seen), FF_OK);
  assert_int_equal(seen, 500);
  for (int32_t k = 0; k < 100000; k += 37) assert_int_equal(ff_idmap_find(&m, 720575940600000000LL + 7 * (int64_t)k), k);
  assert_int_equal(ff_idmap_find(&m, 720575940600000001LL), -1);
  assert_int_equal(m.size, 100000);
  ff_idmap_destroy(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shiu_fixture),   cmocka_unit_test(test_codex_fixture),
      cmocka_unit_test(test_codex_first_appearance), cmocka_unit_test(test_gzip_input),
      cmocka_unit_test(test_neuron_list),    cmocka_unit_test(test_idmap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
