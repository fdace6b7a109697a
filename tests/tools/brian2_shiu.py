#!/usr/bin/python3
"""Runs the Brian2 model of Shiu et al. (tools/shiu_brian2.py) on a network in the Shiu file
formats, with the input spikes of an input file delivered as 'v += w_syn * f_poi' (what its
PoissonInput does) and no refractory period for the driven neurons, as in their code. Prints the
spikes as 'step neuron' lines.
   brian2_shiu.py NEURONS.csv CONNECTIVITY.csv INPUT.txt DURATION_MS"""
import os
import sys

import numpy as np
from brian2 import Network, SpikeGeneratorGroup, SpikeMonitor, Synapses, defaultclock, ms, prefs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from shiu_brian2 import PARAMS, make_network  # noqa: E402

prefs.codegen.target = "numpy"
neurons, connectivity, inputs, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
n = sum(1 for _ in open(neurons)) - 1
head = open(connectivity).readline().strip().split(",")
table = np.loadtxt(connectivity, delimiter=",", skiprows=1, dtype=np.int64)
col = {name: k for k, name in enumerate(head)}

defaultclock.dt = 0.1 * ms
neu, syn = make_network(n, table[:, col["Presynaptic_Index"]], table[:, col["Postsynaptic_Index"]],
                        table[:, col["Excitatory x Connectivity"]])
spk = np.loadtxt(inputs, ndmin=2)
idx, times = spk[:, 0].astype(int), spk[:, 1]
order = np.lexsort((idx, times))
gen = SpikeGeneratorGroup(n, idx[order], times[order] * ms)
drive = Synapses(gen, neu, on_pre="v_post += w_syn * f_poi", namespace=PARAMS)
drive.connect(j="i")
neu.rfc[np.unique(idx)] = 0 * ms
mon = SpikeMonitor(neu)
net = Network(neu, syn, gen, drive, mon)
net.run(duration * ms)
steps = np.round(np.asarray(mon.t / ms) / 0.1).astype(int)
for s, i in sorted(zip(steps, np.asarray(mon.i))):
    print(s, i)
