/* Reading numpy .npz archives (zip files of .npy arrays, stored or deflated) through libzip.
 * Only plain little-endian arrays are read: numbers (float, int, uint, bool) converted to double in
 * C order, and fixed-width strings (<U{n} as UTF-8, |S{n} as bytes). Pickled object arrays,
 * big-endian and structured arrays are refused with a message naming the file, member and fix.
 * Every error is FF_ERR_INPUT and names the archive and member ("'fly.npz' member 'traces': ..."). */
#ifndef FLYFIT_NPZ_H
#define FLYFIT_NPZ_H

#include <stddef.h>
#include <stdint.h>

enum { FF_NPY_MAX_DIMS = 8 }; /* numpy allows 32; flyfit's data has at most 2 */

typedef enum {
  FF_NPY_FLOAT,   /* <f4 <f8 */
  FF_NPY_INT,     /* |i1 <i2 <i4 <i8 */
  FF_NPY_UINT,    /* |u1 <u2 <u4 <u8 */
  FF_NPY_BOOL,    /* |b1 */
  FF_NPY_UNICODE, /* <U{n}: n UTF-32LE code units, NUL-padded */
  FF_NPY_BYTES,   /* |S{n}: n bytes, NUL-padded */
  FF_NPY_OBJECT   /* |O: pickled Python objects; recognised only to be refused */
} FfNpyKind;

/* What an .npy header says. */
typedef struct {
  int major, minor;           /* format version: 1.0 (16-bit header length), 2.0 or 3.0 (32-bit) */
  char descr[64];             /* dtype as written, e.g. "<f8" */
  FfNpyKind kind;
  int64_t itemsize;           /* bytes per element (4n for <U{n}) */
  int fortran_order;          /* 1: data stored column-major */
  int ndim;                   /* 0 for a scalar */
  int64_t dims[FF_NPY_MAX_DIMS];
  int64_t count;              /* product of dims (1 for a scalar) */
  size_t data_offset;         /* bytes from the start of the .npy stream to the data */
} FfNpyHeader;

/* Parses the .npy header at the start of buf[0..n) (magic, version, length, the dict literal with
 * exactly the keys descr, fortran_order, shape). n may exceed the header. `where` names the stream
 * in messages. Big-endian data is an error here; object dtype is not (the readers refuse it). */
int ff_npy_parse_header(const unsigned char *buf, size_t n, const char *where, FfNpyHeader *h);

typedef struct FfNpz FfNpz;

/* Opens an archive. A missing file, a file that is not a zip (or is a bare .npy) and a truncated
 * or damaged zip each get their own message. */
int ff_npz_open(const char *path, FfNpz **npz);
/* Closes the archive (NULL allowed) and clears the caller's pointer. */
void ff_npz_close(FfNpz **npz);
const char *ff_npz_path(const FfNpz *npz);

/* Member names in archive order, without the ".npy" suffix numpy adds: a NULL-terminated array of
 * copies (*n of them), freed with ff_npz_free_strings. */
int ff_npz_list(const FfNpz *npz, char ***names, int64_t *n);
/* 1 when the archive holds `member` ("traces" finds traces.npy). */
int ff_npz_has(const FfNpz *npz, const char *member);
/* FF_OK when it does; else FF_ERR_INPUT "'fly.npz' has no member 'F' (it holds 'areas', 'traces')",
 * followed by "; " and hint (how to name another member) when hint is not NULL. */
int ff_npz_require(const FfNpz *npz, const char *member, const char *hint);
/* The header of a member, without reading its data. A missing member lists the ones present. */
int ff_npz_header(FfNpz *npz, const char *member, FfNpyHeader *h);

/* Reads a numeric member into a new array of doubles in C (row-major) order, whatever the stored
 * order; int64/uint64 above 2^53 lose precision. dims must hold FF_NPY_MAX_DIMS entries. */
int ff_npz_read_f64(FfNpz *npz, const char *member, double **data, int *ndim, int64_t *dims);
/* Reads a 1-D fixed-width string member (<U{n} converted to UTF-8, |S{n} as is; trailing NULs
 * stripped as numpy does) into a NULL-terminated array of *n copies. */
int ff_npz_read_strings(FfNpz *npz, const char *member, char ***strings, int64_t *n);
/* Frees an array from ff_npz_list or ff_npz_read_strings (NULL allowed) and clears the pointer. */
void ff_npz_free_strings(char ***strings, int64_t n);

#endif
