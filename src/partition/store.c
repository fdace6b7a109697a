/* Storing a partition in connectome.h5 without ever leaving the file damaged
 * (include/flyfit/partition.h): every other object is copied into a new file beside it, the
 * partition is added, and the new file replaces the original atomically (ff_h5_write_atomic: synced
 * to disk, then renamed). An interruption at any point leaves the original file as it was. */
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  hid_t src, dst;
  const char *skip; /* name of the partition group being replaced, e.g. "k4" */
  int status;
} CopyState;

static herr_t copy_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  CopyState *S = data;
  (void)info;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
  hid_t mt = H5Tget_native_type(ft, H5T_DIR_DEFAULT);
  hssize_t npts = H5Sget_simple_extent_npoints(sp);
  void *buf = calloc((size_t)(npts > 0 ? npts : 1), H5Tget_size(mt));
  herr_t rc = buf ? H5Aread(a, mt, buf) : -1;
  if (rc >= 0) {
    hid_t b = H5Acreate2(S->dst, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    rc = b < 0 ? -1 : H5Awrite(b, mt, buf);
    if (b >= 0) H5Aclose(b);
    if (H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tis_variable_str(mt) > 0) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
  }
  free(buf);
  H5Tclose(mt);
  H5Tclose(ft);
  H5Sclose(sp);
  H5Aclose(a);
  if (rc < 0 && S->status == FF_OK) S->status = FF_ERROR(FF_ERR_IO, "copying attribute '%s' failed", name);
  return rc < 0 ? -1 : 0;
}

static herr_t copy_partition_child(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  CopyState *S = data;
  (void)g;
  (void)info;
  if (strcmp(name, S->skip) == 0) return 0;
  char path[256];
  snprintf(path, sizeof path, "partition/%s", name);
  if (H5Ocopy(S->src, path, S->dst, path, H5P_DEFAULT, H5P_DEFAULT) < 0) {
    S->status = FF_ERROR(FF_ERR_IO, "copying /%s failed", path);
    return -1;
  }
  return 0;
}

static herr_t copy_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  CopyState *S = data;
  (void)g;
  (void)info;
  if (strcmp(name, "partition") == 0) {
    if (ff_h5_group(S->dst, "/partition") != FF_OK) return -1;
    return H5Literate_by_name(S->src, "partition", H5_INDEX_NAME, H5_ITER_INC, NULL, copy_partition_child, S,
                               H5P_DEFAULT) < 0 ? -1 : 0;
  }
  if (H5Ocopy(S->src, name, S->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0) {
    S->status = FF_ERROR(FF_ERR_IO, "copying /%s failed", name);
    return -1;
  }
  return 0;
}

static int write_partition(hid_t f, const char *group, const FfPartition *p, const char *created_by) {
  const int64_t K = p->ranks, K1 = K + 1, n = p->n, n1 = p->n + 1, S = p->n_standins, S1 = S + 1, E = p->n_conn;
  const int64_t nnz = p->np_row[p->n];
  const struct {
    const char *name;
    hid_t type;
    const int64_t *len;
    const void *data;
  } dsets[] = {{"owner", H5T_NATIVE_INT32, &n, p->owner},
               {"order", H5T_NATIVE_INT64, &n, p->order},
               {"neuron_offsets", H5T_NATIVE_INT64, &K1, p->neuron_offsets},
               {"pre", H5T_NATIVE_INT64, &S, p->pre},
               {"pre_offsets", H5T_NATIVE_INT64, &K1, p->pre_offsets},
               {"pre_conn", H5T_NATIVE_INT64, &S1, p->pre_conn},
               {"target", H5T_NATIVE_INT32, &E, p->target},
               {"weight", H5T_NATIVE_INT32, &E, p->weight},
               {"np_row", H5T_NATIVE_INT64, &n1, p->np_row},
               {"np_id", H5T_NATIVE_INT16, &nnz, p->np_id},
               {"np_syn", H5T_NATIVE_INT32, &nnz, p->np_syn},
               {"checksum", H5T_NATIVE_UINT64, &K, p->checksum},
               {"report/neurons", H5T_NATIVE_INT64, &K, p->rep_neurons},
               {"report/connections", H5T_NATIVE_INT64, &K, p->rep_connections},
               {"report/ghosts", H5T_NATIVE_INT64, &K, p->rep_ghosts},
               {"report/send_pairs", H5T_NATIVE_INT64, &K, p->rep_send_pairs},
               {"report/send_peers", H5T_NATIVE_INT64, &K, p->rep_send_peers},
               {"report/recv_peers", H5T_NATIVE_INT64, &K, p->rep_recv_peers}};
  int st = FF_OK;
  char d[256];
  for (size_t k = 0; k < sizeof dsets / sizeof *dsets; ++k) {
    snprintf(d, sizeof d, "%s/%s", group, dsets[k].name);
    FF_CALL(st, ff_h5_write(f, d, dsets[k].type, 1, dsets[k].len, dsets[k].data));
  }
  const FfH5Attr attrs[] = {FF_ATTR_INT("ranks", K),
                            FF_ATTR_INT("neurons", n),
                            FF_ATTR_INT("connections", E),
                            FF_ATTR_STRING("method", ff_part_method_name(p->method)),
                            FF_ATTR_STRING("balance", ff_part_balance_name(p->balance)),
                            FF_ATTR_INT("seed", (int64_t)p->seed),
                            FF_ATTR_STRING("created_by", created_by)};
  FF_CALL(st, ff_h5_write_attrs(f, group, attrs, 7));
  const FfH5Attr report[] = {FF_ATTR_INT("edge_cut", p->edge_cut),
                             FF_ATTR_DOUBLE("imbalance_neurons", p->imbalance_neurons),
                             FF_ATTR_DOUBLE("imbalance_connections", p->imbalance_connections)};
  snprintf(d, sizeof d, "%s/report", group);
  FF_CALL(st, ff_h5_write_attrs(f, d, report, 3));
  return st;
}

typedef struct {
  hid_t src;
  const char *path, *group, *skip, *created_by;
  const FfPartition *p;
} StoreCtx;

/* The new file: the original's attributes and objects, the other partitions, then this one. */
static int store_body(hid_t dst, void *ctx) {
  const StoreCtx *c = ctx;
  CopyState S = {c->src, dst, c->skip, FF_OK};
  if (H5Aiterate2(c->src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &S) < 0 && S.status == FF_OK)
    S.status = FF_ERROR(FF_ERR_IO, "'%s': copying the file's attributes failed", c->path);
  if (S.status == FF_OK && H5Literate(c->src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_link, &S) < 0 && S.status == FF_OK)
    S.status = FF_ERROR(FF_ERR_IO, "'%s': copying its contents failed", c->path);
  int st = S.status;
  FF_CALL(st, write_partition(dst, c->group, c->p, c->created_by));
  return st;
}

int ff_partition_store(const char *path, const FfPartition *p, const char *created_by) {
  char group[64], skip[32];
  hid_t src;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &src));
  snprintf(skip, sizeof skip, "k%d", p->ranks);
  snprintf(group, sizeof group, "/partition/%s", skip);
  StoreCtx ctx = {src, path, group, skip, created_by, p};
  const int st = ff_h5_write_atomic(path, store_body, &ctx);
  H5Fclose(src);
  if (st != FF_OK) ff_error_prefix("storing the partition in '%s': ", path);
  return st;
}

typedef struct {
  int ks[256];
  int n;
} KList;

static herr_t list_child(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  KList *L = data;
  (void)g;
  (void)info;
  char *end;
  long k = name[0] == 'k' ? strtol(name + 1, &end, 10) : 0;
  if (k > 0 && *end == '\0' && L->n < 256) L->ks[L->n++] = (int)k;
  return 0;
}

static int int_cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int ff_partition_list(const char *path, char *buf, size_t cap) {
  hid_t f;
  KList L = {{0}, 0};
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  if (ff_h5_exists(f, "/partition"))
    H5Literate_by_name(f, "/partition", H5_INDEX_NAME, H5_ITER_INC, NULL, list_child, &L, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  qsort(L.ks, (size_t)L.n, sizeof *L.ks, int_cmp);
  size_t len = 0;
  buf[0] = '\0';
  for (int k = 0; k < L.n && len + 12 < cap; ++k) len += (size_t)snprintf(buf + len, cap - len, "%s%d", k ? ", " : "", L.ks[k]);
  if (L.n == 0) snprintf(buf, cap, "none");
  return FF_OK;
}
