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
  check_plot.py predictions DIR H5     pages of at most 12 panels, one neuropil per panel (the recording, the
                                       headline's and the untrained chain's free-running forecasts), every
                                       neuropil once and in order, the panel titles' test r equal to the file's
  check_plot.py forecasts DIR H5       forecasts-vs-controls.png: the 4 neuropils of highest recorded test-frame
                                       variance (recomputed), free-running row and one-step row, each panel
                                       with exactly the compared models the file holds
  check_plot.py losses DIR H5 [mse|mae|huber]   the rounds present, train and (unless all NaN) validation
                                       curves, best epochs and the kept epoch's test score marked, loss units
  check_plot.py fc DIR H5              the title's correlation equals numpy's over the off-diagonal entries of
                                       /predict/fc/recorded and the headline's; every name on the axes for
                                       P <= 40, a readable subset above
  check_plot.py partition DIR H5       the title holds the edge cut and both imbalances
  check_plot.py metrics DIR H5         metrics.txt holds one row per /predict/metrics/MODEL/PROTOCOL/PART group
                                       of the file, with its numbers
  check_plot.py metricsfig DIR H5      metrics.png: per protocol, test MSE ("lower is better") and mean Pearson r
                                       of every model of the file, each bar labelled with the file's value, the
                                       headline listed first and marked"""
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


def names_of(f):
    return [x.decode() if isinstance(x, bytes) else x for x in f["/fit/neuropils"][:]]


def headline(f):
    h = f["/predict"].attrs.get("headline", "chain")
    return h.decode() if isinstance(h, bytes) else str(h)


def key(label):
    """The model a line or tick label names: the text before its colon ("var1: ridge VAR(1)" -> var1)."""
    return label.split(":")[0]


def predictions(d, h5):
    f = h5py.File(h5, "r")
    names = names_of(f)
    head = headline(f)
    r = f[f"/predict/metrics/{head}/free/test/pearson"][:]
    lines = sorted(["recorded", f"{head} (free-running)"]
                   + (["untrained (free-running)"] if "/predict/forecast/untrained/free" in f else []))
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
            if sorted(ax["lines"]) != lines:
                bad(f"{p} {ax['title']!r}: lines {ax['lines']}, expected {lines}")
            seen.append(ax["title"].split()[0] if ax["title"] else "")
            m = re.search(r"test r = (-?[\d.]+)", ax["title"])
            k = len(seen) - 1
            if k < len(names):
                if np.isfinite(r[k]) != bool(m) or (m and abs(float(m.group(1)) - r[k]) > 0.006):
                    bad(f"{p} {ax['title']!r}: the file's test r is {r[k]:.3f}")
    if seen != names:
        bad(f"panels show {seen[:5]}... ({len(seen)}), the file's neuropils are {names[:5]}... ({len(names)})")


def forecasts(d, h5):
    """The 4 neuropils of highest recorded test-frame variance (recomputed here), free-running in the top row
    and one step ahead below, each panel with the recording and exactly the compared models the file holds."""
    f = h5py.File(h5, "r")
    names = names_of(f)
    rec = f["/predict/recorded"][:]
    ts = int(f["/predict"].attrs["test_start"])
    x = rec[ts:]
    var = ((x - x.mean(axis=0)) ** 2).sum(axis=0) / len(x)
    top = sorted(range(len(var)), key=lambda j: (-var[j], j))[:4]
    fig = figures(d)["forecasts-vs-controls.png"]
    panels = [ax for ax in fig["axes"] if ax["kind"] == "panel"]
    if len(panels) != 2 * len(top):
        bad(f"forecasts-vs-controls.png: {len(panels)} panels, expected {2 * len(top)}")
        return
    head = headline(f)
    for row, (proto, label) in enumerate((("free", "free-running"), ("onestep", "one step ahead"))):
        want = ["recorded"] + [m for m in (head, "persistence", "var1", "gru_only", "shuffled")
                               if f"/predict/forecast/{m}/{proto}" in f]
        for col, j in enumerate(top):
            ax = panels[row * len(top) + col]
            if ax["title"] != f"{names[j]}, {label}":
                bad(f"forecasts-vs-controls.png panel {row},{col}: title {ax['title']!r}, expected "
                    f"{names[j]!r} (recorded test variance {var[j]:.4g}) {label}")
            got = [key(x) for x in ax["lines"]]
            if sorted(got) != sorted(want):
                bad(f"forecasts-vs-controls.png {ax['title']!r}: lines {got}, expected {want}")


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
        g = f[f"/fit/round{k}"]
        metric = "loss" if ax["title"].endswith(("loss", "loss, no validation block")) else "bin_acc"
        best = int(g.attrs["best_epoch"])
        if f"best epoch {best}" not in ax["lines"]:
            bad(f"losses.png {ax['title']!r}: no line 'best epoch {best}' in {ax['lines']}")
        val = f"val_{metric}" in g and np.isfinite(g[f"val_{metric}"][:]).any()  # all NaN: no validation block
        want = ["train"] + (["validation"] if val else [])
        if sorted(x for x in ax["lines"] if x in ("train", "validation", "test")) != sorted(want):
            bad(f"losses.png {ax['title']!r}: lines {ax['lines']}, expected {want} among them")
        if not val and f"val_{metric}" in g and "no validation block" not in ax["title"]:
            bad(f"losses.png {ax['title']!r}: the file has no validation values; the title should say so")
        kept = [x for x in ax["lines"] if x.startswith("test at epoch")]
        if f"test_{metric}" in g.attrs:
            want_kept = f"test at epoch {best} ({float(g.attrs[f'test_{metric}']):.3g})"
            if kept != [want_kept]:
                bad(f"losses.png {ax['title']!r}: {kept}, expected the kept epoch's test score {want_kept!r}")
        elif kept:
            bad(f"losses.png {ax['title']!r}: {kept}, but the file has no test_{metric}")
        unit = "(Hz)" if (k == 1 and kind == "mae") else "(Hz²)"
        if metric == "loss" and not ax["ylabel"].endswith(unit):
            bad(f"losses.png {ax['title']!r}: y label {ax['ylabel']!r}, expected the unit {unit}")


def fc(d, h5):
    f = h5py.File(h5, "r")
    a, b = f["/predict/fc/recorded"][:], f[f"/predict/fc/{headline(f)}"][:]
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


def groups(f):
    """(part, model, protocol) of every /predict/metrics/MODEL/PROTOCOL/PART group in the file."""
    out = []
    for m in f["/predict/metrics"]:
        for p in f[f"/predict/metrics/{m}"]:
            for part in f[f"/predict/metrics/{m}/{p}"]:
                if isinstance(f[f"/predict/metrics/{m}/{p}/{part}"], h5py.Group):
                    out.append((part, m, p))
    return out


def metrics(d, h5):
    f = h5py.File(h5, "r")
    rows = [ln.split() for ln in open(os.path.join(d, "metrics.txt")) if ln.strip() and not ln.startswith("#")]
    head, body = rows[0], rows[1:]
    cols = ["mse", "bin_acc", "bin_acc_025", "mean_pearson", "fc_corr", "frames", "neuropils"]
    if head != ["part", "model", "protocol"] + cols:
        bad(f"metrics.txt header {head}")
    table = {(r[0], r[1], r[2]): dict(zip(head[3:], r[3:])) for r in body}
    want = groups(f)
    for part, m, p in want:
        g = f[f"/predict/metrics/{m}/{p}/{part}"]
        row = table.get((part, m, p))
        if row is None:
            bad(f"metrics.txt has no row {part} {m} {p}")
            continue
        for k in cols:
            got = row.get(k)
            if k not in g.attrs:
                if got != "n/a":
                    bad(f"metrics.txt {part} {m} {p} {k} = {got}, the file has no such attribute")
                continue
            w = float(g.attrs[k])
            if got is None:
                bad(f"metrics.txt {part} {m} {p}: no column {k}")
            elif np.isnan(w) != (got == "nan") or (np.isfinite(w) and abs(float(got) - w) > 1e-7 * max(1.0, abs(w))):
                bad(f"metrics.txt {part} {m} {p} {k} = {got}, the file holds {w!r}")
    if sorted(table) != sorted(want):
        bad(f"metrics.txt has {len(table)} rows, the file {len(want)} metric groups")


def metricsfig(d, h5):
    """metrics.png: per protocol a test-MSE panel ("lower is better") and a mean-Pearson panel; every model
    of the file a bar labelled with the file's value, the headline (and only it) marked."""
    f = h5py.File(h5, "r")
    fig = figures(d)["metrics.png"]
    head = headline(f)
    models = sorted(set(f["/predict/metrics"]) | set(f.get("/predict/forecast", {})))
    panels = [ax for ax in fig["axes"] if ax["kind"] == "panel"]
    if len(panels) != 4:
        bad(f"metrics.png: {len(panels)} panels, expected 4")
    for ax in panels:
        proto = "onestep" if ax["title"].startswith("one step ahead") else "free" if ax["title"].startswith(
            "free-running") else None
        k = "mse" if "MSE" in ax["title"] else "mean_pearson" if "Pearson" in ax["title"] else None
        if proto is None or k is None:
            bad(f"metrics.png panel {ax['title']!r} names no protocol or metric")
            continue
        if k == "mse" and "lower is better" not in ax["title"]:
            bad(f"metrics.png {ax['title']!r}: no 'lower is better'")
        ticks = ax["yticklabels"]
        if sorted(key(t) for t in ticks) != models:
            bad(f"metrics.png {ax['title']!r}: models {[key(t) for t in ticks]}, the file's {models}")
        marked = [key(t) for t in ticks if "(headline)" in t]
        if marked != [head] or key(ticks[0]) != head:
            bad(f"metrics.png {ax['title']!r}: headline marked on {marked}, listed first {key(ticks[0])}; "
                f"the file's headline is {head}")
        if len(ax["texts"]) != len(ticks):
            bad(f"metrics.png {ax['title']!r}: {len(ax['texts'])} values for {len(ticks)} models")
            continue
        for t, shown in zip(ticks, ax["texts"]):
            path = f"/predict/metrics/{key(t)}/{proto}/test"
            v = float(f[path].attrs[k]) if path in f and k in f[path].attrs else np.nan
            want = "n/a" if not np.isfinite(v) else f"{v:.3g}" if k == "mse" else f"{v:.2f}"
            if shown.strip() != want:
                bad(f"metrics.png {ax['title']!r} {key(t)}: shows {shown.strip()!r}, the file holds {v!r}")


cmd, d, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
{"pngs": lambda: pngs(d, rest), "only": lambda: only(d, rest), "labels": lambda: labels(d),
 "predictions": lambda: predictions(d, *rest), "losses": lambda: losses(d, *rest), "fc": lambda: fc(d, *rest),
 "partition": lambda: partition(d, *rest), "metrics": lambda: metrics(d, *rest),
 "forecasts": lambda: forecasts(d, *rest), "metricsfig": lambda: metricsfig(d, *rest)}[cmd]()
for p in problems[:10]:
    print(f"#   {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
