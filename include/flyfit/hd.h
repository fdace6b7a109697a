/* FF_HD marks small inline functions shared by the CPU backend and the CUDA kernels.
 * Under nvcc it expands to __host__ __device__; in plain C11 it expands to nothing, so the
 * same per-neuron arithmetic runs on both sides and gives the same bits (no FMA contraction:
 * the Makefile builds C with -ffp-contract=off and CUDA with --fmad=false). */
#ifndef FLYFIT_HD_H
#define FLYFIT_HD_H

#if defined(__CUDACC__)
#define FF_HD __host__ __device__
#else
#define FF_HD
#endif

#endif
