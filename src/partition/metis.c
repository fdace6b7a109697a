/* METIS k-way partition of the symmetrised connection graph (include/flyfit/partition.h).
 * Vertices are weighted by one neuron, by incoming connections, or by both (two constraints), so
 * that every rank gets a similar share of the work: neuron updates plus connection deliveries.
 * An edge between two neurons weighs the number of directed connections between them (1 or 2). */
#include "flyfit/error.h"
#include "flyfit/partition.h"

#include <metis.h>
#include <stdlib.h>
#include <string.h>

static int cmp_idx(const void *a, const void *b) {
  const idx_t x = *(const idx_t *)a, y = *(const idx_t *)b;
  return x < y ? -1 : (x > y);
}

int ff_partition_metis(const FfConnectome *c, int ranks, int balance, uint64_t seed, int32_t *owner) {
  const int64_t n = c->n, e = ff_connectome_n_conn(c);
  if (2 * e > (int64_t)INT32_MAX - 1)
    return FF_ERROR(FF_ERR_UNSUPPORTED, "%lld connections are too many for METIS with 32-bit indices; use --method block",
                    (long long)e);
  if (ranks == 1) {
    memset(owner, 0, (size_t)n * sizeof *owner);
    return FF_OK;
  }
  /* undirected adjacency: each connection i->j appears in the lists of i and of j */
  idx_t *deg, *xadj, *adj, *adjw, *vwgt;
  FF_TRY(FF_CALLOC(deg, n + 1, "METIS degrees"));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k)
      if (c->post[k] != i) {
        deg[i]++;
        deg[c->post[k]]++;
      }
  FF_TRY(FF_MALLOC(xadj, n + 1, "METIS graph"));
  xadj[0] = 0;
  for (int64_t i = 0; i < n; ++i) xadj[i + 1] = xadj[i] + deg[i];
  FF_TRY(FF_MALLOC(adj, xadj[n], "METIS graph"));
  memcpy(deg, xadj, (size_t)n * sizeof *deg); /* reuse as fill cursors */
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = c->indptr[i]; k < c->indptr[i + 1]; ++k)
      if (c->post[k] != i) {
        adj[deg[i]++] = c->post[k];
        adj[deg[c->post[k]]++] = (idx_t)i;
      }
  /* merge reciprocal pairs into one edge of weight 2 */
  FF_TRY(FF_MALLOC(adjw, xadj[n], "METIS edge weights"));
  idx_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const idx_t a = xadj[i], b = xadj[i + 1];
    qsort(adj + a, (size_t)(b - a), sizeof *adj, cmp_idx);
    xadj[i] = m;
    for (idx_t k = a; k < b; ++k) {
      if (k > a && adj[k] == adj[k - 1]) {
        adjw[m - 1]++;
      } else {
        adj[m] = adj[k];
        adjw[m++] = 1;
      }
    }
  }
  xadj[n] = m;
  idx_t ncon = balance == FF_BALANCE_BOTH ? 2 : 1;
  FF_TRY(FF_MALLOC(vwgt, n * ncon, "METIS vertex weights"));
  int64_t *in_deg;
  FF_TRY(FF_CALLOC(in_deg, n, "in-degrees"));
  for (int64_t k = 0; k < e; ++k) in_deg[c->post[k]]++;
  for (int64_t i = 0; i < n; ++i) {
    const idx_t w_conn = (idx_t)(in_deg[i] + 1); /* +1: a neuron without input still costs an update */
    if (balance == FF_BALANCE_BOTH) {
      vwgt[2 * i] = 1;
      vwgt[2 * i + 1] = w_conn;
    } else {
      vwgt[i] = balance == FF_BALANCE_NEURONS ? 1 : w_conn;
    }
  }
  free(in_deg);
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = (idx_t)(seed & 0x7fffffff);
  options[METIS_OPTION_OBJTYPE] = METIS_OBJTYPE_CUT;
  options[METIS_OPTION_UFACTOR] = 30; /* 1.03 allowed imbalance per constraint */
  idx_t nv = (idx_t)n, np = ranks, cut = 0, *part;
  real_t ubvec[2] = {1.03f, 1.03f};
  FF_TRY(FF_MALLOC(part, n, "METIS partition"));
  int rc = METIS_PartGraphKway(&nv, &ncon, xadj, adj, vwgt, NULL, adjw, &np, NULL, ubvec, options, &cut, part);
  free(deg);
  free(xadj);
  free(adj);
  free(adjw);
  free(vwgt);
  if (rc != METIS_OK) {
    free(part);
    return FF_ERROR(rc == METIS_ERROR_MEMORY ? FF_ERR_NOMEM : FF_ERR_INTERNAL, "METIS_PartGraphKway failed (code %d)%s", rc,
                    rc == METIS_ERROR_MEMORY ? ": out of memory" : "");
  }
  for (int64_t i = 0; i < n; ++i) owner[i] = part[i];
  free(part);
  return FF_OK;
}
