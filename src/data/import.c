/* Import of the FlyWire tables into an FfConnectome (include/flyfit/import.h).
 * Rows are read into one compact array, ordered by presynaptic neuron with a counting sort, then
 * by (postsynaptic neuron, neuropil, line) within each neuron, and merged into the CSR; a repeated
 * row shows up as two equal neighbours and is reported with both line numbers. */
#include "flyfit/import.h"
#include "flyfit/csv.h"
#include "flyfit/error.h"
#include "flyfit/idmap.h"
#include "flyfit/hash.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- neuron list ----------------------------------------------------------------------------- */

typedef struct {
  const char *path;
  int64_t *ids;
  int32_t *lines;
  int64_t n, cap;
  FfIdMap map;
} NeuronList;

static int neuron_row(void *user, char **f, int nf, int64_t line) {
  NeuronList *L = user;
  if (line == 1) return FF_OK; /* header: the first column is the root id whatever its name */
  if (nf < 1 || f[0][0] == '\0') return FF_ERROR(FF_ERR_INPUT, "%s:%lld: the root id is empty", L->path, (long long)line);
  int64_t id;
  FF_TRY(ff_csv_int64(f[0], L->path, line, "root id", &id));
  if (L->n == INT32_MAX) return FF_ERROR(FF_ERR_INPUT, "%s: more than 2^31-1 neurons", L->path);
  int32_t seen;
  FF_TRY(ff_idmap_insert(&L->map, id, (int32_t)L->n, &seen));
  if (seen >= 0)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: root id %lld repeats line %d", L->path, (long long)line, (long long)id,
                    L->lines[seen]);
  if (L->n == L->cap) {
    L->cap = L->cap ? 2 * L->cap : 1 << 16;
    FF_TRY(FF_REALLOC(L->ids, L->cap, "neuron list"));
    FF_TRY(FF_REALLOC(L->lines, L->cap, "neuron list"));
  }
  L->ids[L->n] = id;
  L->lines[L->n++] = (int32_t)line;
  return FF_OK;
}

static int neuron_list_load(const char *path, NeuronList *L) {
  memset(L, 0, sizeof *L);
  L->path = path;
  FF_TRY(ff_idmap_create(&L->map, 1 << 16));
  FF_TRY(ff_csv_read(path, neuron_row, L));
  if (L->n == 0) return FF_ERROR(FF_ERR_INPUT, "%s: the neuron list has no rows", path);
  return FF_OK;
}

static void neuron_list_free(NeuronList *L) {
  free(L->ids);
  free(L->lines);
  ff_idmap_destroy(&L->map);
}

int ff_neuron_list_read(const char *path, int64_t **root_ids, int64_t *n) {
  NeuronList L;
  int st = neuron_list_load(path, &L);
  free(L.lines);
  ff_idmap_destroy(&L.map);
  if (st) {
    free(L.ids);
    return st;
  }
  *root_ids = L.ids;
  *n = L.n;
  return FF_OK;
}

/* ---- rows and their merge into a CSR ----------------------------------------------------------- */

typedef struct {
  int32_t pre, post;
  int32_t count; /* synapses, > 0 */
  int32_t line;
  int16_t np;    /* neuropil, -1 for none */
  int8_t sign;   /* +1 or -1 */
} Row;

typedef struct {
  Row *v;
  int64_t n, cap;
} Rows;

static int rows_push(Rows *r, Row x) {
  if (r->n == r->cap) {
    if (r->cap >= INT32_MAX / 2) return FF_ERROR(FF_ERR_UNSUPPORTED, "more than 2^31 rows");
    r->cap = r->cap ? 2 * r->cap : 1 << 16;
    FF_TRY(FF_REALLOC(r->v, r->cap, "connection rows"));
  }
  r->v[r->n++] = x;
  return FF_OK;
}

static int row_cmp(const void *a, const void *b) {
  const Row *x = a, *y = b;
  if (x->post != y->post) return x->post < y->post ? -1 : 1;
  if (x->np != y->np) return x->np < y->np ? -1 : 1;
  return x->line < y->line ? -1 : (x->line > y->line);
}

static int i16_cmp(const void *a, const void *b) { return *(const int16_t *)a - *(const int16_t *)b; }

/* The merge proper: s holds the rows grouped by presynaptic neuron (neuron i's are s[off[i] ..
 * off[i+1])); acc [n_np] (zero) and touched [n_np] are scratch. Fills c's CSR and neuropil table;
 * *n_edges receives the number of connections. */
static int merge_rows(Row *s, const int64_t *off, int64_t n, int32_t n_np, int64_t *acc, int16_t *touched,
                      const char *path, const int64_t *root_ids, FfConnectome *c, int64_t *n_edges) {
  int64_t np_cap = 0, np_n = 0, e = 0;
  c->indptr[0] = c->np_indptr[0] = 0;
  for (int64_t i = 0; i < n; ++i) {
    Row *seg = s + off[i];
    const int64_t len = off[i + 1] - off[i];
    qsort(seg, (size_t)len, sizeof *seg, row_cmp);
    int n_touched = 0;
    for (int64_t a = 0; a < len;) {
      int64_t b = a, total = 0;
      const Row *strongest = &seg[a];
      for (; b < len && seg[b].post == seg[a].post; ++b) {
        if (b > a && seg[b].np == seg[b - 1].np)
          return FF_ERROR(FF_ERR_INPUT, "%s:%d: duplicate row: %lld -> %lld%s repeats line %d", path, seg[b].line,
                          (long long)root_ids[i], (long long)root_ids[seg[b].post], seg[b].np >= 0 ? " in the same neuropil" : "",
                          seg[b - 1].line);
        total += seg[b].count;
        if (seg[b].count > strongest->count || (seg[b].count == strongest->count && seg[b].line < strongest->line))
          strongest = &seg[b];
        if (n_np > 0) {
          if (acc[seg[b].np] == 0) touched[n_touched++] = seg[b].np;
          acc[seg[b].np] += seg[b].count;
        }
      }
      if (total > INT32_MAX)
        return FF_ERROR(FF_ERR_INPUT, "%s:%d: %lld synapses between one pair of neurons is more than flyfit can hold", path,
                        seg[a].line, (long long)total);
      c->post[e] = seg[a].post;
      c->count[e++] = strongest->sign * (int32_t)total;
      a = b;
    }
    c->indptr[i + 1] = e;
    if (n_touched > 1) qsort(touched, (size_t)n_touched, sizeof *touched, i16_cmp);
    if (np_n + n_touched > np_cap) {
      np_cap = 2 * (np_n + n_touched) + 1024;
      FF_TRY(FF_REALLOC(c->np_id, np_cap, "neuropil table"));
      FF_TRY(FF_REALLOC(c->np_syn, np_cap, "neuropil table"));
    }
    for (int k = 0; k < n_touched; ++k) {
      if (acc[touched[k]] > INT32_MAX)
        return FF_ERROR(FF_ERR_INPUT, "%s: neuron %lld has more than 2^31 synapses in one neuropil", path,
                        (long long)root_ids[i]);
      c->np_id[np_n] = touched[k];
      c->np_syn[np_n++] = (int32_t)acc[touched[k]];
      acc[touched[k]] = 0;
    }
    c->np_indptr[i + 1] = np_n;
  }
  *n_edges = e;
  return FF_OK;
}

/* Builds c's connections (and neuropil table when n_np > 0) from the rows; frees the rows. On an
 * error, what c holds is the caller's to free (ff_connectome_destroy). */
static int merge(Rows *r, int64_t n, int32_t n_np, const char *path, const int64_t *root_ids, FfConnectome *c) {
  int64_t *off = NULL, *at = NULL, *acc = NULL, e = 0;
  Row *s = NULL;
  int16_t *touched = NULL;
  int st = FF_CALLOC(off, n + 1, "row offsets");
  if (st == FF_OK) {
    for (int64_t k = 0; k < r->n; ++k) off[r->v[k].pre + 1]++;
    for (int64_t i = 0; i < n; ++i) off[i + 1] += off[i];
    st = FF_MALLOC(s, r->n, "sorted rows");
  }
  if (st == FF_OK) st = FF_MALLOC(at, n, "row cursors");
  if (st == FF_OK) {
    memcpy(at, off, (size_t)n * sizeof *at);
    for (int64_t k = 0; k < r->n; ++k) s[at[r->v[k].pre]++] = r->v[k];
    FF_FREE(r->v);
  }
  c->n = n;
  if (st == FF_OK) st = FF_MALLOC(c->indptr, n + 1, "connections");
  if (st == FF_OK) st = FF_MALLOC(c->post, r->n, "connections");
  if (st == FF_OK) st = FF_MALLOC(c->count, r->n, "connections");
  if (st == FF_OK) st = FF_MALLOC(c->np_indptr, n + 1, "neuropil table");
  if (st == FF_OK && n_np > 0) st = FF_CALLOC(acc, n_np, "neuropil sums");
  if (st == FF_OK && n_np > 0) st = FF_MALLOC(touched, n_np, "neuropil list");
  if (st == FF_OK) st = merge_rows(s, off, n, n_np, acc, touched, path, root_ids, c, &e);
  free(off);
  free(at);
  free(s);
  free(acc);
  free(touched);
  FF_TRY(st);
  if (c->np_id == NULL) { /* keep valid (empty) arrays for the writer */
    FF_TRY(FF_MALLOC(c->np_id, 1, "neuropil table"));
    FF_TRY(FF_MALLOC(c->np_syn, 1, "neuropil table"));
  }
  FF_TRY(FF_REALLOC(c->post, e, "connections"));
  FF_TRY(FF_REALLOC(c->count, e, "connections"));
  return FF_OK;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* ---- (a) Shiu format ------------------------------------------------------------------------- */

static const char *SHIU_COLUMNS[] = {"Presynaptic_ID", "Postsynaptic_ID", "Presynaptic_Index", "Postsynaptic_Index",
                                     "Connectivity", "Excitatory", "Excitatory x Connectivity"};
enum { S_PRE_ID, S_POST_ID, S_PRE_IDX, S_POST_IDX, S_COUNT, S_SIGN, S_SIGNED, S_N };

typedef struct {
  const char *path, *neurons_path;
  NeuronList *L;
  int col[S_N], width;
  Rows rows;
} ShiuState;

static int shiu_row(void *user, char **f, int nf, int64_t line) {
  ShiuState *S = user;
  if (line == 1) {
    for (int k = 0; k < S_N; ++k) {
      FF_TRY(ff_csv_column(f, nf, SHIU_COLUMNS[k], S->path, &S->col[k]));
      if (S->col[k] + 1 > S->width) S->width = S->col[k] + 1;
    }
    return FF_OK;
  }
  if (line > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "%s: more than 2^31 lines", S->path);
  if (nf < S->width)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: %d fields, the header has at least %d", S->path, (long long)line, nf, S->width);
  int64_t v[S_N];
  for (int k = 0; k < S_N; ++k) FF_TRY(ff_csv_int64(f[S->col[k]], S->path, line, SHIU_COLUMNS[k], &v[k]));
  int32_t idx[2];
  for (int k = 0; k < 2; ++k) {
    idx[k] = ff_idmap_find(&S->L->map, v[S_PRE_ID + k]);
    if (idx[k] < 0)
      return FF_ERROR(FF_ERR_INPUT, "%s:%lld: %s %lld is not in the neuron list %s", S->path, (long long)line,
                      SHIU_COLUMNS[S_PRE_ID + k], (long long)v[S_PRE_ID + k], S->neurons_path);
    if (v[S_PRE_IDX + k] != idx[k])
      return FF_ERROR(FF_ERR_INPUT, "%s:%lld: %s is %lld but %s %lld is row %d of %s", S->path, (long long)line,
                      SHIU_COLUMNS[S_PRE_IDX + k], (long long)v[S_PRE_IDX + k], SHIU_COLUMNS[S_PRE_ID + k],
                      (long long)v[S_PRE_ID + k], idx[k], S->neurons_path);
  }
  if (v[S_COUNT] <= 0 || v[S_COUNT] > INT32_MAX)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: Connectivity %lld: a synapse count must be a positive integer", S->path,
                    (long long)line, (long long)v[S_COUNT]);
  if (v[S_SIGN] != 1 && v[S_SIGN] != -1)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: Excitatory %lld must be 1 or -1", S->path, (long long)line, (long long)v[S_SIGN]);
  if (v[S_SIGNED] != v[S_SIGN] * v[S_COUNT])
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: Excitatory x Connectivity is %lld, not %lld x %lld", S->path, (long long)line,
                    (long long)v[S_SIGNED], (long long)v[S_SIGN], (long long)v[S_COUNT]);
  return rows_push(&S->rows, (Row){idx[0], idx[1], (int32_t)v[S_COUNT], (int32_t)line, -1, (int8_t)v[S_SIGN]});
}

int ff_import_shiu(const char *neurons_csv, const char *connectivity_csv, FfConnectome *c) {
  NeuronList L;
  ShiuState S;
  memset(c, 0, sizeof *c);
  memset(&S, 0, sizeof S);
  int st = neuron_list_load(neurons_csv, &L);
  S.path = connectivity_csv;
  S.neurons_path = neurons_csv;
  S.L = &L;
  if (st == FF_OK) st = ff_csv_read(connectivity_csv, shiu_row, &S);
  if (st == FF_OK && S.width == 0) st = FF_ERROR(FF_ERR_INPUT, "%s: the file is empty (no header)", connectivity_csv);
  if (st == FF_OK) st = merge(&S.rows, L.n, 0, connectivity_csv, L.ids, c);
  free(S.rows.v);
  if (st == FF_OK) {
    c->root_id = L.ids;
    L.ids = NULL;
    st = FF_MALLOC(c->home, c->n, "home neuropils");
  }
  neuron_list_free(&L);
  if (st != FF_OK) {
    ff_connectome_destroy(c);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  for (int64_t i = 0; i < c->n; ++i) c->home[i] = -1;
  snprintf(c->source, sizeof c->source, "shiu: %s, %s", base_name(neurons_csv), base_name(connectivity_csv));
  snprintf(c->release, sizeof c->release, "unknown");
  return FF_OK;
}

/* ---- (b) Codex connections ------------------------------------------------------------------- */

static const char *CODEX_COLUMNS[] = {"pre_root_id", "post_root_id", "neuropil", "syn_count", "nt_type"};
enum { C_PRE, C_POST, C_NP, C_COUNT, C_NT, C_N };
enum { NP_SLOTS = 1 << 12 };

typedef struct {
  const char *path, *neurons_path;
  NeuronList *L;  /* NULL: neurons numbered by first appearance */
  FfIdMap order;  /* first-appearance numbering */
  int64_t *ids;   /* root ids in that numbering */
  int64_t n_ids, cap_ids;
  int col[C_N], width;
  char *np_name[NP_SLOTS]; /* neuropil names by provisional id, and a string hash of them */
  int16_t np_slot[NP_SLOTS];
  int n_np;
  Rows rows;
} CodexState;

static int neuropil_id(CodexState *S, const char *name, int64_t line, int16_t *id) {
  if (name[0] == '\0') return FF_ERROR(FF_ERR_INPUT, "%s:%lld: the neuropil is empty", S->path, (long long)line);
  for (uint32_t h = (uint32_t)ff_fnv1a_str(name) & (NP_SLOTS - 1);; h = (h + 1) & (NP_SLOTS - 1)) {
    if (S->np_slot[h] < 0) {
      if (S->n_np >= NP_SLOTS / 2) return FF_ERROR(FF_ERR_INPUT, "%s:%lld: more than %d neuropil names", S->path, (long long)line, NP_SLOTS / 2);
      S->np_name[S->n_np] = strdup(name);
      if (S->np_name[S->n_np] == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
      S->np_slot[h] = (int16_t)S->n_np;
      *id = (int16_t)S->n_np++;
      return FF_OK;
    }
    if (strcmp(S->np_name[S->np_slot[h]], name) == 0) {
      *id = S->np_slot[h];
      return FF_OK;
    }
  }
}

static int codex_neuron(CodexState *S, int64_t id, int64_t line, int column, int32_t *index) {
  if (S->L) {
    *index = ff_idmap_find(&S->L->map, id);
    if (*index < 0)
      return FF_ERROR(FF_ERR_INPUT, "%s:%lld: %s %lld is not in the neuron list %s", S->path, (long long)line,
                      CODEX_COLUMNS[column], (long long)id, S->neurons_path);
    return FF_OK;
  }
  int32_t seen;
  if (S->n_ids == INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "%s: more than 2^31-1 neurons", S->path);
  FF_TRY(ff_idmap_insert(&S->order, id, (int32_t)S->n_ids, &seen));
  if (seen >= 0) {
    *index = seen;
    return FF_OK;
  }
  if (S->n_ids == S->cap_ids) {
    S->cap_ids = S->cap_ids ? 2 * S->cap_ids : 1 << 16;
    FF_TRY(FF_REALLOC(S->ids, S->cap_ids, "root ids"));
  }
  S->ids[S->n_ids] = id;
  *index = (int32_t)S->n_ids++;
  return FF_OK;
}

static int codex_row(void *user, char **f, int nf, int64_t line) {
  CodexState *S = user;
  if (line == 1) {
    for (int k = 0; k < C_N; ++k) {
      FF_TRY(ff_csv_column(f, nf, CODEX_COLUMNS[k], S->path, &S->col[k]));
      if (S->col[k] + 1 > S->width) S->width = S->col[k] + 1;
    }
    return FF_OK;
  }
  if (line > INT32_MAX) return FF_ERROR(FF_ERR_UNSUPPORTED, "%s: more than 2^31 lines", S->path);
  if (nf < S->width)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: %d fields, the header has at least %d", S->path, (long long)line, nf, S->width);
  int64_t pre, post, count;
  FF_TRY(ff_csv_int64(f[S->col[C_PRE]], S->path, line, "pre_root_id", &pre));
  FF_TRY(ff_csv_int64(f[S->col[C_POST]], S->path, line, "post_root_id", &post));
  FF_TRY(ff_csv_int64(f[S->col[C_COUNT]], S->path, line, "syn_count", &count));
  if (count <= 0 || count > INT32_MAX)
    return FF_ERROR(FF_ERR_INPUT, "%s:%lld: syn_count %lld: a synapse count must be a positive integer", S->path,
                    (long long)line, (long long)count);
  Row r = {0, 0, (int32_t)count, (int32_t)line, 0, 1};
  FF_TRY(codex_neuron(S, pre, line, C_PRE, &r.pre));
  FF_TRY(codex_neuron(S, post, line, C_POST, &r.post));
  FF_TRY(neuropil_id(S, f[S->col[C_NP]], line, &r.np));
  const char *nt = f[S->col[C_NT]];
  if (strcasecmp(nt, "GABA") == 0 || strcasecmp(nt, "GLUT") == 0) r.sign = -1;
  return rows_push(&S->rows, r);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ff_import_codex(const char *connections_csv, const char *neurons_csv, FfConnectome *c) {
  NeuronList L;
  CodexState S;
  memset(c, 0, sizeof *c);
  memset(&S, 0, sizeof S);
  memset(S.np_slot, 0xff, sizeof S.np_slot);
  S.path = connections_csv;
  S.neurons_path = neurons_csv;
  int st = FF_OK;
  if (neurons_csv) {
    st = neuron_list_load(neurons_csv, &L);
    S.L = &L;
  } else {
    st = ff_idmap_create(&S.order, 1 << 16);
  }
  if (st == FF_OK) st = ff_csv_read(connections_csv, codex_row, &S);
  if (st == FF_OK && S.width == 0) st = FF_ERROR(FF_ERR_INPUT, "%s: the file is empty (no header)", connections_csv);
  if (st == FF_OK && !neurons_csv && S.n_ids == 0) /* without a neuron list the rows are all the neurons there are */
    st = FF_ERROR(FF_ERR_INPUT, "%s: the table has a header but no rows: no neurons to import", connections_csv);
  if (st == FF_OK && S.n_np > 0) { /* renumber neuropils in name order */
    char **sorted;
    int16_t remap[NP_SLOTS / 2];
    st = FF_MALLOC(sorted, S.n_np, "neuropil names");
    if (st == FF_OK) {
      memcpy(sorted, S.np_name, (size_t)S.n_np * sizeof *sorted);
      qsort(sorted, (size_t)S.n_np, sizeof *sorted, name_cmp);
      for (int a = 0; a < S.n_np; ++a)
        for (int b = 0; b < S.n_np; ++b)
          if (S.np_name[a] == sorted[b]) remap[a] = (int16_t)b;
      for (int64_t k = 0; k < S.rows.n; ++k) S.rows.v[k].np = remap[S.rows.v[k].np];
      c->neuropil_names = sorted;
      c->n_neuropils = S.n_np;
      S.n_np = 0; /* the names now belong to c */
    }
  }
  const int64_t n = neurons_csv ? L.n : S.n_ids;
  const int64_t *ids = neurons_csv ? L.ids : S.ids;
  if (st == FF_OK) st = merge(&S.rows, n, c->n_neuropils, connections_csv, ids, c);
  if (st == FF_OK) st = FF_MALLOC(c->root_id, n, "root ids");
  if (st == FF_OK) {
    memcpy(c->root_id, ids, (size_t)n * sizeof *ids);
    st = FF_MALLOC(c->home, n, "home neuropils");
  }
  if (st == FF_OK) st = ff_connectome_set_home(c);
  free(S.rows.v);
  for (int k = 0; k < S.n_np; ++k) free(S.np_name[k]);
  free(S.ids);
  ff_idmap_destroy(&S.order);
  if (neurons_csv) neuron_list_free(&L);
  if (st != FF_OK) {
    ff_connectome_destroy(c);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  snprintf(c->source, sizeof c->source, "codex: %s%s%s", base_name(connections_csv), neurons_csv ? ", " : "",
           neurons_csv ? base_name(neurons_csv) : "");
  snprintf(c->release, sizeof c->release, "unknown");
  return FF_OK;
}
