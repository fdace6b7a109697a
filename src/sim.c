/* The simulation driver (include/flyfit/sim.h): windows of D steps, one spike exchange per
 * window. The spike counts of an exchange travel in the same collective as an error flag (a
 * negative count), so a rank that fails stops every rank at the next window instead of leaving
 * them waiting. */
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

typedef struct {
  const FfNet *net;
  MPI_Comm comm;
  int size, rank, mode;
  int *scount, *sdispl, *rcount, *rdispl;
  uint64_t *send, *recv, *sorted;
  int64_t send_cap, recv_cap, sorted_cap;
} Exchange;

static int grow(uint64_t **v, int64_t *cap, int64_t need, const char *what) {
  if (need <= *cap) return FF_OK;
  *cap = 2 * need + 1024;
  return ff_realloc_((void **)v, (size_t)*cap, sizeof **v, what, __FILE__, __LINE__, __func__);
}

/* Sends this rank's n words; on return x->recv holds *got words from every rank. status != FF_OK
 * tells the other ranks to stop; *failed is then the first failed rank, or -1. Time spent sorting
 * words by destination is added to out->pack_s, time in MPI to out->comm_s. */
static int exchange(Exchange *x, int64_t n, int status, int64_t *got, int *failed, FfSimOutput *out) {
  const FfNet *net = x->net;
  const int K = x->size;
  *failed = -1;
  *got = 0;
  double t0 = ff_wall_seconds();
  if (x->mode == FF_EXCHANGE_ALLGATHER) {
    int mine = status ? -1 : (n > INT32_MAX ? -2 : (int)n);
    MPI_Allgather(&mine, 1, MPI_INT, x->rcount, 1, MPI_INT, x->comm);
    int64_t total = 0;
    for (int r = 0; r < K; ++r) {
      if (x->rcount[r] < 0 && *failed < 0) *failed = r;
      x->rdispl[r] = (int)total;
      total += x->rcount[r] > 0 ? x->rcount[r] : 0;
    }
    if (status) return status;
    if (mine == -2) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window on one rank");
    if (*failed >= 0) return FF_ERROR(FF_ERR_MPI, "rank %d failed; stopping", *failed);
    if (total > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window");
    FF_TRY(grow(&x->recv, &x->recv_cap, total, "received spikes"));
    if (MPI_Allgatherv(x->send, (int)n, MPI_UINT64_T, x->recv, x->rcount, x->rdispl, MPI_UINT64_T, x->comm) != MPI_SUCCESS)
      return FF_ERROR(FF_ERR_MPI, "MPI_Allgatherv of spikes failed");
    *got = total;
    out->words_sent += n * (int64_t)(K - 1);
    out->words_recv += total - n;
    out->comm_s += ff_wall_seconds() - t0;
    return FF_OK;
  }
  /* targeted: each word goes to the ranks that hold a stand-in of its neuron */
  memset(x->scount, 0, (size_t)K * sizeof *x->scount);
  int64_t total_out = 0;
  for (int64_t k = 0; status == FF_OK && k < n; ++k) {
    const int64_t i = ff_spike_gid(x->send[k]) - net->new_base;
    for (int64_t d = net->dest_indptr[i]; d < net->dest_indptr[i + 1]; ++d) x->scount[net->dest[d]]++;
    total_out += net->dest_indptr[i + 1] - net->dest_indptr[i];
  }
  if (status == FF_OK && total_out > INT32_MAX) status = FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spike words in one window");
  if (status != FF_OK)
    for (int r = 0; r < K; ++r) x->scount[r] = -1;
  double t1 = ff_wall_seconds();
  out->pack_s += t1 - t0;
  MPI_Alltoall(x->scount, 1, MPI_INT, x->rcount, 1, MPI_INT, x->comm);
  int64_t total = 0;
  for (int r = 0; r < K; ++r) {
    if (x->rcount[r] < 0 && *failed < 0) *failed = r;
    x->rdispl[r] = (int)total;
    total += x->rcount[r] > 0 ? x->rcount[r] : 0;
  }
  double t2 = ff_wall_seconds();
  out->comm_s += t2 - t1;
  if (status) return status;
  if (*failed >= 0) return FF_ERROR(FF_ERR_MPI, "rank %d failed; stopping", *failed);
  if (total > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window");
  FF_TRY(grow(&x->sorted, &x->sorted_cap, total_out, "spikes to send"));
  FF_TRY(grow(&x->recv, &x->recv_cap, total, "received spikes"));
  for (int r = 0, off = 0; r < K; ++r) {
    x->sdispl[r] = off;
    off += x->scount[r];
  }
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = ff_spike_gid(x->send[k]) - net->new_base;
    for (int64_t d = net->dest_indptr[i]; d < net->dest_indptr[i + 1]; ++d) x->sorted[x->sdispl[net->dest[d]]++] = x->send[k];
  }
  for (int r = 0, off = 0; r < K; ++r) { /* the fill advanced the offsets; restore them */
    x->sdispl[r] = off;
    off += x->scount[r];
  }
  double t3 = ff_wall_seconds();
  out->pack_s += t3 - t2;
  if (MPI_Alltoallv(x->sorted, x->scount, x->sdispl, MPI_UINT64_T, x->recv, x->rcount, x->rdispl, MPI_UINT64_T,
                    x->comm) != MPI_SUCCESS)
    return FF_ERROR(FF_ERR_MPI, "MPI_Alltoallv of spikes failed");
  out->comm_s += ff_wall_seconds() - t3;
  *got = total;
  out->words_sent += total_out - x->scount[x->rank];
  out->words_recv += total - x->rcount[x->rank];
  return FF_OK;
}

/* auto: targeted when a neuron's spikes are needed on clearly fewer ranks than all of them. */
static int choose_mode(const FfSimSetup *s, MPI_Comm comm, double *mean_dests) {
  const FfNet *net = s->net;
  int64_t mine[2] = {net->dest_indptr[net->n_local], net->n_local}, all[2];
  MPI_Allreduce(mine, all, 2, MPI_INT64_T, MPI_SUM, comm);
  *mean_dests = all[1] ? (double)all[0] / (double)all[1] : 0.0;
  if (s->exchange != FF_EXCHANGE_AUTO) return s->exchange;
  return net->size >= 3 && *mean_dests < 0.75 * net->size ? FF_EXCHANGE_TARGETED : FF_EXCHANGE_ALLGATHER;
}

static int run(const FfBackend *be, void *st, const FfSimSetup *s, MPI_Comm comm, FfSimOutput *out) {
  Exchange x;
  memset(&x, 0, sizeof x);
  x.net = s->net;
  x.comm = comm;
  MPI_Comm_size(comm, &x.size);
  MPI_Comm_rank(comm, &x.rank);
  double mean_dests;
  x.mode = choose_mode(s, comm, &mean_dests);
  out->exchange = x.mode;
  ff_log("spike exchange: %s (a neuron's spikes are needed on %.2f of %d ranks on average)",
         x.mode == FF_EXCHANGE_TARGETED ? "targeted, MPI_Alltoallv" : "allgather, MPI_Allgatherv", mean_dests, x.size);
  FF_TRY(FF_MALLOC(x.scount, x.size, "exchange counts"));
  FF_TRY(FF_MALLOC(x.sdispl, x.size, "exchange offsets"));
  FF_TRY(FF_MALLOC(x.rcount, x.size, "exchange counts"));
  FF_TRY(FF_MALLOC(x.rdispl, x.size, "exchange offsets"));
  const int64_t D = s->model->delay_steps, n_windows = (s->n_steps + D - 1) / D;
  FfProgress prog;
  ff_progress_start(&prog, "simulated", "ms", (double)s->n_steps * s->model->dt_ms, s->progress_s);
  int status = FF_OK;
  for (int64_t w = 0; w < n_windows && status == FF_OK; ++w) {
    double t0 = ff_wall_seconds();
    status = be->run_window(st, w);
    double t1 = ff_wall_seconds();
    out->compute_s += t1 - t0;
    if (w + 1 < n_windows) {
      const int64_t n = status ? 0 : be->emitted(st);
      if (status == FF_OK) status = grow(&x.send, &x.send_cap, n, "spikes to send");
      if (status == FF_OK) be->pack(st, w, x.send);
      out->pack_s += ff_wall_seconds() - t1;
      int64_t got;
      int failed_rank;
      status = exchange(&x, n, status, &got, &failed_rank, out);
      const double t2 = ff_wall_seconds();
      if (status == FF_OK) status = be->deliver(st, w + 1, x.recv, got);
      out->unpack_s += ff_wall_seconds() - t2;
      out->windows++;
    }
    ff_progress_update(&prog, (double)((w + 1) * D < s->n_steps ? (w + 1) * D : s->n_steps) * s->model->dt_ms);
  }
  free(x.scount); free(x.sdispl); free(x.rcount); free(x.rdispl); free(x.send); free(x.recv); free(x.sorted);
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
