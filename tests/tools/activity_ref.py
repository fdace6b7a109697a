#!/usr/bin/python3
"""Checks an activity.h5 written by `flyfit-import activity` against the same preprocessing done
independently in numpy from the .npz it was made from. Prints TAP lines ("ok - ..." / "not ok - ...").

The reference shares no code with flyfit: dF/F with numpy means; the high-pass as the recursion
y_n = b0 (x_n - x_(n-1)) + p y_(n-1) from the bilinear-transform formula (and, where scipy is
installed, also scipy.signal.butter + sosfilt); the deconvolution by accelerated projected
gradient on the spike amounts s >= 0 of min 1/2 |y - K s|^2 + lambda sum s, K[t, j] = gamma^(t-j),
a different algorithm for the same problem; then the scaling.
Usage: activity_ref.py FLY.npz ACTIVITY.h5 [--fs-hz ..] [--highpass-hz ..] [--trim-frames ..]
       [--calcium-tau-s ..] [--deconv-lambda ..] [--max-rate-hz ..] [--id ID] [--keep NAME,...]
       [--index I,...] [--label TEXT]"""
import argparse
import math
import os

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("npz")
ap.add_argument("h5")
ap.add_argument("--fs-hz", type=float, default=1.2)
ap.add_argument("--highpass-hz", type=float, default=0.01)
ap.add_argument("--trim-frames", type=int, default=100)
ap.add_argument("--calcium-tau-s", type=float, default=0.8)
ap.add_argument("--deconv-lambda", type=float, default=0.0)
ap.add_argument("--max-rate-hz", type=float, default=100.0)
ap.add_argument("--id", help="expected neural_activity_id (default: the npz file name without .npz)")
ap.add_argument("--keep", help="the regions expected in the output (default: all but the background)")
ap.add_argument("--index", help="expected /neuropil_index (default: the dataset must be absent)")
ap.add_argument("--label", default="")
a = ap.parse_args()
label = a.label + ": " if a.label else ""


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + label + what)


# ---- the reference chain -------------------------------------------------------------------------
z = np.load(a.npz)
names = [str(n) for n in z["areas"]][1:]
F = np.asarray(z["traces"], dtype=np.float64)[1:]
keep = a.keep.split(",") if a.keep else names
F = F[[names.index(n) for n in keep]]
F = F.astype(np.float32).astype(np.float64)  # activity.h5 keeps raw traces as float32
mean = F.mean(axis=1, keepdims=True)
dff = (F - mean) / mean
if a.highpass_hz > 0:
    K = math.tan(math.pi * a.highpass_hz / a.fs_hz)
    b0, p = 1 / (1 + K), (1 - K) / (1 + K)
    hp = np.empty_like(dff)
    hp[:, 0] = b0 * dff[:, 0]
    for t in range(1, dff.shape[1]):
        hp[:, t] = b0 * (dff[:, t] - dff[:, t - 1]) + p * hp[:, t - 1]
    try:
        from scipy.signal import butter, sosfilt
        sp = sosfilt(butter(1, a.highpass_hz, "highpass", fs=a.fs_hz, output="sos"), dff, axis=1)
        check(np.max(np.abs(sp - hp)) < 1e-12, "the numpy high-pass agrees with scipy's butter + sosfilt")
    except ImportError:
        print("ok - " + label + "scipy cross-check of the high-pass # SKIP scipy is not installed")
else:
    hp = dff
y = hp[:, a.trim_frames:]
P, T = y.shape
g = math.exp(-1 / (a.calcium_tau_s * a.fs_hz))
Kmat = np.tril(g ** np.subtract.outer(np.arange(T), np.arange(T)).clip(0))
L = np.linalg.norm(Kmat, 2) ** 2


def objective(s):
    return 0.5 * np.sum((y - s @ Kmat.T) ** 2, axis=1) + a.deconv_lambda * s.sum(axis=1)


s = np.zeros((P, T))
v, tk = s.copy(), 1.0
for it in range(1500):
    grad = (v @ Kmat.T - y) @ Kmat + a.deconv_lambda
    s_new = np.maximum(0.0, v - grad / L)
    tn = (1 + math.sqrt(1 + 4 * tk * tk)) / 2
    v = s_new + (tk - 1) / tn * (s_new - s)
    s, tk = s_new, tn
rates = s * (a.max_rate_hz / s.max())

# ---- the file ------------------------------------------------------------------------------------
f = h5py.File(a.h5, "r")
areas = [x.decode() if isinstance(x, bytes) else str(x) for x in f["areas"][:]]
check(areas == keep, f"/areas is the regions without the background ({len(keep)})")
for d, shape in (("traces", (F.shape[1], P)), ("dff", (T, P)), ("rates", (T, P))):
    check(f[d].dtype == np.float32 and f[d].shape == shape, f"/{d} is float32 {shape} (frames, regions)")
check(np.array_equal(f["traces"][:], F.T.astype(np.float32)), "/traces holds the raw traces, transposed")
err = np.max(np.abs(f["dff"][:].T - y))
check(err <= 1e-6 * np.max(np.abs(y)), f"/dff matches dF/F, high-pass and trim (max difference {err:.2e})")
err = np.max(np.abs(f["rates"][:].T - rates))
check(err <= 1e-4 * a.max_rate_hz, f"/rates match the projected-gradient deconvolution (max difference {err:.2e} Hz)")
# The file's rates are optimal: their objective is no worse than the slow solver's.
s_file = f["rates"][:].T.astype(np.float64) * (s.max() / a.max_rate_hz)
gap = np.max(objective(s_file) - objective(s))
check(gap <= 1e-6 * max(1.0, np.max(objective(s))), f"flyfit's spikes reach the minimum of the objective (gap {gap:.1e})")
check(np.all(f["rates"][:] >= 0) and np.isclose(f["rates"][:].max(), a.max_rate_hz, rtol=1e-7),
      f"/rates are >= 0 and peak at {a.max_rate_hz} Hz")
attrs = f.attrs
stem = os.path.basename(a.npz)[:-4] if a.npz.endswith(".npz") else os.path.basename(a.npz)


def attr(name):
    v = attrs.get(name)
    return v.decode() if isinstance(v, bytes) else v


expected = {"fs_hz": a.fs_hz, "highpass_hz": a.highpass_hz, "trim_frames": a.trim_frames,
            "calcium_tau_s": a.calcium_tau_s, "deconv_lambda": a.deconv_lambda, "max_rate_hz": a.max_rate_hz,
            "calcium_gamma": g, "frames_raw": F.shape[1], "frames": T}
bad = [k for k, v in expected.items() if attr(k) is None or not np.isclose(attr(k), v, rtol=1e-12, atol=0)]
check(not bad, "the parameter attributes are stored" + (f" (wrong or missing: {bad})" if bad else ""))
check(attr("neural_activity_id") == (a.id or stem), f"neural_activity_id is {a.id or stem}")
check(os.path.basename(a.npz) in (attr("source") or ""), "source names the .npz")
check((attr("created_by") or "").startswith("flyfit-import activity "), "created_by holds the command line")
if a.index is None:
    check("neuropil_index" not in f, "no /neuropil_index without a connectome")
else:
    want = [int(x) for x in a.index.split(",")]
    got = f["neuropil_index"][:] if "neuropil_index" in f else None
    check(got is not None and got.dtype == np.int32 and list(got) == want, f"/neuropil_index is {want}")
