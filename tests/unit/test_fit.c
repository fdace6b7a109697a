/* Round-1 gradients against independent references, on small networks held in memory:
 * - an exact backpropagation-through-time (BPTT) written out plainly here: its own forward pass that
 *   stores every step, then the adjoint pass backwards through time, delays and cross-neuron paths
 *   included. With the recurrent weights at zero, D-RTRL's encoder gradient must equal it to 1e-5;
 *   with recurrent weights, ES-D-RTRL's connection gradient must point the same way (cosine >= 0.8), and
 *   so must the low-rank term's (BPTT runs through A (B s) exactly; cosine >= 0.9 at the original's
 *   trace decay 0.99, >= 0.95 at decays whose trace spans more of the sample), whose untrained
 *   network (B = 0) must be the plain network bit for bit;
 * - central finite differences of the smooth parts: the loss functions, and the sub-threshold
 *   membrane trace (d v_T / d w of a neuron that never spikes is smooth in w);
 * - the stepper's own forward pass against the reference forward, spike for spike;
 * - the gradient norm (it feeds clipping) against its definition written out plainly, bit for bit.
 * The reference shares nothing with the stepper but the model's random numbers (background spike
 * times and initial state), which are an input here, not what is tested. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "testutil.h"
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/config.h"
#include "flyfit/error.h"
#include "flyfit/fit.h"
#include "flyfit/fit_dev.h"
#include "flyfit/model.h"
#include "flyfit/net.h"
#include "flyfit/rng.h"
#include "flyfit/scramble.h"

enum { N = 12, P = 3, B = 3, T = 400, WARM = 40, RMAX = 4 };

typedef struct {
  FfConfig cfg;
  FfModel m;
  FfNet net;
  int32_t np_of[P];
  /* connections as a dense matrix for the reference: w[i][j] mV, 0 = none */
  double w[N][N];
  int16_t np_id[2 * N];
  int32_t np_syn[2 * N];
  /* the low-rank term (R = 0: none): neuron j gets sum_k la[j][k] u_k, u_k = sum_i lb[k][i] s_i(t - D) */
  int R;
  float la[N][RMAX], lb[RMAX][N];
} Case;

static uint64_t lcg(uint64_t *s) { return *s = *s * 6364136223846793005ull + 1442695040888963407ull; }

/* A random network of N neurons: connection i->j with probability 0.35, signed counts 1..4, each
 * neuron making synapses in one or two of the P neuropils. */
static void make_case(Case *c, double w_syn, uint64_t seed) {
  memset(c, 0, sizeof *c);
  ff_config_init(&c->cfg);
  strcpy(c->cfg.connectome, "x.h5");
  c->cfg.preset = FF_PRESET_BRAINSCALE;
  assert_int_equal(ff_config_finish(&c->cfg), 0);
  c->cfg.w_syn_mV = w_syn;
  assert_int_equal(ff_model_build(&c->cfg, &c->m), 0);
  FfNet *n = &c->net;
  n->rank = 0;
  n->size = 1;
  n->n_global = N;
  n->n_local = N;
  n->new_base = 0;
  n->neuron_offsets = calloc(2, sizeof *n->neuron_offsets);
  n->neuron_offsets[1] = N;
  n->gid = calloc(N, sizeof *n->gid);
  for (int i = 0; i < N; ++i) n->gid[i] = i;
  n->pre_new = calloc(N, sizeof *n->pre_new);
  n->pre_indptr = calloc(N + 1, sizeof *n->pre_indptr);
  n->target = calloc(N * N, sizeof *n->target);
  n->weight = calloc(N * N, sizeof *n->weight);
  uint64_t s = seed;
  int64_t e = 0;
  for (int i = 0; i < N; ++i) {
    const int64_t e0 = e;
    for (int j = 0; j < N; ++j) {
      if (i == j || (lcg(&s) >> 33) % 100 >= 35) continue;
      const int cnt = 1 + (int)((lcg(&s) >> 33) % 4), sign = i % 4 == 3 ? -1 : 1;
      n->target[e] = j;
      n->weight[e++] = sign * cnt;
      c->w[i][j] = w_syn * sign * cnt;
    }
    if (e > e0) {
      n->pre_new[n->n_pre] = i;
      n->pre_indptr[++n->n_pre] = e;
    }
  }
  n->n_in = e;
  n->n_neuropils = P;
  n->np_row = calloc(N + 1, sizeof *n->np_row);
  int64_t k = 0;
  for (int i = 0; i < N; ++i) {
    c->np_id[k] = (int16_t)(i % P);
    c->np_syn[k++] = 2 + i % 5;
    if (i % 2) {
      c->np_id[k] = (int16_t)((i + 1) % P);
      c->np_syn[k++] = 1 + i % 3;
    }
    n->np_row[i + 1] = k;
  }
  n->np_id = c->np_id;
  n->np_syn = c->np_syn;
  for (int p = 0; p < P; ++p) c->np_of[p] = p;
}

static void free_case(Case *c) {
  free(c->net.neuron_offsets);
  free(c->net.gid);
  free(c->net.pre_new);
  free(c->net.pre_indptr);
  free(c->net.target);
  free(c->net.weight);
  free(c->net.np_row);
  ff_model_destroy(&c->m);
}

static FfFitSetup setup_for(Case *c, int trainable, double decay) {
  FfFitSetup s = {.model = &c->m, .net = &c->net, .n_np = P, .np_of = c->np_of, .batch = B, .steps = T,
                  .warmup = WARM, .background_hz = 150.0, .x_scale = 100.0, .trainable = trainable, .lowrank_rank = 3,
                  .etrace_decay = decay, .keep_sign = 1, .enc_init_mV = 1.3, .enc_init_sd_mV = 2.0,
                  .max_trace_bytes = 1e9, .seed = 7, .threads = 1, .exchange = FF_EXCHANGE_ALLGATHER,
                  .comm = MPI_COMM_WORLD};
  return s;
}

static const uint32_t KEYS[B] = {11, 12, 13};
static const double X[B * P] = {10, 40, 80, 55, 5, 20, 90, 70, 30};
static const double Y[B * P] = {3, 6, 9, 12, 4, 8, 1, 7, 5};

/* ---- the reference: forward storing every step, then BPTT ----------------------------------------- */

typedef struct {
  float v[T + 1][N], g[T + 1][N]; /* state after step t (index t + 1), index 0 = initial */
  float vt[T][N];                 /* v~ (pre-reset) */
  uint8_t held[T][N], s[T][N], xi[T][N];
  double u[T][RMAX]; /* the low-rank term's u(t) */
  int count[N];
} Traj;

static const float SURR_A = 0.3f, SURR_W = 1.5f;

/* Forward of one sample with encoder weights w[N] (mV per background spike). */
static void ref_forward(const Case *c, const float *wext, uint32_t key, Traj *tr) {
  const FfModel *m = &c->m;
  const float em = (float)m->em1, es = (float)m->es1, ome = (float)m->one_minus_em, th = (float)m->u_th;
  const int hold_steps = (m->ref_steps > 1 ? m->ref_steps : 1) - 1;
  double bg_pow[T + 1];
  ff_fit_bg_powers(150.0 * m->dt_ms * 1e-3, T + 1, bg_pow);
  int next[N], hold[N] = {0};
  memset(tr->count, 0, sizeof tr->count);
  for (int j = 0; j < N; ++j) {
    ff_fit_init_state(7, j, key, m->v_init_sd, m->g_init_max, &tr->v[0][j], &tr->g[0][j]);
    next[j] = ff_fit_bg_gap(7, j, key, -1, bg_pow, T + 1) - 1;
  }
  const int D = m->delay_steps;
  for (int t = 0; t < T; ++t) {
    double in[N] = {0};
    int64_t uq[RMAX] = {0}; /* u in 2^-32 fixed point: each B rounded, then summed exactly */
    if (t >= D)
      for (int i = 0; i < N; ++i)
        if (tr->s[t - D][i]) {
          for (int j = 0; j < N; ++j) in[j] += c->w[i][j];
          for (int k = 0; k < c->R; ++k) uq[k] += llrint((double)c->lb[k][i] * 4294967296.0);
        }
    for (int k = 0; k < c->R; ++k) tr->u[t][k] = (double)uq[k] / 4294967296.0;
    for (int j = 0; j < N; ++j) {
      tr->xi[t][j] = next[j] == t;
      if (next[j] == t) next[j] = t + ff_fit_bg_gap(7, j, key, t, bg_pow, T + 1);
      if (hold[j] > 0) {
        hold[j]--;
        tr->held[t][j] = 1;
        tr->s[t][j] = 0;
        tr->v[t + 1][j] = tr->v[t][j];
        tr->g[t + 1][j] = tr->g[t][j];
        tr->vt[t][j] = tr->v[t][j];
        continue;
      }
      tr->held[t][j] = 0;
      /* the stepper sums the input in 2^-32 mV fixed point: round the same way */
      double lr = 0.0;
      for (int k = 0; k < c->R; ++k) lr += (double)c->la[j][k] * tr->u[t][k];
      const int64_t q = llrint(in[j] * 4294967296.0) + llrint(lr * 4294967296.0);
      const float inj = (float)((double)q / 4294967296.0);
      const float gt = es * tr->g[t][j] + inj;
      const float vt = em * tr->v[t][j] + ome * gt + wext[j] * (float)tr->xi[t][j];
      tr->vt[t][j] = vt;
      tr->s[t][j] = vt > th;
      if (tr->s[t][j]) {
        tr->count[j] += t >= WARM;
        tr->v[t + 1][j] = (float)m->u_reset;
        tr->g[t + 1][j] = 0.0f;
        hold[j] = hold_steps;
      } else {
        tr->v[t + 1][j] = vt;
        tr->g[t + 1][j] = gt;
      }
    }
  }
}

/* BPTT of one sample: dL/dw[N], dL/dW[i][j] and the low-rank dL/dA[j][k], dL/dB[k][i] (added to), given
 * dL/dcount[N]. */
static void ref_backward(const Case *c, const Traj *tr, const double *dldc, double *dldw, double dldW[N][N],
                         double dA[N][RMAX], double dB[RMAX][N]) {
  const FfModel *m = &c->m;
  const double em = (float)m->em1, es = (float)m->es1, ome = (float)m->one_minus_em, th = (float)m->u_th;
  const int D = m->delay_steps;
  double lv[N] = {0}, lg[N] = {0};
  static double extra[T][N]; /* dL/ds_i(t) through the connections */
  memset(extra, 0, sizeof extra);
  for (int j = 0; j < N; ++j) dldw[j] = 0.0;
  for (int t = T - 1; t >= 0; --t) {
    double du[RMAX] = {0}; /* dL/du_k(t) */
    for (int j = 0; j < N; ++j) {
      if (tr->held[t][j]) continue; /* identity: adjoints pass through, input dropped */
      const double s = tr->s[t][j], x = tr->vt[t][j] - th, ax = fabs(x);
      const double sg = ax < SURR_W ? (double)(SURR_A * (SURR_W - (float)ax)) : 0.0;
      const double kappa = t >= WARM ? 1.0 : 0.0;
      const double ds = dldc[j] * kappa + extra[t][j];
      const double lvt = lv[j] * (1.0 - s) + ds * sg;
      const double lgt = lg[j] * (1.0 - s) + lvt * ome;
      dldw[j] += lvt * tr->xi[t][j];
      if (t >= D)
        for (int i = 0; i < N; ++i)
          if (tr->s[t - D][i] && c->w[i][j] != 0.0) {
            dldW[i][j] += lgt;
            extra[t - D][i] += lgt * c->w[i][j];
          }
      for (int k = 0; k < c->R; ++k) {
        dA[j][k] += lgt * tr->u[t][k];
        du[k] += lgt * (double)c->la[j][k];
      }
      lv[j] = lvt * em;
      lg[j] = lgt * es;
    }
    if (t >= D) /* u(t) = B s(t - D) */
      for (int i = 0; i < N; ++i)
        if (tr->s[t - D][i])
          for (int k = 0; k < c->R; ++k) {
            dB[k][i] += du[k];
            extra[t - D][i] += du[k] * (double)c->lb[k][i];
          }
  }
}

/* Reference gradients of the whole batch: encoder (dW_enc[N][P], db[N]) and connections dW[N][N]. */
static double ref_batch(const Case *c, const FfFitView *fv, double *g_enc_w, double *g_enc_b, double g_conn[N][N],
                        int counts[B][N], double g_a[N][RMAX], double g_b[RMAX][N]) {
  static double ga[N][RMAX], gb[RMAX][N];
  if (!g_a) g_a = ga;
  if (!g_b) g_b = gb;
  memset(g_a, 0, sizeof ga);
  memset(g_b, 0, sizeof gb);
  static Traj tr[B];
  double rates[B * P], dl[B * P];
  float wext[B][N];
  double z[B][N];
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) {
      z[b][j] = fv->enc_b[j];
      for (int p = 0; p < P; ++p) z[b][j] += (double)fv->enc_w[j * P + p] * (X[b * P + p] / 100.0);
      wext[b][j] = z[b][j] > 0 ? (float)z[b][j] : 0.0f;
    }
  for (int b = 0; b < B; ++b) ref_forward(c, wext[b], KEYS[b], &tr[b]);
  /* rates: r_bp = sum_j syn_jp count_jb / sum_j syn_jp / counting time */
  double syn[P] = {0};
  for (int j = 0; j < N; ++j)
    for (int64_t k = c->net.np_row[j]; k < c->net.np_row[j + 1]; ++k) syn[c->np_id[k]] += c->np_syn[k];
  const double tc = (T - WARM) * c->m.dt_ms * 1e-3;
  for (int b = 0; b < B; ++b)
    for (int p = 0; p < P; ++p) {
      double acc = 0;
      for (int j = 0; j < N; ++j)
        for (int64_t k = c->net.np_row[j]; k < c->net.np_row[j + 1]; ++k)
          if (c->np_id[k] == p) acc += (double)c->np_syn[k] * tr[b].count[j];
      rates[b * P + p] = acc / syn[p] / tc;
    }
  const double loss = ff_fit_loss(FF_LOSS_MSE, 1.0, rates, Y, B * P, dl);
  memset(g_enc_w, 0, N * P * sizeof *g_enc_w);
  memset(g_enc_b, 0, N * sizeof *g_enc_b);
  memset(g_conn, 0, N * N * sizeof **g_conn);
  for (int b = 0; b < B; ++b) {
    double dldc[N] = {0}, dldw[N];
    for (int j = 0; j < N; ++j)
      for (int64_t k = c->net.np_row[j]; k < c->net.np_row[j + 1]; ++k)
        dldc[j] += dl[b * P + c->np_id[k]] * c->np_syn[k] / syn[c->np_id[k]] / tc;
    ref_backward(c, &tr[b], dldc, dldw, g_conn, g_a, g_b);
    for (int j = 0; j < N; ++j) {
      counts[b][j] = tr[b].count[j];
      if (!(z[b][j] > 0)) continue;
      g_enc_b[j] += dldw[j];
      for (int p = 0; p < P; ++p) g_enc_w[j * P + p] += dldw[j] * (X[b * P + p] / 100.0);
    }
  }
  return loss;
}

static double rel_err(const double *a, const float *b, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += a[i] * a[i];
  }
  return sqrt(num / (den > 0 ? den : 1e-300));
}

/* ---- tests -------------------------------------------------------------------------------------- */

/* The stepper's forward equals the reference forward spike for spike (with recurrent weights). */
static void test_forward_matches_reference(void **state) {
  (void)state;
  Case c;
  make_case(&c, 0.4, 3);
  FfFitSetup s = setup_for(&c, FF_TRAIN_ENCODER, 0.0);
  FfFitNet *f;
  assert_int_equal(ff_fit_create(&s, &f), 0);
  double rates[B * P];
  assert_int_equal(ff_fit_forward(f, B, X, KEYS, 0, rates), 0);
  FfFitView fv;
  ff_fit_view(f, &fv);
  double gw[N * P], gb[N], gc[N][N];
  int counts[B][N];
  ref_batch(&c, &fv, gw, gb, gc, counts, NULL, NULL);
  int total = 0;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) {
      assert_int_equal(fv.count[j * B + b], counts[b][j]);
      total += counts[b][j];
    }
  print_message("# %d counted spikes in %d neuron-samples\n", total, N * B);
  assert_true(total > 20);
  ff_fit_destroy(&f);
  free_case(&c);
}

/* One batch through the stepper (forward with traces, MSE loss, backward) and through the reference:
 * fv views the stepper's gradients, gw [N x P], gb [N] and gc the reference's. */
static FfFitNet *one_batch(Case *c, int trainable, double decay, FfFitView *fv, double *gw, double *gb,
                           double gc[N][N]) {
  FfFitSetup s = setup_for(c, trainable, decay);
  FfFitNet *f;
  assert_int_equal(ff_fit_create(&s, &f), 0);
  double rates[B * P], dl[B * P];
  assert_int_equal(ff_fit_forward(f, B, X, KEYS, 1, rates), 0);
  ff_fit_loss(FF_LOSS_MSE, 1.0, rates, Y, B * P, dl);
  assert_int_equal(ff_fit_backward(f, dl), 0);
  ff_fit_view(f, fv);
  int counts[B][N];
  ref_batch(c, fv, gw, gb, gc, counts, NULL, NULL);
  return f;
}

/* D-RTRL encoder gradient == exact BPTT when the recurrent weights are zero. */
static void test_drtrl_encoder_equals_bptt(void **state) {
  (void)state;
  Case c;
  make_case(&c, 0.0, 5);
  FfFitView fv;
  double gw[N * P], gb[N], gc[N][N];
  FfFitNet *f = one_batch(&c, FF_TRAIN_ENCODER, 0.0, &fv, gw, gb, gc);
  const double ew = rel_err(gw, fv.g_enc_w, N * P), eb = rel_err(gb, fv.g_enc_b, N);
  double norm = 0;
  for (int i = 0; i < N * P; ++i) norm += gw[i] * gw[i];
  print_message("# |dL/dW_enc| = %.4g; relative difference D-RTRL vs BPTT: weights %.2e, biases %.2e\n", sqrt(norm), ew,
                eb);
  assert_true(norm > 0);
  assert_true(ew <= 1e-5);
  assert_true(eb <= 1e-5);
  ff_fit_destroy(&f);
  free_case(&c);
}

static double cosine(const double *a, const double *b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / sqrt(aa * bb);
}

/* Connection gradients of D-RTRL and ES-D-RTRL against BPTT on recurrent networks. */
static void connection_gradients(double decay, uint64_t seed, double *cos_out) {
  Case c;
  make_case(&c, 0.35, seed);
  FfFitView fv;
  double gw[N * P], gb[N], gc[N][N];
  FfFitNet *f = one_batch(&c, FF_TRAIN_ENCODER | FF_TRAIN_CONNECTIONS, decay, &fv, gw, gb, gc);
  /* the stepper's connections in slab order -> the reference's matrix */
  double *ref = malloc(fv.n_conn * sizeof *ref), *got = malloc(fv.n_conn * sizeof *got);
  for (int32_t si = 0; si < c.net.n_pre; ++si)
    for (int64_t e = c.net.pre_indptr[si]; e < c.net.pre_indptr[si + 1]; ++e) {
      ref[e] = gc[c.net.pre_new[si]][c.net.target[e]];
      got[e] = fv.g_conn[e];
    }
  *cos_out = cosine(ref, got, (int)fv.n_conn);
  free(ref);
  free(got);
  ff_fit_destroy(&f);
  free_case(&c);
}

static void test_connection_gradients_against_bptt(void **state) {
  (void)state;
  double worst_es = 1, worst_d = 1;
  for (uint64_t seed = 11; seed < 14; ++seed) {
    double cd, ce;
    connection_gradients(0.0, seed, &cd);
    connection_gradients(0.99, seed, &ce);
    print_message("# network %d: cosine with BPTT, D-RTRL %.4f, ES-D-RTRL (0.99) %.4f\n", (int)seed, cd, ce);
    if (cd < worst_d) worst_d = cd;
    if (ce < worst_es) worst_es = ce;
  }
  assert_true(worst_d >= 0.9);
  assert_true(worst_es >= 0.8);
}

/* ---- the low-rank term ---------------------------------------------------------------------------- */

/* A stepper with the low-rank term (rank 3) whose B is set to `b_scale` x a fixed pattern (0: as
 * created, B = 0); its A and B are copied into the case for the reference. */
static FfFitNet *lowrank_net(Case *c, int trainable, double b_scale, double decay) {
  FfFitSetup s = setup_for(c, trainable, decay);
  FfFitNet *f;
  assert_int_equal(ff_fit_create(&s, &f), 0);
  FfFitView v;
  ff_fit_view(f, &v);
  assert_int_equal(v.lr_rank, 3);
  uint64_t st = 99;
  for (int j = 0; j < N; ++j)
    for (int k = 0; k < 3; ++k)
      if (b_scale != 0.0) v.lr_b[j * 3 + k] = (float)(b_scale * ((double)((lcg(&st) >> 33) % 2001) / 1000.0 - 1.0));
  assert_int_equal(ff_fit_sync_weights(f), 0);
  c->R = 3;
  for (int j = 0; j < N; ++j)
    for (int k = 0; k < 3; ++k) {
      c->la[j][k] = v.lr_a[j * 3 + k];
      c->lb[k][j] = v.lr_b[j * 3 + k];
    }
  return f;
}

/* Created, the low-rank term (B = 0) changes nothing: rates, counts and the encoder's gradient are
 * those of the network without it, bit for bit. With B set, the stepper still matches the reference
 * forward spike for spike, and the counts change (the term is there). */
static void test_lowrank_untrained_unchanged(void **state) {
  (void)state;
  Case c;
  make_case(&c, 0.35, 4);
  double r0[B * P], r1[B * P], dl[B * P];
  FfFitSetup s = setup_for(&c, FF_TRAIN_ENCODER | FF_TRAIN_CONNECTIONS, 0.99);
  FfFitNet *f0, *f1 = lowrank_net(&c, FF_TRAIN_ENCODER | FF_TRAIN_CONNECTIONS | FF_TRAIN_LOWRANK, 0.0, 0.99);
  assert_int_equal(ff_fit_create(&s, &f0), 0);
  assert_int_equal(ff_fit_forward(f0, B, X, KEYS, 1, r0), 0);
  assert_int_equal(ff_fit_forward(f1, B, X, KEYS, 1, r1), 0);
  assert_memory_equal(r0, r1, sizeof r0);
  ff_fit_loss(FF_LOSS_MSE, 1.0, r0, Y, B * P, dl);
  assert_int_equal(ff_fit_backward(f0, dl), 0);
  assert_int_equal(ff_fit_backward(f1, dl), 0);
  FfFitView v0, v1;
  ff_fit_view(f0, &v0);
  ff_fit_view(f1, &v1);
  assert_memory_equal(v0.count, v1.count, N * B * sizeof *v0.count);
  assert_memory_equal(v0.g_enc_w, v1.g_enc_w, N * P * sizeof *v0.g_enc_w);
  assert_memory_equal(v0.g_conn, v1.g_conn, v0.n_conn * sizeof *v0.g_conn);
  double gnorm = 0;
  for (int q = 0; q < N * 3; ++q) gnorm += (double)v1.g_lr_b[q] * v1.g_lr_b[q];
  print_message("# B = 0: rates, counts and gradients as without the term; |dL/dB| = %.3g\n", sqrt(gnorm));
  assert_true(gnorm > 0); /* B learns from zero */
  ff_fit_destroy(&f1);
  /* with B set: spike for spike against the reference, and not the counts of the plain network */
  f1 = lowrank_net(&c, FF_TRAIN_ENCODER | FF_TRAIN_LOWRANK, 1.5, 0.99);
  assert_int_equal(ff_fit_forward(f1, B, X, KEYS, 0, r1), 0);
  ff_fit_view(f1, &v1);
  double gw[N * P], gb[N], gc[N][N];
  int counts[B][N], differ = 0;
  ref_batch(&c, &v1, gw, gb, gc, counts, NULL, NULL);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) {
      assert_int_equal(v1.count[j * B + b], counts[b][j]);
      differ += v1.count[j * B + b] != v0.count[j * B + b];
    }
  print_message("# B set: %d of %d neuron-samples count other spikes than without the term\n", differ, N * B);
  assert_true(differ > 0);
  ff_fit_destroy(&f0);
  ff_fit_destroy(&f1);
  free_case(&c);
}

/* The spectrum of A B from the Gram matrices against LAPACK's SVD of the full N x N product written out
 * here; with B = 0 (as created) it is zero. */
static void test_lowrank_spectrum(void **state) {
  (void)state;
  Case c;
  make_case(&c, 0.35, 5);
  for (int set = 0; set < 2; ++set) {
    FfFitNet *f = lowrank_net(&c, FF_TRAIN_ENCODER | FF_TRAIN_LOWRANK, set ? 1.0 : 0.0, 0.99);
    double sv[3], m[N * N], full[N], work[N];
    assert_int_equal(ff_fit_lowrank_spectrum(f, sv), 0);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) {
        double s = 0.0;
        for (int k = 0; k < 3; ++k) s += (double)c.la[i][k] * (double)c.lb[k][j];
        m[i * N + j] = s;
      }
    assert_int_equal(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', N, N, m, N, full, NULL, N, NULL, N, work), 0);
    print_message("# B %s: singular values of A B %.6g %.6g %.6g (SVD of the product %.6g %.6g %.6g, then %.2g)\n",
                  set ? "set" : "= 0", sv[0], sv[1], sv[2], full[0], full[1], full[2], full[3]);
    for (int k = 0; k < 3; ++k) assert_true(fabs(sv[k] - full[k]) <= 1e-9 * (1.0 + full[0]));
    assert_true(full[3] <= 1e-9 * (1.0 + full[0])); /* rank 3 */
    if (set) assert_true(sv[2] > 0.0);
    else assert_true(sv[0] == 0.0);
    ff_fit_destroy(&f);
  }
  free_case(&c);
}

/* One network's low-rank gradients by ES-D-RTRL with trace decay `decay` against exact BPTT through the
 * term: the cosines of A's and B's and their relative errors |g - g_BPTT| / |g_BPTT|. */
static void lowrank_cosines(uint64_t seed, double decay, double *ca, double *cb, double *ea_rel, double *eb_rel) {
  Case c;
  make_case(&c, 0.35, seed);
  FfFitNet *f = lowrank_net(&c, FF_TRAIN_ENCODER | FF_TRAIN_LOWRANK, 1.0, decay);
  double rates[B * P], dl[B * P];
  assert_int_equal(ff_fit_forward(f, B, X, KEYS, 1, rates), 0);
  ff_fit_loss(FF_LOSS_MSE, 1.0, rates, Y, B * P, dl);
  assert_int_equal(ff_fit_backward(f, dl), 0);
  FfFitView v;
  ff_fit_view(f, &v);
  double gw[N * P], gb[N], gc[N][N], ga[N][RMAX], gbb[RMAX][N];
  int counts[B][N];
  ref_batch(&c, &v, gw, gb, gc, counts, ga, gbb);
  double ra[N * 3], ea[N * 3], rb[N * 3], eb[N * 3];
  for (int j = 0; j < N; ++j)
    for (int k = 0; k < 3; ++k) {
      ra[j * 3 + k] = ga[j][k];
      ea[j * 3 + k] = v.g_lr_a[j * 3 + k];
      rb[j * 3 + k] = gbb[k][j];
      eb[j * 3 + k] = v.g_lr_b[j * 3 + k];
    }
  *ca = cosine(ra, ea, N * 3);
  *cb = cosine(rb, eb, N * 3);
  double num_a = 0, den_a = 0, num_b = 0, den_b = 0;
  for (int q = 0; q < N * 3; ++q) {
    num_a += (ea[q] - ra[q]) * (ea[q] - ra[q]);
    den_a += ra[q] * ra[q];
    num_b += (eb[q] - rb[q]) * (eb[q] - rb[q]);
    den_b += rb[q] * rb[q];
  }
  assert_true(den_a > 0 && den_b > 0);
  *ea_rel = sqrt(num_a / den_a);
  *eb_rel = sqrt(num_b / den_b);
  ff_fit_destroy(&f);
  free_case(&c);
}

/* The low-rank gradients (ES-D-RTRL's factorisation) against exact BPTT through the term, at the
 * original's trace decay 0.99 and at decays whose time constant spans more of the 400-step sample.
 * ES-D-RTRL replaces the time sum sum_t eps_f(t) u(t) by the product of two low-passed sums: with
 * 1/(1 - a) = 100 steps it sees the last quarter of the sample, and u, a signed sum of spikes, loses
 * more by that than the connections' non-negative arrivals do. Measured (networks 21-23):
 * 0.99: A 0.937-0.969, B 0.920-0.957; 0.995: A 0.969-0.983, B 0.963-0.978; 0.999: A and B >= 0.98;
 * the relative error is 0.84-0.90, 0.69-0.77, 0.74-0.77: mostly scale (Adam is scale-free per
 * parameter). */
static void test_lowrank_gradients_against_bptt(void **state) {
  (void)state;
  const double decays[] = {0.99, 0.995, 0.999}, floor[] = {0.9, 0.95, 0.95};
  for (int d = 0; d < 3; ++d) {
    double worst_a = 1, worst_b = 1;
    for (uint64_t seed = 21; seed < 24; ++seed) {
      double ca, cb, ea, eb;
      lowrank_cosines(seed, decays[d], &ca, &cb, &ea, &eb);
      print_message("# network %d: low-rank ES-D-RTRL (%g) vs BPTT: A cosine %.4f (relative error %.3f), "
                    "B cosine %.4f (relative error %.3f)\n", (int)seed, decays[d], ca, ea, cb, eb);
      if (ca < worst_a) worst_a = ca;
      if (cb < worst_b) worst_b = cb;
    }
    assert_true(worst_a >= floor[d]);
    assert_true(worst_b >= floor[d]);
  }
}

/* The loss functions' gradients against central differences. */
static void test_loss_gradients_finite_differences(void **state) {
  (void)state;
  const double r[5] = {1.0, -2.5, 0.3, 4.0, 0.05}, y[5] = {0.5, 0.0, 0.9, 1.0, -0.2};
  for (int loss = 0; loss < 3; ++loss) {
    double g[5], rp[5];
    ff_fit_loss(loss, 1.5, r, y, 5, g);
    for (int i = 0; i < 5; ++i) {
      const double h = 1e-6;
      memcpy(rp, r, sizeof rp);
      rp[i] = r[i] + h;
      const double lp = ff_fit_loss(loss, 1.5, rp, y, 5, NULL);
      rp[i] = r[i] - h;
      const double lm = ff_fit_loss(loss, 1.5, rp, y, 5, NULL);
      assert_close(g[i], (lp - lm) / (2 * h), 1e-7);
    }
  }
}

/* The gradient norm, which feeds clipping, against its definition written out here: squares scaled
 * by the power of two above the largest |g|, each cut down to a multiple of 2^-100 and summed as
 * 128-bit integers, the sum's two 64-bit halves rounded to double and added (bit for bit); and
 * against a plain double sum of squares (to 1e-12). */
static double norm_reference(const float *const *g, const int64_t *n, int ng) {
  double mx = 0.0;
  for (int q = 0; q < ng; ++q)
    for (int64_t i = 0; i < n[q]; ++i) mx = fabs((double)g[q][i]) > mx ? fabs((double)g[q][i]) : mx;
  if (mx == 0.0) return 0.0;
  int ex;
  frexp(mx, &ex);
  const double sc = ldexp(1.0, -ex);
  unsigned __int128 sum = 0;
  for (int q = 0; q < ng; ++q)
    for (int64_t i = 0; i < n[q]; ++i) {
      const double y = (double)g[q][i] * sc;
      sum += (unsigned __int128)ldexp(y * y, 100);
    }
  const double hi = (double)(uint64_t)(sum >> 64), lo = (double)(uint64_t)sum;
  return sqrt(ldexp(hi, -36) + ldexp(lo, -100)) / sc;
}

static void test_grad_norm_bits(void **state) {
  (void)state;
  Case c;
  make_case(&c, 0.35, 5);
  FfFitSetup s = setup_for(&c, FF_TRAIN_ENCODER | FF_TRAIN_CONNECTIONS, 0.99);
  FfFitNet *f;
  assert_int_equal(ff_fit_create(&s, &f), 0);
  FfFitView fv;
  ff_fit_view(f, &fv);
  float *g[3] = {fv.g_enc_w, fv.g_enc_b, fv.g_conn};
  const int64_t n[3] = {(int64_t)N * P, N, fv.n_conn};
  double norm;
  assert_int_equal(ff_fit_grad_norm(f, &norm), FF_OK);
  assert_true(norm == 0.0);
  uint64_t r = 99;
  for (int trial = 0; trial < 200; ++trial) {
    /* magnitudes spread over up to 2^60, so that many squares fall below the 2^-100 grid */
    const int spread = trial % 61;
    double plain = 0.0;
    for (int q = 0; q < 3; ++q)
      for (int64_t i = 0; i < n[q]; ++i) {
        const double u = (double)(lcg(&r) >> 11) * 0x1p-53, e = (double)(lcg(&r) >> 11) * 0x1p-53;
        g[q][i] = (float)((u - 0.5) * ldexp(1.0, -(int)(e * spread)) * (trial % 7 == 0 ? 1e-30 : 3.0));
        plain += (double)g[q][i] * g[q][i];
      }
    assert_int_equal(ff_fit_grad_norm(f, &norm), FF_OK);
    const double ref = norm_reference((const float *const *)g, n, 3);
    if (norm != ref) print_message("# trial %d: norm %a, reference %a\n", trial, norm, ref);
    assert_true(norm == ref);
    assert_close(norm, sqrt(plain), 1e-12 * sqrt(plain));
  }
  g[2][1] = NAN;
  assert_int_equal(ff_fit_grad_norm(f, &norm), FF_OK);
  assert_true(isinf(norm));
  ff_fit_destroy(&f);
  free_case(&c);
}

/* ---- backend = cuda's host side, through a host twin of the GPU ----------------------------------
 * This test binary defines the four calls of src/fit/cuda/fit_cuda.cu itself, so that the library's
 * own (CUDA's, or the stub of a build without it) are not linked in: "managed memory" is calloc'd and
 * recorded, and a launch first checks that every array its views and arguments name lies in such
 * memory (a host array there would be an illegal address on a GPU), then runs the kernel serially in
 * a scrambled order. The host side of backend = cuda (the network's copies, the staged host arrays,
 * every launch site) is so tested on machines without a GPU; tests/integration/fit_gpu.sh runs the
 * real one where there is a GPU. */
enum { MAX_MANAGED = 512 };
static struct {
  const char *p;
  int64_t n;
} managed_[MAX_MANAGED];
static int n_managed_, unmanaged_, launches_[FF_FITK_KINDS];

int ff_fit_cuda_init(int device, char *desc, int cap) {
  snprintf(desc, (size_t)cap, "host twin of GPU %d", device);
  return FF_OK;
}

int ff_fit_cuda_alloc(void **p, int64_t bytes, const char *what) {
  (void)what;
  if (bytes < 1) bytes = 1;
  *p = calloc((size_t)bytes, 1);
  if (*p == NULL || n_managed_ == MAX_MANAGED) return FF_ERR_NOMEM;
  managed_[n_managed_].p = *p;
  managed_[n_managed_++].n = bytes;
  return FF_OK;
}

void ff_fit_cuda_free(void *p) { /* cudaFree of memory it did not allocate fails: here, a test failure */
  if (p == NULL) return;
  for (int i = 0; i < n_managed_; ++i)
    if (managed_[i].p == p) {
      managed_[i] = managed_[--n_managed_];
      free(p);
      return;
    }
  print_message("# ff_fit_cuda_free of memory it did not allocate\n");
  unmanaged_++;
}

static int is_managed(const void *p) {
  if (p == NULL) return 1;
  for (int i = 0; i < n_managed_; ++i)
    if ((const char *)p >= managed_[i].p && (const char *)p < managed_[i].p + managed_[i].n) return 1;
  return 0;
}

/* the arrays of one of the launch's structs (its name) */
static void check_managed(int kind, const char *name, const void *const *p, size_t n) {
  for (size_t q = 0; q < n; ++q)
    if (!is_managed(p[q])) {
      print_message("# kernel %d reads a host array: %s, field %zu of the list\n", kind, name, q);
      unmanaged_++;
    }
}

int ff_fit_cuda_launch(const FfFitDev *d, const FfFitBack *k, const FfFitArgs *a, int kind, int64_t n) {
  const void *dv[] = {d->gid,  d->keys, d->pre_indptr, d->target, d->wq,    d->v,      d->g,     d->w,
                      d->hold, d->count, d->next_bg,   d->acc,    d->ev,    d->eg,     d->ec,    d->fv,
                      d->fg,   d->fc,   d->st_s,       d->st_sg,  d->st_held, d->xmark, d->cv,   d->cg,
                      d->cc,   d->wcount, d->wstep,    d->overflow, d->lr_a, d->lr_ud, d->lr_nz, d->bg_pow};
  check_managed(kind, "FfFitDev", dv, sizeof dv / sizeof dv[0]);
  if (k) {
    const void *kv[] = {k->dl_drates, k->np_row, k->np_id, k->np_syn, k->np_of, k->np_row_syn,
                        k->dldc,      k->xhat,   k->g_enc_w, k->g_enc_b, k->g_conn, k->px};
    check_managed(kind, "FfFitBack", kv, sizeof kv / sizeof kv[0]);
  }
  if (a) {
    const void *av[] = {a->pre, a->trial, a->win, a->lr_u, a->lr_bq, a->x, a->last, a->apow,
                        a->t_indptr, a->t_pre, a->t_w, a->xdense, a->p, a->m, a->v, a->g};
    check_managed(kind, "FfFitArgs", av, sizeof av / sizeof av[0]);
  }
  launches_[kind]++;
  FF_FOR_SCRAMBLED(q, n) { ff_fitd_kernel(d, k, a, (FfFitKernel)kind, q); }
  return FF_OK;
}

/* Two batches (forward with traces, backward, Adam) on the CPU and through the twin: the same rates,
 * spike counts, parameters and Adam state, bit for bit; every kernel named ran through the launcher,
 * and no launch read a host array. */
static void cuda_twin(int trainable, double decay, int delivery, const FfFitKernel *kinds, int n_kinds) {
  Case c;
  make_case(&c, 0.35, 21);
  memset(launches_, 0, sizeof launches_);
  unmanaged_ = 0;
  FfFitNet *f[2];
  FfFitView v[2];
  for (int w = 0; w < 2; ++w) {
    FfFitSetup s = setup_for(&c, trainable, decay);
    s.cuda = w;
    s.delivery = delivery;
    assert_int_equal(ff_fit_create(&s, &f[w]), 0);
    ff_fit_view(f[w], &v[w]);
    for (int q = 0; v[w].lr_b && q < N * v[w].lr_rank; ++q) v[w].lr_b[q] = 0.05f * (float)(q % 7) - 0.1f;
    assert_int_equal(ff_fit_sync_weights(f[w]), 0);
  }
  assert_string_equal(ff_fit_device(f[1]), "host twin of GPU 0");
  assert_null(ff_fit_device(f[0]));
  for (int batch = 0; batch < 2; ++batch) {
    double r[2][B * P], dl[B * P];
    for (int w = 0; w < 2; ++w) {
      assert_int_equal(ff_fit_forward(f[w], B, X, KEYS, 1, r[w]), 0);
      ff_fit_loss(FF_LOSS_MSE, 1.0, r[w], Y, B * P, dl);
      assert_int_equal(ff_fit_backward(f[w], dl), 0);
      assert_int_equal(ff_fit_adam(f[w], 0.05, 0.9, 0.999, 1e-8, 1.0), 0);
      ff_fit_view(f[w], &v[w]);
    }
    assert_memory_equal(r[0], r[1], sizeof r[0]);
    assert_memory_equal(v[0].count, v[1].count, sizeof(int32_t) * N * B);
  }
  int64_t spikes = 0;
  for (int q = 0; q < N * B; ++q) spikes += v[0].count[q];
  assert_true(spikes > 0);
  assert_memory_equal(v[0].enc_w, v[1].enc_w, sizeof(float) * N * P);
  assert_memory_equal(v[0].enc_m, v[1].enc_m, sizeof(float) * N * P);
  assert_memory_equal(v[0].enc_b, v[1].enc_b, sizeof(float) * N);
  if (v[0].conn_w) {
    assert_memory_equal(v[0].conn_w, v[1].conn_w, sizeof(float) * (size_t)v[0].n_conn);
    assert_memory_equal(v[0].conn_v, v[1].conn_v, sizeof(float) * (size_t)v[0].n_conn);
  }
  if (v[0].lr_a) {
    assert_memory_equal(v[0].lr_a, v[1].lr_a, sizeof(float) * N * v[0].lr_rank);
    assert_memory_equal(v[0].lr_b, v[1].lr_b, sizeof(float) * N * v[0].lr_rank);
  }
  print_message("# launches:");
  for (int q = 0; q < FF_FITK_KINDS; ++q) print_message(" %d", launches_[q]);
  for (int w = 0; w < 2; ++w) ff_fit_destroy(&f[w]);
  print_message(" (by kind); host arrays read by a kernel or freed as managed: %d\n", unmanaged_);
  assert_int_equal(unmanaged_, 0);
  assert_int_equal(n_managed_, 0); /* every managed array freed */
  for (int q = 0; q < n_kinds; ++q) assert_true(launches_[kinds[q]] > 0);
  free_case(&c);
}

static void test_cuda_host_side(void **state) {
  (void)state;
  const FfFitKernel es[] = {FF_FITK_DELIVER, FF_FITK_UPDATE, FF_FITK_LOWRANK, FF_FITK_ARRIVE, FF_FITK_DECAY,
                            FF_FITK_DLDC, FF_FITK_ENCODER_GRAD, FF_FITK_CONNECTION_GRAD, FF_FITK_ADAM};
  cuda_twin(FF_TRAIN_ENCODER | FF_TRAIN_CONNECTIONS | FF_TRAIN_LOWRANK, 0.99, FF_DELIVERY_SPIKE, es, 9);
  const FfFitKernel d[] = {FF_FITK_SPMM, FF_FITK_UPDATE, FF_FITK_PATHWAYS, FF_FITK_CONNECTION_GRAD, FF_FITK_ADAM};
  cuda_twin(FF_TRAIN_ENCODER | FF_TRAIN_CONNECTIONS, 0.0, FF_DELIVERY_SPMM, d, 5);
}

/* The background's gap by bisection of (1 - p)^k equals the closed form ceil(log u / log(1 - p)) but
 * where u lies within rounding of a power (none expected in 200,000 draws), its mean is 1 / p, and a
 * gap past the table is K + 1. */
static void test_background_gap_closed_form(void **state) {
  (void)state;
  enum { K = 5000, DRAWS = 200000 };
  static double pw[K];
  const double p = 0.004;
  ff_fit_bg_powers(p, K, pw);
  int64_t differ = 0, past = 0;
  double sum = 0.0;
  for (int i = 0; i < DRAWS; ++i) {
    const int32_t gap = ff_fit_bg_gap(11, i % 97, (uint32_t)(i / 97), i % 13, pw, K);
    uint32_t r[4];
    ff_rng4(11, FF_STREAM_FIT_BG, (uint32_t)(i % 97), (uint32_t)(i % 13), (uint32_t)(i / 97), r);
    const double k = ceil(log(ff_u01_53(r[0], r[1])) / log1p(-p));
    const int32_t ref = k >= 1.0 ? (k <= K ? (int32_t)k : K + 1) : 1;
    differ += gap != ref;
    past += gap == K + 1;
    sum += gap;
  }
  const double mean = sum / DRAWS, sd = sqrt((1.0 - p) / (p * p) / DRAWS);
  print_message("# background gap: %lld of %d differ from the closed form, mean %.2f (1/p = %.1f, sd of the mean %.2f)\n",
                (long long)differ, DRAWS, mean, 1.0 / p, sd);
  assert_int_equal(differ, 0);
  assert_true(fabs(mean - 1.0 / p) < 4.0 * sd);
  assert_true(past < 20); /* P(gap > 5000) = 0.996^5000 = 2e-9 */
  const double one[1] = {0.5}; /* p = 0.5, K = 1: u >= 0.5 gives 1, else 2 */
  int32_t twos = 0;
  for (int i = 0; i < 1000; ++i) twos += ff_fit_bg_gap(5, i, 0, 0, one, 1) == 2;
  assert_in_range(twos, 430, 570);
}

/* A neuron that never spikes has a smooth v_T(w): its trace e_v equals the finite difference. */
static void test_subthreshold_trace_finite_differences(void **state) {
  (void)state;
  Case c;
  make_case(&c, 0.0, 7);
  const FfModel *m = &c.m;
  FfFitNeuron nrn = {(float)m->em1, (float)m->es1, (float)m->one_minus_em, 1000.0f, 0.0f, 0.3f, 1.5f, 24, 1.0f};
  double bg_pow[T + 1];
  ff_fit_bg_powers(400.0 * m->dt_ms * 1e-3, T + 1, bg_pow);
  /* run one neuron with weight w through T steps of background, in double via the same formula */
  double w0 = 0.7, vT[2];
  float ev = 0, eg = 0, ec = 0;
  for (int pass = -1; pass <= 1; ++pass) {
    const double w = pass < 0 ? w0 : w0 + (pass == 0 ? -1e-3 : 1e-3);
    float v = 0.1f, g = 0.05f;
    uint8_t hold = 0;
    int next = ff_fit_bg_gap(3, 1, 9, -1, bg_pow, T + 1) - 1;
    for (int t = 0; t < T; ++t) {
      float xi = 0;
      if (next == t) {
        xi = 1;
        next = t + ff_fit_bg_gap(3, 1, 9, t, bg_pow, T + 1);
      }
      FfFitStep r = ff_fit_step(&nrn, &v, &g, &hold, 0.0f, (float)w * xi);
      assert_true(r.s == 0.0f);
      if (pass < 0) ff_fit_trace_param(&nrn, r, 1.0f, xi, &ev, &eg, &ec);
    }
    if (pass >= 0) vT[pass] = v;
  }
  const double fd = (vT[1] - vT[0]) / 2e-3;
  print_message("# dv_T/dw: trace %.6f, central difference %.6f\n", ev, fd);
  assert_true(fd > 0.1);
  assert_close(ev, fd, 1e-3 * fabs(fd));
  free_case(&c);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forward_matches_reference),
      cmocka_unit_test(test_drtrl_encoder_equals_bptt),
      cmocka_unit_test(test_connection_gradients_against_bptt),
      cmocka_unit_test(test_lowrank_untrained_unchanged),
      cmocka_unit_test(test_lowrank_gradients_against_bptt),
      cmocka_unit_test(test_lowrank_spectrum),
      cmocka_unit_test(test_loss_gradients_finite_differences),
      cmocka_unit_test(test_subthreshold_trace_finite_differences),
      cmocka_unit_test(test_grad_norm_bits),
      cmocka_unit_test(test_background_gap_closed_form),
      cmocka_unit_test(test_cuda_host_side),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return rc;
}
