/* Sorting received spike words into arrival slots (include/flyfit/arrivals.h): a counting sort
 * over the slots, stable in the order the words came; and the same slots filled in a device's order. */
#include "flyfit/arrivals.h"
#include "flyfit/error.h"
#include "flyfit/scramble.h"
#include "flyfit/spike.h"

#include <stdlib.h>
#include <string.h>

static int64_t slot_of(const FfArrivals *a, uint64_t w) {
  const int64_t k = ff_spike_step(w), b = ff_spike_batch(w);
  return a->trial_major ? b * a->D + k : k * a->B + b;
}

int ff_arrivals_create(FfArrivals *a, int32_t B, int32_t D, int trial_major, int keep_trial) {
  memset(a, 0, sizeof *a);
  a->B = B;
  a->D = D;
  a->trial_major = trial_major;
  FF_TRY(FF_CALLOC(a->off, (int64_t)B * D + 1, "arrival offsets"));
  a->keep_trial = keep_trial;
  return FF_OK;
}

/* Room for the stand-ins of n received words. */
static int reserve_look(FfArrivals *a, int64_t n) {
  if (n > a->look_cap) {
    FF_TRY(FF_REALLOC(a->look, n, "arriving spikes"));
    a->look_cap = n;
  }
  return FF_OK;
}

/* Room for `kept` arrivals (and their trials). */
static int reserve(FfArrivals *a, int64_t kept) {
  if (kept > a->cap) {
    FF_TRY(FF_REALLOC(a->pre, kept, "arriving spikes"));
    if (a->keep_trial) FF_TRY(FF_REALLOC(a->trial, kept, "arriving spikes"));
    a->cap = kept;
  }
  return FF_OK;
}

int ff_arrivals_sort(FfArrivals *a, const FfNet *net, const uint64_t *words, int64_t n) {
  const int64_t slots = (int64_t)a->B * a->D;
  FF_TRY(reserve_look(a, n));
  memset(a->off, 0, (size_t)(slots + 1) * sizeof *a->off);
  int64_t kept = 0;
  for (int64_t q = 0; q < n; ++q) { /* count each slot's arrivals into off[slot + 1] */
    a->look[q] = ff_net_standin(net, ff_spike_gid(words[q]));
    if (a->look[q] < 0) continue;
    a->off[slot_of(a, words[q]) + 1]++;
    ++kept;
  }
  for (int64_t s = 0; s < slots; ++s) a->off[s + 1] += a->off[s];
  FF_TRY(reserve(a, kept));
  for (int64_t q = 0; q < n; ++q) /* fill, advancing each slot's offset, then shift them back */
    if (a->look[q] >= 0) {
      const int64_t at = a->off[slot_of(a, words[q])]++;
      a->pre[at] = a->look[q];
      if (a->keep_trial) a->trial[at] = ff_spike_batch(words[q]);
    }
  for (int64_t s = slots; s > 0; --s) a->off[s] = a->off[s - 1];
  a->off[0] = 0;
  a->n = kept;
  return FF_OK;
}

int ff_arrivals_place(FfArrivals *a, const FfNet *net, const uint64_t *words, int64_t n) {
  const int64_t slots = (int64_t)a->B * a->D;
  FF_TRY(reserve_look(a, n));
  if (a->fill == NULL) FF_TRY(FF_MALLOC(a->fill, slots > 0 ? slots : 1, "arrival slots"));
  memset(a->off, 0, (size_t)(slots + 1) * sizeof *a->off);
  memset(a->fill, 0, (size_t)slots * sizeof *a->fill);
  FF_FOR_SCRAMBLED(q, n) { /* look up and count */
    a->look[q] = ff_net_standin(net, ff_spike_gid(words[q]));
    if (a->look[q] >= 0) a->off[slot_of(a, words[q]) + 1]++;
  }
  for (int64_t s = 0; s < slots; ++s) a->off[s + 1] += a->off[s];
  FF_TRY(reserve(a, a->off[slots]));
  FF_FOR_SCRAMBLED(q, n) /* each at its slot's next free place */
    if (a->look[q] >= 0) {
      const int64_t s = slot_of(a, words[q]), at = a->off[s] + a->fill[s]++;
      a->pre[at] = a->look[q];
      if (a->keep_trial) a->trial[at] = ff_spike_batch(words[q]);
    }
  a->n = a->off[slots];
  return FF_OK;
}

void ff_arrivals_clear(FfArrivals *a) {
  memset(a->off, 0, (size_t)((int64_t)a->B * a->D + 1) * sizeof *a->off);
  a->n = 0;
}

void ff_arrivals_destroy(FfArrivals *a) {
  if (a == NULL) return;
  free(a->off);
  free(a->pre);
  free(a->trial);
  free(a->look);
  free(a->fill);
  memset(a, 0, sizeof *a);
}
