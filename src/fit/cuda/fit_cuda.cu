/* backend = cuda for round 1 and the prediction's network: the kernels of include/flyfit/fit_dev.h
 * on one GPU per rank.
 *
 * One kernel, k_fit, loops over the elements of a launch and runs ff_fitd_kernel, the body the CPU's
 * emulation runs serially in a scrambled order (backend = emulate): the same FF_HD arithmetic (no FMA:
 * --fmad=false), integer atomics only, so the same bits as the CPU in any thread order. The kind is
 * the same for every thread of a launch, so its switch never diverges.
 *
 * Memory: every array of the network (src/fit/fit_net.c's allocation table) is CUDA managed memory,
 * which the host parts of the algorithm (a batch's start, the window's compaction and exchange, the
 * exact reductions, the neuropil sums) read and write in place; each launch waits for its kernel
 * before the host goes on. That is the simple, correct first form: a device-resident window (the
 * simulation's scan and NCCL placement, src/sim/cuda/sim_cuda.cu) is the next step for speed.
 *
 * Sparse x dense delivery (FF_FITK_SPMM) is cuSPARSE's SpMM: the connections by target as CSR (32-bit
 * indices: ff_fit_create_spmm refuses more than 2^31 - 1 connections) with the fixed-point weights as
 * doubles, times the step's arrival matrix as doubles [stand-ins x trials], in CUDA_R_64F. Every partial
 * sum is an integer below 2^53 (fit_net.h: spmm_ok), so exact in whatever order and with whatever FMA
 * cuSPARSE uses: the bits of ff_fitd_spmm, which the emulation runs. */
#include <cuda_runtime.h>
#include <cusparse.h>
#define OMPI_SKIP_MPICXX 1 /* fit.h's MPI_Comm: the C API only (the C++ bindings do not build warning-free) */
#define MPICH_SKIP_MPICXX 1
#include <stdio.h>
#include <string.h>

#include "flyfit/cuda_check.cuh"
#include "flyfit/fit_dev.h"

namespace {

__global__ void k_fit(FfFitDev d, FfFitBack k, FfFitArgs a, FfFitKernel kind, int64_t n) {
  GRID_STRIDE(q, n) ff_fitd_kernel(&d, &k, &a, kind, q);
}

const char *const kNames[FF_FITK_KINDS] = {"deliver",    "spmm",      "update",        "pathways",
                                           "lowrank",    "arrive",    "decay",         "dldc",
                                           "encoder_grad", "connection_grad", "adam"};

#define CUSPARSE(call)                                                                                   \
  do {                                                                                                  \
    const cusparseStatus_t s_ = (call);                                                                 \
    if (s_ != CUSPARSE_STATUS_SUCCESS)                                                                  \
      return ff_error(FF_ERR_INTERNAL, __FILE__, __LINE__, #call, "cuSPARSE: %s failed: %s", #call,     \
                      cusparseGetErrorString(s_));                                                      \
  } while (0)

/* cuSPARSE's handle and the device buffers of SpMM, grown as needed and kept. */
struct Spmm {
  cusparseHandle_t handle;
  int32_t *rows;
  double *w, *x, *y;
  char *work;
  int64_t rows_cap, w_cap, x_cap, y_cap, work_cap;
};
Spmm sp;

template <typename T>
int grow(T **p, int64_t *cap, int64_t n) {
  if (n <= *cap) return FF_OK;
  cudaFree(*p);
  *p = nullptr;
  *cap = 0;
  CU(cudaMalloc((void **)p, (size_t)(n > 0 ? n : 1) * sizeof(T)));
  *cap = n;
  return FF_OK;
}

__global__ void k_rows(const int64_t *in, int32_t *out, int64_t n) {
  GRID_STRIDE(q, n) out[q] = (int32_t)in[q];
}

__global__ void k_widen_w(const int64_t *in, double *out, int64_t n) {
  GRID_STRIDE(q, n) out[q] = (double)in[q];
}

__global__ void k_widen_x(const uint8_t *in, double *out, int64_t n) {
  GRID_STRIDE(q, n) out[q] = (double)in[q];
}

/* Y [n x Bc] (row-major, ld B) into the trial-major accumulators, as ff_fitd_spmm adds its sum. */
__global__ void k_spmm_add(FfFitDev d, const double *y, int32_t Bc) {
  GRID_STRIDE(q, (int64_t)d.n * Bc) {
    const int64_t j = q / Bc, b = q % Bc;
    d.acc[b * d.n + j] += (int64_t)y[j * d.B + b];
  }
}

int spmm(const FfFitDev *d, const FfFitArgs *a) {
  const int64_t n = d->n, n_pre = a->n_pre, B = d->B, Bc = a->Bc;
  const int64_t E = a->t_indptr[n]; /* managed memory: the host reads it, no kernel is running */
  if (E == 0 || n_pre == 0 || Bc == 0) return FF_OK;
  if (!sp.handle) CUSPARSE(cusparseCreate(&sp.handle));
  FF_TRY(grow(&sp.rows, &sp.rows_cap, n + 1));
  FF_TRY(grow(&sp.w, &sp.w_cap, E));
  FF_TRY(grow(&sp.x, &sp.x_cap, n_pre * B));
  FF_TRY(grow(&sp.y, &sp.y_cap, n * B));
  k_rows<<<ff_blocks_for(n + 1), kFfThreads>>>(a->t_indptr, sp.rows, n + 1);
  CU_LAUNCHED("k_rows");
  k_widen_w<<<ff_blocks_for(E), kFfThreads>>>(a->t_w, sp.w, E);
  CU_LAUNCHED("k_widen_w");
  k_widen_x<<<ff_blocks_for(n_pre * B), kFfThreads>>>(a->xdense, sp.x, n_pre * B);
  CU_LAUNCHED("k_widen_x");
  cusparseSpMatDescr_t A = nullptr;
  cusparseDnMatDescr_t X = nullptr, Y = nullptr;
  const double one = 1.0, zero = 0.0;
  size_t need = 0;
  cusparseStatus_t s = cusparseCreateCsr(&A, n, n_pre, E, sp.rows, (void *)a->t_pre, sp.w, CUSPARSE_INDEX_32I,
                                         CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_64F);
  if (s == CUSPARSE_STATUS_SUCCESS) s = cusparseCreateDnMat(&X, n_pre, Bc, B, sp.x, CUDA_R_64F, CUSPARSE_ORDER_ROW);
  if (s == CUSPARSE_STATUS_SUCCESS) s = cusparseCreateDnMat(&Y, n, Bc, B, sp.y, CUDA_R_64F, CUSPARSE_ORDER_ROW);
  if (s == CUSPARSE_STATUS_SUCCESS)
    s = cusparseSpMM_bufferSize(sp.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, A,
                                X, &zero, Y, CUDA_R_64F, CUSPARSE_SPMM_ALG_DEFAULT, &need);
  int st = FF_OK;
  if (s == CUSPARSE_STATUS_SUCCESS) st = grow(&sp.work, &sp.work_cap, (int64_t)need);
  if (s == CUSPARSE_STATUS_SUCCESS && st == FF_OK)
    s = cusparseSpMM(sp.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, A, X, &zero, Y,
                     CUDA_R_64F, CUSPARSE_SPMM_ALG_DEFAULT, sp.work);
  if (A) cusparseDestroySpMat(A);
  if (X) cusparseDestroyDnMat(X);
  if (Y) cusparseDestroyDnMat(Y);
  FF_TRY(st);
  CUSPARSE(s);
  k_spmm_add<<<ff_blocks_for(n * Bc), kFfThreads>>>(*d, sp.y, (int32_t)Bc);
  CU_LAUNCHED("k_spmm_add");
  CU(cudaDeviceSynchronize());
  return FF_OK;
}

}  // namespace

extern "C" int ff_fit_cuda_init(int device, char *desc, int cap) {
  CU(cudaSetDevice(device));
  int managed = 0;
  CU(cudaDeviceGetAttribute(&managed, cudaDevAttrManagedMemory, device));
  cudaDeviceProp p;
  CU(cudaGetDeviceProperties(&p, device));
  if (!managed)
    return FF_ERROR(FF_ERR_INPUT, "GPU %d (%s) has no managed memory, which round 1 on the GPU needs: set [run] "
                                  "backend = cpu",
                    device, p.name);
  snprintf(desc, (size_t)cap, "GPU %d %s (%.1f GB, sm_%d%d)", device, p.name, (double)p.totalGlobalMem / 1e9, p.major,
           p.minor);
  return FF_OK;
}

extern "C" int ff_fit_cuda_alloc(void **p, int64_t bytes, const char *what) {
  *p = NULL;
  if (bytes < 1) bytes = 1;
  const cudaError_t e = cudaMallocManaged(p, (size_t)bytes, cudaMemAttachGlobal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    *p = NULL;
    return FF_ERROR(FF_ERR_NOMEM, "GPU: cannot allocate %s (%.1f MB; %.1f MB free of %.1f MB): %s", what,
                    (double)bytes / 1e6, (double)free_b / 1e6, (double)total_b / 1e6, cudaGetErrorString(e));
  }
  CU(cudaMemset(*p, 0, (size_t)bytes));
  CU(cudaDeviceSynchronize());
  return FF_OK;
}

extern "C" void ff_fit_cuda_free(void *p) {
  if (p) cudaFree(p);
}

extern "C" int ff_fit_cuda_launch(const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, int kind, int64_t n) {
  if (n <= 0) return FF_OK;
  if (kind < 0 || kind >= FF_FITK_KINDS) return FF_ERROR(FF_ERR_INTERNAL, "no round-1 kernel of kind %d", kind);
  if (kind == FF_FITK_SPMM) return spmm(d, a);
  FfFitBack kb;
  FfFitArgs ab;
  memset(&kb, 0, sizeof kb);
  memset(&ab, 0, sizeof ab);
  if (k) kb = *k;
  if (a) ab = *a;
  k_fit<<<ff_blocks_for(n), kFfThreads>>>(*d, kb, ab, (FfFitKernel)kind, n);
  CU_LAUNCHED(kNames[kind]);
  CU(cudaDeviceSynchronize()); /* the host reads the results in place */
  return FF_OK;
}
