#!/usr/bin/env python3
"""Statistics of a recording in activity.h5, computed from the file alone (docs/guide/data.md, "How
realistic are the synthetic recordings"), to compare synthetic recordings with published whole-brain
fly imaging. The series is /dff (dF/F after the high-pass and trim, frame-major [T', P]) except where
noted. Prints one line "name=value ..." and, with --check, asserts each statistic within its range.

  slope       the mean periodogram's slope in log-log over SLOPE_BAND_HZ: each region's /dff minus its
              mean, |rfft|^2, averaged over regions; least squares of log10 power on log10 frequency
              over the frequencies in the band (linear spacing, so the upper half of the band weighs more)
  ac1         lag-1 autocorrelation of each region (Pearson of x[t], x[t+1]), averaged over regions
  fc_mean     mean of the off-diagonal Pearson correlations between regions (functional connectivity)
  fc_pos      share of those region pairs with a positive correlation
  noise_sd    measurement noise sd in dF/F units. With /truth/clean (the realistic model stores its
              noise-free traces): per region sd(traces - clean) / mean(traces), averaged over regions.
              Without it: noise_hf below
  noise_hf    a high-frequency estimator from /dff alone, for any recording: the second difference
              x[t+1] - 2x[t] + x[t-1] of white noise has variance 6 sd^2, so sd = MAD / 0.6745 / sqrt(6),
              per region, averaged; slow signal adds little to it, fast signal makes it an upper bound
  zeros       share of exact zeros in /rates (the deconvolved rates the fit reads)

usage: activity_stats.py activity.h5 [--check] [--expect-outside ac1,fc_mean]
  --check            exit 1 unless every statistic is within RANGES
  --expect-outside   exit 1 unless each named statistic is OUTSIDE its range (a recording that must fail)
"""
import argparse
import sys

import h5py
import numpy as np

SLOPE_BAND_HZ = (0.02, 0.2)
# The ranges and their sources: docs/guide/data.md. (lo, hi), inclusive.
RANGES = {
    "slope": (-2.5, -0.8),
    "ac1": (0.6, 0.97),
    "fc_mean": (0.1, 0.5),
    "fc_pos": (0.7, 1.0),
    "noise_sd": (0.02, 0.05),
    "zeros": (0.5, 0.8),
}


def stats(path):
    f = h5py.File(path, "r")
    fs = float(f.attrs["fs_hz"])
    x = f["dff"][:].astype(np.float64)  # [T', P]
    T, P = x.shape
    xc = x - x.mean(axis=0)
    power = (np.abs(np.fft.rfft(xc, axis=0)) ** 2).mean(axis=1)
    freq = np.fft.rfftfreq(T, d=1.0 / fs)
    band = (freq >= SLOPE_BAND_HZ[0]) & (freq <= SLOPE_BAND_HZ[1])
    slope = np.polyfit(np.log10(freq[band]), np.log10(power[band]), 1)[0]
    ac1 = np.mean([np.corrcoef(x[:-1, p], x[1:, p])[0, 1] for p in range(P)])
    C = np.corrcoef(x.T)
    off = C[~np.eye(P, dtype=bool)]
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    mad = np.median(np.abs(d2 - np.median(d2, axis=0)), axis=0)
    noise_hf = float(np.mean(mad / 0.6745 / np.sqrt(6.0)))
    if "truth/clean" in f:
        tr = f["traces"][:].astype(np.float64)
        clean = f["truth/clean"][:]
        noise_sd = float(np.mean((tr - clean).std(axis=0) / tr.mean(axis=0)))
        noise_from = "truth"
    else:
        noise_sd, noise_from = noise_hf, "hf"
    zeros = float(np.mean(f["rates"][:] == 0))
    return {"slope": float(slope), "ac1": float(ac1), "fc_mean": float(off.mean()), "fc_pos": float(np.mean(off > 0)),
            "noise_sd": noise_sd, "noise_hf": noise_hf, "zeros": zeros}, {"frames": T, "regions": P,
                                                                         "noise_from": noise_from}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--expect-outside", default="")
    a = ap.parse_args()
    s, info = stats(a.path)
    print(" ".join(f"{k}={v:.4g}" for k, v in s.items()) + " " + " ".join(f"{k}={v}" for k, v in info.items()))
    bad = []
    if a.check:
        bad += [f"{k}={s[k]:.4g} not in [{lo}, {hi}]" for k, (lo, hi) in RANGES.items() if not lo <= s[k] <= hi]
    for k in filter(None, a.expect_outside.split(",")):
        lo, hi = RANGES[k]
        if lo <= s[k] <= hi:
            bad.append(f"{k}={s[k]:.4g} is inside [{lo}, {hi}], expected outside")
    for b in bad:
        print("out of range: " + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
