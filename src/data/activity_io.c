/* Recordings in and activity.h5 out (include/flyfit/activity.h).
 * In memory, traces are region-major [P × T]; in activity.h5 they are frame-major [T, P] float32
 * (docs/design.md §4.4), transposed on the way in and out. Every check on the input happens before the
 * output file is created, and the file is written under a temporary name, so a bad input never
 * leaves or damages an activity.h5. */
#include "flyfit/activity.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/npz.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ff_recording_destroy(FfRecording *rec) {
  if (rec == NULL) return;
  for (int64_t p = 0; rec->areas && p < rec->P; ++p) free(rec->areas[p]);
  free(rec->areas);
  free(rec->rows);
  free(rec->traces);
  for (int64_t p = 0; rec->matched && p < rec->P; ++p) free(rec->matched[p]);
  free(rec->matched);
  memset(rec, 0, sizeof *rec);
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int read_npz(FfNpz *z, const char *path, const char *names_key, const char *traces_key, FfRecording *rec,
                    char ***names, int64_t *n_names, double **tr) {
  int nd;
  int64_t dims[FF_NPY_MAX_DIMS];
  static const char HINT[] = "name the members with --names-key and --traces-key";
  FF_TRY(ff_npz_require(z, names_key, HINT));
  FF_TRY(ff_npz_require(z, traces_key, HINT));
  FF_TRY(ff_npz_read_strings(z, names_key, names, n_names));
  FF_TRY(ff_npz_read_f64(z, traces_key, tr, &nd, dims));
  if (nd != 2)
    return FF_ERROR(FF_ERR_INPUT, "'%s' member '%s' has %d dimension(s); expected 2, [regions, frames]", path,
                    traces_key, nd);
  if (dims[0] != *n_names) {
    if (dims[1] == *n_names)
      return FF_ERROR(FF_ERR_INPUT, "'%s' member '%s' is [frames, regions] (%lld × %lld, and '%s' has %lld names); "
                      "flyfit reads [regions, frames]: save traces.T", path, traces_key, (long long)dims[0],
                      (long long)dims[1], names_key, (long long)*n_names);
    return FF_ERROR(FF_ERR_INPUT, "'%s': member '%s' has %lld names but member '%s' has %lld rows (regions)", path,
                    names_key, (long long)*n_names, traces_key, (long long)dims[0]);
  }
  if (dims[0] < 2)
    return FF_ERROR(FF_ERR_INPUT, "'%s' member '%s' holds %lld region(s); region 0 is the background, so no brain "
                    "region is left", path, traces_key, (long long)dims[0]);
  rec->P = dims[0] - 1;
  rec->T = dims[1];
  return FF_OK;
}

int ff_recording_read_npz(const char *path, const char *names_key, const char *traces_key, FfRecording *rec) {
  memset(rec, 0, sizeof *rec);
  FfNpz *z = NULL;
  char **names = NULL;
  int64_t n_names = 0;
  double *tr = NULL;
  int st = ff_npz_open(path, &z);
  FF_CALL(st, read_npz(z, path, names_key, traces_key, rec, &names, &n_names, &tr));
  ff_npz_close(&z);
  FF_CALL(st, FF_CALLOC(rec->areas, rec->P + 1, "region names"));
  FF_CALL(st, FF_MALLOC(rec->rows, rec->P, "region rows"));
  if (st == FF_OK) {
    /* Row 0 is the background: its name and trace go; the traces move up one row. */
    for (int64_t p = 0; p < rec->P; ++p) {
      rec->areas[p] = names[p + 1];
      names[p + 1] = NULL;
      rec->rows[p] = p + 1;
    }
    memmove(tr, tr + rec->T, (size_t)(rec->P * rec->T) * sizeof *tr);
    rec->traces = tr;
    tr = NULL;
    const char *base = base_name(path);
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".npz") == 0) len -= 4;
    snprintf(rec->id, sizeof rec->id, "%.*s", (int)len, base);
    snprintf(rec->file, sizeof rec->file, "%s", path);
    snprintf(rec->source, sizeof rec->source, "%s: members '%s', '%s'; row 0 ('%s') dropped as background", base,
             names_key, traces_key, names[0]);
  }
  ff_npz_free_strings(&names, n_names);
  free(tr);
  if (st != FF_OK) ff_recording_destroy(rec);
  return st;
}

int ff_recording_select(FfRecording *rec, const int64_t *keep, int64_t n) {
  for (int64_t k = 0; k < n; ++k)
    if (keep[k] < 0 || keep[k] >= rec->P || (k > 0 && keep[k] <= keep[k - 1]))
      return FF_ERROR(FF_ERR_INTERNAL, "ff_recording_select: region list not ascending within [0, %lld)",
                      (long long)rec->P);
  /* keep is ascending, so every region moves to a row at or before its own. */
  for (int64_t k = 0; k < n; ++k) {
    const int64_t p = keep[k];
    if (p != k) {
      free(rec->areas[k]);
      rec->areas[k] = rec->areas[p];
      rec->areas[p] = NULL;
      if (rec->matched) {
        free(rec->matched[k]);
        rec->matched[k] = rec->matched[p];
        rec->matched[p] = NULL;
      }
      rec->rows[k] = rec->rows[p];
      memmove(rec->traces + k * rec->T, rec->traces + p * rec->T, (size_t)rec->T * sizeof *rec->traces);
    }
  }
  for (int64_t p = n; p < rec->P; ++p) {
    FF_FREE(rec->areas[p]);
    if (rec->matched) FF_FREE(rec->matched[p]);
  }
  rec->P = n;
  return FF_OK;
}

int ff_recording_round_to_float(FfRecording *rec) {
  for (int64_t p = 0; p < rec->P; ++p)
    for (int64_t t = 0; t < rec->T; ++t) {
      double *v = &rec->traces[p * rec->T + t];
      if (isfinite(*v) && fabs(*v) > FLT_MAX)
        return FF_ERROR(FF_ERR_INPUT, "'%s': region '%s' (row %lld) holds %g at frame %lld, beyond the float range "
                        "activity.h5 stores", rec->file, rec->areas[p], (long long)rec->rows[p], *v, (long long)t);
      *v = (double)(float)*v;
    }
  return FF_OK;
}

/* [P × T] doubles to a new [T, P] float array. */
static int to_frame_major(const double *x, int64_t P, int64_t T, float **out) {
  FF_TRY(FF_MALLOC(*out, P * T, "activity.h5 buffer"));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t t = 0; t < T; ++t) (*out)[t * P + p] = (float)x[p * T + t];
  return FF_OK;
}

int ff_activity_write_into(hid_t f, const FfActivityFile *a) {
  const FfRecording *r = a->rec;
  const FfPreprocess *p = a->params;
  float *buf = NULL;
  FF_TRY(ff_h5_write_strings(f, "/areas", (const char *const *)r->areas, r->P));
  int64_t dims[2] = {r->T, r->P};
  FF_TRY(to_frame_major(r->traces, r->P, r->T, &buf));
  int st = ff_h5_write(f, "/traces", H5T_NATIVE_FLOAT, 2, dims, buf);
  FF_FREE(buf);
  FF_TRY(st);
  dims[0] = a->T_out;
  FF_TRY(to_frame_major(a->dff, r->P, a->T_out, &buf));
  st = ff_h5_write(f, "/dff", H5T_NATIVE_FLOAT, 2, dims, buf);
  FF_FREE(buf);
  FF_TRY(st);
  FF_TRY(to_frame_major(a->rates, r->P, a->T_out, &buf));
  st = ff_h5_write(f, "/rates", H5T_NATIVE_FLOAT, 2, dims, buf);
  FF_FREE(buf);
  FF_TRY(st);
  if (a->neuropil_index) FF_TRY(ff_h5_write(f, "/neuropil_index", H5T_NATIVE_INT32, 1, &r->P, a->neuropil_index));
  if (r->matched) FF_TRY(ff_h5_write_strings(f, "/neuropil_names", (const char *const *)r->matched, r->P));
  FF_TRY(ff_h5_write_attr_string(f, "format", "flyfit-activity-1"));
  FF_TRY(ff_h5_write_attr_string(f, "neural_activity_id", r->id));
  FF_TRY(ff_h5_write_attr_string(f, "source", r->source));
  FF_TRY(ff_h5_write_attr_string(f, "created_by", a->created_by ? a->created_by : ""));
  FF_TRY(ff_h5_write_attr_string(f, "preprocessing",
                                 "dF/F (mean over all frames); first-order Butterworth high-pass, causal; trim; OASIS "
                                 "AR(1) deconvolution; scaling to max_rate_hz. /rates are Hz per frame"));
  FF_TRY(ff_h5_write_attr_double(f, "fs_hz", p->fs_hz));
  FF_TRY(ff_h5_write_attr_double(f, "highpass_hz", p->highpass_hz));
  FF_TRY(ff_h5_write_attr_int(f, "trim_frames", p->trim_frames));
  FF_TRY(ff_h5_write_attr_double(f, "calcium_tau_s", p->calcium_tau_s));
  FF_TRY(ff_h5_write_attr_double(f, "calcium_gamma", ff_preprocess_gamma(p)));
  FF_TRY(ff_h5_write_attr_double(f, "deconv_lambda", p->deconv_lambda));
  FF_TRY(ff_h5_write_attr_double(f, "max_rate_hz", p->max_rate_hz));
  FF_TRY(ff_h5_write_attr_int(f, "frames_raw", r->T));
  FF_TRY(ff_h5_write_attr_int(f, "frames", a->T_out));
  if (a->connectome) FF_TRY(ff_h5_write_attr_string(f, "connectome", a->connectome));
  if (a->mapping) FF_TRY(ff_h5_write_attr_string(f, "mapping", a->mapping));
  if (a->dropped) FF_TRY(ff_h5_write_attr_string(f, "dropped", a->dropped));
  return FF_OK;
}

static int write_body(hid_t f, void *a) { return ff_activity_write_into(f, a); }

int ff_activity_write(const char *path, const FfActivityFile *a) {
  FF_TRY(ff_h5_write_atomic(path, write_body, (void *)a));
  return FF_OK;
}

static int read_body(hid_t f, const char *path, FfRecording *rec, FfPreprocess *params) {
  int64_t n, dims[2];
  FF_TRY(ff_h5_read_strings(f, path, "/areas", &rec->areas, &n));
  rec->P = n; /* from here on ff_recording_destroy frees the names */
  FF_TRY(ff_h5_shape(f, path, "/traces", 2, dims));
  if (dims[1] != n)
    return FF_ERROR(FF_ERR_INPUT, "'%s': /traces has %lld columns but /areas has %lld names", path,
                    (long long)dims[1], (long long)n);
  rec->T = dims[0];
  float *buf;
  FF_TRY(FF_MALLOC(buf, rec->T * rec->P, "traces"));
  int st = FF_MALLOC(rec->traces, rec->T * rec->P, "traces");
  FF_CALL(st, FF_MALLOC(rec->rows, rec->P, "region rows"));
  if (st == FF_OK && rec->T * rec->P > 0) {
    /* 2-D read through the 1-D helper's checks would not fit; read the whole dataset directly. */
    hid_t d = H5Dopen2(f, "/traces", H5P_DEFAULT);
    if (d < 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      st = FF_ERROR(FF_ERR_INPUT, "'%s': reading /traces failed (a damaged file?)", path);
    if (d >= 0) H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
  }
  if (st == FF_OK)
    for (int64_t p = 0; p < rec->P; ++p) {
      rec->rows[p] = p;
      for (int64_t t = 0; t < rec->T; ++t) rec->traces[p * rec->T + t] = buf[t * rec->P + p];
    }
  free(buf);
  FF_TRY(st);
  if (ff_h5_exists(f, "/neuropil_names")) { /* the matching flyfit-import --connectome stored */
    int64_t m = 0;
    FF_TRY(ff_h5_read_strings(f, path, "/neuropil_names", &rec->matched, &m));
    if (m != rec->P) {
      ff_h5_free_strings(&rec->matched, m);
      return FF_ERROR(FF_ERR_INPUT, "'%s': /neuropil_names has %lld names but /areas has %lld regions", path,
                      (long long)m, (long long)rec->P);
    }
  }
  FF_TRY(ff_h5_read_attr_double(f, path, "fs_hz", &rec->fs_hz));
  FF_TRY(ff_h5_read_attr_string(f, path, "neural_activity_id", rec->id, sizeof rec->id));
  FF_TRY(ff_h5_read_attr_string(f, path, "source", rec->source, sizeof rec->source));
  if (params) {
    params->fs_hz = rec->fs_hz;
    FF_TRY(ff_h5_read_attr_double(f, path, "highpass_hz", &params->highpass_hz));
    FF_TRY(ff_h5_read_attr_int(f, path, "trim_frames", &params->trim_frames));
    FF_TRY(ff_h5_read_attr_double(f, path, "calcium_tau_s", &params->calcium_tau_s));
    FF_TRY(ff_h5_read_attr_double(f, path, "deconv_lambda", &params->deconv_lambda));
    FF_TRY(ff_h5_read_attr_double(f, path, "max_rate_hz", &params->max_rate_hz));
  }
  return FF_OK;
}

int ff_activity_read(const char *path, FfRecording *rec, FfPreprocess *params) {
  memset(rec, 0, sizeof *rec);
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  snprintf(rec->file, sizeof rec->file, "%s", path);
  int st = read_body(f, path, rec, params);
  H5Fclose(f);
  if (st != FF_OK) {
    ff_recording_destroy(rec);
    ff_error_trace(__FILE__, __LINE__, __func__);
  }
  return st;
}
