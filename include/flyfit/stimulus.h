/* What drives and what is recorded in a run, resolved to global neuron indices: the Poisson
 * input neurons, the silenced neurons, the input spikes of [stimulus] spikes_file, and the neurons
 * whose spikes and state are recorded. Rank 0 reads and checks every list and file, then
 * broadcasts the result, so a bad line is reported once, before any output is written.
 *
 * Neuron list syntax: comma-separated indices and ranges ("3, 10-12"), or "@FILE" with one index
 * or FlyWire root id per line ('#' starts a comment). A number below the neuron count is an index,
 * anything else must be a root id of the connectome. */
#ifndef FLYFIT_STIMULUS_H
#define FLYFIT_STIMULUS_H

#include <mpi.h>
#include <stdint.h>

#include "flyfit/config.h"
#include "flyfit/model.h"

typedef struct {
  int64_t n_poisson;
  int64_t *poisson; /* [n_poisson] ascending, unique */
  int64_t n_silence;
  int64_t *silence; /* ascending, unique */
  int64_t n_file;
  int64_t *file_gid;   /* [n_file] input spikes of spikes_file, sorted by (step, neuron) */
  int32_t *file_step;
  int64_t n_file_late; /* rows at or after the end of the run (ignored) */
  int record_all;      /* [output] spikes = all */
  int64_t n_record;
  int64_t *record;     /* when !record_all: neurons whose spikes are recorded */
  int64_t n_state;
  int64_t *state;      /* neurons whose v and g are recorded every step, ascending */
} FfStimulus;

/* Parses a neuron list (syntax above). `what` names the key in messages ("[stimulus] silence").
 * root_ids [n] may be NULL when the list has no root ids. Result ascending and unique. */
int ff_neuron_list_parse(const char *text, const char *what, int64_t n, const int64_t *root_ids, int64_t **out,
                         int64_t *count);
/* Rank 0: reads every list and the spikes file of the config. n_steps bounds the input spikes. */
int ff_stimulus_load(const FfConfig *cfg, const FfModel *m, int64_t n, const int64_t *root_ids, int64_t n_steps,
                     FfStimulus *s);
/* Collective: all ranks of comm must call it. Rank 0's stimulus to every rank. */
int ff_stimulus_bcast(FfStimulus *s, MPI_Comm comm);
void ff_stimulus_destroy(FfStimulus *s);

#endif
