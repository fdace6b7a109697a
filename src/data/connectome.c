/* connectome.h5 reading, writing and validation (format: docs/design.md §4.2). */
#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "connectome_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ff_connectome_destroy(FfConnectome *c) {
  if (c == NULL) return;
  free(c->root_id);
  free(c->home);
  free(c->indptr);
  free(c->post);
  free(c->count);
  if (c->neuropil_names)
    for (int32_t p = 0; p < c->n_neuropils; ++p) free(c->neuropil_names[p]);
  free(c->neuropil_names);
  free(c->np_indptr);
  free(c->np_id);
  free(c->np_syn);
  memset(c, 0, sizeof *c);
}

int ff_connectome_validate(const FfConnectome *c, const char *what) {
  const int64_t n = c->n;
  if (n <= 0) return FF_ERROR(FF_ERR_INPUT, "%s: the connectome has no neurons", what);
  if (n > INT32_MAX) return FF_ERROR(FF_ERR_INPUT, "%s: %lld neurons is more than flyfit supports (2^31-1)", what, (long long)n);
  if (c->indptr[0] != 0) return FF_ERROR(FF_ERR_INPUT, "%s: /connections/indptr[0] is %lld, must be 0", what, (long long)c->indptr[0]);
  for (int64_t i = 0; i < n; ++i) {
    if (c->indptr[i + 1] < c->indptr[i])
      return FF_ERROR(FF_ERR_INPUT, "%s: /connections/indptr decreases at neuron %lld", what, (long long)i);
    if (c->indptr[i + 1] > c->indptr[n])
      return FF_ERROR(FF_ERR_INPUT, "%s: /connections/indptr[%lld] = %lld is beyond its last entry, %lld", what,
                      (long long)i + 1, (long long)c->indptr[i + 1], (long long)c->indptr[n]);
    for (int64_t e = c->indptr[i]; e < c->indptr[i + 1]; ++e) {
      if (c->post[e] < 0 || c->post[e] >= n)
        return FF_ERROR(FF_ERR_INPUT, "%s: connection %lld goes to neuron %d, outside 0..%lld", what, (long long)e,
                        c->post[e], (long long)n - 1);
      if (e > c->indptr[i] && c->post[e] <= c->post[e - 1])
        return FF_ERROR(FF_ERR_INPUT, "%s: connections of neuron %lld are not sorted by target or repeat target %d",
                        what, (long long)i, c->post[e]);
      if (c->count[e] == 0)
        return FF_ERROR(FF_ERR_INPUT, "%s: connection %lld (%lld -> %d) has a synapse count of 0", what, (long long)e,
                        (long long)i, c->post[e]);
    }
  }
  if (c->n_neuropils < 0 || c->n_neuropils > INT16_MAX)
    return FF_ERROR(FF_ERR_INPUT, "%s: %d neuropils is out of range", what, c->n_neuropils);
  if (c->np_indptr[0] != 0) return FF_ERROR(FF_ERR_INPUT, "%s: /neuropils/indptr[0] must be 0", what);
  for (int64_t i = 0; i < n; ++i) {
    if (c->np_indptr[i + 1] < c->np_indptr[i])
      return FF_ERROR(FF_ERR_INPUT, "%s: /neuropils/indptr decreases at neuron %lld", what, (long long)i);
    if (c->np_indptr[i + 1] > c->np_indptr[n])
      return FF_ERROR(FF_ERR_INPUT, "%s: /neuropils/indptr[%lld] = %lld is beyond its last entry, %lld", what,
                      (long long)i + 1, (long long)c->np_indptr[i + 1], (long long)c->np_indptr[n]);
    for (int64_t e = c->np_indptr[i]; e < c->np_indptr[i + 1]; ++e) {
      if (c->np_id[e] < 0 || c->np_id[e] >= c->n_neuropils)
        return FF_ERROR(FF_ERR_INPUT, "%s: neuron %lld lists neuropil %d, outside 0..%d", what, (long long)i, c->np_id[e],
                        c->n_neuropils - 1);
      if (e > c->np_indptr[i] && c->np_id[e] <= c->np_id[e - 1])
        return FF_ERROR(FF_ERR_INPUT, "%s: neuropils of neuron %lld are not sorted or repeat", what, (long long)i);
      if (c->np_syn[e] <= 0)
        return FF_ERROR(FF_ERR_INPUT, "%s: neuron %lld has %d synapses in neuropil %d; counts must be positive", what,
                        (long long)i, c->np_syn[e], c->np_id[e]);
    }
  }
  return ff_connectome_check_home(c->home, 0, c->n, c->n_neuropils, what);
}

int ff_connectome_check_home(const int16_t *home, int64_t first, int64_t n, int32_t n_neuropils, const char *what) {
  for (int64_t i = 0; i < n; ++i)
    if (home[i] < -1 || home[i] >= n_neuropils)
      return FF_ERROR(FF_ERR_INPUT, "%s: /neurons/neuropil[%lld] = %d is outside -1..%d (the connectome has %d neuropils)",
                      what, (long long)(first + i), home[i], n_neuropils - 1, n_neuropils);
  return FF_OK;
}

int ff_connectome_set_home(FfConnectome *c) {
  for (int64_t i = 0; i < c->n; ++i) {
    int16_t best = -1;
    int32_t most = 0;
    for (int64_t e = c->np_indptr[i]; e < c->np_indptr[i + 1]; ++e)
      if (c->np_syn[e] > most) {
        most = c->np_syn[e];
        best = c->np_id[e];
      }
    c->home[i] = best;
  }
  return FF_OK;
}

typedef struct {
  const FfConnectome *c;
  const char *created_by;
  FfH5Body more; /* NULL, or what a derived file adds (connectome_io.h) */
  void *more_ctx;
} WriteCtx;

static int write_body(hid_t f, void *ctx) {
  const FfConnectome *c = ((const WriteCtx *)ctx)->c;
  const int64_t n = c->n, e = ff_connectome_n_conn(c), np1 = n + 1, nnz = c->np_indptr[n], P = c->n_neuropils;
  int st = FF_OK;
  FF_CALL(st, ff_h5_write(f, "/neurons/root_id", H5T_NATIVE_INT64, 1, &n, c->root_id));
  FF_CALL(st, ff_h5_write(f, "/neurons/neuropil", H5T_NATIVE_INT16, 1, &n, c->home));
  FF_CALL(st, ff_h5_write(f, "/connections/indptr", H5T_NATIVE_INT64, 1, &np1, c->indptr));
  FF_CALL(st, ff_h5_write(f, "/connections/post", H5T_NATIVE_INT32, 1, &e, c->post));
  FF_CALL(st, ff_h5_write(f, "/connections/count", H5T_NATIVE_INT32, 1, &e, c->count));
  FF_CALL(st, ff_h5_write_strings(f, "/neuropils/names", (const char *const *)c->neuropil_names, P));
  FF_CALL(st, ff_h5_write(f, "/neuropils/indptr", H5T_NATIVE_INT64, 1, &np1, c->np_indptr));
  FF_CALL(st, ff_h5_write(f, "/neuropils/neuropil", H5T_NATIVE_INT16, 1, &nnz, c->np_id));
  FF_CALL(st, ff_h5_write(f, "/neuropils/synapses", H5T_NATIVE_INT32, 1, &nnz, c->np_syn));
  const FfH5Attr attrs[] = {FF_ATTR_STRING("source", c->source), FF_ATTR_STRING("release", c->release),
                            FF_ATTR_STRING("created_by", ((const WriteCtx *)ctx)->created_by),
                            FF_ATTR_STRING("format", "flyfit-connectome-1")};
  FF_CALL(st, ff_h5_write_attrs(f, NULL, attrs, 4));
  const WriteCtx *w = ctx;
  if (w->more) FF_CALL(st, w->more(f, w->more_ctx));
  return st;
}

int ff_connectome_write_with(const FfConnectome *c, const char *path, const char *created_by, FfH5Body more,
                             void *more_ctx) {
  FF_TRY(ff_connectome_validate(c, path));
  WriteCtx ctx = {c, created_by, more, more_ctx};
  FF_TRY(ff_h5_write_atomic(path, write_body, &ctx));
  return FF_OK;
}

int ff_connectome_write(const FfConnectome *c, const char *path, const char *created_by) {
  return ff_connectome_write_with(c, path, created_by, NULL, NULL);
}

int ff_connectome_read(const char *path, FfConnectome *c) {
  hid_t f;
  int64_t n = 0, e = 0, P = 0, nnz = 0;
  memset(c, 0, sizeof *c);
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  int st = FF_OK;
  FF_CALL(st, ff_h5_read_all(f, path, "/neurons/root_id", H5T_NATIVE_INT64, -1, (void **)&c->root_id, &n));
  FF_CALL(st, ff_h5_read_all(f, path, "/neurons/neuropil", H5T_NATIVE_INT16, n, (void **)&c->home, NULL));
  FF_CALL(st, ff_h5_read_all(f, path, "/connections/indptr", H5T_NATIVE_INT64, n + 1, (void **)&c->indptr, NULL));
  FF_CALL(st, ff_h5_read_all(f, path, "/connections/post", H5T_NATIVE_INT32, -1, (void **)&c->post, &e));
  FF_CALL(st, ff_h5_read_all(f, path, "/connections/count", H5T_NATIVE_INT32, e, (void **)&c->count, NULL));
  FF_CALL(st, ff_h5_read_strings(f, path, "/neuropils/names", &c->neuropil_names, &P));
  FF_CALL(st, ff_h5_read_all(f, path, "/neuropils/indptr", H5T_NATIVE_INT64, n + 1, (void **)&c->np_indptr, NULL));
  FF_CALL(st, ff_h5_read_all(f, path, "/neuropils/neuropil", H5T_NATIVE_INT16, -1, (void **)&c->np_id, &nnz));
  FF_CALL(st, ff_h5_read_all(f, path, "/neuropils/synapses", H5T_NATIVE_INT32, nnz, (void **)&c->np_syn, NULL));
  FF_CALL(st, ff_h5_read_attr_string(f, path, "source", c->source, sizeof c->source));
  FF_CALL(st, ff_h5_read_attr_string(f, path, "release", c->release, sizeof c->release));
  H5Fclose(f);
  c->n_neuropils = (int32_t)P; /* so that ff_connectome_destroy frees the names read */
  if (st != FF_OK) {
    ff_connectome_destroy(c);
    return st;
  }
  c->n = n;
  /* the message is made before ff_connectome_destroy clears the arrays it quotes */
  if (c->indptr[n] != e) {
    st = FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr ends at %lld but there are %lld connections", path,
                  (long long)c->indptr[n], (long long)e);
    ff_connectome_destroy(c);
    return st;
  }
  if (c->np_indptr[n] != nnz) {
    st = FF_ERROR(FF_ERR_INPUT, "'%s': /neuropils/indptr ends at %lld but there are %lld entries", path,
                  (long long)c->np_indptr[n], (long long)nnz);
    ff_connectome_destroy(c);
    return st;
  }
  int vst = ff_connectome_validate(c, path);
  if (vst) {
    ff_connectome_destroy(c);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return vst;
  }
  return FF_OK;
}
