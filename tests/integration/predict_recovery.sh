#!/usr/bin/env bash
# The whole pipeline (mode = all: round 1, round 2, prediction) learns synthetic recordings: on the
# test frames, the trained chain's forecast beats the untrained chain and both naive baselines
# ("same as last frame" and the per-neuropil mean) in bin accuracy and in MSE. The recordings are
# flyfit-synth's default drive (a 4-frame rhythm plus slow noise) of an 800-neuron brain, 240 frames
# (140 after trimming, 43 of them test frames), jobs/demo-fit.ini's settings with fewer epochs, on
# 2 ranks. (Measured when written: trained 0.685 / 51 Hz², untrained 0.291 / 451, last frame
# 0.461 / 550, mean 0.070 / 225.)
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
beats() { # metric better-direction model
  local m=$1 dir=$2 other=$3 a b
  a=$(val "test_$m") b=$(val "${other}_test_$m")
  [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" -v d="$dir" 'BEGIN { exit !(d == "higher" ? a > b : a < b) }'
}
for other in untrained last_frame mean; do
  check "test frames: the trained forecast's bin accuracy beats $other's" beats bin_acc higher $other
  check "test frames: the trained forecast's MSE beats $other's" beats mse lower $other
done
