#!/usr/bin/env bash
# [fit] trainable = lowrank, the original's rank-r recurrent term A (B s) on the delayed spikes:
# - round 1 with encoder and low-rank term (ES-D-RTRL) gives bit-identical losses, rates, encoder, A and B
#   on 1, 2, 3 and 4 ranks, metis, block and random partitions, both exchanges;
# - created, the term changes nothing (B = 0): the untrained scores equal those of the plain encoder fit;
#   trained, B has moved away from zero;
# - a resumed run ends where the uninterrupted one did; mode = all (round 2, prediction) runs with it;
# - bad input: a rank of 0 or above the neuron count, D-RTRL, a checkpoint that lacks the term;
# - [fit] compat = brainscale runs with the original's settings, each of its knobs (shuffle, init_state,
#   encoder_input, and kick_order, the original's order compat does not take) changes the fit, and a key that
#   contradicts it is refused naming the key.
source "$(dirname "$0")/../lib.sh"
fit_fixture 3 70 fit.batch=8 fit.epochs_round1=2 "fit.trainable=encoder, lowrank" fit.lowrank_rank=5 || exit 1
for cfg in "2 metis" "3 block" "4 random"; do
  set -- $cfg
  cp "$TMP/brain.h5" "$TMP/brain-k$1-$2.h5"
  "$BIN/flyfit-partition" "$TMP/brain-k$1-$2.h5" --ranks "$1" --method "$2" > /dev/null 2>&1 || fail "partition k$1 $2"
done
fit() { # name np connectome [--set ...]
  local name=$1 np=$2 conn=$3; shift 3
  mpi "$np" "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$conn" --set output.dir="$TMP/$name" "$@" \
    > "$TMP/$name.stdout" 2> "$TMP/$name.log" || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log" | sed 's/^/#   /'; return 1; }
  tail -1 "$TMP/$name.stdout" | sed 's/ samples_per_s=[^ ]*//' > "$TMP/$name.summary"
}
# losses, rates, encoder and low-rank rows (back in original neuron order), and Adam's state with 'adam'
canon() { # run-dir connectome K [adam]
  /usr/bin/python3 - "$@" <<'PY'
import sys, h5py, numpy as np
d, conn, K, adam = sys.argv[1], sys.argv[2], int(sys.argv[3]), len(sys.argv) > 4
r = h5py.File(f"{d}/results.h5", "r")
c = h5py.File(f"{d}/checkpoint-epoch-2.h5", "r")
out = [r[f"/fit/round1/{m}"][:] for m in ("train_loss", "val_loss", "grad_norm")]
out += [r["/round1/sim_rates"][:], r["/round1/test_pred"][:], r["/fit/round1/lowrank_singular_values"][:]]
names = ["/params/encoder_w", "/params/lowrank_a", "/params/lowrank_b"]
if adam: names += ["/adam/lowrank_a_v", "/adam/lowrank_b_m"]
rows = [c[n][:] for n in names]
if K > 1:
    back = np.argsort(h5py.File(conn, "r")[f"/partition/k{K}/order"][:])
    rows = [a[back] for a in rows]
for a in out + rows:
    print(a.dtype, a.shape, a.tobytes().hex())
PY
}
export -f canon
fit ref 1 "$TMP/brain.h5" || exit 1
canon "$TMP/ref" "$TMP/brain.h5" 1 > "$TMP/ref.txt"
check "the log says what round 1 trains" grep -q "training encoder, lowrank (rank 5) with ES-D-RTRL" "$TMP/ref.log"
check "the summary line and run.json give the kept term's spectrum (largest value, norm, participation)" \
  bash -c "grep -qE 'lowrank_sv1=[0-9.e+-]+ lowrank_norm=[0-9.e+-]+ lowrank_participation=[0-9.e+-]+$' '$TMP/ref.summary' &&
    /usr/bin/python3 -c \"import json,sys; m = json.load(open('$TMP/ref/run.json'))['metrics']; sys.exit(0 if m['fit.lowrank_participation'] >= 1 else 1)\""
for cfg in "2 metis allgather" "3 block targeted" "4 random allgather"; do
  set -- $cfg
  fit "k$1" "$1" "$TMP/brain-k$1-$2.h5" --set run.exchange="$3" || continue
  check "$1 ranks, $2 partition, $3 exchange: losses, rates, encoder, A and B identical to 1 rank" \
    bash -c "cmp -s <(canon '$TMP/k$1' '$TMP/brain-k$1-$2.h5' $1) '$TMP/ref.txt' && cmp -s '$TMP/k$1.summary' '$TMP/ref.summary'"
done
/usr/bin/python3 - "$TMP/ref/checkpoint-epoch-2.h5" > "$TMP/lr.txt" <<'PY'
import sys, h5py, numpy as np
c = h5py.File(sys.argv[1], "r")
a, b = c["/params/lowrank_a"][:], c["/params/lowrank_b"][:]
print(a.shape[0], a.shape[1], int(np.count_nonzero(b)), float(np.abs(b).max()))
PY
check "the checkpoint holds A and B^T as 600 x 5, and training moved B away from zero" \
  awk '$1 == 600 && $2 == 5 && $3 > 1000 && $4 > 0 { ok = 1 } END { exit !ok }' "$TMP/lr.txt"
check "results.h5's singular values of A B are numpy's SVD of the kept network's A B" \
  /usr/bin/python3 - "$TMP/ref" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
c = h5py.File(f"{d}/checkpoint-best.h5", "r")
ab = c["/params/lowrank_a"][:].astype(float) @ c["/params/lowrank_b"][:].astype(float).T
want = np.linalg.svd(ab, compute_uv=False)[:5]
got = h5py.File(f"{d}/results.h5", "r")["/fit/round1/lowrank_singular_values"][:]
print("# singular values", got, "numpy", want, file=sys.stderr)
sys.exit(not (got.shape == (5,) and got[0] > 0 and np.allclose(got, want, rtol=1e-9, atol=1e-12 * want[0])))
PY
"$ROOT/tools/flyfit-plot" "$TMP/ref/results.h5" -o "$TMP/ref-fig" --quiet 2> "$TMP/plot.log"
check "flyfit-plot draws the low-rank term's spectrum" test -s "$TMP/ref-fig/lowrank.png"
fit plain 1 "$TMP/brain.h5" --set fit.trainable=encoder || exit 1
untrained() { h5dump -a /untrained_val_loss -a /untrained_val_mse "$1/checkpoint-epoch-2.h5" | grep '(0)' | tr -d ' '; }
export -f untrained
check "created (B = 0), the term changes nothing: the untrained scores are the plain network's, bit for bit" \
  bash -c "[ -n \"\$(untrained '$TMP/ref')\" ] && [ \"\$(untrained '$TMP/ref')\" = \"\$(untrained '$TMP/plain')\" ]"
check "trained, the fit differs from the plain encoder fit" \
  bash -c "! cmp -s <(sed -n 's/.* val_loss=\([^ ]*\).*/\1/p' '$TMP/ref.summary') <(sed -n 's/.* val_loss=\([^ ]*\).*/\1/p' '$TMP/plain.summary')"

# resume: 1 epoch, then on to 2, against the uninterrupted 2-rank run
fit half 2 "$TMP/brain-k2-metis.h5" --set fit.epochs_round1=1 &&
  fit half 2 "$TMP/brain-k2-metis.h5" --set run.resume=auto &&
  check "a resumed run ends with the same A, B and Adam state as an uninterrupted one" \
    cmp -s <(canon "$TMP/half" "$TMP/brain-k2-metis.h5" 2 adam) <(canon "$TMP/k2" "$TMP/brain-k2-metis.h5" 2 adam)

# mode = all: round 2 and prediction run the network with its term
fit all 2 "$TMP/brain-k2-metis.h5" --set run.mode=all --set fit.epochs_round1=1 --set fit.epochs_round2=1 \
  --set fit.rnn_hidden=8 --set fit.rnn_batch=4 --set fit.rnn_seq_len=8 --set fit.rnn_iters=2 --set predict.warmup_frames=10 \
  --set output.figures=false &&
  check "mode = all with the low-rank term ends with the predict line" grep -q "^predict done: headline=chain" "$TMP/all.stdout"

bad() { # description pattern --set ...
  local what=$1 pat=$2; shift 2
  expect_error "$what" "$pat" "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/bad" "$@"
}
bad "a rank of 0" "\[fit\] lowrank_rank" --set fit.lowrank_rank=0
bad "a rank above the neuron count" "\[fit\] lowrank_rank = 601: give 1 to the neuron count \(600\)" --set fit.lowrank_rank=601
bad "the low-rank term with D-RTRL" "\[fit\] trainable = lowrank is trained by ES-D-RTRL: set \[fit\] etrace_decay > 0" \
  --set fit.etrace_decay=0
bad "lowrank with a checkpoint that lacks it" \
  "was made with another configuration: fit.trainable: checkpoint encoder, this run encoder, lowrank" \
  --set run.resume="$TMP/plain/checkpoint-epoch-2.h5" --set fit.epochs_round1=3
bad "a checkpoint of another rank r" "lowrank_a" --set run.resume="$TMP/ref/checkpoint-epoch-2.h5" \
  --set fit.epochs_round1=3 --set fit.lowrank_rank=4

# [fit] compat = brainscale: the original's settings, each knob doing something, and contradictions refused
fit compat 2 "$TMP/brain-k2-metis.h5" --set fit.compat=brainscale --set fit.lowrank_rank=20 --set "fit.trainable=encoder, lowrank" &&
  check "compat = brainscale trains the encoder and a rank-20 low-rank term by ES-D-RTRL" \
    grep -q "training encoder, lowrank (rank 20) with ES-D-RTRL" "$TMP/compat.log" &&
  check "compat = brainscale: the effective configuration echoes the original's settings" \
    bash -c "grep -qE '^bin_size +=  *0.25 ' '$TMP/compat/flyfit.log' && grep -qE '^encoder_input +=  *hz ' '$TMP/compat/flyfit.log' && grep -qE '^shuffle +=  *false ' '$TMP/compat/flyfit.log' && grep -qE '^init_state +=  *fixed ' '$TMP/compat/flyfit.log'"
for knob in fit.shuffle=false fit.init_state=fixed fit.encoder_input=hz fit.kick_order=before_decay; do
  fit "knob-${knob%%=*}" 1 "$TMP/brain.h5" --set "$knob" &&
    check "$knob changes round 1's losses (the knob is wired)" \
      bash -c "! cmp -s <(sed -n 's/.* train_loss=\([^ ]*\).*/\1/p' '$TMP/knob-${knob%%=*}.summary') <(sed -n 's/.* train_loss=\([^ ]*\).*/\1/p' '$TMP/ref.summary')"
done
bad "compat with a contradicting key" \
  "\[fit\] bin_size = 5 contradicts \[fit\] compat = brainscale, which sets it to 0.25 \(the original's\): remove the key, or set \[fit\] compat = none" \
  --set fit.compat=brainscale --set fit.bin_size=5
bad "compat with a contradicting trainable set" "\[fit\] trainable = encoder contradicts \[fit\] compat = brainscale" \
  --set fit.compat=brainscale --set fit.trainable=encoder
