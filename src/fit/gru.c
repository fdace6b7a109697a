/* The round-2 GRU (include/flyfit/gru.h): forward, backpropagation through time, the gradient's
 * reduction over ranks, and Adam.
 *
 * Every matrix product is one cblas_dgemm over one chunk of sequences, for one frame (forward,
 * hidden-state gradient) or for all the chunk's frames (weight gradients), with shapes fixed by
 * (P, H, L, chunk size): a chunk gives the same bits wherever it runs. OpenBLAS is held to one
 * thread during these calls, because a threaded GEMM or GEMV may split the work, and with it the
 * sums, differently for another thread count. ff_gru_step and ff_gru_forward share cell_forward
 * call for call, so autoregressive prediction reproduces teacher forcing exactly. Each chunk's
 * gradient enters one exact sum per parameter (exact.h), which the ranks add as integers. */
#include "flyfit/gru.h"
#include "flyfit/blas.h"
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/rng.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- the model -------------------------------------------------------------------------------- */

struct FfGruTape {
  int32_t B, L, P, H, chunk; /* of the forward that filled it */
  int64_t cap;               /* rows (sequence-frames) allocated */
  /* Chunk layout: frame t of sequence s0 + j of the chunk starting at s0 (c sequences) is row
   * s0 L + t c + j, and row s0 (L + 1) + t c + j of h: one frame of a chunk is a block of c rows
   * (one BLAS call per frame) and all its frames are one block (one call for a weight gradient). */
  double *xhat;       /* [B L x P] standardised inputs (x - mean) / sd, dimensionless */
  double *u;          /* [B L x P] LayerNorm outputs */
  double *r, *z, *n;  /* [B L x H] gates */
  double *hn;         /* [B L x H] W_hn h + b_hn, the hidden part of n's argument */
  double *h;          /* [B (L + 1) x H] hidden states, h_0 = 0 first */
  double *y;          /* [B L x P] outputs, Hz (ReLU's mask) */
};

struct FfGru {
  FfGruSetup s;
  int32_t P, H, c;
  int64_t np;
  FfGruGroup grp[FF_GRU_NGROUPS];
  double *p, *grad, *m, *v; /* [np] parameters, gradient, Adam's moments */
  FfGruView pv;             /* named views of p */
  int64_t adam_t;
  FfExact *acc;      /* [np] this rank's exact gradient sums */
  int64_t bad;       /* first parameter whose contribution could not be summed, or -1 */
  double bad_value;
  /* forward and step workspaces, one chunk */
  double *wa, *wh;                 /* [c x 3H] gate arguments: input part W_i u, hidden part W_h h */
  double *wo;                      /* [c x P] W_o h */
  double *sx, *su;                 /* [c x P] a step's xhat and u */
  double *sr, *sz, *sn, *shn;      /* [c x H] a step's gates */
  double *sh;                      /* [c x H] hidden state of a forward without a tape */
  /* backward workspaces, one chunk of bcap_L frames */
  int32_t bcap_L;
  double *d_o;        /* [c L x P] d loss / d (W_o h + b_o) */
  double *dai, *dah;  /* [c L x 3H] d loss / d gate arguments, input and hidden parts */
  double *dh, *dtmp;  /* [c x H] d loss / d h carried back through time, and a product */
  double *du;         /* [c x P] d loss / d u */
  double *gc;         /* [np] one chunk's gradient */
};

static const char *const group_name[FF_GRU_NGROUPS] = {"ln_gamma", "ln_beta", "w_ih", "w_hh",
                                                       "b_ih",     "b_hh",    "w_out", "b_out"};

static void make_view(const FfGru *g, double *base, FfGruView *v) {
  v->ln_gamma = base + g->grp[FF_GRU_LN_GAMMA].offset;
  v->ln_beta = base + g->grp[FF_GRU_LN_BETA].offset;
  v->w_ih = base + g->grp[FF_GRU_W_IH].offset;
  v->w_hh = base + g->grp[FF_GRU_W_HH].offset;
  v->b_ih = base + g->grp[FF_GRU_B_IH].offset;
  v->b_hh = base + g->grp[FF_GRU_B_HH].offset;
  v->w_out = base + g->grp[FF_GRU_W_OUT].offset;
  v->b_out = base + g->grp[FF_GRU_B_OUT].offset;
}

/* C [m x n] = op(A) op(B), row-major. */
static void mm(int ta, int tb, int m, int n, int k, const double *A, int lda, const double *B, int ldb, double *C,
               int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, A, lda, B,
              ldb, 0.0, C, ldc);
}

static double sigmoid(double a) { return 1.0 / (1.0 + exp(-a)); }

int ff_gru_create(const FfGruSetup *s, FfGru **out) {
  *out = NULL;
  FfGruSetup S = *s;
  if (S.H == 0) S.H = FF_GRU_H_DEFAULT;
  if (S.chunk == 0) S.chunk = FF_GRU_CHUNK_DEFAULT;
  if (S.out_scale_hz == 0.0) S.out_scale_hz = FF_GRU_OUT_SCALE_DEFAULT;
  /* every BLAS dimension, 3H x max(P, H) included, must fit an int */
  if (S.P < 1 || S.H < 1 || S.chunk < 1 || S.P > (1 << 20) || S.H > (1 << 20) ||
      3.0 * S.H * (S.P > S.H ? S.P : S.H) > INT_MAX)
    return FF_ERROR(FF_ERR_INPUT, "GRU: P = %d, H = %d, chunk = %d out of range (each >= 1, 3H max(P, H) < 2^31)",
                    (int)S.P, (int)S.H, (int)S.chunk);
  if (!(S.out_scale_hz > 0.0 && isfinite(S.out_scale_hz)))
    return FF_ERROR(FF_ERR_INPUT, "GRU: out_scale_hz = %g must be positive", S.out_scale_hz);
  FfGru *g;
  FF_TRY(FF_CALLOC(g, 1, "GRU"));
  g->s = S;
  g->P = S.P;
  g->H = S.H;
  g->c = S.chunk;
  g->bad = -1;
  const int32_t P = g->P, H = g->H;
  const int32_t shape[FF_GRU_NGROUPS][2] = {{P, 1}, {P, 1}, {3 * H, P}, {3 * H, H}, {3 * H, 1}, {3 * H, 1}, {P, H}, {P, 1}};
  int64_t off = 0;
  for (int q = 0; q < FF_GRU_NGROUPS; ++q) {
    g->grp[q] = (FfGruGroup){group_name[q], off, shape[q][0], shape[q][1],
                             q == FF_GRU_W_IH || q == FF_GRU_W_HH || q == FF_GRU_W_OUT ? 2 : 1};
    off += (int64_t)shape[q][0] * shape[q][1];
  }
  g->np = off;
  const int64_t c = g->c;
  int st = FF_OK;
  if ((st = FF_CALLOC(g->p, g->np, "GRU parameters")) || (st = FF_CALLOC(g->grad, g->np, "GRU gradient")) ||
      (st = FF_CALLOC(g->m, g->np, "GRU Adam state")) || (st = FF_CALLOC(g->v, g->np, "GRU Adam state")) ||
      (st = FF_CALLOC(g->acc, g->np, "GRU gradient sums")) || (st = FF_MALLOC(g->gc, g->np, "GRU gradient")) ||
      (st = FF_MALLOC(g->wa, c * 3 * H, "GRU workspace")) || (st = FF_MALLOC(g->wh, c * 3 * H, "GRU workspace")) ||
      (st = FF_MALLOC(g->wo, c * P, "GRU workspace")) || (st = FF_MALLOC(g->sx, c * P, "GRU workspace")) ||
      (st = FF_MALLOC(g->su, c * P, "GRU workspace")) || (st = FF_MALLOC(g->sr, c * H, "GRU workspace")) ||
      (st = FF_MALLOC(g->sz, c * H, "GRU workspace")) || (st = FF_MALLOC(g->sn, c * H, "GRU workspace")) ||
      (st = FF_MALLOC(g->shn, c * H, "GRU workspace")) || (st = FF_MALLOC(g->sh, c * H, "GRU workspace")) ||
      (st = FF_MALLOC(g->dh, c * H, "GRU workspace")) || (st = FF_MALLOC(g->dtmp, c * H, "GRU workspace")) ||
      (st = FF_MALLOC(g->du, c * P, "GRU workspace"))) {
    ff_gru_destroy(&g);
    ff_error_trace(__FILE__, __LINE__, __func__);
    return st;
  }
  make_view(g, g->p, &g->pv);
  /* PyTorch's init: U(-k, k), k = 1/sqrt(H), for every GRU and output weight and bias; a parameter's
   * value depends only on (seed, its index) */
  const double k = 1.0 / sqrt((double)H);
  for (int64_t i = g->grp[FF_GRU_W_IH].offset; i < g->np; ++i) {
    uint32_t w[4];
    ff_rng4(S.seed, FF_STREAM_GRU_INIT, (uint32_t)i, (uint32_t)((uint64_t)i >> 32), 0, w);
    g->p[i] = k * (2.0 * ff_u01_53(w[0], w[1]) - 1.0);
  }
  for (int32_t p = 0; p < P; ++p) {
    g->pv.ln_gamma[p] = 1.0;
    g->pv.ln_beta[p] = 0.0;
  }
  *out = g;
  return FF_OK;
}

void ff_gru_destroy(FfGru **gp) {
  FfGru *g = *gp;
  if (g == NULL) return;
  double **bufs[] = {&g->p, &g->grad, &g->m, &g->v, &g->gc, &g->wa, &g->wh, &g->wo, &g->sx, &g->su, &g->sr,
                     &g->sz, &g->sn, &g->shn, &g->sh, &g->d_o, &g->dai, &g->dah, &g->dh, &g->dtmp, &g->du};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i) FF_FREE(*bufs[i]);
  FF_FREE(g->acc);
  FF_FREE(*gp);
}

int64_t ff_gru_nparams(const FfGru *g) { return g->np; }
const FfGruSetup *ff_gru_setup(const FfGru *g) { return &g->s; }
void ff_gru_group(const FfGru *g, FfGruGroupId q, FfGruGroup *out) { *out = g->grp[q]; }
int64_t ff_gru_adam_steps(const FfGru *g) { return g->adam_t; }
void ff_gru_set_adam_steps(FfGru *g, int64_t steps) { g->adam_t = steps; }

double *ff_gru_array(FfGru *g, FfGruArray which) {
  switch (which) {
  case FF_GRU_GRADS: return g->grad;
  case FF_GRU_ADAM_M: return g->m;
  case FF_GRU_ADAM_V: return g->v;
  default: return g->p;
  }
}

void ff_gru_view(FfGru *g, FfGruArray which, FfGruView *v) { make_view(g, ff_gru_array(g, which), v); }

void ff_gru_init_output_bias(FfGru *g, const double *rate_hz) {
  for (int32_t p = 0; p < g->P; ++p) g->pv.b_out[p] = rate_hz[p] / g->s.out_scale_hz;
}

/* ---- forward ---------------------------------------------------------------------------------- */

int ff_gru_tape_create(FfGruTape **t) { return FF_CALLOC(*t, 1, "GRU tape"); }

void ff_gru_tape_destroy(FfGruTape **tp) {
  FfGruTape *t = *tp;
  if (t == NULL) return;
  double **bufs[] = {&t->xhat, &t->u, &t->r, &t->z, &t->n, &t->hn, &t->h, &t->y};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i) FF_FREE(*bufs[i]);
  FF_FREE(*tp);
}

static int tape_reserve(FfGruTape *t, const FfGru *g, int32_t B, int32_t L) {
  const int64_t rows = (int64_t)B * L, P = g->P, H = g->H;
  if (rows > t->cap || t->P != g->P || t->H != g->H) {
    double **bufs[] = {&t->xhat, &t->u, &t->r, &t->z, &t->n, &t->hn, &t->h, &t->y};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i) FF_FREE(*bufs[i]);
    t->cap = 0;
    FF_TRY(FF_MALLOC(t->xhat, rows * P, "GRU tape"));
    FF_TRY(FF_MALLOC(t->u, rows * P, "GRU tape"));
    FF_TRY(FF_MALLOC(t->y, rows * P, "GRU tape"));
    FF_TRY(FF_MALLOC(t->r, rows * H, "GRU tape"));
    FF_TRY(FF_MALLOC(t->z, rows * H, "GRU tape"));
    FF_TRY(FF_MALLOC(t->n, rows * H, "GRU tape"));
    FF_TRY(FF_MALLOC(t->hn, rows * H, "GRU tape"));
    FF_TRY(FF_MALLOC(t->h, (rows + B) * H, "GRU tape"));
    t->cap = rows;
  }
  t->B = B;
  t->L = L;
  t->P = g->P;
  t->H = g->H;
  t->chunk = g->c;
  return FF_OK;
}

/* One frame for c sequences: x rows (stride ldx) and the previous hidden state hp [c x H] give the
 * tape's quantities (each [c x P] or [c x H], contiguous), the new state hq (may be hp itself: each
 * element is read before it is written) and y rows (stride ldy). The one place the forward
 * arithmetic happens, for ff_gru_forward and ff_gru_step alike. */
static void cell_forward(FfGru *g, int32_t c, const double *x, int64_t ldx, const double *hp, double *hq, double *xhat,
                         double *u, double *r, double *z, double *n, double *hn, double *y, int64_t ldy) {
  const int32_t P = g->P, H = g->H, H3 = 3 * g->H;
  const FfGruView *w = &g->pv;
  for (int32_t j = 0; j < c; ++j) { /* LayerNorm, biased variance as PyTorch */
    const double *xr = x + j * ldx;
    double mean = 0.0, var = 0.0;
    for (int32_t p = 0; p < P; ++p) mean += xr[p];
    mean /= P;
    for (int32_t p = 0; p < P; ++p) var += (xr[p] - mean) * (xr[p] - mean);
    var /= P;
    const double rs = 1.0 / sqrt(var + FF_GRU_LN_EPS);
    for (int32_t p = 0; p < P; ++p) {
      const double xh = (xr[p] - mean) * rs;
      xhat[(int64_t)j * P + p] = xh;
      u[(int64_t)j * P + p] = w->ln_gamma[p] * xh + w->ln_beta[p];
    }
  }
  mm(0, 1, c, H3, P, u, P, w->w_ih, P, g->wa, H3);
  mm(0, 1, c, H3, H, hp, H, w->w_hh, H, g->wh, H3);
  for (int32_t j = 0; j < c; ++j) {
    const double *ai = g->wa + (int64_t)j * H3, *ah = g->wh + (int64_t)j * H3;
    for (int32_t k = 0; k < H; ++k) {
      const int64_t q = (int64_t)j * H + k;
      const double rr = sigmoid(ai[k] + w->b_ih[k] + ah[k] + w->b_hh[k]);
      const double zz = sigmoid(ai[H + k] + w->b_ih[H + k] + ah[H + k] + w->b_hh[H + k]);
      const double hnk = ah[2 * H + k] + w->b_hh[2 * H + k];
      const double nn = tanh(ai[2 * H + k] + w->b_ih[2 * H + k] + rr * hnk);
      r[q] = rr;
      z[q] = zz;
      n[q] = nn;
      hn[q] = hnk;
      hq[q] = (1.0 - zz) * nn + zz * hp[q];
    }
  }
  mm(0, 1, c, P, H, hq, H, w->w_out, H, g->wo, P);
  const double s = g->s.out_scale_hz;
  for (int32_t j = 0; j < c; ++j)
    for (int32_t p = 0; p < P; ++p) {
      const double a = s * (g->wo[(int64_t)j * P + p] + w->b_out[p]);
      y[j * ldy + p] = a > 0.0 ? a : 0.0;
    }
}

static int check_batch(const FfGru *g, int32_t B, int32_t L, const void *x, const void *y) {
  if (B < 0 || L < 0 || (int64_t)g->c * L * 3 * g->H > INT_MAX)
    return FF_ERROR(FF_ERR_INPUT, "GRU: batch %d x %d frames out of range (chunk x L x 3H must be < 2^31)", (int)B,
                    (int)L);
  if ((int64_t)B * L > 0 && (x == NULL || y == NULL)) return FF_ERROR(FF_ERR_INTERNAL, "GRU: NULL input or output");
  return FF_OK;
}

int ff_gru_forward(FfGru *g, int32_t B, int32_t L, const double *x, double *y, FfGruTape *t) {
  FF_TRY(check_batch(g, B, L, x, y));
  if (t) FF_TRY(tape_reserve(t, g, B, L));
  const int64_t P = g->P, H = g->H, ld = (int64_t)L * P;
  const int nt = ff_blas_pin();
  for (int32_t s0 = 0; s0 < B; s0 += g->c) {
    const int32_t c = B - s0 < g->c ? B - s0 : g->c;
    const double *xs = x + (int64_t)s0 * ld;
    double *ys = y + (int64_t)s0 * ld;
    if (t) {
      const int64_t base = (int64_t)s0 * L, hbase = (int64_t)s0 * (L + 1);
      memset(t->h + hbase * H, 0, (size_t)(c * H) * sizeof *t->h);
      for (int32_t f = 0; f < L; ++f) {
        const int64_t row = base + (int64_t)f * c, hrow = hbase + (int64_t)f * c;
        cell_forward(g, c, xs + f * P, ld, t->h + hrow * H, t->h + (hrow + c) * H, t->xhat + row * P, t->u + row * P,
                     t->r + row * H, t->z + row * H, t->n + row * H, t->hn + row * H, ys + f * P, ld);
        for (int32_t j = 0; j < c; ++j) memcpy(t->y + (row + j) * P, ys + j * ld + f * P, (size_t)P * sizeof *y);
      }
    } else {
      memset(g->sh, 0, (size_t)(c * H) * sizeof *g->sh);
      for (int32_t f = 0; f < L; ++f)
        cell_forward(g, c, xs + f * P, ld, g->sh, g->sh, g->sx, g->su, g->sr, g->sz, g->sn, g->shn, ys + f * P, ld);
    }
  }
  ff_blas_unpin(nt);
  return FF_OK;
}

int ff_gru_step(FfGru *g, int32_t B, const double *x, double *h, double *y) {
  FF_TRY(check_batch(g, B, 1, x, y));
  const int64_t P = g->P, H = g->H;
  const int nt = ff_blas_pin();
  for (int32_t s0 = 0; s0 < B; s0 += g->c) {
    const int32_t c = B - s0 < g->c ? B - s0 : g->c;
    cell_forward(g, c, x + s0 * P, P, h + s0 * H, h + s0 * H, g->sx, g->su, g->sr, g->sz, g->sn, g->shn, y + s0 * P, P);
  }
  ff_blas_unpin(nt);
  return FF_OK;
}

/* ---- backward --------------------------------------------------------------------------------- */

static int backward_reserve(FfGru *g, int32_t L) {
  if (L <= g->bcap_L) return FF_OK;
  FF_FREE(g->d_o);
  FF_FREE(g->dai);
  FF_FREE(g->dah);
  g->bcap_L = 0;
  const int64_t rows = (int64_t)g->c * L;
  FF_TRY(FF_MALLOC(g->d_o, rows * g->P, "GRU backward"));
  FF_TRY(FF_MALLOC(g->dai, rows * 3 * g->H, "GRU backward"));
  FF_TRY(FF_MALLOC(g->dah, rows * 3 * g->H, "GRU backward"));
  g->bcap_L = L;
  return FF_OK;
}

/* Adds one chunk's gradient v [np] to the exact sums. */
static void deposit(FfGru *g, const double *v) {
  for (int64_t i = 0; i < g->np; ++i)
    if (ff_exact_add(&g->acc[i], v[i]) && g->bad < 0) {
      g->bad = i;
      g->bad_value = v[i];
    }
}

/* The gradient of the loss over one chunk's sequences [s0, s0 + c) into g->gc: the adjoint runs
 * back through the frames, collecting per frame the gate gradients of all c sequences (one product
 * each with W_o, W_hh and W_ih), then the weight gradients are one product over all c L rows. */
static void backward_chunk(FfGru *g, const FfGruTape *t, int32_t s0, int32_t c, const double *dy) {
  const int32_t P = g->P, H = g->H, H3 = 3 * g->H, L = t->L;
  const int64_t base = (int64_t)s0 * L, hbase = (int64_t)s0 * (L + 1), ld = (int64_t)L * P;
  const double *XH = t->xhat + base * P, *U = t->u + base * P, *Y = t->y + base * P;
  const double *R = t->r + base * H, *Z = t->z + base * H, *N = t->n + base * H, *HN = t->hn + base * H;
  const double *HS = t->h + hbase * H;
  const FfGruView *w = &g->pv;
  const double s = g->s.out_scale_hz;
  FfGruView gv;
  make_view(g, g->gc, &gv);
  memset(g->gc, 0, (size_t)g->np * sizeof *g->gc);
  memset(g->dh, 0, (size_t)c * H * sizeof *g->dh);
  for (int32_t f = L - 1; f >= 0; --f) {
    const int64_t row = (int64_t)f * c;
    double *dO = g->d_o + row * P;
    for (int32_t j = 0; j < c; ++j)
      for (int32_t p = 0; p < P; ++p)
        dO[(int64_t)j * P + p] = Y[(row + j) * P + p] > 0.0 ? s * dy[(s0 + j) * ld + (int64_t)f * P + p] : 0.0;
    mm(0, 0, c, H, P, dO, P, w->w_out, H, g->dtmp, H);
    double *dai = g->dai + row * H3, *dah = g->dah + row * H3;
    for (int32_t j = 0; j < c; ++j)
      for (int32_t k = 0; k < H; ++k) {
        const int64_t q = (row + j) * H + k, jk = (int64_t)j * H + k;
        const double dh = g->dh[jk] + g->dtmp[jk], hp = HS[q]; /* row f c + j of h is h before frame f */
        const double rr = R[q], zz = Z[q], nn = N[q];
        const double dan = dh * (1.0 - zz) * (1.0 - nn * nn);
        const double dar = dan * HN[q] * rr * (1.0 - rr), daz = dh * (hp - nn) * zz * (1.0 - zz);
        double *ai = dai + (int64_t)j * H3, *ah = dah + (int64_t)j * H3;
        ai[k] = dar;
        ai[H + k] = daz;
        ai[2 * H + k] = dan;
        ah[k] = dar;
        ah[H + k] = daz;
        ah[2 * H + k] = dan * rr;
        g->dh[jk] = dh * zz;
      }
    mm(0, 0, c, H, H3, dah, H3, w->w_hh, H, g->dtmp, H);
    for (int64_t jk = 0; jk < (int64_t)c * H; ++jk) g->dh[jk] += g->dtmp[jk];
    mm(0, 0, c, P, H3, dai, H3, w->w_ih, P, g->du, P);
    for (int32_t j = 0; j < c; ++j)
      for (int32_t p = 0; p < P; ++p) {
        const double du = g->du[(int64_t)j * P + p];
        gv.ln_gamma[p] += du * XH[(row + j) * P + p];
        gv.ln_beta[p] += du;
      }
  }
  const int rows = c * L;
  mm(1, 0, P, H, rows, g->d_o, P, HS + (int64_t)c * H, H, gv.w_out, H); /* h after each frame */
  mm(1, 0, H3, P, rows, g->dai, H3, U, P, gv.w_ih, P);
  mm(1, 0, H3, H, rows, g->dah, H3, HS, H, gv.w_hh, H); /* h before each frame */
  for (int64_t q = 0; q < rows; ++q) {
    for (int32_t p = 0; p < P; ++p) gv.b_out[p] += g->d_o[q * P + p];
    for (int32_t k = 0; k < H3; ++k) {
      gv.b_ih[k] += g->dai[q * H3 + k];
      gv.b_hh[k] += g->dah[q * H3 + k];
    }
  }
}

int ff_gru_backward(FfGru *g, const FfGruTape *t, const double *dy) {
  if (t->P != g->P || t->H != g->H || t->chunk != g->c)
    return FF_ERROR(FF_ERR_INTERNAL, "GRU backward: the tape is of another model");
  if ((int64_t)t->B * t->L == 0) return FF_OK;
  FF_TRY(backward_reserve(g, t->L));
  const int nt = ff_blas_pin();
  for (int32_t s0 = 0; s0 < t->B; s0 += g->c) {
    const int32_t c = t->B - s0 < g->c ? t->B - s0 : g->c;
    backward_chunk(g, t, s0, c, dy);
    deposit(g, g->gc);
  }
  ff_blas_unpin(nt);
  return FF_OK;
}

void ff_gru_zero_grad(FfGru *g) {
  memset(g->acc, 0, (size_t)g->np * sizeof *g->acc);
  memset(g->grad, 0, (size_t)g->np * sizeof *g->grad);
  g->bad = -1;
}

/* "w_hh[3][5]" or "b_out[2]" for flat index i. */
static void param_name(const FfGru *g, int64_t i, char *buf, size_t cap) {
  int q = FF_GRU_NGROUPS - 1;
  while (q > 0 && g->grp[q].offset > i) --q;
  const FfGruGroup *G = &g->grp[q];
  const int64_t e = i - G->offset;
  if (G->rank == 1) snprintf(buf, cap, "%s[%lld]", G->name, (long long)e);
  else snprintf(buf, cap, "%s[%lld][%lld]", G->name, (long long)(e / G->cols), (long long)(e % G->cols));
}

int ff_gru_reduce_grads(FfGru *g, MPI_Comm comm) {
  /* first agree on whether any rank could not sum, so that every rank returns the same status */
  int64_t bad = g->bad < 0 ? INT64_MAX : g->bad;
  FF_TRY(FF_MPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT64_T, MPI_MIN, comm)));
  if (bad != INT64_MAX) {
    char name[64];
    param_name(g, bad, name, sizeof name);
    if (bad == g->bad)
      return FF_ERROR(FF_ERR_INPUT, "GRU gradient of %s is %g: training diverged (|gradient| must stay below 2^100)",
                      name, g->bad_value);
    return FF_ERROR(FF_ERR_INPUT, "GRU gradient of %s is not finite or beyond 2^100 on another rank: training diverged",
                    name);
  }
  FfExact *sum;
  FF_TRY(FF_MALLOC(sum, g->np, "GRU gradient sums"));
  const int st = ff_exact_reduce(g->acc, sum, g->np, comm);
  if (st == FF_OK)
    for (int64_t i = 0; i < g->np; ++i) g->grad[i] = ff_exact_value(&sum[i]);
  free(sum);
  FF_TRY(st);
  return FF_OK;
}

void ff_gru_shard(const FfGru *g, int32_t B, int rank, int size, int32_t *first, int32_t *count) {
  const int64_t chunks = ((int64_t)B + g->c - 1) / g->c, q = chunks / size, rem = chunks % size;
  const int64_t c0 = rank * q + (rank < rem ? rank : rem), nc = q + (rank < rem ? 1 : 0);
  const int64_t lo = c0 * g->c, hi = (c0 + nc) * g->c;
  *first = (int32_t)(lo < B ? lo : B);
  *count = (int32_t)((hi < B ? hi : B) - *first);
}

/* ---- losses ----------------------------------------------------------------------------------- */

double ff_bin_interval_loss(const double *yhat, const double *low, const double *high, int64_t n, double denom,
                            double *dl) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double below = low[i] - yhat[i] > 0.0 ? low[i] - yhat[i] : 0.0;
    const double above = yhat[i] - high[i] > 0.0 ? yhat[i] - high[i] : 0.0;
    sum += below * below + above * above;
    if (dl) dl[i] = 2.0 * (above - below) / denom;
  }
  return sum / denom;
}

double ff_mse_loss(const double *yhat, const double *target, int64_t n, double denom, double *dl) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = yhat[i] - target[i];
    sum += d * d;
    if (dl) dl[i] = 2.0 * d / denom;
  }
  return sum / denom;
}

/* ---- optimizer -------------------------------------------------------------------------------- */

double ff_gru_clip_grads(FfGru *g, double max_norm) {
  double ss = 0.0;
  for (int64_t i = 0; i < g->np; ++i) ss += g->grad[i] * g->grad[i];
  const double norm = sqrt(ss);
  if (max_norm > 0.0 && norm > max_norm) {
    const double sc = max_norm / norm;
    for (int64_t i = 0; i < g->np; ++i) g->grad[i] *= sc;
  }
  return norm;
}

int ff_gru_adam(FfGru *g, double lr, double beta1, double beta2, double eps) {
  g->adam_t++;
  const double c1 = 1.0 - pow(beta1, (double)g->adam_t), c2 = 1.0 - pow(beta2, (double)g->adam_t);
  int64_t bad = -1;
  for (int64_t i = 0; i < g->np; ++i) {
    const double gr = g->grad[i];
    g->m[i] = beta1 * g->m[i] + (1.0 - beta1) * gr;
    g->v[i] = beta2 * g->v[i] + (1.0 - beta2) * gr * gr;
    g->p[i] -= lr * (g->m[i] / c1) / (sqrt(g->v[i] / c2) + eps);
    if (!isfinite(g->p[i]) && bad < 0) bad = i;
  }
  if (bad >= 0) {
    char name[64];
    param_name(g, bad, name, sizeof name);
    return FF_ERROR(FF_ERR_INPUT, "Adam diverged: GRU parameter %s is %g after step %lld", name, g->p[bad],
                    (long long)g->adam_t);
  }
  return FF_OK;
}
