/* run.json (include/flyfit/runjson.h). A small writer of its own: the file is flat and every
 * string is escaped here, so no JSON library is needed. */
#include "flyfit/runjson.h"

#include "flyfit/atomic.h"
#include "flyfit/error.h"
#include "flyfit/hash.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PHASES = 16, MAX_METRICS = 96 };
static struct {
  char name[32];
  double s;
} g_phase[MAX_PHASES];
static int g_n_phase;
static struct {
  char key[64], value[48];
} g_metric[MAX_METRICS];
static int g_n_metric;

void ff_runjson_phase(const char *name, double seconds) {
  for (int k = 0; k < g_n_phase; ++k)
    if (!strcmp(g_phase[k].name, name)) {
      g_phase[k].s += seconds;
      return;
    }
  if (g_n_phase == MAX_PHASES) return;
  snprintf(g_phase[g_n_phase].name, sizeof g_phase[0].name, "%s", name);
  g_phase[g_n_phase++].s = seconds;
}

/* "fit done: a=1 b=x" -> metrics fit.a = 1, fit.b = "x" */
static void keep_pairs(const char *line) {
  const char *colon = strstr(line, " done:");
  if (colon == NULL) return;
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%.*s", (int)(colon - line), line);
  for (const char *p = colon + 6; *p;) {
    while (*p == ' ' || *p == '\n') ++p;
    const char *eq = strchr(p, '='), *end = p + strcspn(p, " \n");
    if (eq == NULL || eq > end) {
      p = end;
      continue;
    }
    if (g_n_metric < MAX_METRICS) {
      snprintf(g_metric[g_n_metric].key, sizeof g_metric[0].key, "%s.%.*s", prefix, (int)(eq - p), p);
      snprintf(g_metric[g_n_metric].value, sizeof g_metric[0].value, "%.*s", (int)(end - eq - 1), eq + 1);
      ++g_n_metric;
    }
    p = end;
  }
}

/* Formats the line, keeps its pairs, and prints it on stdout when print is set. */
static void keep_line(int print, const char *fmt, va_list ap) {
  char line[4096];
  vsnprintf(line, sizeof line, fmt, ap);
  if (print) {
    fputs(line, stdout);
    fflush(stdout);
  }
  keep_pairs(line);
}

void ff_summary(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  keep_line(1, fmt, ap);
  va_end(ap);
}

void ff_runjson_metrics(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  keep_line(0, fmt, ap);
  va_end(ap);
}

static void put_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; ++s) {
    const unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* A number where it parses as a finite one, null for nan/inf, else a string. */
static void put_value(FILE *f, const char *v) {
  char *end;
  const double x = strtod(v, &end);
  if (end != v && *end == '\0') {
    if (isfinite(x)) fputs(v, f);
    else fputs("null", f);
  } else {
    put_string(f, v);
  }
}

static int runjson_body(FILE *f, void *ctx) {
  const FfRunJson *r = ctx;
  const char *status = r->status == FF_OK ? "done" : r->status == FF_STOPPED ? "stopped" : "failed";
  fprintf(f, "{\n  \"flyfit_version\": ");
  put_string(f, r->version);
  fprintf(f, ",\n  \"config_hash\": \"fnv1a64:%016llx\",\n  \"mode\": ", (unsigned long long)ff_fnv1a_str(r->config_text));
  put_string(f, r->mode);
  fprintf(f, ",\n  \"status\": \"%s\",\n  \"exit_status\": %d,\n", status, r->status);
  if (r->phase && r->status != FF_OK) {
    fprintf(f, "  \"phase\": ");
    put_string(f, r->phase);
    fprintf(f, ",\n");
  }
  if (r->resumable && r->status == FF_STOPPED) {
    fprintf(f, "  \"resumable\": ");
    put_string(f, r->resumable);
    fprintf(f, ",\n");
  }
  fprintf(f, "  \"ranks\": %d,\n  \"threads_per_rank\": %d,\n  \"nodes\": %d,\n  \"hosts\": [", r->ranks, r->threads,
          r->nodes);
  for (const char *p = r->hosts ? r->hosts : ""; *p;) {
    const size_t n = strcspn(p, ",");
    char h[256];
    snprintf(h, sizeof h, "%.*s", (int)n, p);
    put_string(f, h);
    p += n;
    if (*p == ',') {
      ++p;
      fputs(", ", f);
    }
  }
  fprintf(f, "],\n  \"backend\": ");
  put_string(f, r->backend);
  fprintf(f, ",\n  \"transport\": ");
  put_string(f, r->transport);
  fprintf(f, ",\n  \"devices\": [");
  for (int q = 0; q < r->ranks; ++q) fprintf(f, "%s%d", q ? ", " : "", r->devices ? r->devices[q] : -1);
  fprintf(f, "],\n  \"phase_seconds\": {");
  for (int k = 0; k < g_n_phase; ++k) {
    fprintf(f, "%s", k ? ", " : "");
    put_string(f, g_phase[k].name);
    fprintf(f, ": %.6g", g_phase[k].s);
  }
  fprintf(f, "},\n  \"total_seconds\": %.6g,\n  \"peak_memory_mb\": [", r->total_s);
  for (int q = 0; r->peak_rss_mb && q < r->ranks; ++q) fprintf(f, "%s%.1f", q ? ", " : "", r->peak_rss_mb[q]);
  fprintf(f, "],\n  \"metrics\": {");
  for (int k = 0; k < g_n_metric; ++k) {
    fprintf(f, "%s\n    ", k ? "," : "");
    put_string(f, g_metric[k].key);
    fputs(": ", f);
    put_value(f, g_metric[k].value);
  }
  fprintf(f, "%s}\n}\n", g_n_metric ? "\n  " : "");
  return FF_OK;
}

int ff_runjson_text(const FfRunJson *r, char **text) {
  size_t n = 0;
  *text = NULL;
  FILE *f = open_memstream(text, &n);
  if (f == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory for the text of run.json");
  runjson_body(f, (void *)r);
  if (fclose(f) != 0) {
    free(*text);
    *text = NULL;
    return FF_ERROR(FF_ERR_NOMEM, "out of memory for the text of run.json");
  }
  return FF_OK;
}

int ff_runjson_write(const FfRunJson *r) {
  char path[4200];
  snprintf(path, sizeof path, "%s/run.json", r->dir);
  FF_TRY(ff_atomic_write(path, runjson_body, (void *)r));
  return FF_OK;
}
