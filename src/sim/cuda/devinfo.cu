/* CUDA device discovery for logs and for refusing a GPU run where there is no GPU. */
#include <cuda_runtime.h>
#include <stdio.h>
#ifdef FF_HAVE_NCCL
#include <nccl.h>
#endif

#include "flyfit/cuda.h"

extern "C" int ff_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

extern "C" void ff_cuda_describe(char *buf, size_t cap) {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  size_t len = (size_t)snprintf(buf, cap, "CUDA runtime %d.%d", rt / 1000, (rt % 1000) / 10);
#ifdef FF_HAVE_NCCL
  int nv = 0;
  ncclGetVersion(&nv);
  if (len < cap) len += (size_t)snprintf(buf + len, cap - len, ", NCCL %d.%d.%d", nv / 10000, (nv / 100) % 100, nv % 100);
#endif
  const int n = ff_cuda_device_count();
  if (len < cap) len += (size_t)snprintf(buf + len, cap - len, ", %d device%s%s", n, n == 1 ? "" : "s", n ? ":" : "");
  for (int d = 0; d < n && len < cap; ++d) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    len += (size_t)snprintf(buf + len, cap - len, " [%d] %s (%.0f GB, sm_%d%d)", d, p.name,
                            (double)p.totalGlobalMem / 1e9, p.major, p.minor);
  }
}
