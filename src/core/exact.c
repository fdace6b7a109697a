/* Exact fixed-point sums (include/flyfit/exact.h). Digits of many values add without carries (room
 * for 2^14 additions between carry passes); a carry pass makes the digits canonical without
 * changing the value, so when it happens never shows in a result. (>> of a negative int64 is an
 * arithmetic shift in GCC and Clang, i.e. floor division.) */
#include "flyfit/exact.h"
#include "flyfit/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { DIGIT = 48 };
#define DIGIT_MASK ((int64_t)((1ull << DIGIT) - 1))

/* Carries so that limbs 0..LIMBS-2 lie in [0, 2^48) and the top one holds the sign. */
static void carry(int64_t *a) {
  for (int k = 0; k < FF_EXACT_LIMBS - 1; ++k) {
    const int64_t c = a[k] >> DIGIT;
    a[k] -= c * ((int64_t)1 << DIGIT);
    a[k + 1] += c;
  }
}

int ff_exact_add(FfExact *s, double x) {
  if (x == 0.0) return 0;
  if (!(fabs(x) < FF_EXACT_MAX)) {
    s->lost++;
    return -1;
  }
  int e;
  const double m = frexp(fabs(x), &e); /* |x| = m 2^e, m in [0.5, 1) */
  uint64_t M;
  int sh; /* |X| = M 2^sh */
  if (e + FF_EXACT_FIX_BITS >= 53) {
    M = (uint64_t)ldexp(m, 53);
    sh = e + FF_EXACT_FIX_BITS - 53;
  } else { /* below the grid's reach of 53 bits: round to the nearest multiple of 2^-128 */
    M = (uint64_t)nearbyint(ldexp(fabs(x), FF_EXACT_FIX_BITS));
    sh = 0;
  }
  const unsigned __int128 v = (unsigned __int128)M << (sh % DIGIT);
  const int k = sh / DIGIT;
  const int64_t sg = x < 0.0 ? -1 : 1;
  int64_t *a = s->limb;
  a[k] += sg * (int64_t)(uint64_t)(v & (unsigned __int128)DIGIT_MASK);
  if (k + 1 < FF_EXACT_LIMBS) a[k + 1] += sg * (int64_t)(uint64_t)((v >> DIGIT) & (unsigned __int128)DIGIT_MASK);
  if (k + 2 < FF_EXACT_LIMBS) a[k + 2] += sg * (int64_t)(uint64_t)(v >> (2 * DIGIT)); /* zero past the top, as |X| < 2^228 */
  if (++s->adds >= FF_EXACT_CARRY_EVERY) {
    carry(a);
    s->adds = 0;
  }
  return 0;
}

int ff_exact_reduce(FfExact *a, FfExact *sum, int64_t n, MPI_Comm comm) {
  enum { WORDS = (int)(sizeof(FfExact) / sizeof(int64_t)) };
  for (int64_t i = 0; i < n; ++i) { /* canonical digits: the sum over ranks then cannot overflow */
    carry(a[i].limb);
    a[i].adds = 0;
  }
  /* in pieces that fit an int count */
  const int64_t words = n * WORDS, piece = (int64_t)1 << 28;
  for (int64_t w = 0; w < words; w += piece) {
    const int cnt = (int)(words - w < piece ? words - w : piece);
    FF_TRY(FF_MPI(MPI_Allreduce((const int64_t *)a + w, (int64_t *)sum + w, cnt, MPI_INT64_T, MPI_SUM, comm)));
  }
  for (int64_t i = 0; i < n; ++i) {
    carry(sum[i].limb);
    sum[i].adds = 0;
  }
  return FF_OK;
}

void ff_exact_merge(FfExact *into, FfExact *from) {
  carry(into->limb); /* canonical digits: the limb sums then cannot overflow */
  carry(from->limb);
  for (int k = 0; k < FF_EXACT_LIMBS; ++k) into->limb[k] += from->limb[k];
  carry(into->limb);
  into->lost += from->lost;
  into->adds = from->adds = 0;
}

double ff_exact_value(const FfExact *s) {
  if (s->lost > 0) return NAN;
  int64_t a[FF_EXACT_LIMBS];
  memcpy(a, s->limb, sizeof a);
  carry(a);
  double sign = 1.0;
  if (a[FF_EXACT_LIMBS - 1] < 0) {
    for (int k = 0; k < FF_EXACT_LIMBS; ++k) a[k] = -a[k];
    carry(a);
    sign = -1.0;
  }
  int j = FF_EXACT_LIMBS - 1;
  while (j > 0 && a[j] == 0) --j;
  if (j == 0) return sign * ldexp((double)a[0], -FF_EXACT_FIX_BITS);
  /* the two leading limbs, then one sticky bit for anything below them: rounding the 98-bit-or-more
   * integer once gives the correctly rounded value */
  unsigned __int128 v = (unsigned __int128)(uint64_t)a[j] << DIGIT | (uint64_t)a[j - 1];
  int sticky = 0;
  for (int k = 0; k < j - 1; ++k) sticky |= a[k] != 0;
  v = v << 1 | (unsigned)sticky;
  return sign * ldexp((double)v, DIGIT * (j - 1) - 1 - FF_EXACT_FIX_BITS);
}

int ff_exact_fixed(const FfExact *s, int frac_bits, unsigned __int128 *units) {
  *units = 0;
  if (frac_bits <= FF_EXACT_FIX_BITS - DIGIT || frac_bits > FF_EXACT_FIX_BITS)
    return FF_ERROR(FF_ERR_INTERNAL, "ff_exact_fixed: %d fraction bits out of range", frac_bits);
  if (s->lost > 0) return FF_ERROR(FF_ERR_INTERNAL, "ff_exact_fixed: %lld values were lost", (long long)s->lost);
  int64_t a[FF_EXACT_LIMBS];
  memcpy(a, s->limb, sizeof a);
  carry(a);
  if (a[FF_EXACT_LIMBS - 1] < 0) return FF_ERROR(FF_ERR_INTERNAL, "ff_exact_fixed: the sum is negative");
  /* units = X >> drop: only limb 0 lies partly below the cut (drop < 48), so digit by digit
   * rounding down is the whole sum's rounding down */
  const int drop = FF_EXACT_FIX_BITS - frac_bits;
  unsigned __int128 v = (uint64_t)a[0] >> drop;
  for (int k = 1; k < FF_EXACT_LIMBS; ++k) {
    if (a[k] == 0) continue;
    const int at = DIGIT * k - drop;
    const unsigned __int128 d = (uint64_t)a[k];
    if (at >= 128 || (d >> (128 - at)) != 0 || (d << at) > ~(unsigned __int128)0 - v)
      return FF_ERROR(FF_ERR_INTERNAL, "ff_exact_fixed: the sum is 2^128 units of 2^-%d or more", frac_bits);
    v += d << at;
  }
  *units = v;
  return FF_OK;
}

int ff_exact_sum(MPI_Comm comm, const double *x, int64_t n, double *sum) {
  FfExact mine = {0}, all;
  for (int64_t i = 0; i < n; ++i) ff_exact_add(&mine, x[i]);
  FF_TRY(ff_exact_reduce(&mine, &all, 1, comm));
  *sum = ff_exact_value(&all);
  return FF_OK;
}
