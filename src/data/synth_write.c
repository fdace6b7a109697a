/* activity.h5 of synthetic recordings, for both models of flyfit-synth --activity-model: the raw
 * traces go through flyfit-import's chain with the default [preprocess] keys (so /dff and /rates are
 * what an import of the same traces would give), then the model adds its truth under /truth, all in
 * one atomic write. Also the realistic model's writer (include/flyfit/synth_realistic.h). */
#include "flyfit/activity.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/synth.h"
#include "flyfit/synth_realistic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const FfActivityFile *af;
  FfSynthTruthWriter truth;
  void *ctx;
} Body;

static int write_body(hid_t f, void *ctx) {
  const Body *b = ctx;
  FF_TRY(ff_activity_write_into(f, b->af));
  return b->truth ? b->truth(f, b->ctx) : FF_OK;
}

int ff_synth_recording_write(const FfSynthRecording *r, const char *out, const char *created_by,
                             FfSynthTruthWriter truth, void *ctx) {
  const int64_t T = r->T, P = r->P;
  FfRecording rec;
  memset(&rec, 0, sizeof rec);
  rec.P = P;
  rec.T = T;
  rec.fs_hz = r->fs_hz;
  snprintf(rec.id, sizeof rec.id, "synthetic-%llu", (unsigned long long)r->seed);
  snprintf(rec.source, sizeof rec.source, "%s", r->source);
  snprintf(rec.file, sizeof rec.file, "%s", out);
  int st = FF_CALLOC(rec.areas, P, "region names");
  FF_CALL(st, FF_MALLOC(rec.rows, P, "region rows"));
  FF_CALL(st, FF_MALLOC(rec.traces, P * T, "traces"));
  for (int64_t p = 0; st == FF_OK && p < P; ++p) {
    rec.rows[p] = p;
    if ((rec.areas[p] = strdup(r->names[p])) == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < T; ++k) rec.traces[p * T + k] = r->traces[k * P + p];
  }
  FF_CALL(st, ff_recording_round_to_float(&rec));
  FfPreprocess pp;
  ff_preprocess_defaults(&pp);
  pp.fs_hz = r->fs_hz;
  if (pp.trim_frames >= T) pp.trim_frames = 0; /* a short synthetic recording keeps all its frames */
  double *dff = NULL, *rates = NULL;
  int64_t T_out = 0;
  const FfTraceLabels lab = {out, (const char *const *)rec.areas, NULL};
  FF_CALL(st, ff_activity_preprocess(rec.traces, P, T, &pp, &lab, &dff, &rates, &T_out));
  const FfActivityFile af = {&rec, &pp, dff, rates, T_out, NULL, NULL, NULL, NULL, created_by};
  Body body = {&af, truth, ctx};
  FF_CALL(st, ff_h5_write_atomic(out, write_body, &body));
  free(dff);
  free(rates);
  ff_recording_destroy(&rec);
  return st;
}

/* ---- the realistic model's truth ---------------------------------------------------------------- */

typedef struct {
  const FfSynthRealistic *r;
  const FfSynthRealisticOptions *o;
} RealTruth;

static int realistic_truth(hid_t f, void *ctx) {
  const RealTruth *t = ctx;
  const FfSynthRealistic *r = t->r;
  const FfSynthRealisticOptions *o = t->o;
  int64_t dims[2] = {r->T, r->P};
  int st = FF_OK;
  FF_CALL(st, ff_h5_write(f, "/truth/rates", H5T_NATIVE_DOUBLE, 2, dims, r->rates));
  FF_CALL(st, ff_h5_write(f, "/truth/drive", H5T_NATIVE_DOUBLE, 2, dims, r->drive));
  FF_CALL(st, ff_h5_write(f, "/truth/clean", H5T_NATIVE_DOUBLE, 2, dims, r->clean));
  dims[0] = r->P;
  FF_CALL(st, ff_h5_write(f, "/truth/coupling", H5T_NATIVE_DOUBLE, 2, dims, r->coupling));
  const FfH5Attr attrs[] = {
      FF_ATTR_STRING("model", "realistic"),
      FF_ATTR_INT("substeps", o->substeps),
      FF_ATTR_DOUBLE("tau_z_s", o->tau_z_s),
      FF_ATTR_DOUBLE("coupling", o->coupling),
      FF_ATTR_DOUBLE("global_min", o->global_min),
      FF_ATTR_DOUBLE("global_max", o->global_max),
      FF_ATTR_INT("n_factors", o->n_factors),
      FF_ATTR_DOUBLE("factor_sd", o->factor_sd),
      FF_ATTR_DOUBLE("private_sd", o->private_sd),
      FF_ATTR_DOUBLE("rate_min_hz", o->rate_min_hz),
      FF_ATTR_DOUBLE("rate_max_hz", o->rate_max_hz),
      FF_ATTR_DOUBLE("tau_rise_s", o->tau_rise_s),
      FF_ATTR_DOUBLE("tau_decay_s", o->tau_decay_s),
      FF_ATTR_DOUBLE("dff_max", o->dff_max),
      FF_ATTR_DOUBLE("kd_scale", o->kd_scale),
      FF_ATTR_DOUBLE("bleach_fraction", o->bleach_fraction),
      FF_ATTR_DOUBLE("bleach_tau_s", o->bleach_tau_s),
      FF_ATTR_DOUBLE("noise", o->noise),
      FF_ATTR_STRING("about", "realistic model (include/flyfit/synth_realistic.h): rates, each frame's mean "
                              "neuropil rate (Hz) behind the traces; drive, each frame's mean input to the latent "
                              "units; clean, /traces without the measurement noise (same units); coupling [P x P], "
                              "the symmetrised row-normalised neuropil coupling before scaling")};
  FF_CALL(st, ff_h5_write_attrs(f, "/truth", attrs, (int)(sizeof attrs / sizeof attrs[0])));
  return st;
}

int ff_synth_realistic_write(const FfConnectome *c, const FfSynthRealisticOptions *o, const char *out,
                             const char *created_by) {
  FfSynthRealistic r;
  FF_TRY(ff_synth_realistic(c, o, &r));
  const FfSynthRecording rec = {r.T, r.P, o->fs_hz, o->seed, (const char *const *)c->neuropil_names, r.traces,
                                "flyfit-synth --activity-model realistic: coupled latent neuropil units, a "
                                "GCaMP-like indicator, bleaching and noise"};
  RealTruth t = {&r, o};
  const int st = ff_synth_recording_write(&rec, out, created_by, realistic_truth, &t);
  ff_synth_realistic_destroy(&r);
  return st;
}
