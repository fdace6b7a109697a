#!/usr/bin/env python3
"""flyfit's STDP pair rule (ff_stdp_pair, through tests/helpers/cells_stdp.c) against Brian2's STDP example
(examples/synapses/STDP.py: event-driven traces Apre, Apost; on_pre Apre += dApre, w = clip(w + Apost, 0, wmax);
on_post Apost += dApost, w = clip(w + Apre, 0, wmax)) on a small network: 6 Poisson inputs onto 4 cells, every
pair a plastic synapse, 2 s at dt 0.1 ms with coincident pre and post spikes planted. The trains are given to
both (SpikeGeneratorGroup in Brian2), so the comparison is of the rule alone. Brian2's nearest-neighbour variant
sets the trace instead of adding to it. Prints TAP lines; every weight must agree within 1e-9.
usage: brian2_stdp.py CELLS_STDP_BINARY"""
import subprocess
import sys

import numpy as np
from brian2 import (SpikeGeneratorGroup, Synapses, Network, ms, second, defaultclock, prefs)

prefs.codegen.target = 'numpy'
DT = 0.1  # ms
defaultclock.dt = DT * ms
N_PRE, N_POST, T_MS = 6, 4, 2000.0


def trains(seed, n, rate_hz):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = rng.poisson(rate_hz * T_MS / 1000.0)
        steps = np.unique(rng.integers(1, int(T_MS / DT) - 1, size=k))
        out.append(steps)
    return out


def run(rule, a_plus, a_minus, tau_plus, tau_minus, w_max, w0, seed):
    pre = trains(seed, N_PRE, 25.0)
    post = trains(seed + 1, N_POST, 20.0)
    # plant coincidences and near-coincidences: post spikes at and just after some pre spikes
    for j in range(N_POST):
        extra = np.concatenate([pre[j % N_PRE][::7], pre[(j + 1) % N_PRE][::9] + 20])
        post[j] = np.unique(np.concatenate([post[j], extra[extra < int(T_MS / DT) - 1]]))
    idx = np.concatenate([np.full(len(s), i) for i, s in enumerate(pre)])
    tms = np.concatenate(pre) * DT
    jdx = np.concatenate([np.full(len(s), j) for j, s in enumerate(post)])
    tpost = np.concatenate(post) * DT
    g_pre = SpikeGeneratorGroup(N_PRE, idx, tms * ms)
    g_post = SpikeGeneratorGroup(N_POST, jdx, tpost * ms)
    op_pre = 'Apre = dApre' if rule == 'nearest' else 'Apre += dApre'
    op_post = 'Apost = dApost' if rule == 'nearest' else 'Apost += dApost'
    S = Synapses(g_pre, g_post,
                 '''w : 1
                    dApre/dt = -Apre / taupre : 1 (event-driven)
                    dApost/dt = -Apost / taupost : 1 (event-driven)''',
                 on_pre=op_pre + '\nw = clip(w + Apost, 0, wmax)',
                 on_post=op_post + '\nw = clip(w + Apre, 0, wmax)',
                 namespace={'taupre': tau_plus * ms, 'taupost': tau_minus * ms, 'dApre': a_plus, 'dApost': a_minus,
                            'wmax': w_max})
    S.connect()
    S.w = w0
    net = Network(g_pre, g_post, S)
    net.run(T_MS * ms + 1 * ms)
    brian = {(int(i), int(j)): float(w) for i, j, w in zip(S.i[:], S.j[:], S.w[:])}
    lines = [f'{rule} {a_plus!r} {a_minus!r} {tau_plus!r} {tau_minus!r} 0 {w_max!r} {w0!r}']
    lines += [f'pre {i} {s * DT!r}' for i, tr in enumerate(pre) for s in tr]
    lines += [f'post {j} {s * DT!r}' for j, tr in enumerate(post) for s in tr]
    out = subprocess.run([sys.argv[1]], input='\n'.join(lines) + '\n', capture_output=True, text=True, check=True)
    ours = {}
    for line in out.stdout.strip().split('\n'):
        i, j, w = line.split()
        ours[(int(i), int(j))] = float(w)
    worst = max(abs(ours[k] - brian[k]) for k in brian)
    moved = max(abs(brian[k] - w0) for k in brian)
    clipped = sum(1 for k in brian if brian[k] in (0.0, w_max))
    coinc = sum(len(np.intersect1d(p, q)) for p in pre for q in post)
    return worst, moved, clipped, coinc, len(brian)


def main():
    ok = True
    cases = [('all', 0.003, -0.0015, 20.0, 60.0, 1.0, 0.5, 11, 'the reference defaults, unclipped'),
             ('all', 0.003, -0.0015, 20.0, 60.0, 0.06, 0.03, 12, 'clipped to [0, 0.06] from 0.03'),
             ('all', 0.01, -0.0105, 20.0, 20.0, 0.01, 0.005, 13, "Brian2's example constants (gmax 0.01)"),
             ('nearest', 0.003, -0.0015, 20.0, 60.0, 1.0, 0.5, 14, 'nearest-neighbour')]
    for rule, ap, am, tp, tm, wmax, w0, seed, what in cases:
        worst, moved, clipped, coinc, n = run(rule, ap, am, tp, tm, wmax, w0, seed)
        good = worst <= 1e-9 and moved > 1e-3 and coinc > 0 and (clipped > 0 or not what.startswith('clipped'))
        ok &= good
        print(f"{'ok' if good else 'not ok'} - STDP {what}: {n} synapses, weights moved up to {moved:.4g}, "
              f"{clipped} at a bound, {coinc} coincident pairs; largest difference from Brian2 {worst:.3g}")
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
