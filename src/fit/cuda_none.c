/* Builds without nvcc: round 1 has no GPU (include/flyfit/fit_dev.h). ff_dev_select refuses
 * backend = cuda in such a build before any of these is called; they fail all the same. */
#ifndef FF_HAVE_CUDA
#include "flyfit/error.h"
#include "flyfit/fit_dev.h"

static int no_cuda(void) {
  return FF_ERROR(FF_ERR_INPUT, "[run] backend = cuda, but this flyfit was built without CUDA: rebuild with the CUDA "
                                "toolkit installed (make CUDA=1), or set [run] backend = cpu");
}

int ff_fit_cuda_init(int device, char *desc, int cap) {
  (void)device;
  if (cap > 0) desc[0] = '\0';
  return no_cuda();
}

int ff_fit_cuda_alloc(void **p, int64_t bytes, const char *what) {
  (void)bytes;
  (void)what;
  *p = NULL;
  return no_cuda();
}

void ff_fit_cuda_free(void *p) { (void)p; }

int ff_fit_cuda_launch(const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, int kind, int64_t n) {
  (void)d;
  (void)k;
  (void)a;
  (void)kind;
  (void)n;
  return no_cuda();
}
#else
typedef int ff_fit_cuda_none_unused; /* ISO C forbids an empty translation unit */
#endif
