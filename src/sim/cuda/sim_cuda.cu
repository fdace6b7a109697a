/* backend = cuda: the device side of the GPU simulation (include/flyfit/sim_dev.h) on CUDA.
 *
 * Each kernel is a thin loop around one body of sim_dev.h, so the per-neuron arithmetic is the
 * header code that the CPU backend uses too (FF_HD); every launch goes through one checked launcher
 * with its grid computed beside it, and a step runs the kernels sim_dev.h lists, in its order. A
 * window of D steps is one launch sequence on the compute stream: the host does not wait between
 * steps; the per-step counts (arrivals, touched cells, file spikes) are read by the
 * kernels from device memory, so the host never needs them. The host waits once per window, for
 * the number of spikes the window produced (src/sim/sim_dev.c needs it to size the exchange).
 *
 * Accumulation: synaptic input is summed with 64-bit integer atomics, stimulus counts with 32-bit
 * integer atomics; no float atomics, so sums never depend on thread order. Compaction and the
 * arrival offsets are exclusive/inclusive prefix sums (cub::DeviceScan).
 *
 * NCCL: rank 0 makes the unique id and broadcasts it over MPI; every rank joins. The spike-word
 * allgather runs on its own stream, ordered after the compaction and before the delivery by
 * events.
 *
 * Memory: every array is allocated once, by name, with cudaMalloc, and recorded in a table; the
 * peak is reported at the end. The scan scratch is sized on first use and kept. */
#include <cuda_runtime.h>
#include <cub/device/device_scan.cuh>
#define OMPI_SKIP_MPICXX 1 /* the C API only: the MPI C++ bindings do not build warning-free */
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef FF_HAVE_NCCL
#include <nccl.h>
#endif

extern "C" {
#include "flyfit/error.h"
}
#include "flyfit/cuda_check.cuh"
#include "flyfit/sim_dev.h"

namespace {

struct Mem {
  char name[48];
  void *p;
  int64_t bytes;
};

struct Ctx {
  int device;
  cudaStream_t compute, comm_stream;
  cudaEvent_t packed, gathered, w0, w1, x0, x1;
  bool timing_pending;
  Mem *mem;
  int n_mem, cap_mem;
  int64_t bytes, peak;
  void *scratch;
  size_t scratch_bytes;
  double update_s, delivery_s;
  int nccl;
#ifdef FF_HAVE_NCCL
  ncclComm_t comm;
#endif
};

#ifdef FF_HAVE_NCCL
#define NC(call)                                                                                                  \
  do {                                                                                                            \
    const ncclResult_t r_ = (call);                                                                               \
    if (r_ != ncclSuccess)                                                                                        \
      return ff_error(FF_ERR_MPI, __FILE__, __LINE__, #call, "NCCL: %s failed: %s", #call, ncclGetErrorString(r_)); \
  } while (0)
#endif

/* ---- kernels: loops around the bodies of sim_dev.h ------------------------------------------- */

__global__ void k_fire(FfDev d, int32_t k) {
  GRID_STRIDE(c, (int64_t)d.B * d.n) ff_dev_k_fire(&d, c, k);
}

/* One warp per arriving spike; its lanes walk the spike's connections. */
__global__ void k_arrive(FfDev d, int32_t k) {
  int64_t a0, a1;
  ff_dev_arrivals(&d, k, &a0, &a1);
  const int lane = threadIdx.x & 31;
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t a = a0 + warp; a < a1; a += warps) {
    const int64_t p = d.arr[a];
    const int64_t e0 = d.pre_indptr[p], e1 = d.pre_indptr[p + 1];
    if (lane == 0) ff_dev_add_u64(d.events, (unsigned long long)(e1 - e0));
    for (int64_t e = e0 + lane; e < e1; e += 32) ff_dev_k_arrive(&d, d.arr_b[a], e);
  }
}

__global__ void k_poisson(FfDev d, int32_t k) {
  GRID_STRIDE(q, (int64_t)d.B * d.n_poisson) ff_dev_k_poisson(&d, q, k);
}

__global__ void k_file(FfDev d, int32_t k) {
  const int64_t nf = d.file_off[k + 1] - d.file_off[k];
  GRID_STRIDE(q, (int64_t)d.B * nf) ff_dev_k_file(&d, q, k);
}

__global__ void k_background(FfDev d, int32_t k) {
  GRID_STRIDE(c, (int64_t)d.B * d.n) ff_dev_k_background(&d, c, k);
}

__global__ void k_update(FfDev d, int32_t k) {
  const int64_t n = *d.n_touched;
  GRID_STRIDE(q, n) ff_dev_k_update(&d, q, k);
}

__global__ void k_state(FfDev d, int32_t k) {
  GRID_STRIDE(q, (int64_t)d.B * d.n_state) ff_dev_k_state(&d, q, k);
}

/* wcount widened to 64 bits, to be scanned in place into spk_off */
__global__ void k_widen(FfDev d) {
  GRID_STRIDE(c, (int64_t)d.B * d.n) d.spk_off[c] = d.wcount[c];
}

__global__ void k_total(FfDev d) {
  const int64_t cells = (int64_t)d.B * d.n;
  if (blockIdx.x == 0 && threadIdx.x == 0) *d.n_spk = cells > 0 ? d.spk_off[cells - 1] + d.wcount[cells - 1] : 0;
}

__global__ void k_scatter(FfDev d) {
  GRID_STRIDE(c, (int64_t)d.B * d.n) ff_dev_k_scatter(&d, c);
}

__global__ void k_lookup(FfDev d, const uint64_t *words, int64_t n) {
  GRID_STRIDE(q, n) ff_dev_k_lookup(&d, words, q);
}

__global__ void k_place(FfDev d, const uint64_t *words, int64_t n) {
  GRID_STRIDE(q, n) ff_dev_k_place(&d, words, q);
}

/* ---- launching ------------------------------------------------------------------------------- */

/* The one launcher: `blocks` blocks (blocks_for the elements) on the compute stream, checked. */
template <typename... Params, typename... Args>
int launch(Ctx *x, const char *name, void (*kernel)(Params...), unsigned blocks, unsigned threads, Args... args) {
  kernel<<<blocks, threads, 0, x->compute>>>(args...);
  CU_LAUNCHED(name);
  return FF_OK;
}

/* One kernel of step k (sim_dev.h's list): its grid covers the elements it loops over. */
int launch_step(Ctx *x, const FfDev *d, FfDevKernel kind, int32_t k, int64_t n_file_window, int64_t arrivals) {
  const int64_t cells = (int64_t)d->B * d->n;
  switch (kind) {
  case FF_DEV_FIRE: return launch(x, "k_fire", k_fire, ff_blocks_for(cells), kFfThreads, *d, k);
  /* the number of this step's arrivals is on the device: the grid covers the window's, one warp each */
  case FF_DEV_ARRIVE: return launch(x, "k_arrive", k_arrive, ff_blocks_for(arrivals * 32), kFfThreads, *d, k);
  case FF_DEV_POISSON:
    return launch(x, "k_poisson", k_poisson, ff_blocks_for((int64_t)d->B * d->n_poisson), kFfThreads, *d, k);
  case FF_DEV_FILE: return launch(x, "k_file", k_file, ff_blocks_for((int64_t)d->B * n_file_window), kFfThreads, *d, k);
  case FF_DEV_BACKGROUND: return launch(x, "k_background", k_background, ff_blocks_for(cells), kFfThreads, *d, k);
  case FF_DEV_UPDATE:
    FF_TRY(launch(x, "k_update", k_update, ff_blocks_for(cells), kFfThreads, *d, k));
    CU(cudaMemsetAsync(d->n_touched, 0, sizeof(uint32_t), x->compute));
    return FF_OK;
  case FF_DEV_STATE: return launch(x, "k_state", k_state, ff_blocks_for((int64_t)d->B * d->n_state), kFfThreads, *d, k);
  case FF_DEV_KERNELS: break;
  }
  return FF_ERROR(FF_ERR_INTERNAL, "no kernel %d", (int)kind);
}

/* In-place prefix sum of n int64 values on the compute stream (inclusive or exclusive). */
int scan(Ctx *x, int64_t *v, int64_t n, bool inclusive) {
  if (n <= 0) return FF_OK;
  size_t need = 0;
  if (inclusive) CU(cub::DeviceScan::InclusiveSum(nullptr, need, v, v, n, x->compute));
  else CU(cub::DeviceScan::ExclusiveSum(nullptr, need, v, v, n, x->compute));
  if (need > x->scratch_bytes) { /* once per size class; counted like every array */
    if (x->scratch) {
      CU(cudaStreamSynchronize(x->compute));
      CU(cudaFree(x->scratch));
      x->bytes -= (int64_t)x->scratch_bytes;
    }
    CU(cudaMalloc(&x->scratch, need));
    x->scratch_bytes = need;
    x->bytes += (int64_t)need;
    if (x->bytes > x->peak) x->peak = x->bytes;
  }
  size_t have = x->scratch_bytes;
  if (inclusive) CU(cub::DeviceScan::InclusiveSum(x->scratch, have, v, v, n, x->compute));
  else CU(cub::DeviceScan::ExclusiveSum(x->scratch, have, v, v, n, x->compute));
  return FF_OK;
}

/* ---- the FfDevOps table ---------------------------------------------------------------------- */

/* Collective with nccl: all ranks of *mpi_comm must call it (rank 0 makes NCCL's unique id). */
int cu_init(void **ctx, int device, int nccl, void *mpi_comm) {
  Ctx *x = (Ctx *)calloc(1, sizeof(Ctx));
  if (x == nullptr) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
  *ctx = x;
  x->device = device;
  x->nccl = nccl;
  CU(cudaSetDevice(device));
  CU(cudaStreamCreateWithFlags(&x->compute, cudaStreamNonBlocking));
  CU(cudaStreamCreateWithFlags(&x->comm_stream, cudaStreamNonBlocking));
  CU(cudaEventCreateWithFlags(&x->packed, cudaEventDisableTiming));
  CU(cudaEventCreateWithFlags(&x->gathered, cudaEventDisableTiming));
  CU(cudaEventCreate(&x->w0));
  CU(cudaEventCreate(&x->w1));
  CU(cudaEventCreate(&x->x0));
  CU(cudaEventCreate(&x->x1));
  if (nccl) {
#ifdef FF_HAVE_NCCL
    MPI_Comm comm = *(MPI_Comm *)mpi_comm;
    int rank = 0, size = 1;
    FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
    FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
    ncclUniqueId id;
    if (rank == 0) NC(ncclGetUniqueId(&id));
    FF_TRY(FF_MPI(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm)));
    NC(ncclCommInitRank(&x->comm, size, id, rank));
#else
    (void)mpi_comm;
    return FF_ERROR(FF_ERR_UNSUPPORTED, "[run] transport = nccl, but this flyfit was built without NCCL: install "
                                        "NCCL next to CUDA and rebuild, or set [run] transport = mpi");
#endif
  }
  return FF_OK;
}

int cu_mem_free(void *ctx, int64_t *free_bytes, int64_t *total_bytes) {
  (void)ctx;
  size_t f = 0, t = 0;
  CU(cudaMemGetInfo(&f, &t));
  *free_bytes = (int64_t)f;
  *total_bytes = (int64_t)t;
  return FF_OK;
}

int cu_alloc(void *ctx, const char *name, int64_t bytes, void **p) {
  Ctx *x = (Ctx *)ctx;
  if (x->n_mem == x->cap_mem) {
    const int cap = x->cap_mem ? 2 * x->cap_mem : 64;
    Mem *m = (Mem *)realloc(x->mem, (size_t)cap * sizeof(Mem));
    if (m == nullptr) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
    x->mem = m;
    x->cap_mem = cap;
  }
  const size_t b = (size_t)(bytes > 0 ? bytes : 1);
  const cudaError_t e = cudaMalloc(p, b);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t f = 0, t = 0;
    cudaMemGetInfo(&f, &t);
    return FF_ERROR(FF_ERR_NOMEM, "GPU %d: cannot allocate %s (%.1f MB; %.1f MB free of %.1f MB): %s", x->device, name,
                    (double)b / 1e6, (double)f / 1e6, (double)t / 1e6, cudaGetErrorString(e));
  }
  CU(cudaMemset(*p, 0, b));
  Mem *m = &x->mem[x->n_mem++];
  snprintf(m->name, sizeof m->name, "%s", name);
  m->p = *p;
  m->bytes = (int64_t)b;
  x->bytes += (int64_t)b;
  if (x->bytes > x->peak) x->peak = x->bytes;
  return FF_OK;
}

/* A copy on the compute stream that has finished when this returns: host memory is pageable, so
 * the copy is staged, and the host side may reuse or read its buffer at once. */
int copy_sync(Ctx *x, void *dst, const void *src, int64_t bytes, cudaMemcpyKind kind) {
  if (bytes <= 0) return FF_OK;
  CU(cudaMemcpyAsync(dst, src, (size_t)bytes, kind, x->compute));
  CU(cudaStreamSynchronize(x->compute));
  return FF_OK;
}

int cu_h2d(void *ctx, void *dst, const void *src, int64_t bytes) {
  return copy_sync((Ctx *)ctx, dst, src, bytes, cudaMemcpyHostToDevice);
}

int cu_d2h(void *ctx, void *dst, const void *src, int64_t bytes) {
  return copy_sync((Ctx *)ctx, dst, src, bytes, cudaMemcpyDeviceToHost);
}

int cu_fill(void *ctx, void *p, int byte, int64_t bytes) {
  Ctx *x = (Ctx *)ctx;
  if (bytes > 0) CU(cudaMemsetAsync(p, byte, (size_t)bytes, x->compute));
  return FF_OK;
}

void cu_describe(void *ctx, char *buf, int cap) {
  const Ctx *x = (const Ctx *)ctx;
  cudaDeviceProp p;
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  if (cudaGetDeviceProperties(&p, x->device) != cudaSuccess) {
    cudaGetLastError();
    snprintf(buf, (size_t)cap, "GPU %d (properties unavailable)", x->device);
    return;
  }
  int len = snprintf(buf, (size_t)cap, "GPU %d %s (%.1f GB, sm_%d%d), CUDA %d.%d", x->device, p.name,
                     (double)p.totalGlobalMem / 1e9, p.major, p.minor, rt / 1000, (rt % 1000) / 10);
#ifdef FF_HAVE_NCCL
  int nv = 0;
  ncclGetVersion(&nv);
  if (len > 0 && len < cap)
    snprintf(buf + len, (size_t)(cap - len), ", NCCL %d.%d.%d", nv / 10000, (nv / 100) % 100, nv % 100);
#else
  (void)len;
#endif
}

/* The kernel times of the last window, once its events have completed. */
void collect_times(Ctx *x) {
  if (!x->timing_pending) return;
  float a = 0.f, b = 0.f;
  if (cudaEventElapsedTime(&a, x->w0, x->w1) == cudaSuccess) x->update_s += a / 1e3;
  if (cudaEventElapsedTime(&b, x->x0, x->x1) == cudaSuccess) x->delivery_s += b / 1e3;
  cudaGetLastError();
  x->timing_pending = false;
}

int cu_window(void *ctx, const FfDev *d, int32_t steps, int64_t n_file_window, int64_t arrivals) {
  Ctx *x = (Ctx *)ctx;
  CU(cudaEventRecord(x->w0, x->compute));
  for (int32_t k = 0; k < steps; ++k) { /* no host synchronisation inside the window */
    FfDevKernel kernels[FF_DEV_KERNELS];
    const int nk = ff_dev_step_kernels(d, n_file_window, arrivals, kernels);
    for (int q = 0; q < nk; ++q) FF_TRY(launch_step(x, d, kernels[q], k, n_file_window, arrivals));
  }
  CU(cudaEventRecord(x->w1, x->compute));
  return FF_OK;
}

int cu_compact(void *ctx, const FfDev *d, int64_t *n_spikes) {
  Ctx *x = (Ctx *)ctx;
  const int64_t cells = (int64_t)d->B * d->n;
  CU(cudaEventRecord(x->x0, x->compute));
  FF_TRY(launch(x, "k_widen", k_widen, ff_blocks_for(cells), kFfThreads, *d));
  FF_TRY(scan(x, d->spk_off, cells, false));
  FF_TRY(launch(x, "k_total", k_total, 1, 32, *d));
  FF_TRY(launch(x, "k_scatter", k_scatter, ff_blocks_for(cells), kFfThreads, *d));
  CU(cudaEventRecord(x->x1, x->compute));
  CU(cudaEventRecord(x->packed, x->compute));
  CU(cudaMemcpyAsync(n_spikes, d->n_spk, sizeof(int64_t), cudaMemcpyDeviceToHost, x->compute));
  CU(cudaStreamSynchronize(x->compute));
  x->timing_pending = true;
  collect_times(x);
  return FF_OK;
}

/* Collective: all ranks of the NCCL communicator must call it. */
int cu_allgather(void *ctx, const uint64_t *send, uint64_t *recv, int64_t per_rank) {
#ifdef FF_HAVE_NCCL
  Ctx *x = (Ctx *)ctx;
  if (!x->nccl) return FF_ERROR(FF_ERR_INTERNAL, "NCCL allgather without an NCCL communicator");
  /* on the exchange stream, after the compaction (and the padding) on the compute stream */
  CU(cudaEventRecord(x->packed, x->compute));
  CU(cudaStreamWaitEvent(x->comm_stream, x->packed, 0));
  NC(ncclAllGather(send, recv, (size_t)per_rank, ncclUint64, x->comm, x->comm_stream));
  CU(cudaEventRecord(x->gathered, x->comm_stream));
  CU(cudaStreamWaitEvent(x->compute, x->gathered, 0));
  return FF_OK;
#else
  (void)ctx; (void)send; (void)recv; (void)per_rank;
  return FF_ERROR(FF_ERR_UNSUPPORTED, "this flyfit was built without NCCL: set [run] transport = mpi");
#endif
}

int cu_deliver(void *ctx, const FfDev *d, const uint64_t *words, int64_t n, int64_t cap, int64_t *kept) {
  Ctx *x = (Ctx *)ctx;
  const int64_t slots = (int64_t)d->D * d->B;
  CU(cudaMemsetAsync(d->arr_off, 0, (size_t)(slots + 1) * sizeof(int64_t), x->compute));
  CU(cudaMemsetAsync(d->slot_fill, 0, (size_t)slots * sizeof(int64_t), x->compute));
  if (n > 0) FF_TRY(launch(x, "k_lookup", k_lookup, ff_blocks_for(n), kFfThreads, *d, words, n));
  FF_TRY(scan(x, d->arr_off + 1, slots, true));
  CU(cudaMemcpyAsync(kept, d->arr_off + slots, sizeof(int64_t), cudaMemcpyDeviceToHost, x->compute));
  CU(cudaStreamSynchronize(x->compute));
  if (*kept <= cap && n > 0) FF_TRY(launch(x, "k_place", k_place, ff_blocks_for(n), kFfThreads, *d, words, n));
  return FF_OK;
}

void cu_times(void *ctx, double *update_s, double *delivery_s) {
  Ctx *x = (Ctx *)ctx;
  if (cudaStreamSynchronize(x->compute) == cudaSuccess) collect_times(x);
  cudaGetLastError();
  *update_s = x->update_s;
  *delivery_s = x->delivery_s;
}

int64_t cu_peak(void *ctx) { return ((const Ctx *)ctx)->peak; }

void cu_destroy(void *ctx) {
  Ctx *x = (Ctx *)ctx;
  if (x == nullptr) return;
  cudaStreamSynchronize(x->compute);
#ifdef FF_HAVE_NCCL
  if (x->nccl && x->comm) ncclCommDestroy(x->comm);
#endif
  for (int k = 0; k < x->n_mem; ++k) cudaFree(x->mem[k].p);
  if (x->scratch) cudaFree(x->scratch);
  free(x->mem);
  if (x->compute) cudaStreamDestroy(x->compute);
  if (x->comm_stream) cudaStreamDestroy(x->comm_stream);
  cudaEvent_t ev[] = {x->packed, x->gathered, x->w0, x->w1, x->x0, x->x1};
  for (cudaEvent_t e : ev)
    if (e) cudaEventDestroy(e);
  cudaGetLastError();
  free(x);
}

const FfDevOps ops = {"cuda",     cu_init,    cu_mem_free,  cu_alloc,  cu_h2d,   cu_d2h,  cu_fill,    cu_describe,
                      cu_window,  cu_compact, cu_allgather, cu_deliver, cu_times, cu_peak, cu_destroy};

} // namespace

extern "C" const FfDevOps *ff_dev_ops_cuda(void) { return &ops; }
