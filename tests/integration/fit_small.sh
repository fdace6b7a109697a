#!/usr/bin/env bash
# The whole fitting pipeline, small and fast (make check SAN=1 runs it under the sanitizers):
# mode = all (round 1 with connection weights, round 2, prediction) of a 300-neuron brain on 1 and
# 2 ranks gives the same summary lines and the same losses, forecasts and GRU, bit for bit; a
# resumed 2-rank fit ends where the uninterrupted one did.
source "$(dirname "$0")/../lib.sh"
fit_fixture --neurons 300 --sample-ms 40 7 50 run.mode=all preprocess.trim_frames=5 fit.batch=4 fit.epochs_round1=2 \
  "fit.trainable=encoder, connections" fit.epochs_round2=2 fit.rnn_hidden=8 fit.rnn_batch=4 fit.rnn_seq_len=8 \
  fit.rnn_iters=2 predict.warmup_frames=10 output.figures=false || exit 1
cp "$TMP/brain.h5" "$TMP/brain-k2.h5"
"$BIN/flyfit-partition" "$TMP/brain-k2.h5" --ranks 2 > /dev/null 2>&1 || fail "flyfit-partition --ranks 2"
run() { # name np connectome [--set ...]: the "... done:" lines without wall-clock fields in $TMP/name.done
  local name=$1 np=$2 conn=$3; shift 3
  mpi "$np" "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$conn" --set output.dir="$TMP/$name" "$@" \
    > "$TMP/$name.stdout" 2> "$TMP/$name.log" || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log" | sed 's/^/#   /'; return 1; }
  grep -E '^[a-z0-9]+ done:' "$TMP/$name.stdout" | sed -E 's/ samples_per_s=[^ ]*//' > "$TMP/$name.done"
}
# what must not depend on the rank count (round-1 weights are stored in partition order; fit.sh compares them)
same_results() {
  h5diff -q "$TMP/$1/results.h5" "$TMP/$2/results.h5" /fit/round1/val_loss &&
    h5diff -q "$TMP/$1/results.h5" "$TMP/$2/results.h5" /fit/round2/train_loss &&
    h5diff -q "$TMP/$1/results.h5" "$TMP/$2/results.h5" /fit/round2/val_loss &&
    h5diff -q "$TMP/$1/results.h5" "$TMP/$2/results.h5" /predict/forecast &&
    h5diff -q "$TMP/$1/gru-best.h5" "$TMP/$2/gru-best.h5" /params
}
run np1 1 "$TMP/brain.h5" || exit 1
check "mode = all: the fit and predict summary lines" bash -c "grep -q '^fit done: ' '$TMP/np1.done' && grep -q '^predict done: ' '$TMP/np1.done'"
if run np2 2 "$TMP/brain-k2.h5"; then
  check "2 ranks: the summary lines of 1 rank" cmp -s "$TMP/np1.done" "$TMP/np2.done"
  check "2 ranks: round-1 and round-2 losses, forecasts and GRU of 1 rank, bit for bit" same_results np1 np2
fi
# round 1 alone, stopped after epoch 1 and resumed: the checkpoint of the uninterrupted run
if run half 2 "$TMP/brain-k2.h5" --set run.mode=fit --set fit.epochs_round1=1 &&
   run half 2 "$TMP/brain-k2.h5" --set run.mode=fit --set run.resume=auto; then
  check "a resumed 2-rank fit ends with the parameters of the uninterrupted one" \
    h5diff -q "$TMP/np2/checkpoint-epoch-2.h5" "$TMP/half/checkpoint-epoch-2.h5" /params
fi
