/* Test driver for tests/integration/neuron_brian2.sh: one sweep of a single-neuron model
 * (include/flyfit/neuron_models.h) under an input current read from stdin, one value a line.
 *   neuron_sim MODEL DT_MS [NAME=VALUE ...] [--sens]
 * prints a line per step: "v spiked" (v at the start of the step, %.17g), and with --sens the
 * sensitivities dv/dp_j after them. Parameters not named keep the model's defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/neuron_models.h"

static int die(void) {
  fprintf(stderr, "neuron_sim: %s\n", ff_error_message());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: neuron_sim MODEL DT_MS [NAME=VALUE ...] [--sens] < current\n");
    return 2;
  }
  const FfNeuronModel *m = ff_neuron_model(argv[1]);
  if (!m) {
    fprintf(stderr, "neuron_sim: unknown model %s\n", argv[1]);
    return 2;
  }
  double p[FF_NEURON_MAX_PARAM];
  memcpy(p, m->defaults, sizeof(double) * (size_t)m->n_param);
  const double dt = strtod(argv[2], NULL);
  int sens = 0;
  for (int a = 3; a < argc; ++a) {
    if (strcmp(argv[a], "--sens") == 0) {
      sens = 1;
      continue;
    }
    char *eq = strchr(argv[a], '=');
    if (!eq) {
      fprintf(stderr, "neuron_sim: expected NAME=VALUE, got %s\n", argv[a]);
      return 2;
    }
    *eq = '\0';
    int k;
    if (ff_neuron_param_index(m, argv[a], &k) != FF_OK) return die();
    p[k] = strtod(eq + 1, NULL);
  }
  double *cur = NULL, *v = NULL, *dv = NULL, x;
  uint8_t *spk = NULL;
  int64_t n = 0, cap = 0;
  while (scanf("%lf", &x) == 1) {
    if (n == cap) {
      cap = cap ? 2 * cap : 4096;
      if (FF_REALLOC(cur, (size_t)cap, "input current") != FF_OK) return die();
    }
    cur[n++] = x;
  }
  int st = FF_MALLOC(v, n ? n : 1, "v");
  if (st == FF_OK) st = FF_MALLOC(spk, n ? n : 1, "spikes");
  if (st == FF_OK && sens && m->n_sens) st = FF_MALLOC(dv, (n ? n : 1) * m->n_sens, "dv/dp");
  if (st == FF_OK) st = ff_neuron_simulate(m, p, dt, cur, n, NULL, v, spk, dv, NULL);
  if (st != FF_OK) return die();
  for (int64_t k = 0; k < n; ++k) {
    printf("%.17g %d", v[k], spk[k]);
    if (dv)
      for (int j = 0; j < m->n_sens; ++j) printf(" %.17g", dv[k * m->n_sens + j]);
    putchar('\n');
  }
  free(cur);
  free(v);
  free(spk);
  free(dv);
  return 0;
}
