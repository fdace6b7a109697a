/* The figures of a finished run (include/flyfit/plot.h). */
#include "flyfit/plot.h"

#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

#include "flyfit/config.h"
#include "flyfit/log.h"

extern char **environ;

void ff_plot_draw(const char *tool, const char *out_dir) {
  if (tool == NULL) {
    ff_warn("tools/flyfit-plot not found beside the program: no figures");
    return;
  }
  char res[FF_CONFIG_STR + 64], dir[FF_CONFIG_STR + 64];
  snprintf(res, sizeof res, "%s/results.h5", out_dir);
  snprintf(dir, sizeof dir, "%s/figures", out_dir);
  char *argv[] = {"/usr/bin/python3", (char *)tool, res, "-o", dir, "--quiet", NULL};
  pid_t pid;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
    ff_warn("could not start %s %s: no figures", argv[0], tool);
    return;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ff_log("figures in %s", dir);
  else ff_warn("%s exited with status %d: the figures in %s may be missing", tool, WEXITSTATUS(status), dir);
}
