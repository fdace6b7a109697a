#!/usr/bin/python3
"""flyfit's Hodgkin-Huxley neuron (include/flyfit/neuron_models.h, through tests/helpers/neuron_sim.c)
against Brian2 running the model of brian2modelfitting's HH examples: the same equations, constants
(area 20,000 um^2, C = 1 uF/cm^2 x area, El -65, EK -90, ENa 50 mV), method='exponential_euler',
dt = 0.01 ms, v starting at El with m = h = n = 0, threshold and refractoriness 'm > 0.5', and issue
19's planted gL, gNa, gK, VT. Five sweeps, one current step each (0.05 ... 0.8 nA from 10 to 80 ms of
100 ms). Called by tests/integration/neuron_brian2.sh:

    brian2_hh.py DRIVER       (DRIVER: build/tests/neuron_sim)

Prints TAP lines: v within 1e-6 mV at every step of every sweep, and the same spikes."""
import subprocess
import sys

import numpy as np
from brian2 import (NeuronGroup, SpikeMonitor, StateMonitor, TimedArray, Network, amp, defaultclock, farad, ms,
                    mV, prefs, siemens)

prefs.codegen.target = "numpy"  # no compiler run: the test stays a few seconds
DT = 0.01
N_STEPS = 10000
AMPS = [0.05, 0.1, 0.2, 0.4, 0.8]  # nA
PARAMS = {"gL": 0.008364, "gNa": 24.698, "gK": 5.815, "VT": -55.31}  # uS, mV
TOL = 1e-6  # mV


def currents():
    t = np.arange(N_STEPS) * DT
    return [np.where((t >= 10) & (t < 80), a, 0.0) for a in AMPS]


def brian2_run(cur):
    defaultclock.dt = DT * ms
    eqs = """
    dv/dt = (gl*(El-v) - g_na*(m*m*m)*h*(v-ENa) - g_kd*(n*n*n*n)*(v-EK) + I)/Cm : volt
    dm/dt = 0.32*(mV**-1)*(13.*mV-v+VT)/
        (exp((13.*mV-v+VT)/(4.*mV))-1.)/ms*(1-m)-0.28*(mV**-1)*(v-VT-40.*mV)/
        (exp((v-VT-40.*mV)/(5.*mV))-1.)/ms*m : 1
    dn/dt = 0.032*(mV**-1)*(15.*mV-v+VT)/
        (exp((15.*mV-v+VT)/(5.*mV))-1.)/ms*(1.-n)-.5*exp((10.*mV-v+VT)/(40.*mV))/ms*n : 1
    dh/dt = 0.128*exp((17.*mV-v+VT)/(18.*mV))/ms*(1.-h)-4./(1+exp((40.*mV-v+VT)/(5.*mV)))/ms*h : 1
    I = I_in(t, i) : amp
    g_na : siemens (constant)
    g_kd : siemens (constant)
    gl   : siemens (constant)
    VT   : volt (constant)
    """
    I_in = TimedArray(np.array(cur).T * 1e-9 * amp, dt=DT * ms)
    area_cm2 = 20000e-8
    ns = {"I_in": I_in, "El": -65 * mV, "EK": -90 * mV, "ENa": 50 * mV, "Cm": 1e-6 * area_cm2 * farad}
    G = NeuronGroup(len(cur), eqs, method="exponential_euler", threshold="m > 0.5", refractory="m > 0.5",
                    namespace=ns)
    G.v = -65 * mV
    G.gl = PARAMS["gL"] * 1e-6 * siemens
    G.g_na = PARAMS["gNa"] * 1e-6 * siemens
    G.g_kd = PARAMS["gK"] * 1e-6 * siemens
    G.VT = PARAMS["VT"] * mV
    M = StateMonitor(G, "v", record=True)
    S = SpikeMonitor(G)
    net = Network(G, M, S)
    net.run(N_STEPS * DT * ms)
    v = np.asarray(M.v / mV)
    spikes = [np.sort(np.asarray(S.t[S.i == k] / ms)) for k in range(len(cur))]
    return v, spikes


def main():
    driver = sys.argv[1]
    cur = currents()
    v_ref, spikes_ref = brian2_run(cur)
    args = [driver, "hh", repr(DT)] + [f"{k}={v!r}" for k, v in PARAMS.items()]
    worst, ok_spikes, total = 0.0, True, 0
    for k, c in enumerate(cur):
        run = subprocess.run(args, input="\n".join(repr(x) for x in c) + "\n", capture_output=True, text=True)
        if run.returncode != 0:
            print(f"not ok - sweep {k}: neuron_sim failed: {run.stderr.strip()}")
            return 1
        out = np.array([list(map(float, line.split())) for line in run.stdout.splitlines()])
        v, spiked = out[:, 0], out[:, 1]
        d = np.max(np.abs(v - v_ref[k]))
        worst = max(worst, d)
        # flyfit dates a spike at the end of its step, Brian2 at the start: one dt apart
        mine = (np.nonzero(spiked)[0]) * DT
        same = len(mine) == len(spikes_ref[k]) and np.allclose(mine, spikes_ref[k], atol=1e-9)
        ok_spikes &= bool(same)
        total += len(mine)
        print(f"# sweep {k} ({AMPS[k]} nA): max |v - v_Brian2| = {d:.3g} mV, {len(mine)} spikes "
              f"(Brian2 {len(spikes_ref[k])})")
    print(("ok - " if worst <= TOL else "not ok - ") +
          f"HH: v equals Brian2's exponential Euler within {TOL:g} mV on 5 current steps x {N_STEPS} steps "
          f"(largest difference {worst:.3g} mV)")
    print(("ok - " if ok_spikes and total > 0 else "not ok - ") +
          f"HH: the same {total} spikes as Brian2 (m > 0.5) in the 5 sweeps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
