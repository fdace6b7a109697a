/* Test driver for tests/integration/gru_ranks.sh: a few data-parallel round-2 training iterations
 * on a synthetic batch, the batch split over however many ranks mpirun starts. Rank 0 prints per
 * iteration the loss, gradient norm and a hash of the reduced gradient's bits, then a hash of the
 * final parameters: the lines must not depend on the rank count. It also prints, as "naive", the
 * loss summed as a plain double MPI_SUM of per-rank sums, which is allowed to differ.
 * Usage: gru_ranks B L P H CHUNK ITERS */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/gru.h"
#include "flyfit/rng.h"

static uint64_t fnv(const void *p, size_t n) {
  const unsigned char *c = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

static int die(int rank) {
  fprintf(stderr, "[rank %d] %s\n%s", rank, ff_error_message(), ff_error_traceback());
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 7) {
    if (rank == 0) fprintf(stderr, "usage: gru_ranks B L P H CHUNK ITERS\n");
    MPI_Finalize();
    return 1;
  }
  const int32_t B = atoi(argv[1]), L = atoi(argv[2]), P = atoi(argv[3]), H = atoi(argv[4]);
  const int32_t chunk = atoi(argv[5]), iters = atoi(argv[6]);
  FfGruSetup s = {.P = P, .H = H, .chunk = chunk, .seed = 12345};
  FfGru *g;
  if (ff_gru_create(&s, &g)) return die(rank);
  int32_t first, count;
  ff_gru_shard(g, B, rank, size, &first, &count);
  /* this rank's sequences of L + 1 frames, keyed by the global sequence index; frame t + 1 is
   * frame t's target, as a 5 Hz bin */
  const int64_t per = (int64_t)L * P, n = count * per;
  double *x = malloc((size_t)(n + 1) * sizeof *x), *y = malloc((size_t)(n + 1) * sizeof *y);
  double *dl = malloc((size_t)(n + 1) * sizeof *dl), *low = malloc((size_t)(n + 1) * sizeof *low);
  double *high = malloc((size_t)(n + 1) * sizeof *high), *loss = malloc((size_t)(count + 1) * sizeof *loss);
  for (int32_t b = 0; b < count; ++b)
    for (int32_t t = 0; t <= L; ++t)
      for (int32_t p = 0; p < P; ++p) {
        uint32_t w[4];
        ff_rng4(99, 1, (uint32_t)(first + b), (uint32_t)t, (uint32_t)p, w);
        const double rate = 60.0 * ff_u01(w[0]) * (1.0 + 0.5 * (p % 3)) / 2.0;
        const int64_t i = b * per + (int64_t)t * P + p;
        if (t < L) x[i] = rate;
        if (t > 0) {
          low[i - P] = 5.0 * (double)(int64_t)(rate / 5.0);
          high[i - P] = low[i - P] + 5.0;
        }
      }
  FfGruTape *tape;
  if (ff_gru_tape_create(&tape)) return die(rank);
  const double denom = (double)B * L * P;
  for (int it = 0; it < iters; ++it) {
    ff_gru_zero_grad(g);
    if (ff_gru_forward(g, count, L, x, y, tape)) return die(rank);
    double local = 0.0;
    for (int32_t b = 0; b < count; ++b) {
      loss[b] = ff_bin_interval_loss(y + b * per, low + b * per, high + b * per, per, denom, dl + b * per);
      local += loss[b];
    }
    if (ff_gru_backward(g, tape, dl)) return die(rank);
    if (ff_gru_reduce_grads(g, MPI_COMM_WORLD)) return die(rank);
    double total, naive;
    if (ff_exact_sum(MPI_COMM_WORLD, loss, count, &total)) return die(rank);
    MPI_Allreduce(&local, &naive, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    const double norm = ff_gru_clip_grads(g, 1.0);
    const uint64_t gh = fnv(ff_gru_array(g, FF_GRU_GRADS), (size_t)ff_gru_nparams(g) * sizeof(double));
    if (ff_gru_adam(g, 1e-2, 0.9, 0.999, 1e-8)) return die(rank);
    if (rank == 0) {
      printf("iter %d loss %a norm %a grad %016llx\n", it, total, norm, (unsigned long long)gh);
      printf("naive %d loss %a\n", it, naive);
    }
  }
  if (rank == 0)
    printf("params %016llx\n",
           (unsigned long long)fnv(ff_gru_array(g, FF_GRU_PARAMS), (size_t)ff_gru_nparams(g) * sizeof(double)));
  ff_gru_tape_destroy(&tape);
  ff_gru_destroy(&g);
  free(x), free(y), free(dl), free(low), free(high), free(loss);
  MPI_Finalize();
  return 0;
}
