#!/usr/bin/env python3
"""Writes a single-neuron recording (flyfit-synth --neuron's HDF5) as CSV files, for tests of the CSV reader:
PREFIX_voltage.csv, PREFIX_current.csv, PREFIX_spikes.csv. --layout columns: one sweep per column, a first
column t_ms; --layout rows: one sweep per line after pandas' unnamed index column, as brian2modelfitting's
example files. Values with repr(), so they read back to the same doubles."""
import argparse
import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("h5")
ap.add_argument("prefix")
ap.add_argument("--layout", choices=["columns", "rows"], default="columns")
a = ap.parse_args()
with h5py.File(a.h5, "r") as f:
    dt = float(f.attrs["dt_ms"])
    v = f["/sweeps/voltage"][()]
    i = f["/sweeps/current"][()]
    ip = f["/sweeps/spike_indptr"][()]
    st = f["/sweeps/spike_times"][()]
S, N = v.shape
trains = [st[ip[s]:ip[s + 1]] for s in range(S)]


def write_traces(path, x):
    with open(path, "w") as out:
        if a.layout == "columns":
            out.write("t_ms," + ",".join("sweep%d" % s for s in range(S)) + "\n")
            for k in range(N):
                out.write(repr(k * dt) + "," + ",".join(repr(float(x[s, k])) for s in range(S)) + "\n")
        else:
            out.write("," + ",".join(str(k) for k in range(N)) + "\n")
            for s in range(S):
                out.write(str(s) + "," + ",".join(repr(float(x[s, k])) for k in range(N)) + "\n")


write_traces(a.prefix + "_voltage.csv", v)
write_traces(a.prefix + "_current.csv", i)
with open(a.prefix + "_spikes.csv", "w") as out:
    if a.layout == "columns":
        out.write(",".join("sweep%d" % s for s in range(S)) + "\n")
        for k in range(max(len(t) for t in trains)):
            out.write(",".join(repr(float(t[k])) if k < len(t) else "" for t in trains) + "\n")
    else:
        out.write("," + ",".join(str(k) for k in range(max(len(t) for t in trains))) + "\n")
        for s, t in enumerate(trains):
            out.write(str(s) + "," + ",".join(repr(float(x)) for x in t) + "\n")
