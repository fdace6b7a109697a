#!/usr/bin/python3
"""Prints the spikes of a results.h5 as lines 'trial step neuron' (the file's order)."""
import sys

import h5py

with h5py.File(sys.argv[1], "r") as f:
    g = f["/spikes"]
    out = sys.stdout
    for b, s, n in zip(g["batch"][:], g["step"][:], g["neuron"][:]):
        out.write(f"{b} {s} {n}\n")
