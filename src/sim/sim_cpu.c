/* CPU backend: event-driven exact simulation of the model in include/flyfit/model.h.
 *
 * A neuron's state is stored as an anchor (u, g, t_anchor): its value after step t_anchor. With
 * no input it evolves in closed form, so a neuron is touched only when input arrives, and at that
 * moment ff_first_crossing() tells the step of its next spike, kept in a timing wheel. Work per
 * step is proportional to activity, not to the number of neurons: whole-brain models are mostly
 * quiet. Inputs to a neuron within one step are summed as integers (synapse counts and input
 * spike counts) before they touch its state, so arrival order never matters.
 *
 * Step order, shiu (the published Brian2 model; Brian2 schedule groups, thresholds, synapses,
 * resets):
 *   1. integrate exactly over dt, skipped while refractory;
 *   2. threshold v > v_th, not while refractory          -> the wheel's entries for this step;
 *   3. arriving connection events g += w, external input v += w_ext;
 *   4. reset of the neurons that spiked in 2: v = v_reset, g = 0.
 * Refractory after a spike at s: steps s+1 .. s+R-1, R = floor(tau_ref/dt + 1e-3) as in Brian2;
 * neurons driven by Poisson or file input have R = 0 unless [stimulus] driven_refractory.
 * Input that arrives at the spike step or while refractory is lost: Brian2 writes variables
 * marked "(unless refractory)" only where not_refractory holds, and its threshold clears that
 * flag at the spike, so g += w and v += w_ext do nothing then (checked against Brian2 in
 * tests/integration/brian2_compare.sh). In flyfit terms: input at step n <= t_anchor is dropped.
 * Step order, brainscale (the fitting model):
 *   1. g = Es g + arriving input; 2. u = Em u + (1 - Em) g + external input; 3. refractory neurons
 *   hold their values and drop all input; 4. threshold; 5. count; 6. reset v = v_reset, g = 0.
 *
 * Work is split into units (trial b, chunk of neurons); units are independent within a window.
 * This file steps them; src/sim/sim_cpu_setup.c builds them, src/sim/sim_cpu.h holds their state. */
#include "flyfit/arrivals.h"
#include "flyfit/error.h"
#include "flyfit/rng.h"
#include "flyfit/sim.h"
#include "sim_cpu.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int vec_push(SpikeVec *v, int32_t step, int32_t i) {
  if (v->n == v->cap) {
    int64_t cap = v->cap ? 2 * v->cap : 256;
    Spike *q = realloc(v->v, (size_t)cap * sizeof *q);
    if (q == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory recording %lld spikes", (long long)cap);
    v->v = q;
    v->cap = cap;
  }
  v->v[v->n++] = (Spike){step, i};
  return FF_OK;
}

/* A spike of neuron i at step n: count, record, reset, and predict from the reset state. */
static void fire(Cpu *c, Unit *U, View *v, int32_t i, int32_t n) {
  v->count[i]++;
  if (vec_push(&U->win, n, i)) U->status = FF_ERR_NOMEM;
  if ((c->flags[i] & FF_NF_RECORD) && vec_push(&U->rec, n, i)) U->status = FF_ERR_NOMEM;
  ff_after_spike(c->m, (c->flags[i] & FF_NF_DRIVEN) != 0, n, &v->u[i], &v->g[i], &v->t_anchor[i]);
  schedule(c->m, v, i, n);
}

static void fire_bucket(Cpu *c, Unit *U, View *v, int32_t n) {
  const int32_t bucket = n & (WHEEL - 1);
  int32_t i = v->head[bucket];
  v->head[bucket] = -1;
  while (i >= 0) {
    const int32_t nx = v->lnext[i];
    v->next[i] = -1;
    fire(c, U, v, i, n);
    i = nx;
  }
}

static inline void touch(Scratch *s, int32_t *nt, int32_t i) {
  if (!s->mark[i]) {
    s->mark[i] = 1;
    s->touched[(*nt)++] = i;
  }
}

static int64_t lower_bound(const int32_t *a, int64_t lo, int64_t hi, int32_t x) {
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/* Collects every input of step n for the unit's neurons into the scratch accumulators. */
static int32_t gather_inputs(Cpu *c, Unit *U, Scratch *s, int32_t n) {
  const FfNet *net = c->net;
  const int32_t b = U->b, lo = U->lo, hi = U->hi;
  int32_t nt = 0;
  if (c->window > 0) {
    const int64_t k = (int64_t)b * c->D + (n - ff_window(c->window, c->D, c->n_steps).first);
    for (int64_t a = c->arr.off[k]; a < c->arr.off[k + 1]; ++a) {
      const int32_t p = c->arr.pre[a];
      int64_t e0 = net->pre_indptr[p], e1 = net->pre_indptr[p + 1];
      if (c->n_chunks > 1) {
        e0 = lower_bound(net->target, e0, e1, lo);
        e1 = lower_bound(net->target, e0, e1, hi);
      }
      U->events += e1 - e0;
      for (int64_t e = e0; e < e1; ++e) {
        const int32_t t = net->target[e];
        touch(s, &nt, t);
        s->acc[t] += net->weight[e];
      }
    }
  }
  const uint64_t seed = c->s.seed;
  if (c->m->p_ext_u32) {
    const int32_t *pl = c->poisson[U->chunk];
    for (int32_t k = 0; k < c->n_poisson[U->chunk]; ++k) {
      const int32_t i = pl[k];
      if (ff_input_spike(seed, FF_STREAM_POISSON, net->gid[i], b, n, c->m->p_ext_u32)) {
        touch(s, &nt, i);
        s->ext[i]++;
      }
    }
  }
  const int32_t *fi = c->file_i[U->chunk], *fs = c->file_step[U->chunk];
  while (U->file_pos < c->n_file[U->chunk] && fs[U->file_pos] == n) {
    const int32_t i = fi[U->file_pos++];
    touch(s, &nt, i);
    s->ext[i]++;
  }
  if (c->m->p_background_u32) {
    for (int32_t i = lo; i < hi; ++i) {
      if (ff_input_spike(seed, FF_STREAM_BACKGROUND, net->gid[i], b, n, c->m->p_background_u32)) {
        touch(s, &nt, i);
        s->bg[i]++;
      }
    }
  }
  return nt;
}

static void clear_inputs(Scratch *s, int32_t t) {
  s->mark[t] = 0;
  s->acc[t] = 0;
  s->ext[t] = 0;
  s->bg[t] = 0;
}

/* Every touched neuron takes its input (model.h, as the device kernels do); brainscale neurons that
 * cross threshold spike at once. Input at or before a neuron's anchor (spiking now, refractory) is
 * dropped. */
static void take_inputs(Cpu *c, Unit *U, Scratch *s, View *v, int32_t n, int32_t nt) {
  const FfModel *m = c->m;
  for (int32_t k = 0; k < nt; ++k) {
    const int32_t t = s->touched[k];
    if (n > v->t_anchor[t]) {
      wheel_remove(v, t);
      if (ff_take_input(m, n, (double)s->acc[t], (double)s->ext[t], (double)s->bg[t], &v->u[t], &v->g[t],
                        &v->t_anchor[t]))
        fire(c, U, v, t, n);
      else
        schedule(m, v, t, n);
    }
    clear_inputs(s, t);
  }
}

/* Step n in the model's order: shiu thresholds (the wheel's entries for n) before its input, so
 * the reset's anchor drops the input of a neuron spiking now; brainscale takes input first. */
static void step(Cpu *c, Unit *U, Scratch *s, View *v, int32_t n) {
  const int shiu = c->m->step_order == FF_ORDER_SHIU;
  if (shiu) fire_bucket(c, U, v, n);
  take_inputs(c, U, s, v, n, gather_inputs(c, U, s, n));
  if (!shiu) fire_bucket(c, U, v, n);
}

static void record_state(Cpu *c, Unit *U, View *v, int32_t n) {
  const FfModel *m = c->m;
  const int32_t *list = c->state_list[U->chunk];
  for (int32_t k = 0; k < c->n_state_list[U->chunk]; ++k) {
    const int32_t i = list[k];
    const int64_t at = ((int64_t)U->b * c->n_steps + n) * c->n_state + c->state_k[i];
    ff_state_at(m, v->u[i], v->g[i], v->t_anchor[i], n, &c->state_v[at], &c->state_g[at]);
  }
}

static int cpu_run_window(void *state, int64_t w) {
  Cpu *c = state;
  c->window = w;
  const FfWindow win = ff_window(w, c->D, c->n_steps);
  const int32_t n0 = (int32_t)win.first, n1 = (int32_t)win.end;
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
  for (int ui = 0; ui < c->n_units; ++ui) {
    Unit *U = &c->units[ui];
    Scratch *s = &c->scratch[omp_get_thread_num()];
    View v = view_of(c, U);
    U->win.n = 0;
    for (int32_t n = n0; n < n1; ++n) {
      if ((n & (WHEEL - 1)) == 0) wheel_migrate(&v, n);
      step(c, U, s, &v, n);
      if (c->n_state_list[U->chunk]) record_state(c, U, &v, n);
    }
  }
  for (int ui = 0; ui < c->n_units; ++ui)
    if (c->units[ui].status) return FF_ERROR(c->units[ui].status, "out of memory recording spikes");
  return FF_OK;
}

/* A silenced neuron still spikes, but its spikes are never sent (spike.h). */
static int64_t cpu_emitted(void *state) {
  Cpu *c = state;
  int64_t total = 0;
  for (int ui = 0; ui < c->n_units; ++ui)
    for (int64_t q = 0; q < c->units[ui].win.n; ++q) total += ff_spike_sent(c->flags[c->units[ui].win.v[q].i]);
  return total;
}

static void cpu_pack(void *state, int64_t w, uint64_t *words) {
  Cpu *c = state;
  const int64_t n0 = ff_window(w, c->D, c->n_steps).first;
  int64_t k = 0;
  for (int ui = 0; ui < c->n_units; ++ui) {
    const Unit *U = &c->units[ui];
    for (int64_t q = 0; q < U->win.n; ++q) {
      const Spike *sp = &U->win.v[q];
      const uint64_t word = ff_spike_word(c->flags[sp->i], c->net->new_base + sp->i, sp->step, n0, U->b);
      if (word != FF_SPIKE_NONE) words[k++] = word;
    }
  }
}

static int cpu_deliver(void *state, int64_t w, const uint64_t *words, int64_t n) {
  Cpu *c = state;
  (void)w;
  return ff_arrivals_sort(&c->arr, c->net, words, n);
}

static int cpu_finish(void *state, FfSimOutput *out) {
  Cpu *c = state;
  int64_t n_rec = 0;
  for (int ui = 0; ui < c->n_units; ++ui) {
    n_rec += c->units[ui].rec.n;
    out->events += c->units[ui].events;
  }
  FF_TRY(FF_MALLOC(out->rec_batch, n_rec, "recorded spikes"));
  FF_TRY(FF_MALLOC(out->rec_step, n_rec, "recorded spikes"));
  FF_TRY(FF_MALLOC(out->rec_gid, n_rec, "recorded spikes"));
  int64_t k = 0;
  for (int ui = 0; ui < c->n_units; ++ui)
    for (int64_t q = 0; q < c->units[ui].rec.n; ++q, ++k) {
      out->rec_batch[k] = c->units[ui].b;
      out->rec_step[k] = c->units[ui].rec.v[q].step;
      out->rec_gid[k] = c->net->gid[c->units[ui].rec.v[q].i];
    }
  out->n_rec = n_rec;
  out->count = c->count; /* ownership moves to the output */
  c->count = NULL;
  out->n_state = c->n_state;
  out->state_gid = c->state_gid;
  out->state_v = c->state_v;
  out->state_g = c->state_g;
  c->state_gid = NULL;
  c->state_v = c->state_g = NULL;
  for (int64_t i = 0; i < (int64_t)c->B * c->n; ++i) out->spikes += out->count[i];
  return FF_OK;
}

const FfBackend ff_backend_cpu = {"cpu", ff_cpu_create, cpu_run_window, cpu_emitted, cpu_pack,
                                  cpu_deliver, cpu_finish, ff_cpu_destroy, NULL};
