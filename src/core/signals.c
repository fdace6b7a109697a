/* Signal handling for checkpoint-and-stop (include/flyfit/signals.h). The handler only uses
 * async-signal-safe calls: write(2) and _exit(2). */
#include "flyfit/signals.h"

#include "flyfit/error.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_signal;  /* the first signal received, 0 = none */
static volatile sig_atomic_t g_count;   /* signals received */
static volatile sig_atomic_t g_armed;   /* a phase with safe points is running */

static void say(const char *a, int signo, const char *b) {
  char buf[256];
  size_t n = 0;
  const char *name = signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : signo == SIGUSR1 ? "SIGUSR1" : "signal";
  for (const char *p = a; *p && n < sizeof buf - 1; ++p) buf[n++] = *p;
  for (const char *p = name; *p && n < sizeof buf - 1; ++p) buf[n++] = *p;
  for (const char *p = b; *p && n < sizeof buf - 1; ++p) buf[n++] = *p;
  ssize_t w = write(STDERR_FILENO, buf, n);
  (void)w;
}

static void handler(int signo) {
  g_count = g_count + 1;
  if (g_count > 1) {
    say("flyfit: second ", signo, ": stopping at once; the previous checkpoint is kept\n");
    _exit(128 + signo);
  }
  g_signal = signo;
  if (!g_armed) {
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
    say("flyfit: ", g_signal, " received: stopping after the phase\n");
    _exit(FF_STOPPED);
  }
}

int ff_signals_stop_requested(void) { return g_signal; }
