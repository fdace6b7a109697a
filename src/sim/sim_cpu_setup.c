/* The CPU backend's set-up (src/sim/sim_cpu.h): the chunks of neurons that, with the trials, make
 * its units of work, each chunk's Poisson, file and recorded-state neurons, the buffers of every
 * thread, and the initial state of every (trial, neuron), with its first spike in the wheel. */
#include "flyfit/error.h"
#include "sim_cpu.h"

#include <stdlib.h>
#include <string.h>

/* Chunks of roughly equal work (neurons plus incoming connections). */
static int make_chunks(Cpu *c) {
  FF_TRY(FF_MALLOC(c->chunk_lo, c->n_chunks + 1, "chunks"));
  int64_t total = 0;
  for (int32_t i = 0; i < c->n; ++i) total += 1 + c->net->in_degree[i];
  int64_t acc = 0;
  int ch = 0;
  c->chunk_lo[0] = 0;
  for (int32_t i = 0; i < c->n && ch + 1 < c->n_chunks; ++i) {
    acc += 1 + c->net->in_degree[i];
    if (acc * c->n_chunks >= total * (ch + 1)) c->chunk_lo[++ch] = i + 1;
  }
  while (ch + 1 <= c->n_chunks) c->chunk_lo[++ch] = c->n;
  return FF_OK;
}

static int chunk_of(const Cpu *c, int32_t i) {
  int ch = 0;
  while (i >= c->chunk_lo[ch + 1]) ++ch;
  return ch;
}

/* Each chunk's neurons with Poisson input, after the flags of every neuron. */
static int setup_poisson(Cpu *c) {
  FF_TRY(FF_CALLOC(c->poisson, c->n_chunks, "Poisson lists"));
  FF_TRY(FF_CALLOC(c->n_poisson, c->n_chunks, "Poisson lists"));
  ff_sim_flags(&c->s, c->flags);
  for (int ch = 0; ch < c->n_chunks; ++ch) {
    const int32_t lo = c->chunk_lo[ch], hi = c->chunk_lo[ch + 1];
    int32_t np = 0;
    for (int32_t i = lo; i < hi; ++i) np += (c->flags[i] & FF_NF_POISSON) != 0;
    FF_TRY(FF_MALLOC(c->poisson[ch], np, "Poisson list"));
    for (int32_t i = lo; i < hi; ++i)
      if (c->flags[i] & FF_NF_POISSON) c->poisson[ch][c->n_poisson[ch]++] = i;
  }
  return FF_OK;
}

/* Each chunk's file input spikes. They are sorted by (step, global index), and local order follows
 * global order, so each chunk's list is sorted by (step, neuron). */
static int setup_files(Cpu *c) {
  const FfStimulus *st = c->s.stim;
  FF_TRY(FF_CALLOC(c->file_i, c->n_chunks, "file inputs"));
  FF_TRY(FF_CALLOC(c->file_step, c->n_chunks, "file inputs"));
  FF_TRY(FF_CALLOC(c->n_file, c->n_chunks, "file inputs"));
  for (int64_t k = 0; k < st->n_file; ++k) {
    const int32_t i = ff_net_local(c->net, st->file_gid[k]);
    if (i >= 0) c->n_file[chunk_of(c, i)]++;
  }
  for (int ch = 0; ch < c->n_chunks; ++ch) {
    FF_TRY(FF_MALLOC(c->file_i[ch], c->n_file[ch], "file inputs"));
    FF_TRY(FF_MALLOC(c->file_step[ch], c->n_file[ch], "file inputs"));
    c->n_file[ch] = 0;
  }
  for (int64_t k = 0; k < st->n_file; ++k) {
    const int32_t i = ff_net_local(c->net, st->file_gid[k]);
    if (i < 0) continue;
    const int ch = chunk_of(c, i);
    c->file_i[ch][c->n_file[ch]] = i;
    c->file_step[ch][c->n_file[ch]++] = st->file_step[k];
  }
  return FF_OK;
}

/* The recorded-state neurons: their column, each chunk's list, and the arrays of their v and g. */
static int setup_state(Cpu *c) {
  const FfStimulus *st = c->s.stim;
  FF_TRY(FF_CALLOC(c->state_list, c->n_chunks, "state lists"));
  FF_TRY(FF_CALLOC(c->n_state_list, c->n_chunks, "state lists"));
  FF_TRY(FF_MALLOC(c->state_k, c->n, "state map"));
  for (int32_t i = 0; i < c->n; ++i) c->state_k[i] = -1;
  for (int64_t k = 0; k < st->n_state; ++k)
    if (ff_net_local(c->net, st->state[k]) >= 0) c->n_state++;
  FF_TRY(FF_MALLOC(c->state_gid, c->n_state, "state neurons"));
  int64_t ks = 0;
  for (int64_t k = 0; k < st->n_state; ++k) {
    const int32_t i = ff_net_local(c->net, st->state[k]);
    if (i < 0) continue;
    c->state_gid[ks] = st->state[k];
    c->state_k[i] = (int32_t)ks++;
    c->n_state_list[chunk_of(c, i)]++;
  }
  for (int ch = 0; ch < c->n_chunks; ++ch) {
    FF_TRY(FF_MALLOC(c->state_list[ch], c->n_state_list[ch], "state list"));
    c->n_state_list[ch] = 0;
  }
  for (int32_t i = 0; i < c->n; ++i)
    if (c->state_k[i] >= 0) {
      const int ch = chunk_of(c, i);
      c->state_list[ch][c->n_state_list[ch]++] = i;
    }
  const int64_t cells = (int64_t)c->B * c->n_steps * c->n_state;
  FF_TRY(FF_MALLOC(c->state_v, cells, "recorded v"));
  FF_TRY(FF_MALLOC(c->state_g, cells, "recorded g"));
  return FF_OK;
}

/* Initial state of every (trial, neuron): v ~ N(v_rest, sd), g ~ U(0, max) from the INIT stream,
 * as the state after step -1, with its first spike predicted. */
static void init_state(Cpu *c) {
  const FfModel *m = c->m;
  /* same unit-to-thread mapping as cpu_run_window, so each thread first touches its own pages */
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
  for (int ui = 0; ui < c->n_units; ++ui) {
    Unit *U = &c->units[ui];
    View v = view_of(c, U);
    for (int32_t k = 0; k <= WHEEL; ++k) U->head[k] = -1;
    for (int32_t i = U->lo; i < U->hi; ++i) {
      ff_sim_initial_state(m, c->s.seed, c->net->gid[i], U->b, &v.u[i], &v.g[i]);
      v.t_anchor[i] = -1;
      v.count[i] = 0;
      v.next[i] = -1;
      schedule(m, &v, i, -1);
    }
  }
}

void ff_cpu_destroy(void *state) {
  Cpu *c = state;
  if (c == NULL) return;
  free(c->u); free(c->g); free(c->t_anchor); free(c->next); free(c->lnext); free(c->lprev);
  free(c->count); free(c->flags); free(c->state_k); free(c->state_gid);
  free(c->state_v); free(c->state_g);
  for (int ch = 0; ch < c->n_chunks; ++ch) { /* each list array may be missing after a failed set-up */
    if (c->poisson) free(c->poisson[ch]);
    if (c->file_i) free(c->file_i[ch]);
    if (c->file_step) free(c->file_step[ch]);
    if (c->state_list) free(c->state_list[ch]);
  }
  free(c->poisson); free(c->n_poisson); free(c->file_i); free(c->file_step); free(c->n_file);
  free(c->state_list); free(c->n_state_list); free(c->chunk_lo);
  for (int ui = 0; ui < c->n_units && c->units; ++ui) {
    free(c->units[ui].head); free(c->units[ui].win.v); free(c->units[ui].rec.v);
  }
  free(c->units);
  for (int t = 0; t < c->n_threads && c->scratch; ++t) {
    Scratch *s = &c->scratch[t];
    free(s->acc); free(s->ext); free(s->bg); free(s->mark); free(s->touched);
  }
  free(c->scratch);
  ff_arrivals_destroy(&c->arr);
  free(c);
}

int ff_cpu_create(const FfSimSetup *s, void **state) {
  Cpu *c;
  FF_TRY(FF_CALLOC(c, 1, "CPU backend"));
  *state = c;
  c->s = *s;
  c->m = s->model;
  c->net = s->net;
  c->n = s->net->n_local;
  c->B = s->batch;
  c->D = s->model->delay_steps;
  c->n_steps = s->n_steps;
  c->n_threads = s->threads > 0 ? s->threads : 1;
  /* Units must keep every thread busy: with fewer trials than threads, split neurons too. */
  c->n_chunks = (c->B % c->n_threads == 0) ? 1 : c->n_threads;
  if (c->n_chunks > c->n && c->n > 0) c->n_chunks = c->n;
  if (c->n == 0) c->n_chunks = 1;
  const int64_t cells = (int64_t)c->B * c->n;
  FF_TRY(FF_MALLOC(c->u, cells, "v"));
  FF_TRY(FF_MALLOC(c->g, cells, "g"));
  FF_TRY(FF_MALLOC(c->t_anchor, cells, "anchor steps"));
  FF_TRY(FF_MALLOC(c->next, cells, "predicted spikes"));
  FF_TRY(FF_MALLOC(c->lnext, cells, "timing wheel"));
  FF_TRY(FF_MALLOC(c->lprev, cells, "timing wheel"));
  FF_TRY(FF_MALLOC(c->count, cells, "spike counts"));
  FF_TRY(FF_CALLOC(c->flags, c->n, "neuron flags"));
  FF_TRY(make_chunks(c));
  FF_TRY(setup_poisson(c));
  FF_TRY(setup_files(c));
  FF_TRY(setup_state(c));
  c->n_units = c->B * c->n_chunks;
  FF_TRY(FF_CALLOC(c->units, c->n_units, "units"));
  for (int ui = 0; ui < c->n_units; ++ui) {
    Unit *U = &c->units[ui];
    U->b = ui / c->n_chunks;
    U->chunk = ui % c->n_chunks;
    U->lo = c->chunk_lo[U->chunk];
    U->hi = c->chunk_lo[U->chunk + 1];
    FF_TRY(FF_MALLOC(U->head, WHEEL + 1, "timing wheel"));
  }
  FF_TRY(FF_CALLOC(c->scratch, c->n_threads, "scratch"));
  for (int t = 0; t < c->n_threads; ++t) {
    Scratch *sc = &c->scratch[t];
    FF_TRY(FF_CALLOC(sc->acc, c->n, "input accumulator"));
    FF_TRY(FF_CALLOC(sc->ext, c->n, "input accumulator"));
    FF_TRY(FF_CALLOC(sc->bg, c->n, "input accumulator"));
    FF_TRY(FF_CALLOC(sc->mark, c->n, "input marks"));
    FF_TRY(FF_MALLOC(sc->touched, c->n, "touched list"));
  }
  FF_TRY(ff_arrivals_create(&c->arr, c->B, c->D, 1, 0));
  init_state(c);
  return FF_OK;
}
