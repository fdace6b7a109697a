/* HDF5 helpers with flyfit error messages (see include/flyfit/h5.h). */
#define _POSIX_C_SOURCE 200809L
#include "flyfit/h5.h"
#include "flyfit/atomic.h"
#include "flyfit/error.h"
#include "flyfit/ranks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The longest fixed-length string attribute read (a command line, a source description). */
enum { FF_H5_ATTR_MAX = 1 << 20 };

extern char **environ;

void ff_h5_init(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Why HDF5 failed: the system's own words where a file driver passed them up ("error message = 'No
 * space left on device'", with the "total write size" of the write), else the innermost description
 * (e.g. "truncated file"). The stack must be read before any other HDF5 call: each clears it. */
typedef struct {
  char inner[256], sys[160];
  long long bytes;
} Why;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
  Why *w = data;
  if (e->desc == NULL) return 0;
  if (n == 0) snprintf(w->inner, sizeof w->inner, "%s", e->desc);
  const char *m = strstr(e->desc, "error message = '");
  if (m && w->sys[0] == '\0') {
    m += strlen("error message = '");
    const char *end = strchr(m, '\'');
    snprintf(w->sys, sizeof w->sys, "%.*s", end ? (int)(end - m) : 120, m);
  }
  const char *b = strstr(e->desc, "total write size = ");
  if (b && w->bytes < 0) w->bytes = strtoll(b + strlen("total write size = "), NULL, 10);
  return 0;
}

static const char *h5_why(char buf[256]) {
  Why w = {"", "", -1};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (w.sys[0] && w.bytes >= 0) snprintf(buf, 256, "%s (writing %lld bytes)", w.sys, w.bytes);
  else if (w.sys[0]) snprintf(buf, 256, "%s", w.sys);
  else if (w.inner[0]) snprintf(buf, 256, "%s", w.inner);
  else snprintf(buf, 256, "HDF5 gave no reason");
  return buf;
}

int ff_h5_open(const char *path, hid_t fapl, hid_t *fid) {
  char why[256];
  struct stat st;
  *fid = H5I_INVALID_HID;
  if (stat(path, &st) != 0)
    return FF_ERROR(FF_ERR_INPUT, "'%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return FF_ERROR(FF_ERR_INPUT, "'%s' is not a regular file", path);
#if H5_VERSION_GE(1, 12, 0)
  htri_t is = H5Fis_accessible(path, fapl);
#else
  (void)fapl;
  htri_t is = H5Fis_hdf5(path);
#endif
  if (is <= 0) {
    h5_why(why);
    return FF_ERROR(FF_ERR_INPUT, "'%s' is not a readable HDF5 file (%s); is it truncated or of another format?",
                    path, why);
  }
  *fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (*fid < 0)
    return FF_ERROR(FF_ERR_INPUT, "cannot open HDF5 file '%s': %s (the file may be damaged or truncated)", path,
                    h5_why(why));
  return FF_OK;
}

int ff_h5_open_parallel(const char *path, MPI_Comm comm, hid_t *fid) {
  *fid = H5I_INVALID_HID;
  MPI_Info info;
  FF_TRY(FF_MPI(MPI_Info_create(&info)));
  /* Small collective buffers: each rank reads one contiguous slab, so bigger aggregation buffers
   * gain nothing and would add to every aggregating rank's peak memory. */
  int st = FF_MPI(MPI_Info_set(info, "cb_buffer_size", "1048576"));
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (st == FF_OK) H5Pset_fapl_mpio(fapl, comm, info);
  const int freed = FF_MPI(MPI_Info_free(&info));
  FF_CALL(st, freed);
  FF_CALL(st, ff_h5_open(path, fapl, fid)); /* the same checks and messages as a serial open */
  H5Pclose(fapl);
  return st;
}

/* Walks the components of path ("/a/b/c": /a, /a/b, /a/b/c) and calls step(loc, prefix) on each
 * that is missing; H5Lexists fails on a missing intermediate group, so each is tested in turn.
 * Returns 0 when all exist (or step made them), 1 when one is missing and step is NULL, or step's
 * nonzero status. */
static int walk_path(hid_t loc, const char *path, int (*step)(hid_t loc, const char *prefix)) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; ++p) {
    if (*p == '/' || *p == '\0') {
      const char c = *p;
      *p = '\0';
      if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        const int st = step ? step(loc, buf) : 1;
        if (st != 0) return st;
      }
      *p = c;
      if (c == '\0') break;
    }
  }
  return 0;
}

int ff_h5_exists(hid_t loc, const char *name) { return walk_path(loc, name, NULL) == 0; }

static int open_dset(hid_t fid, const char *file, const char *dset, hid_t *d) {
  char why[256];
  if (!ff_h5_exists(fid, dset))
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s is missing; is this a flyfit file of the right kind?", file,
                    dset);
  *d = H5Dopen2(fid, dset, H5P_DEFAULT);
  if (*d < 0) return FF_ERROR(FF_ERR_INPUT, "'%s': cannot open dataset %s: %s", file, dset, h5_why(why));
  return FF_OK;
}

/* Readers allocate what a dataset's dimensions say before they read it, so the dimensions must
 * describe data the file holds: a damaged file can claim 2^40 elements with nothing stored (HDF5
 * would hand back fill values), or dimensions whose product overflows. Contiguous data (what
 * flyfit writes) must be stored in full; chunked data may be compressed, by at most deflate's
 * ratio of about 1000. */
static int check_stored(hid_t d, const char *file, const char *dset, int rank, const hsize_t *h) {
  const hid_t t = H5Dget_type(d), dcpl = H5Dget_create_plist(d);
  const size_t tsize = t >= 0 ? H5Tget_size(t) : 0;
  const H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  if (t >= 0) H5Tclose(t);
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Eclear2(H5E_DEFAULT);
  uint64_t elems = 1;
  int overflow = 0;
  for (int i = 0; i < rank; ++i) {
    if (h[i] != 0 && elems > (uint64_t)INT64_MAX / h[i]) overflow = 1;
    else elems *= h[i];
  }
  if (overflow || (tsize > 0 && elems > (uint64_t)INT64_MAX / tsize))
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s has dimensions (the first is %llu) whose size in bytes overflows; "
                    "the file is damaged", file, dset, (unsigned long long)(rank > 0 ? h[0] : 0));
  const uint64_t bytes = elems * tsize;
  if (bytes == 0 || layout == H5D_COMPACT) return FF_OK; /* compact data lies in the header itself */
  const uint64_t stored = H5Dget_storage_size(d);
  H5Eclear2(H5E_DEFAULT);
  if ((layout == H5D_CONTIGUOUS && stored < bytes) || (layout == H5D_CHUNKED && (stored == 0 || bytes / 1100 > stored)))
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s claims %llu elements (%llu bytes) but the file stores %llu bytes of "
                    "it; the file is damaged or truncated, or the dataset was created without being written", file,
                    dset, (unsigned long long)elems, (unsigned long long)bytes, (unsigned long long)stored);
  return FF_OK;
}

int ff_h5_shape(hid_t fid, const char *file, const char *dset, int rank, int64_t *dims) {
  hid_t d;
  FF_TRY(open_dset(fid, file, dset, &d));
  hid_t s = H5Dget_space(d);
  int r = H5Sget_simple_extent_ndims(s);
  hsize_t h[8] = {0};
  if (r != rank) {
    H5Sclose(s);
    H5Dclose(d);
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s has %d dimension(s), expected %d", file, dset, r, rank);
  }
  H5Sget_simple_extent_dims(s, h, NULL);
  for (int i = 0; i < rank; ++i) dims[i] = (int64_t)h[i];
  const int st = check_stored(d, file, dset, rank, h);
  H5Sclose(s);
  H5Dclose(d);
  return st;
}

int ff_h5_read_whole(hid_t fid, const char *file, const char *dset, hid_t memtype, void *buf) {
  hid_t d;
  FF_TRY(open_dset(fid, file, dset, &d));
  const herr_t e = H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(d);
  if (e < 0) return FF_ERROR(FF_ERR_INPUT, "'%s': cannot read dataset %s (as numbers of the type expected)", file, dset);
  return FF_OK;
}

int ff_h5_len(hid_t fid, const char *file, const char *dset, int64_t *len) {
  return ff_h5_shape(fid, file, dset, 1, len);
}

int ff_h5_read(hid_t fid, const char *file, const char *dset, hid_t memtype, int64_t offset, int64_t count,
               void *buf) {
  if (count == 0) { /* still check that the dataset exists and the offset is valid */
    int64_t len;
    FF_TRY(ff_h5_len(fid, file, dset, &len));
    if (offset < 0 || offset > len)
      return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s has %lld elements, cannot read from %lld", file, dset, (long long)len,
                      (long long)offset);
    return FF_OK;
  }
  return ff_h5_read_x(fid, file, dset, memtype, offset, count, buf, H5P_DEFAULT);
}

int ff_h5_read_x(hid_t fid, const char *file, const char *dset, hid_t memtype, int64_t offset, int64_t count, void *buf,
                 hid_t dxpl) {
  char why[256];
  hid_t d;
  int64_t len;
  FF_TRY(ff_h5_len(fid, file, dset, &len));
  if (offset < 0 || count < 0 || offset + count > len)
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s has %lld elements, cannot read [%lld, %lld)", file, dset,
                    (long long)len, (long long)offset, (long long)(offset + count));
  if (len == 0) return FF_OK; /* nothing stored; every rank sees the same length, so all skip alike */
  FF_TRY(open_dset(fid, file, dset, &d));
  hid_t fs = H5Dget_space(d);
  hsize_t off = (hsize_t)offset, cnt = (hsize_t)count;
  hid_t ms;
  if (count > 0) {
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, NULL, &cnt, NULL);
    ms = H5Screate_simple(1, &cnt, NULL);
  } else { /* a rank with nothing to read still takes part in a collective read */
    H5Sselect_none(fs);
    hsize_t one = 1;
    ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_none(ms);
  }
  herr_t rc = H5Dread(d, memtype, ms, fs, dxpl, buf);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  if (rc < 0)
    return FF_ERROR(FF_ERR_INPUT, "'%s': reading dataset %s failed: %s (wrong type, or a damaged file?)", file, dset,
                    h5_why(why));
  return FF_OK;
}

int ff_h5_read_all(hid_t fid, const char *file, const char *dset, hid_t memtype, int64_t expect_len, void **buf,
                   int64_t *len) {
  int64_t n;
  *buf = NULL;
  FF_TRY(ff_h5_len(fid, file, dset, &n));
  if (expect_len >= 0 && n != expect_len)
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s has %lld elements, expected %lld", file, dset, (long long)n,
                    (long long)expect_len);
  FF_TRY(ff_alloc_(buf, (size_t)n, H5Tget_size(memtype), 0, dset, __FILE__, __LINE__, __func__));
  int st = ff_h5_read(fid, file, dset, memtype, 0, n, *buf);
  if (st) {
    FF_FREE(*buf);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  if (len) *len = n;
  return FF_OK;
}

/* ---- strings libhdf5 cannot be trusted to read -------------------------------------------------- */

/* Variable-length strings live in the file's global heap, which libhdf5 1.10 reads unchecked: a damaged
 * heap makes it read out of bounds, crash or loop forever (tests/fuzz/hdf5-bugs). Before the first such
 * read from a file, bin/flyfit-h5check (beside the running program, or $FLYFIT_H5CHECK; "off": none) reads every one
 * of them in a process of its own, under AddressSanitizer and a time limit, and a file it cannot read is
 * refused. Each file is checked once per process; without the checker (unit tests, fuzz targets) the
 * strings are read as they are. */
enum { VLEN_CACHE = 64 };
typedef struct {
  dev_t dev;
  ino_t ino;
  off_t size;
  time_t mtime;
} Checked;
static Checked g_vlen_ok[VLEN_CACHE];
static int g_vlen_n;

static int vlen_checker(char *out, size_t cap) {
  const char *env = getenv("FLYFIT_H5CHECK");
  if (env && !strcmp(env, "off")) return 0; /* the user's way out, should the checker ever refuse a good file */
  if (env && *env) return snprintf(out, cap, "%s", env) < (int)cap && access(out, X_OK) == 0;
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 0;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) return 0;
  *slash = '\0';
  return snprintf(out, cap, "%s/flyfit-h5check", self) < (int)cap && access(out, X_OK) == 0;
}

static int vlen_guard(const char *file) {
  struct stat sb;
  char checker[4200];
  if (stat(file, &sb) != 0) return FF_OK; /* not a path: nothing to check by name */
  for (int k = 0; k < g_vlen_n; ++k)
    if (g_vlen_ok[k].dev == sb.st_dev && g_vlen_ok[k].ino == sb.st_ino && g_vlen_ok[k].size == sb.st_size &&
        g_vlen_ok[k].mtime == sb.st_mtime)
      return FF_OK;
  if (!vlen_checker(checker, sizeof checker)) return FF_OK;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *argv[] = {checker, (char *)file, NULL};
  /* its environment without LD_PRELOAD (an I/O profiler preloaded on a cluster, Darshan, would keep the
   * sanitizer's runtime from loading first, and a failure to start must not read as a damaged file) and
   * without the sanitizers' options (the checker's reports are its answer, not a finding of the caller's
   * sanitizer run; its options are its own) */
  int n_env = 0;
  while (environ[n_env]) ++n_env;
  char **env = calloc((size_t)n_env + 1, sizeof *env);
  if (!env) {
    posix_spawn_file_actions_destroy(&fa);
    return FF_OK;
  }
  for (int k = 0, j = 0; k < n_env; ++k)
    if (strncmp(environ[k], "LD_PRELOAD=", 11) != 0 && strncmp(environ[k], "ASAN_OPTIONS=", 13) != 0 &&
        strncmp(environ[k], "UBSAN_OPTIONS=", 14) != 0 && strncmp(environ[k], "LSAN_OPTIONS=", 13) != 0)
      env[j++] = environ[k];
  pid_t pid;
  const int sp = posix_spawn(&pid, checker, &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  if (sp != 0) return FF_OK; /* no checker to run: read as before */
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const char *why = NULL;
  char sig[64];
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) why = "libhdf5 reports an error reading them";
  else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) why = "libhdf5 reads outside its buffers reading them";
  else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) why = "libhdf5 did not finish reading them within 5 s";
  else if (WIFSIGNALED(status)) {
    snprintf(sig, sizeof sig, "libhdf5 crashed reading them (signal %d)", WTERMSIG(status));
    why = sig;
  }
  if (why)
    return FF_ERROR(FF_ERR_INPUT, "'%s': its variable-length strings cannot be read safely: %s. The file's global heap "
                                  "is damaged; write the file again with the tool that made it",
                    file, why);
  if (g_vlen_n < VLEN_CACHE) /* read fine (or the checker could not open it: read as before) */
    g_vlen_ok[g_vlen_n++] = (Checked){sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtime};
  return FF_OK;
}

int ff_h5_read_strings(hid_t fid, const char *file, const char *dset, char ***strings, int64_t *n) {
  char why[256];
  hid_t d;
  *strings = NULL;
  FF_TRY(ff_h5_len(fid, file, dset, n));
  FF_TRY(open_dset(fid, file, dset, &d));
  hid_t ft = H5Dget_type(d);
  if (H5Tget_class(ft) != H5T_STRING) {
    H5Tclose(ft);
    H5Dclose(d);
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s does not hold strings", file, dset);
  }
  /* every failure below closes d and ft and frees what was allocated */
  char **out = NULL;
  herr_t rc = -1;
  int st = FF_CALLOC(out, *n + 1, dset);
  const int vlen = H5Tis_variable_str(ft) > 0;
  if (st == FF_OK && vlen) st = vlen_guard(file);
  if (st == FF_OK && vlen) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    char **raw;
    st = FF_CALLOC(raw, *n + 1, dset);
    if (st == FF_OK) rc = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    for (int64_t i = 0; st == FF_OK && rc >= 0 && i < *n; ++i) out[i] = strdup(raw[i] ? raw[i] : "");
    if (st == FF_OK && rc >= 0) {
      hid_t s = H5Dget_space(d);
      H5Dvlen_reclaim(mt, s, H5P_DEFAULT, raw);
      H5Sclose(s);
    }
    free(raw);
    H5Tclose(mt);
  } else if (st == FF_OK) {
    size_t w = H5Tget_size(ft);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, w + 1);
    H5Tset_cset(mt, H5Tget_cset(ft));
    char *raw;
    st = FF_CALLOC(raw, (size_t)(*n) * (w + 1) + 1, dset);
    if (st == FF_OK) rc = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    for (int64_t i = 0; st == FF_OK && rc >= 0 && i < *n; ++i) out[i] = strdup(raw + (size_t)i * (w + 1));
    free(raw);
    H5Tclose(mt);
  }
  H5Tclose(ft);
  H5Dclose(d);
  if (st == FF_OK && rc < 0) st = FF_ERROR(FF_ERR_INPUT, "'%s': reading strings %s failed: %s", file, dset, h5_why(why));
  for (int64_t i = 0; st == FF_OK && i < *n; ++i)
    if (out[i] == NULL) st = FF_ERROR(FF_ERR_NOMEM, "out of memory copying strings of %s", dset);
  if (st != FF_OK) {
    ff_h5_free_strings(&out, *n);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  *strings = out;
  return FF_OK;
}

void ff_h5_free_strings(char ***strings, int64_t n) {
  if (*strings == NULL) return;
  for (int64_t i = 0; i < n; ++i) free((*strings)[i]);
  FF_FREE(*strings);
}

int ff_h5_read_attr_string(hid_t obj, const char *file, const char *name, char *buf, size_t cap) {
  buf[0] = '\0';
  if (H5Aexists(obj, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return FF_ERROR(FF_ERR_INPUT, "'%s': attribute '%s' is missing", file, name);
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a), s = H5Aget_space(a);
  /* one string, of a sane length: H5Aread writes every element of the attribute into the buffer */
  const int one = H5Sget_simple_extent_npoints(s) == 1;
  if (s >= 0) H5Sclose(s);
  herr_t rc = -1;
  const int string = one && H5Tget_class(t) == H5T_STRING, vlen = string && H5Tis_variable_str(t) > 0;
  const int guard = vlen ? vlen_guard(file) : FF_OK;
  if (guard != FF_OK) {
    H5Tclose(t);
    H5Aclose(a);
    return guard;
  }
  if (string && (vlen || H5Tget_size(t) <= FF_H5_ATTR_MAX)) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 converts neither way between ASCII and UTF-8 */
    if (vlen) {
      H5Tset_size(mt, H5T_VARIABLE);
      char *s = NULL;
      rc = H5Aread(a, mt, &s);
      if (rc >= 0 && s) {
        snprintf(buf, cap, "%s", s);
        H5free_memory(s);
      }
    } else {
      size_t w = H5Tget_size(t);
      char *s = calloc(w + 1, 1);
      H5Tset_size(mt, w + 1);
      if (s) rc = H5Aread(a, mt, s);
      if (rc >= 0 && s) snprintf(buf, cap, "%s", s);
      free(s);
    }
    H5Tclose(mt);
  }
  H5Tclose(t);
  H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  if (rc < 0) return FF_ERROR(FF_ERR_INPUT, "'%s': attribute '%s' is not a single readable string", file, name);
  return FF_OK;
}

static int read_attr_number(hid_t obj, const char *file, const char *name, hid_t memtype, void *value) {
  if (H5Aexists(obj, name) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return FF_ERROR(FF_ERR_INPUT, "'%s': attribute '%s' is missing", file, name);
  }
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a), s = H5Aget_space(a);
  const H5T_class_t cls = H5Tget_class(t);
  herr_t rc = -1;
  if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Sget_simple_extent_npoints(s) == 1) rc = H5Aread(a, memtype, value);
  H5Sclose(s);
  H5Tclose(t);
  H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  if (rc < 0) return FF_ERROR(FF_ERR_INPUT, "'%s': attribute '%s' is not a single number", file, name);
  return FF_OK;
}

int ff_h5_read_attr_double(hid_t obj, const char *file, const char *name, double *value) {
  return read_attr_number(obj, file, name, H5T_NATIVE_DOUBLE, value);
}

int ff_h5_read_attr_int(hid_t obj, const char *file, const char *name, int64_t *value) {
  return read_attr_number(obj, file, name, H5T_NATIVE_INT64, value);
}

/* Creation properties without modification times, so that the same content gives the same bytes. */
static hid_t untimed(hid_t cls) {
  hid_t p = H5Pcreate(cls);
  H5Pset_obj_track_times(p, 0);
  return p;
}

static int create_group(hid_t loc, const char *path) {
  hid_t gcpl = untimed(H5P_GROUP_CREATE);
  hid_t g = H5Gcreate2(loc, path, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  if (g < 0) return FF_ERROR(FF_ERR_IO, "creating group %s failed", path);
  H5Gclose(g);
  return FF_OK;
}

int ff_h5_group(hid_t loc, const char *path) {
  FF_TRY(walk_path(loc, path, create_group));
  return FF_OK;
}

/* Creates the groups above dataset path dset. */
static int parents(hid_t loc, const char *dset) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", dset);
  char *slash = strrchr(buf, '/');
  if (slash == NULL || slash == buf) return FF_OK;
  *slash = '\0';
  return ff_h5_group(loc, buf);
}

int ff_h5_write(hid_t loc, const char *dset, hid_t memtype, int rank, const int64_t *dims, const void *buf) {
  char why[256];
  hsize_t h[3] = {0, 0, 0};
  if (rank < 1 || rank > 3) return FF_ERROR(FF_ERR_INTERNAL, "dataset %s: rank %d not supported", dset, rank);
  for (int i = 0; i < rank; ++i) h[i] = (hsize_t)dims[i];
  FF_TRY(parents(loc, dset));
  hid_t s = H5Screate_simple(rank, h, NULL);
  hid_t dcpl = untimed(H5P_DATASET_CREATE);
  hid_t d = H5Dcreate2(loc, dset, memtype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d < 0) h5_why(why); /* now: the next HDF5 call clears the error stack */
  H5Pclose(dcpl);
  herr_t rc = d < 0 ? -1 : 0;
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) total *= dims[i];
  if (rc >= 0 && total > 0) rc = H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (rc < 0 && d >= 0) h5_why(why); /* before the closes below clear HDF5's error stack */
  if (d >= 0) H5Dclose(d);
  H5Sclose(s);
  if (rc < 0) return FF_ERROR(FF_ERR_IO, "writing dataset %s failed: %s", dset, why);
  return FF_OK;
}

int ff_h5_write_strings(hid_t loc, const char *dset, const char *const *strings, int64_t n) {
  char why[256];
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  hsize_t h = (hsize_t)n;
  FF_TRY(parents(loc, dset));
  hid_t s = H5Screate_simple(1, &h, NULL);
  hid_t dcpl = untimed(H5P_DATASET_CREATE);
  hid_t d = H5Dcreate2(loc, dset, t, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  herr_t rc = d < 0 ? -1 : 0;
  if (rc >= 0 && n > 0) rc = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings);
  if (d >= 0) H5Dclose(d);
  H5Sclose(s);
  H5Tclose(t);
  if (rc < 0) return FF_ERROR(FF_ERR_IO, "writing strings %s failed: %s", dset, h5_why(why));
  return FF_OK;
}

static int write_attr(hid_t obj, const char *name, hid_t type, const void *value) {
  char why[256];
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hid_t s = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, type, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(s);
  if (rc < 0) return FF_ERROR(FF_ERR_IO, "writing attribute %s failed: %s", name, h5_why(why));
  return FF_OK;
}

int ff_h5_write_attr_string(hid_t obj, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  int st = write_attr(obj, name, t, &value);
  H5Tclose(t);
  return st;
}

int ff_h5_write_attr_string_fixed(hid_t obj, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(value) + 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  H5Tset_cset(t, H5T_CSET_UTF8);
  int st = write_attr(obj, name, t, value);
  H5Tclose(t);
  return st;
}

int ff_h5_write_attr_double(hid_t obj, const char *name, double value) {
  return write_attr(obj, name, H5T_NATIVE_DOUBLE, &value);
}

int ff_h5_write_attr_int(hid_t obj, const char *name, int64_t value) {
  return write_attr(obj, name, H5T_NATIVE_INT64, &value);
}

/* ---- parallel files: every rank writes or reads its own rows (collective MPI-IO) ---------------- */

/* A selection of rows [row0, row0 + rows) of a dataset of `rank` (1 or 2) dims. */
static void select_rows(hid_t fs, int rank, const int64_t *dims, int64_t row0, int64_t rows, hid_t *ms) {
  hsize_t off[2] = {(hsize_t)row0, 0}, cnt[2] = {(hsize_t)rows, rank > 1 ? (hsize_t)dims[1] : 1};
  if (rows > 0) {
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
    *ms = H5Screate_simple(rank, cnt, NULL);
  } else { /* a rank with nothing to move still takes part */
    H5Sselect_none(fs);
    hsize_t one[2] = {1, 1};
    *ms = H5Screate_simple(rank, one, NULL);
    H5Sselect_none(*ms);
  }
}

int ff_h5_write_rows(hid_t fid, const char *dset, hid_t memtype, int rank, const int64_t *dims, int64_t row0,
                     int64_t rows, const void *buf) {
  char why[256];
  if (rank < 1 || rank > 2) return FF_ERROR(FF_ERR_INTERNAL, "dataset %s: rank %d not supported", dset, rank);
  FF_TRY(parents(fid, dset));
  hsize_t h[2] = {(hsize_t)dims[0], rank > 1 ? (hsize_t)dims[1] : 1};
  hid_t s = H5Screate_simple(rank, h, NULL);
  hid_t dcpl = untimed(H5P_DATASET_CREATE);
  hid_t d = H5Dcreate2(fid, dset, memtype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d < 0) h5_why(why); /* now: the next HDF5 call clears the error stack */
  H5Pclose(dcpl);
  herr_t rc = d < 0 ? -1 : 0;
  hid_t ms = H5I_INVALID_HID, dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  static const char nothing[16] = {0};
  if (d >= 0) {
    select_rows(s, rank, dims, row0, rows, &ms);
    rc = H5Dwrite(d, memtype, ms, s, dxpl, rows > 0 ? buf : nothing);
    H5Sclose(ms);
  }
  if (rc < 0 && d >= 0) h5_why(why); /* before the closes below clear HDF5's error stack */
  H5Pclose(dxpl);
  H5Sclose(s);
  if (d >= 0) H5Dclose(d);
  if (rc < 0) return FF_ERROR(FF_ERR_IO, "writing dataset %s failed: %s", dset, why);
  return FF_OK;
}

int ff_h5_read_rows(hid_t fid, const char *file, const char *dset, hid_t memtype, int rank, const int64_t *dims,
                    int64_t row0, int64_t rows, void *buf) {
  char why[256];
  hid_t d;
  int64_t have[2] = {0, 0};
  FF_TRY(ff_h5_shape(fid, file, dset, rank, have));
  if (have[0] != dims[0] || (rank > 1 && have[1] != dims[1]))
    return FF_ERROR(FF_ERR_INPUT, "'%s': dataset %s is %lld x %lld, expected %lld x %lld", file, dset, (long long)have[0],
                    (long long)(rank > 1 ? have[1] : 1), (long long)dims[0], (long long)(rank > 1 ? dims[1] : 1));
  FF_TRY(open_dset(fid, file, dset, &d));
  hid_t fs = H5Dget_space(d), ms, dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  select_rows(fs, rank, dims, row0, rows, &ms);
  static char nothing[16];
  herr_t rc = H5Dread(d, memtype, ms, fs, dxpl, rows > 0 ? buf : nothing);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Pclose(dxpl);
  H5Dclose(d);
  if (rc < 0) return FF_ERROR(FF_ERR_INPUT, "'%s': reading dataset %s failed: %s", file, dset, h5_why(why));
  return FF_OK;
}

/* ---- atomic writes: a temporary file, committed when complete (atomic.h) ------------------------- */

/* Creates tmp through fapl (serial, or MPI-IO) without modification times and with the 1.8 object
 * format or later, so that the same content always gives the same bytes. */
static hid_t create_untimed(const char *tmp, hid_t fapl) {
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  H5Pset_obj_track_times(fcpl, 0); /* the root group too */
  const hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  return f;
}

/* After a failed write (often a full disk): the temporary file's data are dropped first (truncated to
 * nothing), so that closing it, which flushes HDF5's metadata, finds room; a close that still fails
 * would leave the file half-open inside HDF5, which then crashes at MPI_Finalize. */
static void close_failed(hid_t f, const char *tmp) {
  int *fd = NULL;
  H5E_BEGIN_TRY { /* the sec2 driver's handle is its file descriptor */
    if (H5Fget_vfd_handle(f, H5P_DEFAULT, (void **)&fd) >= 0 && fd && *fd >= 0) (void)!ftruncate(*fd, 0);
    H5Fclose(f);
  } H5E_END_TRY;
  H5Eclear2(H5E_DEFAULT);
  unlink(tmp);
}

int ff_h5_write_atomic(const char *path, FfH5Body body, void *ctx) {
  char tmp[4200], why[256];
  ff_atomic_tmp_name(path, (long)getpid(), tmp, sizeof tmp);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  const hid_t f = create_untimed(tmp, fapl);
  H5Pclose(fapl);
  if (f < 0) return FF_ERROR(FF_ERR_IO, "cannot create '%s': %s", tmp, h5_why(why));
  const int st = body(f, ctx);
  if (st != FF_OK) {
    close_failed(f, tmp);
    ff_error_prefix("'%s' (written as %s): ", path, tmp);
    return st;
  }
  if (H5Fclose(f) < 0) {
    h5_why(why);
    close_failed(f, tmp);
    return FF_ERROR(FF_ERR_IO, "'%s': closing %s failed: %s", path, tmp, why);
  }
  return ff_atomic_commit(tmp, path);
}

int ff_h5_write_atomic_parallel(const char *path, MPI_Comm comm, FfH5Body body, void *ctx) {
  char tmp[4200], why[256];
  int rank;
  long pid = (long)getpid();
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  FF_TRY(FF_MPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, comm))); /* one name for every rank: rank 0's process id */
  ff_atomic_tmp_name(path, pid, tmp, sizeof tmp);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  hid_t f = create_untimed(tmp, fapl);
  H5Pclose(fapl);
  int ok = f >= 0, all;
  FF_TRY(FF_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm)));
  if (!all) {
    if (f >= 0) H5Fclose(f);
    return FF_ERROR(FF_ERR_IO, "cannot create '%s': %s", tmp, ok ? "another rank failed to" : h5_why(why));
  }
  int st = body(f, ctx);
  if (st != FF_OK) { /* every rank has the same status: the body's writes are collective */
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    if (rank == 0) unlink(tmp);
    ff_error_prefix("'%s' (written as %s): ", path, tmp);
    return st;
  }
  ok = H5Fclose(f) >= 0;
  if (!ok) h5_why(why);
  FF_TRY(FF_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm)));
  if (!all) {
    if (rank == 0) unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "'%s': closing %s failed: %s", path, tmp, ok ? "on another rank" : why);
  }
  /* once every rank has closed it */
  return ff_ranks_root_status(rank == 0 ? ff_atomic_commit(tmp, path) : FF_OK, comm, "put '%s' in place", path);
}

/* ---- attribute tables ----------------------------------------------------------------------------- */

int ff_h5_write_attrs(hid_t loc, const char *obj, const FfH5Attr *a, int n) {
  const int self = obj == NULL || strcmp(obj, ".") == 0;
  const hid_t o = self ? loc : H5Oopen(loc, obj, H5P_DEFAULT);
  if (o < 0) {
    H5Eclear2(H5E_DEFAULT);
    return FF_ERROR(FF_ERR_IO, "cannot open %s to write its attributes", obj);
  }
  int st = FF_OK;
  for (int k = 0; k < n && st == FF_OK; ++k) {
    switch (a[k].kind) {
    case FF_H5_ATTR_INT: st = ff_h5_write_attr_int(o, a[k].name, a[k].i); break;
    case FF_H5_ATTR_DOUBLE: st = ff_h5_write_attr_double(o, a[k].name, a[k].d); break;
    case FF_H5_ATTR_STRING:
      if (a[k].s) st = ff_h5_write_attr_string(o, a[k].name, a[k].s);
      break;
    case FF_H5_ATTR_STRING_FIXED:
      if (a[k].s) st = ff_h5_write_attr_string_fixed(o, a[k].name, a[k].s);
      break;
    }
  }
  if (!self) H5Oclose(o);
  if (st != FF_OK) ff_error_trace(__FILE__, __LINE__, __func__);
  return st;
}
