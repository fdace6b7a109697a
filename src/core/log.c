/* Rank-0 logging with an in-memory buffer until the log file opens (see include/flyfit/log.h). */
#define _POSIX_C_SOURCE 200809L
#include "flyfit/log.h"
#include "flyfit/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
  const char *program;
  int rank, size;
  char host[64];
  double t0;
  FILE *file;
  char *pending; /* lines logged before the file opened */
  size_t pending_len, pending_cap;
} L = {"flyfit", 0, 1, "?", 0.0, NULL, NULL, 0, 0};

double ff_wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ff_log_init(const char *program, int rank, int size) {
  L.program = program;
  L.rank = rank;
  L.size = size;
  if (gethostname(L.host, sizeof L.host) != 0) strcpy(L.host, "?");
  L.host[sizeof L.host - 1] = '\0';
  L.t0 = ff_wall_seconds();
}

int ff_log_rank(void) { return L.rank; }

static void pending_add(const char *s) {
  size_t n = strlen(s);
  if (L.pending_len + n + 1 > L.pending_cap) {
    size_t cap = 2 * (L.pending_cap + n + 1024);
    char *q = realloc(L.pending, cap);
    if (q == NULL) return; /* losing buffered log lines is better than failing the run */
    L.pending = q;
    L.pending_cap = cap;
  }
  memcpy(L.pending + L.pending_len, s, n + 1);
  L.pending_len += n;
}

static void to_file(const char *s) {
  if (L.file) {
    fputs(s, L.file);
    fflush(L.file);
  } else {
    pending_add(s);
  }
}

int ff_log_open_file(const char *path) {
  if (L.rank != 0) return FF_OK;
  ff_log_close_file();
  /* appended to, never replaced: the log of an earlier run in the same directory stays */
  L.file = fopen(path, "a");
  if (L.file == NULL) return FF_ERROR(FF_ERR_IO, "cannot open log file '%s' for writing", path);
  time_t now = time(NULL);
  char stamp[64];
  strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime(&now));
  fprintf(L.file, "==== %s: a run started %s ====\n", L.program, stamp);
  if (L.pending) fputs(L.pending, L.file);
  fflush(L.file);
  FF_FREE(L.pending);
  L.pending_len = L.pending_cap = 0;
  return FF_OK;
}

void ff_log_close_file(void) {
  if (L.file) fclose(L.file);
  L.file = NULL;
}

static void emit(int to_stderr, const char *prefix, const char *fmt, va_list ap) {
  char body[16384], line[16500];
  vsnprintf(body, sizeof body, fmt, ap);
  snprintf(line, sizeof line, "[%8.2fs] %s%s\n", ff_wall_seconds() - L.t0, prefix, body);
  if (to_stderr) fputs(line, stderr);
  to_file(line);
}

void ff_log(const char *fmt, ...) {
  if (L.rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  emit(1, "", fmt, ap);
  va_end(ap);
}

void ff_warn(const char *fmt, ...) {
  if (L.rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  emit(1, "warning: ", fmt, ap);
  va_end(ap);
}

void ff_log_file_only(const char *fmt, ...) {
  if (L.rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  emit(0, "", fmt, ap);
  va_end(ap);
}

void ff_log_error(const char *fmt, ...) {
  char body[16384], line[16600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  if (L.size > 1)
    snprintf(line, sizeof line, "[rank %d/%d %s] %s: %s\n", L.rank, L.size, L.host, L.program, body);
  else
    snprintf(line, sizeof line, "%s: %s\n", L.program, body);
  fputs(line, stderr);
  fflush(stderr);
  if (L.rank == 0 && L.file) to_file(line);
}

void ff_log_report_status(int status) {
  if (status == FF_OK) return;
  const char *msg = ff_error_message();
  if (status == FF_STOPPED) { /* not an error: the run can continue from its checkpoint */
    ff_log("%s", msg);
    return;
  }
  ff_log_error("error: %s", msg[0] ? msg : "unknown error");
  if (status == FF_ERR_INTERNAL || getenv("FLYFIT_DEBUG")) fputs(ff_error_traceback(), stderr);
}

void ff_progress_start(FfProgress *p, const char *what, const char *unit, double total, double every_s) {
  p->what = what;
  p->unit = unit;
  p->total = total;
  p->t_start = p->t_last = ff_wall_seconds();
  p->every_s = every_s;
}

void ff_progress_update(FfProgress *p, double done) {
  if (L.rank != 0 || p->every_s <= 0) return;
  double now = ff_wall_seconds();
  if (now - p->t_last < p->every_s && done < p->total) return;
  if (done >= p->total && p->t_last == p->t_start && now - p->t_start < p->every_s) return; /* short run */
  p->t_last = now;
  double el = now - p->t_start, rate = el > 0 ? done / el : 0.0;
  double eta = rate > 0 ? (p->total - done) / rate : 0.0;
  ff_log("%s %.1f / %.1f %s (%.1f%%), %.3g %s per wall second, elapsed %.1f s, ETA %.1f s", p->what, done,
         p->total, p->unit, p->total > 0 ? 100.0 * done / p->total : 100.0, rate, p->unit, el, eta);
}

int ff_peak_memory(MPI_Comm comm, int log, double **all_mb) {
  int rank = 0, size = 1, alloc_st = FF_OK;
  *all_mb = NULL;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double rss = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
  double *all = NULL;
  if (rank == 0) alloc_st = FF_CALLOC(all, size, "memory report");
  int st = FF_MPI(MPI_Bcast(&alloc_st, 1, MPI_INT, 0, comm));
  if (st == FF_OK && alloc_st != FF_OK)
    st = rank == 0 ? alloc_st : FF_ERROR(alloc_st, "rank 0 could not allocate the memory report");
  FF_CALL(st, FF_MPI(MPI_Gather(&rss, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, comm)));
  if (st != FF_OK) {
    free(all);
    return st;
  }
  if (rank == 0 && log) {
    char line[1024];
    size_t len = 0;
    for (int q = 0; q < size && len < sizeof line - 32; ++q)
      len += (size_t)snprintf(line + len, sizeof line - len, "%s%.0f", q ? ", " : "", all[q]);
    ff_log("peak memory per rank (MB): %s", line);
  }
  *all_mb = all;
  return FF_OK;
}
