/* Exact, order-free sums of doubles: the one engine behind the GRU's gradients and losses (gru.c)
 * and round 1's gradient norm (fit_grad.c). A double x enters as the integer X = round(x 2^128)
 * (|x| < 2^100), kept as signed 48-bit digits in five int64 limbs. Integer addition is associative,
 * so the sum is the same for any order of the values and any split of them over ranks (an
 * MPI_SUM of limbs); it is rounded to double once, at the end. */
#ifndef FLYFIT_EXACT_H
#define FLYFIT_EXACT_H

#include <mpi.h>
#include <stdint.h>

enum {
  FF_EXACT_LIMBS = 5,       /* 48-bit digits: 240 bits, room for 2^228 and the carries */
  FF_EXACT_FIX_BITS = 128,  /* values are summed in multiples of 2^-128 */
  FF_EXACT_CARRY_EVERY = 1 << 14 /* additions between carry passes (int64 limbs hold 2^15) */
};
#define FF_EXACT_MAX 0x1p100 /* |values| the sums accept; larger (or not finite) is counted as lost */

/* One exact sum. Zero-initialise it ({0}) to start from 0. */
typedef struct {
  int64_t limb[FF_EXACT_LIMBS]; /* digits, least significant first: X = sum_k limb[k] 2^(48 k) */
  int64_t lost;                 /* values that could not be added (not finite, or |x| >= 2^100) */
  int64_t adds;                 /* additions since the last carry pass */
} FfExact;

/* Adds x, rounded to the nearest multiple of 2^-128 (exact for |x| >= 2^-75, and for any multiple of
 * 2^-128). Returns 0, or -1 when x is not finite or |x| >= 2^100: then nothing is added and the
 * sum counts one value lost. */
int ff_exact_add(FfExact *a, double x);

/* Collective: all ranks of comm must call it. sum[i] = the sum over all ranks of a[i], for
 * i < n (n the same on every rank). The a[i] are carried in place (their values are unchanged). */
int ff_exact_reduce(FfExact *a, FfExact *sum, int64_t n, MPI_Comm comm);

/* *into += *from, exactly (both carried; from's value is unchanged): the sums of several threads made one. */
void ff_exact_merge(FfExact *into, FfExact *from);

/* The sum correctly rounded to double; NaN when a value was lost. */
double ff_exact_value(const FfExact *a);

/* The sum as an integer count of 2^-frac_bits (80 < frac_bits <= 128), rounded down, for a caller
 * that rounds it to double its own way. FF_ERR_INTERNAL when a value was lost, or when the sum is
 * negative or not below 2^128 such units. */
int ff_exact_fixed(const FfExact *a, int frac_bits, unsigned __int128 *units);

/* Collective: all ranks of comm must call it. *sum = the sum of x [n] over all ranks of comm (n may
 * differ by rank), exact and then correctly rounded: the same for any split of the values over
 * ranks. NaN when any value is not finite or beyond 2^100. Losses: each rank passes its own. */
int ff_exact_sum(MPI_Comm comm, const double *x, int64_t n, double *sum);

#endif
