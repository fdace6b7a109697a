/* Stopping on a signal without losing work (SLURM sends one before the time limit).
 *
 * SIGTERM, SIGINT and SIGUSR1 are caught. While a phase that can checkpoint at a safe point is
 * running (round-1 training: ff_signals_arm(1)), the first signal only sets a flag; the phase polls
 * it (ff_signals_stop_requested) at its next safe point, where every rank agrees on it in a
 * collective it makes anyway, writes a checkpoint collectively and returns FF_STOPPED, which is
 * flyfit's exit status (75). Outside such a phase the first signal stops the process at once with
 * status 75: everything flyfit writes goes under a temporary name first, so no finished file is
 * damaged, and the requeued job redoes the phase; before it exits, rank 0 leaves the record the run
 * prepared (ff_signals_record): run.json saying "stopped", in which phase and what resumes, and a line
 * in flyfit.log. A second signal always stops at once, with status 128 + the signal's number, leaving
 * the previous checkpoint as it was. */
#ifndef FLYFIT_SIGNALS_H
#define FLYFIT_SIGNALS_H

void ff_signals_install(void);
/* 1: the current phase stops at its next safe point; 0: a signal stops the process at once. */
void ff_signals_arm(int armed);
/* The signal received (nonzero) since install; async-signal-safe to read. */
int ff_signals_stop_requested(void);
/* Rank 0, at the start of each phase: what a stop in it leaves. json: the whole text of run.json for
 * a stop now; json_path and log_path: run.json and flyfit.log; phase: its name. The handler writes json
 * to json_path + ".stop" and renames it over json_path, then appends a line naming the signal and the
 * phase to log_path, with async-signal-safe calls only. Texts that do not fit the buffers are dropped
 * (no record) with a warning. */
void ff_signals_record(const char *json, const char *json_path, const char *log_path, const char *phase);

#endif
