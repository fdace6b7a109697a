#!/usr/bin/python3
"""Writes a small recording in the layout of the Mann/Turner/Clandinin resting-state files, for
tests/integration/activity_import.sh: member 'areas' (region names, region 0 the background) and
member 'traces' [regions, frames] of raw fluorescence.

Each region's trace is a baseline times (1 + calcium + slow drift) plus noise, the calcium made
from sparse spikes with the kernel of a 0.8 s indicator at 1.2 Hz, so that every preprocessing
step has something to do. Options damage the file in the ways the test needs.
Usage: mkfly.py OUT.npz [--names bg,AL_L,...] [--frames 300] [--seed 1] [--compressed] [--fortran]
                [--float32] [--nan REGION:FRAME] [--constant REGION] [--transpose] [--object-names]"""
import argparse

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--names", default="bg,AL_L,GNG,LH_L,MB_CA_L,SAD")
ap.add_argument("--frames", type=int, default=300)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--compressed", action="store_true", help="np.savez_compressed instead of np.savez")
ap.add_argument("--fortran", action="store_true", help="store traces in Fortran order")
ap.add_argument("--float32", action="store_true", help="store traces as float32")
ap.add_argument("--nan", help="REGION:FRAME that holds NaN (REGION counts the background as 0)")
ap.add_argument("--constant", type=int, help="region whose trace is constant")
ap.add_argument("--transpose", action="store_true", help="store traces [frames, regions]")
ap.add_argument("--object-names", action="store_true", help="store names as a pickled object array")
a = ap.parse_args()

names = a.names.split(",")
P, T = len(names), a.frames
rng = np.random.default_rng(a.seed)
gamma = np.exp(-1 / (0.8 * 1.2))
spikes = (rng.random((P, T)) < 0.06) * rng.uniform(0.2, 1.0, (P, T))
calcium = np.zeros((P, T))
for t in range(T):
    calcium[:, t] = (gamma * calcium[:, t - 1] if t else 0) + spikes[:, t]
drift = 0.1 * np.sin(2 * np.pi * np.arange(T) / (T * 1.5) + rng.uniform(0, 6, (P, 1)))
baseline = rng.uniform(200, 600, (P, 1))
traces = baseline * (1 + 0.4 * calcium + drift) + rng.normal(0, 2, (P, T))
if a.constant is not None:
    traces[a.constant] = 321.0
if a.nan:
    r, f = map(int, a.nan.split(":"))
    traces[r, f] = np.nan
if a.float32:
    traces = traces.astype(np.float32)
if a.transpose:
    traces = traces.T.copy()
if a.fortran:
    traces = np.asfortranarray(traces)
areas = np.array(names, dtype=object) if a.object_names else np.array(names)
(np.savez_compressed if a.compressed else np.savez)(a.out, areas=areas, traces=traces)
