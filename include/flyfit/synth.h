/* Synthetic brain with FlyWire's statistics (docs/design.md §2.1): any neuron count, heavy-tailed
 * out-degree, wiring mostly inside and between nearby neuropils, 78 named neuropils, about 27%
 * inhibitory presynaptic neurons, per-neuron neuropil synapse counts. Deterministic from the seed
 * (counter-based random numbers keyed by seed and neuron), whatever the thread count.
 * Neuropil indices follow strcmp order of the names, as the Codex importer numbers them. */
#ifndef FLYFIT_SYNTH_H
#define FLYFIT_SYNTH_H

#include <hdf5.h>
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

/* Synthetic recordings of a connectome, driven by a hidden ground truth (flyfit-synth --activity).
 * The brainscale network runs frame after frame: each sample's input is the previous frame's
 * neuropil rates plus a hidden drive (a periodic wave, with four phase groups of neuropils, plus an
 * Ornstein-Uhlenbeck process per neuropil), through a
 * hidden encoder w = ReLU(b* + W* x / x_scale) in which every neuron listens mostly to its home
 * neuropil; the neuropil rates become calcium (AR(1), decay exp(-1/(tau fs)) per frame), then
 * fluorescence F = F0 (1 + gain c)(1 + slow drift) plus noise. activity.h5 gets /areas, /traces,
 * the preprocessed /dff and /rates (with the default [preprocess] keys, see activity.h), and
 * /truth/{encoder_w [N x P], encoder_b [N], rates [T x P], drive [T x P]} for checking a fit. */
typedef struct {
  int64_t frames;       /* default 1900 */
  double fs_hz;         /* 1.2 */
  double sample_ms;     /* simulated time per frame; 0 = 1/fs */
  double tau_s;         /* calcium decay, 0.8 */
  double gain;          /* fluorescence change per spike in a frame, 0.05 */
  double noise;         /* fluorescence noise, relative to F0, 0.002 */
  double drive_hz;      /* sd of the hidden drive's random part (Ornstein-Uhlenbeck), 1 Hz */
  double drive_frames;  /* its correlation time, 6 frames */
  double wave_hz;       /* amplitude of its periodic part, 30 Hz: a sine of period wave_frames whose */
  double wave_frames;   /* phase steps by a quarter period from neuropil to neuropil (4 frames) */
  double x_scale_hz;    /* the hidden encoder's input scale, 20 Hz */
  double bias_mV;       /* the hidden encoder's bias, -0.6 mV */
  double home_mV;       /* its weight from each neuron's home neuropil, 1.6 mV */
  uint64_t seed;
  int threads;
} FfSynthActivityOptions;
void ff_synth_activity_defaults(FfSynthActivityOptions *o);
/* Needs MPI initialized (it runs the network on MPI_COMM_SELF). */
int ff_synth_activity(const char *connectome, const FfSynthActivityOptions *o, const char *out, const char *created_by);

/* Synthetic traces of either model (--activity-model brainscale or realistic), to be written as
 * activity.h5. */
typedef struct {
  int64_t T, P;              /* frames, regions (the connectome's neuropils, in its order) */
  double fs_hz;              /* frame rate */
  uint64_t seed;             /* names the recording: neural_activity_id "synthetic-SEED" */
  const char *const *names;  /* [P] region names (the neuropils') */
  const double *traces;      /* [T x P] raw fluorescence, frame-major */
  const char *source;        /* the source attribute: which model made them */
} FfSynthRecording;
/* Adds the model's truth to the open file before it is committed. */
typedef int (*FfSynthTruthWriter)(hid_t f, void *ctx);
/* Writes activity.h5 as flyfit-import writes it (raw traces rounded to float, /dff and /rates through
 * the default preprocessing at fs_hz; a recording not longer than the default trim keeps all its
 * frames), then truth(f, ctx) when not NULL, in one atomic write (src/data/synth_write.c). */
int ff_synth_recording_write(const FfSynthRecording *r, const char *out, const char *created_by,
                             FfSynthTruthWriter truth, void *ctx);

#endif
