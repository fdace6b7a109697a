/* mode = task, the task: the spec of [task] (every bad value refused, naming its key) and the evidence-accumulation
 * trials (docs/design.md §2.8). A trial is a pure function of (seed, set, trial index): its cue sides come from
 * FF_STREAM_TASK_CUES and each input spike from FF_STREAM_TASK_INPUT keyed by (step, trial, set, input), so any rank
 * makes any trial alike. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/rng.h"
#include "flyfit/task.h"

static const char *const METHOD_NAMES[] = {"bptt", "diag", "expsm_diag"};

const char *ff_task_method_name(int method) {
  return method >= 0 && method <= FF_TASK_EXPSM_DIAG ? METHOD_NAMES[method] : "?";
}

/* ms as a whole number of steps of dt (>= min_steps), or an error naming [task] key. */
static int steps_of(const char *cfg, const char *key, double ms, double dt, int32_t min_steps, int32_t *steps) {
  const double n = ms / dt;
  if (n < min_steps - 1e-9) {
    if (min_steps == 1)
      return FF_ERROR(FF_ERR_INPUT,
                      "%s: [task] %s = %g ms is shorter than dt (%g ms); give "
                      "at least %g ms",
                      cfg, key, ms, dt, dt);
    return FF_ERROR(FF_ERR_INPUT, "%s: [task] %s = %g ms is negative", cfg, key, ms);
  }
  if (fabs(n - nearbyint(n)) > 1e-6 || n > 1e8)
    return FF_ERROR(FF_ERR_INPUT,
                    "%s: [task] %s = %g ms must be a whole number of steps of "
                    "dt = %g ms (at most 1e8)",
                    cfg, key, ms, dt);
  *steps = (int32_t)nearbyint(n);
  return FF_OK;
}

int ff_task_spec_from_config(const FfConfig *c, FfTaskSpec *s) {
  const char *cfg = c->path[0] ? c->path : "configuration";
  memset(s, 0, sizeof *s);
  s->n_rec = (int32_t)c->task_n_rec;
  if (ff_config_is_set(c, "task", "e_share")) {
    const double ne = nearbyint(c->task_e_share * (double)c->task_n_rec);
    if (ne < 1)
      return FF_ERROR(FF_ERR_INPUT,
                      "%s: [task] e_share = %g of n_rec = %lld neurons leaves "
                      "no excitatory neuron for the "
                      "readout; raise it",
                      cfg, c->task_e_share, (long long)c->task_n_rec);
    s->n_exc = (int32_t)ne;
  } else {
    if (c->task_n_rec % 5 != 0)
      return FF_ERROR(FF_ERR_INPUT,
                      "%s: [task] n_rec = %lld is not a multiple of 5, which "
                      "the 4:1 excitatory:inhibitory "
                      "split needs; give a multiple of 5, or set [task] "
                      "e_share to split it otherwise",
                      cfg, (long long)c->task_n_rec);
    s->n_exc = (int32_t)(c->task_n_rec / 5 * 4);
  }
  if (c->task_n_cues <= 0)
    return FF_ERROR(FF_ERR_INPUT, "%s: [task] n_cues = %lld: a trial needs at least one cue", cfg,
                    (long long)c->task_n_cues);
  s->n_cues = (int32_t)c->task_n_cues;
  s->w_ei_ratio = c->task_w_ei_ratio;
  s->conn = c->task_conn;
  s->w_in_scale = c->task_ff_scale;
  s->w_rec_scale = c->task_rec_scale;
  s->p_rand = 0.1;
  s->sigma_gauss = 20.0;
  s->dt_ms = 1.0;
  s->tau_m_ms = 100.0;
  s->tau_syn_ms = 10.0;
  s->tau_a_ms = 1000.0;
  s->tau_a_spread = 0.5;
  s->beta_a = 1.0;
  s->tau_out_ms = 10.0;
  s->reset_grad = c->task_reset_grad;
  s->e_exc = 3.0;
  s->e_inh = -3.0;
  s->sg_alpha = 0.3;
  s->sg_width = 1.0;
  s->cue_hz = 40.0;
  s->noise_hz = 10.0;
  s->cue_prob = c->task_cue_prob;
  FF_TRY(steps_of(cfg, "cue_ms", c->task_cue_ms, s->dt_ms, 1, &s->cue_steps));
  FF_TRY(steps_of(cfg, "gap_ms", c->task_gap_ms, s->dt_ms, 0, &s->gap_steps));
  FF_TRY(steps_of(cfg, "delay_ms", c->task_delay_ms, s->dt_ms, 1, &s->delay_steps));
  FF_TRY(steps_of(cfg, "recall_ms", c->task_recall_ms, s->dt_ms, 1, &s->recall_steps));
  const double T = (double)s->n_cues * (s->cue_steps + s->gap_steps) + s->delay_steps + s->recall_steps;
  if (T > 1e8)
    return FF_ERROR(FF_ERR_INPUT,
                    "%s: [task] a trial of %g steps is too long (at most 1e8): "
                    "shorten n_cues, cue_ms, "
                    "gap_ms, delay_ms or recall_ms",
                    cfg, T);
  s->method = c->task_method;
  s->etrace_decay = c->task_etrace_decay;
  if (c->task_split == 1 && s->method == FF_TASK_BPTT)
    return FF_ERROR(FF_ERR_INPUT, "%s: [task] split = neurons trains by the online methods only (method = diag or "
                                  "expsm_diag): BPTT's backward pass needs the whole network on each rank; use split = "
                                  "trials", cfg);
  return FF_OK;
}

int32_t ff_task_steps(const FfTaskSpec *s) {
  return s->n_cues * (s->cue_steps + s->gap_steps) + s->delay_steps + s->recall_steps;
}

int32_t ff_task_recall0(const FfTaskSpec *s) { return ff_task_steps(s) - s->recall_steps; }

void ff_task_trial_destroy(FfTaskTrial *tr) {
  FF_FREE(tr->ptr);
  FF_FREE(tr->in);
  tr->cap = 0;
}

/* Input groups: left cue, right cue, recall, noise (FF_TASK_GROUP inputs each).
 * */
enum { G_LEFT = 0, G_RIGHT = 1, G_RECALL = 2, G_NOISE = 3 };

int ff_task_trial_make(const FfTaskSpec *s, uint64_t seed, int set, int64_t index, FfTaskTrial *tr) {
  const int32_t T = ff_task_steps(s), period = s->cue_steps + s->gap_steps;
  const uint32_t i0 = (uint32_t)index, i1 = (uint32_t)set + 4u * (uint32_t)((uint64_t)index >> 32);
  if (tr->ptr == NULL || tr->T != T) {
    FF_FREE(tr->ptr);
    FF_TRY(FF_MALLOC(tr->ptr, (size_t)T + 1, "trial steps"));
  }
  tr->T = T;
  tr->recall0 = ff_task_recall0(s);
  /* the cues: the trial favours a side (the word of block 2^32 - 1, which no cue's block reaches), each cue is left
   * when its word is below the threshold of the left side's probability. At cue_prob 0.5 that is "right when the
   * word's top bit is set", whichever side is favoured. */
  uint32_t words[4];
  ff_rng4(seed, FF_STREAM_TASK_CUES, i0, i1, UINT32_MAX, words);
  const double p_left = words[0] >> 31 ? s->cue_prob : 1.0 - s->cue_prob;
  const uint64_t thr_left = ff_bernoulli_threshold(p_left);
  int side_last = 0, n_right = 0;
  for (int32_t c = 0; c < s->n_cues; ++c) {
    if (c % 4 == 0) ff_rng4(seed, FF_STREAM_TASK_CUES, i0, i1, (uint32_t)(c / 4), words);
    side_last = words[c % 4] >= thr_left;
    n_right += side_last;
  }
  tr->n_left = s->n_cues - n_right;
  tr->label = 2 * n_right > s->n_cues ? 1 : 2 * n_right < s->n_cues ? 0 : side_last;
  const uint64_t p_cue = ff_bernoulli_threshold(s->cue_hz * s->dt_ms * 1e-3);
  const uint64_t p_noise = ff_bernoulli_threshold(s->noise_hz * s->dt_ms * 1e-3);
  int64_t n = 0;
  for (int32_t t = 0; t < T; ++t) {
    tr->ptr[t] = (int32_t)n;
    /* which groups fire now: the noise group always; a cue's group during it (each cue after its gap, as in the
     * original); recall at the end */
    uint64_t p[4] = {0, 0, 0, p_noise};
    const int32_t c = t / period;
    if (c < s->n_cues && t - c * period >= s->gap_steps) {
      /* cue c's side again (its word is cheap to redraw) */
      ff_rng4(seed, FF_STREAM_TASK_CUES, i0, i1, (uint32_t)(c / 4), words);
      p[words[c % 4] >= thr_left ? G_RIGHT : G_LEFT] = p_cue;
    }
    if (t >= tr->recall0) p[G_RECALL] = p_cue;
    for (int g = 0; g < 4; ++g) {
      if (p[g] == 0) continue;
      for (int k = 0; k < FF_TASK_GROUP; k += 4) {
        ff_rng4(seed, FF_STREAM_TASK_INPUT, (uint32_t)t, i0, (uint32_t)(set * 32 + g * 8 + k / 4), words);
        for (int q = 0; q < 4 && k + q < FF_TASK_GROUP; ++q) {
          if (words[q] >= p[g]) continue;
          if (n == tr->cap) {
            const int64_t cap = tr->cap ? 2 * tr->cap : 4096;
            FF_TRY(FF_REALLOC(tr->in, cap, "trial input spikes"));
            tr->cap = cap;
          }
          tr->in[n++] = (int16_t)(g * FF_TASK_GROUP + k + q);
        }
      }
    }
  }
  tr->ptr[T] = (int32_t)n;
  return FF_OK;
}
