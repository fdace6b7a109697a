/* Recorded regions to connectome neuropils (ff_activity_map_regions, include/flyfit/activity.h), and
 * the matching an activity.h5 stores (ff_recording_map), which flyfit uses instead of a mapping file.
 * Names compare exactly (case and underscores matter). The lists are short (tens to hundreds of
 * names), so lookups are linear scans; every list in a message keeps the recording's or the
 * connectome's order, so the same inputs always give the same message. */
#include "flyfit/activity.h"
#include "flyfit/error.h"
#include "flyfit/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names listed in one message at most; the rest are counted. Keeps messages within ff_error's buffer. */
enum { LIST_MAX_CHARS = 6000 };

/* A growing string; allocation failure is remembered and reported once at the end. */
typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} Text;

static void text_add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(Text *t, const char *fmt, ...) {
  if (t->oom) return;
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (t->len + (size_t)n + 1 > t->cap) {
    size_t cap = 2 * (t->len + (size_t)n + 1) + 64;
    char *s = realloc(t->s, cap);
    if (s == NULL) {
      t->oom = 1;
      return;
    }
    t->s = s;
    t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

static int64_t find(const char *const *names, int64_t n, const char *name) {
  for (int64_t i = 0; i < n; ++i)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

typedef struct {
  char *target; /* the neuropil name the mapping file gives, or NULL */
  int64_t line; /* its line in the file, 0 when the file does not name the region */
} Rename;

static int read_mapping(const char *path, const char *const *regions, int64_t R, Rename *ren) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return FF_ERROR(FF_ERR_INPUT, "cannot read mapping file '%s': %s", path, strerror(errno));
  char *buf = NULL;
  size_t cap = 0;
  int64_t ln = 0;
  int st = FF_OK;
  while (st == FF_OK && getline(&buf, &cap, f) != -1) {
    char *p = buf;
    if (++ln == 1 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* a UTF-8 byte-order mark from a spreadsheet */
    char *hash = strchr(p, '#');
    if (hash) *hash = '\0';
    for (char *q = p; *q; ++q)
      if (*q == ',') *q = ' ';
    char *tok[2] = {NULL, NULL}, *save = NULL;
    int nt = 0;
    for (char *w = strtok_r(p, " \t\r\n\v\f", &save); w; w = strtok_r(NULL, " \t\r\n\v\f", &save)) {
      if (nt < 2) tok[nt] = w;
      ++nt;
    }
    if (nt == 0) continue;
    if (nt != 2) {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%lld: expected two names, 'region_name neuropil_name', found %d", path,
                    (long long)ln, nt);
      break;
    }
    const int64_t r = find(regions, R, tok[0]);
    if (r < 0) st = FF_ERROR(FF_ERR_INPUT, "%s:%lld: region '%s' is not in the recording", path, (long long)ln, tok[0]);
    else if (ren[r].line)
      st = FF_ERROR(FF_ERR_INPUT, "%s:%lld: region '%s' is mapped a second time (first at line %lld)", path,
                    (long long)ln, tok[0], (long long)ren[r].line);
    else if ((ren[r].target = strdup(tok[1])) == NULL)
      st = FF_ERROR(FF_ERR_NOMEM, "out of memory reading '%s'", path);
    else ren[r].line = ln;
  }
  if (st == FF_OK && ferror(f)) st = FF_ERROR(FF_ERR_IO, "reading mapping file '%s' failed", path);
  free(buf);
  fclose(f);
  return st;
}

/* "3 regions have no neuropil: 'a', 'b' (mapped to 'x' at m.txt:4), 'c'" */
static void list_regions(Text *t, const char *const *regions, const Rename *ren, const int64_t *np_of, int64_t R,
                         const char *path, int64_t count, const char *what_one, const char *what_many) {
  text_add(t, "%lld region%s %s: ", (long long)count, count == 1 ? "" : "s", count == 1 ? what_one : what_many);
  int64_t shown = 0;
  const size_t start = t->len;
  for (int64_t r = 0; r < R; ++r) {
    if (np_of[r] >= 0) continue;
    if (t->len - start > LIST_MAX_CHARS) break;
    text_add(t, "%s'%s'", shown ? ", " : "", regions[r]);
    if (ren[r].line) text_add(t, " (mapped to '%s' at %s:%lld)", ren[r].target, path, (long long)ren[r].line);
    ++shown;
  }
  if (shown < count) text_add(t, " and %lld more", (long long)(count - shown));
}

static void list_neuropils(Text *t, const char *const *neuropils, const char *used, int64_t N, int64_t count,
                           const char *what_one, const char *what_many) {
  text_add(t, "%lld neuropil%s %s: ", (long long)count, count == 1 ? "" : "s", count == 1 ? what_one : what_many);
  int64_t shown = 0;
  const size_t start = t->len;
  for (int64_t k = 0; k < N; ++k) {
    if (used[k]) continue;
    if (t->len - start > LIST_MAX_CHARS) break;
    text_add(t, "%s'%s'", shown ? ", " : "", neuropils[k]);
    ++shown;
  }
  if (shown < count) text_add(t, " and %lld more", (long long)(count - shown));
}

/* Two regions that end up with one name: duplicates in the recording, or a mapping that puts a
 * second region on a neuropil. The message points at the mapping line when there is one. */
static int check_unique(const char *const *regions, const Rename *ren, int64_t R, const char *path) {
  for (int64_t b = 0; b < R; ++b) {
    const char *nb = ren[b].target ? ren[b].target : regions[b];
    for (int64_t a = 0; a < b; ++a) {
      const char *na = ren[a].target ? ren[a].target : regions[a];
      if (strcmp(na, nb) != 0) continue;
      if (!ren[a].line && !ren[b].line)
        return FF_ERROR(FF_ERR_INPUT, "region '%s' appears twice in the recording (entries %lld and %lld)", na,
                        (long long)a, (long long)b);
      if (ren[a].line && ren[b].line) {
        const int later = ren[b].line > ren[a].line;
        const Rename *x = later ? &ren[b] : &ren[a], *y = later ? &ren[a] : &ren[b];
        return FF_ERROR(FF_ERR_INPUT, "%s:%lld: regions '%s' and '%s' (line %lld) both map to neuropil '%s'", path,
                        (long long)x->line, regions[later ? b : a], regions[later ? a : b], (long long)y->line, na);
      }
      const int64_t m = ren[a].line ? a : b, u = ren[a].line ? b : a;
      return FF_ERROR(FF_ERR_INPUT, "%s:%lld: region '%s' maps to '%s', which region '%s' is already called and keeps "
                      "(the file does not map it); map that region too, or give the neuropil to only one",
                      path, (long long)ren[m].line, regions[m], nb, regions[u]);
    }
  }
  return FF_OK;
}

/* The matched regions into map (np_of[r] < 0: region r left out), with the listing of what did not
 * match as its warning (NULL when everything matched); t's text passes to map. */
static int take_matches(const int64_t *np_of, int64_t R, int64_t lost_regions, Text *t, FfRegionMap *map) {
  FF_TRY(FF_MALLOC(map->region, R - lost_regions, "region mapping"));
  FF_TRY(FF_MALLOC(map->neuropil, R - lost_regions, "region mapping"));
  for (int64_t r = 0; r < R; ++r)
    if (np_of[r] >= 0) {
      map->region[map->n] = r;
      map->neuropil[map->n++] = (int32_t)np_of[r];
    }
  map->warning = t->s;
  t->s = NULL;
  return FF_OK;
}

void ff_region_map_destroy(FfRegionMap *map) {
  if (map == NULL) return;
  free(map->region);
  free(map->neuropil);
  free(map->warning);
  memset(map, 0, sizeof *map);
}

int ff_activity_map_regions(const char *const *regions, int64_t n_regions, const char *const *neuropils,
                            int64_t n_neuropils, const char *mapping_file, int drop_unmatched, FfRegionMap *map) {
  memset(map, 0, sizeof *map);
  const int64_t R = n_regions, N = n_neuropils;
  if (N == 0)
    return FF_ERROR(FF_ERR_INPUT, "the connectome has no neuropils (the Shiu tables carry none); import it from "
                    "FlyWire Codex's table, or leave the connectome out");
  Rename *ren = NULL;
  int64_t *np_of = NULL;
  char *used = NULL;
  Text t = {NULL, 0, 0, 0};
  int st = FF_CALLOC(ren, R, "region mapping");
  if (st == FF_OK) st = FF_MALLOC(np_of, R, "region mapping");
  if (st == FF_OK) st = FF_CALLOC(used, N, "region mapping");
  if (st == FF_OK && mapping_file) st = read_mapping(mapping_file, regions, R, ren);
  if (st == FF_OK) st = check_unique(regions, ren, R, mapping_file);
  int64_t lost_regions = 0, lost_neuropils = 0;
  if (st == FF_OK) {
    for (int64_t r = 0; r < R; ++r) {
      np_of[r] = find(neuropils, N, ren[r].target ? ren[r].target : regions[r]);
      if (np_of[r] >= 0) used[np_of[r]] = 1;
      else ++lost_regions;
    }
    for (int64_t k = 0; k < N; ++k) lost_neuropils += !used[k];
  }
  if (st == FF_OK && (lost_regions || lost_neuropils)) {
    if (lost_regions)
      list_regions(&t, regions, ren, np_of, R, mapping_file, lost_regions,
                   drop_unmatched ? "without a neuropil is left out" : "has no neuropil",
                   drop_unmatched ? "without a neuropil are left out" : "have no neuropil");
    if (lost_regions && lost_neuropils) text_add(&t, "; ");
    if (lost_neuropils)
      list_neuropils(&t, neuropils, used, N, lost_neuropils, drop_unmatched ? "gets no recorded activity" : "has no region",
                     drop_unmatched ? "get no recorded activity" : "have no region");
    if (t.oom) st = FF_ERROR(FF_ERR_NOMEM, "out of memory listing unmatched regions");
    else if (!drop_unmatched)
      st = FF_ERROR(FF_ERR_INPUT, "%s; give a mapping file (--mapping, [data] mapping) or leave them out "
                    "(--drop-unmatched, [data] drop_unmatched = true)", t.s);
    else if (lost_regions == R)
      st = FF_ERROR(FF_ERR_INPUT, "no region of the recording matches a neuropil of the connectome: %s; give a "
                    "mapping file (--mapping, [data] mapping)", t.s);
  }
  if (st == FF_OK) st = take_matches(np_of, R, lost_regions, &t, map);
  for (int64_t r = 0; ren && r < R; ++r) free(ren[r].target);
  free(ren);
  free(np_of);
  free(used);
  free(t.s);
  if (st != FF_OK) {
    ff_region_map_destroy(map);
    ff_error_trace(__FILE__, __LINE__, __func__);
  }
  return st;
}

/* ---- a matching stored in activity.h5 ---------------------------------------------------------- */

/* The stored matching against this connectome's neuropils. */
static int map_stored(const FfRecording *rec, const char *const *neuropils, int64_t N, int drop_unmatched,
                      FfRegionMap *map) {
  const int64_t R = rec->P;
  int64_t *np_of = NULL, lost_regions = 0, lost_neuropils = 0;
  int64_t *owner = NULL; /* region on each neuropil, -1 none */
  char *used = NULL;
  Text t = {NULL, 0, 0, 0};
  int st = FF_MALLOC(np_of, R, "region mapping");
  if (st == FF_OK) st = FF_CALLOC(used, N, "region mapping");
  if (st == FF_OK) st = FF_MALLOC(owner, N, "region mapping");
  for (int64_t k = 0; st == FF_OK && k < N; ++k) owner[k] = -1;
  for (int64_t r = 0; st == FF_OK && r < R; ++r) {
    np_of[r] = find(neuropils, N, rec->matched[r]);
    if (np_of[r] < 0) {
      ++lost_regions;
      continue;
    }
    if (owner[np_of[r]] >= 0)
      st = FF_ERROR(FF_ERR_INPUT, "'%s': /neuropil_names puts regions '%s' and '%s' on one neuropil, '%s' (a damaged "
                    "file?); import the recording again", rec->file, rec->areas[owner[np_of[r]]], rec->areas[r],
                    rec->matched[r]);
    owner[np_of[r]] = r;
    used[np_of[r]] = 1;
  }
  for (int64_t k = 0; st == FF_OK && k < N; ++k) lost_neuropils += !used[k];
  if (st == FF_OK && (lost_regions || lost_neuropils)) {
    if (lost_regions) {
      text_add(&t, "%lld region%s %s: ", (long long)lost_regions, lost_regions == 1 ? "" : "s",
               drop_unmatched ? "whose stored neuropil the connectome lacks left out"
                              : (lost_regions == 1 ? "is stored on a neuropil the connectome lacks"
                                                   : "are stored on neuropils the connectome lacks"));
      int64_t shown = 0;
      const size_t start = t.len;
      for (int64_t r = 0; r < R && t.len - start <= LIST_MAX_CHARS; ++r)
        if (np_of[r] < 0) text_add(&t, "%s'%s' (as '%s')", shown++ ? ", " : "", rec->areas[r], rec->matched[r]);
      if (shown < lost_regions) text_add(&t, " and %lld more", (long long)(lost_regions - shown));
    }
    if (lost_regions && lost_neuropils) text_add(&t, "; ");
    if (lost_neuropils)
      list_neuropils(&t, neuropils, used, N, lost_neuropils, drop_unmatched ? "gets no recorded activity" : "has no region",
                     drop_unmatched ? "get no recorded activity" : "have no region");
    if (t.oom) st = FF_ERROR(FF_ERR_NOMEM, "out of memory listing unmatched regions");
    else if (!drop_unmatched || lost_regions == R)
      st = FF_ERROR(FF_ERR_INPUT, "'%s' stores its region matching (flyfit-import --connectome): %s; fit with the "
                    "connectome it was imported against, import it again against this one, or leave them out "
                    "([data] drop_unmatched = true)", rec->file, t.s);
  }
  if (st == FF_OK) st = take_matches(np_of, R, lost_regions, &t, map);
  free(np_of);
  free(owner);
  free(used);
  free(t.s);
  return st;
}

/* A [data] mapping given beside a stored matching must agree with it. Both maps list regions in
 * ascending order, so the first index at which they differ names the first region they disagree on. */
static int check_same(const FfRecording *rec, const char *const *neuropils, const FfRegionMap *stored,
                      const FfRegionMap *file, const char *mapping_file) {
  for (int64_t k = 0; k < stored->n || k < file->n; ++k) {
    if (k < stored->n && k < file->n && stored->region[k] == file->region[k] && stored->neuropil[k] == file->neuropil[k])
      continue;
    const int64_t r = k >= file->n || (k < stored->n && stored->region[k] <= file->region[k]) ? stored->region[k]
                                                                                            : file->region[k];
    char by_file[300] = "no neuropil";
    for (int64_t i = 0; i < file->n; ++i)
      if (file->region[i] == r) snprintf(by_file, sizeof by_file, "'%s'", neuropils[file->neuropil[i]]);
    return FF_ERROR(FF_ERR_INPUT, "[data] mapping = %s puts region '%s' on %s, but '%s' stores the matching of its "
                    "import, which puts it on '%s': leave [data] mapping out to use the stored matching, or import "
                    "the recording again with --mapping %s",
                    mapping_file, rec->areas[r], by_file, rec->file, rec->matched[r], mapping_file);
  }
  return FF_OK;
}

int ff_recording_map(const FfRecording *rec, const char *const *neuropils, int64_t n_neuropils,
                     const char *mapping_file, int drop_unmatched, FfRegionMap *map) {
  if (rec->matched == NULL)
    return ff_activity_map_regions((const char *const *)rec->areas, rec->P, neuropils, n_neuropils, mapping_file,
                                   drop_unmatched, map);
  memset(map, 0, sizeof *map);
  ff_log("regions to neuropils: the matching '%s' stores (flyfit-import --connectome%s)", rec->file,
         mapping_file ? "; [data] mapping must agree with it" : ", no mapping file needed");
  int st = map_stored(rec, neuropils, n_neuropils, drop_unmatched, map);
  if (st == FF_OK && mapping_file) {
    FfRegionMap by_file;
    st = ff_activity_map_regions((const char *const *)rec->areas, rec->P, neuropils, n_neuropils, mapping_file,
                                 drop_unmatched, &by_file);
    if (st == FF_OK) st = check_same(rec, neuropils, map, &by_file, mapping_file);
    ff_region_map_destroy(&by_file);
  }
  if (st != FF_OK) {
    ff_region_map_destroy(map);
    ff_error_trace(__FILE__, __LINE__, __func__);
  }
  return st;
}
