#!/usr/bin/python3
"""The reference for flyfit's speed: the Brian2 model of Shiu et al. (tools/shiu_brian2.py) in
Brian2's C++ standalone mode, on a flyfit connectome.h5 with the same stimulus as the flyfit
benchmark: Poisson input as in their code (PoissonInput N=1, weight w_syn * f_poi, no refractory
period for the driven neurons).

usage: brian2_standalone.py CONNECTOME.h5 NEURONS.txt RATE_HZ DURATION_MS THREADS WORKDIR
NEURONS.txt: one neuron index or root id per line ('#' comments allowed).
Prints one line: 'brian2_standalone threads=T build_s=... run_s=... spikes=...', where run_s is
Brian2's own timing of the simulation loop (results/last_run_info.txt), without compilation or
loading."""
import os
import sys
import time

import h5py
import numpy as np
from brian2 import Hz, Network, PoissonInput, SpikeMonitor, defaultclock, device, ms, prefs, set_device

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from shiu_brian2 import PARAMS, make_network  # noqa: E402

path, neurons_file, rate, duration, threads, workdir = sys.argv[1:7]
with h5py.File(path, "r") as f:
    roots = f["/neurons/root_id"][:]
    indptr = f["/connections/indptr"][:]
    post = f["/connections/post"][:]
    count = f["/connections/count"][:]
n = len(roots)
pre = np.repeat(np.arange(n), np.diff(indptr))
ids = [int(line.split("#")[0]) for line in open(neurons_file) if line.split("#")[0].strip()]
where = {int(r): i for i, r in enumerate(roots)}
driven = sorted(x if x < n else where[x] for x in ids)

set_device("cpp_standalone", directory=workdir, build_on_run=False)
if int(threads) > 1:
    prefs.devices.cpp_standalone.openmp_threads = int(threads)
defaultclock.dt = 0.1 * ms
neu, syn = make_network(n, pre, post, count)
pois = [PoissonInput(neu[i:i + 1], "v", N=1, rate=float(rate) * Hz, weight=PARAMS["w_syn"] * PARAMS["f_poi"])
        for i in driven]
for i in driven:
    neu.rfc[i] = 0 * ms
mon = SpikeMonitor(neu)
net = Network(neu, syn, mon, *pois)  # as Shiu et al. do: the Poisson inputs must be listed
net.run(float(duration) * ms)
t0 = time.time()
device.build(directory=workdir, compile=True, run=True)
build_s = time.time() - t0
print(f"brian2_standalone threads={threads} build_s={build_s:.1f} run_s={device._last_run_time:.3f} "
      f"spikes={mon.num_spikes}")
