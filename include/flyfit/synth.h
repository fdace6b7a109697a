/* Synthetic brain with FlyWire's statistics (DESIGN.md §2.1): any neuron count, heavy-tailed
 * out-degree, wiring mostly inside and between nearby neuropils, 78 named neuropils, about 27%
 * inhibitory presynaptic neurons, per-neuron neuropil synapse counts. Deterministic from the seed
 * (counter-based random numbers keyed by seed and neuron), whatever the thread count.
 * Neuropil indices follow strcmp order of the names, as the Codex importer numbers them. */
#ifndef FLYFIT_SYNTH_H
#define FLYFIT_SYNTH_H

#include <stdint.h>

#include "flyfit/connectome.h"

typedef struct {
  int64_t n_neurons;          /* default 138639 (FlyWire release 783) */
  uint64_t seed;              /* default 1 */
  const int64_t *root_ids;    /* optional [n_neurons] root ids to use (e.g. from a real neuron list) */
  double mean_out_degree;     /* default 108.9 connections per neuron */
  double mean_synapses;       /* default 3.61 synapses per connection */
  double inhibitory_fraction; /* default 0.27 */
} FfSynthOptions;

void ff_synth_defaults(FfSynthOptions *o);
int ff_synth_generate(const FfSynthOptions *o, FfConnectome *c);
/* Writes the same network as a FlyWire Codex connections CSV (gzip when the name ends in .gz).
 * Importing it with the matching neuron list gives back the same connectome. c must come from
 * ff_synth_generate with the same options: the per-connection neuropil split is recomputed from
 * the seed (a connectome made otherwise is an FF_ERR_INPUT error). */
int ff_synth_write_codex(const FfConnectome *c, const FfSynthOptions *o, const char *path);
/* Writes a Shiu-format neuron list (",Completed" header, one root id per row). */
int ff_synth_write_neuron_list(const FfConnectome *c, const char *path);

/* The 78 neuropils of the generator, sorted by name (strcmp): rough centre in µm (x lateral, left
 * negative; y dorsal; z anterior) and share of neurons whose wiring is centred there. */
enum { FF_SYNTH_NEUROPILS = 78 };
typedef struct {
  char name[12];
  double centre[3]; /* µm */
  double share;     /* fraction of neurons; sums to 1 */
} FfSynthNeuropil;
void ff_synth_neuropil_table(FfSynthNeuropil table[FF_SYNTH_NEUROPILS]);

/* Summary statistics of any connectome (used by flyfit-synth's report and the tests). */
typedef struct {
  int64_t neurons, connections, synapses; /* synapses: sum of |count| */
  double mean_out_degree;
  int64_t max_out_degree, max_in_degree;
  double mean_synapses; /* per connection */
  int64_t max_synapses;
  double share_le2_synapses;   /* connections with 1 or 2 synapses */
  int64_t conn_ge100_synapses; /* connections with at least 100 synapses */
  double inhibitory_fraction;  /* of the neurons that have outgoing connections */
  double home_share;           /* connections whose target has the source's home neuropil */
  int64_t neuropil_entries;    /* rows of the per-neuron neuropil table */
} FfSynthStats;
int ff_synth_stats(const FfConnectome *c, FfSynthStats *s);

#endif
