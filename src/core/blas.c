/* OpenBLAS's thread count held to one around a call (blas.h). */
#include "flyfit/blas.h"

/* OpenBLAS's extensions; no header of the CBLAS/LAPACKE interface declares them */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

int ff_blas_pin(void) {
  const int t = openblas_get_num_threads();
  if (t != 1) openblas_set_num_threads(1);
  return t;
}

void ff_blas_unpin(int threads) {
  if (threads != 1) openblas_set_num_threads(threads);
}
