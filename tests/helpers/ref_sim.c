/* Reference simulator for the tests: the slow, obvious algorithm. Every neuron is updated at
 * every step with the one-step propagator, and each arriving spike adds its own weight, one
 * connection at a time, in the order Brian2 would (no event-driven tricks, no closed-form jumps,
 * no integer summation). It shares with flyfit only what defines the input: the config, the
 * stimulus lists and the Philox keys of the Poisson and initial-state draws.
 * Usage: ref_sim CONFIG [--set section.key=value ...] > spikes   (lines "trial step neuron") */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/model.h"
#include "flyfit/rng.h"
#include "flyfit/stimulus.h"

static int die(int st) {
  fprintf(stderr, "ref_sim: %s\n", ff_error_message());
  return st ? st : 1;
}

int main(int argc, char **argv) {
  FfConfig cfg;
  FfModel m;
  FfConnectome c;
  FfStimulus s;
  ff_h5_init();
  ff_config_init(&cfg);
  if (argc < 2) return fprintf(stderr, "usage: ref_sim CONFIG [--set k=v ...]\n"), 1;
  int st = ff_config_load(&cfg, argv[1]);
  for (int a = 2; !st && a + 1 < argc; a += 2) st = ff_config_set(&cfg, argv[a + 1]);
  if (!st) st = ff_config_finish(&cfg);
  if (!st) st = ff_model_build(&cfg, &m);
  if (!st) st = ff_connectome_read(cfg.connectome, &c);
  const int64_t T = (int64_t)floor(cfg.duration_ms / cfg.dt_ms + 1e-6);
  if (!st) st = ff_stimulus_load(&cfg, &m, c.n, c.root_id, T, &s);
  if (st) return die(st);

  const int64_t N = c.n;
  const int B = (int)cfg.batch, D = m.delay_steps;
  const double h = cfg.dt_ms, tm = cfg.tau_m_ms, ts = cfg.tau_syn_ms;
  const double em = exp(-h / tm), es = exp(-h / ts);
  /* exact one-step coupling of g into u for the shiu order (its own formula, not model.c's) */
  const double c1 = fabs(tm - ts) < 1e-9 * tm ? h / tm * em : ts / (ts - tm) * (es - em);
  const double vr = cfg.v_rest_mV, th = cfg.v_th_mV;
  int *ref = calloc((size_t)N, sizeof *ref);
  char *silenced = calloc((size_t)N, 1), *poisson = calloc((size_t)N, 1);
  for (int64_t k = 0; k < s.n_silence; ++k) silenced[s.silence[k]] = 1;
  for (int64_t i = 0; i < N; ++i) ref[i] = m.ref_steps;
  for (int64_t k = 0; k < s.n_poisson; ++k) {
    poisson[s.poisson[k]] = 1;
    ref[s.poisson[k]] = m.ref_steps_driven;
  }
  for (int64_t k = 0; k < s.n_file; ++k) ref[s.file_gid[k]] = m.ref_steps_driven;

  double *v = malloc((size_t)N * sizeof *v), *g = malloc((size_t)N * sizeof *g);
  int64_t *last = malloc((size_t)N * sizeof *last);
  int *ext = calloc((size_t)N, sizeof *ext), *bg = calloc((size_t)N, sizeof *bg);
  double *gin = calloc((size_t)N, sizeof *gin);
  char *spk = calloc((size_t)N, 1);
  /* spikes of the last D steps: ring of neuron lists */
  int64_t **ring = calloc((size_t)D, sizeof *ring), *ring_n = calloc((size_t)D, sizeof *ring_n);
  for (int d = 0; d < D; ++d) ring[d] = malloc((size_t)N * sizeof **ring);

  for (int b = 0; b < B; ++b) {
    for (int64_t i = 0; i < N; ++i) {
      double u0 = 0.0, g0 = 0.0;
      if (m.v_init_sd > 0.0 || m.g_init_max > 0.0) {
        uint32_t w[4];
        ff_rng4((uint64_t)cfg.seed, FF_STREAM_INIT, 0, (uint32_t)i, (uint32_t)b, w);
        u0 = m.v_init_sd * sqrt(-2.0 * log(ff_u01(w[0]))) * cos(6.283185307179586 * ff_u01(w[1]));
        g0 = m.g_init_max * ff_u01(w[2]);
      }
      v[i] = vr + u0;
      g[i] = g0;
      last[i] = -1000000000;
    }
    for (int d = 0; d < D; ++d) ring_n[d] = 0;
    int64_t fpos = 0;
    for (int64_t n = 0; n < T; ++n) {
      /* inputs of this step: connection events of spikes from step n - D, Poisson, file, background */
      int64_t *arr = ring[n % D], n_arr = n >= D ? ring_n[n % D] : 0;
      for (int64_t q = 0; q < n_arr; ++q) {
        const int64_t p = arr[q];
        if (silenced[p]) continue;
        for (int64_t e = c.indptr[p]; e < c.indptr[p + 1]; ++e) gin[c.post[e]] += cfg.w_syn_mV * c.count[e];
      }
      for (int64_t i = 0; i < N; ++i) {
        if (poisson[i] && m.p_ext_u32) {
          uint32_t w[4];
          ff_rng4((uint64_t)cfg.seed, FF_STREAM_POISSON, (uint32_t)(n >> 2), (uint32_t)i, (uint32_t)b, w);
          ext[i] += w[n & 3] < m.p_ext_u32;
        }
        if (m.p_background_u32) {
          uint32_t w[4];
          ff_rng4((uint64_t)cfg.seed, FF_STREAM_BACKGROUND, (uint32_t)(n >> 2), (uint32_t)i, (uint32_t)b, w);
          bg[i] += w[n & 3] < m.p_background_u32;
        }
      }
      while (fpos < s.n_file && s.file_step[fpos] == n) ext[s.file_gid[fpos++]]++;
      ring_n[n % D] = 0;
      for (int64_t i = 0; i < N; ++i) {
        const int refractory = (n - last[i]) < ref[i];
        double u = v[i] - vr;
        spk[i] = 0;
        if (cfg.step_order == FF_ORDER_SHIU) {
          /* Brian2: integrate (unless refractory), threshold, synapses, reset */
          if (!refractory) {
            const double un = em * u + c1 * g[i];
            g[i] = es * g[i];
            u = un;
            spk[i] = u > th - vr;
          }
          /* Brian2 writes "(unless refractory)" variables only while not refractory, and a spike
           * makes the neuron refractory before the synapses run */
          if (!refractory && !spk[i]) {
            g[i] += gin[i];
            u += cfg.poisson_weight_mV * ext[i] + cfg.background_weight_mV * bg[i];
          }
        } else if (!refractory) {
          g[i] = es * g[i] + gin[i];
          u = em * u + (1.0 - em) * g[i] + cfg.poisson_weight_mV * ext[i] + cfg.background_weight_mV * bg[i];
          spk[i] = u > th - vr;
        }
        v[i] = vr + u;
        gin[i] = 0.0;
        ext[i] = bg[i] = 0;
        if (spk[i]) {
          v[i] = cfg.v_reset_mV;
          g[i] = 0.0;
          last[i] = n;
          ring[n % D][ring_n[n % D]++] = i;
          printf("%d %lld %lld\n", b, (long long)n, (long long)i);
        }
      }
    }
  }
  return 0;
}
