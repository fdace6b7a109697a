/* Measurement driver for mode = task's gradient methods on the real trials (docs/guide/task.md, "Where the online
 * methods' gradient goes"): the mean gradient of N training trials by BPTT, D-RTRL and ES-D-RTRL at one network,
 * and each online method's cosine with BPTT, and the ratio of norms, per block of parameters.
 *   task_grads N [--weights RESULTS.h5] [section.key=value ...]
 * The network is the seed's initial one, or the trained one of --weights. One line per method and block:
 *   METHOD BLOCK cosine=C norm_ratio=R bptt_norm=B */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/task.h"

enum { CUE, RECALL, NOISE, EE, EI, IROWS, READOUT, BLOCKS };
static const char *const BLOCK_NAMES[BLOCKS] = {"input_cue",     "input_recall", "input_noise", "rec_from_exc_to_exc",
                                                "rec_from_inh_to_exc", "rows_of_inh", "readout"};

/* The block of parameter q. */
static int block_of(const FfTaskNet *net, int64_t q) {
  const int64_t nw = (int64_t)net->n * net->n_pre;
  if (q >= nw) return READOUT;
  const int32_t i = (int32_t)(q / net->n_pre), c = (int32_t)(q % net->n_pre);
  if (i >= net->n_exc) return IROWS;
  if (c < 2 * FF_TASK_GROUP) return CUE;
  if (c < 3 * FF_TASK_GROUP) return RECALL;
  if (c < FF_TASK_N_IN) return NOISE;
  return ff_task_col_exc(net, c) ? EE : EI;
}

static int die(void) {
  fprintf(stderr, "task_grads: %s\n", ff_error_message());
  MPI_Finalize();
  return 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (argc < 2) {
    fprintf(stderr, "usage: task_grads N [--weights RESULTS.h5] [section.key=value ...]\n");
    MPI_Finalize();
    return 2;
  }
  const int64_t n = atoll(argv[1]);
  const char *weights = NULL;
  FfConfig c;
  ff_config_init(&c);
  for (int a = 2; a < argc; ++a) {
    if (!strcmp(argv[a], "--weights") && a + 1 < argc) weights = argv[++a];
    else if (ff_config_set(&c, argv[a]) != FF_OK) return die();
  }
  FfTaskSpec s;
  FfTaskNet net;
  if (ff_task_spec_from_config(&c, &s) != FF_OK || ff_task_net_init(&s, (uint64_t)c.seed, &net) != FF_OK) return die();
  if (weights && ff_task_net_load(weights, &net) != FF_OK) return die();
  const int64_t P = net.n_param;
  double *g[3], *gt = malloc((size_t)P * sizeof *gt);
  FfTaskWork *w = NULL;
  FfTaskTrial tr = {0};
  if (ff_task_work_create(&s, &net, &w) != FF_OK) return die();
  for (int m = 0; m < 3; ++m) {
    g[m] = calloc((size_t)P, sizeof *g[m]);
    s.method = m;
    for (int64_t k = 0; k < n; ++k) {
      FfTaskScore sc;
      if (ff_task_trial_make(&s, (uint64_t)c.seed, FF_TASK_TRAIN, k, &tr) != FF_OK ||
          ff_task_trial_grad(&s, &net, &tr, m, w, gt, &sc) != FF_OK)
        return die();
      for (int64_t q = 0; q < P; ++q) g[m][q] += gt[q] / (double)n;
    }
  }
  for (int m = 1; m < 3; ++m)
    for (int b = 0; b < BLOCKS; ++b) {
      double dot = 0.0, nb = 0.0, nm = 0.0;
      for (int64_t q = 0; q < P; ++q) {
        if (block_of(&net, q) != b || (q < (int64_t)net.n * net.n_pre && !net.mask[q])) continue;
        dot += g[0][q] * g[m][q];
        nb += g[0][q] * g[0][q];
        nm += g[m][q] * g[m][q];
      }
      printf("%s %s cosine=%.4f norm_ratio=%.4g bptt_norm=%.4g\n", ff_task_method_name(m), BLOCK_NAMES[b],
             nb > 0 && nm > 0 ? dot / sqrt(nb * nm) : NAN, nb > 0 ? sqrt(nm / nb) : NAN, sqrt(nb));
    }
  for (int m = 0; m < 3; ++m) free(g[m]);
  free(gt);
  ff_task_work_destroy(&w);
  ff_task_trial_destroy(&tr);
  ff_task_net_destroy(&net);
  MPI_Finalize();
  return 0;
}
