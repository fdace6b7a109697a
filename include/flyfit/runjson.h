/* run.json: what a run was and what it gave, for collecting sweeps without parsing logs.
 *
 * Rank 0 gathers facts during the run (phases, summary lines) and main() writes
 * [output] dir/run.json at the end of every run that got past its input checks: "status" done, stopped
 * or failed, with the phase it ended in (a run refused on its inputs leaves the earlier run.json alone,
 * like every other output; a signal outside a safe point leaves the record ff_run_phase prepared,
 * signals.h). The file is written under a
 * temporary name and renamed. Fields: flyfit version (git describe), config hash (FNV-1a 64 of the
 * effective configuration text), mode, status and exit status, ranks, threads, nodes, hosts,
 * backend, transport and device of every rank, phase wall times, peak memory per rank, and the
 * final metrics (the key=value pairs of every "... done:" summary line). */
#ifndef FLYFIT_RUNJSON_H
#define FLYFIT_RUNJSON_H

#include <stdint.h>

/* Prints a summary line ("fit done: a=1 b=2") on stdout and keeps its pairs for run.json. */
void ff_summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Keeps the pairs of such a line for run.json without printing it. */
void ff_runjson_metrics(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Adds the wall time of a phase ("round1", "simulate", ...). */
void ff_runjson_phase(const char *name, double seconds);

typedef struct {
  const char *dir, *version, *config_text, *mode, *backend, *transport, *hosts; /* hosts: "a,a,b" */
  int status, ranks, threads, nodes;
  const int *devices;       /* [ranks], -1 = none */
  const double *peak_rss_mb; /* [ranks] */
  double total_s;
  const char *phase;     /* the phase running at a stop or failure (NULL: none) */
  const char *resumable; /* what a rerun continues, for a stop (NULL: none) */
} FfRunJson;

/* Rank 0. Returns FF_OK or an I/O error (the run's own status is not changed by it). */
int ff_runjson_write(const FfRunJson *r);
/* Rank 0. The text run.json would hold, into *text (caller frees). */
int ff_runjson_text(const FfRunJson *r, char **text);

#endif
