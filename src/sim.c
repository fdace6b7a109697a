/* The simulation driver (include/flyfit/sim.h): windows of D steps, one spike exchange per
 * window (include/flyfit/exchange.h), which also stops every rank at the next window when one
 * fails. */
#include "flyfit/sim.h"
#include "flyfit/error.h"
#include "flyfit/exchange.h"
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
  int size;
  MPI_Comm_size(comm, &size);
  FfExchange *x;
  double mean_dests;
  FF_TRY(ff_exchange_create(s->net, s->exchange, comm, &x, &mean_dests));
  out->exchange = ff_exchange_mode(x);
  ff_log("spike exchange: %s (a neuron's spikes are needed on %.2f of %d ranks on average)",
         out->exchange == FF_EXCHANGE_TARGETED ? "targeted, MPI_Alltoallv" : "allgather, MPI_Allgatherv", mean_dests,
         size);
  const int64_t D = s->model->delay_steps, n_windows = (s->n_steps + D - 1) / D;
  FfProgress prog;
  ff_progress_start(&prog, "simulated", "ms", (double)s->n_steps * s->model->dt_ms, s->progress_s);
  FfExchangeStats xs = {0, 0, 0.0, 0.0};
  int status = FF_OK;
  for (int64_t w = 0; w < n_windows && status == FF_OK; ++w) {
    double t0 = ff_wall_seconds();
    status = be->run_window(st, w);
    double t1 = ff_wall_seconds();
    out->compute_s += t1 - t0;
    if (w + 1 < n_windows) {
      const int64_t n = status ? 0 : be->emitted(st);
      uint64_t *send = NULL;
      if (status == FF_OK) status = ff_exchange_send_buffer(x, n, &send);
      if (status == FF_OK) be->pack(st, w, send);
      out->pack_s += ff_wall_seconds() - t1;
      const uint64_t *recv;
      int64_t got;
      status = ff_exchange_run(x, n, status, &recv, &got, &xs);
      const double t2 = ff_wall_seconds();
      if (status == FF_OK) status = be->deliver(st, w + 1, recv, got);
      out->unpack_s += ff_wall_seconds() - t2;
      out->windows++;
    }
    ff_progress_update(&prog, (double)((w + 1) * D < s->n_steps ? (w + 1) * D : s->n_steps) * s->model->dt_ms);
  }
  ff_exchange_destroy(&x);
  out->words_sent = xs.words_sent;
  out->words_recv = xs.words_recv;
  out->pack_s += xs.pack_s;
  out->comm_s = xs.comm_s;
  FF_TRY(status);
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
