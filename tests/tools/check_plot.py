#!/usr/bin/python3
"""Checks the output of tools/flyfit-plot for tests/integration/plot.sh, against the results file it
was drawn from (read here with h5py, the numbers recomputed with numpy where that is cheap).
Prints each problem on stderr and exits 1 if there is any.

  check_plot.py pngs DIR NAME...       each NAME is a valid PNG of real content (signature, IHDR, decodes,
                                       more than 5 kB, not one flat colour)
  check_plot.py only DIR NAME...       DIR holds exactly these PNG files
  check_plot.py labels DIR             every axis of every figure in figures.json has x and y labels, and
                                       each label carries its unit in parentheses unless it names a
                                       dimensionless or ordinal quantity (epoch, rank, model, neuropil, r)
  check_plot.py predictions DIR H5     pages of at most 12 panels, one neuropil per panel (one recorded,
                                       one trained, one untrained line), every neuropil once and in order,
                                       the panel titles' test r equal to the file's
  check_plot.py losses DIR H5 [mse|mae|huber]   the rounds present, best epochs marked, loss units
  check_plot.py fc DIR H5              the title's correlation equals numpy's over the off-diagonal entries;
                                       every name on the axes for P <= 40, a readable subset above
  check_plot.py partition DIR H5       the title holds the edge cut and both imbalances
  check_plot.py metrics DIR H5         metrics.txt holds every model's test and all-frame numbers of the file"""
import json
import math
import os
import re
import struct
import sys

import h5py
import numpy as np

problems = []


def bad(msg):
    problems.append(msg)


def figures(d):
    with open(os.path.join(d, "figures.json")) as fh:
        return json.load(fh)


def pngs(d, names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    for n in names:
        p = os.path.join(d, n)
        if not os.path.isfile(p):
            bad(f"{n}: missing")
            continue
        raw = open(p, "rb").read()
        if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
            bad(f"{n}: no PNG signature and IHDR chunk")
            continue
        w, h = struct.unpack(">II", raw[16:24])
        if len(raw) < 5000 or w < 300 or h < 200:
            bad(f"{n}: {len(raw)} bytes, {w} x {h} pixels: too small to be a figure")
        img = mpimg.imread(p)
        if img.shape[:2] != (h, w) or float(img[..., :3].std()) < 0.01:
            bad(f"{n}: decodes to {img.shape} with colour sd {img[..., :3].std():.4f} (blank?)")


def only(d, names):
    have = sorted(x for x in os.listdir(d) if x.endswith(".png"))
    if have != sorted(names):
        bad(f"PNG files {have}, expected {sorted(names)}")


UNITLESS = re.compile(r"^(epoch|rank|model|neuropil( \(1 in \d+ named\))?|active neuron \(ordered by first spike\)|"
                      r"mean Pearson r|Pearson r between neuropils)$")
UNIT = re.compile(r"\((ms|s|Hz|Hz²|mV|fraction|count|Pearson r)\)")


def labels(d):
    for name, fig in figures(d).items():
        for k, ax in enumerate(fig["axes"]):
            need = ("ylabel",) if ax["kind"] == "colorbar" else ("xlabel", "ylabel")
            for which in need:
                lab = ax[which].replace("\n", " ")
                if not lab:
                    bad(f"{name} axis {k} ({ax['title']!r}): no {which}")
                elif not (UNITLESS.match(lab) or UNIT.search(lab)):
                    bad(f"{name} axis {k}: {which} {lab!r} names no unit")


def predictions(d, h5):
    f = h5py.File(h5, "r")
    names = [x.decode() if isinstance(x, bytes) else x for x in f["/fit/neuropils"][:]]
    r = f["/predict/metrics/trained/test/pearson"][:]
    figs = figures(d)
    pages = sorted(n for n in figs if n.startswith("predictions-"))
    want = [f"predictions-{k + 1:02d}.png" for k in range(math.ceil(len(names) / 12))]
    if pages != want:
        bad(f"prediction pages {pages}, expected {want}")
    seen = []
    for p in pages:
        panels = [ax for ax in figs[p]["axes"] if ax["kind"] == "panel"]
        if not 1 <= len(panels) <= 12:
            bad(f"{p}: {len(panels)} panels")
        for ax in panels:
            if sorted(ax["lines"]) != ["recorded", "trained", "untrained"]:
                bad(f"{p} {ax['title']!r}: lines {ax['lines']}, expected one recorded, trained and untrained")
            seen.append(ax["title"].split()[0] if ax["title"] else "")
            m = re.search(r"test r = (-?[\d.]+)", ax["title"])
            k = len(seen) - 1
            if k < len(names):
                if np.isfinite(r[k]) != bool(m) or (m and abs(float(m.group(1)) - r[k]) > 0.006):
                    bad(f"{p} {ax['title']!r}: the file's test r is {r[k]:.3f}")
    if seen != names:
        bad(f"panels show {seen[:5]}... ({len(seen)}), the file's neuropils are {names[:5]}... ({len(names)})")


def losses(d, h5, kind="mse"):
    f = h5py.File(h5, "r")
    fig = figures(d)["losses.png"]
    rounds = [k for k in (1, 2) if f"/fit/round{k}" in f]
    titles = [ax["title"] for ax in fig["axes"]]
    got = sorted({int(m.group(1)) for t in titles for m in [re.match(r"round (\d)", t)] if m})
    if got != rounds:
        bad(f"losses.png shows rounds {got}, the file has {rounds}")
    for ax in fig["axes"]:
        k = int(ax["title"][6])
        best = int(f[f"/fit/round{k}"].attrs["best_epoch"])
        if f"best epoch {best}" not in ax["lines"]:
            bad(f"losses.png {ax['title']!r}: no line 'best epoch {best}' in {ax['lines']}")
        if sorted(x for x in ax["lines"] if x in ("train", "test")) != ["test", "train"]:
            bad(f"losses.png {ax['title']!r}: lines {ax['lines']}")
        unit = "(Hz)" if (k == 1 and kind == "mae") else "(Hz²)"
        if "loss" in ax["title"] and not ax["ylabel"].endswith(unit):
            bad(f"losses.png {ax['title']!r}: y label {ax['ylabel']!r}, expected the unit {unit}")


def fc(d, h5):
    f = h5py.File(h5, "r")
    a, b = f["/predict/fc/recorded"][:], f["/predict/fc/trained"][:]
    iu = np.triu_indices(a.shape[0], 1)
    u, v = a[iu], b[iu]
    ok = np.isfinite(u) & np.isfinite(v)  # a neuropil never predicted has NaN rows
    want = np.corrcoef(u[ok], v[ok])[0, 1] if ok.sum() >= 3 else np.nan
    fig = figures(d)["fc.png"]
    m = re.search(r"r = (-?[\d.]+|n/a)", fig["suptitle"])
    if not m or (m.group(1) == "n/a") != np.isnan(want) or (np.isfinite(want) and abs(float(m.group(1)) - want) > 6e-4):
        bad(f"fc.png title {fig['suptitle']!r}, the off-diagonal correlation is {want:.4f}")
    P = a.shape[0]
    panels = [ax for ax in fig["axes"] if ax["kind"] == "panel"]
    cbar = [ax for ax in fig["axes"] if ax["kind"] == "colorbar"]
    if len(panels) != 2 or len(cbar) != 1:
        bad(f"fc.png: {len(panels)} matrices and {len(cbar)} colorbars")
    for ax in panels:
        n = ax["xticklabels"]
        if (P <= 40 and n != P) or (P > 40 and not P / 4 <= n <= 40):
            bad(f"fc.png {ax['title']!r}: {n} neuropil names for P = {P}")


def partition(d, h5):
    g = h5py.File(h5, "r")["/partition_report"]
    t = figures(d)["partition.png"]["suptitle"]
    for want in (f"edge cut {int(g.attrs['edge_cut']):,}", f"{g.attrs['imbalance_neurons']:.3f}",
                 f"{g.attrs['imbalance_connections']:.3f}", f"over {len(g['neurons'])} ranks"):
        if want not in t:
            bad(f"partition.png title {t!r} lacks {want!r}")


def metrics(d, h5):
    f = h5py.File(h5, "r")
    rows = [ln.split() for ln in open(os.path.join(d, "metrics.txt")) if ln.strip() and not ln.startswith("#")]
    head, body = rows[0], rows[1:]
    if head[:2] != ["frames", "model"]:
        bad(f"metrics.txt header {head}")
    table = {(r[0], r[1]): dict(zip(head[2:], r[2:])) for r in body}
    for part in ("test", "all"):
        for m in ("trained", "untrained", "last_frame", "mean"):
            g = f"/predict/metrics/{m}/{part}"
            row = table.get((part, m))
            if row is None:
                bad(f"metrics.txt has no row {part} {m}")
                continue
            for k in ("bin_acc", "mse", "mean_pearson", "fc_corr"):
                want = float(f[g].attrs[k])
                got = row.get(k)
                if got is None:
                    bad(f"metrics.txt {part} {m}: no column {k}")
                elif np.isnan(want) != (got == "nan") or (
                        np.isfinite(want) and abs(float(got) - want) > 1e-7 * max(1.0, abs(want))):
                    bad(f"metrics.txt {part} {m} {k} = {got}, the file holds {want!r}")
    if len(table) != 8:
        bad(f"metrics.txt has {len(table)} rows, expected 8")


cmd, d, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
{"pngs": lambda: pngs(d, rest), "only": lambda: only(d, rest), "labels": lambda: labels(d),
 "predictions": lambda: predictions(d, *rest), "losses": lambda: losses(d, *rest), "fc": lambda: fc(d, *rest),
 "partition": lambda: partition(d, *rest), "metrics": lambda: metrics(d, *rest)}[cmd]()
for p in problems[:10]:
    print(f"#   {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
