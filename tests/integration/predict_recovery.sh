#!/usr/bin/env bash
# The pipeline (mode = all: round 1, round 2, prediction) learns recordings its own model made:
# flyfit-synth --activity-model brainscale (a 4-frame rhythm plus slow noise) of an 800-neuron brain,
# 240 frames (140 after trimming), jobs/demo-fit.ini's settings with fewer epochs, on 2 ranks. On the
# test frames: the trained network one step ahead beats the untrained one; the chain's GRU one step
# ahead beats persistence and the training mean; the chain free-running beats the untrained chain in
# bin accuracy and persistence in MSE. What it does NOT do, even on these recordings, is beat the
# training mean or the GRU alone free-running (measured when written, test MSE in Hz²: chain free
# 291, untrained 295, persistence 379, mean 226, VAR(2) 186, GRU alone 64; one step: network 156,
# untrained 303, chain's GRU 56, persistence 560): the README reports that, and this test does not
# assert it. Whether the chain beats its controls on recordings it did not make is make evaluate's
# question.
source "$(dirname "$0")/../lib.sh"
"$BIN/flyfit-synth" --neurons 800 --seed 2 -o "$TMP/brain.h5" --activity "$TMP/act.h5" --activity-model brainscale --frames 240 --sample-ms 200 \
  --threads 1 > "$TMP/synth.log" 2>&1 || { fail "flyfit-synth --activity"; tail -3 "$TMP/synth.log"; exit 1; }
sed -e "s|^connectome *=.*|connectome = $TMP/brain.h5|" -e "s|^activity *=.*|activity = $TMP/act.h5|" \
  -e "s|^dir *=.*|dir = $TMP/out|" "$ROOT/jobs/demo-fit.ini" > "$TMP/run.ini"
mpi 2 "$BIN/flyfit" "$TMP/run.ini" --set output.figures=false --set run.progress_s=0 --set fit.epochs_round1=15 \
  --set fit.epochs_round2=20 --set predict.warmup_frames=60 > "$TMP/run.out" 2> "$TMP/run.log" ||
  { fail "flyfit mode = all exited with $?"; tail -3 "$TMP/run.log"; exit 1; }
tail -1 "$TMP/run.out" | sed 's/^/# /'
val() { tail -1 "$TMP/run.out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
beats() { # metric better-direction model protocol other-model other-protocol, on the test frames
  /usr/bin/python3 - "$TMP/out/results.h5" "$@" <<'PY'
import sys, h5py
r = h5py.File(sys.argv[1], "r")
m, d, a_model, a_proto, b_model, b_proto = sys.argv[2:8]
a = r[f"/predict/metrics/{a_model}/{a_proto}/test"].attrs[m]
b = r[f"/predict/metrics/{b_model}/{b_proto}/test"].attrs[m]
print(f"# {a_model}/{a_proto} {m} {a:.4g} against {b_model}/{b_proto} {b:.4g}")
sys.exit(0 if (a > b if d == "higher" else a < b) else 1)
PY
}
check "the summary line's headline MSE is the chain's free run" \
  awk -v a="$(val test_mse)" -v b="$(val chain_free_test_mse)" 'BEGIN { exit !(a == b && a != "") }'
check "one step: the trained network's MSE beats the untrained one's" beats mse lower snn_only onestep untrained onestep
check "one step: the chain's GRU's MSE beats persistence's" beats mse lower chain_gru onestep persistence onestep
check "one step: the chain's GRU's MSE beats the training mean's" beats mse lower chain_gru onestep mean onestep
check "free-running: the chain's bin accuracy beats the untrained chain's" beats bin_acc higher chain free untrained free
check "free-running: the chain's MSE beats persistence's" beats mse lower chain free persistence free
