/* The pair-based STDP rule of mode = cells (cells.h, docs/design.md §2.10): one synapse over two spike trains,
 * event-driven exactly as Brian2's STDP example steps it (traces decayed to each event, the pre spike of a
 * simultaneous pair first, the weight clipped after every change). All-to-all or nearest-neighbour. */
#include <math.h>

#include "flyfit/cells.h"

void ff_stdp_defaults(FfStdp *p) {
  FfCellsParams c;
  ff_cells_params_defaults(&c);
  *p = c.stdp;
}

static double clip(double w, double lo, double hi) { return w < lo ? lo : w > hi ? hi : w; }

double ff_stdp_pair(const FfStdp *p, const double *pre, int64_t n_pre, const double *post, int64_t n_post, double w0) {
  const int nearest = p->rule == FF_STDP_NEAREST;
  double w = w0, apre = 0.0, apost = 0.0, t_last = 0.0;
  int64_t i = 0, j = 0;
  while (i < n_pre || j < n_post) {
    const int is_pre = j >= n_post || (i < n_pre && pre[i] <= post[j]);
    const double t = is_pre ? pre[i++] : post[j++];
    /* both traces decay to t, as Brian2 brings every event-driven variable up to date at an event */
    apre *= exp(-(t - t_last) / p->tau_plus_ms);
    apost *= exp(-(t - t_last) / p->tau_minus_ms);
    t_last = t;
    if (is_pre) {
      apre = nearest ? p->a_plus : apre + p->a_plus;
      w = clip(w + apost, p->w_min, p->w_max);
    } else {
      apost = nearest ? p->a_minus : apost + p->a_minus;
      w = clip(w + apre, p->w_min, p->w_max);
    }
  }
  return w;
}
