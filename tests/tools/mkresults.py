#!/usr/bin/python3
"""Writes a fake flyfit results.h5 for tests/integration/plot.sh, in the layout the fit / prediction
driver writes (docs/formats.md, "results.h5"): /fit (round 1 and 2 histories, neuropils, bin edges,
recorded rates), /predict (rates of the trained, untrained, last-frame and mean models, their metrics,
FC matrices, a raster), /partition_report, and the simulation sections (/run, /spikes, /neurons,
/neuropils, /state).

The recorded rates are smooth random series; the trained model is the recording plus a little noise,
the untrained one much noisier. Metrics are computed here from those arrays, so the numbers stored are
consistent with the arrays. As the driver does, every forecast is NaN in frame 0 (it has no previous frame).
Options leave sections out or damage them in the ways the test needs.
Usage: mkresults.py OUT.h5 [--neuropils P] [--frames T] [--seed S] [--no-predict] [--no-round2]
                    [--no-partition] [--empty-raster] [--sim-only] [--dead-neuropil K] [--loss mse|mae|huber]
                    [--bad-shape]"""
import argparse
import warnings

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--neuropils", type=int, default=12)
ap.add_argument("--frames", type=int, default=300)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--no-predict", action="store_true", help="leave out /predict")
ap.add_argument("--no-round2", action="store_true", help="leave out /fit/round2")
ap.add_argument("--no-partition", action="store_true", help="leave out /partition_report")
ap.add_argument("--empty-raster", action="store_true", help="/predict/raster with no spikes")
ap.add_argument("--sim-only", action="store_true", help="only the simulation sections (/run, /spikes, ...)")
ap.add_argument("--dead-neuropil", type=int, help="neuropil whose trained prediction is NaN throughout")
ap.add_argument("--loss", default="mse", help="[fit] loss written into /config")
ap.add_argument("--bad-shape", action="store_true", help="/predict/trained one frame short")
a = ap.parse_args()

np.seterr(all="ignore")  # constant forecasts have undefined correlations: NaN is the answer
warnings.simplefilter("ignore", RuntimeWarning)
rng = np.random.default_rng(a.seed)
P, T = a.neuropils, a.frames
FS = 1.2
names = [f"NP{k:02d}_{'LR'[k % 2]}" for k in range(P)]
f = h5py.File(a.out, "w")

# --- simulation sections: 2 trials, 300 neurons, 500 ms at 0.1 ms ---
N, steps, dt = 300, 5000, 0.1
f["/config"] = f"[fit]\nloss                   = {a.loss:<24} ; file\n"
run = f.create_group("/run")
run.attrs.update({"duration_ms": steps * dt, "dt_ms": dt, "ranks": 2, "mode": "simulate" if a.sim_only else "fit"})
n_sp = 6000
b = rng.integers(0, 2, n_sp)
st = rng.integers(0, steps, n_sp)
nr = rng.integers(0, N, n_sp)
o = np.lexsort((nr, st, b))
g = f.create_group("/spikes")
g.attrs["dt_ms"] = dt
g["batch"], g["step"], g["neuron"] = b[o].astype(np.int32), st[o].astype(np.int32), nr[o].astype(np.int32)
counts = np.zeros((2, N), np.int32)
np.add.at(counts, (b, nr), 1)
f["/neurons/spike_count"] = counts
f["/neuropils/names"] = np.array(names, dtype="S")
f["/neuropils/rate_hz"] = rng.gamma(2.0, 5.0, (2, P))
f["/state/neuron"] = np.array([3, 17, 42], np.int64)
f["/state/v_mV"] = -52 + 7 * rng.random((2, steps, 3))
f["/state/g_mV"] = rng.random((2, steps, 3))
if a.sim_only:
    f.close()
    raise SystemExit(0)

# --- /fit ---
t = np.arange(T)
phase = rng.uniform(0, 2 * np.pi, P)
period = rng.uniform(20, 80, P)
rec = 20 + 15 * np.sin(2 * np.pi * t[:, None] / period + phase) + rng.normal(0, 3, (T, P))
rec = np.clip(rec, 0, None)
rec *= 100 / rec.max()
edges = np.concatenate([np.arange(0, np.ceil(rec.max()) + 5, 5.0)[:-1], [100.0]])
fit = f.create_group("/fit")
fit.attrs["fs_hz"] = FS
fit["neuropils"] = np.array(names, dtype=h5py.string_dtype())
fit["bin_edges"] = edges
fit["recorded_rates"] = rec


def history(E, start, end, noise):
    x = np.linspace(0, 1, E)
    return start * (end / start) ** x * (1 + noise * rng.random(E))


E1 = 12
r1 = fit.create_group("round1")
r1["train_loss"] = history(E1, 400.0, 8.0, 0.1)
r1["test_loss"] = history(E1, 420.0, 15.0, 0.1)
r1["train_bin_acc"] = np.linspace(0.1, 0.6, E1)
r1["test_bin_acc"] = np.linspace(0.1, 0.5, E1)
r1["train_mse"] = r1["train_loss"][:]
r1["test_mse"] = r1["test_loss"][:]
for k in ("grad_norm", "samples_per_s", "lr", "seconds"):
    r1[k] = rng.random(E1)
r1.attrs.update({"epochs": E1, "best_epoch": 9, "untrained_test_loss": 430.0, "untrained_test_bin_acc": 0.08,
                 "untrained_test_mse": 430.0, "train_frames": int(0.7 * T), "test_frames": T - int(0.7 * T)})
if not a.no_round2:
    E2 = 30
    r2 = fit.create_group("round2")
    r2["train_loss"] = history(E2, 50.0, 2.0, 0.05)
    r2["test_loss"] = history(E2, 55.0, 4.0, 0.05)
    r2["train_bin_acc"] = np.linspace(0.3, 0.8, E2)
    r2["test_bin_acc"] = np.linspace(0.3, 0.7, E2)
    r2["test_mse"] = r2["test_loss"][:]
    r2["lr"] = 1e-3 * 0.9 ** (np.arange(E2) // 10)
    r2["seconds"] = np.full(E2, 2.0)
    r2.attrs.update({"epochs": E2, "best_epoch": 27})

# --- /predict ---
if not a.no_predict:
    warm, test_start = min(100, T // 4), int(0.7 * T)
    models = {
        "trained": rec + rng.normal(0, 4, (T, P)),
        "untrained": np.clip(rec.mean() + rng.normal(0, 15, (T, P)), 0, None),
        "last_frame": np.vstack([np.full((1, P), np.nan), rec[:-1]]),
        "mean": np.broadcast_to(rec[:test_start].mean(axis=0), (T, P)).copy(),
    }
    for m in ("trained", "untrained", "mean"):
        models[m][0] = np.nan
    models["trained"][:warm] = rec[:warm]  # warm-up feeds the recording
    if a.dead_neuropil is not None:
        models["trained"][:, a.dead_neuropil] = np.nan
    pr = f.create_group("/predict")
    pr.attrs.update({"warmup_frames": warm, "test_start": test_start, "frames": T})
    pr["recorded"] = rec
    for m, x in models.items():
        pr[m] = x[:-1] if (a.bad_shape and m == "trained") else x

    def pearson(x, y):  # per column over rows where both are finite; NaN when undefined
        out = np.full(x.shape[1], np.nan)
        for j in range(x.shape[1]):
            ok = np.isfinite(x[:, j]) & np.isfinite(y[:, j])
            if ok.sum() > 2 and np.ptp(x[ok, j]) > 0 and np.ptp(y[ok, j]) > 0:
                out[j] = np.corrcoef(x[ok, j], y[ok, j])[0, 1]
        return out

    def fc(x):  # over the frames where every live neuropil has a value; a dead neuropil's row is NaN
        live = np.isfinite(x).any(axis=0)
        x = x[np.isfinite(x[:, live]).all(axis=1)]
        out = np.full((x.shape[1], x.shape[1]), np.nan)
        out[np.ix_(live, live)] = np.corrcoef(x[:, live].T)
        return out

    def offdiag_corr(c1, c2):
        iu = np.triu_indices(c1.shape[0], 1)
        u, v = c1[iu], c2[iu]
        ok = np.isfinite(u) & np.isfinite(v)
        return float(np.corrcoef(u[ok], v[ok])[0, 1]) if ok.sum() > 2 else np.nan

    for m, x in models.items():
        for part, sl in (("all", slice(1, T)), ("test", slice(test_start, T))):
            y, r = x[sl], rec[sl]
            ok = np.isfinite(y)
            g = pr.create_group(f"metrics/{m}/{part}")
            g["pearson"] = pearson(r, y)
            g.attrs.update({
                "bin_acc": float(np.mean(np.digitize(y[ok], edges[1:-1]) == np.digitize(r[ok], edges[1:-1]))),
                "mse": float(np.mean((y[ok] - r[ok]) ** 2)),
                "mean_pearson": float(np.nanmean(g["pearson"][:])) if np.isfinite(g["pearson"][:]).any() else np.nan,
                "fc_corr": offdiag_corr(fc(r), fc(y)),
            })
    pr["fc/recorded"] = fc(rec[test_start:])
    pr["fc/trained"] = fc(models["trained"][test_start:])
    n_sp = 0 if a.empty_raster else 3000
    rs = np.sort(rng.integers(0, 4166, n_sp))
    rg = pr.create_group("raster")
    rg["step"] = rs.astype(np.int32)
    rg["neuron"] = rng.integers(0, 2000, n_sp).astype(np.int32)
    rg.attrs.update({"dt_ms": 0.2, "frame": test_start + 5})

# --- /partition_report ---
if not a.no_partition:
    K = 4
    g = f.create_group("/partition_report")
    g["neurons"] = np.array([34660, 34659, 34660, 34660], np.int64)
    g["connections"] = np.array([3.8e6, 3.7e6, 3.75e6, 3.9e6]).astype(np.int64)
    g["ghosts"] = np.array([41000, 38000, 45000, 40000], np.int64)
    g.attrs.update({"edge_cut": 1234567, "imbalance_neurons": 1.00001, "imbalance_connections": 1.026})
f.close()
