/* Test driver for tests/integration/spike_dist_pyspike.sh: the spike-train distances of
 * include/flyfit/spike_dist.h on cases read from stdin, one a line:
 *   t_start t_end tau delta n1 n2 t1[0] ... t1[n1-1] t2[0] ... t2[n2-1]
 * and for each a line "ISI SPIKE VAN_ROSSUM GAMMA" (%.17g; Γ with train 1 as the data) on stdout.
 * Exit status 1, with flyfit's message on stderr, on the first case flyfit refuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/spike_dist.h"

static int next_double(char **p, double *x) {
  char *end;
  *x = strtod(*p, &end);
  if (end == *p) return 0;
  *p = end;
  return 1;
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  double *t = NULL;
  int64_t line_no = 0, t_cap = 0;
  int rc = 0;
  while (rc == 0 && getline(&line, &cap, stdin) > 0) {
    ++line_no;
    char *p = line;
    double h[6];
    int k = 0;
    while (k < 6 && next_double(&p, &h[k])) ++k;
    if (k == 0) continue;
    if (k < 6 || h[4] < 0 || h[5] < 0) {
      fprintf(stderr, "spike_dist_cli: line %lld: expected t_start t_end tau delta n1 n2\n", (long long)line_no);
      rc = 2;
      break;
    }
    const int64_t n1 = (int64_t)h[4], n2 = (int64_t)h[5];
    if (n1 + n2 > t_cap) {
      t_cap = n1 + n2;
      if (FF_REALLOC(t, (size_t)t_cap, "spike times") != FF_OK) {
        rc = 1;
        break;
      }
    }
    for (int64_t i = 0; i < n1 + n2; ++i)
      if (!next_double(&p, &t[i])) {
        fprintf(stderr, "spike_dist_cli: line %lld: %lld spike times expected, %lld found\n", (long long)line_no,
                (long long)(n1 + n2), (long long)i);
        rc = 2;
        break;
      }
    if (rc) break;
    double isi, spike, vr, gamma;
    int st = ff_isi_distance(t, n1, t + n1, n2, h[0], h[1], &isi);
    if (st == FF_OK) st = ff_spike_distance(t, n1, t + n1, n2, h[0], h[1], &spike);
    if (st == FF_OK) st = ff_van_rossum(t, n1, t + n1, n2, h[2], &vr);
    if (st == FF_OK) st = ff_gamma_factor(t, n1, t + n1, n2, h[0], h[1], h[3], &gamma, NULL);
    if (st != FF_OK) {
      fprintf(stderr, "spike_dist_cli: line %lld: %s\n", (long long)line_no, ff_error_message());
      rc = 1;
      break;
    }
    printf("%.17g %.17g %.17g %.17g\n", isi, spike, vr, gamma);
  }
  free(line);
  free(t);
  return rc;
}
