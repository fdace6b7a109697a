#!/usr/bin/python3
"""The whole-brain LIF model of Shiu et al. (philshiu/Drosophila_brain_model, model.py) in Brian2,
built the way that code builds it, with the input spikes of an input file delivered as
'v += w_syn * f_poi' (what its PoissonInput does) and no refractory period for the driven
neurons. Prints the spikes as 'step neuron' lines.
   brian2_shiu.py NEURONS.csv CONNECTIVITY.csv INPUT.txt DURATION_MS"""
import sys

import numpy as np
from brian2 import (NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, Network, defaultclock, mV, ms, prefs)

prefs.codegen.target = "numpy"
neurons, connectivity, inputs, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
params = {"v_0": -52 * mV, "v_rst": -52 * mV, "v_th": -45 * mV, "t_mbr": 20 * ms, "tau": 5 * ms,
          "t_rfc": 2.2 * ms, "t_dly": 1.8 * ms, "w_syn": 0.275 * mV, "f_poi": 250}
n = sum(1 for _ in open(neurons)) - 1
head = open(connectivity).readline().strip().split(",")
table = np.loadtxt(connectivity, delimiter=",", skiprows=1, dtype=np.int64)
col = {name: k for k, name in enumerate(head)}
pre, post = table[:, col["Presynaptic_Index"]], table[:, col["Postsynaptic_Index"]]
signed = table[:, col["Excitatory x Connectivity"]]

defaultclock.dt = 0.1 * ms
eqs = """
dv/dt = (v_0 - v + g) / t_mbr : volt (unless refractory)
dg/dt = -g / tau               : volt (unless refractory)
rfc                            : second
"""
neu = NeuronGroup(n, eqs, method="linear", threshold="v > v_th", reset="v = v_rst; g = 0 * mV",
                  refractory="rfc", namespace=params)
neu.v = params["v_0"]
neu.g = 0 * mV
neu.rfc = params["t_rfc"]
syn = Synapses(neu, neu, "w : volt", on_pre="g += w", delay=params["t_dly"])
syn.connect(i=pre, j=post)
syn.w = signed * params["w_syn"]
spk = np.loadtxt(inputs, ndmin=2)
idx, times = spk[:, 0].astype(int), spk[:, 1]
order = np.lexsort((idx, times))
gen = SpikeGeneratorGroup(n, idx[order], times[order] * ms)
drive = Synapses(gen, neu, on_pre="v_post += w_syn * f_poi", namespace=params)
drive.connect(j="i")
neu.rfc[np.unique(idx)] = 0 * ms
mon = SpikeMonitor(neu)
net = Network(neu, syn, gen, drive, mon)
net.run(duration * ms)
steps = np.round(np.asarray(mon.t / ms) / 0.1).astype(int)
for s, i in sorted(zip(steps, np.asarray(mon.i))):
    print(s, i)
