#!/usr/bin/env bash
# flyfit-synth --activity-model: the realistic recordings' statistics (computed from activity.h5 alone
# by tests/tools/activity_stats.py) lie within the ranges of published whole-brain fly imaging
# (docs/guide/data.md), and the brainscale model's lie outside them (lag-1 autocorrelation and mean
# FC), so the check can fail; both write the format flyfit-import writes (an import of the same
# traces gives the same /dff and /rates bit for bit); same seed, same file; options of the other
# model are refused.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
SYN=$BIN/flyfit-synth
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
  skip "flyfit-synth --activity-model" "no numpy/h5py for /usr/bin/python3"
  exit 0
fi
stats() { $PY "$ROOT/tests/tools/activity_stats.py" "$@"; }

# ---- the realistic model (the default): 1,500 neurons, 700 frames (600 after the trim) -----------
check "realistic: flyfit-synth --activity (the default model)" \
  "$SYN" --neurons 1500 --seed 1 -o "$TMP/brain.h5" --activity "$TMP/real.h5" --frames 700 2>"$TMP/real.log"
check "realistic: the log names the model" grep -q "realistic model, 700 frames" "$TMP/real.log"
stats "$TMP/real.h5" --check > "$TMP/real.txt"; rc=$?
sed 's/^/# /' "$TMP/real.txt"
check "realistic: spectrum slope, lag-1 AC, FC mean and sign, noise sd, zero share within their ranges" test $rc -eq 0
check "realistic: the noise estimate comes from the stored noise-free traces" grep -q "noise_from=truth" "$TMP/real.txt"

# ---- the brainscale model: the demo's former recordings (200 ms of network per frame) -------------
check "brainscale: flyfit-synth --activity-model brainscale" \
  "$SYN" --neurons 1000 --seed 1 -o "$TMP/bs-brain.h5" --activity "$TMP/bs.h5" --activity-model brainscale \
  --frames 700 --sample-ms 200 --threads 1 2>"$TMP/bs.log"
stats "$TMP/bs.h5" --expect-outside ac1,fc_mean > "$TMP/bs.txt"; rc=$?
sed 's/^/# /' "$TMP/bs.txt"
check "brainscale: lag-1 AC and FC mean lie outside the realistic ranges" test $rc -eq 0
check "brainscale: the truth keeps the hidden encoder" \
  $PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); sys.exit(not ('truth/encoder_w' in f and f['truth'].attrs['model'] in ('brainscale', b'brainscale')))" "$TMP/bs.h5"

# ---- the same format as flyfit-import: import the stored raw traces, compare ---------------------
for m in real bs; do
  $PY - "$TMP/$m.h5" "$TMP/$m.npz" <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
areas = [a.decode() if isinstance(a, bytes) else a for a in f["areas"][:]]
tr = f["traces"][:].astype(np.float64).T  # [P, T]
np.savez(sys.argv[2], areas=np.array(["background"] + areas), traces=np.vstack([np.ones((1, tr.shape[1])), tr]))
EOF
  "$BIN/flyfit-import" activity "$TMP/$m.npz" --fs-hz 1.2 -o "$TMP/$m-imp.h5" 2>/dev/null
  check "$m: an import of its /traces gives the same /areas, /dff and /rates" \
    $PY -c "
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
sys.exit(not all(np.array_equal(a[k][:], b[k][:]) for k in ('areas', 'traces', 'dff', 'rates')))" "$TMP/$m.h5" "$TMP/$m-imp.h5"
done

# ---- reproducible ------------------------------------------------------------------------------------
"$SYN" --neurons 1500 --seed 1 -o "$TMP/brain2.h5" --activity "$TMP/real2.h5" --frames 700 2>/dev/null
"$SYN" --neurons 1500 --seed 2 -o "$TMP/brain3.h5" --activity "$TMP/real3.h5" --frames 700 2>/dev/null
same() { $PY -c "
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
sys.exit(not all(np.array_equal(a[k][:], b[k][:]) for k in ('traces', 'rates', 'truth/clean', 'truth/rates')))" "$@"; }
check "realistic: the same seed gives the same recordings" same "$TMP/real.h5" "$TMP/real2.h5"
if same "$TMP/real.h5" "$TMP/real3.h5"; then fail "realistic: another seed gives others"; else
  ok "realistic: another seed gives others"; fi

# ---- options of the other model are refused ------------------------------------------------------
expect_error "realistic refuses --wave-hz" "--wave-hz is an option of --activity-model brainscale" \
  "$SYN" --neurons 300 -o "$TMP/x.h5" --activity "$TMP/x-act.h5" --wave-hz 0
expect_error "realistic refuses --threads" "--threads is an option of --activity-model brainscale" \
  "$SYN" --neurons 300 -o "$TMP/x.h5" --activity "$TMP/x-act.h5" --threads 2
expect_error "brainscale refuses --coupling" "--coupling is an option of --activity-model realistic" \
  "$SYN" --neurons 300 -o "$TMP/x.h5" --activity "$TMP/x-act.h5" --activity-model brainscale --coupling 0.5
expect_error "brainscale refuses --tau-rise-s" "--tau-rise-s is an option of --activity-model realistic" \
  "$SYN" --neurons 300 -o "$TMP/x.h5" --activity "$TMP/x-act.h5" --activity-model brainscale --tau-rise-s 0.1
expect_error "an unknown model is named" "--activity-model 'gcamp': it is realistic \(the default\) or brainscale" \
  "$SYN" --neurons 300 -o "$TMP/x.h5" --activity "$TMP/x-act.h5" --activity-model gcamp
expect_error "rise must be shorter than decay" "--tau-decay-s 0.1 must be longer than --tau-rise-s 0.12" \
  "$SYN" --neurons 300 -o "$TMP/x.h5" --activity "$TMP/x-act.h5" --tau-decay-s 0.1
check "refused command lines write nothing" test ! -e "$TMP/x.h5" -a ! -e "$TMP/x-act.h5"
check "--help documents both models" bash -c "'$SYN' --help | grep -q 'realistic   recordings' && '$SYN' --help | grep -q 'brainscale  flyfit'"
