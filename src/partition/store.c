/* Storing a partition in connectome.h5 without ever leaving the file damaged
 * (include/flyfit/partition.h): every other object is copied into a new file beside it, the
 * partition is added, the new file is flushed to disk and renamed over the original. An
 * interruption at any point leaves the original file as it was. */
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/partition.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define W(call)                                                                                    \
  do {                                                                                             \
    if (st == FF_OK) st = (call);                                                                  \
  } while (0)

static int write_partition(hid_t f, const char *group, const FfPartition *p, const char *created_by) {
  char d[256];
  int st = FF_OK;
  const int64_t K = p->ranks, K1 = K + 1, n = p->n, n1 = p->n + 1, S = p->n_standins, S1 = S + 1, E = p->n_conn;
  const int64_t nnz = p->np_row[p->n];
#define D(name) (snprintf(d, sizeof d, "%s/%s", group, name), d)
  W(ff_h5_write(f, D("owner"), H5T_NATIVE_INT32, 1, &n, p->owner));
  W(ff_h5_write(f, D("order"), H5T_NATIVE_INT64, 1, &n, p->order));
  W(ff_h5_write(f, D("neuron_offsets"), H5T_NATIVE_INT64, 1, &K1, p->neuron_offsets));
  W(ff_h5_write(f, D("pre"), H5T_NATIVE_INT64, 1, &S, p->pre));
  W(ff_h5_write(f, D("pre_offsets"), H5T_NATIVE_INT64, 1, &K1, p->pre_offsets));
  W(ff_h5_write(f, D("pre_conn"), H5T_NATIVE_INT64, 1, &S1, p->pre_conn));
  W(ff_h5_write(f, D("target"), H5T_NATIVE_INT32, 1, &E, p->target));
  W(ff_h5_write(f, D("weight"), H5T_NATIVE_INT32, 1, &E, p->weight));
  W(ff_h5_write(f, D("np_row"), H5T_NATIVE_INT64, 1, &n1, p->np_row));
  W(ff_h5_write(f, D("np_id"), H5T_NATIVE_INT16, 1, &nnz, p->np_id));
  W(ff_h5_write(f, D("np_syn"), H5T_NATIVE_INT32, 1, &nnz, p->np_syn));
  W(ff_h5_write(f, D("checksum"), H5T_NATIVE_UINT64, 1, &K, p->checksum));
  W(ff_h5_write(f, D("report/neurons"), H5T_NATIVE_INT64, 1, &K, p->rep_neurons));
  W(ff_h5_write(f, D("report/connections"), H5T_NATIVE_INT64, 1, &K, p->rep_connections));
  W(ff_h5_write(f, D("report/ghosts"), H5T_NATIVE_INT64, 1, &K, p->rep_ghosts));
  W(ff_h5_write(f, D("report/send_pairs"), H5T_NATIVE_INT64, 1, &K, p->rep_send_pairs));
  W(ff_h5_write(f, D("report/send_peers"), H5T_NATIVE_INT64, 1, &K, p->rep_send_peers));
  W(ff_h5_write(f, D("report/recv_peers"), H5T_NATIVE_INT64, 1, &K, p->rep_recv_peers));
#undef D
  if (st) return st;
  hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
  W(ff_h5_write_attr_int(g, "ranks", K));
  W(ff_h5_write_attr_int(g, "neurons", n));
  W(ff_h5_write_attr_int(g, "connections", E));
  W(ff_h5_write_attr_string(g, "method", ff_part_method_name(p->method)));
  W(ff_h5_write_attr_string(g, "balance", ff_part_balance_name(p->balance)));
  W(ff_h5_write_attr_int(g, "seed", (int64_t)p->seed));
  W(ff_h5_write_attr_string(g, "created_by", created_by));
  H5Gclose(g);
  snprintf(d, sizeof d, "%s/report", group);
  g = H5Gopen2(f, d, H5P_DEFAULT);
  W(ff_h5_write_attr_int(g, "edge_cut", p->edge_cut));
  W(ff_h5_write_attr_double(g, "imbalance_neurons", p->imbalance_neurons));
  W(ff_h5_write_attr_double(g, "imbalance_connections", p->imbalance_connections));
  H5Gclose(g);
  return st;
}

int ff_partition_store(const char *path, const FfPartition *p, const char *created_by) {
  hid_t src, dst;
  char tmp[4200], group[64], skip[32];
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &src));
  snprintf(skip, sizeof skip, "k%d", p->ranks);
  snprintf(group, sizeof group, "/partition/%s", skip);
  int st = ff_h5_create_tmp(path, &dst, tmp, sizeof tmp);
  if (st) {
    H5Fclose(src);
    return st;
  }
  CopyState S = {src, dst, skip, FF_OK};
  if (H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_attr, &S) < 0 && S.status == FF_OK)
    S.status = FF_ERROR(FF_ERR_IO, "'%s': copying the file's attributes failed", path);
  if (S.status == FF_OK && H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, NULL, copy_link, &S) < 0 && S.status == FF_OK)
    S.status = FF_ERROR(FF_ERR_IO, "'%s': copying its contents failed", path);
  H5Fclose(src);
  st = S.status;
  if (st == FF_OK) st = write_partition(dst, group, p, created_by);
  if (st == FF_OK && H5Fflush(dst, H5F_SCOPE_GLOBAL) < 0) st = FF_ERROR(FF_ERR_IO, "flushing '%s' failed", tmp);
  if (st != FF_OK) {
    ff_h5_abandon(dst, tmp);
    ff_error_prefix("storing the partition in '%s': ", path);
    return st;
  }
  if (H5Fclose(dst) < 0) {
    unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "closing '%s' failed", tmp);
  }
  int fd = open(tmp, O_RDONLY); /* on disk before it replaces the original */
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "cannot sync '%s': %s", tmp, strerror(e));
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "cannot replace '%s': %s", path, strerror(e));
  }
  return FF_OK;
}
#undef W

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
