/* Synthetic recordings with a hidden ground truth (include/flyfit/synth.h): the fitting model's own
 * network, run frame after frame by the round-1 stepper, turned into calcium fluorescence. A fit
 * of these recordings can be checked against the truth it should find. */
#include "flyfit/activity.h"
#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/fit.h"
#include "flyfit/h5.h"
#include "flyfit/log.h"
#include "flyfit/net.h"
#include "flyfit/rng.h"
#include "flyfit/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


void ff_synth_activity_defaults(FfSynthActivityOptions *o) {
  *o = (FfSynthActivityOptions){.frames = 1900, .fs_hz = 1.2, .sample_ms = 0, .tau_s = 0.8, .gain = 0.05,
                                .noise = 0.002, .drive_hz = 1.0, .drive_frames = 6.0, .wave_hz = 30.0, .wave_frames = 4.0, .x_scale_hz = 20.0, .bias_mV = -0.6,
                                .home_mV = 1.6, .seed = 1,
                                .threads = 1};
}

static double gauss(uint64_t seed, uint32_t stream, uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r[4];
  ff_rng4(seed, stream, a, b, c, r);
  return ff_normal(r[0], r[1]);
}

typedef struct {
  FfConfig cfg;
  FfModel model;
  FfNet net;
  FfFitNet *f;
  int32_t *np_of;
  char **names;
  int64_t P;
  float *truth_w, *truth_b;
  double *rates, *drive, *traces;
} Gen;

static void gen_destroy(Gen *g) {
  ff_fit_destroy(&g->f);
  ff_net_destroy(&g->net);
  ff_model_destroy(&g->model);
  ff_h5_free_strings(&g->names, g->P);
  free(g->np_of);
  free(g->truth_w);
  free(g->truth_b);
  free(g->rates);
  free(g->drive);
  free(g->traces);
}

/* The hidden encoder: every neuron listens to its home neuropil (most synapses) with home_mV, to
 * three random neuropils with N(0, 0.6 mV), and has a bias of bias_mV. */
static void hidden_encoder(Gen *g, const FfSynthActivityOptions *o) {
  const uint64_t seed = o->seed;
  const FfNet *net = &g->net;
  for (int32_t j = 0; j < net->n_local; ++j) {
    const int64_t gid = net->gid[j];
    float *w = g->truth_w + (int64_t)j * g->P;
    memset(w, 0, (size_t)g->P * sizeof *w);
    int32_t home = -1, best = -1;
    for (int64_t k = net->np_row[j]; k < net->np_row[j + 1]; ++k)
      if (net->np_syn[k] > best) {
        best = net->np_syn[k];
        home = net->np_id[k];
      }
    if (home >= 0) w[home] = (float)o->home_mV;
    for (int q = 0; q < 3; ++q) {
      uint32_t r[4];
      ff_rng4(seed, FF_STREAM_SYNTH_TRUTH, (uint32_t)gid, (uint32_t)q, 1, r);
      w[r[2] % (uint32_t)g->P] += (float)(0.6 * gauss(seed, FF_STREAM_SYNTH_TRUTH, (uint32_t)gid, (uint32_t)q, 2));
    }
    g->truth_b[j] = (float)o->bias_mV;
  }
}

static int generate(Gen *g, const char *connectome, const FfSynthActivityOptions *o) {
  ff_config_init(&g->cfg);
  snprintf(g->cfg.connectome, sizeof g->cfg.connectome, "%s", connectome);
  g->cfg.preset = FF_PRESET_BRAINSCALE;
  FF_TRY(ff_config_finish(&g->cfg));
  FF_TRY(ff_model_build(&g->cfg, &g->model));
  FF_TRY(ff_net_load(connectome, MPI_COMM_SELF, &g->net));
  hid_t c;
  FF_TRY(ff_h5_open(connectome, H5P_DEFAULT, &c));
  int st = ff_h5_read_strings(c, connectome, "/neuropils/names", &g->names, &g->P);
  H5Fclose(c);
  FF_TRY(st);
  if (g->P < 1) return FF_ERROR(FF_ERR_INPUT, "'%s' has no neuropils: synthetic recordings need them", connectome);
  const int64_t P = g->P, T = o->frames, N = g->net.n_local;
  FF_TRY(FF_MALLOC(g->np_of, P, "neuropil map"));
  for (int64_t p = 0; p < P; ++p) g->np_of[p] = (int32_t)p;
  const double sample_ms = o->sample_ms > 0 ? o->sample_ms : 1000.0 / o->fs_hz;
  const int32_t steps = (int32_t)floor(sample_ms / g->model.dt_ms + 1e-9);
  FfFitSetup fs = {.model = &g->model, .net = &g->net, .n_np = (int32_t)P, .np_of = g->np_of, .batch = 1,
                   .steps = steps, .warmup = steps / 10, .background_hz = 20.0, .x_scale = o->x_scale_hz,
                   .trainable = 0, .etrace_decay = 0.99, .keep_sign = 1, .enc_init_mV = 0, .enc_init_sd_mV = 0,
                   .max_trace_bytes = 0, .seed = o->seed ^ 0x5a5a5a5a5a5a5a5aull, .threads = o->threads,
                   .exchange = FF_EXCHANGE_ALLGATHER, .comm = MPI_COMM_SELF};
  FF_TRY(ff_fit_create(&fs, &g->f));
  FF_TRY(FF_MALLOC(g->truth_w, N * P, "hidden encoder"));
  FF_TRY(FF_MALLOC(g->truth_b, N, "hidden encoder"));
  hidden_encoder(g, o);
  FfFitView v;
  ff_fit_view(g->f, &v);
  memcpy(v.enc_w, g->truth_w, (size_t)(N * P) * sizeof *v.enc_w);
  memcpy(v.enc_b, g->truth_b, (size_t)N * sizeof *v.enc_b);
  FF_TRY(FF_MALLOC(g->rates, T * P, "rates"));
  FF_TRY(FF_MALLOC(g->drive, T * P, "drive"));
  FF_TRY(FF_MALLOC(g->traces, T * P, "traces"));
  double *x, *ou;
  FF_TRY(FF_MALLOC(x, P, "input"));
  FF_TRY(FF_MALLOC(ou, P, "drive"));
  const double rho = exp(-1.0 / o->drive_frames), kick = sqrt(1.0 - rho * rho) * o->drive_hz;
  FfProgress prog;
  ff_progress_start(&prog, "synthetic recordings:", "frames", (double)T, 10.0);
  for (int64_t k = 0; k < T && st == FF_OK; ++k) {
    for (int64_t p = 0; p < P; ++p) { /* hidden drive: a wave plus OU; the input: last frame's rates plus it */
      const double prev = k ? ou[p] : o->drive_hz * gauss(o->seed, FF_STREAM_SYNTH_DRIVE, 0, (uint32_t)p, 7);
      ou[p] = rho * prev + kick * gauss(o->seed, FF_STREAM_SYNTH_DRIVE, (uint32_t)k + 1, (uint32_t)p, 0);
      const double wave = o->wave_frames > 0 ? o->wave_hz * sin(6.283185307179586 * ((double)k / o->wave_frames + 0.25 * (double)(p % 4))) : 0.0;
      g->drive[k * P + p] = ou[p] + wave;
      const double in = (k ? g->rates[(k - 1) * P + p] : 0.0) + g->drive[k * P + p];
      x[p] = in > 0.0 ? in : 0.0;
    }
    const uint32_t key = (uint32_t)k;
    st = ff_fit_forward(g->f, 1, x, &key, 0, g->rates + k * P);
    ff_progress_update(&prog, (double)k + 1);
  }
  free(x);
  free(ou);
  FF_TRY(st);
  /* calcium and fluorescence */
  const double gamma = exp(-1.0 / (o->tau_s * o->fs_hz));
  for (int64_t p = 0; p < P; ++p) {
    const double f0 = 600.0 + 800.0 * ff_u01((uint32_t)(o->seed * 2654435761u + (uint64_t)p * 40503u));
    const double phase = 6.283185307179586 * ff_u01((uint32_t)(p * 2246822519u + o->seed));
    double c = 0.0;
    for (int64_t k = 0; k < T; ++k) {
      c = gamma * c + g->rates[k * P + p] / o->fs_hz;
      const double drift = 1.0 + 0.03 * sin(6.283185307179586 * (double)k / (double)(T > 2 ? T : 2) + phase);
      g->traces[k * P + p] = f0 * (1.0 + o->gain * c) * drift +
                             o->noise * f0 * gauss(o->seed, FF_STREAM_SYNTH_NOISE, (uint32_t)k, (uint32_t)p, 0);
    }
  }
  return FF_OK;
}

typedef struct {
  const Gen *g;
  const FfSynthActivityOptions *o;
} OutCtx;

/* The truth beside the recording (ff_synth_recording_write writes the recording). */
static int write_truth(hid_t f, void *ctx) {
  const OutCtx *c = ctx;
  const Gen *g = c->g;
  const FfSynthActivityOptions *o = c->o;
  int64_t dims[2] = {o->frames, g->P};
  const int64_t N = g->net.n_local;
  int st = FF_OK;
  FF_CALL(st, ff_h5_write(f, "/truth/rates", H5T_NATIVE_DOUBLE, 2, dims, g->rates));
  FF_CALL(st, ff_h5_write(f, "/truth/drive", H5T_NATIVE_DOUBLE, 2, dims, g->drive));
  dims[0] = N;
  FF_CALL(st, ff_h5_write(f, "/truth/encoder_w", H5T_NATIVE_FLOAT, 2, dims, g->truth_w));
  FF_CALL(st, ff_h5_write(f, "/truth/encoder_b", H5T_NATIVE_FLOAT, 1, dims, g->truth_b));
  const FfH5Attr attrs[] = {
      FF_ATTR_STRING("model", "brainscale"),
      FF_ATTR_DOUBLE("x_scale_hz", o->x_scale_hz), FF_ATTR_DOUBLE("tau_s", o->tau_s), FF_ATTR_DOUBLE("gain", o->gain),
      FF_ATTR_DOUBLE("noise", o->noise), FF_ATTR_DOUBLE("sample_ms", o->sample_ms > 0 ? o->sample_ms : 1000.0 / o->fs_hz),
      FF_ATTR_STRING("about", "encoder_w/encoder_b: the hidden encoder, rows in neuron order, w = ReLU(b + W x / "
                              "x_scale_hz) with x the previous frame's rates plus the drive; rates: the network's "
                              "neuropil rates (Hz) per frame, before calcium")};
  FF_CALL(st, ff_h5_write_attrs(f, "/truth", attrs, 7));
  return st;
}

/* activity.h5 as flyfit-import writes it, then the truth beside it, in one atomic write. */
static int write_out(Gen *g, const FfSynthActivityOptions *o, const char *out, const char *created_by) {
  const FfSynthRecording rec = {o->frames, g->P, o->fs_hz, o->seed, (const char *const *)g->names, g->traces,
                                "flyfit-synth --activity-model brainscale: the brainscale network with a hidden encoder"};
  OutCtx ctx = {g, o};
  return ff_synth_recording_write(&rec, out, created_by, write_truth, &ctx);
}

int ff_synth_activity(const char *connectome, const FfSynthActivityOptions *o, const char *out,
                      const char *created_by) {
  if (o->frames < 2) return FF_ERROR(FF_ERR_USAGE, "--frames %lld: at least 2", (long long)o->frames);
  Gen g;
  memset(&g, 0, sizeof g);
  int st = generate(&g, connectome, o);
  FF_CALL(st, write_out(&g, o, out, created_by));
  gen_destroy(&g);
  return st;
}
