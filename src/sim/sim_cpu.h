/* The CPU backend's state, private to src/sim/sim_cpu_setup.c (which builds it) and
 * src/sim/sim_cpu.c (which steps it), and the timing wheel both use.
 *
 * Neurons are anchored states (model.h); each unit (trial b, chunk of neurons) keeps the predicted
 * spikes of its neurons in a timing wheel: WHEEL buckets, one per step modulo WHEEL, and an overflow
 * list for later predictions, which move into the wheel at the start of each lap. */
#ifndef FLYFIT_SIM_CPU_H
#define FLYFIT_SIM_CPU_H

#include "flyfit/arrivals.h"
#include "flyfit/sim.h"

enum { WHEEL = 512 }; /* steps the wheel covers; later predictions wait in an overflow list */

typedef struct {
  int32_t step, i;
} Spike;

typedef struct {
  Spike *v;
  int64_t n, cap;
} SpikeVec;

typedef struct {
  int32_t lo, hi; /* local neurons [lo, hi) */
  int32_t b, chunk;
  int32_t *head;  /* [WHEEL + 1] bucket heads, WHEEL = overflow */
  SpikeVec win;   /* spikes of the current window */
  SpikeVec rec;   /* recorded spikes, whole run */
  int64_t file_pos, events;
  int status;
} Unit;

typedef struct {
  int64_t *acc;   /* [n_local] summed signed synapse counts of this step */
  int32_t *ext;   /* [n_local] Poisson / file input spikes of this step */
  int32_t *bg;    /* [n_local] background spikes of this step */
  uint8_t *mark;  /* [n_local] touched this step */
  int32_t *touched;
} Scratch;

typedef struct {
  FfSimSetup s;
  const FfModel *m;
  const FfNet *net;
  int32_t n, B, D;
  int64_t n_steps;
  /* per (trial, neuron), index b * n + i */
  double *u, *g;        /* anchor state, mV relative to rest */
  int32_t *t_anchor;    /* step the anchor belongs to */
  int32_t *next;        /* predicted spike step, -1 = none */
  int32_t *lnext, *lprev; /* wheel lists; lprev < 0 encodes the bucket (-bucket - 2) of a head */
  int32_t *count;
  /* per neuron */
  uint8_t *flags;
  int32_t *state_k;     /* index among recorded-state neurons, -1 = none */
  int64_t n_state;
  int64_t *state_gid;
  double *state_v, *state_g; /* [B x n_steps x n_state] */
  /* chunks of neurons, and their driven neurons and file inputs */
  int n_chunks;
  int32_t *chunk_lo;    /* [n_chunks + 1] */
  int32_t **poisson;    /* [chunk] local indices with Poisson input */
  int32_t *n_poisson;
  int32_t **file_i, **file_step; /* [chunk] file input spikes sorted by (step, neuron) */
  int64_t *n_file;
  int32_t **state_list; /* [chunk] local indices whose state is recorded */
  int32_t *n_state_list;
  Unit *units;
  int n_units;
  Scratch *scratch;
  int n_threads;
  FfArrivals arr;       /* arrivals of the current window, trial-major: slot b D + k is step w D + k of trial b */
  int64_t window;       /* the window being run */
} Cpu;

typedef struct { /* one unit's slice of the per-(trial, neuron) arrays */
  double *u, *g;
  int32_t *t_anchor, *next, *lnext, *lprev, *count;
  int32_t *head;
} View;

/* one unit's slice of the per-(trial, neuron) arrays */
static inline View view_of(Cpu *c, Unit *U) {
  const int64_t o = (int64_t)U->b * c->n;
  return (View){c->u + o, c->g + o, c->t_anchor + o, c->next + o, c->lnext + o, c->lprev + o, c->count + o,
                U->head};
}

/* ---- the timing wheel ---------------------------------------------------------------------------- */

static inline void wheel_add(View *v, int32_t i, int32_t when, int32_t now) {
  v->next[i] = when;
  if (when < 0) return;
  const int32_t bucket = when - now < WHEEL ? (when & (WHEEL - 1)) : WHEEL;
  const int32_t h = v->head[bucket];
  v->lnext[i] = h;
  v->lprev[i] = -bucket - 2;
  if (h >= 0) v->lprev[h] = i;
  v->head[bucket] = i;
}

static inline void wheel_remove(View *v, int32_t i) {
  if (v->next[i] < 0) return;
  const int32_t p = v->lprev[i], q = v->lnext[i];
  if (p >= 0) v->lnext[p] = q; else v->head[-p - 2] = q;
  if (q >= 0) v->lprev[q] = p;
  v->next[i] = -1;
}

/* At the start of each lap, predictions that now fall inside the wheel leave the overflow list. */
static inline void wheel_migrate(View *v, int32_t now) {
  int32_t i = v->head[WHEEL];
  while (i >= 0) {
    const int32_t nx = v->lnext[i], when = v->next[i];
    if (when - now < WHEEL) {
      wheel_remove(v, i);
      wheel_add(v, i, when, now);
    }
    i = nx;
  }
}

static inline void schedule(const FfModel *m, View *v, int32_t i, int32_t now) {
  wheel_add(v, i, ff_next_spike(m, v->u[i], v->g[i], v->t_anchor[i]), now);
}

/* Builds the backend's state for s (the table's create). */
int ff_cpu_create(const FfSimSetup *s, void **state);
/* Frees what ff_cpu_create built (NULL allowed). */
void ff_cpu_destroy(void *state);

#endif
