#!/usr/bin/env bash
# tools/evaluate-table, the table of make evaluate, on fake runs with known answers
# (tests/tools/mkevaluate.py: every forecast is the recording plus noise of a known sd, chain_gru equals
# chain): the mean scores are the means of the files' attributes, recomputed here; each paired
# difference is recomputed from the forecasts; the bootstrap intervals contain the true difference
# (sd_chain^2 - sd_X^2) and have width; chain against an identical forecast gives 0 and [0, 0]; the
# best control is named; the bootstrap's coverage is about 95% over many simulated data sets.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
TAB=$ROOT/tools/evaluate-table
$PY "$ROOT/tests/tools/mkevaluate.py" "$TMP/runs" --seeds 3 || { fail "mkevaluate.py"; exit 0; }
RUNS=("$TMP/runs/seed-1" "$TMP/runs/seed-2" "$TMP/runs/seed-3")
echo "fit: a fake" > "$TMP/settings.txt"
check "evaluate-table runs on three fake seeds" \
  bash -c "'$TAB' -o '$TMP/out' --commit abc123 --settings '$TMP/settings.txt' --replicates 4000 ${RUNS[*]} > '$TMP/table.txt' 2> '$TMP/table.err'"
sed 's/^/# /' "$TMP/table.err" | head -5
check "it prints the table it writes" cmp -s "$TMP/table.txt" "$TMP/out/table.md"
check "table.md names the commit, the seeds and the settings" \
  bash -c "grep -q 'commit: \`abc123\`' '$TMP/out/table.md' && grep -q 'seeds: seed-1, seed-2, seed-3' '$TMP/out/table.md' && grep -q 'fit: a fake' '$TMP/out/table.md'"
check "forecasts.png is a PNG" bash -c "head -c 8 '$TMP/out/forecasts.png' | od -An -tx1 | grep -q '89 50 4e 47'"

$PY - "$TMP/out/table.json" "$TMP/runs/truth.json" "${RUNS[@]}" <<'PY'
import json, sys
import h5py
import numpy as np

def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what)

res, truth, runs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3:]
P = ["onestep", "free"]
models = ["chain", "chain_gru", "untrained", "gru_only", "snn_only", "persistence", "mean", "median", "var1", "var2"]

def attrs(run, m, p):
    f, mm = (f"{run}/shuffled/results.h5", "chain") if m == "shuffled" else (f"{run}/brain/results.h5", m)
    with h5py.File(f, "r") as h:
        return dict(h[f"/predict/metrics/{mm}/{p}/test"].attrs)

def errors(run, m, p):
    f, mm = (f"{run}/shuffled/results.h5", "chain") if m == "shuffled" else (f"{run}/brain/results.h5", m)
    with h5py.File(f, "r") as h:
        t0 = int(h["/predict"].attrs["test_start"])
        rec = h["/predict/recorded"][()].astype(np.float64)
        fc = h[f"/predict/forecast/{mm}/{p}"][()].astype(np.float64)
    return ((fc[t0:] - rec[t0:]) ** 2).mean(axis=1)

worst = 0.0
for m in models + ["shuffled"]:
    for p in P:
        for k in ["mse", "bin_acc", "bin_acc_025", "mean_pearson", "fc_corr"]:
            want = np.mean([float(attrs(r, m, p)[k]) for r in runs])
            worst = max(worst, abs(res["models"][m][p][k] - want) / max(1.0, abs(want)))
check(worst < 1e-12, f"every mean score is the mean of the runs' attributes (largest relative error {worst:.1e})")

inside, width, est_err, n = 0, [], 0.0, 0
for p in P:
    for m, c in res["vs_chain"][p].items():
        est = np.mean([(errors(r, "chain", p) - errors(r, m, p)).mean() for r in runs])
        est_err = max(est_err, abs(c["diff"] - est))
        if m == "chain_gru":
            continue
        n += 1
        inside += c["lo"] <= truth["diff_vs_chain"][p][m] <= c["hi"]
        width.append(c["hi"] - c["lo"])
        ok = c["lo"] <= c["diff"] <= c["hi"]
        if not ok:
            check(False, f"{p} {m}: the estimate {c['diff']:.4g} is inside its interval [{c['lo']:.4g}, {c['hi']:.4g}]")
check(est_err < 1e-9, f"each paired difference is the mean over seeds of the per-frame differences, recomputed (error {est_err:.1e})")
check(n == 18, f"chain is compared with the 9 other models in both protocols ({n})")
check(inside >= n - 1, f"the 95% intervals contain the true difference sd_chain^2 - sd_X^2 ({inside} of {n})")
check(min(width) > 0.1, f"the intervals are not degenerate (narrowest {min(width):.3g} Hz^2)")
for p in P:
    z = res["vs_chain"][p]["chain_gru"]
    check(z["diff"] == 0 and z["lo"] == 0 and z["hi"] == 0 and z["a_better_in"] == 0,
          f"{p}: chain against an identical forecast: difference 0, interval [0, 0]")
    b = res["best_control"][p]
    check(b["model"] == truth["best_control"][p], f"{p}: best control {b['model']} (expected {truth['best_control'][p]})")
    c = res["vs_best_control"][p]["chain"]
    d = res["vs_chain"][p][b["model"]]
    check(c["diff"] == d["diff"] and c["lo"] == d["lo"] and c["hi"] == d["hi"],
          f"{p}: chain minus the best control is the same comparison in both tables")
PY

# the bootstrap itself: over 200 simulated data sets of 5 seeds whose true mean difference is known,
# the 95% intervals must cover it close to 95% of the time (binomial sd 1.5%; a percentile bootstrap
# over few seeds runs a little short), with independent frames and with
# autocorrelated ones (AR(1), phi 0.8) in blocks of 10 frames
$PY - "$TAB" <<'PY'
import importlib.machinery, importlib.util, sys
import numpy as np
loader = importlib.machinery.SourceFileLoader("evaluate_table", sys.argv[1])
spec = importlib.util.spec_from_loader("evaluate_table", loader)
et = importlib.util.module_from_spec(spec)
loader.exec_module(et)

def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what)

def coverage(phi, block, trials=200, seeds=5, n=150, truth=-1.5):
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(trials):
        boot = et.Bootstrap(seeds, n, block, 1000, int(rng.integers(1 << 30)))
        diffs = []
        for s in range(seeds):
            z = rng.normal(0, 1, n + 100)
            x = np.empty_like(z)
            x[0] = z[0]
            for t in range(1, z.size):
                x[t] = phi * x[t - 1] + np.sqrt(1 - phi * phi) * z[t]
            diffs.append(truth + rng.normal(0, 0.3) + 2.0 * x[100:])  # a seed effect and frame noise
        _, lo, hi = boot.interval(diffs)
        hits += lo <= truth <= hi
    return hits / trials

c = coverage(0.0, 1)
check(0.85 <= c <= 0.99, f"independent frames, single-frame resampling: coverage {c:.3f}")
c = coverage(0.8, 10)
check(0.85 <= c <= 0.99, f"AR(1) frames (phi 0.8), blocks of 10: coverage {c:.3f}")
c = coverage(0.8, 1)
print(f"# AR(1) frames, single-frame resampling: coverage {c:.3f} (why the frames are drawn in blocks)")
PY

# errors: a missing run, a recording that differs between a run's two fits, a bad command line
expect_error "a missing results file is named" "nowhere/brain/results.h5: no such file" "$TAB" -o "$TMP/x" "$TMP/nowhere"
cp -r "$TMP/runs/seed-1" "$TMP/bad"
$PY -c "
import h5py, sys
with h5py.File('$TMP/bad/shuffled/results.h5', 'r+') as f:
    f['/predict'].attrs['test_start'] = 281
"
expect_error "a shuffled run on another test block is refused" "not a paired run" "$TAB" -o "$TMP/x" "$TMP/bad"
cp -r "$TMP/runs/seed-2" "$TMP/uneven"
$PY -c "
import h5py
with h5py.File('$TMP/uneven/brain/results.h5', 'r+') as f:
    f['/predict/metrics/mean/onestep/test'].attrs['neuropils'] = 7
    f['/predict/metrics/var1/free/test'].attrs['mse'] = 1.0
"
"$TAB" -o "$TMP/uneven-out" --quiet "$TMP/uneven" 2>/dev/null
check "a Pearson average over other neuropils is noted" \
  grep -q "neuropils in the Pearson average differ between models: 7: mean onestep; 12: " "$TMP/uneven-out/table.md"
check "an mse attribute that the forecast does not give is noted" \
  grep -q "uneven: var1 free: mse attribute 1, recomputed from the forecast" "$TMP/uneven-out/table.md"
check "bad --replicates: exit status 1" bash -c "'$TAB' --replicates 5 '$TMP/runs/seed-1' >/dev/null 2>&1; [ \$? -eq 1 ]"
check "--help exits 0 and describes the method" bash -c "'$TAB' --help | grep -q 'circular block bootstrap'"
check "nothing was written for the failed runs" test ! -e "$TMP/x"

# the driver's command line (a whole run is make evaluate's, ~30 minutes)
check "tools/evaluate --help exits 0" bash -c "'$ROOT/tools/evaluate' --help | grep -q 'usage: tools/evaluate'"
expect_error "tools/evaluate: a bad seed is refused" "seed 'x' is not a whole number" "$ROOT/tools/evaluate" --seeds "1 x" --out "$TMP/ev"
expect_error "tools/evaluate --table-only without runs names the missing file" "seed-1/brain/results.h5 is missing" \
  "$ROOT/tools/evaluate" --table-only --seeds 1 --out "$TMP/ev"
