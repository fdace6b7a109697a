/* backend = emulate: the GPU backend's kernels (include/flyfit/sim_dev.h) run serially on the CPU,
 * in the order src/sim/cuda/sim_cuda.cu launches them, so the device algorithm and the host side it
 * shares with the CUDA build (src/sim/sim_dev_setup.c, sim_dev.c) are tested on machines without a GPU.
 *
 * A GPU runs a kernel's elements in no fixed order. To catch any dependence on order, each loop
 * here visits its elements in a scrambled order (include/flyfit/scramble.h), and the touched list,
 * the arrival slots and the NCCL delivery come out in orders that differ from the CPU backend's. Results must still equal the CPU backend's bit for bit.
 * "Device memory" is host memory; FLYFIT_EMULATE_MEMORY_MB sets how much the emulated device
 * says is free (default: the machine's available memory), so the refusal of a network too large
 * for the device can be tested. */
#include "flyfit/error.h"
#include "flyfit/log.h"
#include "flyfit/scramble.h"
#include "flyfit/sim_dev.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  void **p;
  int n, cap;
  int64_t bytes, peak;
  int nccl;
  MPI_Comm comm;
  double update_s, delivery_s;
} Emu;

static int emu_init(void **ctx, int device, int nccl, void *mpi_comm) {
  (void)device;
  Emu *e;
  FF_TRY(FF_CALLOC(e, 1, "emulated device"));
  e->nccl = nccl;
  e->comm = *(MPI_Comm *)mpi_comm;
  *ctx = e;
  return FF_OK;
}

static int emu_mem_free(void *ctx, int64_t *free_bytes, int64_t *total_bytes) {
  const Emu *e = ctx;
  const char *env = getenv("FLYFIT_EMULATE_MEMORY_MB");
  int64_t total = (int64_t)sysconf(_SC_PHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
  int64_t avail = (int64_t)sysconf(_SC_AVPHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
  if (env && *env) total = avail = (int64_t)(atof(env) * 1e6);
  *total_bytes = total;
  *free_bytes = avail - e->bytes;
  return FF_OK;
}

static int emu_alloc(void *ctx, const char *name, int64_t bytes, void **p) {
  Emu *e = ctx;
  if (e->n == e->cap) {
    const int cap = e->cap ? 2 * e->cap : 64;
    void **q = realloc(e->p, (size_t)cap * sizeof *q);
    if (q == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
    e->p = q;
    e->cap = cap;
  }
  *p = calloc(1, (size_t)(bytes > 0 ? bytes : 1));
  if (*p == NULL) return FF_ERROR(FF_ERR_NOMEM, "emulated device: out of memory for %s (%.1f MB)", name, (double)bytes / 1e6);
  e->p[e->n++] = *p;
  e->bytes += bytes;
  if (e->bytes > e->peak) e->peak = e->bytes;
  return FF_OK;
}

static int emu_copy(void *ctx, void *dst, const void *src, int64_t bytes) {
  (void)ctx;
  if (bytes > 0) memcpy(dst, src, (size_t)bytes);
  return FF_OK;
}

static int emu_fill(void *ctx, void *p, int byte, int64_t bytes) {
  (void)ctx;
  if (bytes > 0) memset(p, byte, (size_t)bytes);
  return FF_OK;
}

static void emu_describe(void *ctx, char *buf, int cap) {
  (void)ctx;
  snprintf(buf, (size_t)cap, "CPU emulation of the CUDA kernels (serial, scrambled order)");
}

/* One kernel of step k, its elements in a scrambled order. */
static void run_kernel(const FfDev *d, FfDevKernel kind, int32_t k) {
  switch (kind) {
  case FF_DEV_FIRE:
    FF_FOR_SCRAMBLED(c, (int64_t)d->B * d->n) ff_dev_k_fire(d, c, k);
    break;
  case FF_DEV_ARRIVE: {
    int64_t a0, a1;
    ff_dev_arrivals(d, k, &a0, &a1);
    FF_FOR_SCRAMBLED(q, a1 - a0) {
      const int64_t a = a0 + q, p = d->arr[a];
      const int64_t e0 = d->pre_indptr[p], e1 = d->pre_indptr[p + 1];
      ff_dev_add_u64(d->events, (unsigned long long)(e1 - e0));
      for (int64_t x = e0; x < e1; ++x) ff_dev_k_arrive(d, d->arr_b[a], x);
    }
    break;
  }
  case FF_DEV_POISSON:
    FF_FOR_SCRAMBLED(q, (int64_t)d->B * d->n_poisson) ff_dev_k_poisson(d, q, k);
    break;
  case FF_DEV_FILE:
    FF_FOR_SCRAMBLED(q, (int64_t)d->B * (d->file_off[k + 1] - d->file_off[k])) ff_dev_k_file(d, q, k);
    break;
  case FF_DEV_BACKGROUND:
    FF_FOR_SCRAMBLED(c, (int64_t)d->B * d->n) ff_dev_k_background(d, c, k);
    break;
  case FF_DEV_UPDATE:
    FF_FOR_SCRAMBLED(q, (int64_t)*d->n_touched) ff_dev_k_update(d, q, k);
    *d->n_touched = 0;
    break;
  case FF_DEV_STATE:
    FF_FOR_SCRAMBLED(q, (int64_t)d->B * d->n_state) ff_dev_k_state(d, q, k);
    break;
  case FF_DEV_KERNELS:
    break;
  }
}

static int emu_window(void *ctx, const FfDev *d, int32_t steps, int64_t n_file_window, int64_t arrivals) {
  Emu *e = ctx;
  for (int32_t k = 0; k < steps; ++k) {
    FfDevKernel kernels[FF_DEV_KERNELS];
    const int nk = ff_dev_step_kernels(d, n_file_window, arrivals, kernels);
    for (int q = 0; q < nk; ++q) {
      const double t0 = ff_wall_seconds();
      run_kernel(d, kernels[q], k);
      *(kernels[q] == FF_DEV_ARRIVE ? &e->delivery_s : &e->update_s) += ff_wall_seconds() - t0;
    }
  }
  return FF_OK;
}

static int emu_compact(void *ctx, const FfDev *d, int64_t *n_spikes) {
  Emu *e = ctx;
  const double t0 = ff_wall_seconds();
  const int64_t cells = (int64_t)d->B * d->n;
  int64_t acc = 0;
  for (int64_t c = 0; c < cells; ++c) { /* exclusive scan (cub::DeviceScan on the GPU) */
    d->spk_off[c] = acc;
    acc += d->wcount[c];
  }
  *d->n_spk = acc;
  FF_FOR_SCRAMBLED(c, cells) ff_dev_k_scatter(d, c);
  *n_spikes = acc;
  e->delivery_s += ff_wall_seconds() - t0;
  return FF_OK;
}

/* Collective: all ranks of the run must call it (NCCL's allgather, imitated over MPI). */
static int emu_allgather(void *ctx, const uint64_t *send, uint64_t *recv, int64_t per_rank) {
  Emu *e = ctx;
  if (per_rank > INT32_MAX) return FF_ERROR(FF_ERR_MPI, "%lld spike words per rank: too many for MPI", (long long)per_rank);
  return FF_MPI(MPI_Allgather(send, (int)per_rank, MPI_UINT64_T, recv, (int)per_rank, MPI_UINT64_T, e->comm));
}

static int emu_deliver(void *ctx, const FfDev *d, const uint64_t *words, int64_t n, int64_t cap, int64_t *kept) {
  Emu *e = ctx;
  const double t0 = ff_wall_seconds();
  const int64_t slots = (int64_t)d->D * d->B;
  memset(d->arr_off, 0, (size_t)(slots + 1) * sizeof *d->arr_off);
  memset(d->slot_fill, 0, (size_t)slots * sizeof *d->slot_fill);
  FF_FOR_SCRAMBLED(q, n) ff_dev_k_lookup(d, words, q);
  for (int64_t s = 0; s < slots; ++s) d->arr_off[s + 1] += d->arr_off[s]; /* inclusive scan */
  *kept = d->arr_off[slots];
  if (*kept <= cap) {
    FF_FOR_SCRAMBLED(q, n) ff_dev_k_place(d, words, q);
  }
  e->delivery_s += ff_wall_seconds() - t0;
  return FF_OK;
}

static void emu_times(void *ctx, double *update_s, double *delivery_s) {
  const Emu *e = ctx;
  *update_s = e->update_s;
  *delivery_s = e->delivery_s;
}

static int64_t emu_peak(void *ctx) { return ((const Emu *)ctx)->peak; }

static void emu_destroy(void *ctx) {
  Emu *e = ctx;
  if (e == NULL) return;
  for (int k = 0; k < e->n; ++k) free(e->p[k]);
  free(e->p);
  free(e);
}

const FfDevOps ff_dev_ops_emulate = {"emulate",   emu_init,    emu_mem_free,  emu_alloc, emu_copy,  emu_copy,
                                     emu_fill,    emu_describe, emu_window,   emu_compact, emu_allgather,
                                     emu_deliver, emu_times,   emu_peak,      emu_destroy};
