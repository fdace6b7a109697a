/* Fuzzes the configuration path of bin/flyfit: an INI file read by ff_config_load (inih), --set
 * overrides, then ff_config_finish (presets, relations between keys) and the effective-config echo.
 * Input: the INI text; after the first NUL byte, if any, one --set assignment per line. */
#include "fuzz.h"

#include "flyfit/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  const size_t ini_len = nul ? (size_t)(nul - data) : size;
  char path[512];
  fuzz_write(data, ini_len, path, sizeof path, ".ini");

  static FfConfig c; /* 90 KB: not on the stack */
  ff_config_init(&c);
  int st = ff_config_load(&c, path);
  unlink(path);
  fuzz_outcome("ff_config_load", st);
  if (st == FF_OK && nul) {
    /* the --set lines, each as a NUL-terminated copy */
    const char *p = (const char *)nul + 1, *end = (const char *)data + size;
    while (st == FF_OK && p < end) {
      const char *eol = memchr(p, '\n', (size_t)(end - p));
      const size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
      char *line = malloc(len + 1);
      if (line == NULL) abort();
      memcpy(line, p, len);
      line[len] = '\0';
      st = ff_config_set(&c, line);
      free(line);
      fuzz_outcome("ff_config_set", st);
      p += len + 1;
    }
  }
  if (st == FF_OK) {
    st = ff_config_finish(&c);
    fuzz_outcome("ff_config_finish", st);
  }
  if (st == FF_OK) {
    char *text = NULL;
    st = ff_config_format(&c, &text);
    fuzz_outcome("ff_config_format", st);
    FUZZ_REQUIRE(text && strstr(text, "[data]"), "the effective configuration lacks [data]");
    free(text);
    text = NULL;
    st = ff_config_fingerprint(&c, &text);
    fuzz_outcome("ff_config_fingerprint", st);
    free(text);
  }
  return 0;
}
