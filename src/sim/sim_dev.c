/* The host side of the device backends (include/flyfit/sim_dev.h) while they run: per-window
 * bookkeeping, packing, delivery and the exchange, over an FfDevOps table; src/sim/sim_dev_setup.c
 * builds their state (src/sim/sim_dev_host.h). backend = cuda runs the kernels on the GPU
 * (src/sim/cuda/sim_cuda.cu); backend = emulate runs the same kernel bodies serially
 * (src/sim/sim_emul.c). The spikes travel as [run] transport says: host-staged over MPI (the
 * driver's exchange) or between the devices (nccl, dev_exchange). */
#include "flyfit/error.h"
#include "flyfit/log.h"
#include "sim_dev_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int create_cuda(const FfSimSetup *s, void **state) { return ff_dev_create(s, state, ff_dev_ops_cuda()); }
static int create_emulate(const FfSimSetup *s, void **state) { return ff_dev_create(s, state, &ff_dev_ops_emulate); }

/* ---- one window -------------------------------------------------------------------------------- */

static int record(Dev *v) {
  for (int64_t q = 0; q < v->n_win; ++q) {
    const int32_t c = v->h_cell[q], i = c % v->n;
    if (!(v->flags[i] & FF_NF_RECORD)) continue;
    if (v->n_rec == v->rec_cap) {
      const int64_t cap = v->rec_cap ? 2 * v->rec_cap : 4096;
      FF_TRY(FF_REALLOC(v->rec_b, cap, "recorded spikes"));
      FF_TRY(FF_REALLOC(v->rec_step, cap, "recorded spikes"));
      FF_TRY(FF_REALLOC(v->rec_gid, cap, "recorded spikes"));
      v->rec_cap = cap;
    }
    v->rec_b[v->n_rec] = c / v->n;
    v->rec_step[v->n_rec] = v->h_step[q];
    v->rec_gid[v->n_rec++] = v->s.net->gid[i];
  }
  return FF_OK;
}

static int dev_run_window(void *state, int64_t w) {
  Dev *v = state;
  const FfWindow win = ff_window(w, v->D, v->n_steps);
  const int32_t n0 = (int32_t)win.first;
  FF_TRY(v->ops->h2d(v->ctx, v->d_n0, &n0, 4));
  /* this window's file input */
  const int64_t f0 = v->file_pos;
  for (int32_t k = 0; k <= v->D; ++k) {
    while (v->file_pos < v->n_file && v->file_step[v->file_pos] < n0 + k) ++v->file_pos;
    v->h_file_off[k] = v->file_pos - f0;
  }
  const int64_t nfw = v->h_file_off[v->D];
  if (nfw > 0) FF_TRY(v->ops->h2d(v->ctx, (void *)v->d.file_i, v->file_i + f0, nfw * 4));
  FF_TRY(v->ops->h2d(v->ctx, (void *)v->d.file_off, v->h_file_off, (int64_t)(v->D + 1) * 8));
  FF_TRY(v->ops->window(v->ctx, &v->d, (int32_t)(win.end - win.first), nfw, v->n_arr));
  FF_TRY(v->ops->compact(v->ctx, &v->d, &v->n_win));
  int32_t overflow = 0;
  FF_TRY(v->ops->d2h(v->ctx, &overflow, v->d.overflow, 4));
  if (overflow || v->n_win > v->win_cap)
    return FF_ERROR(FF_ERR_INTERNAL, "rank %d, window %lld: a neuron spiked more often than its refractory period "
                                     "allows; its spikes would be lost, so the run stops (report this as a bug)",
                    v->rank, (long long)w);
  if (v->n_win > 0) {
    FF_TRY(v->ops->d2h(v->ctx, v->h_cell, v->d.spk_cell, v->n_win * 4));
    FF_TRY(v->ops->d2h(v->ctx, v->h_step, v->d.spk_step, v->n_win * 4));
  }
  return record(v);
}

static int64_t dev_emitted(void *state) {
  const Dev *v = state;
  int64_t k = 0;
  for (int64_t q = 0; q < v->n_win; ++q) k += ff_spike_sent(v->flags[v->h_cell[q] % v->n]);
  return k;
}

static void dev_pack(void *state, int64_t w, uint64_t *words) {
  const Dev *v = state;
  const int64_t n0 = ff_window(w, v->D, v->n_steps).first;
  int64_t k = 0;
  for (int64_t q = 0; q < v->n_win; ++q) {
    const int32_t c = v->h_cell[q], i = c % v->n;
    const uint64_t word = ff_spike_word(v->flags[i], v->s.net->new_base + i, v->h_step[q], n0, c / v->n);
    if (word != FF_SPIKE_NONE) words[k++] = word;
  }
}

/* The arrivals of a window cannot exceed the bound the arrays were sized for. */
static int check_arrivals(const Dev *v, int64_t kept) {
  if (kept > v->arr_cap)
    return FF_ERROR(FF_ERR_INTERNAL, "rank %d: %lld arriving spikes in one window, more than the bound %lld", v->rank,
                    (long long)kept, (long long)v->arr_cap);
  return FF_OK;
}

/* MPI transport: the arrivals sorted by slot (step * B + trial) on the host, then uploaded. */
static int dev_deliver(void *state, int64_t w, const uint64_t *words, int64_t n) {
  Dev *v = state;
  (void)w;
  const int64_t slots = (int64_t)v->B * v->D;
  FF_TRY(ff_arrivals_sort(&v->arr, v->s.net, words, n));
  FF_TRY(check_arrivals(v, v->arr.n));
  v->n_arr = v->arr.n;
  FF_TRY(v->ops->h2d(v->ctx, v->d.arr_off, v->arr.off, (slots + 1) * 8));
  FF_TRY(ff_dev_upload(v, v->d.arr, v->arr.pre, v->n_arr * 4));
  return ff_dev_upload(v, v->d.arr_b, v->arr.trial, v->n_arr * 4);
}

/* NCCL transport: the counts (and any rank's failure) over MPI, then every rank's words, padded
 * to the longest list, by one allgather between the devices; delivery stays on the device. */
static int dev_exchange(void *state, int64_t w, int status, FfExchangeStats *xs) {
  Dev *v = state;
  (void)w;
  if (!v->nccl) return FF_ERROR(FF_ERR_INTERNAL, "device exchange without [run] transport = nccl");
  int64_t mine = status != FF_OK ? -1 : v->n_win, *counts = NULL;
  FF_TRY(FF_CALLOC(counts, v->size, "spike counts"));
  const double t0 = ff_wall_seconds();
  const int rc = FF_MPI(MPI_Allgather(&mine, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, v->comm));
  int64_t per_rank = 0, total = 0, failed = -1;
  for (int q = 0; q < v->size; ++q) {
    if (counts[q] < 0 && failed < 0) failed = q;
    if (counts[q] > per_rank) per_rank = counts[q];
    total += counts[q] > 0 ? counts[q] : 0;
  }
  free(counts);
  FF_TRY(rc);
  if (status != FF_OK) return status;
  if (failed >= 0) return FF_ERROR(FF_ERR_MPI, "rank %lld stopped the run", (long long)failed);
  int st = FF_OK;
  if (per_rank > v->n_win) /* pad this rank's list to the common length (FF_SPIKE_NONE) */
    FF_CALL(st, v->ops->fill(v->ctx, v->d.spk_word + v->n_win, 0xff, (per_rank - v->n_win) * 8));
  if (per_rank > 0) FF_CALL(st, v->ops->allgather(v->ctx, v->d.spk_word, v->d_recv, per_rank));
  xs->comm_s += ff_wall_seconds() - t0;
  xs->words_sent += v->n_win * (v->size - 1);
  xs->words_recv += total - v->n_win;
  int64_t kept = 0;
  FF_CALL(st, v->ops->deliver(v->ctx, &v->d, v->d_recv, per_rank * v->size, v->arr_cap, &kept));
  v->n_arr = kept;
  FF_CALL(st, check_arrivals(v, kept));
  return st;
}

/* Spike counts, events, recorded spikes and states into out (this rank's own). */
static int download_outputs(Dev *v, FfSimOutput *out) {
  const int64_t cells = (int64_t)v->B * v->n;
  FF_TRY(FF_MALLOC(out->count, cells > 0 ? cells : 1, "spike counts"));
  FF_TRY(v->ops->d2h(v->ctx, out->count, v->d.count, cells * 4));
  unsigned long long events = 0;
  FF_TRY(v->ops->d2h(v->ctx, &events, v->d.events, 8));
  out->events = (int64_t)events;
  for (int64_t c = 0; c < cells; ++c) out->spikes += out->count[c];
  out->n_rec = v->n_rec;
  out->rec_batch = v->rec_b;
  out->rec_step = v->rec_step;
  out->rec_gid = v->rec_gid;
  v->rec_b = v->rec_step = NULL;
  v->rec_gid = NULL;
  const int32_t ns = v->d.n_state;
  const int64_t sc = (int64_t)v->B * v->n_steps * ns;
  out->n_state = ns;
  FF_TRY(FF_MALLOC(out->state_gid, ns > 0 ? ns : 1, "state neurons"));
  FF_TRY(FF_MALLOC(out->state_v, sc > 0 ? sc : 1, "recorded v"));
  FF_TRY(FF_MALLOC(out->state_g, sc > 0 ? sc : 1, "recorded g"));
  for (int64_t k = 0, j = 0; k < v->s.stim->n_state; ++k)
    if (ff_net_local(v->s.net, v->s.stim->state[k]) >= 0) out->state_gid[j++] = v->s.stim->state[k];
  if (sc > 0) {
    FF_TRY(v->ops->d2h(v->ctx, out->state_v, v->d.state_v, sc * 8));
    FF_TRY(v->ops->d2h(v->ctx, out->state_g, v->d.state_g, sc * 8));
  }
  return FF_OK;
}

/* Collective: all ranks of v->comm must call it, whatever their status. Rank 0's kernel times and
 * every rank's peak device memory, in the log. */
static int log_device_usage(Dev *v, int status) {
  double t[3] = {0, 0, 0};
  v->ops->times(v->ctx, &t[0], &t[1]);
  t[2] = (double)v->ops->peak_bytes(v->ctx) / 1e6;
  double *all = v->rank == 0 ? malloc((size_t)v->size * sizeof t) : NULL;
  int st = FF_MPI(MPI_Gather(t, 3, MPI_DOUBLE, all, 3, MPI_DOUBLE, 0, v->comm));
  if (st == FF_OK && status == FF_OK && v->rank == 0 && all) {
    char line[1024];
    size_t len = 0;
    for (int q = 0; q < v->size && len < sizeof line - 32; ++q)
      len += (size_t)snprintf(line + len, sizeof line - len, "%s%.1f", q ? ", " : "", all[3 * q + 2]);
    ff_log("device kernels on rank 0: update %.3f s, delivery %.3f s; peak device memory per rank (MB): %s", all[0],
           all[1], line);
  }
  free(all);
  return status != FF_OK ? status : st;
}

/* Collective: all ranks of the run must call it. */
static int dev_finish(void *state, FfSimOutput *out) {
  Dev *v = state;
  return log_device_usage(v, download_outputs(v, out));
}

/* One backend per kind of device; each reads [run] transport from the setup. */
const FfBackend ff_backend_cuda = {"cuda", create_cuda, dev_run_window, dev_emitted, dev_pack,
                                   dev_deliver, dev_finish, ff_dev_destroy, dev_exchange};
const FfBackend ff_backend_emulate = {"emulate", create_emulate, dev_run_window, dev_emitted, dev_pack,
                                      dev_deliver, dev_finish, ff_dev_destroy, dev_exchange};
