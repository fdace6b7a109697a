#!/usr/bin/python3
"""Writes a random network in the Shiu et al. file formats, for the Brian2 comparison:
   mkshiu.py DIR N SEED   ->  DIR/neurons.csv, DIR/connectivity.csv, DIR/input.txt
neurons.csv: ',Completed' then 'ROOTID,True' rows. connectivity.csv: a pandas-style unnamed index
column, then Presynaptic_ID, Postsynaptic_ID, Presynaptic_Index, Postsynaptic_Index, Connectivity,
Excitatory, Excitatory x Connectivity. input.txt: 'neuron time_ms' input spikes (mid-step times)."""
import sys

import numpy as np

out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
roots = 720575940600000000 + np.sort(rng.choice(10**9, size=n, replace=False))
with open(f"{out}/neurons.csv", "w") as f:
    f.write(",Completed\n")
    for r in roots:
        f.write(f"{r},True\n")
rows = []
for i in range(n):
    sign = -1 if rng.random() < 0.27 else 1
    # heavy-tailed counts so that some connections alone can make their target fire
    for j in rng.choice(np.delete(np.arange(n), i), size=int(rng.integers(2, 25)), replace=False):
        rows.append((i, int(j), int(np.ceil(rng.pareto(1.2) * 8)) + 1, sign))
rng.shuffle(rows)
with open(f"{out}/connectivity.csv", "w") as f:
    f.write(",Presynaptic_ID,Postsynaptic_ID,Presynaptic_Index,Postsynaptic_Index,Connectivity,Excitatory,"
            "Excitatory x Connectivity\n")
    for k, (i, j, c, s) in enumerate(rows):
        f.write(f"{k},{roots[i]},{roots[j]},{i},{j},{c},{s},{c * s}\n")
# input spikes to 12 neurons, ~150 Hz for 300 ms, at mid-step times so no rounding question arises
with open(f"{out}/input.txt", "w") as f:
    for i in range(12):
        steps = np.sort(rng.choice(3000, size=45, replace=False))
        for s in steps:
            f.write(f"{i} {(s + 0.5) * 0.1:.2f}\n")
