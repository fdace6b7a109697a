/* The scrambled element order of the emulated device backends (backend = emulate): a GPU runs a
 * kernel's elements in no fixed order, so the emulation visits them in an order that is neither
 * ascending nor the CPU backend's, and any dependence on order shows as a difference in bits.
 * FF_FOR_SCRAMBLED(q, N) visits q = (j * stride + N / 3) mod N for j = 0 .. N-1, with a stride
 * coprime with N: every q in 0 .. N-1 once, in an order that differs for every N. */
#ifndef FLYFIT_SCRAMBLE_H
#define FLYFIT_SCRAMBLE_H

#include <stdint.h>

static inline uint64_t ff_scramble_gcd(uint64_t a, uint64_t b) {
  while (b) {
    const uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* A stride coprime with n (1 for n <= 2). */
static inline uint64_t ff_scramble_stride(int64_t n) {
  if (n <= 2) return 1;
  uint64_t s = 2654435761u % (uint64_t)n;
  if (s < 2) s = 2;
  while (ff_scramble_gcd(s, (uint64_t)n) != 1) ++s;
  return s;
}

#define FF_FOR_SCRAMBLED(q, N)                                                                                \
  for (int64_t j_ = 0, n_ = (N), q = 0, s_ = (int64_t)ff_scramble_stride(n_);                               \
       j_ < n_ && ((q = (int64_t)(((uint64_t)j_ * (uint64_t)s_ + (uint64_t)(n_ / 3)) % (uint64_t)n_)), 1); ++j_)

#endif
