/* The simulation driver (include/flyfit/sim.h): windows of D steps, one spike exchange per
 * window. Spike counts travel in the same MPI_Allgather as an error flag (a negative count), so a
 * rank that fails stops every rank at the next window instead of leaving them waiting. */
#include "flyfit/sim.h"
#include "flyfit/error.h"
#include "flyfit/log.h"

#include <stdlib.h>
#include <string.h>

void ff_sim_output_destroy(FfSimOutput *out) {
  if (out == NULL) return;
  free(out->count);
  free(out->rec_batch);
  free(out->rec_step);
  free(out->rec_gid);
  free(out->state_gid);
  free(out->state_v);
  free(out->state_g);
  memset(out, 0, sizeof *out);
}

static int run(const FfBackend *be, void *st, const FfSimSetup *s, MPI_Comm comm, FfSimOutput *out) {
  int size, rank;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  const int64_t D = s->model->delay_steps, n_windows = (s->n_steps + D - 1) / D;
  int *counts, *displs;
  uint64_t *send = NULL, *recv = NULL;
  int64_t send_cap = 0, recv_cap = 0;
  FF_TRY(FF_MALLOC(counts, size, "exchange counts"));
  FF_TRY(FF_MALLOC(displs, size, "exchange offsets"));
  FfProgress prog;
  ff_progress_start(&prog, "simulated", "ms", (double)s->n_steps * s->model->dt_ms, s->progress_s);
  for (int64_t w = 0; w < n_windows; ++w) {
    double t0 = ff_wall_seconds();
    int status = be->run_window(st, w);
    double t1 = ff_wall_seconds();
    out->compute_s += t1 - t0;
    if (w + 1 < n_windows) {
      int64_t n = status ? 0 : be->emitted(st);
      if (n > send_cap) {
        send_cap = 2 * n;
        FF_TRY(FF_REALLOC(send, send_cap, "spikes to send"));
      }
      if (status == FF_OK) be->pack(st, w, send);
      int mine = status ? -1 : (n > INT32_MAX ? -2 : (int)n);
      MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm);
      int64_t total = 0;
      int failed = -1;
      for (int r = 0; r < size; ++r) {
        if (counts[r] < 0 && failed < 0) failed = r;
        displs[r] = (int)total;
        total += counts[r] > 0 ? counts[r] : 0;
      }
      if (status) return status;
      if (mine == -2) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window on one rank");
      if (failed >= 0) return FF_ERROR(FF_ERR_MPI, "rank %d failed in window %lld; stopping", failed, (long long)w);
      if (total > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window");
      if (total > recv_cap) {
        recv_cap = 2 * total;
        FF_TRY(FF_REALLOC(recv, recv_cap, "received spikes"));
      }
      int rc = MPI_Allgatherv(send, (int)n, MPI_UINT64_T, recv, counts, displs, MPI_UINT64_T, comm);
      if (rc != MPI_SUCCESS) return FF_ERROR(FF_ERR_MPI, "MPI_Allgatherv of spikes failed (code %d)", rc);
      out->bytes_sent += n * (int64_t)sizeof(uint64_t);
      FF_TRY(be->deliver(st, w + 1, recv, total));
      out->exchange_s += ff_wall_seconds() - t1;
    } else if (status) {
      return status;
    }
    ff_progress_update(&prog, (double)((w + 1) * D < s->n_steps ? (w + 1) * D : s->n_steps) * s->model->dt_ms);
  }
  free(counts);
  free(displs);
  free(send);
  free(recv);
  return be->finish(st, out);
}

int ff_sim_run(const FfBackend *be, const FfSimSetup *s, MPI_Comm comm, FfSimOutput *out) {
  void *st = NULL;
  memset(out, 0, sizeof *out);
  double t0 = ff_wall_seconds();
  int status = be->create(s, &st);
  out->create_s = ff_wall_seconds() - t0;
  /* creation may fail on one rank only (memory): agree before the first collective of the run */
  int any = status;
  MPI_Allreduce(&status, &any, 1, MPI_INT, MPI_MAX, comm);
  if (status == FF_OK && any != FF_OK) status = FF_ERROR(any, "another rank failed to set up the simulation");
  if (status == FF_OK) status = run(be, st, s, comm, out);
  be->destroy(st);
  if (status != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return status;
}
