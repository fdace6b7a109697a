/* The learning rule of the trainable network (include/flyfit/fit.h): the gradients that the forward
 * pass's eligibility traces give (ES-D-RTRL or D-RTRL), their exact global norm, the Adam step and
 * the loss. The stepper that keeps those traces is fit_net.c. */
#include "flyfit/error.h"
#include "flyfit/exact.h"
#include "flyfit/log.h"
#include "fit_net.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ES-D-RTRL's normalisation of the postsynaptic factor, 1 - (1 - a)^T. */
static float es_norm(const FfFitSetup *s) { return (float)(1.0 - pow(1.0 - s->etrace_decay, (double)s->steps)); }

/* The backward pass's view (fit_dev.h) of f's arrays, for dl_drates [Bcur x P] (staged for a GPU). */
static FfFitBack back_view(FfFitNet *f, const double *dl_drates) {
  const FfFitSetup *s = &f->s;
  dl_drates = ff_fit_stage(f, FF_FIT_STAGE_DL, dl_drates, (int64_t)f->Bcur * f->P * (int64_t)sizeof *dl_drates);
  return (FfFitBack){.dl_drates = dl_drates, .t_count = (double)(s->steps - s->warmup) * s->model->dt_ms * 1e-3,
                     .np_row = f->np_row, .np_id = f->np_id, .np_syn = f->np_syn, .np_of = f->np_of,
                     .np_row_syn = f->np_row_syn, .dldc = f->dldc, .xhat = f->xhat, .g_enc_w = f->g_enc_w,
                     .g_enc_b = f->g_enc_b, .g_conn = f->g_conn, .px = f->px, .es_norm = f->px ? es_norm(s) : 1.0f};
}

/* Collective: all ranks of the comm must call it. The low-rank term's gradients (fit.h), with
 * G_ib = dL/dc_ib eps_f,c_ib / norm: dL/dA_ik += sum_b G_ib ubar_kb; then v_kb = sum_i A_ik G_ib over
 * every neuron of every rank, summed exactly (the same for any partition), and
 * dL/dB_kj += sum_b v_kb xbar_jb. */
static int lowrank_grads(FfFitNet *f) {
  const FfFitSetup *s = &f->s;
  const int32_t B = f->B, Bc = f->Bcur, R = f->R;
  const float norm = es_norm(s);
  const int64_t nv = (int64_t)R * Bc;
  FfExact *mine, *all;
  FF_TRY(FF_CALLOC(mine, nv, "low-rank projection"));
  if (FF_CALLOC(all, nv, "low-rank projection") != FF_OK) {
    free(mine);
    return FF_ERR_NOMEM;
  }
  for (int32_t j = 0; j < f->n; ++j)
    for (int32_t b = 0; b < Bc; ++b) {
      const float G = f->dldc[(int64_t)j * B + b] * f->fc[(int64_t)j * B + b] / norm;
      if (G == 0.0f) continue;
      const float *a = f->lr_a + (int64_t)j * R;
      float *ga = f->g_lr_a + (int64_t)j * R;
      for (int32_t r = 0; r < R; ++r) {
        ga[r] += G * (float)f->lr_ubar[(int64_t)r * B + b];
        ff_exact_add(&mine[(int64_t)r * Bc + b], (double)a[r] * (double)G);
      }
    }
  int st = ff_exact_reduce(mine, all, nv, s->comm);
  for (int64_t q = 0; st == FF_OK && q < nv; ++q) f->lr_v[q] = ff_exact_value(&all[q]);
  free(mine);
  free(all);
  FF_TRY(st);
#pragma omp parallel for schedule(static) num_threads(s->threads > 0 ? s->threads : 1)
  for (int32_t j = 0; j < f->n; ++j)
    for (int32_t r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int32_t b = 0; b < Bc; ++b) acc += (float)f->lr_v[(int64_t)r * Bc + b] * f->lr_xbar[(int64_t)j * B + b];
      f->g_lr_b[(int64_t)j * R + r] += acc;
    }
  return FF_OK;
}

int ff_fit_backward(FfFitNet *f, const double *dl_drates) {
  if (!f->traces) return FF_ERROR(FF_ERR_INTERNAL, "backward without a forward that kept traces");
  const double t0 = ff_wall_seconds();
  const FfFitDev d = ff_fit_dev_view(f);
  const FfFitBack k = back_view(f, dl_drates);
  if (f->cuda) {
    ff_fit_launch(f, &d, &k, NULL, FF_FITK_DLDC, (int64_t)f->n * f->B);
    if (f->ev) ff_fit_launch(f, &d, &k, NULL, FF_FITK_ENCODER_GRAD, f->n);
    if (f->px || f->cv) ff_fit_launch(f, &d, &k, NULL, FF_FITK_CONNECTION_GRAD, f->n_pre);
  } else {
    FF_FIT_CELLS(f, j, b, f->n, f->B, ff_fitd_dldc(&d, &k, j, b));
    if (f->ev) FF_FIT_FOR(f, j, f->n, ff_fitd_encoder_grad(&d, &k, (int32_t)j));
    if (f->px || f->cv) FF_FIT_FOR(f, sidx, f->n_pre, ff_fitd_connection_grads(&d, &k, (int32_t)sidx));
  }
  int st = ff_fit_status(f);
  if (f->lr_a && st == FF_OK) st = lowrank_grads(f);
  f->stats.grad_s += ff_wall_seconds() - t0;
  return st;
}

void ff_fit_zero_grad(FfFitNet *f) {
  if (f->g_enc_w) memset(f->g_enc_w, 0, (size_t)f->n * f->P * sizeof *f->g_enc_w);
  if (f->g_enc_b) memset(f->g_enc_b, 0, (size_t)f->n * sizeof *f->g_enc_b);
  if (f->g_conn) memset(f->g_conn, 0, (size_t)f->E * sizeof *f->g_conn);
  if (f->g_lr_a) memset(f->g_lr_a, 0, (size_t)f->n * f->R * sizeof *f->g_lr_a);
  if (f->g_lr_b) memset(f->g_lr_b, 0, (size_t)f->n * f->R * sizeof *f->g_lr_b);
}

/* The trainable gradient arrays of this rank, for the norm and Adam. */
typedef struct {
  float *p, *m, *v, *g;
  int64_t n;
  const char *what;
} Group;

static int groups(FfFitNet *f, Group *gr) {
  int n = 0;
  if (f->s.trainable & FF_TRAIN_ENCODER) {
    gr[n++] = (Group){f->enc_w, f->enc_m, f->enc_v, f->g_enc_w, (int64_t)f->n * f->P, "encoder weight"};
    gr[n++] = (Group){f->enc_b, f->enc_bm, f->enc_bv, f->g_enc_b, f->n, "encoder bias"};
  }
  if (f->s.trainable & FF_TRAIN_CONNECTIONS) gr[n++] = (Group){f->conn_w, f->conn_m, f->conn_v, f->g_conn, f->E, "connection weight"};
  if (f->s.trainable & FF_TRAIN_LOWRANK) {
    gr[n++] = (Group){f->lr_a, f->lr_am, f->lr_av, f->g_lr_a, (int64_t)f->n * f->R, "low-rank A"};
    gr[n++] = (Group){f->lr_b, f->lr_bm, f->lr_bv, f->g_lr_b, (int64_t)f->n * f->R, "low-rank B"};
  }
  return n;
}

int ff_fit_grad_norm(FfFitNet *f, double *norm) {
  Group gr[5];
  const int ng = groups(f, gr);
  /* exact and order-free: scale by the global max (an exact reduction) into [0, 1], cut each square
   * down to a multiple of 2^-100 and add them exactly (exact.h) */
  double mx = 0.0;
  for (int q = 0; q < ng; ++q)
    for (int64_t i = 0; i < gr[q].n; ++i) {
      const double a = fabs((double)gr[q].g[i]);
      if (a > mx || a != a) mx = a != a ? INFINITY : a;
    }
  FF_TRY(FF_MPI(MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_DOUBLE, MPI_MAX, f->s.comm)));
  if (!isfinite(mx)) {
    *norm = INFINITY;
    return FF_OK;
  }
  if (mx == 0.0) {
    *norm = 0.0;
    return FF_OK;
  }
  int ex;
  frexp(mx, &ex);
  const double sc = ldexp(1.0, -ex); /* mx * sc in [0.5, 1) */
  FfExact mine = {0}, all;
  for (int q = 0; q < ng; ++q)
    for (int64_t i = 0; i < gr[q].n; ++i) {
      const double y = (double)gr[q].g[i] * sc;
      ff_exact_add(&mine, ldexp(floor(ldexp(y * y, 100)), -100)); /* a multiple of 2^-100 below 1: added exactly */
    }
  FF_TRY(ff_exact_reduce(&mine, &all, 1, f->s.comm));
  unsigned __int128 tot; /* the sum of squares in units of 2^-100 */
  FF_TRY(ff_exact_fixed(&all, 100, &tot));
  /* rounded to double as the norm always was: its two 64-bit halves, each rounded, then added (not
   * the correctly rounded value, which would move the clipping of some batch by an ulp) */
  const double hi = (double)(uint64_t)(tot >> 64), lo = (double)(uint64_t)tot;
  *norm = sqrt(ldexp(hi, -36) + ldexp(lo, -100)) / sc;
  return FF_OK;
}

int ff_fit_adam(FfFitNet *f, double lr, double beta1, double beta2, double eps, double scale) {
  Group gr[5];
  const int ng = groups(f, gr);
  f->adam_t++;
  const double c1 = 1.0 - pow(beta1, (double)f->adam_t), c2 = 1.0 - pow(beta2, (double)f->adam_t);
  int64_t bad = -1;
  int bad_group = -1;
  for (int q = 0; q < ng; ++q) {
    Group *G = &gr[q];
    float *p = G->p, *m = G->m, *v = G->v, *g = G->g;
    if (f->cuda) {
      const FfFitDev d = ff_fit_dev_view(f);
      const FfFitArgs a = {.p = p, .m = m, .v = v, .g = g, .scale = scale, .lr = lr, .beta1 = beta1, .beta2 = beta2,
                           .eps = eps, .c1 = c1, .c2 = c2};
      ff_fit_launch(f, &d, NULL, &a, FF_FITK_ADAM, G->n);
      FF_TRY(ff_fit_status(f));
    } else {
      FF_FIT_FOR(f, i, G->n, ff_fitd_adam(&p[i], &m[i], &v[i], g[i], scale, lr, beta1, beta2, eps, c1, c2));
    }
    for (int64_t i = 0; bad < 0 && i < G->n; ++i) /* the first parameter that is not finite, if any */
      if (!isfinite(p[i])) {
        bad = i;
        bad_group = q;
      }
    memset(G->g, 0, (size_t)G->n * sizeof *G->g);
  }
  if (f->conn_sign && (f->s.trainable & FF_TRAIN_CONNECTIONS) && f->s.keep_sign)
    for (int64_t e = 0; e < f->E; ++e)
      if ((float)f->conn_sign[e] * f->conn_w[e] < 0.0f) f->conn_w[e] = 0.0f;
  if (bad >= 0) {
    const FfNet *net = f->net;
    if (bad_group >= 0 && gr[bad_group].p == f->enc_w)
      return FF_ERROR(FF_ERR_INPUT, "Adam diverged: the encoder weight of neuron %lld for fitted neuropil %lld is %g",
                      (long long)net->gid[bad / f->P], (long long)(bad % f->P), gr[bad_group].p[bad]);
    if (bad_group >= 0 && (gr[bad_group].p == f->lr_a || gr[bad_group].p == f->lr_b))
      return FF_ERROR(FF_ERR_INPUT, "Adam diverged: the %s of neuron %lld, component %lld is %g", gr[bad_group].what,
                      (long long)net->gid[bad / f->R], (long long)(bad % f->R), gr[bad_group].p[bad]);
    if (bad_group >= 0 && gr[bad_group].p == f->enc_b)
      return FF_ERROR(FF_ERR_INPUT, "Adam diverged: the encoder bias of neuron %lld is %g", (long long)net->gid[bad],
                      gr[bad_group].p[bad]);
    return FF_ERROR(FF_ERR_INPUT, "Adam diverged: connection %lld of rank %d (onto neuron %lld) is %g", (long long)bad,
                    net->rank, (long long)net->gid[net->target[bad]], gr[bad_group].p[bad]);
  }
  return ff_fit_sync_weights(f);
}

double ff_fit_loss(int loss, double delta, const double *r, const double *y, int64_t n, double *g) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = r[i] - y[i], ad = fabs(d);
    double l, dl;
    if (loss == FF_LOSS_MAE) {
      l = ad;
      dl = d > 0.0 ? 1.0 : d < 0.0 ? -1.0 : 0.0;
    } else if (loss == FF_LOSS_HUBER) {
      l = ad <= delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
      dl = ad <= delta ? d : (d > 0.0 ? delta : -delta);
    } else {
      l = d * d;
      dl = 2.0 * d;
    }
    sum += l;
    if (g) g[i] = dl / (double)n;
  }
  return n > 0 ? sum / (double)n : 0.0;
}

