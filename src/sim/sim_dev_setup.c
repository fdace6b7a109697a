/* The set-up of a device backend (src/sim/sim_dev_host.h): host tables, bounds, the memory plan
 * and the uploads, in steps with one job each.
 *
 * Every device array is allocated once, by name, before the first step, from sizes that are exact
 * upper bounds: a cell spikes at most ceil(D / R) times in a window of D steps (R: its refractory
 * steps), so the window's spike list, the words a rank can receive and the arrivals it can get
 * all have known bounds. A network whose arrays do not fit in the GPU's free memory is refused
 * before anything is allocated, with both numbers. */
#include "flyfit/error.h"
#include "flyfit/log.h"
#include "sim_dev_host.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory plan ------------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  void **ptr;
  int64_t bytes;
} Alloc;

enum { MAX_ALLOCS = 64 };

typedef struct {
  Alloc a[MAX_ALLOCS];
  int n;
  int64_t total;
} Plan;

static void plan(Plan *p, const char *name, void *ptr, int64_t count, int64_t elem) {
  const int64_t bytes = (count > 0 ? count : 1) * elem;
  p->a[p->n++] = (Alloc){name, (void **)ptr, bytes};
  p->total += bytes;
}

static int plan_allocate(Dev *v, const Plan *p) {
  int64_t free_b = 0, total_b = 0;
  FF_TRY(v->ops->mem_free(v->ctx, &free_b, &total_b));
  if (p->total > free_b) {
    const Alloc *big = &p->a[0];
    for (int k = 1; k < p->n; ++k)
      if (p->a[k].bytes > big->bytes) big = &p->a[k];
    return FF_ERROR(FF_ERR_NOMEM,
                    "rank %d: the network needs %.1f MB of GPU memory (largest: %s, %.1f MB; %d neurons x %d "
                    "trials on this rank), but %.1f MB of %.1f MB are free: use more ranks (GPUs) or a smaller "
                    "[run] batch",
                    v->rank, (double)p->total / 1e6, big->name, (double)big->bytes / 1e6, v->n, v->B,
                    (double)free_b / 1e6, (double)total_b / 1e6);
  }
  for (int k = 0; k < p->n; ++k) FF_TRY(v->ops->alloc(v->ctx, p->a[k].name, p->a[k].bytes, p->a[k].ptr));
  return FF_OK;
}

/* Every device array, by name: the FfDev view's and the exchange's. */
static int allocate(Dev *v) {
  const FfNet *net = v->s.net;
  const int64_t cells = (int64_t)v->B * v->n, recorded = (int64_t)v->B * v->n_steps * v->n_state;
  FfDev *d = &v->d;
  Plan p = {.n = 0, .total = 0};
  plan(&p, "propagator table", &d->m.tab, v->s.model->kmax + 1, sizeof(FfProp));
  plan(&p, "window start", &v->d_n0, 1, 4);
  plan(&p, "v", &d->u, cells, 8);
  plan(&p, "g", &d->g, cells, 8);
  plan(&p, "anchor steps", &d->t_anchor, cells, 4);
  plan(&p, "next spikes", &d->next, cells, 4);
  plan(&p, "spike counts", &d->count, cells, 4);
  plan(&p, "synaptic input", &d->acc, cells, 8);
  plan(&p, "stimulus input", &d->ext, cells, 4);
  plan(&p, "background input", &d->bg, cells, 4);
  plan(&p, "touched marks", &d->mark, cells, 4);
  plan(&p, "touched list", &d->touched, cells, 4);
  plan(&p, "touched count", &d->n_touched, 1, 4);
  plan(&p, "window spike counts", &d->wcount, cells, 4);
  plan(&p, "window spike slots", &d->wstep, v->win_cap, 4);
  plan(&p, "slot offsets", &d->slot_off, v->n + 1, 8);
  plan(&p, "overflow flag", &d->overflow, 1, 4);
  plan(&p, "neuron flags", &d->flags, v->n, 1);
  plan(&p, "neuron ids", &d->gid, v->n, 8);
  plan(&p, "stand-in ids", &d->pre_new, net->n_pre, 8);
  plan(&p, "stand-in offsets", &d->pre_indptr, net->n_pre + 1, 8);
  plan(&p, "connection targets", &d->target, net->n_in, 4);
  plan(&p, "connection weights", &d->weight, net->n_in, 4);
  plan(&p, "arrival offsets", &d->arr_off, (int64_t)v->D * v->B + 1, 8);
  plan(&p, "arrivals", &d->arr, v->arr_cap, 4);
  plan(&p, "arrival trials", &d->arr_b, v->arr_cap, 4);
  plan(&p, "event count", &d->events, 1, 8);
  plan(&p, "Poisson neurons", &d->poisson, v->n_poisson, 4);
  plan(&p, "file inputs", &d->file_i, v->file_cap, 4);
  plan(&p, "file offsets", &d->file_off, v->D + 1, 8);
  plan(&p, "state neurons", &d->state_i, v->n_state, 4);
  plan(&p, "recorded v", &d->state_v, recorded, 8);
  plan(&p, "recorded g", &d->state_g, recorded, 8);
  plan(&p, "spike offsets", &d->spk_off, cells, 8);
  plan(&p, "spike total", &d->n_spk, 1, 8);
  plan(&p, "window spikes (cells)", &d->spk_cell, v->win_cap, 4);
  plan(&p, "window spikes (steps)", &d->spk_step, v->win_cap, 4);
  plan(&p, "window spikes (words)", &d->spk_word, v->nccl ? v->word_cap : v->win_cap, 8);
  if (v->nccl) {
    plan(&p, "received words", &v->d_recv, (int64_t)v->size * v->word_cap, 8);
    plan(&p, "received stand-ins", &d->look, (int64_t)v->size * v->word_cap, 4);
    plan(&p, "arrival fill", &d->slot_fill, (int64_t)v->D * v->B, 8);
  }
  v->plan_bytes = p.total;
  return plan_allocate(v, &p);
}

/* ---- set-up ------------------------------------------------------------------------------------ */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Sizes of this rank's share; refuses more cells than 32-bit cell indices reach. */
static int setup_sizes(Dev *v, const FfSimSetup *s, const FfDevOps *ops) {
  v->s = *s;
  v->ops = ops;
  v->nccl = s->transport == FF_TRANSPORT_NCCL;
  v->comm = s->comm;
  FF_TRY(FF_MPI(MPI_Comm_rank(s->comm, &v->rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(s->comm, &v->size)));
  v->n = s->net->n_local;
  v->B = s->batch;
  v->D = s->model->delay_steps;
  v->n_steps = s->n_steps;
  if (ops == NULL) /* ff_dev_select refuses backend = cuda in a build without CUDA, before this */
    return FF_ERROR(FF_ERR_INTERNAL, "backend = cuda in a build without CUDA reached the GPU set-up");
  const int64_t cells = (int64_t)v->B * v->n;
  if (cells >= INT32_MAX)
    return FF_ERROR(FF_ERR_INPUT, "rank %d holds %d neurons x %d trials = %lld cells; the GPU backend indexes "
                                  "cells with 32 bits: use more ranks or a smaller [run] batch",
                    v->rank, v->n, v->B, (long long)cells);
  return FF_OK;
}

/* Flags and spike slots of every local neuron, and the lists of Poisson and recorded neurons. */
static int setup_neurons(Dev *v) {
  const FfModel *m = v->s.model;
  const FfStimulus *stim = v->s.stim;
  FF_TRY(FF_MALLOC(v->flags, v->n > 0 ? v->n : 1, "neuron flags"));
  ff_sim_flags(&v->s, v->flags);
  FF_TRY(FF_MALLOC(v->slot_off, v->n + 1, "spike slots"));
  v->slot_off[0] = 0;
  for (int32_t i = 0; i < v->n; ++i)
    v->slot_off[i + 1] =
        v->slot_off[i] + ceil_div(v->D, ff_refractory_steps(m, (v->flags[i] & FF_NF_DRIVEN) != 0));
  v->win_cap = (int64_t)v->B * v->slot_off[v->n];
  FF_TRY(FF_MALLOC(v->poisson, v->n > 0 ? v->n : 1, "Poisson list"));
  for (int32_t i = 0; i < v->n; ++i)
    if (v->flags[i] & FF_NF_POISSON) v->poisson[v->n_poisson++] = i;
  FF_TRY(FF_MALLOC(v->state_i, stim->n_state > 0 ? stim->n_state : 1, "state list"));
  for (int64_t k = 0; k < stim->n_state; ++k) {
    const int32_t i = ff_net_local(v->s.net, stim->state[k]);
    if (i >= 0) v->state_i[v->n_state++] = i;
  }
  return FF_OK;
}

/* The file input spikes of local neurons, by step, and the most of them in one window. */
static int setup_files(Dev *v) {
  const FfStimulus *st = v->s.stim;
  int64_t n = 0;
  for (int64_t k = 0; k < st->n_file; ++k) n += ff_net_local(v->s.net, st->file_gid[k]) >= 0;
  FF_TRY(FF_MALLOC(v->file_i, n, "file inputs"));
  FF_TRY(FF_MALLOC(v->file_step, n, "file inputs"));
  for (int64_t k = 0; k < st->n_file; ++k) { /* sorted by (step, gid): local order follows */
    const int32_t i = ff_net_local(v->s.net, st->file_gid[k]);
    if (i < 0) continue;
    v->file_i[v->n_file] = i;
    v->file_step[v->n_file++] = st->file_step[k];
  }
  for (int64_t a = 0; a < v->n_file;) {
    const int64_t w = ff_window_of(v->file_step[a], v->D);
    int64_t b = a;
    while (b < v->n_file && ff_window_of(v->file_step[b], v->D) == w) ++b;
    if (b - a > v->file_cap) v->file_cap = b - a;
    a = b;
  }
  return FF_OK;
}

/* Driven neurons of the whole network (Poisson or file input), for the arrival bound. */
static int64_t count_driven(const FfStimulus *st) {
  int64_t n = st->n_poisson;
  for (int64_t k = 0; k < st->n_file; ++k) {
    int seen = 0;
    for (int64_t j = 0; j < st->n_poisson && !seen; ++j) seen = st->poisson[j] == st->file_gid[k];
    for (int64_t j = 0; j < k && !seen; ++j) seen = st->file_gid[j] == st->file_gid[k];
    n += !seen;
  }
  return n;
}

/* Collective: all ranks of v->comm must call it, whatever their status. The arrival bound of one
 * window and the words of the largest rank; the ranks agree on `status` here, so that the
 * collective device set-up that follows is entered by all of them or by none. */
static int setup_bounds(Dev *v, int status) {
  const FfModel *m = v->s.model;
  const FfNet *net = v->s.net;
  if (status == FF_OK) {
    const int64_t s_u = ceil_div(v->D, ff_refractory_steps(m, 0)), s_d = ceil_div(v->D, ff_refractory_steps(m, 1));
    const int64_t n_drv = count_driven(v->s.stim);
    v->arr_cap = (int64_t)v->B * ((int64_t)net->n_pre * s_u + (n_drv < net->n_pre ? n_drv : net->n_pre) *
                                                                    (s_d > s_u ? s_d - s_u : 0));
  }
  int64_t mine[2] = {status != FF_OK, v->win_cap}, all[2] = {0, 0};
  FF_TRY(FF_MPI(MPI_Allreduce(mine, all, 2, MPI_INT64_T, MPI_MAX, v->comm)));
  v->word_cap = all[1];
  if (status != FF_OK) return status;
  if (all[0]) return FF_ERROR_PEER(FF_ERR_MPI, "another rank failed to set up the simulation");
  return FF_OK;
}

int ff_dev_upload(Dev *v, void *dst, const void *src, int64_t bytes) {
  return bytes > 0 ? v->ops->h2d(v->ctx, dst, src, bytes) : FF_OK;
}

/* The device view's sizes, and the model, network and input tables on the device. */
static int upload_network(Dev *v) {
  const FfNet *net = v->s.net;
  const FfModel *m = v->s.model;
  FfDev *d = &v->d;
  d->n = v->n;
  d->B = v->B;
  d->D = v->D;
  d->n_steps = v->n_steps;
  d->seed = v->s.seed;
  d->new_base = net->new_base;
  d->n0 = v->d_n0;
  d->slots = v->slot_off[v->n];
  d->n_pre = net->n_pre;
  d->n_poisson = v->n_poisson;
  d->n_state = v->n_state;
  int st = FF_OK;
  FF_CALL(st, ff_dev_upload(v, (void *)d->m.tab, m->tab, (int64_t)(m->kmax + 1) * (int64_t)sizeof(FfProp)));
  FF_CALL(st, ff_dev_upload(v, (void *)d->slot_off, v->slot_off, (int64_t)(v->n + 1) * 8));
  FF_CALL(st, ff_dev_upload(v, (void *)d->flags, v->flags, v->n));
  FF_CALL(st, ff_dev_upload(v, (void *)d->gid, net->gid, (int64_t)v->n * 8));
  FF_CALL(st, ff_dev_upload(v, (void *)d->pre_new, net->pre_new, (int64_t)net->n_pre * 8));
  FF_CALL(st, ff_dev_upload(v, (void *)d->pre_indptr, net->pre_indptr, (int64_t)(net->n_pre + 1) * 8));
  FF_CALL(st, ff_dev_upload(v, (void *)d->target, net->target, net->n_in * 4));
  FF_CALL(st, ff_dev_upload(v, (void *)d->weight, net->weight, net->n_in * 4));
  FF_CALL(st, ff_dev_upload(v, (void *)d->poisson, v->poisson, (int64_t)v->n_poisson * 4));
  FF_CALL(st, ff_dev_upload(v, (void *)d->state_i, v->state_i, (int64_t)v->n_state * 4));
  return st;
}

/* Initial state of every cell (ff_sim_initial_state, as the CPU backend) with its first spike
 * predicted, as the state after step -1. */
static int upload_initial_state(Dev *v) {
  const int64_t cells = (int64_t)v->B * v->n;
  double *u = NULL, *g = NULL;
  int32_t *ta = NULL, *next = NULL;
  int st = FF_MALLOC(u, cells, "initial state");
  FF_CALL(st, FF_MALLOC(g, cells, "initial state"));
  FF_CALL(st, FF_MALLOC(ta, cells, "initial state"));
  FF_CALL(st, FF_MALLOC(next, cells, "initial state"));
  for (int32_t b = 0; st == FF_OK && b < v->B; ++b)
    for (int32_t i = 0; i < v->n; ++i) {
      const int64_t c = (int64_t)b * v->n + i;
      ff_sim_initial_state(v->s.model, v->s.seed, v->s.net->gid[i], b, &u[c], &g[c]);
      ta[c] = -1;
      next[c] = ff_next_spike(v->s.model, u[c], g[c], -1);
    }
  FF_CALL(st, ff_dev_upload(v, v->d.u, u, cells * 8));
  FF_CALL(st, ff_dev_upload(v, v->d.g, g, cells * 8));
  FF_CALL(st, ff_dev_upload(v, v->d.t_anchor, ta, cells * 4));
  FF_CALL(st, ff_dev_upload(v, v->d.next, next, cells * 4));
  free(u);
  free(g);
  free(ta);
  free(next);
  return st;
}

/* Host buffers for the window's spikes, the arrivals and the file input of a window. */
static int setup_host_buffers(Dev *v) {
  FF_TRY(FF_MALLOC(v->h_cell, v->win_cap, "window spikes"));
  FF_TRY(FF_MALLOC(v->h_step, v->win_cap, "window spikes"));
  FF_TRY(ff_arrivals_create(&v->arr, v->B, v->D, 0, 1));
  return FF_MALLOC(v->h_file_off, v->D + 1, "file offsets");
}

/* Collective: all ranks of v->comm must call it, whatever their status. Every rank's device and
 * arrays, in rank 0's log (a rank that failed sends nothing to log). */
static int log_devices(Dev *v, int status) {
  char mine[512] = "", *all = NULL;
  char host[MPI_MAX_PROCESSOR_NAME] = "";
  int hl = 0;
  int st = FF_MPI(MPI_Get_processor_name(host, &hl));
  if (status == FF_OK && st == FF_OK) {
    char dev[160];
    v->ops->describe(v->ctx, dev, sizeof dev);
    snprintf(mine, sizeof mine, "rank %d on %.128s: %.160s, %.1f MB of arrays", v->rank, host, dev,
             (double)v->plan_bytes / 1e6);
  }
  if (v->rank == 0) all = calloc((size_t)v->size, sizeof mine);
  FF_CALL(st, FF_MPI(MPI_Gather(mine, (int)sizeof mine, MPI_CHAR, all, (int)sizeof mine, MPI_CHAR, 0, v->comm)));
  for (int q = 0; st == FF_OK && all && v->ops && q < v->size; ++q)
    if (all[(size_t)q * sizeof mine]) ff_log("backend %s: %s", v->ops->name, all + (size_t)q * sizeof mine);
  free(all);
  return status != FF_OK ? status : st;
}

void ff_dev_destroy(void *state) {
  Dev *v = state;
  if (v == NULL) return;
  if (v->ops && v->ctx) v->ops->destroy(v->ctx);
  free(v->flags); free(v->slot_off); free(v->poisson); free(v->state_i);
  free(v->h_cell); free(v->h_step);
  free(v->rec_b); free(v->rec_step); free(v->rec_gid);
  ff_arrivals_destroy(&v->arr);
  free(v->file_i); free(v->file_step); free(v->h_file_off);
  free(v);
}

/* Collective: all ranks of s->comm must call it. The steps in order; the collective ones
 * (setup_bounds, the device's init with NCCL, log_devices) are reached by every rank. */
int ff_dev_create(const FfSimSetup *s, void **state, const FfDevOps *ops) {
  Dev *v;
  FF_TRY(FF_CALLOC(v, 1, "device backend"));
  *state = v;
  int st = setup_sizes(v, s, ops);
  FF_CALL(st, setup_neurons(v));
  FF_CALL(st, setup_files(v));
  st = setup_bounds(v, st);
  FF_CALL(st, ops->init(&v->ctx, s->device, v->nccl, (void *)&v->comm));
  v->d.m = *s->model; /* its table pointer becomes the device's in allocate */
  FF_CALL(st, allocate(v));
  FF_CALL(st, upload_network(v));
  FF_CALL(st, upload_initial_state(v));
  FF_CALL(st, setup_host_buffers(v));
  return log_devices(v, st);
}
