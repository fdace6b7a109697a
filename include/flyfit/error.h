/* Status codes and the one propagate macro used everywhere.
 * A failing function records a message with ff_error() and returns a nonzero FfStatus; every
 * caller passes it up with FF_CALL or FF_TRY, which append file:line:function to a per-thread
 * traceback.
 * The status doubles as the process exit code, so scripts can tell bad input from a crash. */
#ifndef FLYFIT_ERROR_H
#define FLYFIT_ERROR_H

#include <stddef.h>

typedef enum {
  FF_OK = 0,
  FF_ERR_USAGE = 1,    /* bad command line */
  FF_ERR_INPUT = 2,    /* bad input: config, file contents, stimulus */
  FF_ERR_IO = 3,       /* a file could not be read or written */
  FF_ERR_NOMEM = 4,    /* allocation failed */
  FF_ERR_MPI = 5,      /* an MPI call failed */
  FF_ERR_INTERNAL = 6, /* a bug: an invariant did not hold */
  FF_ERR_UNSUPPORTED = 7, /* asked for something this build cannot do */
  FF_STOPPED = 75 /* stopped by a signal after writing a checkpoint (EX_TEMPFAIL): resume = auto continues */
} FfStatus;

/* Records the message (printf-style) as the current error of this thread and returns code. */
int ff_error(int code, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Appends one traceback frame; used by FF_TRY. */
void ff_error_trace(const char *file, int line, const char *func);
/* The current message ("" when none) and the traceback, one frame per line. */
const char *ff_error_message(void);
/* Prepends context to the current message ("[data] connectome: " + message). */
void ff_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ff_error_traceback(void);
void ff_error_clear(void);
/* A failure that only echoes another rank's (the ranks agreed on a status that was not this
 * rank's own): records the message as ff_error does, marked so that ff_ranks_agree lets the rank
 * that failed first-hand report, and this one stays silent. */
int ff_error_peer(int code, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define FF_ERROR_PEER(code, ...) ff_error_peer((code), __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Whether the current error of this thread was made by FF_ERROR_PEER. */
int ff_error_is_peer(void);

#define FF_ERROR(code, ...) ff_error((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* The one propagate macro. FF_CALL(st, expr) evaluates expr into st only while st is FF_OK; a
 * failure appends this file:line:function to the traceback. A function that must release what it
 * holds whatever happens runs its steps as FF_CALLs on one status and cleans up once at the end:
 *     int st = FF_OK;
 *     FF_CALL(st, open_it(&f));
 *     FF_CALL(st, write_it(f));
 *     close_it(f);
 *     return st;
 * FF_TRY(expr) is the same for a function with nothing to release: it returns on failure. */
#define FF_CALL(st, expr)                                                                          \
  do {                                                                                             \
    if ((st) == FF_OK) {                                                                           \
      (st) = (expr);                                                                               \
      if ((st) != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);                             \
    }                                                                                              \
  } while (0)

#define FF_TRY(expr)                                                                               \
  do {                                                                                             \
    int ff_try_status_ = FF_OK;                                                                    \
    FF_CALL(ff_try_status_, (expr));                                                               \
    if (ff_try_status_ != FF_OK) return ff_try_status_;                                            \
  } while (0)

/* FF_MPI(call): every MPI call goes through this. Its value is FF_OK, or FF_ERR_MPI with a message
 * naming the call, MPI's reason and file:line (MPI_COMM_WORLD returns errors: main sets
 * MPI_ERRORS_RETURN). Use it as any status: FF_TRY(FF_MPI(MPI_Bcast(...))) or FF_CALL(st, FF_MPI(...)). */
#define FF_MPI(call) ff_mpi_status((call), #call, __FILE__, __LINE__, __func__)
int ff_mpi_status(int mpi_rc, const char *call, const char *file, int line, const char *func);

/* Allocation that reports what it was for. *p is set to NULL on failure; n*size overflow is caught. */
int ff_alloc_(void **p, size_t n, size_t size, int zero, const char *what, const char *file, int line,
              const char *func);
#define FF_MALLOC(p, n, what) ff_alloc_((void **)&(p), (size_t)(n), sizeof *(p), 0, (what), __FILE__, __LINE__, __func__)
#define FF_CALLOC(p, n, what) ff_alloc_((void **)&(p), (size_t)(n), sizeof *(p), 1, (what), __FILE__, __LINE__, __func__)
int ff_realloc_(void **p, size_t n, size_t size, const char *what, const char *file, int line, const char *func);
#define FF_REALLOC(p, n, what) ff_realloc_((void **)&(p), (size_t)(n), sizeof *(p), (what), __FILE__, __LINE__, __func__)
/* Frees *p (NULL allowed) and clears the caller's pointer. */
#define FF_FREE(p)                                                                                 \
  do {                                                                                             \
    free(p);                                                                                       \
    (p) = NULL;                                                                                    \
  } while (0)

#endif
