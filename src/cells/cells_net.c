/* The driven neurons of mode = cells as a network (cells.h, docs/design.md §2.10.2): with [cells] coupling_mV > 0 a
 * model spike of cell i reaches every other cell j through the learned weight w_ij, one step later, while each cell
 * is still driven by its own inferred spikes. A rank steps the neurons of its block (ff_net_blocks) and the spikes of
 * every step cross the ranks through the simulation's exchange (allgather): the same trains on any rank count. */
#include <math.h>
#include <stdlib.h>

#include "flyfit/cells.h"
#include "flyfit/error.h"
#include "flyfit/neuron_models.h"

int ff_cells_network_pass(const FfNet *net, FfExchange *x, const int32_t *counts, int64_t T, double fs_hz,
                          const int8_t *excitatory, int64_t pass, const FfCellsParams *p, const double *wc,
                          double **times, int64_t *len) {
  const int64_t n = net->n_global, rows = net->n_local, i0 = net->new_base, steps = ff_cells_steps(T, fs_hz, p);
  const double dt = p->dt_ms;
  double *v = NULL, *u = NULL, (*par)[FF_IZH_NPARAM] = NULL, **in = NULL;
  int64_t *n_in = NULL, *next = NULL, *cap = NULL, *fired = NULL, *mine = NULL, n_fired = 0;
  int st = FF_MALLOC(v, rows + 1, "membrane potentials");
  FF_CALL(st, FF_MALLOC(u, rows + 1, "recovery variables"));
  FF_CALL(st, FF_MALLOC(par, rows + 1, "neuron parameters"));
  FF_CALL(st, FF_CALLOC(in, rows + 1, "input spikes"));
  FF_CALL(st, FF_CALLOC(n_in, rows + 1, "input counts"));
  FF_CALL(st, FF_CALLOC(next, rows + 1, "next inputs"));
  FF_CALL(st, FF_CALLOC(cap, rows + 1, "train capacities"));
  FF_CALL(st, FF_MALLOC(fired, n, "the spikes of a step"));
  FF_CALL(st, FF_MALLOC(mine, rows + 1, "this rank's spikes of a step"));
  for (int64_t k = 0; k < rows; ++k) times[k] = NULL, len[k] = 0;
  for (int64_t k = 0; st == FF_OK && k < rows; ++k) {
    st = ff_cells_inputs(counts, T, fs_hz, i0 + k, pass, p, &in[k], &n_in[k]);
    ff_cells_neuron_params(excitatory ? excitatory[i0 + k] : 1, par[k]);
    v[k] = -65.0;
    u[k] = 0.2 * -65.0;
  }
  for (int64_t s = 0; s < steps; ++s) {
    const double t_end = (double)(s + 1) * dt;
    int64_t n_new = 0;
    for (int64_t k = 0; st == FF_OK && k < rows; ++k) {
      const int64_t j = i0 + k;
      double y[FF_IZH_NSTATE] = {v[k], u[k]};
      for (; next[k] < n_in[k] && in[k][next[k]] < t_end; ++next[k]) y[FF_IZH_V] += p->drive_mV;
      for (int64_t f = 0; f < n_fired; ++f) { /* the last step's spikes, ascending cells */
        const int64_t i = fired[f];
        if (i != j) y[FF_IZH_V] += (excitatory && !excitatory[i] ? -p->coupling_mV : p->coupling_mV) * wc[i * rows + k];
      }
      if (ff_izhikevich_step(par[k], dt, 0.0, y)) {
        if (len[k] == cap[k]) {
          cap[k] = cap[k] ? 2 * cap[k] : 16;
          st = FF_REALLOC(times[k], cap[k], "model spikes");
          if (st) break;
        }
        times[k][len[k]++] = t_end;
        mine[n_new++] = j;
      }
      v[k] = y[FF_IZH_V];
      u[k] = y[FF_IZH_U];
    }
    st = ff_exchange_ids(x, mine, n_new, st, fired, &n_fired); /* a failed rank stops every rank here */
    if (st) break;
  }
  for (int64_t k = 0; k < rows; ++k) free(in[k]);
  if (st)
    for (int64_t k = 0; k < rows; ++k) FF_FREE(times[k]);
  free(v);
  free(u);
  free(par);
  free(in);
  free(n_in);
  free(next);
  free(cap);
  free(fired);
  free(mine);
  return st;
}
