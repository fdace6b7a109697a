/* OpenBLAS's own threads split a LAPACK or BLAS call's sums differently for each thread count, and the thread count
 * follows the cores a rank was bound to: held to one thread, a call gives the same bits on any rank count and any
 * binding (the exactness rule, docs/design.md §5). */
#ifndef FLYFIT_BLAS_H
#define FLYFIT_BLAS_H

/* Holds OpenBLAS to one thread until ff_blas_unpin; returns the setting to restore. */
int ff_blas_pin(void);
void ff_blas_unpin(int threads);

#endif
