/* Memory bandwidth of this machine, for the fit benchmark's "bytes touched per step" comparison:
 * the STREAM triad a = b + s c over arrays far larger than the caches, on every OpenMP thread,
 * best of 10, counting the 3 x 8 bytes each element moves (reads of b and c, write of a). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const long n = argc > 1 ? atol(argv[1]) : 1L << 25;
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  if (!a || !b || !c) return 1;
#pragma omp parallel for
  for (long i = 0; i < n; ++i) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }
  double best = 1e30;
  for (int rep = 0; rep < 10; ++rep) {
    const double t0 = omp_get_wtime();
#pragma omp parallel for
    for (long i = 0; i < n; ++i) a[i] = b[i] + 3.0 * c[i];
    const double t = omp_get_wtime() - t0;
    if (t < best) best = t;
  }
  printf("%.2f GB/s triad bandwidth (%d threads, %.0f MB per array, check %g)\n", 3.0 * 8 * n / best / 1e9,
         omp_get_max_threads(), n * 8.0 / 1e6, a[n / 2]);
  free(a);
  free(b);
  free(c);
  return 0;
}
