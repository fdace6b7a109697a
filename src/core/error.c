/* Per-thread error message and traceback (see include/flyfit/error.h). */
#include "flyfit/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for messages that list every unmatched region and neuropil of a recording. */
enum { FF_MSG_MAX = 16384, FF_TRACE_MAX = 4096 };

static _Thread_local char ff_msg[FF_MSG_MAX];
static _Thread_local char ff_trace[FF_TRACE_MAX];
static _Thread_local int ff_peer; /* the current error echoes another rank's */

static void trace_append(const char *file, int line, const char *func) {
  size_t used = strlen(ff_trace);
  if (used + 1 < sizeof ff_trace)
    snprintf(ff_trace + used, sizeof ff_trace - used, "  at %s:%d %s()\n", file, line, func);
}

static int set_error(int code, int peer, const char *file, int line, const char *func, const char *fmt, va_list ap) {
  vsnprintf(ff_msg, sizeof ff_msg, fmt, ap);
  ff_trace[0] = '\0';
  ff_peer = peer;
  trace_append(file, line, func);
  return code;
}

int ff_error(int code, const char *file, int line, const char *func, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error(code, 0, file, line, func, fmt, ap);
  va_end(ap);
  return code;
}

int ff_error_peer(int code, const char *file, int line, const char *func, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error(code, 1, file, line, func, fmt, ap);
  va_end(ap);
  return code;
}

int ff_error_is_peer(void) { return ff_peer; }

void ff_error_trace(const char *file, int line, const char *func) { trace_append(file, line, func); }

const char *ff_error_message(void) { return ff_msg; }

void ff_error_prefix(const char *fmt, ...) {
  char prefix[512], old[FF_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, ff_msg, sizeof old);
  size_t n = strlen(prefix);
  if (n >= sizeof ff_msg) n = sizeof ff_msg - 1;
  memcpy(ff_msg, prefix, n);
  size_t m = strlen(old);
  if (n + m >= sizeof ff_msg) m = sizeof ff_msg - 1 - n;
  memcpy(ff_msg + n, old, m);
  ff_msg[n + m] = '\0';
}
const char *ff_error_traceback(void) { return ff_trace; }

void ff_error_clear(void) {
  ff_peer = 0;
  ff_msg[0] = '\0';
  ff_trace[0] = '\0';
}

int ff_alloc_(void **p, size_t n, size_t size, int zero, const char *what, const char *file, int line,
              const char *func) {
  *p = NULL;
  if (n == 0) n = 1; /* a valid, freeable pointer even for empty arrays */
  if (size != 0 && n > SIZE_MAX / size)
    return ff_error(FF_ERR_NOMEM, file, line, func, "size overflow allocating %zu x %zu bytes for %s", n,
                    size, what);
  *p = zero ? calloc(n, size) : malloc(n * size);
  if (*p == NULL)
    return ff_error(FF_ERR_NOMEM, file, line, func, "out of memory allocating %.3g MB for %s",
                    (double)n * (double)size / 1e6, what);
  return FF_OK;
}

int ff_realloc_(void **p, size_t n, size_t size, const char *what, const char *file, int line, const char *func) {
  if (n == 0) n = 1;
  if (size != 0 && n > SIZE_MAX / size)
    return ff_error(FF_ERR_NOMEM, file, line, func, "size overflow growing %s to %zu x %zu bytes", what, n, size);
  void *q = realloc(*p, n * size);
  if (q == NULL)
    return ff_error(FF_ERR_NOMEM, file, line, func, "out of memory growing %s to %.3g MB", what,
                    (double)n * (double)size / 1e6);
  *p = q;
  return FF_OK;
}
