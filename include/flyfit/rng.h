/* Counter-based random numbers (Random123 Philox4x32-10), the same in C and CUDA.
 * A draw is a pure function of (seed, stream, counter words): no generator state, so every rank,
 * thread and backend computes the same number for the same (neuron, step, batch element) without
 * coordination. Streams separate the uses so that no two ever share a counter. */
#ifndef FLYFIT_RNG_H
#define FLYFIT_RNG_H

#include <stdint.h>

#include <Random123/philox.h>

#include "flyfit/hd.h"

enum {
  FF_STREAM_POISSON = 1,    /* stimulus Poisson input: counter (step/4, neuron, batch) */
  FF_STREAM_BACKGROUND = 2, /* background Poisson input to every neuron: (step/4, neuron, batch) */
  FF_STREAM_INIT = 3,       /* initial state: (0, neuron, batch) */
  FF_STREAM_PARTITION = 4,  /* random partition: (neuron, 0, 0) */
  FF_STREAM_SYNTH = 16      /* flyfit-synth uses streams 16..31 */
};

/* Four 32-bit words for counter (c0, c1, c2) in `stream`, under the 64-bit seed. */
FF_HD static inline void ff_rng4(uint64_t seed, uint32_t stream, uint32_t c0, uint32_t c1, uint32_t c2,
                                 uint32_t out[4]) {
  philox4x32_ctr_t ctr = {{c0, c1, c2, stream}};
  philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
  philox4x32_ctr_t r = philox4x32(ctr, key);
  out[0] = r.v[0];
  out[1] = r.v[1];
  out[2] = r.v[2];
  out[3] = r.v[3];
}

/* Uniform in the open interval (0, 1) from 32 bits. */
FF_HD static inline double ff_u01(uint32_t x) { return ((double)x + 0.5) * (1.0 / 4294967296.0); }

/* Uniform in (0, 1) with 53 random bits from two words. */
FF_HD static inline double ff_u01_53(uint32_t hi, uint32_t lo) {
  uint64_t m = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
  return ((double)(m & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Threshold for a Bernoulli(p) event from one 32-bit word: event iff word < ff_bernoulli_threshold(p). */
static inline uint64_t ff_bernoulli_threshold(double p) {
  if (p <= 0.0) return 0;
  if (p >= 1.0) return 4294967296ull;
  return (uint64_t)(p * 4294967296.0);
}

#endif
