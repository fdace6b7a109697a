#!/usr/bin/python3
"""Checks flyfit's recorded state and spikes on tiny networks against hand-derived answers.

Called by tests/integration/sim_closed_form.sh with the results of three runs:
  shiu.h5   neurons 0->1 (3 synapses), 0->2 (200), driven by input spikes to 0 at steps 10 and 59
  bs.h5     the same wiring with the brainscale preset (w_syn 0.02 mV; 0->2 has 500 synapses),
            input spikes to 0 at steps 10 and 40
  chain.h5  shiu chain 0->1->2->3, 200 synapses each, one input spike to 0 at step 10
The expected values come from the continuous solution of dv/dt = (v_rest - v + g)/tau_m,
dg/dt = -g/tau_syn (shiu), or from iterating the brainscale update by hand; none of flyfit's
tables are used. Prints TAP lines."""
import math
import sys

import h5py
import numpy as np

failures = 0


def check(ok, what):
    global failures
    print(("ok - " if ok else "not ok - ") + what)
    failures += not ok


def load(path):
    f = h5py.File(path, "r")
    spikes = {}
    for b, s, n in zip(f["/spikes/batch"][:], f["/spikes/step"][:], f["/spikes/neuron"][:]):
        if b == 0:
            spikes.setdefault(int(n), []).append(int(s))
    return f, spikes


h, tm, ts, D = 0.1, 20.0, 5.0, 18


def u_shiu(u0, g0, j):
    """u = v - v_rest, j steps after (u0, g0), exact continuous solution."""
    t = j * h
    K = g0 * ts / (ts - tm)
    return (u0 - K) * math.exp(-t / tm) + K * math.exp(-t / ts)


# ---- shiu: single response, exact arrival, refractoriness -----------------------------------
f, spk = load(sys.argv[1])  # runs 80 ms
neurons = list(f["/state/neuron"][:])
v = f["/state/v_mV"][0]
g = f["/state/g_mV"][0]
c1, c2 = neurons.index(1), neurons.index(2)
check(spk.get(0) == [11, 60], f"shiu: input spikes at steps 10 and 59 make neuron 0 fire at 11 and 60 (got {spk.get(0)})")
w1 = 0.275 * 3
a = 11 + D
check(np.all(v[:a, c1] == -52.0) and np.all(g[:a, c1] == 0.0), "shiu: neuron 1 rests exactly until the spike arrives")
check(g[a, c1] == w1 and v[a, c1] == -52.0, f"shiu: the spike of step 11 arrives exactly at step 11 + D = {a} (g = {g[a, c1]})")
quiet = 60 + D - a  # until the second input arrives
err = max(abs(v[a + j, c1] - (-52.0 + u_shiu(0.0, w1, j))) for j in range(1, quiet))
check(err < 1e-12, f"shiu: PSP of neuron 1 follows the closed form (max error {err:.2e} mV)")
errg = max(abs(g[a + j, c1] - w1 * math.exp(-j * h / ts)) for j in range(1, quiet))
check(errg < 1e-13, f"shiu: g of neuron 1 decays as exp(-t/tau_syn) (max error {errg:.2e} mV)")
# neuron 2: 200 synapses, first spike where the closed form first exceeds threshold
w2 = 0.275 * 200
j2 = next(j for j in range(1, 1000) if u_shiu(0.0, w2, j) > 7.0)
s2 = a + j2
check(spk.get(2, [None])[0] == s2, f"shiu: neuron 2 fires at step {s2} as the closed form says (got {spk.get(2)})")
R = 22
a2 = 60 + D  # the second input arrives during neuron 2's refractory period
check(s2 < a2 < s2 + R, "shiu: the second input arrives during the refractory period (test design)")
check(np.all(v[s2:s2 + R, c2] == -52.0), "shiu: v stays at v_reset for the spike step and R-1 = 21 refractory steps")
check(np.all(g[s2:s2 + R + 100, c2] == 0.0) and np.all(v[s2:s2 + R + 100, c2] == -52.0),
      "shiu: g is reset and input arriving while refractory is lost (Brian2's conditional write)")
check(spk.get(2) == [s2], f"shiu: neuron 2 fires once (got {spk.get(2)})")

# ---- brainscale ------------------------------------------------------------------------------
f, spk = load(sys.argv[2])
neurons = list(f["/state/neuron"][:])
v = f["/state/v_mV"][0]
g = f["/state/g_mV"][0]
c1, c2 = neurons.index(1), neurons.index(2)
hb, Db, Rb = 0.2, 9, 25
em, es = math.exp(-hb / 20.0), math.exp(-hb / 5.0)
check(spk.get(0) == [10, 40], f"brainscale: input at steps 10 and 40 fires neuron 0 in the same step (got {spk.get(0)})")
wb1 = 0.02 * 3
a = 10 + Db
check(np.all(v[:a, c1] == 0.0) and np.all(g[:a, c1] == 0.0), "brainscale: neuron 1 rests until the spike arrives")
check(g[a, c1] == wb1, f"brainscale: the spike of step 10 arrives at step 10 + D = {a}")
uu, gg, err = 0.0, 0.0, 0.0
for n in range(a, 40 + Db):
    gg = es * gg + (wb1 if n == a else 0.0)
    uu = em * uu + (1.0 - em) * gg
    err = max(err, abs(v[n, c1] - uu), abs(g[n, c1] - gg))
check(err < 1e-13, f"brainscale: neuron 1 follows the step-by-step update (max error {err:.2e} mV)")
wb2 = 0.02 * 500
uu, gg, n, s2 = 0.0, 0.0, a, None
while s2 is None and n < a + 500:
    gg = es * gg + (wb2 if n == a else 0.0)
    uu = em * uu + (1.0 - em) * gg
    if uu > 1.0:
        s2 = n
    n += 1
check(s2 is not None and spk.get(2, [None])[0] == s2, f"brainscale: neuron 2 fires at step {s2} (got {spk.get(2)})")
a2 = 40 + Db
check(s2 < a2 < s2 + Rb, "brainscale: the second input arrives during the refractory period (test design)")
check(np.all(v[s2:s2 + Rb + 40, c2] == 0.0) and np.all(g[s2:s2 + Rb + 40, c2] == 0.0),
      "brainscale: v and g are held at reset while refractory and the input arriving then is dropped")
check(spk.get(2) == [s2], "brainscale: neuron 2 fires once")

# ---- shiu chain ------------------------------------------------------------------------------
f, spk = load(sys.argv[3])
wc = 0.275 * 200
jc = next(j for j in range(1, 1000) if u_shiu(0.0, wc, j) > 7.0)
want = {0: [11], 1: [11 + D + jc], 2: [11 + 2 * (D + jc)], 3: [11 + 3 * (D + jc)]}
check(spk == want, f"shiu chain: spikes at {want} (got {spk})")
sys.exit(1 if failures else 0)
