/* Recordings of cells for mode = cells (cells.h; layout in docs/formats.md): the HDF5 file flyfit-synth --cells
 * and flyfit-import cells write, its reader with every check a run needs (finite values, enough frames for the
 * deconvolution), and the importer of cells x frames from .npz, CSV or HDF5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/cells.h"
#include "flyfit/csv.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/npz.h"

void ff_cells_recording_destroy(FfCellsRecording *r) {
  FF_FREE(r->fluor);
  FF_FREE(r->w_true);
  FF_FREE(r->excitatory);
  FF_FREE(r->ensemble);
  FF_FREE(r->deconvolved);
}

int64_t ff_cells_min_frames(double calcium_tau_s, double fs_hz) {
  const double k = ceil(3.0 * calcium_tau_s * fs_hz);
  return k > 10.0 ? (int64_t)k : 10;
}

int ff_cells_check(const FfCellsRecording *r, double calcium_tau_s, const char *where) {
  if (!(r->fs_hz > 0 && isfinite(r->fs_hz)))
    return FF_ERROR(FF_ERR_INPUT, "'%s': frame rate fs_hz = %g must be > 0 (give the recording's frame rate)", where,
                    r->fs_hz);
  if (r->n_cells < 2)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %lld cell(s): connectivity needs at least 2", where, (long long)r->n_cells);
  const int64_t need = ff_cells_min_frames(calcium_tau_s, r->fs_hz);
  if (r->n_frames < need)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %lld frames, fewer than the deconvolution needs (%lld: three calcium decay "
                                  "times of %g s at %g Hz, and at least 10); record longer, or lower [cells] calcium_tau_s",
                    where, (long long)r->n_frames, (long long)need, calcium_tau_s, r->fs_hz);
  for (int64_t k = 0; k < r->n_cells * r->n_frames; ++k)
    if (!isfinite(r->fluor[k]))
      return FF_ERROR(FF_ERR_INPUT, "'%s': cell %lld has a non-finite value (%g) at frame %lld; drop the cell or fill "
                                    "the gap before the run",
                      where, (long long)(k / r->n_frames), r->fluor[k], (long long)(k % r->n_frames));
  return FF_OK;
}

/* a whole 2-D float64 dataset */
static int read_2d(hid_t f, const char *path, const char *dset, int64_t *dims, double **out) {
  FF_TRY(ff_h5_shape(f, path, dset, 2, dims));
  if (dims[0] < 1 || dims[1] < 1)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %s is empty (%lld x %lld)", path, dset, (long long)dims[0], (long long)dims[1]);
  FF_TRY(FF_MALLOC(*out, dims[0] * dims[1], dset));
  return ff_h5_read_whole(f, path, dset, H5T_NATIVE_DOUBLE, *out);
}

/* rows [row0, row0 + rows) of /truth/weights into r->w_true */
static int truth_rows(hid_t f, FfCellsRecording *r, int64_t row0, int64_t rows) {
  const int64_t n = r->n_cells, nn[2] = {n, n};
  if (row0 < 0 || rows < 0 || row0 + rows > n)
    return FF_ERROR(FF_ERR_INTERNAL, "truth rows %lld..%lld of %lld cells", (long long)row0, (long long)(row0 + rows),
                    (long long)n);
  FF_FREE(r->w_true);
  r->truth_row0 = row0;
  r->truth_rows = rows;
  FF_TRY(FF_MALLOC(r->w_true, rows * n + 1, "/truth/weights"));
  return ff_h5_read_rows(f, r->file, "/truth/weights", H5T_NATIVE_DOUBLE, 2, nn, row0, rows, r->w_true);
}

int ff_cells_truth_rows(FfCellsRecording *r, MPI_Comm comm, int64_t row0, int64_t rows) {
  if (!r->has_truth) return FF_ERROR(FF_ERR_INTERNAL, "'%s' has no /truth", r->file);
  hid_t f;
  FF_TRY(ff_h5_open_parallel(r->file, comm, &f));
  const int st = truth_rows(f, r, row0, rows);
  H5Fclose(f);
  return st;
}

static int read_body(hid_t f, const char *path, double tau, FfCellsRecording *r) {
  if (!ff_h5_exists(f, "/cells/fluorescence"))
    return FF_ERROR(FF_ERR_INPUT, "'%s' has no /cells/fluorescence: not a cells recording (make one with "
                                  "flyfit-import cells or flyfit-synth --cells)", path);
  int64_t dims[2];
  FF_TRY(read_2d(f, path, "/cells/fluorescence", dims, &r->fluor));
  r->n_cells = dims[0];
  r->n_frames = dims[1];
  FF_TRY(ff_h5_read_attr_double(f, path, "fs_hz", &r->fs_hz));
  FF_TRY(ff_cells_check(r, tau, path));
  if (ff_h5_exists(f, "/truth")) {
    int64_t wd[2], n = 0;
    double *ex = NULL, *en = NULL;
    FF_TRY(ff_h5_shape(f, path, "/truth/weights", 2, wd));
    if (wd[0] != r->n_cells || wd[1] != r->n_cells)
      return FF_ERROR(FF_ERR_INPUT, "'%s': /truth/weights is %lld x %lld for %lld cells", path, (long long)wd[0],
                      (long long)wd[1], (long long)r->n_cells);
    int st = ff_h5_read_all(f, path, "/truth/excitatory", H5T_NATIVE_DOUBLE, r->n_cells, (void **)&ex, &n);
    FF_CALL(st, ff_h5_read_all(f, path, "/truth/ensemble", H5T_NATIVE_DOUBLE, r->n_cells, (void **)&en, &n));
    FF_CALL(st, FF_MALLOC(r->excitatory, r->n_cells, "cell types"));
    FF_CALL(st, FF_MALLOC(r->ensemble, r->n_cells, "ensembles"));
    for (int64_t k = 0; st == FF_OK && k < r->n_cells; ++k) {
      r->excitatory[k] = (int8_t)(ex[k] != 0);
      r->ensemble[k] = (int32_t)en[k];
    }
    free(ex);
    free(en);
    FF_TRY(st);
    r->has_truth = 1;
  }
  return FF_OK;
}

int ff_cells_recording_read(const char *path, double calcium_tau_s, FfCellsRecording *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->file, sizeof r->file, "%s", path);
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int st = read_body(f, path, calcium_tau_s, r);
  H5Fclose(f);
  if (st) ff_cells_recording_destroy(r);
  return st;
}


typedef struct {
  const FfCellsRecording *r;
  const char *created_by;
} WriteCtx;

static int write_body(hid_t f, void *ctx) {
  const WriteCtx *c = ctx;
  const FfCellsRecording *r = c->r;
  const int64_t dims[2] = {r->n_cells, r->n_frames}, nn[2] = {r->n_cells, r->n_cells}, n = r->n_cells;
  const FfH5Attr a[] = {FF_ATTR_STRING("format", "flyfit-cells-recording-1"), FF_ATTR_DOUBLE("fs_hz", r->fs_hz),
                        FF_ATTR_STRING("created_by", c->created_by)};
  FF_TRY(ff_h5_write_attrs(f, NULL, a, (int)(sizeof a / sizeof a[0])));
  FF_TRY(ff_h5_write(f, "/cells/fluorescence", H5T_NATIVE_DOUBLE, 2, dims, r->fluor));
  if (r->deconvolved) {
    const FfH5Attr d[] = {FF_ATTR_DOUBLE("calcium_tau_s", r->deconv_tau_s),
                          FF_ATTR_DOUBLE("highpass_hz", r->deconv_highpass_hz)};
    FF_TRY(ff_h5_write(f, "/cells/deconvolved", H5T_NATIVE_DOUBLE, 2, dims, r->deconvolved));
    FF_TRY(ff_h5_write_attrs(f, "/cells/deconvolved", d, 2));
  }
  if (r->has_truth) {
    FF_TRY(ff_h5_write(f, "/truth/weights", H5T_NATIVE_DOUBLE, 2, nn, r->w_true));
    FF_TRY(ff_h5_write(f, "/truth/excitatory", H5T_NATIVE_INT8, 1, &n, r->excitatory));
    FF_TRY(ff_h5_write(f, "/truth/ensemble", H5T_NATIVE_INT32, 1, &n, r->ensemble));
  }
  return FF_OK;
}

int ff_cells_recording_write(const char *path, const FfCellsRecording *r, const char *created_by) {
  WriteCtx c = {r, created_by};
  return ff_h5_write_atomic(path, write_body, &c);
}

/* ---- import --------------------------------------------------------------------------------------- */

/* A numbers-only CSV (csv.h: plain or gzip, any width), no header: one row a cell. */
typedef struct {
  const char *path;
  double *v;
  int64_t n, cap, rows, cols;
} WideCsv;

static int wide_row(void *user, char **fields, int n_fields, int64_t line) {
  WideCsv *w = user;
  if (n_fields == 1 && fields[0][0] == '\0') return FF_OK; /* an empty line */
  if (w->rows == 0) w->cols = n_fields;
  else if (n_fields != w->cols)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: %d fields, but the first row has %lld; every row is one cell's frames",
                    w->path, (long long)line, n_fields, (long long)w->cols);
  for (int k = 0; k < n_fields; ++k) {
    char *end;
    const double x = strtod(fields[k], &end);
    while (*end == ' ') ++end;
    if (end == fields[k] || *end != '\0')
      return FF_ERROR(FF_ERR_INPUT, "%s:%lld: field %d is not a number (the CSV holds numbers only, no header: one "
                                    "row per cell, one column per frame, or --transpose)",
                      w->path, (long long)line, k + 1);
    if (w->n == w->cap) FF_TRY(FF_REALLOC(w->v, w->cap = w->cap ? 2 * w->cap : 1024, "CSV values"));
    w->v[w->n++] = x;
  }
  w->rows++;
  return FF_OK;
}

static int read_wide_csv(const char *path, double **v, int64_t *rows, int64_t *cols) {
  WideCsv w = {path, NULL, 0, 0, 0, 0};
  int st = ff_csv_read(path, wide_row, &w);
  if (st == FF_OK && w.rows == 0) st = FF_ERROR(FF_ERR_INPUT, "'%s' holds no rows", path);
  if (st != FF_OK) {
    free(w.v);
    return st;
  }
  *v = w.v;
  *rows = w.rows;
  *cols = w.cols;
  return FF_OK;
}

static int ends_with(const char *s, const char *suffix) {
  const size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

int ff_cells_import(const char *path, const char *key, double fs_hz, int transpose, FfCellsRecording *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->file, sizeof r->file, "%s", path);
  double *v = NULL;
  int64_t rows = 0, cols = 0;
  int st = FF_OK;
  if (ends_with(path, ".npz")) {
    FfNpz *z = NULL;
    const char *member = key ? key : "F";
    int ndim = 0;
    int64_t dims[FF_NPY_MAX_DIMS];
    st = ff_npz_open(path, &z);
    FF_CALL(st, ff_npz_require(z, member, "name the cells x frames member with --key"));
    FF_CALL(st, ff_npz_read_f64(z, member, &v, &ndim, dims));
    if (st == FF_OK && ndim != 2)
      st = FF_ERROR(FF_ERR_INPUT, "'%s': member '%s' has %d dimensions; cells x frames has 2", path, member, ndim);
    if (st == FF_OK) rows = dims[0], cols = dims[1];
    if (st == FF_OK && !(fs_hz > 0) && ff_npz_has(z, "fs")) {
      double *fs = NULL;
      st = ff_npz_read_f64(z, "fs", &fs, &ndim, dims);
      if (st == FF_OK) fs_hz = fs[0];
      free(fs);
    }
    ff_npz_close(&z);
  } else if (ff_csv_path(path)) {
    st = read_wide_csv(path, &v, &rows, &cols);
  } else if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) {
    hid_t f;
    const char *dset = key ? key : "/F";
    int64_t dims[2];
    FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
    if (!ff_h5_exists(f, dset))
      st = FF_ERROR(FF_ERR_INPUT, "'%s' has no dataset %s; name the cells x frames dataset with --key", path, dset);
    FF_CALL(st, read_2d(f, path, dset, dims, &v));
    if (st == FF_OK) rows = dims[0], cols = dims[1];
    if (st == FF_OK && !(fs_hz > 0)) {
      hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
      if (d >= 0 && H5Aexists(d, "fs_hz") > 0) st = ff_h5_read_attr_double(d, path, "fs_hz", &fs_hz);
      else if (H5Aexists(f, "fs_hz") > 0) st = ff_h5_read_attr_double(f, path, "fs_hz", &fs_hz);
      if (d >= 0) H5Dclose(d);
    }
    H5Fclose(f);
  } else {
    return FF_ERROR(FF_ERR_INPUT, "'%s': unknown file layout: flyfit-import cells reads .npz (member F), .csv (one row "
                                  "per cell) or .h5/.hdf5 (dataset /F); rename the file or convert it",
                    path);
  }
  if (st == FF_OK && !(fs_hz > 0 && isfinite(fs_hz)))
    st = FF_ERROR(FF_ERR_INPUT, "'%s': no frame rate: give --fs-hz (%s)", path,
                  ends_with(path, ".npz")  ? "the archive has no member fs"
                  : ends_with(path, ".h5") || ends_with(path, ".hdf5") ? "the dataset and the file have no fs_hz attribute"
                                           : "a CSV holds only the frames");
  if (st) {
    free(v);
    return st;
  }
  r->fs_hz = fs_hz;
  if (transpose) {
    st = FF_MALLOC(r->fluor, rows * cols, "fluorescence");
    for (int64_t i = 0; st == FF_OK && i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) r->fluor[j * rows + i] = v[i * cols + j];
    free(v);
    r->n_cells = cols;
    r->n_frames = rows;
  } else {
    r->fluor = v;
    r->n_cells = rows;
    r->n_frames = cols;
  }
  return st;
}
