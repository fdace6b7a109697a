/* What the CUDA side of this build can see. The GPU simulation backend lives in src/sim/cuda/ and
 * plugs into the backend table of sim.h; builds without nvcc get the stub in src/sim/cuda_none.c. */
#ifndef FLYFIT_CUDA_H
#define FLYFIT_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of visible CUDA devices (0 when none, or when built without CUDA). */
int ff_cuda_device_count(void);
/* One line describing the CUDA build and the devices, e.g.
 * "CUDA runtime 13.0, NCCL 2.28.9, 1 device: [0] NVIDIA H100 (80 GB, sm_90)". */
void ff_cuda_describe(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
