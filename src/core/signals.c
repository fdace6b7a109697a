/* Signal handling for checkpoint-and-stop (include/flyfit/signals.h). The handler only uses
 * async-signal-safe calls: write(2) and _exit(2). */
#include "flyfit/signals.h"

#include "flyfit/error.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/log.h"

static volatile sig_atomic_t g_signal;  /* the first signal received, 0 = none */
static volatile sig_atomic_t g_count;   /* signals received */
static volatile sig_atomic_t g_armed;   /* a phase with safe points is running */

/* The name of a caught signal, or `other`. */
static const char *sig_name(int signo, const char *other) {
  return signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : signo == SIGUSR1 ? "SIGUSR1" : other;
}

static void say(const char *a, int signo, const char *b) {
  char buf[256];
  size_t n = 0;
  const char *name = sig_name(signo, "signal");
  for (const char *p = a; *p && n < sizeof buf - 1; ++p) buf[n++] = *p;
  for (const char *p = name; *p && n < sizeof buf - 1; ++p) buf[n++] = *p;
  for (const char *p = b; *p && n < sizeof buf - 1; ++p) buf[n++] = *p;
  ssize_t w = write(STDERR_FILENO, buf, n);
  (void)w;
}

/* The record of a stop (ff_signals_record); g_ready says it is whole. */
static char g_json[1 << 16], g_json_path[4300], g_tmp_path[4308], g_log_path[4300], g_phase[64];
static size_t g_json_len;
static volatile sig_atomic_t g_ready;

void ff_signals_record(const char *json, const char *json_path, const char *log_path, const char *phase) {
  g_ready = 0;
  const size_t n = strlen(json);
  if (n >= sizeof g_json || strlen(json_path) + 8 >= sizeof g_json_path || strlen(log_path) >= sizeof g_log_path) {
    ff_warn("the run.json of a stop does not fit its buffer: a signal will stop the run without one");
    return;
  }
  memcpy(g_json, json, n + 1);
  g_json_len = n;
  snprintf(g_json_path, sizeof g_json_path, "%s", json_path);
  snprintf(g_tmp_path, sizeof g_tmp_path, "%s.stop", json_path);
  snprintf(g_log_path, sizeof g_log_path, "%s", log_path);
  snprintf(g_phase, sizeof g_phase, "%s", phase);
  g_ready = 1;
}

static void put_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Async-signal-safe: run.json of the stop, then the log line. */
static void leave_record(int signo) {
  if (!g_ready) return;
  int fd = open(g_tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    put_all(fd, g_json, g_json_len);
    close(fd);
    rename(g_tmp_path, g_json_path);
  }
  fd = open(g_log_path, O_WRONLY | O_APPEND);
  if (fd >= 0) {
    const char *parts[] = {"stopped by ", sig_name(signo, "a signal"), " during ", g_phase,
                           ": exit status 75; run.json says stopped\n"};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; ++k) put_all(fd, parts[k], strlen(parts[k]));
    close(fd);
  }
}

static void handler(int signo) {
  g_count = g_count + 1;
  if (g_count > 1) {
    say("flyfit: second ", signo, ": stopping at once; the previous checkpoint is kept\n");
    _exit(128 + signo);
  }
  g_signal = signo;
  if (!g_armed) {
    leave_record(signo);
    say("flyfit: ", signo, " outside round-1 training: stopping now (earlier results and checkpoints are kept; "
                           "a rerun redoes this phase)\n");
    _exit(FF_STOPPED);
  }
}

void ff_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

void ff_signals_arm(int armed) {
  g_armed = armed;
  if (!armed && g_signal) { /* a signal came while the phase was ending: honour it now */
    leave_record(g_signal);
    say("flyfit: ", g_signal, " received: stopping after the phase\n");
    _exit(FF_STOPPED);
  }
}

int ff_signals_stop_requested(void) { return g_signal; }
