/* bin/flyfit: `mpirun -np K flyfit CONFIG [--set section.key=value ...]`. The run itself is
 * ff_run_main (src/run/run.c); this file holds the command line's other forms and MPI's start and
 * end. The exit status is the FfStatus every rank agreed on (include/flyfit/error.h). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/cuda.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/run.h"
#include "flyfit/signals.h"

#ifndef FF_VERSION
#define FF_VERSION "unknown"
#endif

static const char USAGE[] =
    "usage: mpirun -np K flyfit CONFIG.ini [--set section.key=value ...]\n"
    "       flyfit --help-config [markdown]   list every configuration key\n"
    "       flyfit --version\n"
    "Runs the whole-brain spiking model described by CONFIG.ini; see README.md and docs/guide/running.md.\n";

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    fputs(USAGE, stdout);
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "--help-config")) {
    ff_config_print_help(stdout, argc >= 3 && !strcmp(argv[2], "markdown"));
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "--version")) {
    char cuda[512];
    ff_cuda_describe(cuda, sizeof cuda);
    printf("flyfit %s (%s)\n", FF_VERSION, cuda);
    return 0;
  }
  if (argc < 2 || argv[1][0] == '-') {
    fputs(USAGE, stderr);
    return FF_ERR_USAGE;
  }
  int provided, rank = 0, size = 1;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fputs("flyfit: MPI_Init_thread failed\n", stderr);
    return FF_ERR_MPI;
  }
  /* errors come back as return codes, which FF_MPI turns into messages that name the rank */
  int st = FF_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  FF_CALL(st, FF_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank)));
  FF_CALL(st, FF_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size)));
  ff_log_init("flyfit", rank, size);
  if (st == FF_OK) {
    ff_signals_install();
    ff_h5_init();
    st = ff_run_main(argc, argv, FF_VERSION, MPI_COMM_WORLD);
  } else {
    ff_log_report_status(st);
  }
  const int fin = FF_MPI(MPI_Finalize());
  if (fin != FF_OK && st == FF_OK) {
    ff_log_report_status(fin);
    st = fin;
  }
  return st;
}
