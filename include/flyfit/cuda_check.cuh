/* The CUDA sources' shared checks and grid arithmetic (src/sim/cuda, src/fit/cuda): a failed runtime
 * call or launch becomes a flyfit error naming the call and CUDA's reason, and every grid-stride
 * kernel gets its blocks from one rule. CUDA C++ only. */
#ifndef FLYFIT_CUDA_CHECK_CUH
#define FLYFIT_CUDA_CHECK_CUH

#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "flyfit/error.h"
}

/* Threads per block of every grid-stride kernel. */
constexpr int kFfThreads = 256;

static inline int ff_cuda_fail(cudaError_t e, const char *what, const char *file, int line) {
  return ff_error(FF_ERR_INTERNAL, file, line, what, "CUDA: %s failed: %s (%s)", what, cudaGetErrorString(e),
                  cudaGetErrorName(e));
}

/* Returns the error of a failed runtime call. */
#define CU(call)                                                                                                  \
  do {                                                                                                            \
    const cudaError_t e_ = (call);                                                                                \
    if (e_ != cudaSuccess) return ff_cuda_fail(e_, #call, __FILE__, __LINE__);                                   \
  } while (0)
/* Returns the error of the launch just made. */
#define CU_LAUNCHED(name)                                                                                         \
  do {                                                                                                            \
    const cudaError_t e_ = cudaGetLastError();                                                                    \
    if (e_ != cudaSuccess) return ff_cuda_fail(e_, name, __FILE__, __LINE__);                                    \
  } while (0)

/* Blocks for n elements, at most what keeps every SM busy; the kernels loop over the rest. */
static inline unsigned ff_blocks_for(int64_t n) {
  const int64_t b = (n + kFfThreads - 1) / kFfThreads;
  return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

#define GRID_STRIDE(q, n) \
  for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < (n); q += (int64_t)gridDim.x * blockDim.x)

#endif
