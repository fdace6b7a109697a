/* Degree-preserving shuffle of a connectome (include/flyfit/shuffle.h). The swaps are sequential,
 * each drawn from Philox by its attempt number, so the result depends on the seed only; an open-
 * addressing set of (pre, post) keys refuses duplicates in O(1). */
#include "flyfit/shuffle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/rng.h"
#include "connectome_io.h"

typedef struct {
  uint64_t *key; /* [cap] (pre + 1) << 32 | post, 0 = empty */
  int64_t cap;   /* a power of two, at least twice the connections */
} EdgeSet;

static uint64_t edge_key(int64_t pre, int32_t post) { return (uint64_t)(pre + 1) << 32 | (uint32_t)post; }

static int64_t slot(const EdgeSet *s, uint64_t k) {
  uint64_t h = k * 0x9e3779b97f4a7c15ull;
  int64_t i = (int64_t)(h >> 17) & (s->cap - 1);
  while (s->key[i] != 0 && s->key[i] != k) i = (i + 1) & (s->cap - 1);
  return i;
}

static int has(const EdgeSet *s, uint64_t k) { return s->key[slot(s, k)] == k; }
static void put(EdgeSet *s, uint64_t k) { s->key[slot(s, k)] = k; }

/* Removal keeps linear probing's invariant by re-inserting the run after the hole. */
static void drop(EdgeSet *s, uint64_t k) {
  int64_t i = slot(s, k);
  if (s->key[i] != k) return;
  s->key[i] = 0;
  for (int64_t j = (i + 1) & (s->cap - 1); s->key[j] != 0; j = (j + 1) & (s->cap - 1)) {
    const uint64_t m = s->key[j];
    s->key[j] = 0;
    put(s, m);
  }
}

static int copy_neuron_tables(const FfConnectome *c, FfConnectome *o) {
  const int64_t n = c->n, nnp = c->np_indptr[n];
  o->n = n;
  o->n_neuropils = c->n_neuropils;
  int st = FF_MALLOC(o->root_id, n, "root ids");
  FF_CALL(st, FF_MALLOC(o->home, n, "home neuropils"));
  FF_CALL(st, FF_MALLOC(o->np_indptr, n + 1, "neuropil table"));
  FF_CALL(st, FF_MALLOC(o->np_id, nnp, "neuropil table"));
  FF_CALL(st, FF_MALLOC(o->np_syn, nnp, "neuropil table"));
  FF_CALL(st, FF_CALLOC(o->neuropil_names, c->n_neuropils, "neuropil names"));
  for (int32_t p = 0; st == FF_OK && p < c->n_neuropils; ++p)
    if ((o->neuropil_names[p] = strdup(c->neuropil_names[p])) == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory");
  if (st != FF_OK) return st;
  memcpy(o->root_id, c->root_id, (size_t)n * sizeof *o->root_id);
  memcpy(o->home, c->home, (size_t)n * sizeof *o->home);
  memcpy(o->np_indptr, c->np_indptr, (size_t)(n + 1) * sizeof *o->np_indptr);
  memcpy(o->np_id, c->np_id, (size_t)nnp * sizeof *o->np_id);
  memcpy(o->np_syn, c->np_syn, (size_t)nnp * sizeof *o->np_syn);
  snprintf(o->source, sizeof o->source, "degree-preserving shuffle of: %.200s", c->source);
  snprintf(o->release, sizeof o->release, "%s", c->release);
  return FF_OK;
}

typedef struct {
  int64_t pre;
  int32_t post, count;
} Edge;

static int by_pre_post(const void *a, const void *b) {
  const Edge *x = a, *y = b;
  if (x->pre != y->pre) return x->pre < y->pre ? -1 : 1;
  return (x->post > y->post) - (x->post < y->post);
}

int ff_connectome_shuffle(const FfConnectome *c, uint64_t seed, double swaps_per_connection, FfConnectome *out,
                          FfShuffleStats *stats) {
  memset(out, 0, sizeof *out);
  memset(stats, 0, sizeof *stats);
  const int64_t n = c->n, E = ff_connectome_n_conn(c);
  if (!(swaps_per_connection >= 0) || swaps_per_connection > 1000)
    return FF_ERROR(FF_ERR_USAGE, "swaps per connection %g: 0..1000", swaps_per_connection);
  Edge *e = NULL;
  EdgeSet set = {NULL, 1};
  while (set.cap < 2 * E + 2) set.cap *= 2;
  int st = FF_MALLOC(e, E, "connections");
  FF_CALL(st, FF_CALLOC(set.key, set.cap, "connection set"));
  FF_CALL(st, copy_neuron_tables(c, out));
  if (st == FF_OK) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k) {
        e[k] = (Edge){i, c->post[k], c->count[k]};
        put(&set, edge_key(i, c->post[k]));
      }
    const int64_t attempts = E >= 2 ? (int64_t)(swaps_per_connection * (double)E) : 0;
    for (int64_t t = 0; t < attempts; ++t) {
      uint32_t r[4];
      ff_rng4(seed, FF_STREAM_SHUFFLE, (uint32_t)t, (uint32_t)((uint64_t)t >> 32), 0, r);
      const int64_t x = (int64_t)(((uint64_t)r[0] << 32 | r[1]) % (uint64_t)E);
      const int64_t y = (int64_t)(((uint64_t)r[2] << 32 | r[3]) % (uint64_t)E);
      Edge *A = &e[x], *B = &e[y];
      if (x == y || A->pre == B->pre || A->post == B->post) continue;
      if (A->pre == B->post || B->pre == A->post) continue; /* no self-connections */
      const uint64_t n1 = edge_key(A->pre, B->post), n2 = edge_key(B->pre, A->post);
      if (has(&set, n1) || has(&set, n2)) continue; /* no repeated connections */
      drop(&set, edge_key(A->pre, A->post));
      drop(&set, edge_key(B->pre, B->post));
      put(&set, n1);
      put(&set, n2);
      const int32_t tmp = A->post;
      A->post = B->post;
      B->post = tmp;
      stats->swaps++;
    }
    stats->attempts = attempts;
    /* the share of original connections gone: look each one up in the final set */
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k) kept += has(&set, edge_key(i, c->post[k]));
    stats->changed = E > 0 ? 1.0 - (double)kept / (double)E : 0.0;
    qsort(e, (size_t)E, sizeof *e, by_pre_post);
  }
  FF_CALL(st, FF_MALLOC(out->indptr, n + 1, "connections"));
  FF_CALL(st, FF_MALLOC(out->post, E, "connections"));
  FF_CALL(st, FF_MALLOC(out->count, E, "connections"));
  if (st == FF_OK) {
    memset(out->indptr, 0, (size_t)(n + 1) * sizeof *out->indptr);
    for (int64_t k = 0; k < E; ++k) {
      out->indptr[e[k].pre + 1]++;
      out->post[k] = e[k].post;
      out->count[k] = e[k].count;
    }
    for (int64_t i = 0; i < n; ++i) out->indptr[i + 1] += out->indptr[i];
  }
  free(e);
  free(set.key);
  FF_CALL(st, ff_connectome_validate(out, "the shuffled connectome"));
  if (st != FF_OK) ff_connectome_destroy(out);
  return st;
}

static int write_record(hid_t f, void *ctx) {
  const FfShuffleRecord *r = ctx;
  if (r->seed > (uint64_t)INT64_MAX) return FF_ERROR(FF_ERR_USAGE, "shuffle seed %llu: 0..2^63-1", (unsigned long long)r->seed);
  const FfH5Attr a[] = {FF_ATTR_STRING("source_file", r->source_file),
                        FF_ATTR_INT("seed", (int64_t)r->seed),
                        FF_ATTR_DOUBLE("swaps_per_connection", r->swaps_per_connection),
                        FF_ATTR_INT("attempts", r->stats.attempts),
                        FF_ATTR_INT("swaps", r->stats.swaps),
                        FF_ATTR_DOUBLE("changed", r->stats.changed),
                        FF_ATTR_STRING("method", "degree-preserving directed edge swaps (Maslov & Sneppen 2002)")};
  int st = ff_h5_group(f, "/shuffle");
  FF_CALL(st, ff_h5_write_attrs(f, "/shuffle", a, (int)(sizeof a / sizeof a[0])));
  return st;
}

int ff_connectome_shuffle_write(const FfConnectome *s, const FfShuffleRecord *r, const char *path,
                                const char *created_by) {
  return ff_connectome_write_with(s, path, created_by, write_record, (void *)r);
}
