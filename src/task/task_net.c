/* mode = task, the network's parameters: the connections of [task] conn_method, the initial weights from the seed
 * (FF_STREAM_TASK_INIT keyed by row, column and matrix: the same on every rank), each neuron's adaptation time
 * constant, and Dale's law. Weights are stored
 * non-negative; a column's population (ff_task_col_exc) gives the sign, through the reversal potential its conductance
 * drives towards (docs/design.md §2.8).
 * */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/h5.h"
#include "flyfit/rng.h"
#include "flyfit/task.h"

void ff_task_net_destroy(FfTaskNet *net) {
  FF_FREE(net->theta);
  FF_FREE(net->mask);
  FF_FREE(net->rho_a);
  net->w = net->w_out = net->b_out = NULL;
}

int ff_task_split_create(int32_t n, MPI_Comm comm, FfTaskSplit *sp) {
  memset(sp, 0, sizeof *sp);
  sp->comm = comm;
  FF_TRY(ff_net_blocks(n, comm, "[task] split = neurons", &sp->part));
  const int st = ff_exchange_create(&sp->part, FF_EXCHANGE_ALLGATHER, comm, &sp->x, NULL);
  if (st) ff_net_destroy(&sp->part);
  return st;
}

void ff_task_split_destroy(FfTaskSplit *sp) {
  ff_exchange_destroy(&sp->x);
  ff_net_destroy(&sp->part);
}

static int net_alloc(int32_t n, int32_t n_exc, int32_t row0, int32_t rows, FfTaskNet *net) {
  memset(net, 0, sizeof *net);
  net->n = n;
  net->n_exc = n_exc;
  net->n_pre = FF_TASK_N_IN + n;
  net->row0 = row0;
  net->rows = rows;
  const int64_t nw = (int64_t)rows * net->n_pre;
  net->n_param = nw + (int64_t)FF_TASK_N_OUT * n_exc + FF_TASK_N_OUT;
  int st = FF_CALLOC(net->theta, net->n_param, "task network parameters");
  FF_CALL(st, FF_CALLOC(net->mask, nw, "task network connections"));
  FF_CALL(st, FF_CALLOC(net->rho_a, n, "task adaptation decays"));
  if (st != FF_OK) {
    ff_task_net_destroy(net);
    return st;
  }
  net->w = net->theta;
  net->w_out = net->theta + nw;
  net->b_out = net->w_out + (int64_t)FF_TASK_N_OUT * n_exc;
  return FF_OK;
}

int ff_task_net_copy(const FfTaskNet *from, FfTaskNet *to) {
  FF_TRY(net_alloc(from->n, from->n_exc, from->row0, from->rows, to));
  to->split = from->split;
  memcpy(to->theta, from->theta, (size_t)from->n_param * sizeof *from->theta);
  memcpy(to->mask, from->mask, (size_t)from->rows * (size_t)from->n_pre);
  memcpy(to->rho_a, from->rho_a, (size_t)from->n * sizeof *from->rho_a);
  return FF_OK;
}

/* Position of neuron i on the unit ring: each population spread evenly around it. */
static double ring_pos(int32_t i, int32_t n, int32_t n_exc) {
  return i < n_exc ? (double)i / n_exc : (double)(i - n_exc) / (n - n_exc);
}

/* The probability of recurrent connection j -> i: dense 1; rand p_rand; gaussian exp(-d^2 / (2 sigma^2)) from an
 * excitatory neuron, d the distance on the ring in excitatory neurons (each population spread evenly around it), and
 * p_rand from an inhibitory one (the original's fixed probability 0.1). No autapses: the diagonal Jacobian of D-RTRL
 * then holds no spike path. */
static double conn_prob(const FfTaskSpec *s, int32_t i, int32_t j) {
  if (i == j) return 0.0;
  switch (s->conn) {
  case FF_TASK_CONN_RAND:
    return s->p_rand;
  case FF_TASK_CONN_GAUSSIAN: {
    if (j >= s->n_exc) return s->p_rand;
    double d = fabs(ring_pos(i, s->n_rec, s->n_exc) - ring_pos(j, s->n_rec, s->n_exc));
    if (d > 0.5) d = 1.0 - d;
    d *= s->n_exc;
    return exp(-d * d / (2.0 * s->sigma_gauss * s->sigma_gauss));
  }
  default:
    return 1.0;
  }
}

/* The fan-in of the initialisation's variance scale / fan-in, per presynaptic population (0 excitatory, 1
 * inhibitory): the population's size times the connection probability (brainstate's KaimingNormal over a dense
 * matrix; the original's scale / (n_pre prob) for sparse ones), the expected count averaged over the rows. */
static void fan_ins(const FfTaskSpec *s, double fan[2]) {
  fan[0] = s->n_exc;
  fan[1] = s->n_rec - s->n_exc;
  if (s->conn == FF_TASK_CONN_DENSE) return;
  fan[0] = fan[1] = 0.0;
  for (int32_t i = 0; i < s->n_rec; ++i)
    for (int32_t j = 0; j < s->n_rec; ++j) fan[j >= s->n_exc] += conn_prob(s, i, j) / s->n_rec;
  for (int q = 0; q < 2; ++q)
    if (fan[q] <= 0.0) fan[q] = 1.0;
}

/* z of a standard normal truncated to [-2, 2] (redrawn beyond, counters (i, c, 2 + attempt)) over its standard
 * deviation 0.8796, so that its square has mean 1 (jax's variance_scaling, 'truncated_normal'). */
static double trunc_normal(uint64_t seed, uint32_t i, uint32_t c, const uint32_t first[4]) {
  double z = ff_normal(first[0], first[1]);
  uint32_t r[4];
  for (uint32_t k = 2; fabs(z) > 2.0; ++k) {
    ff_rng4(seed, FF_STREAM_TASK_INIT, i, c, k, r);
    z = ff_normal(r[0], r[1]);
  }
  return z / 0.87962566103423978;
}

int ff_task_net_init(const FfTaskSpec *s, uint64_t seed, FfTaskNet *net) {
  return ff_task_net_init_split(s, seed, NULL, net);
}

int ff_task_net_init_split(const FfTaskSpec *s, uint64_t seed, const FfTaskSplit *sp, FfTaskNet *net) {
  const int32_t row0 = sp ? (int32_t)sp->part.new_base : 0, rows = sp ? sp->part.n_local : s->n_rec;
  FF_TRY(net_alloc(s->n_rec, s->n_exc, row0, rows, net));
  net->split = sp;
  const int32_t n = net->n, np = net->n_pre;
  double fan[2];
  fan_ins(s, fan);
  const double sd_in = sqrt(s->w_in_scale / FF_TASK_N_IN), sd_e = sqrt(s->w_rec_scale / fan[0]),
               sd_i = sqrt(s->w_ei_ratio * s->w_rec_scale / fan[1]);
  uint32_t r[4];
  for (int32_t i = 0; i < n; ++i) {
    const int64_t row = (int64_t)(i - row0) * np;
    for (int32_t c = 0; i >= row0 && i < row0 + rows && c < np; ++c) {
      ff_rng4(seed, FF_STREAM_TASK_INIT, (uint32_t)i, (uint32_t)c, 0, r);
      const int32_t j = c - FF_TASK_N_IN;
      if (j >= 0) {
        if (r[2] >= ff_bernoulli_threshold(conn_prob(s, i, j))) continue;
      }
      net->mask[row + c] = 1;
      const double sd = j < 0 ? sd_in : j < s->n_exc ? sd_e : sd_i;
      net->w[row + c] = fabs(trunc_normal(seed, (uint32_t)i, (uint32_t)c, r)) * sd;
    }
    /* tau_a,i ~ Uniform((1 - spread) tau_a, (1 + spread) tau_a) */
    ff_rng4(seed, FF_STREAM_TASK_INIT, (uint32_t)i, 0xFFFFFFFFu, 0, r);
    const double tau = s->tau_a_ms * (1.0 - s->tau_a_spread + 2.0 * s->tau_a_spread * ff_u01(r[0]));
    net->rho_a[i] = exp(-s->dt_ms / tau);
  }
  /* the readout: the original's LeakyRateReadout initialiser, KaimingNormal(): truncated normal of variance 2 / fan-in
   * (here n_exc); counters (2^32 - 2 - k, j, attempt), apart from every row's */
  const double sd_out = sqrt(2.0 / net->n_exc);
  for (int32_t k = 0; k < FF_TASK_N_OUT; ++k)
    for (int32_t j = 0; j < net->n_exc; ++j) {
      const uint32_t row = 0xFFFFFFFEu - (uint32_t)k;
      ff_rng4(seed, FF_STREAM_TASK_INIT, row, (uint32_t)j, 0, r);
      net->w_out[(int64_t)k * net->n_exc + j] = trunc_normal(seed, row, (uint32_t)j, r) * sd_out;
    }
  return FF_OK;
}

void ff_task_net_project(FfTaskNet *net) {
  const int64_t nw = (int64_t)net->rows * net->n_pre;
  for (int64_t q = 0; q < nw; ++q) net->w[q] = net->mask[q] && net->w[q] > 0.0 ? net->w[q] : 0.0;
}

/* One dataset of `path` into buf [count] of memtype, after checking its shape (rank 2: rows x cols; rank 1: rows). */
static int read_exact(hid_t f, const char *path, const char *dset, hid_t memtype, int rank, int64_t rows, int64_t cols,
                      void *buf) {
  int64_t dims[2] = {0, 0};
  if (!ff_h5_exists(f, dset))
    return FF_ERROR(FF_ERR_INPUT, "'%s' has no %s: give [task] weights the results.h5 of a mode = task run", path, dset);
  FF_TRY(ff_h5_shape(f, path, dset, rank, dims));
  if (dims[0] != rows || (rank == 2 && dims[1] != cols))
    return FF_ERROR(FF_ERR_INPUT,
                    "'%s': %s is %lld x %lld, this run's network needs %lld x %lld: set [task] n_rec and e_share as "
                    "in the run that trained it",
                    path, dset, (long long)dims[0], (long long)(rank == 2 ? dims[1] : 1), (long long)rows,
                    (long long)(rank == 2 ? cols : 1));
  return ff_h5_read_whole(f, path, dset, memtype, buf);
}

int ff_task_net_load(const char *path, FfTaskNet *net) {
  if (net->rows != net->n) return FF_ERROR(FF_ERR_INTERNAL, "ff_task_net_load needs the whole network");
  hid_t f;
  FF_TRY(ff_h5_open(path, H5P_DEFAULT, &f));
  const int64_t n = net->n, np = net->n_pre, nw = n * np;
  FfTaskNet got = {0};
  int st = net_alloc(net->n, net->n_exc, 0, net->n, &got);
  FF_CALL(st, read_exact(f, path, "/task/params/w", H5T_NATIVE_DOUBLE, 2, n, np, got.w));
  FF_CALL(st, read_exact(f, path, "/task/params/mask", H5T_NATIVE_UCHAR, 2, n, np, got.mask));
  FF_CALL(st, read_exact(f, path, "/task/params/w_out", H5T_NATIVE_DOUBLE, 2, FF_TASK_N_OUT, net->n_exc, got.w_out));
  FF_CALL(st, read_exact(f, path, "/task/params/b_out", H5T_NATIVE_DOUBLE, 1, FF_TASK_N_OUT, 1, got.b_out));
  FF_CALL(st, read_exact(f, path, "/task/params/rho_a", H5T_NATIVE_DOUBLE, 1, n, 1, got.rho_a));
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  if (st == FF_OK && memcmp(got.mask, net->mask, (size_t)nw) != 0)
    st = FF_ERROR(FF_ERR_INPUT, "'%s': /task/params/mask is not this run's connections: set [task] conn_method and "
                                "[run] seed as in the run that trained it",
                  path);
  if (st == FF_OK && memcmp(got.rho_a, net->rho_a, (size_t)n * sizeof *got.rho_a) != 0)
    st = FF_ERROR(FF_ERR_INPUT, "'%s': /task/params/rho_a (the adaptation constants) is not this run's: set [run] seed "
                                "as in the run that trained it",
                  path);
  for (int64_t q = 0; st == FF_OK && q < nw; ++q)
    if (!(got.w[q] >= 0.0) || (got.w[q] != 0.0 && !got.mask[q]))
      st = FF_ERROR(FF_ERR_INPUT, "'%s': /task/params/w[%lld][%lld] = %g breaks Dale's law (every weight >= 0, 0 where "
                                  "no connection)",
                    path, (long long)(q / np), (long long)(q % np), got.w[q]);
  for (int64_t q = nw; st == FF_OK && q < net->n_param; ++q)
    if (!isfinite(got.theta[q])) st = FF_ERROR(FF_ERR_INPUT, "'%s': the readout holds a value that is not finite", path);
  if (st == FF_OK) memcpy(net->theta, got.theta, (size_t)net->n_param * sizeof *got.theta);
  ff_task_net_destroy(&got);
  return st;
}
