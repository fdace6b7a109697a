/* The recording of single-neuron fitting (neuron_fit.h; layout in docs/formats.md): reading with every
 * check a fit needs, writing, and the planted sweeps of flyfit-synth --neuron. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/neuron_fit.h"
#include "flyfit/rng.h"
#include "flyfit/spike_dist.h"

void ff_neuron_recording_destroy(FfNeuronRecording *r) {
  FF_FREE(r->current);
  FF_FREE(r->voltage);
  FF_FREE(r->spike_indptr);
  FF_FREE(r->spike_times);
}

/* a whole 2-D float64 dataset of shape dims */
static int read_2d(hid_t f, const char *path, const char *dset, int64_t *dims, double **out) {
  FF_TRY(ff_h5_shape(f, path, dset, 2, dims));
  if (dims[0] < 1 || dims[1] < 2)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %s is %lld x %lld: it needs at least one sweep of two samples", path, dset,
                    (long long)dims[0], (long long)dims[1]);
  FF_TRY(FF_MALLOC(*out, dims[0] * dims[1], dset));
  return ff_h5_read_whole(f, path, dset, H5T_NATIVE_DOUBLE, *out);
}

static int all_finite(const char *path, const char *dset, const double *x, int64_t rows, int64_t cols) {
  for (int64_t k = 0; k < rows * cols; ++k)
    if (!isfinite(x[k]))
      return FF_ERROR(FF_ERR_INPUT, "'%s': %s has a non-finite value (%g) in sweep %lld at sample %lld; a fit needs "
                                    "every sample (cut the sweep, or fill the gap)",
                      path, dset, x[k], (long long)(k / cols), (long long)(k % cols));
  return FF_OK;
}

static int read_body(hid_t f, const char *path, FfNeuronRecording *r) {
  char model[64] = "";
  if (H5Aexists(f, "model") > 0) {
    FF_TRY(ff_h5_read_attr_string(f, path, "model", model, sizeof model));
    r->model = ff_neuron_model(model);
    if (r->model == NULL)
      return FF_ERROR(FF_ERR_INPUT, "'%s': attribute model = '%s' is not a model (hh, gif, izhikevich, adex)", path,
                      model);
  }
  FF_TRY(ff_h5_read_attr_double(f, path, "dt_ms", &r->dt_ms));
  if (!(r->dt_ms > 0 && isfinite(r->dt_ms)))
    return FF_ERROR(FF_ERR_INPUT, "'%s': attribute dt_ms = %g must be > 0", path, r->dt_ms);
  int64_t dc[2], dv[2];
  FF_TRY(read_2d(f, path, "/sweeps/current", dc, &r->current));
  FF_TRY(read_2d(f, path, "/sweeps/voltage", dv, &r->voltage));
  if (dc[0] != dv[0])
    return FF_ERROR(FF_ERR_INPUT, "'%s': /sweeps/current has %lld sweeps but /sweeps/voltage %lld", path,
                    (long long)dc[0], (long long)dv[0]);
  if (dc[1] != dv[1])
    return FF_ERROR(FF_ERR_INPUT, "'%s': mismatched sweep lengths: /sweeps/current has %lld samples per sweep but "
                                  "/sweeps/voltage %lld; give both the same samples (t = k dt)",
                    path, (long long)dc[1], (long long)dv[1]);
  r->n_sweeps = dc[0];
  r->n_steps = dc[1];
  FF_TRY(all_finite(path, "/sweeps/current", r->current, r->n_sweeps, r->n_steps));
  FF_TRY(all_finite(path, "/sweeps/voltage", r->voltage, r->n_sweeps, r->n_steps));
  int64_t n_ip = 0, n_sp = 0;
  if (ff_h5_exists(f, "/sweeps/spike_indptr")) {
    FF_TRY(ff_h5_read_all(f, path, "/sweeps/spike_indptr", H5T_NATIVE_INT64, r->n_sweeps + 1,
                          (void **)&r->spike_indptr, &n_ip));
    FF_TRY(ff_h5_read_all(f, path, "/sweeps/spike_times", H5T_NATIVE_DOUBLE, -1, (void **)&r->spike_times, &n_sp));
    char what[FF_CONFIG_STR + 64];
    snprintf(what, sizeof what, "'%s': /sweeps/spike_indptr", path);
    FF_TRY(ff_spike_index_check(r->spike_indptr, r->n_sweeps, n_sp, what));
    FF_TRY(all_finite(path, "/sweeps/spike_times", r->spike_times, 1, n_sp));
  }
  if (ff_h5_exists(f, "/truth/values")) {
    double *t = NULL;
    int64_t n = 0;
    FF_TRY(ff_h5_read_all(f, path, "/truth/values", H5T_NATIVE_DOUBLE, -1, (void **)&t, &n));
    if (n <= FF_NEURON_MAX_PARAM && (r->model == NULL || n == r->model->n_param)) {
      memcpy(r->truth, t, sizeof(double) * (size_t)n);
      r->has_truth = 1;
    }
    free(t);
  }
  return FF_OK;
}

int ff_neuron_recording_read(const char *path, FfNeuronRecording *r) {
  memset(r, 0, sizeof *r);
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int st = read_body(f, path, r);
  H5Fclose(f);
  if (st) ff_neuron_recording_destroy(r);
  return st;
}

typedef struct {
  const FfNeuronRecording *r;
  double noise_mV;
  uint64_t seed;
  const char *created_by;
} WriteCtx;

static int write_body(hid_t f, void *ctx) {
  const WriteCtx *c = ctx;
  const FfNeuronRecording *r = c->r;
  const int64_t dims[2] = {r->n_sweeps, r->n_steps}, ni = r->n_sweeps + 1, ns = r->spike_indptr[r->n_sweeps];
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-neuron-recording-1"),
                        FF_ATTR_STRING("model", r->model ? r->model->name : NULL),
                        FF_ATTR_DOUBLE("dt_ms", r->dt_ms),
                        FF_ATTR_DOUBLE("noise_mV", c->noise_mV),
                        FF_ATTR_INT("seed", (int64_t)c->seed),
                        FF_ATTR_STRING("created_by", c->created_by)};
  FF_TRY(ff_h5_write_attrs(f, NULL, a, (int)(sizeof a / sizeof a[0])));
  FF_TRY(ff_h5_write(f, "/sweeps/current", H5T_NATIVE_DOUBLE, 2, dims, r->current));
  FF_TRY(ff_h5_write(f, "/sweeps/voltage", H5T_NATIVE_DOUBLE, 2, dims, r->voltage));
  FF_TRY(ff_h5_write(f, "/sweeps/spike_indptr", H5T_NATIVE_INT64, 1, &ni, r->spike_indptr));
  FF_TRY(ff_h5_write(f, "/sweeps/spike_times", H5T_NATIVE_DOUBLE, 1, &ns, r->spike_times));
  const FfH5Attr u[] = {FF_ATTR_STRING("unit", r->model ? r->model->input_unit : NULL)};
  FF_TRY(ff_h5_write_attrs(f, "/sweeps/current", u, 1));
  const FfH5Attr mv[] = {FF_ATTR_STRING("unit", "mV")};
  FF_TRY(ff_h5_write_attrs(f, "/sweeps/voltage", mv, 1));
  if (r->has_truth && r->model) {
    const int64_t np = r->model->n_param;
    FF_TRY(ff_h5_write(f, "/truth/values", H5T_NATIVE_DOUBLE, 1, &np, r->truth));
    FF_TRY(ff_h5_write_strings(f, "/truth/names", r->model->param_names, np));
    FF_TRY(ff_h5_write_strings(f, "/truth/units", r->model->param_units, np));
  }
  return FF_OK;
}

int ff_neuron_recording_write(const char *path, const FfNeuronRecording *r, double noise_mV, uint64_t seed,
                              const char *created_by) {
  WriteCtx c = {r, noise_mV, seed, created_by};
  return ff_h5_write_atomic(path, write_body, &c);
}

/* ---- flyfit-synth --neuron ---------------------------------------------------------------------------- */
void ff_neuron_synth_defaults(const FfNeuronModel *m, FfNeuronSynthOptions *o) {
  memset(o, 0, sizeof *o);
  o->model = m;
  memcpy(o->params, m->defaults, sizeof(double) * (size_t)m->n_param);
  o->sweeps = 5;
  o->duration_ms = 100.0;
  o->dt_ms = 0.01;
  o->noise_mV = 1.0;
  o->seed = 1;
  /* from below to well above each default cell's rheobase, in its input unit */
  if (!strcmp(m->name, "hh")) o->amp_lo = 0.05, o->amp_hi = 0.8;
  else if (!strcmp(m->name, "gif")) o->amp_lo = 0.5, o->amp_hi = 2.5, o->duration_ms = 500.0, o->dt_ms = 0.1;
  else if (!strcmp(m->name, "izhikevich")) o->amp_lo = 2.0, o->amp_hi = 15.0, o->duration_ms = 500.0, o->dt_ms = 0.1;
  else o->amp_lo = 300.0, o->amp_hi = 1200.0, o->duration_ms = 500.0, o->dt_ms = 0.1;
  /* an OU current of mean about the rheobase, fluctuating by most of it */
  const double mid = 0.5 * (o->amp_lo + o->amp_hi);
  o->ou_mean = !strcmp(m->name, "gif") ? 1.2 : 0.5 * mid;
  o->ou_sd = !strcmp(m->name, "gif") ? 0.8 : 0.5 * mid;
  o->ou_tau_ms = 5.0;
}

int ff_neuron_synth_params(FfNeuronSynthOptions *o, const char *text) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", text);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') ++tok;
    char *eq = strchr(tok, '=');
    if (eq == NULL) return FF_ERROR(FF_ERR_USAGE, "--params: '%s' is not name=value", tok);
    *eq = '\0';
    for (char *e = eq - 1; e >= tok && *e == ' '; --e) *e = '\0';
    int k;
    FF_TRY(ff_neuron_param_index(o->model, tok, &k));
    char *end;
    const double v = strtod(eq + 1, &end);
    while (*end == ' ') ++end;
    if (end == eq + 1 || *end || !isfinite(v))
      return FF_ERROR(FF_ERR_USAGE, "--params: %s = '%s' is not a finite number", tok, eq + 1);
    o->params[k] = v;
  }
  return ff_neuron_params_check(o->model, o->params);
}

int ff_neuron_synth(const FfNeuronSynthOptions *o, FfNeuronRecording *r) {
  memset(r, 0, sizeof *r);
  const FfNeuronModel *m = o->model;
  const int64_t n = (int64_t)floor(o->duration_ms / o->dt_ms + 0.5), S = o->sweeps;
  if (n < 2 || n > 100000000 || S < 1)
    return FF_ERROR(FF_ERR_USAGE, "--duration-ms %g at --dt-ms %g is %lld samples per sweep: give 2..1e8",
                    o->duration_ms, o->dt_ms, (long long)n);
  r->model = m;
  r->dt_ms = o->dt_ms;
  r->n_sweeps = S;
  r->n_steps = n;
  r->has_truth = 1;
  memcpy(r->truth, o->params, sizeof(double) * (size_t)m->n_param);
  uint8_t *spiked = NULL;
  int64_t cap = 1024, used = 0;
  int st = FF_MALLOC(r->current, S * n, "sweep currents");
  FF_CALL(st, FF_MALLOC(r->voltage, S * n, "sweep voltages"));
  FF_CALL(st, FF_MALLOC(r->spike_indptr, S + 1, "spike index"));
  FF_CALL(st, FF_MALLOC(r->spike_times, cap, "spike times"));
  FF_CALL(st, FF_MALLOC(spiked, n, "spike flags"));
  const int64_t on = (int64_t)floor(0.1 * (double)n + 0.5), off = (int64_t)floor(0.8 * (double)n + 0.5);
  if (st == FF_OK) r->spike_indptr[0] = 0;
  for (int64_t s = 0; st == FF_OK && s < S; ++s) {
    const double amp = S == 1 ? o->amp_hi : o->amp_lo + (o->amp_hi - o->amp_lo) * (double)s / (double)(S - 1);
    double *i = r->current + s * n, *v = r->voltage + s * n;
    if (!o->ou)
      for (int64_t k = 0; k < n; ++k) i[k] = k >= on && k < off ? amp : 0.0;
    else {
      const double e = exp(-o->dt_ms / o->ou_tau_ms), c = o->ou_sd * sqrt(1.0 - e * e);
      for (int64_t k = 0; k < n; ++k) {
        uint32_t w[4];
        ff_rng4(o->seed, FF_STREAM_NEURON_OU, (uint32_t)k, (uint32_t)s, (uint32_t)(k >> 32), w);
        const double xi = ff_normal(w[0], w[1]);
        i[k] = k == 0 ? o->ou_mean + o->ou_sd * xi : o->ou_mean + (i[k - 1] - o->ou_mean) * e + c * xi;
      }
    }
    st = ff_neuron_simulate(m, o->params, o->dt_ms, i, n, NULL, v, spiked, NULL, NULL);
    for (int64_t k = 0; st == FF_OK && k < n; ++k) {
      if (spiked[k]) {
        if (used == cap) {
          double *t = realloc(r->spike_times, sizeof(double) * (size_t)(cap *= 2));
          if (t == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory for spike times");
          else r->spike_times = t;
        }
        if (st == FF_OK) r->spike_times[used++] = (double)(k + 1) * o->dt_ms;
      }
      if (o->noise_mV > 0) {
        uint32_t w[4];
        ff_rng4(o->seed, FF_STREAM_NEURON_NOISE, (uint32_t)k, (uint32_t)s, (uint32_t)(k >> 32), w);
        v[k] += o->noise_mV * ff_normal(w[0], w[1]);
      }
    }
    if (st == FF_OK) r->spike_indptr[s + 1] = used;
  }
  free(spiked);
  if (st) ff_neuron_recording_destroy(r);
  return st;
}
