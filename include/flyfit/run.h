/* The run driver of bin/flyfit: configuration, the checks every input gets before anything is
 * written, this rank's share of the network, the mode, and run.json. A mode is one entry of the
 * table in src/run/run.c: its name (the [run] mode value) and the function that runs it on an FfRun
 * whose shared inputs are ready; a mode that uses the connectome (config.h: ff_mode_uses_connectome)
 * finds the network loaded, the others only the configuration. */
#ifndef FLYFIT_RUN_H
#define FLYFIT_RUN_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/model.h"
#include "flyfit/net.h"
#include "flyfit/sim.h"
#include "flyfit/stimulus.h"

typedef struct {
  /* set by ff_run_main before the mode runs */
  MPI_Comm comm;
  int rank, size;
  const char *version;   /* "git describe" of the program */
  FfConfig cfg;
  char *config_text;     /* the effective configuration (INI text), for the log and results */
  FfModel model;
  int threads, device;   /* OpenMP threads of this rank; its GPU (-1: none) */
  double t_start;        /* MPI_Wtime() at the start */
  char log_path[FF_CONFIG_STR + 32]; /* [output] dir/flyfit.log */
  /* modes that use the connectome (ff_mode_uses_connectome): */
  int64_t n_global;      /* neurons in the connectome */
  int64_t n_steps;       /* simulation steps of [run] duration_ms */
  FfStimulus stim;
  FfNet net;             /* this rank's neurons and the connections that end on them */
  char *hosts;           /* rank 0: the node of every rank, comma-separated */
  int n_nodes;
  /* set by the mode */
  int started;           /* the log is open: the run got past its input checks (run.json is written) */
  const char *phase;     /* the phase running (ff_run_phase) */
  FfSimOutput out;       /* mode simulate: this rank's spikes and states */
} FfRun;

/* Collective: all ranks of COMM must call it. The whole of `flyfit CONFIG [--set k=v ...]`
 * after MPI_Init: returns the FfStatus every rank agrees on, which is the exit status. */
int ff_run_main(int argc, char **argv, const char *version, MPI_Comm comm);

/* Collective. Opens [output] dir/flyfit.log (rank 0 writes it) once the mode's own inputs have
 * been checked, and marks the run as started. */
int ff_run_open_log(FfRun *r);

/* A phase starts ("simulate", "round1", "round2", "predict"): a stop or failure from now on names it in
 * run.json, and rank 0 prepares the record that a signal outside a safe point leaves (signals.h). */
void ff_run_phase(FfRun *r, const char *phase);

/* tools/flyfit-plot beside the program (bin/../tools), or $FLYFIT_PLOT; NULL when there is none. */
const char *ff_run_plot_tool(void);

/* Rank 0: makes directory path (and its parents) and checks that it is writable; errors name [output] dir. */
int ff_run_make_dir(const char *path);

/* The modes (src/run/simulate.c, src/run/fitting.c, src/run/task.c, src/run/neuron.c). Collective. */
int ff_mode_simulate(FfRun *r);
int ff_mode_fitting(FfRun *r); /* fit, round2, predict and all */
int ff_mode_task(FfRun *r);    /* the E/I network on evidence accumulation (task.h) */
int ff_mode_neuron(FfRun *r);  /* single neurons (src/run/neuron.c) */
int ff_mode_netopt(FfRun *r);  /* an E/I network fitted by evolution (src/run/netopt.c) */
int ff_mode_cells(FfRun *r);   /* connectivity of recorded cells by STDP (src/run/cells.c) */

#endif
