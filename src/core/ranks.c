/* Agreement between ranks and checked MPI calls (ranks.h, FF_MPI in error.h). */
#define _GNU_SOURCE
#include "flyfit/ranks.h"

#include <omp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flyfit/error.h"
#include "flyfit/log.h"

int ff_mpi_status(int mpi_rc, const char *call, const char *file, int line, const char *func) {
  if (mpi_rc == MPI_SUCCESS) return FF_OK;
  char why[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(mpi_rc, why, &len) != MPI_SUCCESS) snprintf(why, sizeof why, "MPI error %d", mpi_rc);
  /* the call's text up to its first parenthesis names it well enough: "MPI_Allreduce failed: ..." */
  int name = 0;
  while (call[name] && call[name] != '(') ++name;
  return ff_error(FF_ERR_MPI, file, line, func, "%.*s failed: %s", name, call, why);
}

int ff_ranks_root_status(int status, MPI_Comm comm, const char *fmt, ...) {
  int rank = 0;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm)));
  if (status == FF_OK || rank == 0) return status;
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return FF_ERROR(status, "rank 0 could not %s", what);
}

int ff_ranks_agree(int status, MPI_Comm comm) {
  int rank = 0, worst = status;
  /* if the agreement itself fails, every rank that sees it reports its own failure */
  int st = FF_MPI(MPI_Comm_rank(comm, &rank));
  FF_CALL(st, FF_MPI(MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, comm)));
  if (st != FF_OK) {
    ff_log_report_status(st);
    return st;
  }
  if (worst == FF_OK) return FF_OK;
  /* the reporter: the lowest rank that failed first-hand; ranks that only echo a peer's failure
   * (FF_ERROR_PEER) report only if no rank failed first-hand */
  int me[2] = {status && !ff_error_is_peer() ? rank : INT32_MAX, status ? rank : INT32_MAX}, first[2] = {0, 0};
  FF_CALL(st, FF_MPI(MPI_Allreduce(me, first, 2, MPI_INT, MPI_MIN, comm)));
  const int reporter = first[0] != INT32_MAX ? first[0] : first[1];
  if (st != FF_OK || rank == reporter) ff_log_report_status(st != FF_OK ? st : status);
  return st != FF_OK ? st : worst;
}

/* The CPUs this process's cgroup allows (a batch job's allocation): cpuset.cpus.effective (cgroup v2) or
 * cpuset.effective_cpus (v1) of its cgroup, "0-3,8,10-11"; 0 where it cannot be read. */
static int cgroup_cpus(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return 0;
  char line[4096], path[4300] = "";
  while (!path[0] && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *rel;
    if (!strncmp(line, "0::", 3)) snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpuset.cpus.effective", line + 3);
    else if ((rel = strstr(line, ":cpuset:")) != NULL)
      snprintf(path, sizeof path, "/sys/fs/cgroup/cpuset%s/cpuset.effective_cpus", rel + 8);
    if (path[0] && access(path, R_OK) != 0) path[0] = '\0';
  }
  fclose(f);
  FILE *c = path[0] ? fopen(path, "r") : NULL;
  if (!c) return 0;
  int n = 0, a, b;
  char sep;
  while (fscanf(c, "%d", &a) == 1) {
    b = a;
    if (fscanf(c, "%c", &sep) == 1 && sep == '-' && fscanf(c, "%d", &b) == 1) (void)fscanf(c, "%c", &sep);
    n += b >= a ? b - a + 1 : 0;
  }
  fclose(c);
  return n;
}

int ff_ranks_cores(MPI_Comm comm) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (sched_getaffinity(0, sizeof mine, &mine) != 0)
    for (int c = 0; c < omp_get_num_procs() && c < CPU_SETSIZE; ++c) CPU_SET(c, &mine);
  MPI_Comm node = MPI_COMM_NULL;
  int local = 1, sharing = 1;
  int st = FF_MPI(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  FF_CALL(st, FF_MPI(MPI_Comm_size(node, &local)));
  cpu_set_t *all = st == FF_OK ? malloc((size_t)local * sizeof *all) : NULL;
  if (all == NULL) st = FF_ERR_NOMEM; /* a few hundred bytes: never seen, but never a NULL buffer to MPI */
  FF_CALL(st, FF_MPI(MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, node)));
  int used = 0, local_rank = 0;
  if (st == FF_OK) {
    sharing = 0;
    cpu_set_t any;
    CPU_ZERO(&any);
    for (int q = 0; q < local; ++q) {
      cpu_set_t both;
      CPU_AND(&both, &mine, &all[q]);
      sharing += CPU_COUNT(&both) > 0;
      CPU_OR(&any, &any, &all[q]);
    }
    used = CPU_COUNT(&any);
    (void)MPI_Comm_rank(node, &local_rank);
  }
  free(all);
  /* mpirun binds each rank to one core by default when it starts two or fewer: the node's other cores idle */
  const int allowed = cgroup_cpus();
  const long online = allowed > 0 ? allowed : sysconf(_SC_NPROCESSORS_ONLN);
  if (st == FF_OK && local_rank == 0 && used > 0 && online > used)
    ff_warn("the ranks of this node may use %d of its %ld cores (their CPU binding): start mpirun with --bind-to "
            "none, or --map-by slot:PE=%ld for one rank per node, to use them all (or set [run] threads)",
            used, online, online / local);
  if (node != MPI_COMM_NULL) (void)FF_MPI(MPI_Comm_free(&node));
  /* without the node's view (an MPI failure) a rank counts its own cores: slower, never wrong */
  const int cores = CPU_COUNT(&mine) / (sharing > 0 ? sharing : 1);
  return cores > 0 ? cores : 1;
}
