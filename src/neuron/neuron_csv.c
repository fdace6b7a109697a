/* Single-neuron recordings as CSV (docs/formats.md#neuron-recordings-as-csv): the recorded voltage, the
 * input current and, optionally, the spike times, each its own file, one sweep per column (or per row),
 * read through ff_csv_read into the same FfNeuronRecording as the HDF5 reader fills, with the same checks.
 * Every complaint names the file, the line and the fix. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/csv.h"
#include "flyfit/error.h"
#include "flyfit/neuron_fit.h"

/* One file read whole: the header's sweep columns and the numbers below them. */
typedef struct {
  const char *path, *what; /* the file and what it holds ("voltage", "current", "spike times") */
  int spikes;              /* empty fields allowed (columns of different lengths), rows of any length */
  int rows;                /* layout rows: one sweep per line */
  int n_fields;            /* fields of the header */
  int first;               /* the first sweep field: 1 when field 0 is an index (empty name) or t_ms */
  int time_col;            /* field 0 is t_ms */
  double *x;               /* [n_lines x (n_fields - first)] row-major; NAN for an empty spike field */
  double *t;               /* [n_lines] the t_ms column */
  int64_t *len;            /* rows layout: fields given on each line (spikes) */
  int64_t n_lines, cap;
} Table;

static int parse_number(const Table *T, const char *field, int64_t line, int col, double *out) {
  const char *s = field;
  while (*s == ' ' || *s == '\t') ++s;
  if (*s == '\0') {
    if (T->spikes) {
      *out = NAN;
      return FF_OK;
    }
    return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: column %d is empty; every sample of a %s sweep is needed (cut the "
                                  "sweeps to the same length, or fill the gap)",
                    T->path, (long long)line, col + 1, T->what);
  }
  char *end;
  const double v = strtod(s, &end);
  while (*end == ' ' || *end == '\t' || *end == '\r') ++end;
  if (end == s || *end != '\0')
    return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: column %d is '%s', not a number", T->path, (long long)line, col + 1, field);
  if (!isfinite(v))
    return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: column %d is %s; a fit needs every value finite (cut the sweep, or "
                                  "fill the gap)",
                    T->path, (long long)line, col + 1, field);
  *out = v;
  return FF_OK;
}

static int table_row(void *user, char **f, int n, int64_t line) {
  Table *T = user;
  if (n < 1) return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: an empty line", T->path, (long long)line);
  if (line == 1) {
    T->n_fields = n;
    const char *h0 = f[0];
    while (*h0 == ' ') ++h0;
    T->time_col = strcmp(h0, "t_ms") == 0;
    T->first = *h0 == '\0' || T->time_col; /* pandas' index column has no name */
    if (n - T->first < 1)
      return FF_ERROR(FF_ERR_INPUT, "'%s':1: the header names no sweep column", T->path);
    return FF_OK;
  }
  if (n != T->n_fields && !(T->spikes && T->rows))
    return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: %d fields, but the header has %d; every line needs one per column "
                                  "(leave a spike column's missing times empty: 1.5,,)",
                    T->path, (long long)line, n, T->n_fields);
  const int w = T->rows && T->spikes ? 0 : T->n_fields - T->first; /* spikes by rows: kept ragged below */
  if (T->n_lines == T->cap) {
    T->cap = T->cap ? 2 * T->cap : 1024;
    const int64_t width = T->rows && T->spikes ? 1 : w;
    double *x = realloc(T->x, sizeof(double) * (size_t)(T->cap * (width > 0 ? width : 1)));
    double *t = realloc(T->t, sizeof(double) * (size_t)T->cap);
    int64_t *len = realloc(T->len, sizeof(int64_t) * (size_t)T->cap);
    if (x) T->x = x;
    if (t) T->t = t;
    if (len) T->len = len;
    if (!x || !t || !len) return FF_ERROR(FF_ERR_NOMEM, "'%s': out of memory at line %lld", T->path, (long long)line);
  }
  if (T->time_col) FF_TRY(parse_number(T, f[0], line, 0, &T->t[T->n_lines]));
  if (T->rows && T->spikes) { /* a ragged row of spike times: parsed again by spikes_by_rows */
    T->len[T->n_lines] = n;
  } else {
    for (int k = T->first; k < n; ++k)
      FF_TRY(parse_number(T, f[k], line, k, &T->x[T->n_lines * w + (k - T->first)]));
  }
  ++T->n_lines;
  return FF_OK;
}

static void table_free(Table *T) {
  free(T->x);
  free(T->t);
  free(T->len);
  T->x = T->t = NULL;
  T->len = NULL;
}

/* The traces of one file as [sweeps x samples]. */
static int read_traces(const char *path, const char *what, int rows, Table *T, double **out, int64_t *sweeps,
                       int64_t *samples) {
  memset(T, 0, sizeof *T);
  T->path = path;
  T->what = what;
  T->rows = rows;
  FF_TRY(ff_csv_read(path, table_row, T));
  const int64_t w = T->n_fields - T->first;
  if (T->n_lines < 1) return FF_ERROR(FF_ERR_INPUT, "'%s': no samples below the header", path);
  *sweeps = rows ? T->n_lines : w;
  *samples = rows ? w : T->n_lines;
  if (*samples < 2)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %lld sample%s per sweep; a sweep needs at least two (layout %s: %s)", path,
                    (long long)*samples, *samples == 1 ? "" : "s", rows ? "rows" : "columns",
                    rows ? "one sweep per line" : "one sweep per column");
  FF_TRY(FF_MALLOC(*out, *sweeps * *samples, what));
  for (int64_t s = 0; s < *sweeps; ++s)
    for (int64_t k = 0; k < *samples; ++k) (*out)[s * *samples + k] = rows ? T->x[s * w + k] : T->x[k * w + s];
  return FF_OK;
}

/* The spike times of train s, checked: increasing, within [0, T]. */
static int check_train(const char *path, const char *unit, int64_t s, const double *t, int64_t n, double T_ms) {
  for (int64_t k = 0; k < n; ++k) {
    if (t[k] < 0 || t[k] > T_ms)
      return FF_ERROR(FF_ERR_INPUT, "'%s': %s %lld's spike %lld at %g ms is outside the %s [0, %g] ms", path, unit,
                      (long long)s + 1, (long long)k + 1, t[k], strcmp(unit, "sweep") ? "recording" : "sweep", T_ms);
    if (k > 0 && !(t[k] > t[k - 1]))
      return FF_ERROR(FF_ERR_INPUT, "'%s': %s %lld's spike times are not increasing (%g ms after %g ms); sort them",
                      path, unit, (long long)s + 1, t[k], t[k - 1]);
  }
  return FF_OK;
}

typedef struct {
  const char *path, *expected;
  int64_t n, *indptr;
  double *times;
  int index; /* field 0 is an index (the header's is empty) */
  int64_t fill;
} SpikeRows;

/* rows layout: line 2 + s holds train s's times (field 0 an index when the header's is empty) */
static int spike_row(void *user, char **f, int n, int64_t line) {
  SpikeRows *S = user;
  if (n < 1) return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: an empty line", S->path, (long long)line);
  static const Table dummy = {0};
  Table T = dummy;
  T.path = S->path;
  T.what = "spike times";
  T.spikes = 1;
  if (line == 1) {
    const char *h0 = f[0];
    while (*h0 == ' ') ++h0;
    S->index = *h0 == '\0';
    return FF_OK;
  }
  const int64_t s = line - 2;
  if (s >= S->n)
    return FF_ERROR(FF_ERR_INPUT, "'%s':%lld: more lines of spike times than the %lld %s", S->path, (long long)line,
                    (long long)S->n, S->expected);
  S->indptr[s] = S->fill;
  for (int k = S->index; k < n; ++k) {
    double v;
    FF_TRY(parse_number(&T, f[k], line, k, &v));
    if (!isnan(v)) S->times[S->fill++] = v;
  }
  S->indptr[s + 1] = S->fill;
  return FF_OK;
}

int ff_spike_trains_read_csv(const char *path, int rows, int64_t n_trains, const char *expected, const char *unit,
                             double t_end_ms, int64_t **indptr_out, double **times_out) {
  Table T;
  memset(&T, 0, sizeof T);
  T.path = path;
  T.what = "spike times";
  T.spikes = 1;
  T.rows = rows;
  int64_t *indptr = NULL;
  double *times = NULL;
  int st = ff_csv_read(path, table_row, &T); /* shape, and the numbers for the columns layout */
  const int64_t w = T.n_fields - T.first;
  int64_t total = 0;
  if (st == FF_OK && !rows && w != n_trains)
    st = FF_ERROR(FF_ERR_INPUT, "'%s': %lld columns of spike times but %lld %s", path, (long long)w,
                  (long long)n_trains, expected);
  if (st == FF_OK && rows && T.n_lines != n_trains)
    st = FF_ERROR(FF_ERR_INPUT, "'%s': %lld lines of spike times but %lld %s", path, (long long)T.n_lines,
                  (long long)n_trains, expected);
  for (int64_t i = 0; st == FF_OK && i < T.n_lines; ++i) total += rows ? T.len[i] : w;
  FF_CALL(st, FF_MALLOC(indptr, n_trains + 1, "spike index"));
  FF_CALL(st, FF_MALLOC(times, total > 0 ? total : 1, "spike times"));
  if (st == FF_OK && rows) {
    SpikeRows S = {path, expected, n_trains, indptr, times, 0, 0};
    indptr[0] = 0;
    st = ff_csv_read(path, spike_row, &S);
  } else if (st == FF_OK) {
    int64_t fill = 0;
    indptr[0] = 0;
    for (int64_t s = 0; s < w; ++s) {
      for (int64_t i = 0; i < T.n_lines; ++i) {
        const double v = T.x[i * w + s];
        if (!isnan(v)) times[fill++] = v;
      }
      indptr[s + 1] = fill;
    }
  }
  for (int64_t s = 0; st == FF_OK && s < n_trains; ++s)
    st = check_train(path, unit, s, times + indptr[s], indptr[s + 1] - indptr[s], t_end_ms);
  table_free(&T);
  if (st) {
    free(indptr);
    free(times);
    return st;
  }
  *indptr_out = indptr;
  *times_out = times;
  return FF_OK;
}

int ff_neuron_recording_read_csv(const char *voltage, const char *current, const char *spikes, double dt_ms, int rows,
                                 FfNeuronRecording *r) {
  memset(r, 0, sizeof *r);
  if (current == NULL || current[0] == '\0')
    return FF_ERROR(FF_ERR_INPUT, "'%s' is a CSV of voltage traces: name the input current's CSV too, "
                                  "[data] recording_current = FILE.csv (the same sweeps, one per %s)",
                    voltage, rows ? "line" : "column");
  Table V, I;
  memset(&V, 0, sizeof V);
  memset(&I, 0, sizeof I);
  int64_t sv = 0, nv = 0, si = 0, ni = 0;
  int st = read_traces(voltage, "voltage", rows, &V, &r->voltage, &sv, &nv);
  FF_CALL(st, read_traces(current, "current", rows, &I, &r->current, &si, &ni));
  if (st == FF_OK && sv != si)
    st = FF_ERROR(FF_ERR_INPUT, "'%s' has %lld sweeps but '%s' %lld; give the current of every recorded sweep",
                  voltage, (long long)sv, current, (long long)si);
  if (st == FF_OK && nv != ni)
    st = FF_ERROR(FF_ERR_INPUT, "mismatched sweep lengths: '%s' has %lld samples per sweep but '%s' %lld; give both "
                                "the same samples (t = k dt)",
                  voltage, (long long)nv, current, (long long)ni);
  r->n_sweeps = sv;
  r->n_steps = nv;
  /* dt: the key, or the t_ms column (uniform, from 0) of the voltage file */
  r->dt_ms = dt_ms;
  if (st == FF_OK && !rows && V.time_col) {
    const double d = V.t[1] - V.t[0];
    for (int64_t k = 0; k < V.n_lines; ++k)
      if (fabs(V.t[k] - (double)k * d) > 1e-6 * d * (double)(k + 1)) {
        st = FF_ERROR(FF_ERR_INPUT, "'%s':%lld: t_ms = %g, but the samples must lie at t = k dt from 0 (dt %g ms "
                                    "from the first two)",
                      voltage, (long long)k + 2, V.t[k], d);
        break;
      }
    if (st == FF_OK && dt_ms > 0 && fabs(d - dt_ms) > 1e-6 * dt_ms)
      st = FF_ERROR(FF_ERR_INPUT, "'%s': its t_ms column has dt %g ms but [data] recording_dt = %g ms", voltage, d, dt_ms);
    if (st == FF_OK && !(dt_ms > 0)) r->dt_ms = d;
  }
  if (st == FF_OK && !(r->dt_ms > 0))
    st = FF_ERROR(FF_ERR_INPUT, "'%s' does not say its time step: set [data] recording_dt (ms), or give a first "
                                "column t_ms",
                  voltage);
  table_free(&V);
  table_free(&I);
  if (st == FF_OK && spikes && spikes[0])
    st = ff_spike_trains_read_csv(spikes, rows, r->n_sweeps, "sweeps in the traces", "sweep",
                                  (double)r->n_steps * r->dt_ms, &r->spike_indptr, &r->spike_times);
  if (st) ff_neuron_recording_destroy(r);
  return st;
}
