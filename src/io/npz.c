/* numpy .npz reading (include/flyfit/npz.h). The .npy header dict is parsed as the Python literal
 * it is (a small recursive-descent parser, no substring search), so key order, spacing, quotes,
 * trailing commas and Python 2 "3L" integers all read alike. Member data is read in one pass into
 * a buffer of exactly count × itemsize bytes; a member with fewer or more bytes is an error. */
#include "flyfit/npz.h"
#include "flyfit/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npz reader converts little-endian data with memcpy; port it before building on this host"
#endif

struct FfNpz {
  zip_t *za;
  char *path;
};

enum { HEADER_MAX = 1 << 20, LIT_DEPTH = 16, WHERE_MAX = 768 };

/* ---- the header dict: a Python literal ---------------------------------------------------------- */

typedef enum { L_STR, L_INT, L_BOOL, L_NONE, L_TUPLE, L_LIST, L_DICT } LitType;

typedef struct {
  LitType type;
  char str[64];                  /* L_STR */
  int64_t num;                   /* L_INT, L_BOOL */
  int n;                         /* L_TUPLE: number of items */
  int64_t item[FF_NPY_MAX_DIMS]; /* L_TUPLE: the first items, when integers */
  int all_ints;                  /* L_TUPLE: every item is a non-negative integer */
} Lit;

typedef struct {
  const char *s, *begin, *end;
  const char *where;
} Parser;

static const char *LIT_NAMES[] = {"a string", "an integer", "a boolean", "None", "a tuple", "a list", "a dict"};

static int syntax(const Parser *p, const char *what) {
  const int len = (int)(p->end - p->begin);
  return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header is not a valid dict literal: %s at character %d of \"%.*s\"",
                  p->where, what, (int)(p->s - p->begin), len > 200 ? 200 : len, p->begin);
}

static void skip_space(Parser *p) {
  while (p->s < p->end && isspace((unsigned char)*p->s)) ++p->s;
}

static int peek(Parser *p) {
  skip_space(p);
  return p->s < p->end ? (unsigned char)*p->s : -1;
}

static int expect(Parser *p, char c) {
  if (peek(p) != c) {
    char what[32];
    snprintf(what, sizeof what, "expected '%c'", c);
    return syntax(p, what);
  }
  ++p->s;
  return FF_OK;
}

static int parse_value(Parser *p, Lit *v, int depth);

static int parse_string(Parser *p, Lit *v) {
  const char quote = *p->s++;
  size_t n = 0;
  v->type = L_STR;
  for (;;) {
    if (p->s >= p->end) return syntax(p, "unterminated string");
    char c = *p->s++;
    if (c == quote) break;
    if (c == '\\') {
      if (p->s >= p->end) return syntax(p, "unterminated string");
      c = *p->s++;
    }
    if (n + 1 >= sizeof v->str) return syntax(p, "string longer than 63 characters");
    v->str[n++] = c;
  }
  v->str[n] = '\0';
  return FF_OK;
}

static int parse_int(Parser *p, Lit *v) {
  int neg = 0;
  uint64_t x = 0;
  if (*p->s == '+' || *p->s == '-') neg = *p->s++ == '-';
  if (p->s >= p->end || !isdigit((unsigned char)*p->s)) return syntax(p, "expected a digit");
  while (p->s < p->end && isdigit((unsigned char)*p->s)) {
    x = 10 * x + (uint64_t)(*p->s++ - '0');
    if (x > (uint64_t)INT64_MAX) return syntax(p, "integer too large");
  }
  if (p->s < p->end && (*p->s == 'L' || *p->s == 'l')) ++p->s; /* Python 2 long, as old files have */
  v->type = L_INT;
  v->num = neg ? -(int64_t)x : (int64_t)x;
  return FF_OK;
}

/* Items of a tuple "(...)" or list "[...]" up to the closing bracket; a single item without a
 * comma is accepted as a tuple too, which is what every shape means. */
static int parse_sequence(Parser *p, Lit *v, char close, int depth) {
  ++p->s;
  v->type = close == ')' ? L_TUPLE : L_LIST;
  v->n = 0;
  v->all_ints = 1;
  for (;;) {
    if (peek(p) == close) break;
    Lit item;
    FF_TRY(parse_value(p, &item, depth + 1));
    if (item.type != L_INT || item.num < 0) v->all_ints = 0;
    if (v->n < FF_NPY_MAX_DIMS) v->item[v->n] = item.num;
    ++v->n;
    if (peek(p) == ',') {
      ++p->s;
      continue;
    }
    if (peek(p) != close) {
      char what[40];
      snprintf(what, sizeof what, "expected ',' or '%c'", close);
      return syntax(p, what);
    }
  }
  ++p->s;
  return FF_OK;
}

static int parse_dict_skip(Parser *p, Lit *v, int depth) {
  ++p->s;
  v->type = L_DICT;
  while (peek(p) != '}') {
    Lit key, val;
    FF_TRY(parse_value(p, &key, depth + 1));
    FF_TRY(expect(p, ':'));
    FF_TRY(parse_value(p, &val, depth + 1));
    if (peek(p) == ',') ++p->s;
    else if (peek(p) != '}') return syntax(p, "expected ',' or '}'");
  }
  ++p->s;
  return FF_OK;
}

static int parse_value(Parser *p, Lit *v, int depth) {
  memset(v, 0, sizeof *v);
  if (depth > LIT_DEPTH) return syntax(p, "nested too deeply");
  const int c = peek(p);
  if (c == '\'' || c == '"') return parse_string(p, v);
  if (c == '(') return parse_sequence(p, v, ')', depth);
  if (c == '[') return parse_sequence(p, v, ']', depth);
  if (c == '{') return parse_dict_skip(p, v, depth);
  if (c == '+' || c == '-' || (c >= '0' && c <= '9')) return parse_int(p, v);
  static const struct {
    const char *word;
    LitType type;
    int64_t num;
  } WORDS[] = {{"True", L_BOOL, 1}, {"False", L_BOOL, 0}, {"None", L_NONE, 0}};
  for (size_t k = 0; k < sizeof WORDS / sizeof WORDS[0]; ++k) {
    const size_t len = strlen(WORDS[k].word);
    if ((size_t)(p->end - p->s) >= len && memcmp(p->s, WORDS[k].word, len) == 0 &&
        (p->s + len == p->end || !isalnum((unsigned char)p->s[len]))) {
      p->s += len;
      v->type = WORDS[k].type;
      v->num = WORDS[k].num;
      return FF_OK;
    }
  }
  return syntax(p, "expected a value");
}

/* ---- dtype ------------------------------------------------------------------------------------- */

static int parse_descr(const char *d, const char *where, FfNpyHeader *h) {
  snprintf(h->descr, sizeof h->descr, "%s", d);
  const char order = d[0];
  if (order != '<' && order != '>' && order != '|' && order != '=')
    return FF_ERROR(FF_ERR_INPUT, "%s: dtype '%s' is not a simple numpy type string (like '<f8')", where, d);
  const char type = d[1];
  if (type == 'O') {
    h->kind = FF_NPY_OBJECT;
    h->itemsize = 8;
    return FF_OK;
  }
  char *end;
  errno = 0;
  const long long size = d[2] ? strtoll(d + 2, &end, 10) : -1;
  if (size < 0 || errno || *end != '\0' || size > (1 << 20))
    return FF_ERROR(FF_ERR_INPUT, "%s: dtype '%s' is not a simple numpy type string (like '<f8')", where, d);
  switch (type) {
  case 'f': h->kind = FF_NPY_FLOAT; break;
  case 'i': h->kind = FF_NPY_INT; break;
  case 'u': h->kind = FF_NPY_UINT; break;
  case 'b': h->kind = FF_NPY_BOOL; break;
  case 'U': h->kind = FF_NPY_UNICODE; break;
  case 'S':
  case 'a': h->kind = FF_NPY_BYTES; break;
  default:
    return FF_ERROR(FF_ERR_INPUT,
                    "%s: dtype '%s' (complex, datetime, void or another kind) is not one flyfit reads; save it as "
                    "float, int, bool or a fixed-width string array",
                    where, d);
  }
  h->itemsize = h->kind == FF_NPY_UNICODE ? 4 * size : size;
  const int ok_size = (h->kind == FF_NPY_FLOAT && (size == 4 || size == 8)) ||
                      ((h->kind == FF_NPY_INT || h->kind == FF_NPY_UINT) &&
                       (size == 1 || size == 2 || size == 4 || size == 8)) ||
                      (h->kind == FF_NPY_BOOL && size == 1) || h->kind == FF_NPY_UNICODE || h->kind == FF_NPY_BYTES;
  if (!ok_size)
    return FF_ERROR(FF_ERR_INPUT, "%s: dtype '%s' has an element size flyfit does not read (float: 4 or 8 bytes; "
                    "int and uint: 1, 2, 4 or 8; bool: 1)", where, d);
  /* One-byte elements and byte strings have no byte order, whatever the character says. */
  if (order == '>' && h->itemsize > 1 && h->kind != FF_NPY_BYTES)
    return FF_ERROR(FF_ERR_INPUT, "%s: the array is stored big-endian ('%s'); flyfit reads little-endian arrays: "
                    "save it with a.astype(a.dtype.newbyteorder('<'))", where, d);
  return FF_OK;
}

int ff_npy_parse_header(const unsigned char *buf, size_t n, const char *where, FfNpyHeader *h) {
  memset(h, 0, sizeof *h);
  if (n < 8 || memcmp(buf, "\x93NUMPY", 6) != 0)
    return FF_ERROR(FF_ERR_INPUT, "%s: not a .npy array (it does not start with \\x93NUMPY)", where);
  h->major = buf[6];
  h->minor = buf[7];
  size_t off, len;
  if (h->major == 1 && h->minor == 0) {
    if (n < 10) return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header is truncated", where);
    off = 10;
    len = (size_t)buf[8] | (size_t)buf[9] << 8;
  } else if ((h->major == 2 || h->major == 3) && h->minor == 0) {
    if (n < 12) return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header is truncated", where);
    off = 12;
    len = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
  } else {
    return FF_ERROR(FF_ERR_INPUT, "%s: .npy format version %d.%d is not one flyfit reads (1.0, 2.0, 3.0)", where,
                    h->major, h->minor);
  }
  if (len > HEADER_MAX)
    return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header claims %zu bytes, more than flyfit accepts (%d)", where, len,
                    HEADER_MAX);
  if (n < off + len)
    return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header is truncated (%zu of %zu bytes)", where, n - off, len);
  h->data_offset = off + len;

  Parser p = {(const char *)buf + off, (const char *)buf + off, (const char *)buf + off + len, where};
  int have_descr = 0, have_fortran = 0, have_shape = 0;
  Lit descr, shape;
  memset(&descr, 0, sizeof descr);
  memset(&shape, 0, sizeof shape);
  FF_TRY(expect(&p, '{'));
  while (peek(&p) != '}') {
    Lit key, val;
    FF_TRY(parse_value(&p, &key, 1));
    if (key.type != L_STR) return syntax(&p, "a key is not a string");
    FF_TRY(expect(&p, ':'));
    FF_TRY(parse_value(&p, &val, 1));
    int *seen = !strcmp(key.str, "descr")           ? &have_descr
                : !strcmp(key.str, "fortran_order") ? &have_fortran
                : !strcmp(key.str, "shape")         ? &have_shape
                                                    : NULL;
    if (seen == NULL)
      return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header has the unexpected key '%s' (numpy writes exactly descr, "
                      "fortran_order and shape)", where, key.str);
    if (*seen) return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header gives '%s' twice", where, key.str);
    *seen = 1;
    if (seen == &have_descr) descr = val;
    else if (seen == &have_shape) shape = val;
    else if (val.type != L_BOOL)
      return FF_ERROR(FF_ERR_INPUT, "%s: fortran_order in the .npy header is %s, not True or False", where,
                      LIT_NAMES[val.type]);
    else h->fortran_order = (int)val.num;
    if (peek(&p) == ',') ++p.s;
    else if (peek(&p) != '}') return syntax(&p, "expected ',' or '}'");
  }
  ++p.s;
  if (peek(&p) != -1) return syntax(&p, "text after the closing '}'");
  if (!have_descr || !have_fortran || !have_shape)
    return FF_ERROR(FF_ERR_INPUT, "%s: the .npy header lacks '%s'", where,
                    !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
  if (descr.type == L_LIST)
    return FF_ERROR(FF_ERR_INPUT, "%s: a structured array (record dtype) is not one flyfit reads; save each field "
                    "as its own array", where);
  if (descr.type != L_STR)
    return FF_ERROR(FF_ERR_INPUT, "%s: descr in the .npy header is %s, not a dtype string", where,
                    LIT_NAMES[descr.type]);
  if (shape.type != L_TUPLE || !shape.all_ints)
    return FF_ERROR(FF_ERR_INPUT, "%s: shape in the .npy header is not a tuple of non-negative integers", where);
  if (shape.n > FF_NPY_MAX_DIMS)
    return FF_ERROR(FF_ERR_INPUT, "%s: the array has %d dimensions; flyfit reads at most %d", where, shape.n,
                    FF_NPY_MAX_DIMS);
  FF_TRY(parse_descr(descr.str, where, h));
  h->ndim = shape.n;
  h->count = 1;
  for (int d = 0; d < h->ndim; ++d) {
    h->dims[d] = shape.item[d];
    if (h->dims[d] > 0 && h->count > INT64_MAX / h->dims[d])
      return FF_ERROR(FF_ERR_INPUT, "%s: the shape's element count overflows", where);
    h->count *= h->dims[d];
  }
  if (h->itemsize > 0 && h->count > INT64_MAX / h->itemsize)
    return FF_ERROR(FF_ERR_INPUT, "%s: the array's size in bytes overflows", where);
  return FF_OK;
}

/* ---- the archive ------------------------------------------------------------------------------- */

const char *ff_npz_path(const FfNpz *npz) { return npz->path; }

int ff_npz_open(const char *path, FfNpz **npz) {
  *npz = NULL;
  struct stat st;
  if (stat(path, &st) != 0) return FF_ERROR(FF_ERR_INPUT, "'%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return FF_ERROR(FF_ERR_INPUT, "'%s' is not a regular file", path);
  int err = 0;
  zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (za == NULL) {
    /* libzip says "Not a zip archive" both for other formats and for a zip cut short (its central
     * directory sits at the end), so look at the first bytes to tell the user which it is. */
    unsigned char magic[6] = {0};
    FILE *f = fopen(path, "rb");
    const size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f) fclose(f);
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    char why[256];
    snprintf(why, sizeof why, "%s", zip_error_strerror(&ze));
    zip_error_fini(&ze);
    if (got >= 4 && memcmp(magic, "PK\x03\x04", 4) == 0)
      return FF_ERROR(FF_ERR_INPUT, "'%s' is a damaged or truncated .npz archive (%s); was the copy cut short?",
                      path, why);
    if (got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0)
      return FF_ERROR(FF_ERR_INPUT, "'%s' is a single .npy array, not an .npz archive; save the recording with "
                      "np.savez(path, areas=..., traces=...)", path);
    if (err == ZIP_ER_NOZIP || got < 4)
      return FF_ERROR(FF_ERR_INPUT, "'%s' is not an .npz archive (not a zip file: %s)", path, why);
    return FF_ERROR(FF_ERR_INPUT, "cannot open .npz archive '%s': %s", path, why);
  }
  FfNpz *z = calloc(1, sizeof *z);
  if (z == NULL || (z->path = strdup(path)) == NULL) {
    free(z);
    zip_discard(za);
    return FF_ERROR(FF_ERR_NOMEM, "out of memory opening '%s'", path);
  }
  z->za = za;
  *npz = z;
  return FF_OK;
}

void ff_npz_close(FfNpz **npz) {
  if (*npz == NULL) return;
  zip_discard((*npz)->za); /* read-only: nothing to write back */
  free((*npz)->path);
  FF_FREE(*npz);
}

void ff_npz_free_strings(char ***strings, int64_t n) {
  if (*strings == NULL) return;
  for (int64_t i = 0; i < n; ++i) free((*strings)[i]);
  FF_FREE(*strings);
}

static int strip_npy(const char *name, char **out) {
  size_t len = strlen(name);
  if (len > 4 && strcmp(name + len - 4, ".npy") == 0) len -= 4;
  *out = strndup(name, len);
  return *out ? FF_OK : FF_ERROR(FF_ERR_NOMEM, "out of memory listing an archive");
}

int ff_npz_list(const FfNpz *npz, char ***names, int64_t *n) {
  const zip_int64_t m = zip_get_num_entries(npz->za, 0);
  *names = NULL;
  *n = 0;
  char **out;
  FF_TRY(FF_CALLOC(out, m + 1, "member names"));
  for (zip_int64_t i = 0; i < m; ++i) {
    const char *name = zip_get_name(npz->za, (zip_uint64_t)i, ZIP_FL_ENC_GUESS);
    int st = strip_npy(name ? name : "?", &out[i]);
    if (st) {
      ff_npz_free_strings(&out, i);
      return st;
    }
  }
  *names = out;
  *n = m;
  return FF_OK;
}

static zip_int64_t locate(const FfNpz *npz, const char *member) {
  char name[512];
  snprintf(name, sizeof name, "%s.npy", member);
  zip_int64_t i = zip_name_locate(npz->za, name, 0);
  return i >= 0 ? i : zip_name_locate(npz->za, member, 0);
}

int ff_npz_has(const FfNpz *npz, const char *member) { return locate(npz, member) >= 0; }

int ff_npz_require(const FfNpz *npz, const char *member, const char *hint) {
  if (ff_npz_has(npz, member)) return FF_OK;
  char **names;
  int64_t n;
  FF_TRY(ff_npz_list(npz, &names, &n));
  char list[1024] = "";
  size_t used = 0;
  for (int64_t i = 0; i < n && used + 1 < sizeof list; ++i)
    used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", names[i]);
  ff_npz_free_strings(&names, n);
  return FF_ERROR(FF_ERR_INPUT, "'%s' has no member '%s' (it holds %s)%s%s", npz->path, member,
                  n ? list : "no arrays at all", hint ? "; " : "", hint ? hint : "");
}

/* Reads exactly n bytes; a short read is a truncated member, a failed one a damaged archive. */
static int read_exact(zip_file_t *zf, void *buf, size_t n, const char *where) {
  size_t got = 0;
  while (got < n) {
    const zip_int64_t r = zip_fread(zf, (char *)buf + got, n - got);
    if (r < 0)
      return FF_ERROR(FF_ERR_INPUT, "%s: reading failed: %s (the archive is damaged)", where, zip_file_strerror(zf));
    if (r == 0)
      return FF_ERROR(FF_ERR_INPUT, "%s: the member is truncated (%zu of %zu bytes read)", where, got, n);
    got += (size_t)r;
  }
  return FF_OK;
}

/* Opens a member and reads its header; on success the stream stands at the first data byte. */
static int open_member(FfNpz *npz, const char *member, char where[WHERE_MAX], zip_file_t **zf, FfNpyHeader *h) {
  snprintf(where, WHERE_MAX, "'%s' member '%s'", npz->path, member);
  *zf = NULL;
  const zip_int64_t idx = locate(npz, member);
  if (idx < 0) return ff_npz_require(npz, member, NULL);
  zip_stat_t zs;
  zip_stat_init(&zs);
  if (zip_stat_index(npz->za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
    return FF_ERROR(FF_ERR_INPUT, "%s: cannot read its size: %s", where, zip_strerror(npz->za));
  *zf = zip_fopen_index(npz->za, (zip_uint64_t)idx, 0);
  if (*zf == NULL)
    return FF_ERROR(FF_ERR_INPUT, "%s: cannot open it: %s (damaged archive, or an unsupported compression?)", where,
                    zip_strerror(npz->za));
  unsigned char pre[12];
  const size_t npre = zs.size < sizeof pre ? (size_t)zs.size : sizeof pre;
  int st = read_exact(*zf, pre, npre, where);
  if (st == FF_OK && (npre < 10 || memcmp(pre, "\x93NUMPY", 6) != 0))
    st = FF_ERROR(FF_ERR_INPUT, "%s: not a .npy array (it does not start with \\x93NUMPY)", where);
  if (st == FF_OK) {
    /* The header's own length field says how much more to read; ff_npy_parse_header checks it. */
    const size_t hlen = pre[6] == 1 ? (size_t)pre[8] | (size_t)pre[9] << 8
                        : npre == 12 ? (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24
                                     : 0;
    const size_t total = (pre[6] == 1 ? 10 : 12) + (hlen > HEADER_MAX ? 0 : hlen);
    unsigned char *buf = malloc(total > npre ? total : npre);
    if (buf == NULL) st = FF_ERROR(FF_ERR_NOMEM, "%s: out of memory for the header", where);
    if (st == FF_OK) {
      memcpy(buf, pre, npre);
      if (total > npre) {
        if (zs.size < total) st = FF_ERROR(FF_ERR_INPUT, "%s: the .npy header is truncated", where);
        else st = read_exact(*zf, buf + npre, total - npre, where);
      }
      FF_CALL(st, ff_npy_parse_header(buf, total > npre ? total : npre, where, h));
      /* The data starts right after the header; a v1 header shorter than our 12-byte prefix would
       * need the 2 extra bytes given back, which a 10-byte header plus "{}" cannot be. */
      if (st == FF_OK && h->data_offset < npre)
        st = FF_ERROR(FF_ERR_INPUT, "%s: the .npy header is too short to be valid", where);
    }
    free(buf);
  }
  if (st == FF_OK) {
    const uint64_t have = zs.size - h->data_offset, want = (uint64_t)h->count * (uint64_t)h->itemsize;
    if (h->kind != FF_NPY_OBJECT && have != want)
      st = FF_ERROR(FF_ERR_INPUT, "%s: holds %llu bytes of data but its header describes %llu (%lld values of '%s'); "
                    "the member is %s", where, (unsigned long long)have, (unsigned long long)want,
                    (long long)h->count, h->descr, have < want ? "truncated" : "not a plain .npy array");
  }
  if (st != FF_OK) {
    zip_fclose(*zf);
    *zf = NULL;
    ff_error_trace(__FILE__, __LINE__, __func__);
  }
  return st;
}

int ff_npz_header(FfNpz *npz, const char *member, FfNpyHeader *h) {
  char where[WHERE_MAX];
  zip_file_t *zf;
  FF_TRY(open_member(npz, member, where, &zf, h));
  zip_fclose(zf);
  return FF_OK;
}

/* Reads the whole data and then asks for one byte more: libzip checks a member's CRC only when a
 * read reaches its end, and damage inside a stored deflate block shows up nowhere else. */
static int read_data(zip_file_t *zf, const FfNpyHeader *h, const char *where, unsigned char **raw) {
  *raw = NULL;
  FF_TRY(FF_MALLOC(*raw, (size_t)(h->count * h->itemsize), where));
  int st = read_exact(zf, *raw, (size_t)(h->count * h->itemsize), where);
  if (st == FF_OK) {
    char extra;
    const zip_int64_t r = zip_fread(zf, &extra, 1);
    if (r < 0)
      st = FF_ERROR(FF_ERR_INPUT, "%s: reading failed: %s (the archive is damaged)", where, zip_file_strerror(zf));
    else if (r > 0)
      st = FF_ERROR(FF_ERR_INPUT, "%s: reading failed: more data than its directory entry says (the archive is damaged)",
                    where);
  }
  if (st) FF_FREE(*raw);
  return st;
}

static double to_double(const unsigned char *p, const FfNpyHeader *h) {
  switch (h->kind) {
  case FF_NPY_FLOAT:
    if (h->itemsize == 4) {
      float f;
      memcpy(&f, p, 4);
      return f;
    } else {
      double d;
      memcpy(&d, p, 8);
      return d;
    }
  case FF_NPY_INT:
    switch (h->itemsize) {
    case 1: return (int8_t)p[0];
    case 2: { int16_t v; memcpy(&v, p, 2); return v; }
    case 4: { int32_t v; memcpy(&v, p, 4); return v; }
    default: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    }
  case FF_NPY_UINT:
    switch (h->itemsize) {
    case 1: return p[0];
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    }
  case FF_NPY_BOOL: return p[0] != 0;
  default: return 0.0; /* not reached: strings and objects are refused before */
  }
}

/* Opens a member, refuses a kind the reader cannot take (strings: a 1-D array of strings; else
 * numbers), and reads its data into a new buffer *raw [h->count x h->itemsize]. */
static int read_member(FfNpz *npz, const char *member, int strings, char where[WHERE_MAX], FfNpyHeader *h,
                       unsigned char **raw) {
  zip_file_t *zf;
  *raw = NULL;
  FF_TRY(open_member(npz, member, where, &zf, h));
  const int text = h->kind == FF_NPY_UNICODE || h->kind == FF_NPY_BYTES;
  int st = FF_OK;
  if (h->kind == FF_NPY_OBJECT)
    st = FF_ERROR(FF_ERR_INPUT, "%s is a pickled object array, which flyfit does not read; %s", where,
                  strings ? "save region names as a fixed-width string array (np.array(names, dtype=str))"
                          : "save numbers with a numeric dtype (np.asarray(x, dtype=float))");
  else if (!strings && text)
    st = FF_ERROR(FF_ERR_INPUT, "%s holds strings ('%s'), not numbers", where, h->descr);
  else if (strings && !text)
    st = FF_ERROR(FF_ERR_INPUT, "%s holds numbers ('%s'), not strings", where, h->descr);
  else if (strings && h->ndim != 1)
    st = FF_ERROR(FF_ERR_INPUT, "%s has %d dimensions; expected a 1-D array of names", where, h->ndim);
  FF_CALL(st, read_data(zf, h, where, raw));
  zip_fclose(zf);
  return st;
}

int ff_npz_read_f64(FfNpz *npz, const char *member, double **data, int *ndim, int64_t *dims) {
  char where[WHERE_MAX];
  FfNpyHeader h = {0};
  unsigned char *raw = NULL;
  double *out = NULL;
  *data = NULL;
  int st = read_member(npz, member, 0, where, &h, &raw);
  FF_CALL(st, FF_MALLOC(out, h.count, where));
  if (st != FF_OK) {
    free(raw);
    return st;
  }
  if (h.fortran_order && h.ndim > 1) {
    /* Walk the stored (column-major) order, keeping the multi-index, and place each value at its
     * row-major offset. */
    int64_t idx[FF_NPY_MAX_DIMS] = {0};
    for (int64_t k = 0; k < h.count; ++k) {
      int64_t off = 0;
      for (int d = 0; d < h.ndim; ++d) off = off * h.dims[d] + idx[d];
      out[off] = to_double(raw + k * h.itemsize, &h);
      for (int d = 0; d < h.ndim && ++idx[d] == h.dims[d]; ++d) idx[d] = 0;
    }
  } else {
    for (int64_t k = 0; k < h.count; ++k) out[k] = to_double(raw + k * h.itemsize, &h);
  }
  free(raw);
  *data = out;
  *ndim = h.ndim;
  for (int d = 0; d < h.ndim; ++d) dims[d] = h.dims[d];
  return FF_OK;
}

/* One UTF-32LE element (n code units, NUL padded) to a new UTF-8 string. */
static int utf32_to_utf8(const unsigned char *p, int64_t n, const char *where, int64_t index, char **out) {
  while (n > 0 && !(p[4 * (n - 1)] | p[4 * (n - 1) + 1] | p[4 * (n - 1) + 2] | p[4 * (n - 1) + 3])) --n;
  char *s = malloc((size_t)(4 * n + 1));
  if (s == NULL) return FF_ERROR(FF_ERR_NOMEM, "%s: out of memory for names", where);
  size_t len = 0;
  for (int64_t k = 0; k < n; ++k) {
    const uint32_t c = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 | (uint32_t)p[4 * k + 2] << 16 |
                       (uint32_t)p[4 * k + 3] << 24;
    if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
      free(s);
      return FF_ERROR(FF_ERR_INPUT, "%s: string %lld holds %s (U+%04X at character %lld)", where, (long long)index,
                      c == 0 ? "a NUL character inside it" : "an invalid code point", (unsigned)c, (long long)k);
    }
    if (c < 0x80) {
      s[len++] = (char)c;
    } else if (c < 0x800) {
      s[len++] = (char)(0xC0 | c >> 6);
      s[len++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      s[len++] = (char)(0xE0 | c >> 12);
      s[len++] = (char)(0x80 | (c >> 6 & 0x3F));
      s[len++] = (char)(0x80 | (c & 0x3F));
    } else {
      s[len++] = (char)(0xF0 | c >> 18);
      s[len++] = (char)(0x80 | (c >> 12 & 0x3F));
      s[len++] = (char)(0x80 | (c >> 6 & 0x3F));
      s[len++] = (char)(0x80 | (c & 0x3F));
    }
  }
  s[len] = '\0';
  *out = s;
  return FF_OK;
}

static int bytes_to_string(const unsigned char *p, int64_t n, const char *where, int64_t index, char **out) {
  while (n > 0 && p[n - 1] == 0) --n;
  if (memchr(p, 0, (size_t)n))
    return FF_ERROR(FF_ERR_INPUT, "%s: string %lld holds a NUL byte inside it", where, (long long)index);
  *out = strndup((const char *)p, (size_t)n);
  return *out ? FF_OK : FF_ERROR(FF_ERR_NOMEM, "%s: out of memory for names", where);
}

int ff_npz_read_strings(FfNpz *npz, const char *member, char ***strings, int64_t *n) {
  char where[WHERE_MAX];
  FfNpyHeader h = {0};
  unsigned char *raw = NULL;
  char **out = NULL;
  *strings = NULL;
  *n = 0;
  int st = read_member(npz, member, 1, where, &h, &raw);
  FF_CALL(st, FF_CALLOC(out, h.count + 1, where));
  const int64_t w = h.kind == FF_NPY_UNICODE ? h.itemsize / 4 : h.itemsize;
  for (int64_t i = 0; st == FF_OK && i < h.count; ++i) {
    const unsigned char *p = raw + i * h.itemsize;
    st = h.kind == FF_NPY_UNICODE ? utf32_to_utf8(p, w, where, i, &out[i]) : bytes_to_string(p, w, where, i, &out[i]);
  }
  free(raw);
  if (st != FF_OK) {
    ff_npz_free_strings(&out, h.count);
    return st;
  }
  *strings = out;
  *n = h.count;
  return FF_OK;
}
