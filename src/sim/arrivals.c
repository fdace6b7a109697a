/* Sorting received spike words into arrival slots (include/flyfit/arrivals.h): a counting sort
 * over the slots, stable in the order the words came. */
#include "flyfit/arrivals.h"
#include "flyfit/error.h"
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

int ff_arrivals_sort(FfArrivals *a, const FfNet *net, const uint64_t *words, int64_t n) {
  const int64_t slots = (int64_t)a->B * a->D;
  if (n > a->look_cap) {
    FF_TRY(FF_REALLOC(a->look, n, "arriving spikes"));
    a->look_cap = n;
  }
  memset(a->off, 0, (size_t)(slots + 1) * sizeof *a->off);
  int64_t kept = 0;
  for (int64_t q = 0; q < n; ++q) { /* count each slot's arrivals into off[slot + 1] */
    a->look[q] = ff_net_standin(net, ff_spike_gid(words[q]));
    if (a->look[q] < 0) continue;
    a->off[slot_of(a, words[q]) + 1]++;
    ++kept;
  }
  for (int64_t s = 0; s < slots; ++s) a->off[s + 1] += a->off[s];
  if (kept > a->cap) {
    FF_TRY(FF_REALLOC(a->pre, kept, "arriving spikes"));
    if (a->keep_trial) FF_TRY(FF_REALLOC(a->trial, kept, "arriving spikes"));
    a->cap = kept;
  }
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
  memset(a, 0, sizeof *a);
}
