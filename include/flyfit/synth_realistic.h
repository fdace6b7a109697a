/* Synthetic recordings that look like recordings (flyfit-synth --activity-model realistic): neuropil
 * activity that is not made by flyfit's own spiking model. Each neuropil's latent activity z is a
 * leaky unit driven by a slow shared 1/f-like signal, a few low-rank factors and private noise, and
 * coupled to the other neuropils through the connectome (synapses from neurons homed in p onto
 * neurons homed in q, row-normalised and symmetrised, scaled below the stability limit). Rates are
 * a softplus of z; a GCaMP-like indicator (rise and decay, Hill saturation) integrated over each
 * frame's exposure gives dF/F; photobleaching and measurement noise give the raw fluorescence.
 * Targets and the measured statistics are in docs (spectrum slope, lag-1 autocorrelation, FC mean). */
#ifndef FLYFIT_SYNTH_REALISTIC_H
#define FLYFIT_SYNTH_REALISTIC_H

#include <stdint.h>

#include "flyfit/connectome.h"

typedef struct {
  int64_t frames;         /* recording length, 1900 */
  double fs_hz;           /* frame rate, 1.2 */
  int substeps;           /* simulation steps per frame (the exposure is their mean), 8 */
  double tau_z_s;         /* time constant of the latent units, 1 s */
  double coupling;        /* connectome coupling as a fraction of the stability limit, 0.85 */
  double global_min, global_max; /* loading of the shared 1/f signal, uniform per neuropil, 0.15..0.45 */
  int n_factors;          /* low-rank factors, 4 */
  double factor_sd;       /* sd of their loadings, 0.5 */
  double private_sd;      /* weight of each neuropil's private noise, 1 */
  double rate_min_hz, rate_max_hz; /* each neuropil's rate scale, uniform, 3..10 Hz */
  double tau_rise_s, tau_decay_s;  /* indicator kinetics, 0.12 s and 0.8 s */
  double dff_max;         /* dF/F at saturation, 1 */
  double kd_scale;        /* half-saturation at this multiple of a neuropil's median calcium, 3 */
  double bleach_fraction; /* share of F0 lost to photobleaching over the long run, 0.3 */
  double bleach_tau_s;    /* its time constant (per neuropil x 0.7..1.3), 400 s */
  double noise;           /* measurement noise sd relative to F0, 0.03 */
  uint64_t seed;
} FfSynthRealisticOptions;

typedef struct {
  int64_t T, P;
  double *traces;   /* [T x P] raw fluorescence, frame-major */
  double *clean;    /* [T x P] the traces without measurement noise */
  double *rates;    /* [T x P] Hz, each frame's mean rate (the truth behind the traces) */
  double *drive;    /* [T x P] each frame's mean input to the latent units (shared + factors + private) */
  double *coupling; /* [P x P] the symmetrised, row-normalised neuropil coupling used (before scaling) */
} FfSynthRealistic;

void ff_synth_realistic_defaults(FfSynthRealisticOptions *o);
/* Generates the recordings of connectome c (its neuropils and wiring); deterministic in the seed. */
int ff_synth_realistic(const FfConnectome *c, const FfSynthRealisticOptions *o, FfSynthRealistic *out);
void ff_synth_realistic_destroy(FfSynthRealistic *r);
/* Generates the recordings of c and writes them as activity.h5 (as flyfit-import would, see
 * ff_synth_recording_write in synth.h) with /truth/{rates, drive, clean [T x P], coupling [P x P]}
 * and the options as attributes of /truth (src/data/synth_write.c). */
int ff_synth_realistic_write(const FfConnectome *c, const FfSynthRealisticOptions *o, const char *out,
                             const char *created_by);

#endif
