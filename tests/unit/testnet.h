/* Connectomes for the unit tests, made in memory (header only; each test binary includes it once).
 * tn_random: n neurons, each with up to `degree` distinct targets (self-connections included, so
 * that they are tested), signed synapse counts, and 1-3 neuropils of P per neuron; a fixed
 * xorshift sequence, so every rank of a test makes the same network without talking to the others.
 * tn_edges: a network from an explicit edge list. */
#ifndef FLYFIT_TESTNET_H
#define FLYFIT_TESTNET_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/connectome.h"

static inline uint64_t tn_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static inline void *tn_alloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p == NULL) abort();
  return p;
}

/* The neuropil table and names, root ids and home neuropils of c (n and P set). */
static inline void tn_neuropils(FfConnectome *c, uint64_t *s) {
  const int64_t n = c->n;
  const int32_t P = c->n_neuropils;
  c->root_id = tn_alloc((size_t)n, sizeof *c->root_id);
  c->home = tn_alloc((size_t)n, sizeof *c->home);
  c->np_indptr = tn_alloc((size_t)n + 1, sizeof *c->np_indptr);
  c->np_id = tn_alloc((size_t)n * 3, sizeof *c->np_id);
  c->np_syn = tn_alloc((size_t)n * 3, sizeof *c->np_syn);
  c->neuropil_names = tn_alloc((size_t)P, sizeof *c->neuropil_names);
  for (int32_t p = 0; p < P; ++p) {
    c->neuropil_names[p] = tn_alloc(16, 1);
    snprintf(c->neuropil_names[p], 16, "NP%d_%c", p, p % 2 ? 'R' : 'L');
  }
  for (int64_t i = 0; i < n; ++i) {
    c->root_id[i] = 720575940600000000 + 7 * i + (int64_t)(tn_next(s) % 5);
    int64_t e = c->np_indptr[i];
    const int m = 1 + (int)(tn_next(s) % 3);
    for (int32_t p = (int32_t)(tn_next(s) % (uint64_t)P), k = 0; k < m && p < P; ++k, p += 1 + (int32_t)(tn_next(s) % 3)) {
      c->np_id[e] = (int16_t)p;
      c->np_syn[e++] = 1 + (int32_t)(tn_next(s) % 40);
    }
    c->np_indptr[i + 1] = e;
  }
  ff_connectome_set_home(c);
  snprintf(c->source, sizeof c->source, "tests/unit/testnet.h");
  snprintf(c->release, sizeof c->release, "synthetic");
}

static inline void tn_random(FfConnectome *c, int64_t n, int degree, int32_t P, uint64_t seed) {
  memset(c, 0, sizeof *c);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  c->n = n;
  c->n_neuropils = P;
  c->indptr = tn_alloc((size_t)n + 1, sizeof *c->indptr);
  c->post = tn_alloc((size_t)(n * degree), sizeof *c->post);
  c->count = tn_alloc((size_t)(n * degree), sizeof *c->count);
  char *hit = tn_alloc((size_t)n, 1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t e = c->indptr[i];
    const int d = (int)(tn_next(&s) % (uint64_t)(degree + 1));
    memset(hit, 0, (size_t)n);
    for (int k = 0; k < d; ++k) {
      /* mostly near neighbours (a graph with structure for METIS), some far */
      const int64_t j = tn_next(&s) % 4 ? (i + (int64_t)(tn_next(&s) % 20) + n - 10) % n : (int64_t)(tn_next(&s) % (uint64_t)n);
      hit[j] = 1;
    }
    for (int64_t j = 0; j < n; ++j)
      if (hit[j]) {
        c->post[e] = (int32_t)j;
        const int32_t syn = 1 + (int32_t)(tn_next(&s) % 9);
        c->count[e++] = tn_next(&s) % 4 ? syn : -syn;
      }
    c->indptr[i + 1] = e;
  }
  free(hit);
  tn_neuropils(c, &s);
}

/* edges: "pre post count; pre post count; ..." (rows of one neuron in ascending post order). */
static inline void tn_edges(FfConnectome *c, int64_t n, int32_t P, const char *edges) {
  memset(c, 0, sizeof *c);
  uint64_t s = 12345;
  c->n = n;
  c->n_neuropils = P;
  c->indptr = tn_alloc((size_t)n + 1, sizeof *c->indptr);
  c->post = tn_alloc(strlen(edges), sizeof *c->post);
  c->count = tn_alloc(strlen(edges), sizeof *c->count);
  int64_t e = 0, pre_last = 0;
  for (const char *p = edges; *p;) {
    long a, b, w;
    int used = 0;
    if (sscanf(p, " %ld %ld %ld%n", &a, &b, &w, &used) < 3) break;
    while (pre_last < a) c->indptr[++pre_last] = e;
    c->post[e] = (int32_t)b;
    c->count[e++] = (int32_t)w;
    p += used;
    while (*p == ' ' || *p == ';') ++p;
  }
  while (pre_last < n) c->indptr[++pre_last] = e;
  tn_neuropils(c, &s);
}

#endif
