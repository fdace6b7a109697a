/* Block and random neuron-to-rank assignments (include/flyfit/partition.h). */
#include "flyfit/partition.h"
#include "flyfit/error.h"
#include "flyfit/rng.h"

#include <stdlib.h>

void ff_partition_block(int64_t n, int ranks, int32_t *owner) {
  for (int r = 0; r < ranks; ++r) {
    int64_t lo = n * r / ranks, hi = n * (r + 1) / ranks;
    for (int64_t i = lo; i < hi; ++i) owner[i] = r;
  }
}

typedef struct {
  uint64_t key;
  int64_t index;
} Keyed;

static int keyed_cmp(const void *a, const void *b) {
  const Keyed *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->index < y->index ? -1 : (x->index > y->index);
}

int ff_partition_random(int64_t n, int ranks, uint64_t seed, int32_t *owner) {
  Keyed *k;
  FF_TRY(FF_MALLOC(k, n, "random partition"));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t w[4];
    ff_rng4(seed, FF_STREAM_PARTITION, (uint32_t)i, (uint32_t)(i >> 32), 0, w);
    k[i].key = (uint64_t)w[0] << 32 | w[1];
    k[i].index = i;
  }
  qsort(k, (size_t)n, sizeof *k, keyed_cmp);
  for (int r = 0; r < ranks; ++r) {
    int64_t lo = n * r / ranks, hi = n * (r + 1) / ranks;
    for (int64_t j = lo; j < hi; ++j) owner[k[j].index] = r;
  }
  free(k);
  return FF_OK;
}
