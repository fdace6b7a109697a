/* Builds without nvcc: no CUDA devices (include/flyfit/cuda.h). */
#ifndef FF_HAVE_CUDA
#include <stdio.h>

#include "flyfit/cuda.h"
#include "flyfit/sim_dev.h"

int ff_cuda_device_count(void) { return 0; }

const FfDevOps *ff_dev_ops_cuda(void) { return NULL; }

void ff_cuda_describe(char *buf, size_t cap) { snprintf(buf, cap, "built without CUDA (make CUDA=1 needs nvcc)"); }
#else
typedef int ff_cuda_none_unused; /* ISO C forbids an empty translation unit */
#endif
