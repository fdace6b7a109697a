/* Fuzzes the CSV importers of flyfit-import (src/io/csv.c over libcsv and zlib, src/data/import.c): the
 * Shiu neuron list and connectivity table and FlyWire Codex's connections table, plain or gzip.
 * Input: one byte choosing the reader, then file A, then optionally the separator line SEP and
 * file B:
 *   0: ff_neuron_list_read(A)          1: ff_import_shiu(neurons A, connectivity B)
 *   2: ff_import_codex(connections A)  3: ff_import_codex(connections B, neurons A)
 * A connectome that an importer accepts must pass ff_connectome_validate. */
#include "fuzz.h"

#include "flyfit/connectome.h"
#include "flyfit/import.h"

#define SEP "\n--8<--\n"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const char *needle) {
  const size_t m = strlen(needle);
  for (size_t i = 0; i + m <= n; ++i)
    if (memcmp(hay + i, needle, m) == 0) return hay + i;
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] & 3;
  const uint8_t *a = data + 1, *end = data + size;
  const uint8_t *sep = find(a, (size_t)(end - a), SEP);
  const uint8_t *b = sep ? sep + strlen(SEP) : end;
  const size_t a_len = (size_t)((sep ? sep : end) - a), b_len = (size_t)(end - b);
  /* a gzip stream keeps its .gz name, as the files in the wild do (the reader does not care) */
  const int a_gz = a_len >= 2 && a[0] == 0x1f && a[1] == 0x8b, b_gz = b_len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
  char pa[512], pb[512];
  fuzz_write(a, a_len, pa, sizeof pa, a_gz ? ".csv.gz" : ".csv");
  fuzz_write(b, b_len, pb, sizeof pb, b_gz ? ".csv.gz" : ".csv");

  FfConnectome c;
  memset(&c, 0, sizeof c);
  int st;
  const char *what;
  switch (mode) {
  case 0: {
    int64_t *ids = NULL, n = 0;
    what = "ff_neuron_list_read";
    st = ff_neuron_list_read(pa, &ids, &n);
    if (st == FF_OK) FUZZ_REQUIRE(n > 0 && ids != NULL, "an accepted neuron list has %lld rows", (long long)n);
    free(ids);
    break;
  }
  case 1:
    what = "ff_import_shiu";
    st = ff_import_shiu(pa, pb, &c);
    break;
  case 2:
    what = "ff_import_codex";
    st = ff_import_codex(pa, NULL, &c);
    break;
  default:
    what = "ff_import_codex with a neuron list";
    st = ff_import_codex(pb, pa, &c);
    break;
  }
  unlink(pa);
  unlink(pb);
  fuzz_outcome(what, st);
  if (st == FF_OK && mode != 0) {
    const int v = ff_connectome_validate(&c, "imported");
    FUZZ_REQUIRE(v == FF_OK, "%s accepted a connectome that does not validate: %s", what, ff_error_message());
  }
  ff_connectome_destroy(&c);
  return 0;
}
