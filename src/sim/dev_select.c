/* Which GPU each rank drives ([run] backend = cuda or emulate; include/flyfit/sim.h): the rank's
 * place among the ranks of its node picks an entry of [run] devices, or the GPU of that number.
 * One rank per GPU: more ranks on a node than GPUs (or listed devices) is refused, naming the host
 * and both numbers, before anything is set up. */
#include "flyfit/cuda.h"
#include "flyfit/error.h"
#include "flyfit/sim.h"
#include "flyfit/sim_dev.h"

#include <stdlib.h>

enum { MAX_DEVICES = 1024 };

/* The ids of [run] devices ("0, 1,3"; checked by ff_config_finish), at most MAX_DEVICES. */
static int parse_devices(const char *text, int *list) {
  int n = 0;
  for (const char *p = text; *p && n < MAX_DEVICES;) {
    char *end;
    while (*p == ' ' || *p == ',') ++p;
    if (!*p) break;
    list[n++] = (int)strtol(p, &end, 10);
    p = end;
  }
  return n;
}

/* Collective: all ranks of comm must call it. This rank's number in comm, and its number and the
 * rank count on its node. */
static int node_place(MPI_Comm comm, int *rank, int *local, int *local_size) {
  MPI_Comm node = MPI_COMM_NULL;
  int st = FF_MPI(MPI_Comm_rank(comm, rank));
  FF_CALL(st, FF_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node)));
  FF_CALL(st, FF_MPI(MPI_Comm_rank(node, local)));
  FF_CALL(st, FF_MPI(MPI_Comm_size(node, local_size)));
  if (node != MPI_COMM_NULL) FF_CALL(st, FF_MPI(MPI_Comm_free(&node)));
  return st;
}

int ff_dev_select(const FfConfig *cfg, MPI_Comm comm, int *device) {
  *device = -1;
  if (cfg->backend == FF_BACKEND_CPU) return FF_OK;
  int rank = 0, local = 0, local_size = 1, hl = 0;
  FF_TRY(node_place(comm, &rank, &local, &local_size));
  char host[MPI_MAX_PROCESSOR_NAME];
  FF_TRY(FF_MPI(MPI_Get_processor_name(host, &hl)));
  int list[MAX_DEVICES];
  const int n_list = parse_devices(cfg->devices, list);
  if (n_list > 0 && local_size > n_list)
    return FF_ERROR(FF_ERR_INPUT, "host %s runs %d ranks, but [run] devices lists %d GPU%s: one rank per GPU; list "
                                  "%d ids or start fewer ranks per node",
                    host, local_size, n_list, n_list == 1 ? "" : "s", local_size);
  *device = n_list > 0 ? list[local] : local;
  if (cfg->backend == FF_BACKEND_EMULATE) return FF_OK;
  if (ff_dev_ops_cuda() == NULL)
    return FF_ERROR(FF_ERR_INPUT, "[run] backend = cuda, but this flyfit was built without CUDA (no nvcc at build "
                                  "time): rebuild with the CUDA toolkit installed (make CUDA=1), or set [run] "
                                  "backend = cpu");
  const int count = ff_cuda_device_count();
  if (count == 0)
    return FF_ERROR(FF_ERR_INPUT, "[run] backend = cuda, but host %s has no usable CUDA GPU (rank %d): run on a GPU "
                                  "node, or set [run] backend = cpu",
                    host, rank);
  if (n_list == 0 && local_size > count)
    return FF_ERROR(FF_ERR_INPUT, "host %s runs %d ranks but has %d GPU%s: one rank per GPU; start at most %d ranks "
                                  "per node (e.g. srun --ntasks-per-node=%d)",
                    host, local_size, count, count == 1 ? "" : "s", count, count);
  if (*device >= count)
    return FF_ERROR(FF_ERR_INPUT, "[run] devices names GPU %d, but host %s has %d (ids 0..%d)", *device, host, count,
                    count - 1);
  return FF_OK;
}
