/* Root id -> index hash map (include/flyfit/idmap.h). */
#include "flyfit/idmap.h"
#include "flyfit/error.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser: root ids share long prefixes */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int ff_idmap_create(FfIdMap *m, int64_t expected) {
  memset(m, 0, sizeof *m);
  m->cap = 16;
  while (m->cap < 2 * expected) m->cap *= 2;
  FF_TRY(FF_MALLOC(m->keys, m->cap, "root id map"));
  FF_TRY(FF_MALLOC(m->values, m->cap, "root id map"));
  memset(m->values, 0xff, (size_t)m->cap * sizeof *m->values);
  return FF_OK;
}

void ff_idmap_destroy(FfIdMap *m) {
  free(m->keys);
  free(m->values);
  memset(m, 0, sizeof *m);
}

int32_t ff_idmap_find(const FfIdMap *m, int64_t key) {
  for (uint64_t h = mix((uint64_t)key) & (uint64_t)(m->cap - 1);; h = (h + 1) & (uint64_t)(m->cap - 1)) {
    if (m->values[h] < 0) return -1;
    if (m->keys[h] == key) return m->values[h];
  }
}

static int grow(FfIdMap *m) {
  FfIdMap bigger;
  FF_TRY(ff_idmap_create(&bigger, m->cap));
  for (int64_t k = 0; k < m->cap; ++k)
    if (m->values[k] >= 0) {
      int32_t dummy;
      ff_idmap_insert(&bigger, m->keys[k], m->values[k], &dummy);
    }
  ff_idmap_destroy(m);
  *m = bigger;
  return FF_OK;
}

int ff_idmap_insert(FfIdMap *m, int64_t key, int32_t value, int32_t *existing) {
  if (2 * (m->size + 1) > m->cap) FF_TRY(grow(m));
  for (uint64_t h = mix((uint64_t)key) & (uint64_t)(m->cap - 1);; h = (h + 1) & (uint64_t)(m->cap - 1)) {
    if (m->values[h] < 0) {
      m->keys[h] = key;
      m->values[h] = value;
      m->size++;
      *existing = -1;
      return FF_OK;
    }
    if (m->keys[h] == key) {
      *existing = m->values[h];
      return FF_OK;
    }
  }
}
