/* Atomic file writes (include/flyfit/atomic.h): temporary name, sync, rename, sync of the directory.
 * The rename is atomic within a directory, so readers see the old file or the new one; the syncs
 * make the new one survive a crash once the call has returned. */
#include "flyfit/atomic.h"
#include "flyfit/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void ff_atomic_tmp_name(const char *path, long pid, char *tmp, size_t cap) {
  snprintf(tmp, cap, "%s.tmp.%ld", path, pid);
}

/* The folder of path: "." for a bare name, "/" for a file at the root. */
static void dir_of(const char *path, char *dir, size_t cap) {
  snprintf(dir, cap, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) snprintf(dir, cap, ".");
  else if (slash == dir) slash[1] = '\0';
  else *slash = '\0';
}

/* Best effort: the new file is already in place, only its survival of a power loss is in question,
 * and some file systems refuse fsync on a directory. */
static void sync_dir(const char *path) {
  char dir[4200];
  dir_of(path, dir, sizeof dir);
  const int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)fsync(fd);
  close(fd);
}

int ff_atomic_commit(const char *tmp, const char *path) {
  const int fd = open(tmp, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    const int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "cannot sync '%s' to disk: %s", tmp, strerror(e));
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    const int e = errno;
    unlink(tmp);
    return FF_ERROR(FF_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
  }
  sync_dir(path);
  return FF_OK;
}

int ff_atomic_write(const char *path, FfFileBody body, void *ctx) {
  char tmp[4200];
  ff_atomic_tmp_name(path, (long)getpid(), tmp, sizeof tmp);
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) return FF_ERROR(FF_ERR_IO, "cannot create '%s' (written first as '%s'): %s", path, tmp, strerror(errno));
  int st = body(f, ctx);
  if (st == FF_OK && (ferror(f) || fflush(f) != 0))
    st = FF_ERROR(FF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno ? errno : EIO));
  if (fclose(f) != 0 && st == FF_OK) st = FF_ERROR(FF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
  if (st != FF_OK) {
    unlink(tmp);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  return ff_atomic_commit(tmp, path);
}

int ff_atomic_check_space(const char *path, double bytes, const char *what) {
  char dir[4200];
  dir_of(path, dir, sizeof dir);
  struct statvfs sv;
  if (getenv("FLYFIT_SKIP_SPACE_CHECK") || statvfs(dir, &sv) != 0) return FF_OK; /* the variable: tests of the write path */
  const double avail = (double)sv.f_bavail * (double)sv.f_frsize, need = bytes * 1.05 + 65536.0;
  if (avail >= need) return FF_OK;
  return FF_ERROR(FF_ERR_IO, "%s needs about %.3g MB but '%s' has %.3g MB free (No space left on device): free some "
                             "space, or set [output] dir to a folder with room",
                  what, need / 1e6, dir, avail / 1e6);
}
