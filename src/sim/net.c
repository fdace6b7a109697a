/* Loading one rank's slice of the network (include/flyfit/net.h).
 * With a stored partition every rank reads only its own slab, by collective MPI-IO reads. A
 * rank that meets a problem (a corrupt offset, say) still takes part in every later collective
 * read, with an empty selection, so that no rank is left waiting; the ranks agree on the
 * outcome before going on. */
#include "flyfit/net.h"
#include "flyfit/connectome.h"
#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/partition.h"
#include "flyfit/spike.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ff_net_destroy(FfNet *net) {
  if (net == NULL) return;
  free(net->neuron_offsets);
  free(net->gid);
  free(net->pre_new);
  free(net->pre_indptr);
  free(net->target);
  free(net->weight);
  free(net->in_degree);
  free(net->np_row);
  free(net->np_id);
  free(net->np_syn);
  free(net->dest_indptr);
  free(net->dest);
  memset(net, 0, sizeof *net);
}

int ff_net_blocks(int64_t n, MPI_Comm comm, const char *what, FfNet *net) {
  memset(net, 0, sizeof *net);
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &net->rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &net->size)));
  if (n < net->size)
    return FF_ERROR(FF_ERR_INPUT, "%s: %lld neurons cannot be split over %d ranks; use fewer ranks", what, (long long)n,
                    net->size);
  int32_t *owner = NULL;
  int st = FF_MALLOC(owner, n, "neuron owners");
  FF_CALL(st, FF_CALLOC(net->neuron_offsets, net->size + 1, "neuron blocks"));
  if (st == FF_OK) {
    ff_partition_block(n, net->size, owner);
    for (int64_t i = 0; i < n; ++i) net->neuron_offsets[owner[i] + 1]++;
    for (int k = 0; k < net->size; ++k) net->neuron_offsets[k + 1] += net->neuron_offsets[k];
    net->n_global = n;
    net->new_base = net->neuron_offsets[net->rank];
    net->n_local = (int32_t)(net->neuron_offsets[net->rank + 1] - net->new_base);
    st = FF_MALLOC(net->gid, net->n_local > 0 ? net->n_local : 1, "neuron ids");
  }
  for (int32_t i = 0; st == FF_OK && i < net->n_local; ++i) net->gid[i] = net->new_base + i; /* blocks keep the order */
  free(owner);
  if (st) ff_net_destroy(net);
  return st;
}

int ff_net_block_counts(const FfNet *net, int64_t per, int *count, int *offset) {
  for (int k = 0; k < net->size; ++k) {
    const int64_t c = (net->neuron_offsets[k + 1] - net->neuron_offsets[k]) * per, d = net->neuron_offsets[k] * per;
    if (c > INT32_MAX || d > INT32_MAX)
      return FF_ERROR(FF_ERR_UNSUPPORTED, "rank %d's block of %lld numbers passes MPI's 2^31", k, (long long)c);
    count[k] = (int)c;
    offset[k] = (int)d;
  }
  return FF_OK;
}

int32_t ff_net_local(const FfNet *net, int64_t gid) { return ff_find_sorted(net->gid, net->n_local, gid); }

int32_t ff_net_standin(const FfNet *net, int64_t q) { return ff_find_sorted(net->pre_new, net->n_pre, q); }

int ff_net_owner(const FfNet *net, int64_t q) {
  int lo = 0, hi = net->size; /* the last r with neuron_offsets[r] <= q */
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (net->neuron_offsets[mid] <= q) lo = mid; else hi = mid;
  }
  return lo;
}

typedef struct {
  hid_t f, dxpl;
  const char *path;
  int status;
} Reader;

/* Reads [offset, offset + count) of dset into *buf (allocated here), or takes part with nothing
 * when an earlier step failed or the range is invalid. */
static void rd(Reader *R, const char *dset, hid_t type, int64_t offset, int64_t count, void **buf) {
  int64_t len = 0;
  *buf = NULL;
  if (R->status == FF_OK) R->status = ff_h5_len(R->f, R->path, dset, &len);
  if (R->status == FF_OK && (offset < 0 || count < 0 || offset + count > len))
    R->status = FF_ERROR(FF_ERR_INPUT, "'%s': %s has %lld entries but this rank's slab is [%lld, %lld); the partition is "
                                       "corrupt: remake it with flyfit-partition",
                         R->path, dset, (long long)len, (long long)offset, (long long)(offset + count));
  if (R->status == FF_OK) R->status = ff_alloc_(buf, (size_t)count, H5Tget_size(type), 0, dset, __FILE__, __LINE__, __func__);
  int ok = R->status == FF_OK;
  static char nothing[16]; /* HDF5 wants a buffer even for an empty selection */
  int st = ff_h5_read_x(R->f, R->path, dset, type, ok ? offset : 0, ok ? count : 0, ok && *buf ? *buf : nothing,
                        R->dxpl);
  if (ok && st) R->status = st;
}

static int check(int ok, int *status, const char *fmt, const char *path, const char *what) {
  if (!ok && *status == FF_OK)
    *status = FF_ERROR(FF_ERR_INPUT, fmt, path, what);
  return ok;
}

/* This rank's slab of /partition/k{size}. */
static int load_slab(Reader *R, FfNet *net) {
  const int K = net->size, r = net->rank;
  char g[64], d[128];
  snprintf(g, sizeof g, "/partition/k%d", K);
#define DS(name) (snprintf(d, sizeof d, "%s/%s", g, name), d)
  int64_t *no = NULL, *po = NULL, *pc = NULL, *np_row = NULL;
  uint64_t *sums = NULL;
  rd(R, DS("neuron_offsets"), H5T_NATIVE_INT64, 0, K + 1, (void **)&no);
  rd(R, DS("pre_offsets"), H5T_NATIVE_INT64, 0, K + 1, (void **)&po);
  rd(R, DS("checksum"), H5T_NATIVE_UINT64, 0, K, (void **)&sums);
  const int ok = R->status == FF_OK;
  if (ok) {
    for (int q = 0; q < K; ++q)
      if (!check(no[q] <= no[q + 1] && po[q] <= po[q + 1], &R->status,
                 "'%s': %s or pre_offsets are not ascending; the partition is corrupt: remake it with flyfit-partition",
                 R->path, g))
        break;
    check(no[0] == 0 && no[K] == net->n_global, &R->status,
          "'%s': %s does not cover the connectome's neurons; remake it with flyfit-partition", R->path, g);
  }
  const int good = R->status == FF_OK;
  const int64_t a = good ? no[r] : 0, n_local = good ? no[r + 1] - no[r] : 0;
  const int64_t s0 = good ? po[r] : 0, n_pre = good ? po[r + 1] - po[r] : 0;
  net->n_local = (int32_t)n_local;
  net->new_base = a;
  net->neuron_offsets = no;
  no = NULL;
  rd(R, DS("order"), H5T_NATIVE_INT64, a, n_local, (void **)&net->gid);
  rd(R, DS("pre"), H5T_NATIVE_INT64, s0, n_pre, (void **)&net->pre_new);
  rd(R, DS("pre_conn"), H5T_NATIVE_INT64, s0, n_pre + 1, (void **)&pc);
  const int64_t e0 = R->status == FF_OK ? pc[0] : 0, n_in = R->status == FF_OK ? pc[n_pre] - pc[0] : 0;
  rd(R, DS("target"), H5T_NATIVE_INT32, e0, n_in, (void **)&net->target);
  rd(R, DS("weight"), H5T_NATIVE_INT32, e0, n_in, (void **)&net->weight);
  rd(R, DS("np_row"), H5T_NATIVE_INT64, a, n_local + 1, (void **)&np_row);
  const int64_t m0 = R->status == FF_OK ? np_row[0] : 0, nnz = R->status == FF_OK ? np_row[n_local] - np_row[0] : 0;
  rd(R, DS("np_id"), H5T_NATIVE_INT16, m0, nnz, (void **)&net->np_id);
  rd(R, DS("np_syn"), H5T_NATIVE_INT32, m0, nnz, (void **)&net->np_syn);
#undef DS
  if (R->status == FF_OK) {
    const uint64_t sum = ff_partition_slab_checksum(net->gid, n_local, net->pre_new, n_pre, pc, net->target,
                                                    net->weight, n_in, np_row, net->np_id, net->np_syn, nnz);
    if (sum != sums[r])
      R->status = FF_ERROR(FF_ERR_INPUT, "'%s': the slab of rank %d in %s does not match its checksum; the partition is "
                                         "damaged: remake it with flyfit-partition %s --ranks %d",
                           R->path, r, g, R->path, K);
  }
  if (R->status == FF_OK) {
    net->n_pre = (int32_t)n_pre;
    net->n_in = n_in;
    net->pre_indptr = pc;
    for (int64_t s = 0; s <= n_pre; ++s) pc[s] -= e0;
    pc = NULL;
    net->np_row = np_row;
    for (int64_t i = 0; i <= n_local; ++i) np_row[i] -= m0;
    np_row = NULL;
  }
  free(no);
  free(po);
  free(pc);
  free(np_row);
  free(sums);
  return R->status;
}

/* One rank and no stored partition: the connection table itself is the slab. */
static int load_whole(Reader *R, FfNet *net) {
  const int64_t n = net->n_global;
  int64_t *indptr = NULL, *np_row = NULL, e = 0, nnz = 0;
  int32_t *post = NULL, *count = NULL;
  rd(R, "/connections/indptr", H5T_NATIVE_INT64, 0, n + 1, (void **)&indptr);
  if (R->status == FF_OK) R->status = ff_h5_len(R->f, R->path, "/connections/post", &e);
  rd(R, "/connections/post", H5T_NATIVE_INT32, 0, e, (void **)&post);
  rd(R, "/connections/count", H5T_NATIVE_INT32, 0, e, (void **)&count);
  rd(R, "/neuropils/indptr", H5T_NATIVE_INT64, 0, n + 1, (void **)&np_row);
  if (R->status == FF_OK) R->status = ff_h5_len(R->f, R->path, "/neuropils/neuropil", &nnz);
  rd(R, "/neuropils/neuropil", H5T_NATIVE_INT16, 0, nnz, (void **)&net->np_id);
  rd(R, "/neuropils/synapses", H5T_NATIVE_INT32, 0, nnz, (void **)&net->np_syn);
  /* from here on a failure sets R->status and falls through to the frees at the end */
  if (R->status == FF_OK && (indptr[0] != 0 || indptr[n] != e || np_row[0] != 0 || np_row[n] != nnz))
    R->status = FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr or /neuropils/indptr does not match its data", R->path);
  net->n_local = (int32_t)n;
  net->new_base = 0;
  if (R->status == FF_OK) R->status = FF_MALLOC(net->neuron_offsets, 2, "rank offsets");
  if (R->status == FF_OK) R->status = FF_MALLOC(net->gid, n, "local neurons");
  if (R->status == FF_OK) R->status = FF_MALLOC(net->pre_new, n, "stand-ins");
  if (R->status == FF_OK) R->status = FF_MALLOC(net->pre_indptr, n + 1, "stand-in offsets");
  if (R->status == FF_OK) {
    net->neuron_offsets[0] = 0;
    net->neuron_offsets[1] = n;
    net->pre_indptr[0] = 0;
    int32_t s = 0;
    for (int64_t i = 0; i < n && R->status == FF_OK; ++i) {
      net->gid[i] = i;
      if (indptr[i + 1] < indptr[i])
        R->status = FF_ERROR(FF_ERR_INPUT, "'%s': /connections/indptr decreases at neuron %lld", R->path, (long long)i);
      else if (indptr[i + 1] > indptr[i]) {
        net->pre_new[s++] = i;
        net->pre_indptr[s] = indptr[i + 1];
      }
    }
    net->n_pre = s;
  }
  if (R->status == FF_OK) {
    net->n_in = e;
    net->target = post;
    net->weight = count;
    net->np_row = np_row;
    post = count = NULL;
    np_row = NULL;
  }
  free(indptr);
  free(post);
  free(count);
  free(np_row);
  return R->status;
}

/* Ranges and order of what was read: every target local, every stand-in a neuron, ascending. */
static int validate(const FfNet *net, const char *path) {
  for (int64_t i = 0; i < net->n_local; ++i)
    if (net->gid[i] < 0 || net->gid[i] >= net->n_global || (i && net->gid[i] <= net->gid[i - 1]))
      return FF_ERROR(FF_ERR_INPUT, "'%s': the neurons of rank %d are out of range or not ascending", path, net->rank);
  for (int32_t s = 0; s < net->n_pre; ++s) {
    if (net->pre_new[s] < 0 || net->pre_new[s] >= net->n_global || (s && net->pre_new[s] <= net->pre_new[s - 1]))
      return FF_ERROR(FF_ERR_INPUT, "'%s': stand-in %d of rank %d is out of range or not ascending", path, s, net->rank);
    if (net->pre_indptr[s + 1] < net->pre_indptr[s] || net->pre_indptr[s + 1] > net->n_in)
      return FF_ERROR(FF_ERR_INPUT, "'%s': connection offsets of rank %d decrease or run past its %lld connections", path,
                      net->rank, (long long)net->n_in);
    for (int64_t k = net->pre_indptr[s]; k < net->pre_indptr[s + 1]; ++k) {
      if (net->target[k] < 0 || net->target[k] >= net->n_local ||
          (k > net->pre_indptr[s] && net->target[k] <= net->target[k - 1]))
        return FF_ERROR(FF_ERR_INPUT, "'%s': a connection of rank %d goes to local neuron %d, outside 0..%d or out of order",
                        path, net->rank, net->target[k], net->n_local - 1);
      if (net->weight[k] == 0)
        return FF_ERROR(FF_ERR_INPUT, "'%s': a connection of rank %d has a synapse count of 0", path, net->rank);
    }
  }
  for (int64_t i = 0; i < net->n_local; ++i) {
    if (net->np_row[i + 1] < net->np_row[i] || net->np_row[i + 1] > net->np_row[net->n_local])
      return FF_ERROR(FF_ERR_INPUT, "'%s': neuropil rows of rank %d decrease or run past their last entry", path,
                      net->rank);
    for (int64_t k = net->np_row[i]; k < net->np_row[i + 1]; ++k)
      if (net->np_id[k] < 0 || net->np_id[k] >= net->n_neuropils || net->np_syn[k] < 0)
        return FF_ERROR(FF_ERR_INPUT, "'%s': neuron %lld lists neuropil %d of %d", path, (long long)net->gid[i],
                        net->np_id[k], net->n_neuropils);
  }
  return FF_OK;
}

/* net->dest_indptr and net->dest from the `total` new ids in need, rank q's from rdispl[q] on. */
static int fill_destinations(FfNet *net, const int64_t *need, int64_t total, const int *rcount, const int *rdispl) {
  FF_TRY(FF_CALLOC(net->dest_indptr, net->n_local + 1, "destinations"));
  for (int64_t k = 0; k < total; ++k) {
    const int64_t i = need[k] - net->new_base;
    if (i < 0 || i >= net->n_local)
      return FF_ERROR(FF_ERR_INTERNAL, "rank %d asked for neuron %lld it does not own", net->rank, (long long)need[k]);
    net->dest_indptr[i + 1]++;
  }
  for (int32_t i = 0; i < net->n_local; ++i) net->dest_indptr[i + 1] += net->dest_indptr[i];
  FF_TRY(FF_MALLOC(net->dest, total, "destinations"));
  int64_t *at;
  FF_TRY(FF_MALLOC(at, net->n_local + 1, "destinations"));
  memcpy(at, net->dest_indptr, (size_t)(net->n_local + 1) * sizeof *at);
  for (int q = 0; q < net->size; ++q) /* ranks in ascending order, so each list is sorted */
    for (int k = rdispl[q]; k < rdispl[q] + rcount[q]; ++k) net->dest[at[need[k] - net->new_base]++] = q;
  free(at);
  return FF_OK;
}

int ff_net_find_destinations(FfNet *net, MPI_Comm comm) {
  const int K = net->size;
  int *scount = NULL, *rcount = NULL, *sdispl = NULL, *rdispl = NULL;
  int64_t *need = NULL; /* new ids of my neurons that rank q needs, rank by rank */
  int64_t total = 0;
  int st = FF_CALLOC(scount, K, "destinations");
  FF_CALL(st, FF_CALLOC(rcount, K, "destinations"));
  FF_CALL(st, FF_CALLOC(sdispl, K, "destinations"));
  FF_CALL(st, FF_CALLOC(rdispl, K, "destinations"));
  for (int32_t s = 0; st == FF_OK && s < net->n_pre; ++s) scount[ff_net_owner(net, net->pre_new[s])]++;
  FF_CALL(st, FF_MPI(MPI_Alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, comm)));
  for (int q = 0; st == FF_OK && q < K; ++q) {
    rdispl[q] = (int)total;
    total += rcount[q];
    if (q) sdispl[q] = sdispl[q - 1] + scount[q - 1];
  }
  FF_CALL(st, FF_MALLOC(need, total, "destinations"));
  /* stand-ins are ascending by new id, so they are already grouped by owner */
  FF_CALL(st, FF_MPI(MPI_Alltoallv(net->pre_new, scount, sdispl, MPI_INT64_T, need, rcount, rdispl, MPI_INT64_T, comm)));
  FF_CALL(st, fill_destinations(net, need, total, rcount, rdispl));
  free(need);
  free(scount);
  free(rcount);
  free(sdispl);
  free(rdispl);
  return st;
}

int ff_net_load(const char *path, MPI_Comm comm, FfNet *net) {
  memset(net, 0, sizeof *net);
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &net->rank)));
  FF_TRY(FF_MPI(MPI_Comm_size(comm, &net->size)));
  Reader R = {-1, -1, path, FF_OK};
  FF_TRY(ff_h5_open_parallel(path, comm, &R.f));
  R.dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(R.dxpl, H5FD_MPIO_COLLECTIVE);
  int64_t P = 0;
  R.status = ff_h5_len(R.f, path, "/neurons/root_id", &net->n_global);
  if (R.status == FF_OK && net->n_global > INT32_MAX)
    R.status = FF_ERROR(FF_ERR_INPUT, "'%s': %lld neurons is more than flyfit supports (2^31-1)", path,
                        (long long)net->n_global);
  if (R.status == FF_OK) R.status = ff_h5_len(R.f, path, "/neuropils/names", &P);
  if (R.status == FF_OK && P > INT16_MAX)
    R.status = FF_ERROR(FF_ERR_INPUT, "'%s': /neuropils/names has %lld names; flyfit supports at most %d neuropils",
                        path, (long long)P, INT16_MAX);
  net->n_neuropils = (int32_t)P;
  char group[64];
  snprintf(group, sizeof group, "/partition/k%d", net->size);
  const int stored = R.status == FF_OK && ff_h5_exists(R.f, group);
  if (R.status == FF_OK && !stored && net->size > 1)
    R.status = FF_ERROR(FF_ERR_INPUT, "'%s' holds no partition for %d ranks", path, net->size);
  if (stored) {
    net->from_partition = 1;
    hid_t g = H5Gopen2(R.f, group, H5P_DEFAULT);
    int64_t attr[2] = {-1, -1};
    const char *names[2] = {"ranks", "neurons"};
    for (int k = 0; k < 2 && g >= 0 && R.status == FF_OK; ++k)
      if (ff_h5_read_attr_int(g, path, names[k], &attr[k]) != FF_OK) { /* missing, or not one number */
        char why[1024];
        snprintf(why, sizeof why, "%s", ff_error_message());
        R.status = FF_ERROR(FF_ERR_INPUT, "%s (in %s); remake the partition with flyfit-partition %s --ranks %d", why,
                            group, path, net->size);
      }
    if (g >= 0) H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    if (R.status == FF_OK && (attr[0] != net->size || attr[1] != net->n_global))
      R.status = FF_ERROR(FF_ERR_INPUT, "'%s': %s was made for %lld ranks and %lld neurons, not %d and %lld; remake it "
                                        "with flyfit-partition %s --ranks %d",
                          path, group, (long long)attr[0], (long long)attr[1], net->size, (long long)net->n_global, path,
                          net->size);
    R.status = load_slab(&R, net);
  } else {
    R.status = load_whole(&R, net);
  }
  /* the home neuropils: not needed here, but the file is refused for them as everywhere else */
  int16_t *home = NULL;
  rd(&R, "/neurons/neuropil", H5T_NATIVE_INT16, 0, R.status == FF_OK ? net->n_global : 0, (void **)&home);
  if (R.status == FF_OK) {
    char what[4200];
    snprintf(what, sizeof what, "'%s'", path);
    R.status = ff_connectome_check_home(home, 0, net->n_global, net->n_neuropils, what);
  }
  free(home);
  H5Pclose(R.dxpl);
  H5Fclose(R.f);
  int st = R.status;
  if (st == FF_OK) st = validate(net, path);
  if (st == FF_OK) st = FF_CALLOC(net->in_degree, net->n_local, "in-degrees");
  for (int64_t k = 0; st == FF_OK && k < net->n_in; ++k) net->in_degree[net->target[k]]++;
  return st;
}
