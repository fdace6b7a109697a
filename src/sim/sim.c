/* The simulation driver (include/flyfit/sim.h): windows of D steps, one spike exchange per
 * window (include/flyfit/exchange.h), which also stops every rank at the next window when one
 * fails; the table of backends; what every backend derives the same way (flags, initial state). */
#include "flyfit/sim.h"
#include "flyfit/error.h"
#include "flyfit/exchange.h"
#include "flyfit/log.h"
#include "flyfit/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Collective: all ranks of comm must call it. The worst status of all ranks: this rank's own, or an
 * error saying `why` when another rank failed. */
static int agree(int status, MPI_Comm comm, const char *why) {
  int any = status;
  FF_TRY(FF_MPI(MPI_Allreduce(&status, &any, 1, MPI_INT, MPI_MAX, comm)));
  if (status == FF_OK && any != FF_OK) return FF_ERROR_PEER(any, "%s", why);
  return status;
}

/* Every backend, at the index of its [run] backend kind. */
static const FfBackend *const backends[] = {
    [FF_BACKEND_CPU] = &ff_backend_cpu,
    [FF_BACKEND_CUDA] = &ff_backend_cuda,
    [FF_BACKEND_EMULATE] = &ff_backend_emulate,
};

const FfBackend *ff_backend_find(int kind) {
  return kind >= 0 && kind < (int)(sizeof backends / sizeof backends[0]) ? backends[kind] : NULL;
}

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

void ff_sim_flags(const FfSimSetup *s, uint8_t *flags) {
  const FfStimulus *st = s->stim;
  const FfNet *net = s->net;
  memset(flags, 0, (size_t)net->n_local);
  for (int64_t k = 0; k < st->n_poisson; ++k) {
    const int32_t i = ff_net_local(net, st->poisson[k]);
    if (i >= 0) flags[i] |= FF_NF_DRIVEN | FF_NF_POISSON;
  }
  for (int64_t k = 0; k < st->n_file; ++k) {
    const int32_t i = ff_net_local(net, st->file_gid[k]);
    if (i >= 0) flags[i] |= FF_NF_DRIVEN;
  }
  for (int64_t k = 0; k < st->n_silence; ++k) {
    const int32_t i = ff_net_local(net, st->silence[k]);
    if (i >= 0) flags[i] |= FF_NF_SILENT;
  }
  if (st->record_all) {
    for (int32_t i = 0; i < net->n_local; ++i) flags[i] |= FF_NF_RECORD;
  } else {
    for (int64_t k = 0; k < st->n_record; ++k) {
      const int32_t i = ff_net_local(net, st->record[k]);
      if (i >= 0) flags[i] |= FF_NF_RECORD;
    }
  }
}

void ff_sim_initial_state(const FfModel *m, uint64_t seed, int64_t gid, int32_t b, double *u, double *g) {
  *u = 0.0;
  *g = 0.0;
  if (m->v_init_sd > 0.0 || m->g_init_max > 0.0) {
    uint32_t w[4];
    ff_rng4(seed, FF_STREAM_INIT, 0, (uint32_t)gid, (uint32_t)b, w);
    const double r = sqrt(-2.0 * log(ff_u01(w[0])));
    *u = m->v_init_sd * r * cos(6.283185307179586 * ff_u01(w[1]));
    *g = m->g_init_max * ff_u01(w[2]);
  }
}

/* Collective: all ranks of comm must call it. Sets up the exchange of the driver (the MPI one; a
 * backend that moves spikes itself only reports its own) and logs which is used. */
static int exchange_create(const FfSimSetup *s, MPI_Comm comm, int by_backend, FfExchange **x, FfSimOutput *out) {
  int size;
  double mean_dests;
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &size)));
  FF_TRY(ff_exchange_create(s->net, s->exchange, comm, x, &mean_dests));
  out->exchange = ff_exchange_mode(*x);
  if (by_backend) { /* the backend moves the spikes itself, device to device */
    if (out->exchange == FF_EXCHANGE_TARGETED && s->exchange == FF_EXCHANGE_TARGETED)
      ff_log("note: [run] exchange = targeted is done over MPI only; transport = nccl uses allgather");
    out->exchange = FF_EXCHANGE_ALLGATHER;
    ff_log("spike exchange: allgather between the devices, NCCL (a neuron's spikes are needed on %.2f of %d ranks "
           "on average)", mean_dests, size);
  } else
    ff_log("spike exchange: %s (a neuron's spikes are needed on %.2f of %d ranks on average)",
           out->exchange == FF_EXCHANGE_TARGETED ? "targeted, MPI_Alltoallv" : "allgather, MPI_Allgatherv",
           mean_dests, size);
  return FF_OK;
}

/* Collective: all ranks of x's comm must call it, whatever their status. The spikes of window w
 * over MPI: packed by the backend, exchanged, and the arrivals of window w + 1 handed to it. */
static int exchange_mpi(const FfBackend *be, void *st, FfExchange *x, int64_t w, int status, FfExchangeStats *xs,
                        FfSimOutput *out) {
  const double t0 = ff_wall_seconds();
  const int64_t n = status ? 0 : be->emitted(st);
  uint64_t *send = NULL;
  FF_CALL(status, ff_exchange_send_buffer(x, n, &send));
  if (status == FF_OK) be->pack(st, w, send);
  out->pack_s += ff_wall_seconds() - t0;
  const uint64_t *recv;
  int64_t got;
  status = ff_exchange_run(x, n, status, &recv, &got, xs);
  const double t1 = ff_wall_seconds();
  FF_CALL(status, be->deliver(st, w + 1, recv, got));
  out->unpack_s += ff_wall_seconds() - t1;
  return status;
}

/* Collective: all ranks of comm must call it. Every window, each followed by an exchange but the
 * last; the ranks agree on the outcome before the backend's (collective) finish. */
static int run(const FfBackend *be, void *st, const FfSimSetup *s, MPI_Comm comm, FfSimOutput *out) {
  const int by_backend = be->exchange != NULL && s->transport == FF_TRANSPORT_NCCL;
  FfExchange *x;
  FF_TRY(exchange_create(s, comm, by_backend, &x, out));
  const int32_t D = s->model->delay_steps;
  const int64_t n_windows = ff_window_count(s->n_steps, D);
  FfProgress prog;
  ff_progress_start(&prog, "simulated", "ms", (double)s->n_steps * s->model->dt_ms, s->progress_s);
  FfExchangeStats xs = {0, 0, 0.0, 0.0};
  int status = FF_OK;
  for (int64_t w = 0; w < n_windows && status == FF_OK; ++w) {
    const double t0 = ff_wall_seconds();
    status = be->run_window(st, w);
    out->compute_s += ff_wall_seconds() - t0;
    if (w + 1 < n_windows) {
      status = by_backend ? be->exchange(st, w, status, &xs) : exchange_mpi(be, st, x, w, status, &xs, out);
      out->windows++;
    }
    ff_progress_update(&prog, (double)ff_window(w, D, s->n_steps).end * s->model->dt_ms);
  }
  ff_exchange_destroy(&x);
  out->words_sent = xs.words_sent;
  out->words_recv = xs.words_recv;
  out->pack_s += xs.pack_s;
  out->comm_s = xs.comm_s;
  /* the last window has no exchange to carry a failure to the other ranks */
  FF_TRY(agree(status, comm, "another rank failed in the last window"));
  return be->finish(st, out);
}

int ff_sim_run(const FfBackend *be, const FfSimSetup *s, MPI_Comm comm, FfSimOutput *out) {
  void *st = NULL;
  memset(out, 0, sizeof *out);
  if (be == NULL) return FF_ERROR(FF_ERR_INTERNAL, "no simulation backend");
  double t0 = ff_wall_seconds();
  int status = be->create(s, &st);
  out->create_s = ff_wall_seconds() - t0;
  /* creation may fail on one rank only (memory): agree before the first collective of the run */
  status = agree(status, comm, "another rank failed to set up the simulation");
  FF_CALL(status, run(be, st, s, comm, out));
  be->destroy(st);
  return status;
}
