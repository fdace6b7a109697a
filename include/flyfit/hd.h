/* FF_HD marks small inline functions shared by the CPU backend and the CUDA kernels.
 * Under nvcc it expands to __host__ __device__; in plain C11 it expands to nothing, so the
 * same per-neuron arithmetic runs on both sides and gives the same bits (no FMA contraction:
 * the Makefile builds C with -ffp-contract=off and CUDA with --fmad=false). FF_STATIC_ASSERT is
 * the compile-time check of both languages (C11 _Static_assert, C++ static_assert). */
#ifndef FLYFIT_HD_H
#define FLYFIT_HD_H

#if defined(__CUDACC__)
#define FF_HD __host__ __device__
#else
#define FF_HD
#endif

#if defined(__cplusplus)
#define FF_STATIC_ASSERT(cond, why) static_assert(cond, why)
#else
#define FF_STATIC_ASSERT(cond, why) _Static_assert(cond, why)
#endif

#endif
