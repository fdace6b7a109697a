/* Test driver for tests/integration/cells_brian2.sh: ff_stdp_pair (include/flyfit/cells.h) on every
 * (pre, post) pair of given spike trains. stdin: one line "RULE A_PLUS A_MINUS TAU_PLUS_MS TAU_MINUS_MS W_MIN W_MAX W0"
 * (RULE all or nearest), then lines "pre I T_MS" and "post J T_MS", each train in time order, ids below 256.
 * Prints "I J W" (%.17g) for every pre I and post J seen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"

enum { MAX_ID = 256, MAX_SPIKES = 100000 };

int main(void) {
  FfStdp p;
  char rule[16], kind[8];
  double w0;
  if (scanf("%15s %lf %lf %lf %lf %lf %lf %lf", rule, &p.a_plus, &p.a_minus, &p.tau_plus_ms, &p.tau_minus_ms, &p.w_min,
            &p.w_max, &w0) != 8) {
    fprintf(stderr, "cells_stdp: the first line is RULE A_PLUS A_MINUS TAU_PLUS TAU_MINUS W_MIN W_MAX W0\n");
    return 2;
  }
  p.rule = strcmp(rule, "nearest") == 0 ? FF_STDP_NEAREST : FF_STDP_ALL;
  static double t[2][MAX_ID][MAX_SPIKES / 64];
  static int64_t n[2][MAX_ID];
  int max_id[2] = {-1, -1}, id;
  double x;
  while (scanf("%7s %d %lf", kind, &id, &x) == 3) {
    const int k = strcmp(kind, "post") == 0;
    if (id < 0 || id >= MAX_ID || n[k][id] >= MAX_SPIKES / 64) {
      fprintf(stderr, "cells_stdp: id %d or its spike count is out of range\n", id);
      return 2;
    }
    t[k][id][n[k][id]++] = x;
    if (id > max_id[k]) max_id[k] = id;
  }
  for (int i = 0; i <= max_id[0]; ++i)
    for (int j = 0; j <= max_id[1]; ++j)
      printf("%d %d %.17g\n", i, j, ff_stdp_pair(&p, t[0][i], n[0][i], t[1][j], n[1][j], w0));
  return 0;
}
