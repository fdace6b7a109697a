/* Distances between two spike trains, the spike-train losses of single-neuron fitting
 * (docs/design.md §2.9.1): Kreuz et al.'s ISI- and SPIKE-distances (time averages of their profiles
 * over [t_start, t_end], with PySpike 0.7's edge corrections and auxiliary spikes, so that the values
 * equal PySpike's), the van Rossum distance (exponential kernel, closed form, no time grid) and the
 * coincidence factor Γ of Jolivet et al. 2008. A train is an array of strictly increasing, finite
 * times inside [t_start, t_end] (any one unit, ms in flyfit); an empty train is allowed. Every
 * function is host code, O(n1 + n2), allocates nothing, and reports bad input as FF_ERR_INPUT. */
#ifndef FLYFIT_SPIKE_DIST_H
#define FLYFIT_SPIKE_DIST_H

#include <stdint.h>

/* Checks one train: n >= 0, times finite, strictly increasing and inside [t_start, t_end] (which must
 * be finite with t_start < t_end). `what` names the train in the message ("train 1"). */
int ff_spike_train_check(const double *t, int64_t n, double t_start, double t_end, const char *what);
/* Checks the index of n trains packed one after another into n_times times: indptr [n + 1] starts at 0, never
 * decreases and stays within n_times. `what` names the index in the message ("'f.h5': /sweeps/spike_indptr"). */
int ff_spike_index_check(const int64_t *indptr, int64_t n, int64_t n_times, const char *what);

/* The ISI-distance: the time average over [t_start, t_end] of |nu1 - nu2| / max(nu1, nu2), nu the
 * interspike interval of each train around t. Before a train's first spike nu is
 * max(first - t_start, second - first), after its last max(t_end - last, last - previous) (a train of
 * one spike: its distance to the edge); an empty train is the two edges as spikes (PySpike's
 * get_spikes_non_empty). 0 for identical trains, in [0, 1]. */
int ff_isi_distance(const double *t1, int64_t n1, const double *t2, int64_t n2, double t_start, double t_end,
                    double *out);

/* The SPIKE-distance (Kreuz et al. 2013, with the edge correction of Kreuz et al. 2015 as PySpike 0.7
 * computes it): the time average of the piecewise-linear profile
 *   S(t) = (s1 isi2 + s2 isi1) / (0.5 (isi1 + isi2)^2),
 * s_k the distance of train k's previous and following spikes to the nearest spike of the other train,
 * interpolated linearly in t between them; auxiliary spikes before the first and after the last spike
 * continue each train's first and last interval (min(t_start, 2 t_0 - t_1), max(t_end, 2 t_n - t_{n-1}))
 * and bound the nearest-spike search. 0 for identical trains, in [0, 1]. */
int ff_spike_distance(const double *t1, int64_t n1, const double *t2, int64_t n2, double t_start, double t_end,
                      double *out);

/* The van Rossum distance with an exponential kernel of time constant tau (> 0):
 *   D^2 = (1/tau) ∫ (f1 - f2)^2 dt over the whole line,  f_k(t) = Σ_i exp(-(t - t_ki)/tau) [t >= t_ki]
 * (van Rossum 2001's normalisation: one spike against none gives D^2 = 1/2, two single spikes at
 * distance d give D^2 = 1 - exp(-d/tau)). The kernel tails run past t_end; the trains need only be
 * sorted and finite (t_start and t_end are not used). Integrated exactly between consecutive spikes of
 * either train, each piece a nonnegative term, so nearly equal trains lose no digits to cancellation. */
int ff_van_rossum(const double *t1, int64_t n1, const double *t2, int64_t n2, double tau, double *out);

/* The coincidence factor of Jolivet et al. 2008 (after Kistler et al. 1997) of a model train against a
 * data (reference) train, with precision delta (> 0) over a recording of T = t_end - t_start:
 *   Γ = (N_coinc - 2 ν Δ N_data) / (½ (N_data + N_model) (1 - 2 ν Δ)),   ν = N_model / T,
 * 2 ν Δ N_data being the coincidences expected of a Poisson train of the model's rate. N_coinc is the
 * largest one-to-one pairing of data and model spikes with |t_data - t_model| <= Δ (a spike takes part
 * in one coincidence at most; when Δ is under half of every interspike interval this is simply the
 * number of data spikes with a model spike within ±Δ). Γ = 1 for identical trains, ~0 for unrelated
 * ones; two empty trains give 1. 2 ν Δ >= 1 (no room for chance) is an input error. n_coinc may be NULL. */
int ff_gamma_factor(const double *data, int64_t n_data, const double *model, int64_t n_model, double t_start,
                    double t_end, double delta, double *gamma, int64_t *n_coinc);

#endif
