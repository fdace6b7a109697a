#!/usr/bin/env bash
# Round 2 and prediction end to end (modes round2, predict and all) on a small synthetic brain with
# synthetic recordings:
# - mode = all on 1, 2, 3 and 4 ranks: bit-identical round-2 losses, GRU, predictions, metrics and
#   raster;
# - fit, then round2, then predict, as three runs, give the bits of one mode = all run;
# - the summary line has every key the issue names; results.h5 holds /fit/round1, /fit/round2 and
#   /predict; the baselines are what they say (last frame, per-neuropil mean), recomputed here;
# - bad inputs (no trained model, a GRU of another neuropil count, a damaged GRU file) stop with
#   their message and leave earlier output alone.
source "$(dirname "$0")/../lib.sh"
fit_fixture --ini "$TMP/run.ini" 5 80 run.mode=all fit.batch=8 fit.epochs_round1=1 fit.epochs_round2=3 \
  fit.rnn_hidden=16 fit.rnn_batch=6 fit.rnn_seq_len=12 fit.rnn_iters=3 fit.rnn_lr=0.01 predict.warmup_frames=20 \
  output.figures=false || exit 1
for K in 2 3 4; do
  cp "$TMP/brain.h5" "$TMP/brain-k$K.h5"
  "$BIN/flyfit-partition" "$TMP/brain-k$K.h5" --ranks $K > /dev/null 2>&1 || fail "partition k$K"
done
run() { # name np connectome [--set ...]: stdout's last line in $TMP/name.summary
  local name=$1 np=$2 conn=$3; shift 3
  mpi "$np" "$BIN/flyfit" "$TMP/run.ini" --set data.connectome="$conn" --set output.dir="$TMP/$name" "$@" \
    > "$TMP/$name.stdout" 2> "$TMP/$name.log" || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log"; return 1; }
  tail -1 "$TMP/$name.stdout" > "$TMP/$name.summary"
}
# what must not depend on the rank count, as text; the raster as (step, neuron) pairs in order
canon() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
r = h5py.File(f"{d}/results.h5", "r")
# wall-clock seconds aside (the last column of the GRU file's /history)
out = [r[f"/fit/round2/{m}"][:] for m in r["/fit/round2"] if isinstance(r[f"/fit/round2/{m}"], h5py.Dataset) and m != "seconds"]
for m in ("trained", "untrained", "last_frame", "mean"):
    out.append(r[f"/predict/{m}"][:])
    for s in ("test", "all"):
        g = r[f"/predict/metrics/{m}/{s}"]
        out += [g["pearson"][:]] + [np.array([g.attrs[k]]) for k in sorted(g.attrs)]
out += [r["/predict/fc/trained"][:]]
ras = np.stack([r["/predict/raster/step"][:].astype(np.int64), r["/predict/raster/neuron"][:]])
out.append(ras[:, np.lexsort(ras[::-1])])
g = h5py.File(f"{d}/gru-best.h5", "r")
def walk(name, obj):
    if isinstance(obj, h5py.Dataset): out.append(obj[:, :-1] if name == "history" else obj[()])
g.visititems(walk)
for a in out:
    a = np.asarray(a)
    print(a.dtype, a.shape, a.tobytes().hex())
PY
}
strip_rate() { sed 's/ *samples_per_s=[^ ]*//' "$1"; }

run ref 1 "$TMP/brain.h5" || exit 1
canon "$TMP/ref" > "$TMP/ref.txt"
check "the last line on stdout is the prediction summary with every key" \
  grep -qE "^predict done: test_bin_acc=[^ ]+ test_mse=[^ ]+ .*untrained_test_bin_acc=[^ ]+ untrained_test_mse=[^ ]+ last_frame_test_bin_acc=[^ ]+ last_frame_test_mse=[^ ]+ mean_test_bin_acc=[^ ]+ mean_test_mse=[^ ]+" \
  "$TMP/ref.summary"
check "stdout has the metrics table: trained, untrained, last_frame, mean" \
  bash -c "grep -qE '^trained +[0-9.]+' '$TMP/ref.stdout' && grep -qE '^untrained ' '$TMP/ref.stdout' && grep -qE '^last_frame ' '$TMP/ref.stdout' && grep -qE '^mean ' '$TMP/ref.stdout'"
check "the log has round-2 epoch lines with train and test loss, bin accuracy and MSE" \
  grep -qE "round 2 epoch 3/3: train loss .* test loss .* \(bin acc .*, mse .*\)" "$TMP/ref.log"
check "round 1's and round 2's checkpoints are written" test -s "$TMP/ref/checkpoint-best.h5" -a -s "$TMP/ref/gru-best.h5"

# the file holds what it promises, and the baselines and metrics are what they say
check_results() {
  /usr/bin/python3 - "$TMP/ref/results.h5" <<'PY'
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r")
for s in ("/fit/round1/test_loss", "/fit/round2/train_loss", "/fit/round2/test_loss", "/predict/recorded",
          "/predict/trained", "/predict/untrained", "/predict/fc/recorded", "/predict/fc/trained"):
    assert s in r, f"{s} missing"
y = r["/predict/recorded"][:]
T, P = y.shape
assert T == 70 and P > 1, (T, P)
assert len(r["/fit/round2/test_loss"]) == 3
p = r["/predict"]
W, k0 = int(p.attrs["warmup_frames"]), int(p.attrs["test_start"])
assert W == 20 and 0 < k0 < T, (W, k0)
last, mean = p["last_frame"][:], p["mean"][:]
assert np.array_equal(last[1:], y[:-1]), "last_frame is not the recording shifted by one frame"
trained = p["trained"][:]
assert np.all(np.isfinite(trained[1:])) and np.all(trained[1:] >= 0), "trained forecast not finite and >= 0"
# mean: the per-neuropil mean of the training frames, the same for every frame
assert np.allclose(mean[1:], mean[1]) and np.all(mean[1] > 0)
def mse(a): return np.mean((a[k0:] - y[k0:]) ** 2)
def pearson(a):
    rs = [np.corrcoef(a[k0:, j], y[k0:, j])[0, 1] for j in range(P) if a[k0:, j].std() > 0 and y[k0:, j].std() > 0]
    return np.mean(rs)
for m, a in (("trained", trained), ("last_frame", last), ("mean", mean)):
    g = p[f"metrics/{m}/test"].attrs
    assert abs(g["mse"] - mse(a)) <= 1e-9 * mse(a), (m, g["mse"], mse(a))
    assert 0 <= g["bin_acc"] <= 1, (m, g["bin_acc"])
    assert g["frames"] == T - k0, (m, g["frames"], T - k0)
    if m == "trained":
        assert abs(g["mean_pearson"] - pearson(a)) < 1e-9, (g["mean_pearson"], pearson(a))
    if m == "mean":
        assert np.isnan(g["mean_pearson"]), "a constant forecast has no Pearson r" 
PY
}
check "results.h5: the sections, last_frame = recording shifted, test MSE and Pearson r recomputed agree" check_results

for K in 2 3 4; do
  run "k$K" $K "$TMP/brain-k$K.h5" || continue
  check "$K ranks: round-2 losses, GRU, predictions, metrics and raster identical to 1 rank" \
    cmp -s <(canon "$TMP/k$K") "$TMP/ref.txt"
  check "$K ranks: the same summary line as 1 rank" cmp -s <(strip_rate "$TMP/k$K.summary") <(strip_rate "$TMP/ref.summary")
done

# three runs (fit, round2, predict) against one mode = all
run steps 2 "$TMP/brain-k2.h5" --set run.mode=fit &&
  run steps 2 "$TMP/brain-k2.h5" --set run.mode=round2 &&
  check "mode = round2 ends with its summary line" grep -qE "^round2 done: epochs=3 best_epoch=[1-3] .*test_bin_acc=" "$TMP/steps.summary" &&
  run steps 2 "$TMP/brain-k2.h5" --set run.mode=predict &&
  check "fit, round2 and predict as three runs give the bits of mode = all" cmp -s <(canon "$TMP/steps") "$TMP/ref.txt"
check "mode = predict names the models it loaded" \
  grep -qE "round 2: the trained GRU of .*steps/gru-best.h5" "$TMP/steps.log"

# bad inputs: each stops with its message, and earlier output stays as it was
cp -r "$TMP/ref" "$TMP/keep"
same_output() {
  diff -r -q -x flyfit.log "$TMP/ref" "$TMP/keep" && cmp -s "$TMP/keep/flyfit.log" <(head -c "$(stat -c %s "$TMP/keep/flyfit.log")" "$TMP/ref/flyfit.log")
}
bad() { # description pattern --set ...
  local what=$1 pat=$2; shift 2
  expect_error "$what" "$pat" "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/ref" "$@"
  check "$what: earlier results, checkpoints and log kept" same_output
}
mkdir -p "$TMP/empty"
expect_error "predict without a trained network" \
  "\[run\] mode = predict needs a trained model, but .*empty/checkpoint-best.h5 does not exist: run mode = fit first" \
  "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/empty" --set run.mode=predict
check "... and writes nothing" test -z "$(ls -A "$TMP/empty")"
cp "$TMP/ref/checkpoint-best.h5" "$TMP/empty/"
expect_error "predict without a trained GRU" \
  "\[run\] mode = predict needs a trained model, but .*empty/gru-best.h5 does not exist: run mode = round2 first .* \[predict\] round2_checkpoint" \
  "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/empty" --set run.mode=predict
expect_error "round2 without a trained network" "\[run\] mode = round2 needs a trained model, but .*nothere.h5 does not exist" \
  "$BIN/flyfit" "$TMP/run.ini" --set run.mode=round2 --set predict.round1_checkpoint="$TMP/nothere.h5"
# a GRU of 3 neuropils fewer than the recordings
/usr/bin/python3 - "$TMP/ref/gru-best.h5" "$TMP/gru-small.h5" <<'PY'
import sys, h5py
src, dst = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "w")
P = int(src.attrs["P"])
for k, v in src.attrs.items(): dst.attrs[k] = v
dst.attrs["P"] = P - 3
def copy(name, obj):
    if isinstance(obj, h5py.Dataset):
        a = obj[()]
        dst[name] = a[tuple(slice(0, P - 3) if n == P else slice(None) for n in a.shape)]
src.visititems(copy)
PY
bad "a GRU of another neuropil count" "gru-small.h5' is a round-2 model of [0-9]+ neuropils, the recordings have [0-9]+: it was trained on other recordings" \
  --set run.mode=predict --set predict.round2_checkpoint="$TMP/gru-small.h5"
printf 'not hdf5' > "$TMP/junk.h5"
bad "a damaged GRU file" "junk.h5' is not a readable HDF5 file" --set run.mode=predict --set predict.round2_checkpoint="$TMP/junk.h5"
bad "warm-up longer than the recording" "\[predict\] warmup_frames = 500" --set run.mode=predict --set predict.warmup_frames=500
