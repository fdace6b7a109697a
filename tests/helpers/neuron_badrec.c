/* Test driver for tests/integration/neuron_fit.sh: a damaged copy of a neuron recording.
 *   neuron_badrec IN.h5 OUT.h5 nan|short
 * nan: voltage sample 7 of the last sweep becomes NaN; short: /sweeps/voltage loses its last sample per
 * sweep, so its sweeps are shorter than /sweeps/current's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/neuron_fit.h"

typedef struct {
  const FfNeuronRecording *r;
} Ctx;

static int write_short(hid_t f, void *ctx) {
  const FfNeuronRecording *r = ((Ctx *)ctx)->r;
  const int64_t dc[2] = {r->n_sweeps, r->n_steps}, dv[2] = {r->n_sweeps, r->n_steps - 1};
  double v[r->n_sweeps * (r->n_steps - 1)];
  for (int64_t s = 0; s < r->n_sweeps; ++s)
    memcpy(v + s * (r->n_steps - 1), r->voltage + s * r->n_steps, sizeof(double) * (size_t)(r->n_steps - 1));
  FF_TRY(ff_h5_write_attr_double(f, "dt_ms", r->dt_ms));
  FF_TRY(ff_h5_write(f, "/sweeps/current", H5T_NATIVE_DOUBLE, 2, dc, r->current));
  return ff_h5_write(f, "/sweeps/voltage", H5T_NATIVE_DOUBLE, 2, dv, v);
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[3], "nan") && strcmp(argv[3], "short"))) {
    fprintf(stderr, "usage: neuron_badrec IN.h5 OUT.h5 nan|short\n");
    return 1;
  }
  ff_h5_init();
  FfNeuronRecording r;
  int st = ff_neuron_recording_read(argv[1], &r);
  if (st == FF_OK && !strcmp(argv[3], "nan")) {
    r.voltage[(r.n_sweeps - 1) * r.n_steps + 7] = NAN;
    st = ff_neuron_recording_write(argv[2], &r, 0.0, 0, "neuron_badrec");
  } else if (st == FF_OK) {
    Ctx c = {&r};
    st = ff_h5_write_atomic(argv[2], write_short, &c);
  }
  if (st) fprintf(stderr, "neuron_badrec: %s\n", ff_error_message());
  if (st == FF_OK) ff_neuron_recording_destroy(&r);
  return st ? 1 : 0;
}
