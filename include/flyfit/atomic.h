/* Files that appear whole or not at all. Every output of flyfit is written under a temporary name
 * (path + ".tmp.<pid>"), synced to disk, renamed over its real name and its directory synced: a
 * failure or a crash at any point leaves the earlier file (or none), never a part of the new one.
 * HDF5 files go through ff_h5_write_atomic (h5.h), which ends with ff_atomic_commit. */
#ifndef FLYFIT_ATOMIC_H
#define FLYFIT_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

/* The temporary name of path for process id pid (a parallel file uses rank 0's). */
void ff_atomic_tmp_name(const char *path, long pid, char *tmp, size_t cap);

/* The tail of every atomic write, on a complete and closed temporary file: syncs it, renames it to
 * path and syncs the directory. On failure the temporary file is removed. */
int ff_atomic_commit(const char *tmp, const char *path);

/* Writes a plain file atomically: body(f, ctx) writes it through f (opened "wb" on the temporary
 * name). A failing body (its status returned) or a failed write removes the temporary file and
 * leaves path as it was. */
typedef int (*FfFileBody)(FILE *f, void *ctx);
int ff_atomic_write(const char *path, FfFileBody body, void *ctx);

/* Before a large write: FF_ERR_IO naming both numbers when the folder of path has less free space
 * (statvfs, what an unprivileged writer may use) than `bytes` plus a margin; `what` names the output.
 * Does nothing when the free space cannot be read, or when FLYFIT_SKIP_SPACE_CHECK is set (tests use it
 * to reach the failing write itself). */
int ff_atomic_check_space(const char *path, double bytes, const char *what);

#endif
