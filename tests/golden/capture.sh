#!/usr/bin/env bash
# Golden outputs of a build, as text, for comparing two builds bit for bit (a refactoring must not
# change them). Prints one line per output: the summary lines of simulate, fit, round 2 and predict
# (wall-clock fields removed) and SHA-256 digests of the spikes, states, losses, weights, Adam state,
# GRU and forecasts, on 1 and 2 ranks, both presets, both gradient methods (ES-D-RTRL, D-RTRL), and the demo's outputs
# when out/demo holds them (make demo).
# usage: tests/golden/capture.sh [ROOT] > golden.txt      (ROOT: the tree whose bin/ to run; default .)
#        diff <(git stash; make; tests/golden/capture.sh) <(...) is the intended use.
set -euo pipefail
RUN_ROOT=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
# the test helpers (mpi, fit_fixture, Open MPI's settings, $TMP), then the programs of RUN_ROOT
source "$(dirname "$0")/../lib.sh"
BIN=$RUN_ROOT/bin
PY=/usr/bin/python3
# the "... done:" lines of a run's stdout, without the fields that measure time
summary() { { grep -E '^[a-z0-9]+ done:' "$1" || true; } | sed -E 's/ (samples_per_s|wall_s_per_simulated_s)=[^ ]*//g'; }
# SHA-256 of every dataset of an HDF5 file, by name, except wall-clock ones and the effective
# config text (it names the temporary paths)
digest() {
  $PY - "$@" <<'PYEOF'
import sys, hashlib, h5py, numpy as np
label, path = sys.argv[1], sys.argv[2]
skip = ("seconds", "samples_per_s", "config", "hosts", "wall", "rss", "version", "created", "time", "peak")
def visit(name, obj):
    if not isinstance(obj, h5py.Dataset) or any(s in name.lower() for s in skip):
        return
    a = obj[()]
    if name.endswith("history") and a.ndim == 2:  # wall-clock columns: samples/s and seconds (round 1), seconds (round 2)
        a = np.delete(a, [7, 9] if a.shape[1] == 10 else [a.shape[1] - 1], axis=1)
    if isinstance(a, np.ndarray) and a.dtype.kind in "OSU":
        a = np.array([str(x) for x in a.ravel()])
    h = hashlib.sha256(np.ascontiguousarray(a).tobytes() if isinstance(a, np.ndarray) else repr(a).encode())
    print(f"{label} /{name} {getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', ())} {h.hexdigest()[:16]}")
with h5py.File(path, "r") as f:
    f.visititems(visit)
PYEOF
}

# ---- simulation: both presets, 1 and 2 ranks, cpu and emulate -----------------------------------
"$BIN/flyfit-synth" --neurons 3000 --seed 11 -o "$TMP/net.h5" > /dev/null
cp "$TMP/net.h5" "$TMP/net2.h5"
"$BIN/flyfit-partition" "$TMP/net2.h5" --ranks 2 > /dev/null
$PY -c "
import h5py; ids = h5py.File('$TMP/net.h5','r')['/neurons/root_id'][:40]
open('$TMP/poisson.txt','w').write('\n'.join(str(i) for i in ids[:20]) + '\n')
open('$TMP/watch.txt','w').write('\n'.join(str(i) for i in ids[20:24]) + '\n')"
for preset in shiu brainscale; do
  cat > "$TMP/sim-$preset.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
preset = $preset
duration_ms = 300
batch = 3
seed = 4
threads = 1
progress_s = 0
[stimulus]
poisson_neurons = @$TMP/poisson.txt
poisson_rate_hz = 200
[output]
dir = $TMP/out
spikes = all
state_neurons = @$TMP/watch.txt
INI
  for run in "1 cpu" "2 cpu" "2 emulate"; do
    set -- $run
    net=$TMP/net.h5; [ "$1" = 2 ] && net=$TMP/net2.h5
    name=sim-$preset-np$1-$2
    mpi "$1" "$BIN/flyfit" "$TMP/sim-$preset.ini" --set data.connectome="$net" --set run.backend="$2" \
      --set output.dir="$TMP/$name" > "$TMP/$name.out" 2> "$TMP/$name.log"
    grep -oE 'spikes [0-9]+ \(mean [^)]*\), synaptic events [0-9]+' "$TMP/$name.log" | sed "s/^/$name: /"
    digest "$name" "$TMP/$name/results.h5" | grep -E ' /(spikes|state|neurons|neuropils)/'
  done
done

# ---- round 1, round 2 and prediction: the fixtures of tests/integration/fit.sh and predict.sh ----
fit_fixture 3 80 run.mode=all fit.batch=8 fit.epochs_round1=2 "fit.trainable=encoder, connections" \
  fit.epochs_round2=3 fit.rnn_hidden=16 fit.rnn_batch=6 fit.rnn_seq_len=12 fit.rnn_iters=3 fit.rnn_lr=0.01 \
  predict.warmup_frames=20 output.figures=false
cp "$TMP/brain.h5" "$TMP/brain2.h5"
"$BIN/flyfit-partition" "$TMP/brain2.h5" --ranks 2 > /dev/null
for run in "1 0.99" "2 0.99" "1 0"; do
  set -- $run
  net=$TMP/brain.h5; [ "$1" = 2 ] && net=$TMP/brain2.h5
  name=all-np$1-$2
  mpi "$1" "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$net" --set fit.etrace_decay="$2" \
    --set output.dir="$TMP/$name" > "$TMP/$name.out" 2> "$TMP/$name.log"
  summary "$TMP/$name.out" | sed "s/^/$name: /"
  # weights and Adam state are stored in partition order: compare them between runs of one rank count
  for f in results.h5 checkpoint-best.h5 checkpoint-epoch-2.h5 gru-best.h5; do
    digest "$name:$f" "$TMP/$name/$f"
  done
done

# ---- the demo (make demo), when it has been run ----------------------------------------------------
if [ -f "$RUN_ROOT/out/demo/results.h5" ]; then
  digest demo "$RUN_ROOT/out/demo/results.h5" | grep -E ' /(spikes|state|neurons|neuropils)/'
fi
if [ -f "$RUN_ROOT/out/demo/fit/summary.txt" ]; then
  summary "$RUN_ROOT/out/demo/fit/summary.txt" | sed 's/^/demo-fit: /'
  digest demo-fit "$RUN_ROOT/out/demo/fit/results.h5"
fi
