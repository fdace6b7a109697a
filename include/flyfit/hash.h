/* FNV-1a, 64-bit: the one hash of the project, for checksums of arrays stored in files (partition
 * slabs, recordings named in checkpoints), the config hash of run.json and string lookup tables.
 * Not cryptographic; it detects damage and mismatches, not tampering. Values are stored in files,
 * so the function never changes. */
#ifndef FLYFIT_HASH_H
#define FLYFIT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FF_FNV_BASIS 0xcbf29ce484222325ull
#define FF_FNV_PRIME 0x100000001b3ull

/* Continues hash h over n bytes; start from FF_FNV_BASIS. */
static inline uint64_t ff_fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t k = 0; k < n; ++k) h = (h ^ b[k]) * FF_FNV_PRIME;
  return h;
}

/* The hash of a NUL-terminated string (without its terminator). */
static inline uint64_t ff_fnv1a_str(const char *s) { return ff_fnv1a(FF_FNV_BASIS, s, strlen(s)); }

#endif
