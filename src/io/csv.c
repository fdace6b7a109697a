/* Streaming CSV reader over zlib and libcsv (include/flyfit/csv.h). */
#include "flyfit/csv.h"
#include "flyfit/error.h"

#include <csv.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { BLOCK = 1 << 20 };

typedef struct {
  FfCsvRowFn row;
  void *user;
  const char *path;
  char **fields; /* [slots] copies of the current record's fields */
  size_t *cap;   /* [slots] their capacities */
  int slots;     /* grows with the widest record */
  int n;         /* fields in the current record */
  int64_t line;
  int status;
} Reader;

static void on_field(void *s, size_t len, void *data) {
  Reader *r = data;
  if (r->status) return;
  if (r->n == r->slots) {
    if (r->slots >= INT_MAX / 2) {
      r->status = FF_ERROR(FF_ERR_INPUT, "%s:%lld: more than %d columns", r->path, (long long)r->line + 1, r->slots);
      return;
    }
    const int slots = r->slots ? 2 * r->slots : 64;
    char **f = realloc(r->fields, (size_t)slots * sizeof *f);
    if (f) r->fields = f;
    size_t *c = f ? realloc(r->cap, (size_t)slots * sizeof *c) : NULL;
    if (c == NULL) {
      r->status = FF_ERROR(FF_ERR_NOMEM, "out of memory reading %s", r->path);
      return;
    }
    r->cap = c;
    for (int k = r->slots; k < slots; ++k) {
      r->fields[k] = NULL;
      r->cap[k] = 0;
    }
    r->slots = slots;
  }
  if (len + 1 > r->cap[r->n]) {
    size_t cap = 2 * (len + 1) > 64 ? 2 * (len + 1) : 64;
    char *q = realloc(r->fields[r->n], cap);
    if (q == NULL) {
      r->status = FF_ERROR(FF_ERR_NOMEM, "out of memory reading %s", r->path);
      return;
    }
    r->fields[r->n] = q;
    r->cap[r->n] = cap;
  }
  memcpy(r->fields[r->n], s, len);
  r->fields[r->n][len] = '\0';
  r->n++;
}

static void on_record(int c, void *data) {
  Reader *r = data;
  (void)c;
  ++r->line;
  if (r->status == FF_OK) r->status = r->row(r->user, r->fields, r->n, r->line);
  r->n = 0;
}

int ff_csv_path(const char *path) {
  const size_t n = strlen(path);
  return (n >= 4 && strcmp(path + n - 4, ".csv") == 0) || (n >= 7 && strcmp(path + n - 7, ".csv.gz") == 0);
}

int ff_csv_read(const char *path, FfCsvRowFn row, void *user) {
  Reader r;
  memset(&r, 0, sizeof r);
  r.row = row;
  r.user = user;
  r.path = path;
  gzFile gz = gzopen(path, "rb");
  if (gz == NULL) return FF_ERROR(FF_ERR_INPUT, "cannot read '%s': %s", path, errno ? strerror(errno) : "gzopen failed");
  gzbuffer(gz, BLOCK);
  struct csv_parser p;
  if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL) != 0) {
    gzclose(gz);
    return FF_ERROR(FF_ERR_NOMEM, "cannot set up the CSV parser");
  }
  char *buf = malloc(BLOCK);
  if (buf == NULL) {
    csv_free(&p);
    gzclose(gz);
    return FF_ERROR(FF_ERR_NOMEM, "out of memory reading %s", path);
  }
  int got;
  while (r.status == FF_OK && (got = gzread(gz, buf, BLOCK)) > 0) {
    if (csv_parse(&p, buf, (size_t)got, on_field, on_record, &r) != (size_t)got && r.status == FF_OK)
      r.status = FF_ERROR(FF_ERR_INPUT, "%s:%lld: malformed CSV (%s)", path, (long long)r.line + 1,
                          csv_strerror(csv_error(&p)));
  }
  int zerr = Z_OK;
  const char *zmsg = gzerror(gz, &zerr);
  if (r.status == FF_OK && zerr != Z_OK && zerr != Z_STREAM_END)
    r.status = FF_ERROR(FF_ERR_INPUT, "%s: truncated or corrupt gzip data after line %lld (%s)", path,
                        (long long)r.line, zmsg);
  if (r.status == FF_OK && csv_fini(&p, on_field, on_record, &r) != 0)
    r.status = FF_ERROR(FF_ERR_INPUT, "%s:%lld: malformed CSV at the end of the file (%s)", path, (long long)r.line + 1,
                        csv_strerror(csv_error(&p)));
  int zclose = gzclose(gz);
  if (r.status == FF_OK && zclose != Z_OK && zclose != Z_BUF_ERROR)
    r.status = FF_ERROR(FF_ERR_INPUT, "%s: error closing the file (zlib code %d)", path, zclose);
  csv_free(&p);
  free(buf);
  for (int k = 0; k < r.slots; ++k) free(r.fields[k]);
  free(r.fields);
  free(r.cap);
  return r.status;
}

int ff_csv_column(char **header, int n, const char *name, const char *path, int *index) {
  for (int k = 0; k < n; ++k)
    if (strcmp(header[k], name) == 0) {
      *index = k;
      return FF_OK;
    }
  char have[1024];
  size_t len = 0;
  have[0] = '\0';
  for (int k = 0; k < n && len + 4 < sizeof have; ++k)
    len += (size_t)snprintf(have + len, sizeof have - len, "%s'%s'", k ? ", " : "", header[k]);
  return FF_ERROR(FF_ERR_INPUT, "%s:1: missing column '%s' (the header has: %s)", path, name, have);
}

int ff_csv_int64(const char *field, const char *path, int64_t line, const char *column, int64_t *out) {
  const char *p = field;
  while (*p == ' ') ++p;
  char *end;
  errno = 0;
  long long v = strtoll(p, &end, 10);
  while (*end == ' ') ++end;
  if (end == p || *end != '\0' || errno == ERANGE)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: column '%s': '%s' is not an integer", path, (long long)line, column, field);
  *out = v;
  return FF_OK;
}
