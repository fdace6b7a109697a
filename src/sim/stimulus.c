/* Neuron lists and the input-spike file (include/flyfit/stimulus.h). */
#include "flyfit/stimulus.h"
#include "flyfit/error.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ff_stimulus_destroy(FfStimulus *s) {
  if (s == NULL) return;
  free(s->poisson);
  free(s->silence);
  free(s->file_gid);
  free(s->file_step);
  free(s->record);
  free(s->state);
  memset(s, 0, sizeof *s);
}

typedef struct {
  int64_t id;
  int64_t index;
} RootIndex;

static int root_cmp(const void *a, const void *b) {
  const RootIndex *x = a, *y = b;
  return x->id < y->id ? -1 : (x->id > y->id);
}

static int i64_cmp(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : (x > y);
}

typedef struct {
  int64_t *v;
  int64_t n, cap;
} I64Vec;

static int vec_push(I64Vec *v, int64_t x) {
  if (v->n == v->cap) {
    v->cap = v->cap ? 2 * v->cap : 64;
    FF_TRY(FF_REALLOC(v->v, v->cap, "neuron list"));
  }
  v->v[v->n++] = x;
  return FF_OK;
}

/* Parses a whole-string int64; returns 0 on success. */
static int parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || errno) return -1;
  while (isspace((unsigned char)*end)) ++end;
  if (*end) return -1;
  *out = v;
  return 0;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) ++s;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

static int list_file(const char *path, const char *what, int64_t n, const int64_t *root_ids, I64Vec *out) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return FF_ERROR(FF_ERR_INPUT, "%s: cannot read neuron list file '%s': %s", what, path, strerror(errno));
  RootIndex *roots = NULL;
  char line[512];
  int lineno = 0, st = FF_OK;
  while (st == FF_OK && fgets(line, sizeof line, f)) {
    ++lineno;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    if (*s == '\0') continue;
    int64_t v;
    if (parse_i64(s, &v) != 0 || v < 0) {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%d: '%s' is not a neuron index or root id (%s)", path, lineno, s, what);
      break;
    }
    if (v >= n) { /* a root id */
      if (root_ids == NULL) {
        st = FF_ERROR(FF_ERR_INPUT, "%s:%d: neuron index %lld is out of range 0..%lld (%s)", path, lineno, (long long)v,
                      (long long)n - 1, what);
        break;
      }
      if (roots == NULL) {
        st = FF_MALLOC(roots, n, "root id index");
        if (st) break;
        for (int64_t i = 0; i < n; ++i) roots[i] = (RootIndex){root_ids[i], i};
        qsort(roots, (size_t)n, sizeof *roots, root_cmp);
      }
      RootIndex key = {v, 0}, *hit = bsearch(&key, roots, (size_t)n, sizeof *roots, root_cmp);
      if (hit == NULL) {
        st = FF_ERROR(FF_ERR_INPUT, "%s:%d: %lld is neither a neuron index (0..%lld) nor a root id of the connectome (%s)",
                      path, lineno, (long long)v, (long long)n - 1, what);
        break;
      }
      v = hit->index;
    }
    st = vec_push(out, v);
  }
  fclose(f);
  free(roots);
  return st;
}

int ff_neuron_list_parse(const char *text, const char *what, int64_t n, const int64_t *root_ids, int64_t **out,
                         int64_t *count) {
  I64Vec v = {NULL, 0, 0};
  char *buf = strdup(text);
  if (buf == NULL) return FF_ERROR(FF_ERR_NOMEM, "out of memory");
  int st = FF_OK;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok && st == FF_OK; tok = strtok_r(NULL, ",", &save)) {
    char *s = trim(tok);
    if (*s == '\0') continue;
    if (*s == '@') {
      st = list_file(trim(s + 1), what, n, root_ids, &v);
      continue;
    }
    int64_t a, b;
    char *dash = strchr(s + 1, '-');
    if (dash) {
      *dash = '\0';
      if (parse_i64(s, &a) || parse_i64(dash + 1, &b) || a < 0 || b < a) {
        *dash = '-';
        st = FF_ERROR(FF_ERR_INPUT, "%s: '%s' is not a neuron range like 10-20", what, s);
        break;
      }
    } else if (parse_i64(s, &a) || a < 0) {
      st = FF_ERROR(FF_ERR_INPUT, "%s: '%s' is not a neuron index (use @FILE for root ids)", what, s);
      break;
    } else {
      b = a;
    }
    if (b >= n) {
      st = FF_ERROR(FF_ERR_INPUT, "%s: neuron index %lld is out of range 0..%lld", what, (long long)b, (long long)n - 1);
      break;
    }
    for (int64_t i = a; i <= b && st == FF_OK; ++i) st = vec_push(&v, i);
  }
  free(buf);
  if (st != FF_OK) {
    free(v.v);
    return st;
  }
  if (v.n > 1) qsort(v.v, (size_t)v.n, sizeof *v.v, i64_cmp);
  int64_t m = 0;
  for (int64_t i = 0; i < v.n; ++i)
    if (m == 0 || v.v[i] != v.v[m - 1]) v.v[m++] = v.v[i];
  *out = v.v;
  *count = m;
  return FF_OK;
}

typedef struct {
  int32_t step;
  int64_t gid;
} FileSpike;

static int file_spike_cmp(const void *a, const void *b) {
  const FileSpike *x = a, *y = b;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return x->gid < y->gid ? -1 : (x->gid > y->gid);
}

static int spikes_file(const char *path, double dt, int64_t n, int64_t n_steps, FfStimulus *s) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return FF_ERROR(FF_ERR_INPUT, "[stimulus] spikes_file: cannot read '%s': %s", path, strerror(errno));
  FileSpike *v = NULL;
  int64_t cap = 0, m = 0;
  char line[512];
  int lineno = 0, st = FF_OK;
  while (fgets(line, sizeof line, f)) {
    ++lineno;
    if (strchr(line, '\n') == NULL && !feof(f)) {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%d: line too long", path, lineno);
      break;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *p = trim(line);
    if (*p == '\0') continue;
    char *end;
    errno = 0;
    long long idx = strtoll(p, &end, 10);
    if (end == p || errno || !isspace((unsigned char)*end)) {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%d: expected 'neuron_index time_ms', got '%s'", path, lineno, p);
      break;
    }
    char *q = end;
    double t = strtod(q, &end);
    while (isspace((unsigned char)*end)) ++end;
    if (end == q || *end != '\0') {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%d: expected 'neuron_index time_ms', got '%s'", path, lineno, p);
      break;
    }
    if (idx < 0 || idx >= n) {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%d: neuron index %lld is out of range 0..%lld", path, lineno, idx, (long long)n - 1);
      break;
    }
    if (!isfinite(t) || t < 0) {
      st = FF_ERROR(FF_ERR_INPUT, "%s:%d: time %g ms is not a finite time >= 0", path, lineno, t);
      break;
    }
    /* The step containing t, with Brian2's shift so that multiples of dt fall in their own step. */
    double step = floor((t + 1e-3 * dt) / dt);
    if (step >= (double)n_steps) {
      s->n_file_late++;
      continue;
    }
    if (m == cap) {
      cap = cap ? 2 * cap : 1024;
      st = FF_REALLOC(v, cap, "input spikes");
      if (st) break;
    }
    v[m++] = (FileSpike){(int32_t)step, idx};
  }
  fclose(f);
  if (st != FF_OK) {
    free(v);
    return st;
  }
  if (m > 1) qsort(v, (size_t)m, sizeof *v, file_spike_cmp);
  FF_TRY(FF_MALLOC(s->file_gid, m, "input spikes"));
  FF_TRY(FF_MALLOC(s->file_step, m, "input spikes"));
  for (int64_t i = 0; i < m; ++i) {
    s->file_gid[i] = v[i].gid;
    s->file_step[i] = v[i].step;
  }
  s->n_file = m;
  free(v);
  return FF_OK;
}

int ff_stimulus_load(const FfConfig *cfg, const FfModel *m, int64_t n, const int64_t *root_ids, int64_t n_steps,
                     FfStimulus *s) {
  memset(s, 0, sizeof *s);
  FF_TRY(ff_neuron_list_parse(cfg->poisson_neurons, "[stimulus] poisson_neurons", n, root_ids, &s->poisson, &s->n_poisson));
  FF_TRY(ff_neuron_list_parse(cfg->silence, "[stimulus] silence", n, root_ids, &s->silence, &s->n_silence));
  FF_TRY(ff_neuron_list_parse(cfg->state_neurons, "[output] state_neurons", n, root_ids, &s->state, &s->n_state));
  if (strcmp(cfg->spikes, "all") == 0) {
    s->record_all = 1;
  } else if (strcmp(cfg->spikes, "none") != 0 && cfg->spikes[0] != '\0') {
    FF_TRY(ff_neuron_list_parse(cfg->spikes, "[output] spikes", n, root_ids, &s->record, &s->n_record));
  }
  if (cfg->spikes_file[0]) FF_TRY(spikes_file(cfg->spikes_file, m->dt_ms, n, n_steps, s));
  return FF_OK;
}

/* Collective: all ranks of comm must call it. Rank 0's count elements of `type` (elem bytes each)
 * at v, in pieces that an int count can hold. */
static int bcast_chunks(void *v, int64_t count, MPI_Datatype type, size_t elem, MPI_Comm comm) {
  enum { PIECE = 1 << 28 };
  for (int64_t off = 0; off < count; off += PIECE) {
    const int len = (int)(count - off < PIECE ? count - off : PIECE);
    FF_TRY(FF_MPI(MPI_Bcast((char *)v + (size_t)off * elem, len, type, 0, comm)));
  }
  return FF_OK;
}

/* Collective: all ranks of comm must call it. An int64 array whose length rank 0 knows; other ranks
 * allocate it. */
static int bcast_i64(int64_t **v, int64_t *count, MPI_Comm comm, int rank) {
  FF_TRY(FF_MPI(MPI_Bcast(count, 1, MPI_INT64_T, 0, comm)));
  if (rank != 0) FF_TRY(FF_MALLOC(*v, *count, "broadcast list"));
  return bcast_chunks(*v, *count, MPI_INT64_T, sizeof **v, comm);
}

int ff_stimulus_bcast(FfStimulus *s, MPI_Comm comm) {
  int rank;
  FF_TRY(FF_MPI(MPI_Comm_rank(comm, &rank)));
  int64_t flags[2] = {s->record_all, s->n_file_late};
  FF_TRY(FF_MPI(MPI_Bcast(flags, 2, MPI_INT64_T, 0, comm)));
  s->record_all = (int)flags[0];
  s->n_file_late = flags[1];
  FF_TRY(bcast_i64(&s->poisson, &s->n_poisson, comm, rank));
  FF_TRY(bcast_i64(&s->silence, &s->n_silence, comm, rank));
  FF_TRY(bcast_i64(&s->record, &s->n_record, comm, rank));
  FF_TRY(bcast_i64(&s->state, &s->n_state, comm, rank));
  FF_TRY(bcast_i64(&s->file_gid, &s->n_file, comm, rank));
  if (rank != 0) FF_TRY(FF_MALLOC(s->file_step, s->n_file, "input spikes"));
  return bcast_chunks(s->file_step, s->n_file, MPI_INT32_T, sizeof *s->file_step, comm);
}
