/* Spike exchange between ranks (include/flyfit/exchange.h). */
#include "flyfit/exchange.h"
#include "flyfit/error.h"
#include "flyfit/log.h"

#include <stdlib.h>
#include <string.h>

struct FfExchange {
  const FfNet *net;
  MPI_Comm comm;
  int size, rank, mode;
  int *scount, *sdispl, *rcount, *rdispl;
  uint64_t *send, *recv, *sorted;
  int64_t send_cap, recv_cap, sorted_cap;
};
typedef struct FfExchange Exchange;

static int grow(uint64_t **v, int64_t *cap, int64_t need, const char *what) {
  if (need <= *cap) return FF_OK;
  *cap = 2 * need + 1024;
  return ff_realloc_((void **)v, (size_t)*cap, sizeof **v, what, __FILE__, __LINE__, __func__);
}

/* After the counts are known (x->rcount, negative for a rank that failed): the receive offsets,
 * the words to receive, and the first failed rank into *failed (-1: none). */
static int64_t receive_offsets(Exchange *x, int *failed) {
  int64_t total = 0;
  *failed = -1;
  for (int r = 0; r < x->size; ++r) {
    if (x->rcount[r] < 0 && *failed < 0) *failed = r;
    x->rdispl[r] = (int)total;
    total += x->rcount[r] > 0 ? x->rcount[r] : 0;
  }
  return total;
}

/* Collective: all ranks of x->comm must call it. Every rank's words to every rank: the counts (and
 * failures) by MPI_Allgather, then the words by MPI_Allgatherv. */
static int exchange_allgather(Exchange *x, int64_t n, int status, int64_t *got, FfExchangeStats *out) {
  const int K = x->size;
  const double t0 = ff_wall_seconds();
  int failed, mine = status ? -1 : (n > INT32_MAX ? -2 : (int)n);
  FF_TRY(FF_MPI(MPI_Allgather(&mine, 1, MPI_INT, x->rcount, 1, MPI_INT, x->comm)));
  const int64_t total = receive_offsets(x, &failed);
  if (status) return status;
  if (mine == -2) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window on one rank");
  if (failed >= 0) return FF_ERROR(FF_ERR_MPI, "rank %d failed; stopping", failed);
  if (total > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window");
  FF_TRY(grow(&x->recv, &x->recv_cap, total, "received spikes"));
  FF_TRY(FF_MPI(MPI_Allgatherv(x->send, (int)n, MPI_UINT64_T, x->recv, x->rcount, x->rdispl, MPI_UINT64_T, x->comm)));
  *got = total;
  out->words_sent += n * (int64_t)(K - 1);
  out->words_recv += total - n;
  out->comm_s += ff_wall_seconds() - t0;
  return FF_OK;
}

/* This rank's words sorted by destination into x->sorted (x->scount, x->sdispl already counted). */
static void sort_by_destination(Exchange *x, int64_t n) {
  const FfNet *net = x->net;
  for (int r = 0, off = 0; r < x->size; ++r) {
    x->sdispl[r] = off;
    off += x->scount[r];
  }
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = ff_spike_gid(x->send[k]) - net->new_base;
    for (int64_t d = net->dest_indptr[i]; d < net->dest_indptr[i + 1]; ++d) x->sorted[x->sdispl[net->dest[d]]++] = x->send[k];
  }
  for (int r = 0, off = 0; r < x->size; ++r) { /* the fill advanced the offsets; restore them */
    x->sdispl[r] = off;
    off += x->scount[r];
  }
}

/* Collective: all ranks of x->comm must call it. Each word to the ranks that hold a stand-in of
 * its neuron: the counts (and failures) by MPI_Alltoall, then the words by MPI_Alltoallv. */
static int exchange_targeted(Exchange *x, int64_t n, int status, int64_t *got, FfExchangeStats *out) {
  const FfNet *net = x->net;
  const int K = x->size;
  const double t0 = ff_wall_seconds();
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
  const double t1 = ff_wall_seconds();
  out->pack_s += t1 - t0;
  int failed;
  FF_TRY(FF_MPI(MPI_Alltoall(x->scount, 1, MPI_INT, x->rcount, 1, MPI_INT, x->comm)));
  const int64_t total = receive_offsets(x, &failed);
  const double t2 = ff_wall_seconds();
  out->comm_s += t2 - t1;
  if (status) return status;
  if (failed >= 0) return FF_ERROR(FF_ERR_MPI, "rank %d failed; stopping", failed);
  if (total > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 spikes in one window");
  FF_TRY(grow(&x->sorted, &x->sorted_cap, total_out, "spikes to send"));
  FF_TRY(grow(&x->recv, &x->recv_cap, total, "received spikes"));
  sort_by_destination(x, n);
  const double t3 = ff_wall_seconds();
  out->pack_s += t3 - t2;
  FF_TRY(FF_MPI(MPI_Alltoallv(x->sorted, x->scount, x->sdispl, MPI_UINT64_T, x->recv, x->rcount, x->rdispl,
                              MPI_UINT64_T, x->comm)));
  out->comm_s += ff_wall_seconds() - t3;
  *got = total;
  out->words_sent += total_out - x->scount[x->rank];
  out->words_recv += total - x->rcount[x->rank];
  return FF_OK;
}

int ff_exchange_create(const FfNet *net, int mode, MPI_Comm comm, FfExchange **out, double *mean_dests) {
  *out = NULL;
  Exchange *x;
  FF_TRY(FF_CALLOC(x, 1, "spike exchange"));
  x->net = net;
  x->comm = comm;
  /* auto: targeted when a neuron's spikes are needed on clearly fewer ranks than all of them */
  int64_t mine[2] = {net->dest_indptr ? net->dest_indptr[net->n_local] : net->n_local, net->n_local}, all[2];
  int st = FF_MPI(MPI_Comm_size(comm, &x->size));
  FF_CALL(st, FF_MPI(MPI_Comm_rank(comm, &x->rank)));
  FF_CALL(st, FF_MPI(MPI_Allreduce(mine, all, 2, MPI_INT64_T, MPI_SUM, comm)));
  if (st != FF_OK) {
    free(x);
    return st;
  }
  const double mean = all[1] ? (double)all[0] / (double)all[1] : 0.0;
  if (mean_dests) *mean_dests = mean;
  x->mode = mode != FF_EXCHANGE_AUTO ? mode
            : net->size >= 3 && mean < 0.75 * net->size ? FF_EXCHANGE_TARGETED : FF_EXCHANGE_ALLGATHER;
  if (x->mode == FF_EXCHANGE_TARGETED && net->dest_indptr == NULL) {
    free(x);
    return FF_ERROR(FF_ERR_INTERNAL, "targeted exchange needs ff_net_find_destinations first");
  }
  FF_CALL(st, FF_MALLOC(x->scount, x->size, "exchange counts"));
  FF_CALL(st, FF_MALLOC(x->sdispl, x->size, "exchange offsets"));
  FF_CALL(st, FF_MALLOC(x->rcount, x->size, "exchange counts"));
  FF_CALL(st, FF_MALLOC(x->rdispl, x->size, "exchange offsets"));
  if (st != FF_OK) {
    ff_exchange_destroy(&x);
    return st;
  }
  *out = x;
  return FF_OK;
}

int ff_exchange_mode(const FfExchange *x) { return x->mode; }

int ff_exchange_send_buffer(FfExchange *x, int64_t n, uint64_t **words) {
  FF_TRY(grow(&x->send, &x->send_cap, n, "spikes to send"));
  *words = x->send;
  return FF_OK;
}

int ff_exchange_run(FfExchange *x, int64_t n, int status, const uint64_t **recv, int64_t *got, FfExchangeStats *st) {
  *recv = NULL;
  *got = 0;
  if (x->mode == FF_EXCHANGE_ALLGATHER) FF_TRY(exchange_allgather(x, n, status, got, st));
  else FF_TRY(exchange_targeted(x, n, status, got, st));
  *recv = x->recv;
  return FF_OK;
}

void ff_exchange_destroy(FfExchange **x) {
  if (x == NULL || *x == NULL) return;
  Exchange *e = *x;
  free(e->scount);
  free(e->sdispl);
  free(e->rcount);
  free(e->rdispl);
  free(e->send);
  free(e->recv);
  free(e->sorted);
  free(e);
  *x = NULL;
}

int ff_exchange_ids(FfExchange *x, const int64_t *mine, int64_t n, int status, int64_t *fired, int64_t *n_fired) {
  uint64_t *buf = NULL;
  const uint64_t *got = NULL;
  int64_t n_got = 0;
  FfExchangeStats xs = {0};
  *n_fired = 0;
  if (status == FF_OK) status = ff_exchange_send_buffer(x, n, &buf);
  for (int64_t k = 0; status == FF_OK && k < n; ++k) buf[k] = ff_spike_pack(mine[k], 0, 0);
  FF_TRY(ff_exchange_run(x, status == FF_OK ? n : 0, status, &got, &n_got, &xs));
  for (int64_t k = 0; k < n_got; ++k) fired[k] = ff_spike_gid(got[k]);
  *n_fired = n_got;
  return FF_OK;
}
