/* bin/flyfit-h5check: reads every variable-length string of an HDF5 file (attributes and datasets)
 * and says whether libhdf5 could.
 *   flyfit-h5check FILE
 * libhdf5 1.10 reads past its buffer, crashes or loops forever on a damaged global heap, where such
 * strings live (tests/fuzz/hdf5-bugs). flyfit's readers (src/io/h5.c) run this program on a file
 * before they read a string of that kind from it, so that the damage ends the run with a message
 * instead of a crash or a hang. Exit status: 0 every string read; 2 a read failed; 3 a read went
 * outside libhdf5's buffers (AddressSanitizer); 4 the file does not open; killed by SIGALRM: the reads
 * did not finish within 5 s. Prints nothing. */
#include <hdf5.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

enum { LIMIT_S = 5 };

/* Built with AddressSanitizer where the compiler has it (Makefile): an out-of-bounds read inside
 * libhdf5's memcpy exits 3; leaks on libhdf5's error paths are not this program's question. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0:exitcode=3:abort_on_error=0:verify_asan_link_order=0"; }

/* Reads the strings of one attribute or dataset of type t and space s; -1 when libhdf5 fails. */
static int read_vlen(hid_t obj, int is_attr, hid_t t, hid_t s) {
  if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) <= 0) return 0;
  const hssize_t n = H5Sget_simple_extent_npoints(s);
  if (n < 0) return -1;
  char **buf = calloc((size_t)n + 1, sizeof *buf);
  if (!buf) return -1;
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_size(mt, H5T_VARIABLE);
  H5Tset_cset(mt, H5Tget_cset(t));
  const herr_t rc = is_attr ? H5Aread(obj, mt, buf) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (rc >= 0) H5Dvlen_reclaim(mt, s, H5P_DEFAULT, buf);
  H5Tclose(mt);
  free(buf);
  return rc < 0 ? -1 : 0;
}

/* The strings of one attribute or dataset, its type t and space s (closed here); *bad on a failure. */
static void check(hid_t obj, int is_attr, hid_t t, hid_t s, int *bad) {
  if (t < 0 || s < 0 || read_vlen(obj, is_attr, t, s) != 0) *bad = 1;
  if (t >= 0) H5Tclose(t);
  if (s >= 0) H5Sclose(s);
}

static herr_t attribute(hid_t loc, const char *name, const H5A_info_t *info, void *bad) {
  (void)info;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return (*(int *)bad = 1), 0;
  check(a, 1, H5Aget_type(a), H5Aget_space(a), bad);
  H5Aclose(a);
  return 0;
}

static herr_t object(hid_t root, const char *name, const H5O_info_t *info, void *bad) {
  hid_t o = H5Oopen(root, name, H5P_DEFAULT);
  if (o < 0) return (*(int *)bad = 1), 0;
  if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attribute, bad) < 0) *(int *)bad = 1;
  if (info->type == H5O_TYPE_DATASET) check(o, 0, H5Dget_type(o), H5Dget_space(o), bad);
  H5Oclose(o);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) return 1;
  alarm(LIMIT_S);
  setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1); /* the reader that called us may hold the file open */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 4; /* not ours to judge: the caller opened it and reads as before */
  int bad = 0;
  if (H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, object, &bad) < 0) bad = 1;
  H5Fclose(f);
  H5close();     /* frees what libhdf5 holds, and malloc_trim consolidates the free chunks: glibc aborts */
  malloc_trim(0); /* here when a read wrote past its buffer (a damaged heap that did not crash the read) */
  return bad ? 2 : 0;
}
