/* Streaming CSV reading (libcsv for the field rules, zlib so that .gz and plain files read alike).
 * Every record, the header included, is handed to a callback with its line number (1 = header;
 * a record whose quoted field spans lines counts as one line). A truncated or corrupt gzip stream
 * is an error, never a silently short table. */
#ifndef FLYFIT_CSV_H
#define FLYFIT_CSV_H

#include <stdint.h>

/* Returns FF_OK to go on; any other status stops the reading and is returned by ff_csv_read. */
typedef int (*FfCsvRowFn)(void *user, char **fields, int n_fields, int64_t line);

int ff_csv_read(const char *path, FfCsvRowFn row, void *user);

/* Whether path names a CSV file, plain or gzipped: how the readers of recordings (neuron, cells, netopt's target) tell
 * CSV from HDF5 or npz by name. */
int ff_csv_path(const char *path);

/* Index of column `name` in the header, or an FF_ERR_INPUT error "PATH:1: missing column ...". */
int ff_csv_column(char **header, int n, const char *name, const char *path, int *index);

/* Strict integer parsing of one field; errors name path, line and column. */
int ff_csv_int64(const char *field, const char *path, int64_t line, const char *column, int64_t *out);

#endif
