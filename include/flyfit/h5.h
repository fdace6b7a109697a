/* Thin helpers over HDF5 that turn every failure into one message naming the file and dataset.
 * All datasets flyfit writes are 1-D to 3-D, contiguous, uncompressed (so that parallel HDF5 can
 * read slabs collectively). Files are written atomically: under a temporary name, renamed when
 * complete (ff_h5_write_atomic). */
#ifndef FLYFIT_H5_H
#define FLYFIT_H5_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

/* Silences HDF5's own error printing; flyfit reports errors itself. Call once per process. */
void ff_h5_init(void);

/* Opens an existing file read-only. Missing file, a file that is not HDF5 and a damaged file each
 * get their own message. fapl may be H5P_DEFAULT. */
int ff_h5_open(const char *path, hid_t fapl, hid_t *fid);
/* Collective: all ranks of comm must call it. Opens an existing file read-only on every rank of
 * comm through MPI-IO. */
int ff_h5_open_parallel(const char *path, MPI_Comm comm, hid_t *fid);
int ff_h5_exists(hid_t loc, const char *name);
/* Length of 1-D dataset `dset`; an error names file and dataset if it is missing or not 1-D. */
int ff_h5_len(hid_t fid, const char *file, const char *dset, int64_t *len);
/* Shape of a dataset of rank `rank` (dims has `rank` entries). */
int ff_h5_shape(hid_t fid, const char *file, const char *dset, int rank, int64_t *dims);
/* Reads elements [offset, offset+count) of 1-D dataset `dset`, converted to memtype. */
int ff_h5_read(hid_t fid, const char *file, const char *dset, hid_t memtype, int64_t offset, int64_t count,
               void *buf);
/* As ff_h5_read with a transfer property list (collective MPI-IO: every rank calls it, count 0 allowed). */
int ff_h5_read_x(hid_t fid, const char *file, const char *dset, hid_t memtype, int64_t offset, int64_t count, void *buf,
                 hid_t dxpl);
/* Reads all of dataset `dset` (any rank; check its shape first: ff_h5_shape) into buf, converted to memtype; an
 * error names file and dataset. */
int ff_h5_read_whole(hid_t fid, const char *file, const char *dset, hid_t memtype, void *buf);
/* Reads a whole 1-D dataset into a new buffer; expect_len >= 0 makes any other length an error. */
int ff_h5_read_all(hid_t fid, const char *file, const char *dset, hid_t memtype, int64_t expect_len, void **buf,
                   int64_t *len);
/* Reads a 1-D dataset of strings (variable or fixed length) into a NULL-terminated-array of copies. */
int ff_h5_read_strings(hid_t fid, const char *file, const char *dset, char ***strings, int64_t *n);
void ff_h5_free_strings(char ***strings, int64_t n);
int ff_h5_read_attr_string(hid_t obj, const char *file, const char *name, char *buf, size_t cap);
/* A scalar numeric attribute converted to double or int64; missing or not numeric is an error. */
int ff_h5_read_attr_double(hid_t obj, const char *file, const char *name, double *value);
int ff_h5_read_attr_int(hid_t obj, const char *file, const char *name, int64_t *value);

/* Writes a new HDF5 file atomically (atomic.h): creates it under the temporary name, without
 * modification times (the same content gives the same bytes), runs body(f, ctx) to fill it, then
 * closes, syncs and renames it to path. A failing body's status is returned and the temporary file
 * removed: path is never left damaged. */
typedef int (*FfH5Body)(hid_t f, void *ctx);
int ff_h5_write_atomic(const char *path, FfH5Body body, void *ctx);
/* Collective: all ranks of comm must call it. The same for a parallel file (MPI-IO, one temporary
 * name for every rank): body runs on every rank and must give every rank the same status (its
 * writes are collective); rank 0 renames the file once every rank has closed it. */
int ff_h5_write_atomic_parallel(const char *path, MPI_Comm comm, FfH5Body body, void *ctx);

/* Creates group `path` and any missing parents (no modification times are stored anywhere, so
 * the same content always gives the same file). */
int ff_h5_group(hid_t loc, const char *path);
/* Writes a dataset of `rank` dims (1 to 3) with element type memtype, creating parent groups. */
int ff_h5_write(hid_t loc, const char *dset, hid_t memtype, int rank, const int64_t *dims, const void *buf);
int ff_h5_write_strings(hid_t loc, const char *dset, const char *const *strings, int64_t n);
int ff_h5_write_attr_string(hid_t obj, const char *name, const char *value);
/* A fixed-length string attribute: the kind a parallel file can hold (variable-length strings live in
 * a heap that every rank would write on its own). */
int ff_h5_write_attr_string_fixed(hid_t obj, const char *name, const char *value);
int ff_h5_write_attr_double(hid_t obj, const char *name, double value);
int ff_h5_write_attr_int(hid_t obj, const char *name, int64_t value);

/* A table of attributes, written in order by ff_h5_write_attrs:
 *     const FfH5Attr a[] = {FF_ATTR_INT("epochs", E), FF_ATTR_DOUBLE("fs_hz", fs), FF_ATTR_STRING("about", text)};
 * A string attribute whose value is NULL is left out. FIXED strings are fixed-length (see above). */
typedef enum { FF_H5_ATTR_INT, FF_H5_ATTR_DOUBLE, FF_H5_ATTR_STRING, FF_H5_ATTR_STRING_FIXED } FfH5AttrKind;
typedef struct {
  const char *name;
  FfH5AttrKind kind;
  int64_t i;     /* FF_H5_ATTR_INT */
  double d;      /* FF_H5_ATTR_DOUBLE */
  const char *s; /* the strings */
} FfH5Attr;
#define FF_ATTR_INT(name, v) {(name), FF_H5_ATTR_INT, (int64_t)(v), 0.0, NULL}
#define FF_ATTR_DOUBLE(name, v) {(name), FF_H5_ATTR_DOUBLE, 0, (v), NULL}
#define FF_ATTR_STRING(name, v) {(name), FF_H5_ATTR_STRING, 0, 0.0, (v)}
#define FF_ATTR_FIXED(name, v) {(name), FF_H5_ATTR_STRING_FIXED, 0, 0.0, (v)}
/* Writes a[n] on the object at path obj below loc (a group or dataset; NULL or ".": loc itself). */
int ff_h5_write_attrs(hid_t loc, const char *obj, const FfH5Attr *a, int n);

/* Parallel files (ff_h5_write_atomic_parallel, ff_h5_open_parallel). Collective over the file's
 * communicator: every rank writes or reads its own rows of each dataset (rows [row0, row0 + rows)
 * of a 1-D or 2-D dataset of dims; 0 rows is fine). Attributes written to a parallel file must be
 * written by every rank with the same value. */
int ff_h5_write_rows(hid_t fid, const char *dset, hid_t memtype, int rank, const int64_t *dims, int64_t row0,
                     int64_t rows, const void *buf);
int ff_h5_read_rows(hid_t fid, const char *file, const char *dset, hid_t memtype, int rank, const int64_t *dims,
                    int64_t row0, int64_t rows, void *buf);

#endif
