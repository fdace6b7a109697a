/* Logging: rank 0 writes progress and results to stderr and to the run's log file; any rank can
 * report an error, prefixed with "[rank r/N host]". Lines logged before the log file is opened are
 * kept in memory and written when it opens, so no output file is touched until inputs are valid. */
#ifndef FLYFIT_LOG_H
#define FLYFIT_LOG_H

#include <mpi.h>
#include <stdio.h>

/* Call once per process (after MPI_Init where MPI is used). */
void ff_log_init(const char *program, int rank, int size);
/* Opens the log file for appending (rank 0 only; other ranks ignore the call), marks the start of this
 * run, and flushes buffered lines into it. An earlier run's log in the same file stays. */
int ff_log_open_file(const char *path);
void ff_log_close_file(void);
/* Rank 0 only: one line to stderr and the log file, prefixed with seconds since start. */
void ff_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ff_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Rank 0 only: the text to the log file and not to stderr (long tables such as the config echo). */
void ff_log_file_only(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Any rank: "[rank r/N host] program: message" to stderr (and the log file on rank 0). */
void ff_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports the current ff_error() message on this rank; the traceback too when FLYFIT_DEBUG is set
 * or the status is an internal error. */
void ff_log_report_status(int status);
/* Collective: all ranks of COMM must call it. The peak resident memory (MB) of every rank, into
 * *all_mb on rank 0 (NULL on the others, and on failure; the caller frees it); with log, rank 0
 * also logs "peak memory per rank (MB): ...". */
int ff_peak_memory(MPI_Comm comm, int log, double **all_mb);
double ff_wall_seconds(void);
int ff_log_rank(void);

/* Progress line for long loops: rate and ETA, at most every `every_s` seconds, rank 0 only. */
typedef struct {
  const char *what; /* "simulated" */
  const char *unit; /* "ms" */
  double total;     /* in unit */
  double t_start, t_last, every_s;
} FfProgress;
void ff_progress_start(FfProgress *p, const char *what, const char *unit, double total, double every_s);
void ff_progress_update(FfProgress *p, double done);

#endif
