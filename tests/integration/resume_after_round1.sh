#!/usr/bin/env bash
# Round 2 resumes (mode = all, 2 ranks): after every epoch it writes DIR/gru-last.h5 (the GRU, Adam,
# the best epoch's parameters, the history), and [run] resume = auto continues from it.
# - a round 2 run for 2 epochs, then resumed to 12, ends bit-identical to 12 epochs uninterrupted:
#   round 2's history, the kept GRU, and every forecast of the prediction after it;
# - SIGUSR1 during round 2 (exit 75), then resume = auto: the same, and the log says where it continued;
# - the gru-only control resumes too (gru-only-last.h5);
# - the prediction ([predict] checkpoint_s = 0: a resume point after every frame) stopped by SIGUSR1 resumes
#   to the same forecasts, and a resume point of another configuration is refused;
# - a resume point of another configuration (rnn_lr) or of another round 1 (one more round-1 epoch
#   changes round 2's input) is refused, naming the key or the cause.
source "$(dirname "$0")/../lib.sh"
fit_fixture --neurons 300 5 60 run.mode=all fit.batch=8 fit.epochs_round1=1 fit.rnn_hidden=48 fit.rnn_batch=8 fit.rnn_seq_len=16 \
  fit.rnn_iters=60 predict.warmup_frames=10 output.figures=false || exit 1
"$BIN/flyfit-partition" "$TMP/brain.h5" --ranks 2 > /dev/null 2>&1 || { fail "flyfit-partition"; exit 1; }
run() { # name np [--set ...]: flyfit in DIR $TMP/name; status in $rc
  local name=$1 np=$2; shift 2
  mpi "$np" "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/$name" "$@" > "$TMP/$name.out" 2>> "$TMP/$name.log"
  rc=$?
}
# round 2's history without its timings, the kept GRU and the control's, and every forecast
canon() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
r = h5py.File(f"{d}/results.h5", "r")
for m in ("train_loss", "train_bin_acc", "val_loss", "val_bin_acc", "val_mse", "lr"):
    print(m, r[f"/fit/round2/{m}"][:].tobytes().hex())
print("best", r["/fit/round2"].attrs["best_epoch"])
def walk(name, obj):
    if isinstance(obj, h5py.Dataset):
        print(name, obj[()].tobytes().hex())
r["/predict/forecast"].visititems(walk)
for f in ("gru-best.h5", "gru-only-best.h5"):
    h5py.File(f"{d}/{f}", "r")["/params"].visititems(walk)
PY
}
export -f canon
run ref 2 --set fit.epochs_round2=12
check "uninterrupted run (12 round-2 epochs)" test "$rc" -eq 0
canon "$TMP/ref" > "$TMP/ref.txt" || fail "reading the reference results"

run twice 2 --set fit.epochs_round2=2
check "2 epochs: gru-last.h5 and gru-only-last.h5 written" test "$rc" -eq 0 -a -s "$TMP/twice/gru-last.h5" -a -s "$TMP/twice/gru-only-last.h5"
run twice 2 --set fit.epochs_round2=12 --set run.resume=auto
check "... resumed to 12 epochs (exit $rc): the log says round 2 continued after 2 epochs, both GRUs" \
  bash -c "test $rc -eq 0 && test \$(grep -c 'round 2 continues from .*gru-\(only-\)\{0,1\}last.h5 after 2 epochs' '$TMP/twice.log') -eq 2"
check "... history, kept GRUs and every forecast bit-identical to the uninterrupted run" \
  bash -c "cmp -s <(canon '$TMP/twice') '$TMP/ref.txt'"

mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/stop" --set fit.epochs_round2=12 \
  > "$TMP/stop.out" 2> "$TMP/stop.log" &
job=$!
started=0
for _ in $(seq 1 1200); do grep -q "round 2 epoch 3/12" "$TMP/stop/flyfit.log" 2>/dev/null && { started=1; break; }; sleep 0.05; done
if [ $started -eq 1 ]; then
  kill -USR1 "$job"; wait "$job"; rc=$?
  if [ "$rc" -eq 0 ]; then
    skip "SIGUSR1 during round 2" "round 2 finished before the signal arrived"
  else
    check "SIGUSR1 during round 2: exit status 75 (got $rc)" test "$rc" -eq 75
    run stop 2 --set fit.epochs_round2=12 --set run.resume=auto
    check "... resume = auto finishes (exit $rc), continuing round 2 from its last finished epoch" \
      bash -c "test $rc -eq 0 && grep -qE 'round 2 continues from .*last.h5 after [0-9]+ epochs' '$TMP/stop.log'"
    check "... bit-identical to the uninterrupted run" bash -c "cmp -s <(canon '$TMP/stop') '$TMP/ref.txt'"
  fi
else
  fail "round 2 did not reach epoch 3"; kill "$job" 2> /dev/null; wait "$job"
fi

cp -r "$TMP/twice" "$TMP/other"
expect_error "a resume point of another configuration" \
  "gru-last.h5' was made with another configuration: fit.rnn_lr: checkpoint 0.001, this run 0.002" \
  mpi 2 "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/other" --set fit.epochs_round2=14 --set run.resume=auto \
  --set fit.rnn_lr=0.002
expect_error "a resume point of another round 1" \
  "gru-last.h5' continues a round 2 trained on other inputs \(the recordings or round 1's network changed since\)" \
  mpi 2 "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/other" --set fit.epochs_round2=14 --set run.resume=auto \
  --set fit.epochs_round1=2

# the prediction resumes too: with [predict] checkpoint_s = 0 it saves DIR/predict-partial.h5 after every
# frame of its passes; SIGUSR1 while it runs, then resume = auto, ends with the uninterrupted run's forecasts
mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/pstop" --set fit.epochs_round2=12 \
  --set predict.checkpoint_s=0 > "$TMP/pstop.out" 2> "$TMP/pstop.log" &
job=$!
started=0
# wait for the first resume point as long as the run lives (a loaded machine takes minutes to get there)
while kill -0 "$job" 2> /dev/null; do [ -s "$TMP/pstop/predict-partial.h5" ] && { started=1; break; }; sleep 0.02; done
if [ $started -eq 1 ]; then
  sleep 0.3
  kill -USR1 "$job"; wait "$job"; rc=$?
  if [ "$rc" -eq 0 ]; then
    skip "SIGUSR1 during the prediction" "the prediction finished before the signal arrived"
  else
    check "SIGUSR1 during the prediction: exit status 75 (got $rc), a resume point left" \
      test "$rc" -eq 75 -a -s "$TMP/pstop/predict-partial.h5"
    check "... run.json says stopped in predict" /usr/bin/python3 -c "import json,sys; j = json.load(open('$TMP/pstop/run.json')); sys.exit(0 if j['status'] == 'stopped' and j['phase'] == 'predict' else 1)"
    cp -r "$TMP/pstop" "$TMP/pother"
    run pstop 2 --set fit.epochs_round2=12 --set run.resume=auto --set predict.checkpoint_s=0
    check "... resume = auto finishes (exit $rc), the prediction continuing where it stopped" \
      bash -c "test $rc -eq 0 && grep -qE 'the prediction continues from .*predict-partial.h5 at pass [1-5] of 5, frame [0-9]+' '$TMP/pstop.log'"
    check "... every forecast bit-identical to the uninterrupted run; the resume point is gone" \
      bash -c "cmp -s <(canon '$TMP/pstop') '$TMP/ref.txt' && test ! -e '$TMP/pstop/predict-partial.h5'"
  fi
else
  wait "$job"; rc=$?
  if [ "$rc" -eq 0 ] && grep -q 'predict' "$TMP/pstop.log"; then
    skip "SIGUSR1 during the prediction" "the run ended before a resume point was seen (polled every 20 ms)"
  else
    fail "the prediction left no resume point (the run ended with $rc)"
  fi
fi
if [ -e "$TMP/pother/predict-partial.h5" ]; then
  expect_error "a prediction resume point of another configuration" \
    "predict-partial.h5' was made with another configuration: predict.warmup_frames: checkpoint 10, this run 12" \
    mpi 2 "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/pother" --set fit.epochs_round2=12 --set run.resume=auto \
    --set predict.warmup_frames=12
fi
