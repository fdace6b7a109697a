#!/usr/bin/python3
"""flyfit's spike-train distances (include/flyfit/spike_dist.h) against independent references, on
hand-made and random trains. Called by tests/integration/spike_dist_pyspike.sh:

    spike_dist_ref.py DRIVER      (DRIVER: build/tests/spike_dist_cli)

- ISI- and SPIKE-distance: PySpike's (spk.isi_distance, spk.spike_distance, and the averages of
  spk.isi_profile / spk.spike_profile), to 1e-9 relative;
- van Rossum (PySpike 0.7 has none): (1/tau) times the integral of (f1 - f2)^2, f the sum of causal
  exponentials, by scipy's adaptive quadrature between consecutive spikes and on to infinity;
- the coincidence factor: its formula with the coincidences counted as a maximum bipartite matching by
  augmenting paths (Kuhn's algorithm, not flyfit's greedy scan).
Prints TAP lines, each with the largest relative difference found."""
import subprocess
import sys
import warnings

import numpy as np
import pyspike as spk
from scipy.integrate import IntegrationWarning, quad

TOL = 1e-9
# quad warns when a piece's integrand is 0 or its relative tolerance meets rounding: the answer stands
warnings.simplefilter("ignore", IntegrationWarning)


def cases():
    """(t_start, t_end, tau, delta, train1, train2): hand-made ones, then random ones."""
    out = [
        (0.0, 4.0, 1.0, 0.1, [1.0], [2.0]),
        (0.0, 4.0, 1.0, 0.1, [1.0, 3.0], [1.0]),
        (0.0, 4.0, 2.0, 0.1, [0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 4.0]),
        (0.0, 10.0, 1.5, 0.5, [0.0, 3.0, 10.0], [0.0, 3.0, 10.0]),  # identical, spikes on both edges
        (0.0, 10.0, 1.5, 0.5, [], [2.0, 5.0, 9.0]),  # an empty train
        (0.0, 10.0, 1.5, 0.5, [], [0.0]),  # a spike on the edge against none
        (0.0, 10.0, 3.0, 0.5, [4.0], []),
        (-5.0, 20.0, 2.0, 0.3, [-5.0, 1.0, 2.5, 7.0], [1.0, 2.5, 8.0, 20.0]),  # shared spikes, edges
        (0.0, 100.0, 5.0, 2.0, [10.0, 20.0, 30.0, 40.0], [11.0, 25.0, 39.5]),
        (0.0, 50.0, 4.0, 1.0, [0.5, 1.0, 1.5, 30.0], [49.0, 49.5, 50.0]),  # bursts at opposite ends
        (100.0, 101.0, 0.01, 0.001, [100.1, 100.2, 100.35], [100.15, 100.2, 100.9]),
    ]
    rng = np.random.default_rng(19)
    for k in range(40):
        t0, t1 = (0.0, 1000.0) if k % 2 == 0 else (-200.0, 3000.0)
        r1, r2 = rng.uniform(0.005, 0.08, 2)
        a = np.sort(rng.uniform(t0, t1, rng.poisson(r1 * (t1 - t0))))
        if k % 4 == 1:  # a jittered copy, some spikes dropped
            keep = a[rng.uniform(size=a.size) > 0.2]
            b = np.clip(keep + rng.normal(0, 2.0, keep.size), t0, t1)
        elif k % 4 == 3:  # shares half of its spikes with train 1
            b = np.concatenate([a[::2], rng.uniform(t0, t1, rng.poisson(r2 * (t1 - t0)))])
        else:
            b = rng.uniform(t0, t1, rng.poisson(r2 * (t1 - t0)))
        b = np.unique(np.sort(b))
        a = np.unique(a)
        tau = float(rng.choice([1.0, 10.0, 50.0]))
        delta = 2.0
        out.append((t0, t1, tau, delta, list(a), list(b)))
    return out


def van_rossum(a, b, tau):
    f = lambda t: (np.sum(np.exp(-(t - a[a <= t]) / tau)) - np.sum(np.exp(-(t - b[b <= t]) / tau))) ** 2
    ev = np.unique(np.concatenate([a, b]))
    if ev.size == 0:
        return 0.0
    total = 0.0
    for lo, hi in zip(ev[:-1], ev[1:]):
        # the integrand just after lo: evaluate inside (lo, hi] so that a spike at lo counts
        total += quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
    total += quad(f, ev[-1], np.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
    return np.sqrt(total / tau)


def coincidences(data, model, delta):
    """maximum matching, |t_data - t_model| <= delta, by augmenting paths"""
    match = [-1] * len(model)

    def augment(i, seen):
        for j, m in enumerate(model):
            if abs(data[i] - m) <= delta and not seen[j]:
                seen[j] = True
                if match[j] < 0 or augment(match[j], seen):
                    match[j] = i
                    return True
        return False

    return sum(augment(i, [False] * len(model)) for i in range(len(data)))


def gamma(data, model, t0, t1, delta):
    if len(data) + len(model) == 0:
        return 1.0
    nu = len(model) / (t1 - t0)
    return (coincidences(data, model, delta) - 2 * nu * delta * len(data)) / (
        0.5 * (len(data) + len(model)) * (1 - 2 * nu * delta))


def main():
    driver = sys.argv[1]
    cs = cases()
    text = "".join(
        " ".join(repr(float(x)) for x in (t0, t1, tau, delta, len(a), len(b), *a, *b)) + "\n"
        for t0, t1, tau, delta, a, b in cs)
    run = subprocess.run([driver], input=text, capture_output=True, text=True)
    if run.returncode != 0:
        print("not ok - spike_dist_cli failed: " + run.stderr.strip().replace("\n", " | "))
        return 1
    got = [list(map(float, line.split())) for line in run.stdout.splitlines()]
    if len(got) != len(cs):
        print(f"not ok - spike_dist_cli answered {len(got)} cases of {len(cs)}")
        return 1
    worst = {k: (0.0, None) for k in ("isi", "isi_profile", "spike", "spike_profile", "vanrossum", "gamma")}
    failures = 0
    for n, ((t0, t1, tau, delta, a, b), g) in enumerate(zip(cs, got)):
        s1, s2 = spk.SpikeTrain(a, (t0, t1)), spk.SpikeTrain(b, (t0, t1))
        a_np, b_np = np.array(a, dtype=float), np.array(b, dtype=float)
        refs = {
            "isi": (g[0], spk.isi_distance(s1, s2)),
            "isi_profile": (g[0], spk.isi_profile(s1, s2).avrg()),
            "spike": (g[1], spk.spike_distance(s1, s2)),
            "spike_profile": (g[1], spk.spike_profile(s1, s2).avrg()),
            "vanrossum": (g[2], van_rossum(a_np, b_np, tau)),
            "gamma": (g[3], gamma(a, b, t0, t1, delta)),
        }
        for k, (mine, ref) in refs.items():
            rel = abs(mine - ref) / abs(ref) if ref != 0 else abs(mine - ref)
            if rel > worst[k][0]:
                worst[k] = (rel, n)
            if not rel <= TOL and not abs(mine - ref) <= 1e-15:
                failures += 1
                print(f"# case {n} ({len(a)} and {len(b)} spikes): {k}: flyfit {mine!r}, reference {ref!r}")
    names = {"isi": "ISI-distance = PySpike's isi_distance", "isi_profile": "ISI-distance = PySpike's isi_profile average",
             "spike": "SPIKE-distance = PySpike's spike_distance",
             "spike_profile": "SPIKE-distance = PySpike's spike_profile average",
             "vanrossum": "van Rossum distance = the quadrature of (f1 - f2)^2 / tau",
             "gamma": "coincidence factor = its formula on a maximum matching"}
    for k, what in names.items():
        bad = worst[k][0] > TOL
        print(("not ok - " if bad else "ok - ") + f"{what} on {len(cs)} pairs of trains to {TOL:g} relative "
              f"(largest difference {worst[k][0]:.2g}" + (f", case {worst[k][1]})" if worst[k][1] is not None else ")"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
