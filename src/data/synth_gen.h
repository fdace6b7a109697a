/* The synthetic brain's generator state, shared by the generator (synth.c) and the writer of its
 * Codex CSV export (synth_files.c), which recomputes each connection's synapse placement from the
 * same keyed random numbers instead of storing it. Private to src/data. */
#ifndef FLYFIT_SRC_SYNTH_GEN_H
#define FLYFIT_SRC_SYNTH_GEN_H

#include "flyfit/synth.h"

#include <stdint.h>

enum { NPIL = FF_SYNTH_NEUROPILS };

typedef struct {
  uint64_t seed;
  int64_t n;
  FfSynthNeuropil np[NPIL];
  int16_t *region;     /* [n] neuropil a neuron's wiring is centred on (its home, almost always) */
  int64_t quota[NPIL];  /* neurons per region */
  double near_cum[NPIL][NPIL]; /* row p: cumulative weights of the other neuropils as targets from p */
  int64_t *member_ptr; /* [NPIL+1] offsets into member/alias arrays (NULL when only placing synapses) */
  int32_t *member;     /* [n] neurons grouped by region, ascending within a region */
  double *alias_prob;  /* [n] Walker alias table of attractiveness within each region's group: */
  int32_t *alias;      /* [n]   slot t keeps member t with alias_prob[t], else gives member alias[t] */
  double deg_mu, syn_mu;
} Gen;

/* Where a connection's synapses lie: in the target's region, and for some connections partly in
 * the source's region (or, when both share a region, a neighbouring one). */
typedef struct {
  int parts;
  int16_t np[2];
  int32_t syn[2];
} Placement;


/* Builds the region tables for the options (validated); ff_synth_gen_free releases them. */
int ff_synth_gen_init(Gen *g, const FfSynthOptions *o);
void ff_synth_gen_free(Gen *g);
/* Neuron i's drawn out-degree, and whether it is inhibitory (a fraction of all neurons). */
int64_t ff_synth_degree(const Gen *g, int64_t i);
int ff_synth_inhibitory(const Gen *g, int64_t i, double fraction);
/* Where the s synapses of neuron i's e_local-th connection (onto post) lie. */
void ff_synth_place(const Gen *g, int64_t i, int64_t e_local, int32_t post, int32_t s, Placement *pl);

#endif
