#!/usr/bin/python3
"""Fake runs of `make evaluate` for tests/integration/evaluate_table.sh: for each seed, DIR/seed-S/brain/
results.h5 and DIR/seed-S/shuffled/results.h5 in the layout tools/evaluate-table reads (/predict/recorded,
/predict/forecast/MODEL/PROTOCOL, /predict/metrics/MODEL/PROTOCOL/test, /predict attribute test_start).

Every forecast is the recording plus independent Gaussian noise of a known sd per (model, protocol), so
the expected per-frame squared error of model X is sd_X^2 and the true mean difference of chain against
X is sd_chain^2 - sd_X^2. `chain_gru` is made equal to `chain` (a zero difference). The other metric
attributes are drawn at random and stored. As flyfit does, every forecast is NaN in frame 0, and a free
run's forecasts are NaN before the warm-up. DIR/truth.json holds the sds and the true differences.
Usage: mkevaluate.py DIR [--seeds 3] [--frames 400] [--test-start 280] [--neuropils 12]"""
import argparse
import json
import os

import h5py
import numpy as np

SD = {  # (onestep, free)
    "chain": (2.0, 3.0), "untrained": (6.0, 7.0), "shuffled": (3.4, 3.9), "gru_only": (2.8, 3.8),
    "snn_only": (5.0, 6.0), "persistence": (3.0, 4.5), "mean": (4.0, 3.3), "median": (4.2, 3.5),
    "var1": (2.5, 3.6), "var2": (2.6, 3.7),
}
PROTOCOLS = ["onestep", "free"]
WARMUP = 50

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--seeds", type=int, default=3)
ap.add_argument("--frames", type=int, default=400)
ap.add_argument("--test-start", type=int, default=280)
ap.add_argument("--neuropils", type=int, default=12)
a = ap.parse_args()
T, P, t0 = a.frames, a.neuropils, a.test_start


def write(path, rec, forecasts, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        g = f.create_group("/predict")
        g.attrs["test_start"] = t0
        g.attrs["warmup_frames"] = WARMUP
        g["recorded"] = rec.astype(np.float32)
        f["/fit/neuropils"] = np.array([f"NP{k:02d}" for k in range(P)], dtype="S")
        for (m, p), fc in forecasts.items():
            fc = fc.astype(np.float32)
            g[f"forecast/{m}/{p}"] = fc
            e = np.mean((fc[t0:].astype(np.float64) - rec[t0:].astype(np.float32).astype(np.float64)) ** 2)
            mg = g.create_group(f"metrics/{m}/{p}/test")
            mg.attrs.update({"mse": e, "bin_acc": rng.uniform(0.2, 0.8), "bin_acc_025": rng.uniform(0, 0.2),
                             "mean_pearson": rng.uniform(-0.2, 0.9), "fc_corr": rng.uniform(0, 1),
                             "frames": T - t0, "neuropils": P})


for s in range(1, a.seeds + 1):
    rng = np.random.default_rng(1000 + s)
    t = np.arange(T)[:, None]
    rec = 20 + 8 * np.sin(2 * np.pi * t / rng.uniform(20, 60, P)) + rng.normal(0, 2, (T, P))
    rec = np.maximum(rec, 0).astype(np.float32).astype(np.float64)
    brain, shuffled = {}, {}
    for m, sds in SD.items():
        for p, sd in zip(PROTOCOLS, sds):
            fc = rec + rng.normal(0, sd, (T, P))
            fc[0] = np.nan
            if p == "free":
                fc[:WARMUP] = np.nan
            if m == "shuffled":
                shuffled[("chain", p)] = fc
            else:
                brain[(m, p)] = fc
    for p in PROTOCOLS:
        brain[("chain_gru", p)] = brain[("chain", p)].copy()
        shuffled[("persistence", p)] = brain[("persistence", p)]  # the shuffled run has its controls too
    d = os.path.join(a.dir, f"seed-{s}")
    write(os.path.join(d, "brain", "results.h5"), rec, brain, rng)
    write(os.path.join(d, "shuffled", "results.h5"), rec, shuffled, rng)

truth = {"sd": SD, "diff_vs_chain": {p: {m: SD["chain"][i] ** 2 - SD[m][i] ** 2 for m in SD if m != "chain"}
                                     for i, p in enumerate(PROTOCOLS)}}
for p in PROTOCOLS:
    truth["diff_vs_chain"][p]["chain_gru"] = 0.0
truth["best_control"] = {p: min(["persistence", "mean", "median", "var1", "var2", "gru_only", "snn_only"],
                                key=lambda m: SD[m][i]) for i, p in enumerate(PROTOCOLS)}
with open(os.path.join(a.dir, "truth.json"), "w") as f:
    json.dump(truth, f, indent=1)
