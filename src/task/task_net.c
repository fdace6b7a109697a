/* mode = task, the network's parameters: the connections of [task] conn_method, the initial weights from the seed
 * (FF_STREAM_TASK_INIT keyed by row, column and matrix: the same on every rank), and Dale's law. Weights are stored
 * non-negative; a column's population (ff_task_col_exc) gives the sign, through the reversal potential its conductance
 * drives towards (docs/design.md §2.8).
 * */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flyfit/error.h"
#include "flyfit/rng.h"
#include "flyfit/task.h"

void ff_task_net_destroy(FfTaskNet *net) {
  FF_FREE(net->theta);
  FF_FREE(net->mask);
  net->w = net->w_out = net->b_out = NULL;
}

static int net_alloc(int32_t n, int32_t n_exc, FfTaskNet *net) {
  memset(net, 0, sizeof *net);
  net->n = n;
  net->n_exc = n_exc;
  net->n_pre = FF_TASK_N_IN + n;
  const int64_t nw = (int64_t)n * net->n_pre;
  net->n_param = nw + (int64_t)FF_TASK_N_OUT * n_exc + FF_TASK_N_OUT;
  int st = FF_CALLOC(net->theta, net->n_param, "task network parameters");
  FF_CALL(st, FF_CALLOC(net->mask, nw, "task network connections"));
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
  FF_TRY(net_alloc(from->n, from->n_exc, to));
  memcpy(to->theta, from->theta, (size_t)from->n_param * sizeof *from->theta);
  memcpy(to->mask, from->mask, (size_t)from->n * (size_t)from->n_pre);
  return FF_OK;
}

/* Position of neuron i on the unit ring: each population spread evenly around it. */
static double ring_pos(int32_t i, int32_t n, int32_t n_exc) {
  return i < n_exc ? (double)i / n_exc : (double)(i - n_exc) / (n - n_exc);
}

/* Whether recurrent connection j -> i exists (draw: a word of (i, j, 0)). */
static int connected(const FfTaskSpec *s, int32_t i, int32_t j, uint32_t draw) {
  if (i == j) return 0; /* no autapses: the diagonal Jacobian of D-RTRL then holds no spike path */
  switch (s->conn) {
  case FF_TASK_CONN_RAND:
    return draw < ff_bernoulli_threshold(s->p_rand);
  case FF_TASK_CONN_GAUSSIAN: {
    double d = fabs(ring_pos(i, s->n_rec, s->n_exc) - ring_pos(j, s->n_rec, s->n_exc));
    if (d > 0.5) d = 1.0 - d;
    return draw < ff_bernoulli_threshold(exp(-d * d / (2.0 * s->sigma_gauss * s->sigma_gauss)));
  }
  default:
    return 1;
  }
}

int ff_task_net_init(const FfTaskSpec *s, uint64_t seed, FfTaskNet *net) {
  FF_TRY(net_alloc(s->n_rec, s->n_exc, net));
  const int32_t n = net->n, np = net->n_pre;
  uint32_t r[4];
  for (int32_t i = 0; i < n; ++i) {
    for (int32_t c = 0; c < np; ++c) {
      ff_rng4(seed, FF_STREAM_TASK_INIT, (uint32_t)i, (uint32_t)c, 0, r);
      const int32_t j = c - FF_TASK_N_IN;
      if (j >= 0 && !connected(s, i, j, r[2])) continue;
      net->mask[(int64_t)i * np + c] = 1;
      const double scale = j < 0          ? s->w_in_scale / sqrt((double)FF_TASK_N_IN)
                           : j < s->n_exc ? s->w_rec_scale / sqrt((double)n)
                                          : s->w_ei_ratio * s->w_rec_scale / sqrt((double)n);
      net->w[(int64_t)i * np + c] = fabs(ff_normal(r[0], r[1])) * scale;
    }
  }
  for (int32_t k = 0; k < FF_TASK_N_OUT; ++k)
    for (int32_t j = 0; j < net->n_exc; ++j) {
      ff_rng4(seed, FF_STREAM_TASK_INIT, (uint32_t)k, (uint32_t)j, 1, r);
      net->w_out[(int64_t)k * net->n_exc + j] = ff_normal(r[0], r[1]) / sqrt((double)net->n_exc);
    }
  return FF_OK;
}

void ff_task_net_project(FfTaskNet *net) {
  const int64_t nw = (int64_t)net->n * net->n_pre;
  for (int64_t q = 0; q < nw; ++q) net->w[q] = net->mask[q] && net->w[q] > 0.0 ? net->w[q] : 0.0;
}
