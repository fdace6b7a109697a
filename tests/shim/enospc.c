/* An LD_PRELOAD shim for tests/integration/disk_full.sh where a small tmpfs cannot be mounted: the
 * folder $FLYFIT_ENOSPC_DIR behaves as a disk of $FLYFIT_ENOSPC_BYTES. A write, pwrite or pwrite64 to a
 * file under it fails with ENOSPC when the blocks the folder's files hold, plus the bytes asked for,
 * pass that size (truncating or removing a file frees its blocks, as on a disk), and statvfs of a path
 * under it reports the room left. Every other call passes through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

static long long g_used;

static int add_blocks(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)path;
  (void)ftw;
  if (type == FTW_F) g_used += (long long)sb->st_blocks * 512;
  return 0;
}

/* The folder under test, or NULL; *room = its size minus the blocks its files hold. */
static const char *disk(long long *room) {
  const char *dir = getenv("FLYFIT_ENOSPC_DIR"), *size = getenv("FLYFIT_ENOSPC_BYTES");
  if (!dir || !*dir || !size) return NULL;
  g_used = 0;
  nftw(dir, add_blocks, 16, FTW_PHYS);
  *room = atoll(size) - g_used;
  return dir;
}

static int under(const char *path, const char *dir) { return strncmp(path, dir, strlen(dir)) == 0; }

/* Whether n more bytes to fd fit. */
static int fits(int fd, size_t n) {
  long long room;
  const char *dir = disk(&room);
  if (!dir) return 1;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t len = readlink(link, path, sizeof path - 1);
  if (len <= 0) return 1;
  path[len] = '\0';
  return !under(path, dir) || (long long)n <= room;
}

ssize_t write(int fd, const void *buf, size_t n) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  if (!fits(fd, n)) return errno = ENOSPC, -1;
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  if (!fits(fd, n)) return errno = ENOSPC, -1;
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  static ssize_t (*real)(int, const void *, size_t, off64_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
  if (!fits(fd, n)) return errno = ENOSPC, -1;
  return real(fd, buf, n, off);
}

static void shrink(const char *path, struct statvfs *sv) {
  long long room;
  const char *dir = disk(&room);
  if (!dir || !under(path, dir)) return;
  if (room < 0) room = 0;
  sv->f_bavail = sv->f_bfree = (fsblkcnt_t)(room / (long long)(sv->f_frsize ? sv->f_frsize : 4096));
}

int statvfs(const char *path, struct statvfs *sv) {
  static int (*real)(const char *, struct statvfs *);
  if (!real) real = (int (*)(const char *, struct statvfs *))dlsym(RTLD_NEXT, "statvfs");
  const int rc = real(path, sv);
  if (rc == 0) shrink(path, sv);
  return rc;
}

int statvfs64(const char *path, struct statvfs64 *sv) {
  static int (*real)(const char *, struct statvfs64 *);
  if (!real) real = (int (*)(const char *, struct statvfs64 *))dlsym(RTLD_NEXT, "statvfs64");
  const int rc = real(path, sv);
  if (rc == 0) shrink(path, (struct statvfs *)sv);
  return rc;
}
