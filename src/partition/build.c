/* From a neuron-to-rank assignment to the stored partition: renumbering, per-rank slabs,
 * checksums and the report (include/flyfit/partition.h). */
#include "flyfit/error.h"
#include "flyfit/log.h"
#include "flyfit/partition.h"
#include "flyfit/hash.h"

#include <stdlib.h>
#include <string.h>

const char *ff_part_method_name(int method) {
  return method == FF_PART_BLOCK ? "block" : method == FF_PART_RANDOM ? "random" : "metis";
}

const char *ff_part_balance_name(int balance) {
  return balance == FF_BALANCE_NEURONS ? "neurons" : balance == FF_BALANCE_CONNECTIONS ? "connections" : "both";
}

void ff_partition_destroy(FfPartition *p) {
  if (p == NULL) return;
  free(p->owner); free(p->order); free(p->neuron_offsets); free(p->pre); free(p->pre_offsets);
  free(p->pre_conn); free(p->target); free(p->weight); free(p->np_row); free(p->np_id); free(p->np_syn);
  free(p->checksum); free(p->rep_neurons); free(p->rep_connections); free(p->rep_ghosts);
  free(p->rep_send_pairs); free(p->rep_send_peers); free(p->rep_recv_peers);
  memset(p, 0, sizeof *p);
}

/* pre_conn holds global offsets; the checksum covers the rank's offsets made relative to its
 * first connection, so that it depends on the slab alone. */
uint64_t ff_partition_slab_checksum(const int64_t *order, int64_t n_order, const int64_t *pre, int64_t n_pre,
                                    const int64_t *pre_conn, const int32_t *target, const int32_t *weight,
                                    int64_t n_conn, const int64_t *np_row, const int16_t *np_id,
                                    const int32_t *np_syn, int64_t n_np) {
  uint64_t h = FF_FNV_BASIS;
  h = ff_fnv1a(h, order, (size_t)n_order * sizeof *order);
  h = ff_fnv1a(h, pre, (size_t)n_pre * sizeof *pre);
  for (int64_t s = 0; s <= n_pre; ++s) {
    const int64_t rel = pre_conn[s] - pre_conn[0];
    h = ff_fnv1a(h, &rel, sizeof rel);
  }
  h = ff_fnv1a(h, target, (size_t)n_conn * sizeof *target);
  h = ff_fnv1a(h, weight, (size_t)n_conn * sizeof *weight);
  for (int64_t i = 0; i <= n_order; ++i) {
    const int64_t rel = np_row[i] - np_row[0];
    h = ff_fnv1a(h, &rel, sizeof rel);
  }
  h = ff_fnv1a(h, np_id, (size_t)n_np * sizeof *np_id);
  return ff_fnv1a(h, np_syn, (size_t)n_np * sizeof *np_syn);
}

static int build(const FfConnectome *c, FfPartition *p) {
  const int K = p->ranks;
  const int64_t n = c->n, E = ff_connectome_n_conn(c);
  int64_t *new_of, *cursor;
  FF_TRY(FF_MALLOC(new_of, n, "renumbering"));
  FF_TRY(FF_CALLOC(p->neuron_offsets, K + 1, "partition offsets"));
  FF_TRY(FF_MALLOC(p->order, n, "renumbering"));
  for (int64_t i = 0; i < n; ++i) p->neuron_offsets[p->owner[i] + 1]++;
  for (int r = 0; r < K; ++r) p->neuron_offsets[r + 1] += p->neuron_offsets[r];
  FF_TRY(FF_MALLOC(cursor, K, "renumbering"));
  memcpy(cursor, p->neuron_offsets, (size_t)K * sizeof *cursor);
  for (int64_t i = 0; i < n; ++i) { /* within a rank, new ids follow original order */
    new_of[i] = cursor[p->owner[i]]++;
    p->order[new_of[i]] = i;
  }
  /* pass 1: stand-ins and connections per rank, presynaptic neurons in new-id order */
  int64_t *n_pre, *n_conn, *last;
  FF_TRY(FF_CALLOC(n_pre, K, "partition counts"));
  FF_TRY(FF_CALLOC(n_conn, K, "partition counts"));
  FF_TRY(FF_MALLOC(last, K, "partition counts"));
  for (int r = 0; r < K; ++r) last[r] = -1;
  for (int64_t q = 0; q < n; ++q) {
    const int64_t i = p->order[q];
    for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k) {
      const int r = p->owner[c->post[k]];
      n_conn[r]++;
      if (last[r] != q) {
        last[r] = q;
        n_pre[r]++;
      }
    }
  }
  FF_TRY(FF_CALLOC(p->pre_offsets, K + 1, "stand-in offsets"));
  for (int r = 0; r < K; ++r) p->pre_offsets[r + 1] = p->pre_offsets[r] + n_pre[r];
  p->n_standins = p->pre_offsets[K];
  p->n_conn = E;
  FF_TRY(FF_MALLOC(p->pre, p->n_standins, "stand-ins"));
  FF_TRY(FF_MALLOC(p->pre_conn, p->n_standins + 1, "stand-in connections"));
  FF_TRY(FF_MALLOC(p->target, E, "slab targets"));
  FF_TRY(FF_MALLOC(p->weight, E, "slab weights"));
  /* pass 2: fill; connections of rank r start after those of ranks < r */
  int64_t *pre_at, *conn_at;
  FF_TRY(FF_MALLOC(pre_at, K, "cursors"));
  FF_TRY(FF_MALLOC(conn_at, K, "cursors"));
  for (int r = 0; r < K; ++r) pre_at[r] = p->pre_offsets[r];
  conn_at[0] = 0;
  for (int r = 1; r < K; ++r) conn_at[r] = conn_at[r - 1] + n_conn[r - 1];
  for (int r = 0; r < K; ++r) last[r] = -1;
  for (int64_t q = 0; q < n; ++q) {
    const int64_t i = p->order[q];
    for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k) {
      const int32_t j = c->post[k];
      const int r = p->owner[j];
      if (last[r] != q) {
        last[r] = q;
        p->pre[pre_at[r]] = q;
        p->pre_conn[pre_at[r]++] = conn_at[r];
      }
      p->target[conn_at[r]] = (int32_t)(new_of[j] - p->neuron_offsets[r]);
      p->weight[conn_at[r]++] = c->count[k];
    }
  }
  p->pre_conn[p->n_standins] = E;
  /* neuropil rows in new-id order */
  FF_TRY(FF_MALLOC(p->np_row, n + 1, "neuropil rows"));
  const int64_t nnz = c->np_indptr[n];
  FF_TRY(FF_MALLOC(p->np_id, nnz, "neuropil rows"));
  FF_TRY(FF_MALLOC(p->np_syn, nnz, "neuropil rows"));
  p->np_row[0] = 0;
  for (int64_t q = 0; q < n; ++q) {
    const int64_t i = p->order[q], a = c->np_indptr[i], len = c->np_indptr[i + 1] - a;
    memcpy(p->np_id + p->np_row[q], c->np_id + a, (size_t)len * sizeof *p->np_id);
    memcpy(p->np_syn + p->np_row[q], c->np_syn + a, (size_t)len * sizeof *p->np_syn);
    p->np_row[q + 1] = p->np_row[q] + len;
  }
  /* report and checksums */
  FF_TRY(FF_CALLOC(p->rep_neurons, K, "report"));
  FF_TRY(FF_CALLOC(p->rep_connections, K, "report"));
  FF_TRY(FF_CALLOC(p->rep_ghosts, K, "report"));
  FF_TRY(FF_MALLOC(p->checksum, K, "checksums"));
  int64_t max_n = 0, max_c = 0;
  for (int r = 0; r < K; ++r) {
    p->rep_neurons[r] = p->neuron_offsets[r + 1] - p->neuron_offsets[r];
    p->rep_connections[r] = n_conn[r];
    for (int64_t s = p->pre_offsets[r]; s < p->pre_offsets[r + 1]; ++s)
      p->rep_ghosts[r] += p->pre[s] < p->neuron_offsets[r] || p->pre[s] >= p->neuron_offsets[r + 1];
    if (p->rep_neurons[r] > max_n) max_n = p->rep_neurons[r];
    if (n_conn[r] > max_c) max_c = n_conn[r];
    const int64_t a = p->neuron_offsets[r], b = p->neuron_offsets[r + 1], s0 = p->pre_offsets[r];
    const int64_t s1 = p->pre_offsets[r + 1], e0 = p->pre_conn[s0];
    p->checksum[r] = ff_partition_slab_checksum(p->order + a, b - a, p->pre + s0, s1 - s0, p->pre_conn + s0,
                                                p->target + e0, p->weight + e0, p->pre_conn[s1] - e0, p->np_row + a,
                                                p->np_id + p->np_row[a], p->np_syn + p->np_row[a],
                                                p->np_row[b] - p->np_row[a]);
  }
  /* who sends to whom: rank q holds stand-ins of rank r's neurons (ascending new ids, so grouped
   * by owner); each such (neuron, q) pair is one spike word r sends per spike under targeted exchange */
  FF_TRY(FF_CALLOC(p->rep_send_pairs, K, "report"));
  FF_TRY(FF_CALLOC(p->rep_send_peers, K, "report"));
  FF_TRY(FF_CALLOC(p->rep_recv_peers, K, "report"));
  for (int q = 0; q < K; ++q) {
    int prev = -1;
    for (int64_t s = p->pre_offsets[q]; s < p->pre_offsets[q + 1]; ++s) {
      int r = prev < 0 ? 0 : prev;
      while (p->pre[s] >= p->neuron_offsets[r + 1]) ++r;
      if (r == q) continue;
      p->rep_send_pairs[r]++;
      if (r != prev) {
        p->rep_send_peers[r]++;
        p->rep_recv_peers[q]++;
        prev = r;
      }
    }
  }
  p->edge_cut = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k) p->edge_cut += p->owner[i] != p->owner[c->post[k]];
  p->imbalance_neurons = (double)max_n * K / (double)n;
  p->imbalance_connections = E > 0 ? (double)max_c * K / (double)E : 1.0;
  free(new_of); free(cursor); free(n_pre); free(n_conn); free(last); free(pre_at); free(conn_at);
  return FF_OK;
}

int ff_partition_make(const FfConnectome *c, int ranks, int method, int balance, uint64_t seed, FfPartition *p) {
  memset(p, 0, sizeof *p);
  if (ranks < 1) return FF_ERROR(FF_ERR_INPUT, "--ranks %d: the rank count must be at least 1", ranks);
  if (ranks > c->n)
    return FF_ERROR(FF_ERR_INPUT, "--ranks %d: more ranks than the %lld neurons of the connectome", ranks, (long long)c->n);
  p->ranks = ranks;
  p->n = c->n;
  p->method = method;
  p->balance = balance;
  p->seed = seed;
  FF_TRY(FF_MALLOC(p->owner, c->n, "neuron owners"));
  const double t0 = ff_wall_seconds();
  if (method == FF_PART_BLOCK) ff_partition_block(c->n, ranks, p->owner);
  else if (method == FF_PART_RANDOM) FF_TRY(ff_partition_random(c->n, ranks, seed, p->owner));
  else FF_TRY(ff_partition_metis(c, ranks, balance, seed, p->owner));
  p->seconds = ff_wall_seconds() - t0;
  for (int64_t r = 0, i = 0; i < c->n; ++i) {
    r = p->owner[i];
    if (r < 0 || r >= ranks) return FF_ERROR(FF_ERR_INTERNAL, "neuron %lld assigned to rank %lld", (long long)i, (long long)r);
  }
  return build(c, p);
}

void ff_partition_print_report(const FfPartition *p, FILE *f) {
  const int K = p->ranks;
  int64_t ghosts = 0;
  for (int r = 0; r < K; ++r) ghosts += p->rep_ghosts[r];
  fprintf(f, "partition k%d (%s, balance %s, seed %llu): %lld neurons, %lld connections\n", K,
          ff_part_method_name(p->method), ff_part_balance_name(p->balance), (unsigned long long)p->seed,
          (long long)p->n, (long long)p->n_conn);
  fprintf(f, "  edge cut %lld connections (%.1f%%), ghost neurons %lld in all; imbalance (max/mean) neurons %.3f, "
             "connections %.3f; assignment took %.2f s\n",
          (long long)p->edge_cut, p->n_conn ? 100.0 * (double)p->edge_cut / (double)p->n_conn : 0.0, (long long)ghosts,
          p->imbalance_neurons, p->imbalance_connections, p->seconds);
  fprintf(f, "  %6s %10s %12s %10s %8s\n", "rank", "neurons", "connections", "ghosts", "peers");
  for (int r = 0; r < K; ++r) {
    if (K > 20 && r == 8) {
      fprintf(f, "  %6s\n", "...");
      r = K - 8;
    }
    fprintf(f, "  %6d %10lld %12lld %10lld %8lld\n", r, (long long)p->rep_neurons[r], (long long)p->rep_connections[r],
            (long long)p->rep_ghosts[r], (long long)p->rep_send_peers[r]);
  }
}

static void json_array(FILE *f, const char *name, const int64_t *v, int n) {
  fprintf(f, ",\n  \"%s\": [", name);
  for (int k = 0; k < n; ++k) fprintf(f, "%s%lld", k ? ", " : "", (long long)v[k]);
  fputc(']', f);
}

void ff_partition_print_json(const FfPartition *p, FILE *f) {
  fprintf(f, "{\"ranks\": %d, \"method\": \"%s\", \"balance\": \"%s\", \"seed\": %llu, \"neurons_total\": %lld, "
             "\"connections_total\": %lld, \"edge_cut\": %lld, \"imbalance_neurons\": %.6f, \"imbalance_connections\": %.6f, "
             "\"seconds\": %.3f",
          p->ranks, ff_part_method_name(p->method), ff_part_balance_name(p->balance), (unsigned long long)p->seed,
          (long long)p->n, (long long)p->n_conn, (long long)p->edge_cut, p->imbalance_neurons, p->imbalance_connections,
          p->seconds);
  json_array(f, "neurons", p->rep_neurons, p->ranks);
  json_array(f, "connections", p->rep_connections, p->ranks);
  json_array(f, "ghosts", p->rep_ghosts, p->ranks);
  json_array(f, "send_pairs", p->rep_send_pairs, p->ranks);
  json_array(f, "send_peers", p->rep_send_peers, p->ranks);
  json_array(f, "recv_peers", p->rep_recv_peers, p->ranks);
  fputs("}\n", f);
}
