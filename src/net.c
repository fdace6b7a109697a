/* Loading one rank's slice of the connectome (include/flyfit/net.h).
 * The file is a CSR by presynaptic neuron; a rank streams it in chunks and keeps the connections
 * whose target it owns, so its memory holds its own share plus one chunk. */
#include "flyfit/net.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"

#include <stdlib.h>
#include <string.h>

enum { CHUNK = 1 << 22 };

void ff_net_destroy(FfNet *net) {
  if (net == NULL) return;
  free(net->gid);
  free(net->local_of);
  free(net->pre_gid);
  free(net->standin_of);
  free(net->pre_indptr);
  free(net->target);
  free(net->weight);
  free(net->in_degree);
  memset(net, 0, sizeof *net);
}

/* Appends to a growable pair of arrays. */
static int grow(FfNet *net, int64_t *cap, int64_t need) {
  if (need <= *cap) return FF_OK;
  int64_t c = *cap ? *cap : 1 << 16;
  while (c < need) c *= 2;
  FF_TRY(FF_REALLOC(net->target, c, "local connections"));
  FF_TRY(FF_REALLOC(net->weight, c, "local connection weights"));
  *cap = c;
  return FF_OK;
}

static int load(const char *path, hid_t f, int64_t n, const uint8_t *silenced, FfNet *net) {
  int64_t *indptr = NULL, e_total;
  int32_t *post = NULL, *count = NULL;
  FF_TRY(ff_h5_read_all(f, path, "/connections/indptr", H5T_NATIVE_INT64, n + 1, (void **)&indptr, NULL));
  FF_TRY(ff_h5_len(f, path, "/connections/post", &e_total));
  if (indptr[0] != 0 || indptr[n] != e_total)
    return FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr does not match /connections/post (%lld connections)",
                    path, (long long)e_total);
  for (int64_t i = 0; i < n; ++i)
    if (indptr[i + 1] < indptr[i])
      return FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr decreases at neuron %lld", path, (long long)i);
  FF_TRY(FF_MALLOC(post, CHUNK, "connection chunk"));
  FF_TRY(FF_MALLOC(count, CHUNK, "connection chunk"));
  FF_TRY(FF_MALLOC(net->pre_gid, n, "stand-ins"));
  FF_TRY(FF_MALLOC(net->pre_indptr, n + 1, "stand-in offsets"));
  int64_t cap = 0, m = 0, row = 0;
  net->n_pre = 0;
  net->pre_indptr[0] = 0;
  for (int64_t e0 = 0; e0 < e_total; e0 += CHUNK) {
    const int64_t len = e_total - e0 < CHUNK ? e_total - e0 : CHUNK;
    FF_TRY(ff_h5_read(f, path, "/connections/post", H5T_NATIVE_INT32, e0, len, post));
    FF_TRY(ff_h5_read(f, path, "/connections/count", H5T_NATIVE_INT32, e0, len, count));
    for (int64_t k = 0; k < len; ++k) {
      const int64_t e = e0 + k;
      while (indptr[row + 1] <= e) { /* close rows that end before e */
        if (net->pre_indptr[net->n_pre] < m) {
          net->pre_gid[net->n_pre++] = row;
          net->pre_indptr[net->n_pre] = m;
        }
        ++row;
      }
      const int32_t p = post[k];
      if (p < 0 || p >= n)
        return FF_ERROR(FF_ERR_INPUT, "'%s': connection %lld goes to neuron %d, outside 0..%lld", path, (long long)e, p,
                        (long long)n - 1);
      if (count[k] == 0)
        return FF_ERROR(FF_ERR_INPUT, "'%s': connection %lld has a synapse count of 0", path, (long long)e);
      const int32_t t = net->local_of[p];
      if (t < 0 || (silenced && silenced[row])) continue;
      if (m > net->pre_indptr[net->n_pre] && t <= net->target[m - 1])
        return FF_ERROR(FF_ERR_INPUT, "'%s': connections of neuron %lld are not sorted by target", path, (long long)row);
      FF_TRY(grow(net, &cap, m + 1));
      net->target[m] = t;
      net->weight[m] = count[k];
      ++m;
    }
  }
  for (; row < n; ++row)
    if (net->pre_indptr[net->n_pre] < m) {
      net->pre_gid[net->n_pre++] = row;
      net->pre_indptr[net->n_pre] = m;
    }
  net->n_in = m;
  FF_TRY(FF_REALLOC(net->pre_gid, net->n_pre, "stand-ins")); /* was sized for every neuron */
  FF_TRY(FF_REALLOC(net->pre_indptr, net->n_pre + 1, "stand-in offsets"));
  free(indptr);
  free(post);
  free(count);
  return FF_OK;
}

int ff_net_load(const char *path, int64_t n_global, const int32_t *owner, const uint8_t *silenced, MPI_Comm comm,
                FfNet *net) {
  memset(net, 0, sizeof *net);
  MPI_Comm_rank(comm, &net->rank);
  MPI_Comm_size(comm, &net->size);
  net->n_global = n_global;
  FF_TRY(FF_MALLOC(net->local_of, n_global, "local index map"));
  int64_t n_local = 0;
  for (int64_t i = 0; i < n_global; ++i) n_local += owner[i] == net->rank;
  net->n_local = (int32_t)n_local;
  FF_TRY(FF_MALLOC(net->gid, n_local, "local neurons"));
  for (int64_t i = 0, k = 0; i < n_global; ++i) {
    net->local_of[i] = owner[i] == net->rank ? (int32_t)k : -1;
    if (owner[i] == net->rank) net->gid[k++] = i;
  }
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int st = load(path, f, n_global, silenced, net);
  H5Fclose(f);
  if (st != FF_OK) {
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  FF_TRY(FF_MALLOC(net->standin_of, n_global, "stand-in map"));
  for (int64_t i = 0; i < n_global; ++i) net->standin_of[i] = -1;
  for (int32_t s = 0; s < net->n_pre; ++s) net->standin_of[net->pre_gid[s]] = s;
  FF_TRY(FF_CALLOC(net->in_degree, n_local, "in-degrees"));
  for (int64_t e = 0; e < net->n_in; ++e) net->in_degree[net->target[e]]++;
  return FF_OK;
}
