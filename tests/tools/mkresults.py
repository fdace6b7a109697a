#!/usr/bin/python3
"""Writes a fake flyfit results.h5 for tests/integration/plot.sh, in the layout the fit / prediction
driver writes (docs/formats.md, "results.h5"): /fit (round 1 and 2 histories with their
validation columns and the kept epoch's test scores, neuropils, bin edges, recorded rates), /predict
(recorded rates, every model's forecasts in both protocols, their metrics, FC matrices, a raster),
/partition_report, and the simulation sections (/run, /spikes, /neurons, /neuropils, /state).

The recorded rates are smooth random series. The chain is the recording plus a little noise, the other
models what their names say (persistence, training mean and median, a damped VAR toward the mean) or
noisier copies. A forecast is NaN where the model makes none: every one-step forecast in frame 0, every
free-running one before free_start. Metrics are computed here from those arrays, over the same neuropils
for every model (those whose recorded test series varies; a constant forecast scores r = 0 there).
Options leave sections or models out or damage them in the ways the test needs.
Usage: mkresults.py OUT.h5 [--neuropils P] [--frames T] [--seed S] [--models LIST] [--shuffled] [--no-val]
                    [--no-predict] [--no-round2] [--no-partition] [--empty-raster] [--sim-only]
                    [--dead-neuropil K] [--flat-neuropil K] [--loss mse|mae|huber] [--bad-shape]"""
import argparse
import warnings

import h5py
import numpy as np

ALL = ("chain", "chain_gru", "untrained", "persistence", "mean", "median", "var1", "var2", "gru_only", "snn_only")
ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--neuropils", type=int, default=12)
ap.add_argument("--frames", type=int, default=300)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--models", default=",".join(ALL), help="comma-separated models written (default all but shuffled)")
ap.add_argument("--shuffled", action="store_true", help="add the model shuffled, as tools/evaluate's files have")
ap.add_argument("--no-val", action="store_true", help="no validation block: the val_* columns all NaN")
ap.add_argument("--no-predict", action="store_true", help="leave out /predict")
ap.add_argument("--no-round2", action="store_true", help="leave out /fit/round2")
ap.add_argument("--no-partition", action="store_true", help="leave out /partition_report")
ap.add_argument("--empty-raster", action="store_true", help="/predict/raster with no spikes")
ap.add_argument("--sim-only", action="store_true", help="only the simulation sections (/run, /spikes, ...)")
ap.add_argument("--dead-neuropil", type=int, help="neuropil whose chain forecast is NaN throughout")
ap.add_argument("--flat-neuropil", type=int, help="neuropil whose recorded rate is constant on the test frames")
ap.add_argument("--loss", default="mse", help="[fit] loss written into /config")
ap.add_argument("--bad-shape", action="store_true", help="/predict/forecast/chain/free one frame short")
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
run.attrs.update({"duration_ms": steps * dt, "dt_ms": dt, "ranks": 2, "mode": "simulate" if a.sim_only else "all"})
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

# --- /fit: frames [0, val) train, [val, test) validation, [test, T) test ---
test_start = int(0.7 * T)
val_start = int(0.6 * T)
warm = min(100, T // 4)
free_start = warm
t = np.arange(T)
phase = rng.uniform(0, 2 * np.pi, P)
period = rng.uniform(20, 80, P)
amp = rng.uniform(3, 15, P)  # so that the neuropils' variances differ and the top 4 are well defined
rec = 20 + amp * np.sin(2 * np.pi * t[:, None] / period + phase) + rng.normal(0, 3, (T, P))
rec = np.clip(rec, 0, None)
rec *= 100 / rec.max()
if a.flat_neuropil is not None:
    rec[test_start:, a.flat_neuropil] = rec[test_start, a.flat_neuropil]
edges = np.concatenate([np.arange(0, np.ceil(rec.max()) + 5, 5.0)[:-1], [100.0]])
fit = f.create_group("/fit")
fit.attrs.update({"fs_hz": FS, "train_frames": val_start, "test_frames": T - test_start,
                  "validation_start": val_start})
fit["neuropils"] = np.array(names, dtype=h5py.string_dtype())
fit["bin_edges"] = edges
fit["recorded_rates"] = rec


def history(E, start, end, noise):
    x = np.linspace(0, 1, E)
    return start * (end / start) ** x * (1 + noise * rng.random(E))


def val_or_nan(x):
    return np.full(len(x), np.nan) if a.no_val else x


E1 = 12
r1 = fit.create_group("round1")
r1["train_loss"] = history(E1, 400.0, 8.0, 0.1)
r1["train_bin_acc"] = np.linspace(0.1, 0.6, E1)
r1["train_mse"] = r1["train_loss"][:]
r1["val_loss"] = val_or_nan(history(E1, 420.0, 15.0, 0.1))
r1["val_bin_acc"] = val_or_nan(np.linspace(0.1, 0.5, E1))
r1["val_mse"] = r1["val_loss"][:]
for k in ("grad_norm", "samples_per_s", "lr", "seconds"):
    r1[k] = rng.random(E1)
best1 = E1 if a.no_val else 9
r1.attrs.update({"epochs": E1, "best_epoch": best1, "train_frames": val_start, "test_frames": T - test_start,
                 "untrained_test_loss": 430.0, "untrained_test_bin_acc": 0.08, "untrained_test_mse": 430.0,
                 "best_val_loss": float(r1["val_loss"][best1 - 1]), "test_loss": 17.5, "test_bin_acc": 0.47,
                 "test_mse": 17.5})
if not a.no_round2:
    E2 = 30
    r2 = fit.create_group("round2")
    r2["train_loss"] = history(E2, 50.0, 2.0, 0.05)
    r2["train_bin_acc"] = np.linspace(0.3, 0.8, E2)
    r2["val_loss"] = val_or_nan(history(E2, 55.0, 4.0, 0.05))
    r2["val_bin_acc"] = val_or_nan(np.linspace(0.3, 0.7, E2))
    r2["val_mse"] = r2["val_loss"][:]
    r2["lr"] = 1e-3 * 0.9 ** (np.arange(E2) // 10)
    r2["seconds"] = np.full(E2, 2.0)
    best2 = E2 if a.no_val else 27
    r2.attrs.update({"epochs": E2, "best_epoch": best2, "test_loss": 4.4, "test_bin_acc": 0.68, "test_mse": 4.4})


def onestep_then_free(step):
    """Forecasts of a model x[t] = step(previous frames) in both protocols: one step from the recorded
    frames (from frame 1), free-running on its own outputs from free_start."""
    one = np.full((T, P), np.nan)
    for k in range(1, T):
        one[k] = step(rec[max(0, k - 2):k])
    hist = rec.copy()  # recorded up to free_start, then the model's own outputs
    for k in range(free_start, T):
        hist[k] = step(hist[max(0, k - 2):k])
    free = hist.copy()
    free[:free_start] = np.nan
    return one, free


def noisy(sd, level=None):  # the recording plus noise (or noise about a level); free-running drifts a little
    one = (rec if level is None else level) + rng.normal(0, sd, (T, P))
    free = one + np.linspace(0, sd, T)[:, None] + rng.normal(0, sd, (T, P))
    one[0] = np.nan
    free[:free_start] = np.nan
    return np.clip(one, 0, None), np.clip(free, 0, None)


mean, median = rec[:val_start].mean(axis=0), np.median(rec[:val_start], axis=0)
makers = {
    "chain": lambda: noisy(3.0),
    "chain_gru": lambda: noisy(5.0),
    "untrained": lambda: noisy(15.0, rec.mean()),
    "persistence": lambda: onestep_then_free(lambda h: h[-1]),
    "mean": lambda: onestep_then_free(lambda h: mean),
    "median": lambda: onestep_then_free(lambda h: median),
    "var1": lambda: onestep_then_free(lambda h: mean + 0.8 * (h[-1] - mean)),
    "var2": lambda: onestep_then_free(lambda h: mean + 0.9 * (h[-1] - mean) - 0.1 * (h[0] - mean)),
    "gru_only": lambda: noisy(6.0),
    "snn_only": lambda: noisy(8.0),
    "shuffled": lambda: noisy(10.0),
}
wanted = [m for m in a.models.split(",") if m] + (["shuffled"] if a.shuffled else [])
unknown = [m for m in wanted if m not in makers]
if unknown:
    ap.error(f"--models: unknown {unknown}; known: {sorted(makers)}")

# --- /predict ---
if not a.no_predict:
    forecasts = {}
    for m in wanted:
        one, free = makers[m]()
        if m == "chain" and a.dead_neuropil is not None:
            one[:, a.dead_neuropil] = free[:, a.dead_neuropil] = np.nan
        forecasts[m] = {"onestep": one, "free": free}
    pr = f.create_group("/predict")
    pr.attrs.update({"warmup_frames": warm, "free_start": free_start, "test_start": test_start,
                     "validation_start": val_start, "train_frames": val_start, "frames": T,
                     "headline": "chain", "seconds": 12.5})
    pr["recorded"] = rec
    for m, by in forecasts.items():
        for proto, x in by.items():
            pr[f"forecast/{m}/{proto}"] = x[:-1] if (a.bad_shape and (m, proto) == ("chain", "free")) else x

    def pearson(x, y, scored):  # like for like: r over the frames where both are finite, 0 for a constant
        out = np.full(x.shape[1], np.nan)  # forecast, NaN outside the scored set or without a forecast
        for j in np.flatnonzero(scored):
            ok = np.isfinite(x[:, j]) & np.isfinite(y[:, j])
            if ok.sum() < 2:
                continue
            out[j] = np.corrcoef(x[ok, j], y[ok, j])[0, 1] if np.ptp(y[ok, j]) > 0 else 0.0
        return out

    def fc(x):  # over the frames where every live neuropil has a value; a dead neuropil's row is NaN
        live = np.isfinite(x).any(axis=0) & (np.nanstd(x, axis=0) > 0)
        x = x[np.isfinite(x[:, live]).all(axis=1)]
        out = np.full((x.shape[1], x.shape[1]), np.nan)
        out[np.ix_(live, live)] = np.corrcoef(x[:, live].T)
        return out

    def offdiag_corr(c1, c2):
        iu = np.triu_indices(c1.shape[0], 1)
        u, v = c1[iu], c2[iu]
        ok = np.isfinite(u) & np.isfinite(v)
        return float(np.corrcoef(u[ok], v[ok])[0, 1]) if ok.sum() > 2 else np.nan

    def bins(x):
        return np.digitize(x, edges[1:-1])

    for m, by in forecasts.items():
        for proto, x in by.items():
            for part, sl in (("all", slice(0, T)), ("test", slice(test_start, T))):
                y, r = x[sl], rec[sl]
                ok = np.isfinite(y)
                scored = np.ptp(r, axis=0) > 0
                g = pr.create_group(f"metrics/{m}/{proto}/{part}")
                g["pearson"] = pearson(r, y, scored)
                g.attrs.update({
                    "mse": float(np.mean((y[ok] - r[ok]) ** 2)),
                    "bin_acc": float(np.mean(bins(y[ok]) == bins(r[ok]))),
                    "bin_acc_025": float(np.mean(np.floor(y[ok] / 0.25) == np.floor(r[ok] / 0.25))),
                    "mean_pearson": float(np.nanmean(np.where(scored, np.nan_to_num(g["pearson"][:]), np.nan))),
                    "fc_corr": offdiag_corr(fc(r), fc(y)),
                    "frames": int(np.isfinite(y).any(axis=1).sum()),
                    "neuropils": int(scored.sum()),
                })
    pr["fc/recorded"] = fc(rec[test_start:])
    if "chain" in forecasts:
        pr["fc/chain"] = fc(forecasts["chain"]["free"][test_start:])
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
