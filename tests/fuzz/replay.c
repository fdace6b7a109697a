/* A main() for the fuzzing harnesses without libFuzzer: feeds every file named on the command
 * line (every file inside a directory named, in name order) to LLVMFuzzerTestOneInput once, so
 * that `make check` replays the seed corpora and the inputs that once crashed flyfit with the
 * normal toolchain. Prints one line per input under FLYFIT_FUZZ_VERBOSE=1, and a count at the end.
 * Usage: build/tests/fuzz_TARGET FILE|DIR... */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(errno));
    return 1;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      uint8_t *more = realloc(buf, cap *= 2);
      if (more == NULL) free(buf);
      buf = more;
    }
  }
  const int bad = ferror(f);
  fclose(f);
  if (buf == NULL || bad) {
    fprintf(stderr, "replay: cannot read '%s'\n", path);
    free(buf);
    return 1;
  }
  if (fuzz_verbose()) fprintf(stderr, "%s (%zu bytes)\n", path, n);
  /* an exact-size copy, so that ASan sees a read past the input's end */
  uint8_t *exact = malloc(n ? n : 1);
  if (exact == NULL) abort();
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  int errors = 0, inputs = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
      ++errors;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      errors += run_file(argv[i]);
      ++inputs;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (d == NULL) {
      fprintf(stderr, "replay: cannot list '%s': %s\n", argv[i], strerror(errno));
      ++errors;
      continue;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
      if (e->d_name[0] == '.') continue; /* ., .. and hidden files (.gitkeep) */
      if (n == cap) {
        char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
        if (more == NULL) abort();
        names = more;
      }
      const size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
      if ((names[n] = malloc(len)) == NULL) abort();
      snprintf(names[n++], len, "%s/%s", argv[i], e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t k = 0; k < n; ++k) {
      errors += run_file(names[k]);
      ++inputs;
      free(names[k]);
    }
    free(names);
  }
  printf("replayed %d input(s), %d unreadable\n", inputs - errors, errors);
  return errors ? 1 : 0;
}
