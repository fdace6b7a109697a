#!/usr/bin/env bash
# mode = fit (round 1) end to end on a small synthetic brain with synthetic recordings:
# - bit-identical losses, simulated rates and weights (encoder and connections, ES-D-RTRL) for 1, 2, 3
#   and 4 ranks and the metis, block and random partitions; D-RTRL on 1 and 3 ranks;
# - a resumed run equals an uninterrupted one, checkpoint by checkpoint;
# - the summary line, results.h5 and the checkpoints hold what they promise;
# - every bad input named in the issue stops with its message and leaves earlier output alone.
source "$(dirname "$0")/../lib.sh"
fit_fixture 3 70 fit.batch=8 fit.epochs_round1=2 "fit.trainable=encoder, connections" || exit 1
check "flyfit-synth --activity writes traces, rates and the truth" \
  bash -c "h5dump -n '$TMP/act.h5' | grep -q '/truth/encoder_w' && h5dump -n '$TMP/act.h5' | grep -q '/rates'"
for K in 2 3 4; do
  for m in metis block random; do
    cp "$TMP/brain.h5" "$TMP/brain-k$K-$m.h5"
    "$BIN/flyfit-partition" "$TMP/brain-k$K-$m.h5" --ranks $K --method $m > /dev/null 2>&1 || fail "partition k$K $m"
  done
done
fit() { # name np connectome [--set ...]: runs, keeps stdout's last line in $TMP/name.summary
  local name=$1 np=$2 conn=$3; shift 3
  mpi "$np" "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$conn" --set output.dir="$TMP/$name" "$@" \
    > "$TMP/$name.stdout" 2> "$TMP/$name.log" || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log"; return 1; }
  tail -1 "$TMP/$name.stdout" > "$TMP/$name.summary"
}
# everything that must not depend on ranks or partition, with weights put back in original order
canon() { # run-dir connectome K [adam] -> text
  /usr/bin/python3 - "$@" <<'PY'
import sys, h5py, numpy as np
d, conn, K, adam = sys.argv[1], sys.argv[2], int(sys.argv[3]), len(sys.argv) > 4
r = h5py.File(f"{d}/results.h5", "r")
c = h5py.File(f"{d}/checkpoint-epoch-2.h5", "r")
out = [r[f"/fit/round1/{m}"][:] for m in ("train_loss", "val_loss", "train_bin_acc", "val_bin_acc", "grad_norm")]
out += [r["/round1/sim_rates"][:], r["/round1/test_pred"][:]]
enc, cw = c["/params/encoder_w"][:], c["/params/connection_w"][:]
if K > 1:
    g = h5py.File(conn, "r")[f"/partition/k{K}"]
    order = g["order"][:]
    enc = enc[np.argsort(order)]
    pre, po, pc, tg, no = g["pre"][:], g["pre_offsets"][:], g["pre_conn"][:], g["target"][:], g["neuron_offsets"][:]
    key = np.empty(len(cw), np.int64)
    for q in range(K):
        for s in range(po[q], po[q + 1]):
            key[pc[s]:pc[s + 1]] = order[pre[s]] * 10**7 + order[no[q] + tg[pc[s]:pc[s + 1]]]
    cw = cw[np.argsort(key, kind="stable")]
for a in out + [enc, cw] + ([c["/adam/connection_v"][:], c["/adam/encoder_w_m"][:]] if adam else []):
    print(a.dtype, a.shape, a.tobytes().hex())
PY
}
fit ref 1 "$TMP/brain.h5" || exit 1
canon "$TMP/ref" "$TMP/brain.h5" 1 > "$TMP/ref.txt"
check "the summary is the last line on stdout, with every key" \
  grep -qE "^fit done: epochs=2 .*train_loss=.* test_loss=.* test_bin_acc=.* untrained_test_loss=.* untrained_test_bin_acc=" "$TMP/ref.summary"
check "the log has an epoch line with loss, bin accuracy, MSE, gradient norm and samples/s" \
  grep -qE "epoch 2/2: train loss .* \(bin acc .*, mse .*\), validation loss .* grad norm .* samples/s" "$TMP/ref.log"
for cfg in "2 metis" "3 block" "4 random" "3 metis" "4 metis"; do
  set -- $cfg
  fit "k$1-$2" "$1" "$TMP/brain-k$1-$2.h5" --set run.exchange=$([ "$1" = 3 ] && echo targeted || echo allgather) || continue
  if cmp -s <(canon "$TMP/k$1-$2" "$TMP/brain-k$1-$2.h5" "$1") "$TMP/ref.txt" &&
     cmp -s "$TMP/ref.summary" <(sed 's/samples_per_s=.*//' "$TMP/k$1-$2.summary" | paste -d '' - <(sed 's/.*samples_per_s=/samples_per_s=/' "$TMP/ref.summary")); then
    ok "ES-D-RTRL: $1 ranks, $2 partition: losses, rates and weights identical to 1 rank"
  else
    fail "ES-D-RTRL: $1 ranks, $2 partition differ from 1 rank"
  fi
done
fit dref 1 "$TMP/brain.h5" --set fit.etrace_decay=0 && fit d3 3 "$TMP/brain-k3-metis.h5" --set fit.etrace_decay=0 &&
  check "D-RTRL: 3 ranks identical to 1 rank" \
    cmp -s <(canon "$TMP/dref" "$TMP/brain.h5" 1) <(canon "$TMP/d3" "$TMP/brain-k3-metis.h5" 3)

# resume: 1 epoch, then continue to 2, against the uninterrupted run
fit half 2 "$TMP/brain-k2-metis.h5" --set fit.epochs_round1=1 &&
  fit half 2 "$TMP/brain-k2-metis.h5" --set run.resume=auto &&
  check "resume = auto continues from the epoch-1 checkpoint" grep -q "continuing from .*checkpoint-epoch-1.h5" "$TMP/half.log" &&
  check "a resumed run ends with the same weights, Adam state and rates as an uninterrupted one" \
    cmp -s <(canon "$TMP/half" "$TMP/brain-k2-metis.h5" 2 adam) <(canon "$TMP/k2-metis" "$TMP/brain-k2-metis.h5" 2 adam)
check "checkpoints: the two newest epochs and the best are kept" \
  bash -c "ls '$TMP/ref' | grep -c checkpoint | grep -qx 3"

# bad inputs: each stops with its message, and earlier output stays as it was
cp -r "$TMP/ref" "$TMP/keep"
same_output() { # every earlier file unchanged; the log may only have grown (a run appends to it)
  diff -r -q -x flyfit.log "$TMP/ref" "$TMP/keep" && cmp -s "$TMP/keep/flyfit.log" <(head -c "$(stat -c %s "$TMP/keep/flyfit.log")" "$TMP/ref/flyfit.log")
}
unchanged() { check "$1: earlier results, checkpoints and log kept" same_output; }
bad() { # description pattern --set ...
  local what=$1 pat=$2; shift 2
  expect_error "$what" "$pat" "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/ref" "$@"
  unchanged "$what"
}
bad "recordings shorter than one batch" "leaves fewer than one batch of 64 training samples" --set fit.batch=64
bad "bin size 0" "\[fit\] bin_size = 0 Hz: it must be positive" --set fit.bin_size=0
bad "bin size larger than the rate range" "\[fit\] bin_size = 500 Hz is larger than the rate range 0..100 Hz" --set fit.bin_size=500
bad "a split that leaves no test frames" "\[fit\] split = 1 leaves no test frames of the 60 \(60 train\)" --set fit.split=1 --set fit.batch=59
bad "a checkpoint from another configuration" "was made with another configuration: fit.lr: checkpoint 0.01, this run 0.02" \
  --set run.resume="$TMP/ref/checkpoint-epoch-2.h5" --set fit.lr=0.02 --set fit.epochs_round1=3
"$BIN/flyfit-synth" --neurons 500 --seed 9 -o "$TMP/other.h5" > /dev/null 2>&1
bad "a checkpoint from another network" "belongs to another network: 600 neurons .* this one has 500" \
  --set run.resume="$TMP/ref/checkpoint-epoch-2.h5" --set data.connectome="$TMP/other.h5" --set data.drop_unmatched=true
expect_error "a checkpoint from another rank count" "was written by 1 ranks; a checkpoint continues on the same partition" \
  mpi 2 "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/ref" --set data.connectome="$TMP/brain-k2-metis.h5" \
  --set run.resume="$TMP/ref/checkpoint-epoch-2.h5" --set fit.epochs_round1=3
printf 'not hdf5' > "$TMP/junk.h5"
bad "a damaged checkpoint" "junk.h5' is not a readable HDF5 file" --set run.resume="$TMP/junk.h5"
# a run that fails after it started says so in run.json (the earlier run's "done" must not stay); the rest is kept
expect_error "Adam diverging" "epoch 1, batch 1: Adam diverged: the encoder (weight of neuron [0-9]+ for fitted neuropil [0-9]+|bias of neuron [0-9]+) is" \
  "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/ref" --set fit.lr=1e300 --set fit.clip_norm=0
check "Adam diverging: run.json says failed in round1, with the exit status" \
  /usr/bin/python3 -c "import json,sys; j = json.load(open('$TMP/ref/run.json')); sys.exit(0 if j['status'] == 'failed' and j['phase'] == 'round1' and j['exit_status'] == 2 else 1)"
cp "$TMP/ref/run.json" "$TMP/keep/run.json"
unchanged "Adam diverging"
bad "preset shiu" "\[run\] mode = fit, round2, predict and all use the brainscale model: set \[run\] preset = brainscale" --set run.preset=shiu
bad "no recordings given" "\[run\] mode = fit, round2, predict and all need \[data\] activity" --set data.activity=
bad "an unknown trainable set" "\[fit\] trainable: 'weights' is not one of encoder, connections" --set fit.trainable=weights
bad "a recording of another fly than asked for" "\[data\] neural_activity_id = 2017-10-30_1, but .* holds recording synthetic-3" \
  --set data.neural_activity_id=2017-10-30_1
bad "a connectome of another FlyWire release than asked for" "\[data\] flywire_version = 630, but .* is release" \
  --set data.flywire_version=630
