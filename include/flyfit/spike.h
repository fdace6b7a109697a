/* How a spike travels, in one header for plain C and CUDA (FF_HD): the delay windows that schedule
 * the exchange, the 64-bit word a spike crosses ranks as, and the per-neuron flags that say whether
 * it is sent and recorded. The CPU backend, the device kernels (sim_dev.h) and the fitting stepper
 * all pack, unpack and schedule spikes with these functions only.
 * Invariants: a word's fields never overlap and fill 64 bits; FF_SPIKE_NONE is never a real spike
 * (its neuron field is above every neuron id, which are below 2^31, net.c). */
#ifndef FLYFIT_SPIKE_H
#define FLYFIT_SPIKE_H

#include <stdint.h>

#include "flyfit/hd.h"

/* ---- delay windows ------------------------------------------------------------------------------ */

/* Window w holds steps [first, end): D steps (the synaptic delay), fewer in the last one. A spike
 * emitted in window w arrives in window w + 1, so ranks exchange spikes once per window. */
typedef struct {
  int64_t first, end;
} FfWindow;

FF_HD static inline int64_t ff_window_count(int64_t n_steps, int32_t D) { return (n_steps + D - 1) / D; }

/* The window that step n belongs to. */
FF_HD static inline int64_t ff_window_of(int64_t n, int32_t D) { return n / D; }

FF_HD static inline FfWindow ff_window(int64_t w, int32_t D, int64_t n_steps) {
  const int64_t end = (w + 1) * D;
  FfWindow win = {w * D, end < n_steps ? end : n_steps};
  return win;
}

/* ---- per-neuron flags (ff_sim_flags) ------------------------------------------------------------ */

enum {
  FF_NF_DRIVEN = 1,  /* Poisson or file input (its own refractory period) */
  FF_NF_POISSON = 2, /* Poisson input */
  FF_NF_RECORD = 4,  /* spikes recorded ([output] spikes) */
  FF_NF_SILENT = 8   /* outgoing connections cut: it spikes, but its spikes are never sent */
};
FF_STATIC_ASSERT((FF_NF_DRIVEN | FF_NF_POISSON | FF_NF_RECORD | FF_NF_SILENT) == 15 && FF_NF_SILENT < 256,
                 "the neuron flags are distinct bits of one uint8_t");

/* ---- the spike word ----------------------------------------------------------------------------- */

/* new id of the neuron | step within its window << 32 | trial (batch element) << 48 */
enum { FF_SPIKE_ID_BITS = 32, FF_SPIKE_STEP_BITS = 16, FF_SPIKE_TRIAL_BITS = 16 };
enum { FF_SPIKE_STEP_SHIFT = FF_SPIKE_ID_BITS, FF_SPIKE_TRIAL_SHIFT = FF_SPIKE_ID_BITS + FF_SPIKE_STEP_BITS };
FF_STATIC_ASSERT(FF_SPIKE_ID_BITS + FF_SPIKE_STEP_BITS + FF_SPIKE_TRIAL_BITS == 64, "the fields fill one word");
FF_STATIC_ASSERT(FF_SPIKE_STEP_BITS == 16 && FF_SPIKE_TRIAL_BITS == 16,
                 "a step within its window and a trial travel as 16 bits each");

/* Padding and silenced neurons among the device's spike words. */
#define FF_SPIKE_NONE 0xffffffffffffffffull
FF_STATIC_ASSERT((FF_SPIKE_NONE & 0xffffffffull) > 0x7fffffffull, "FF_SPIKE_NONE names no neuron");

FF_HD static inline uint64_t ff_spike_pack(int64_t q, int32_t step_in_window, int32_t b) {
  return (uint64_t)q | (uint64_t)(uint16_t)step_in_window << FF_SPIKE_STEP_SHIFT |
         (uint64_t)(uint16_t)b << FF_SPIKE_TRIAL_SHIFT;
}
/* the neuron's new id (net.h) */
FF_HD static inline int64_t ff_spike_gid(uint64_t w) { return (int64_t)(w & 0xffffffffu); }
FF_HD static inline int32_t ff_spike_step(uint64_t w) { return (int32_t)((w >> FF_SPIKE_STEP_SHIFT) & 0xffff); }
FF_HD static inline int32_t ff_spike_batch(uint64_t w) { return (int32_t)(w >> FF_SPIKE_TRIAL_SHIFT); }

/* Whether a neuron with these flags sends its spikes to other neurons. */
FF_HD static inline int ff_spike_sent(uint8_t flags) { return !(flags & FF_NF_SILENT); }

/* The word of a spike of the neuron with new id q at step `step` of trial b in the window that
 * starts at step n0, or FF_SPIKE_NONE when the neuron is silenced. */
FF_HD static inline uint64_t ff_spike_word(uint8_t flags, int64_t q, int64_t step, int64_t n0, int32_t b) {
  return ff_spike_sent(flags) ? ff_spike_pack(q, (int32_t)(step - n0), b) : FF_SPIKE_NONE;
}

/* Index of key in the ascending a[0..n), or -1: how a rank finds the stand-in (net.h) of an
 * arriving spike's neuron, and a local neuron by its original index. */
FF_HD static inline int32_t ff_find_sorted(const int64_t *a, int64_t n, int64_t key) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] < key) lo = mid + 1; else hi = mid;
  }
  return lo < n && a[lo] == key ? (int32_t)lo : -1;
}

#endif
