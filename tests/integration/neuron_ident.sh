#!/usr/bin/env bash
# Intervals and identifiability after a single-neuron fit (docs/design.md §2.9.6): HH's Gauss-Newton 95%
# intervals hold the planted values about as often as they should over 8 noise seeds (coverage, and the
# mean squared z-score near 1); GIF from its default steps with A1 = A2 = 0 flags k1 and k2 in the done line,
# the log and results.h5; a spike-loss fit gets slice intervals; tools/flyfit-plot draws the fit (traces,
# raster, convergence), its coincidence factors (Python) matching flyfit's gamma loss (C).
source "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
if ! /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  skip "neuron intervals" "python3-h5py is not installed (tools/install-deps.sh installs it)"; exit 0
fi
cat > fit.ini <<'INI'
[run]
mode = neuron
seed = 5
[neuron]
model = hh
starts = 3
max_evals = 600
bounds = gL=0.003:0.025, gNa=8:60, gK=1.5:15, VT=-72:-42
INI
ok_runs=0
for seed in 11 12 13 14 15 16 17 18; do
  "$BIN/flyfit-synth" --neuron hh --seed "$seed" --sweeps 3 --sweep-ms 60 --current 0.2:0.8 -o "hh$seed.h5" >/dev/null 2>&1 &&
    "$BIN/flyfit" fit.ini --set data.recording="hh$seed.h5" --set output.dir="hh$seed" >/dev/null 2>&1 &&
    ok_runs=$((ok_runs + 1))
done
check "8 HH fits ran" test "$ok_runs" -eq 8
coverage() { /usr/bin/python3 - <<'PY'
import h5py, numpy as np, sys
inside, z2 = 0, []
for seed in range(11, 19):
    f = h5py.File("hh%d/results.h5" % seed, "r")["/neuron"]
    lo, hi, sd, t, x = (f[k][()] for k in ("ci_low", "ci_high", "ci_sd", "planted", "fitted"))
    inside += int(((lo <= t) & (t <= hi)).sum())
    z2 += list(((x - t) / sd) ** 2)
    assert all(m.decode() == "gauss-newton" for m in f["ci_method"][()]) and f["identifiable"][()].all()
print("#   %d of 32 intervals hold the planted value; mean squared z-score %.2f" % (inside, np.mean(z2)))
# 95% intervals: 30.4 of 32 expected, 26 or fewer has probability 0.6% for calibrated ones
sys.exit(0 if inside >= 27 and 0.5 <= np.mean(z2) <= 2.0 else 1)
PY
}
check "HH: the Gauss-Newton 95% intervals hold the planted values at about their rate (8 seeds x 4)" coverage

# ---- GIF, default steps, A1 = A2 = 0 ------------------------------------------------------------------------
"$BIN/flyfit-synth" --neuron gif -o gif.h5 >/dev/null 2>&1 || fail "flyfit-synth --neuron gif"
GB="V_rest=-80:-60, R=10:30, tau=10:30, a=0.001:0.01, b=0.005:0.02, k1=0.1:0.4, k2=0.01:0.04"
if "$BIN/flyfit" fit.ini --set data.recording=gif.h5 --set neuron.model=gif --set "neuron.bounds=$GB" \
     --set output.dir=gif >gif.stdout 2>gif.log; then
  tail -1 gif.stdout | sed 's/^/#   /'
  check "gif: the done line keeps its format and appends unidentifiable=...k1...k2" \
    grep -qE '^neuron done: model=gif loss=voltage evals=[0-9]+ V_rest=[^ ]+ R=[^ ]+ tau=[^ ]+ a=[^ ]+ b=[^ ]+ k1=[^ ]+ k2=[^ ]+ unidentifiable=([^ ]*,)?k1,([^ ]*,)?k2(,[^ ]*)?$' <(tail -1 gif.stdout)
  check "gif: the log says k1 is not identifiable" grep -q "k1 = .*NOT IDENTIFIABLE" gif.log
  flags() { /usr/bin/python3 -c "
import h5py, sys
f = h5py.File('gif/results.h5', 'r')['/neuron']
names = [n.decode() for n in f['names'][()]]
flag = dict(zip(names, f['identifiable'][()]))
sys.exit(0 if flag['k1'] == 0 and flag['k2'] == 0 and flag['R'] == 1 and flag['tau'] == 1 else 1)"; }
  check "gif: results.h5 /neuron/identifiable: k1, k2 0; R, tau 1" flags
else
  fail "the GIF fit exited with an error"; tail -3 gif.log | sed 's/^/#   /'
fi

# ---- a spike loss: slice intervals ---------------------------------------------------------------------------
if "$BIN/flyfit" fit.ini --set data.recording=hh11.h5 --set neuron.optimizer=de --set neuron.loss=spike \
     --set neuron.starts=8 --set neuron.max_evals=200 --set output.dir=spk >/dev/null 2>spk.log; then
  check "de, loss = spike: every parameter gets a slice interval" \
    /usr/bin/python3 -c "
import h5py, sys
f = h5py.File('spk/results.h5', 'r')['/neuron']
lo, hi, x = f['ci_low'][()], f['ci_high'][()], f['fitted'][()]
sys.exit(0 if all(m.decode() == 'slice' for m in f['ci_method'][()]) and ((lo <= x) & (x <= hi)).all() else 1)"
else
  fail "the spike-loss fit exited with an error"
fi

# ---- figures (tools/flyfit-plot): traces, raster, convergence of each optimizer ------------------------------
if "$BIN/flyfit" fit.ini --set data.recording=hh11.h5 --set neuron.optimizer=de --set neuron.loss=gamma \
     --set neuron.starts=8 --set neuron.max_evals=40 --set output.dir=gam >/dev/null 2>gam.log; then  # 5 generations: Gamma < 1
  check "flyfit-plot draws a mode = neuron file, with the other optimizers' convergence" \
    "$ROOT/tools/flyfit-plot" gam/results.h5 -o figs --compare hh11/results.h5 --compare spk/results.h5 --quiet
  check "... neuron-traces.png, neuron-raster.png, neuron-convergence.png" \
    test -s figs/neuron-traces.png -a -s figs/neuron-raster.png -a -s figs/neuron-convergence.png
  # Python's coincidence factors per sweep (flyfit-plot) against flyfit's loss, 1 - their mean (C)
  gamma_ok() { /usr/bin/python3 - <<'PY'
import h5py, json, sys
g = json.load(open("figs/figures.json"))["neuron-raster.png"]["gamma"]
loss = h5py.File("gam/results.h5", "r")["/neuron"].attrs["best_loss"]
print("#   Gamma per sweep %s; 1 - mean %.17g, flyfit's loss %.17g" % (g, 1 - sum(g) / len(g), loss))
sys.exit(0 if abs((1 - sum(g) / len(g)) - loss) < 1e-12 else 1)
PY
  }
  check "the raster's coincidence factors (Python) give flyfit's gamma loss (C) to 1e-12" gamma_ok
  lines_ok() { /usr/bin/python3 -c "
import json, sys
ax = json.load(open('figs/figures.json'))['neuron-convergence.png']['axes'][0]
print('#   ' + '; '.join(ax['lines']))
sys.exit(0 if [l.split(':')[0] for l in ax['lines']] == ['de', 'lbfgs', 'de'] else 1)"; }
  check "neuron-convergence.png has one line per file, labelled by optimizer" lines_ok
else
  fail "the gamma-loss fit exited with an error"
fi
