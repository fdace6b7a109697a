/* The steps of a window (fit_net.c runs them; include/flyfit/fit_dev.h holds the kernels): synaptic
 * delivery, per spike or as a sparse x dense product, and every neuron-trial's update with its traces,
 * in the CPU's own forms of the kernels (SIMD rows; delivery without atomics) or, for backend =
 * emulate, the kernels serially in a scrambled order. Either way the same bits. */
#include "flyfit/error.h"
#include "fit_net.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* The SIMD rows also built for AVX2 (8 lanes instead of SSE2's 4), chosen at load time by the CPU;
 * the same IEEE operations lane by lane (no FMA: -ffp-contract=off), so the same bits. Not under the
 * sanitizers or clang (the fuzzing build), where clones are not worth the risk. */
#if defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define FF_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FF_SIMD_CLONES
#endif

/* Sparse x dense: every cell (j, b) adds sum_e w_e X[pre(e), b] over its row of connections, X the
 * step's arrival matrix. The CPU sums in int64; the emulated device in double, as cuSPARSE would
 * (CSR x dense, CUDA_R_64F): every partial sum is an integer below 2^53 (spmm_ok), so exact in any
 * order, and the same bits as per-spike delivery. */
static void deliver_spmm(FfFitNet *f, int64_t a0, int64_t a1) {
  const int32_t B = f->B, Bc = f->Bcur;
  const int32_t *pre = f->arr.pre, *trial = f->arr.trial, *t_pre = f->t_pre;
  const int64_t *t_indptr = f->t_indptr, *t_w = f->t_w;
  uint8_t *x = f->xdense;
  int64_t *acc = f->acc;
  for (int64_t a = a0; a < a1; ++a) x[(int64_t)pre[a] * B + trial[a]] = 1;
  if (f->emulate || f->cuda) {
    const FfFitDev d = ff_fit_dev_view(f);
    const FfFitArgs args = {.Bc = Bc, .n_pre = f->n_pre, .t_indptr = t_indptr, .t_pre = t_pre, .t_w = t_w, .xdense = x};
    if (f->cuda) ff_fit_launch(f, &d, NULL, &args, FF_FITK_SPMM, (int64_t)f->n * Bc);
    else FF_FIT_CELLS(f, j, b, f->n, Bc, ff_fitd_spmm(&d, &args, j, b));
  } else {
    FF_FIT_FOR(f, j, f->n, {
      for (int64_t q = t_indptr[j]; q < t_indptr[j + 1]; ++q) {
        const int64_t w = t_w[q];
        const uint8_t *xr = x + (int64_t)t_pre[q] * B;
        for (int32_t b = 0; b < Bc; ++b) acc[(int64_t)b * f->n + j] += xr[b] ? w : 0;
      }
    });
  }
  for (int64_t a = a0; a < a1; ++a) {
    x[(int64_t)pre[a] * B + trial[a]] = 0;
    if (f->cv) f->xmark[(int64_t)pre[a] * B + trial[a]] = 1;
  }
}

/* Spikes arriving at step t (k = t - window start) go into the targets' accumulators: per spike, or
 * as sparse x dense where the configuration asks for it or (auto) the step's arrivals are dense. */
void ff_fit_deliver(FfFitNet *f, int32_t k) {
  const FfNet *net = f->net;
  const int64_t a0 = f->arr.off[(int64_t)k * f->B], a1 = f->arr.off[(int64_t)(k + 1) * f->B];
  if (a1 == a0) return;
  const int32_t *pre = f->arr.pre, *trial = f->arr.trial;
  int64_t events = 0;
  for (int64_t a = a0; a < a1; ++a) events += net->pre_indptr[pre[a] + 1] - net->pre_indptr[pre[a]];
  f->stats.events += events;
  const double density = (double)(a1 - a0) / ((double)f->n_pre * f->Bcur);
  int spmm = f->s.delivery == FF_DELIVERY_SPMM || (f->s.delivery == FF_DELIVERY_AUTO && density >= f->s.spmm_density);
  if (spmm && f->t_w == NULL && !f->spmm_failed && ff_fit_create_spmm(f) != FF_OK) {
    ff_error_clear(); /* no room for the transpose: per spike, as before, and no second try */
    f->spmm_failed = 1;
  }
  if (spmm && f->spmm_ok && !f->spmm_failed) {
    deliver_spmm(f, a0, a1);
    f->stats.spmm_steps++;
    /* every connection's weight and stand-in, the arrival matrix and the accumulators */
    f->stats.deliver_bytes += (double)f->E * (4 + 8) + (double)f->E * f->Bcur + (double)f->n * f->Bcur * 16;
    return;
  }
  f->stats.deliver_bytes += (double)events * (4 + 8 + 2 * 8); /* target, weight, accumulator read and written */
  if (f->emulate || f->cuda) { /* a device: one thread per arrival, atomic adds */
    const FfFitDev d = ff_fit_dev_view(f);
    const FfFitArgs args = {.pre = f->arr_pre + a0, .trial = f->arr_trial + a0};
    if (f->cuda) ff_fit_launch(f, &d, NULL, &args, FF_FITK_DELIVER, a1 - a0);
    else FF_FIT_FOR(f, q, a1 - a0, ff_fitd_kernel(&d, NULL, &args, FF_FITK_DELIVER, q));
    return;
  }
  /* the CPU: each thread takes every arrival but only the targets of its own range of neurons (a
   * stand-in's targets ascend: a binary search finds them), so its adds need no atomics and touch
   * only its own accumulators. (Binning the adds by block of targets first, to add within cache,
   * was slower here: 4x at 20,000 neurons and batch 128.) */
  const int32_t B = f->B, n = f->n;
  const int64_t *indptr = net->pre_indptr, *wq = f->wq;
  const int32_t *target = net->target;
  int64_t *acc = f->acc;
  uint8_t *xmark = f->cv ? f->xmark : NULL;
#pragma omp parallel num_threads(f->s.threads > 0 ? f->s.threads : 1)
  {
    const int nt = omp_get_num_threads(), me = omp_get_thread_num();
    const int32_t lo = (int32_t)((int64_t)n * me / nt), hi = (int32_t)((int64_t)n * (me + 1) / nt);
    for (int64_t a = a0; a < a1; ++a) {
      const int32_t s = pre[a], b = trial[a];
      int64_t e = indptr[s], e1 = indptr[s + 1];
      if (lo > 0) { /* the first target >= lo */
        int64_t l = e, h = e1;
        while (l < h) {
          const int64_t m = l + (h - l) / 2;
          if (target[m] < lo) l = m + 1; else h = m;
        }
        e = l;
      }
      int64_t *row = acc + (int64_t)b * n; /* trial b's accumulators: the step's arrivals come by trial */
      for (; e < e1 && target[e] < hi; ++e) row[target[e]] += wq[e];
      if (xmark && me == 0) xmark[(int64_t)s * B + b] = 1;
    }
  }
}

/* The low-rank term at step t: u(t) of each sample as numbers (lr_ud), which samples have any (lr_nz),
 * and ES's trace ubar = a ubar + u. Returns whether any sample has input. */
static int lowrank_step(FfFitNet *f, int32_t t) {
  const int32_t B = f->B, Bc = f->Bcur, R = f->R, k = t % f->D;
  const double scale = 1.0 / (double)(1ull << FF_FIT_FIX), a = f->s.etrace_decay;
  int any = 0;
  for (int32_t b = 0; b < Bc; ++b) {
    const int64_t *u = f->lr_u + ((int64_t)k * B + b) * R;
    double *ud = f->lr_ud + (int64_t)b * R;
    f->lr_nz[b] = 0;
    for (int32_t r = 0; r < R; ++r) {
      ud[r] = (double)u[r] * scale;
      f->lr_nz[b] |= u[r] != 0;
    }
    any |= f->lr_nz[b];
    if (f->lr_ubar)
      for (int32_t r = 0; r < R; ++r) f->lr_ubar[(int64_t)r * B + b] = a * f->lr_ubar[(int64_t)r * B + b] + ud[r];
  }
  return any;
}

/* The CPU's form of ff_fitd_update for the trials [b0, b0 + nb) of neuron j, nb <= ROW: the same
 * arithmetic, the same bits, in three passes so that the middle one, every float operation of the
 * step and the traces, runs as SIMD lanes without a branch (omp simd): a held neuron computes the
 * step too and keeps its old values by a select. The first pass turns the fixed-point input into
 * floats; the last takes the rare events one by one: background spikes (a new gap) and spikes
 * (count and slot). */
enum { ROW = 64 };

/* The middle passes, each a loop without a branch that GCC turns into SIMD lanes: every value is
 * loaded and computed unconditionally, then selected (with -fno-trapping-math; a select that loads,
 * nested selects, or many selects in one loop stay branches, hence one loop per trace). */
FF_SIMD_CLONES static void row_step(const FfFitDev *d, int64_t k0, int32_t nb, int32_t t, const float *restrict in,
                     float *restrict spk, float *restrict sgs, int32_t *restrict helds, float *restrict xis,
                     uint8_t *restrict events) {
  const FfFitNeuron p = d->nrn;
  float *restrict v = d->v + k0, *restrict g = d->g + k0;
  const float *restrict w = d->w + k0;
  uint8_t *restrict hold = d->hold + k0;
  const int32_t *restrict next_bg = d->next_bg + k0;
#pragma omp simd
  for (int32_t b = 0; b < nb; ++b) { /* ff_fit_step */
    const int held = hold[b] > 0;
    const float xi = next_bg[b] == t ? 1.0f : 0.0f;
    const float v0 = v[b], g0 = g[b];
    const float gt = p.es * g0 + in[b];
    const float vt = p.em * v0 + p.one_minus_em * gt + p.kick * (w[b] * xi);
    const float dw = p.surr_w - fabsf(vt - p.u_th);
    const float sg0 = p.surr_a * (dw > 0.0f ? dw : 0.0f);
    const int over = vt > p.u_th, fire = over & !held;
    const float v1 = over ? p.u_reset : vt, g1 = over ? 0.0f : gt;
    v[b] = held ? v0 : v1;
    g[b] = held ? g0 : g1;
    hold[b] = (uint8_t)(hold[b] - held + fire * p.hold_steps); /* a neuron not held has hold 0 */
    spk[b] = fire ? 1.0f : 0.0f;
    sgs[b] = held ? 0.0f : sg0;
    helds[b] = held;
    xis[b] = xi;
    events[b] = (uint8_t)((next_bg[b] == t) | fire);
  }
}

/* ff_fit_trace_param of the encoder weight, dv_in = kick xi. */
FF_SIMD_CLONES static void row_encoder_trace(const FfFitDev *d, int64_t k0, int32_t nb, int32_t t, const float *restrict spk,
                              const float *restrict sgs, const int32_t *restrict helds, const float *restrict xis) {
  const FfFitNeuron p = d->nrn;
  const float kappa = t >= d->warmup ? 1.0f : 0.0f;
  float *restrict ev = d->ev + k0, *restrict eg = d->eg + k0, *restrict ec = d->ec + k0;
#pragma omp simd
  for (int32_t b = 0; b < nb; ++b) {
    const int held = helds[b];
    const float ns = 1.0f - spk[b];
    const float ev0 = ev[b], eg0 = eg[b], ec0 = ec[b];
    const float dg = p.es * eg0;
    const float dv = p.em * ev0 + p.one_minus_em * dg + p.kick * xis[b];
    const float c = ec0 + kappa * sgs[b] * dv, x = ns * dv, y = ns * dg;
    ec[b] = held ? ec0 : c;
    ev[b] = held ? ev0 : x;
    eg[b] = held ? eg0 : y;
  }
}

/* ff_fit_trace_es, the postsynaptic factor. */
FF_SIMD_CLONES static void row_es_trace(const FfFitDev *d, int64_t k0, int32_t nb, int32_t t, const float *restrict spk,
                         const float *restrict sgs, const int32_t *restrict helds) {
  const FfFitNeuron p = d->nrn;
  const float kappa = t >= d->warmup ? 1.0f : 0.0f, a = d->a, one_minus_a = 1.0f - d->a;
  float *restrict fv = d->fv + k0, *restrict fg = d->fg + k0, *restrict fc = d->fc + k0;
#pragma omp simd
  for (int32_t b = 0; b < nb; ++b) {
    const int held = helds[b];
    const float ns = 1.0f - spk[b], sg = sgs[b];
    const float fv0 = fv[b], fg0 = fg[b], fc0 = fc[b];
    const float dg = p.es * fg0;
    const float dv = p.em * fv0 + p.one_minus_em * dg;
    const float c = a * (fc0 + kappa * sg * dv) + one_minus_a * (kappa * sg * p.one_minus_em);
    const float x = a * (ns * dv) + one_minus_a * (ns * p.one_minus_em);
    const float y = a * (ns * dg) + one_minus_a * ns;
    const float hc = a * fc0, hx = a * fv0, hy = a * fg0;
    fc[b] = held ? hc : c;
    fv[b] = held ? hx : x;
    fg[b] = held ? hy : y;
  }
}

/* The input of neurons [j0, j0 + nj) (nj <= JBLK) in trials [b0, b0 + nb), as floats, and their
 * accumulators cleared: the accumulators are trial-major, so a block of JBLK neurons reads whole cache
 * lines, one per trial. */
enum { JBLK = 8 };
static void block_input(const FfFitDev *d, int32_t j0, int32_t nj, int32_t b0, int32_t nb, float in[JBLK][ROW]) {
  for (int32_t b = 0; b < nb; ++b) {
    int64_t *acc = d->acc + (int64_t)(b0 + b) * d->n + j0;
    __builtin_prefetch(acc + 4 * JBLK, 1); /* one stream per trial: too many for the hardware to follow */
    for (int32_t q = 0; q < nj; ++q) {
      int64_t x = acc[q];
      if (d->lr_on && d->lr_nz[b0 + b]) x += ff_fitd_lowrank_input(d, j0 + q, b0 + b);
      in[q][b] = (float)x * d->fix_scale;
      acc[q] = 0;
    }
  }
}

static void update_row(const FfFitDev *d, int32_t j, int32_t b0, int32_t nb, int32_t t, const float *in) {
  const int64_t k0 = (int64_t)j * d->B + b0;
  float spk[ROW], sgs[ROW], xis[ROW];
  int32_t helds[ROW];
  uint8_t events[ROW] __attribute__((aligned(8))); /* a background spike or a spike: the last pass's work */
  row_step(d, k0, nb, t, in, spk, sgs, helds, xis, events);
  if (d->ev) row_encoder_trace(d, k0, nb, t, spk, sgs, helds, xis);
  if (d->fv) row_es_trace(d, k0, nb, t, spk, sgs, helds);
  for (int32_t b8 = 0; b8 < nb; b8 += 8) { /* events are rare: eight flags at a time */
    uint64_t any = 0;
    memcpy(&any, events + b8, nb - b8 < 8 ? (size_t)(nb - b8) : 8);
    for (int32_t b = b8; any && b < b8 + 8 && b < nb; ++b) {
      if (!events[b]) continue;
      const int64_t k = k0 + b;
      if (d->next_bg[k] == t) d->next_bg[k] = t + ff_fitd_bg_gap(d->seed, d->gid[j], d->keys[b0 + b], t, d->bg_pow, d->bg_k);
      if (spk[b] != 0.0f) {
        d->count[k] += t >= d->warmup;
        const int32_t s = d->wcount[k];
        if (s < d->slots) d->wstep[k * d->slots + s] = t;
        else *d->overflow = 1;
        d->wcount[k] = s + 1;
      }
    }
  }
}

/* Every neuron-trial advances one step and updates its traces; spikes go to the cells' slots. */
void ff_fit_update(FfFitNet *f, int32_t t) {
  FfFitDev v = ff_fit_dev_view(f);
  v.lr_on = f->lr_a != NULL && lowrank_step(f, t);
  if (f->cuda) {
    const FfFitArgs args = {.t = t, .Bc = f->Bcur};
    ff_fit_launch(f, &v, NULL, &args, FF_FITK_UPDATE, (int64_t)f->n * f->Bcur);
    return;
  }
  if (f->emulate) {
    FF_FIT_CELLS(f, j, b, f->n, f->Bcur, ff_fitd_update(&v, j, b, t));
    return;
  }
  const int32_t n = f->n, Bc = f->Bcur;
#pragma omp parallel num_threads(f->s.threads > 0 ? f->s.threads : 1)
  {
    /* each thread its own copy of the view: the compiler then knows that no store into the state
     * changes a field of it, and keeps them in registers */
    const FfFitDev d = v;
    float in[JBLK][ROW];
#pragma omp for schedule(static)
    for (int32_t j0 = 0; j0 < n; j0 += JBLK) {
      const int32_t nj = n - j0 < JBLK ? n - j0 : JBLK;
      if (d.st_s) { /* D-RTRL (small networks): the per-cell body, which keeps the step for the pathways */
        for (int32_t j = j0; j < j0 + nj; ++j)
          for (int32_t b = 0; b < Bc; ++b) ff_fitd_update(&d, j, b, t);
        continue;
      }
      for (int32_t b0 = 0; b0 < Bc; b0 += ROW) {
        const int32_t nb = Bc - b0 < ROW ? Bc - b0 : ROW;
        block_input(&d, j0, nj, b0, nb, in);
        for (int32_t q = 0; q < nj; ++q) update_row(&d, j0 + q, b0, nb, t, in[q]);
      }
    }
  }
}

/* D-RTRL: every connection's trace e = D_t e + D_f x for this step (small networks only). */
void ff_fit_pathways(FfFitNet *f, int32_t t) {
  const FfFitDev d = ff_fit_dev_view(f);
  const FfFitArgs args = {.t = t};
  if (f->cuda) ff_fit_launch(f, &d, NULL, &args, FF_FITK_PATHWAYS, f->n_pre);
  else FF_FIT_FOR(f, sidx, f->n_pre, ff_fitd_pathways(&d, (int32_t)sidx, t));
  memset(f->xmark, 0, (size_t)f->n_pre * f->B);
}

