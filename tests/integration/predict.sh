#!/usr/bin/env bash
# Round 2 and prediction end to end (modes round2, predict and all) on a small synthetic brain with
# synthetic recordings:
# - mode = all on 1, 2, 3 and 4 ranks: bit-identical round-2 losses, GRU, predictions, metrics and
#   raster;
# - fit, then round2, then predict, as three runs, give the bits of one mode = all run;
# - the summary line has the headline and every model's test MSE in both protocols; results.h5
#   holds /fit/round1, /fit/round2 and /predict; every control's forecasts (persistence, mean,
#   median, ridge VAR(1)/(2) with the ridge chosen on validation), in both protocols, recomputed
#   here from the recording; MSE and Pearson r recomputed, over one neuropil set for every model;
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
for m in sorted(r["/predict/forecast"]):
    for pr in ("onestep", "free"):
        out.append(r[f"/predict/forecast/{m}/{pr}"][:])
        for s in ("test", "all"):
            g = r[f"/predict/metrics/{m}/{pr}/{s}"]
            out += [g["pearson"][:]] + [np.array([g.attrs[k]]) for k in sorted(g.attrs)]
out += [r["/predict/fc/chain"][:]]
ras = np.stack([r["/predict/raster/step"][:].astype(np.int64), r["/predict/raster/neuron"][:]])
out.append(ras[:, np.lexsort(ras[::-1])])
for f in ("gru-best.h5", "gru-only-best.h5"):
    g = h5py.File(f"{d}/{f}", "r")
    def walk(name, obj):
        if isinstance(obj, h5py.Dataset): out.append(obj[:, :-1] if name == "history" else obj[()])
    g.visititems(walk)
for a in out:
    a = np.asarray(a)
    print(a.dtype, a.shape, a.tobytes().hex())
PY
}
strip_rate() { sed 's/ *samples_per_s=[^ ]*//' "$1"; }

MODELS="chain chain_gru untrained persistence mean median var1 var2 gru_only snn_only"
run ref 1 "$TMP/brain.h5" || exit 1
canon "$TMP/ref" > "$TMP/ref.txt"
summary_keys() { for m in $MODELS; do for p in onestep free; do grep -qE " ${m}_${p}_test_mse=[0-9.e+-]+( |$)" "$1" || return 1; done; done; }
check "the last line on stdout is the prediction summary: the headline and every model's test MSE in both protocols" \
  bash -c "grep -qE '^predict done: headline=chain test_mse=[^ ]+ test_bin_acc=[^ ]+ test_pearson=' '$TMP/ref.summary' && $(declare -f summary_keys); MODELS='$MODELS' summary_keys '$TMP/ref.summary'"
check "stdout has the metrics table: every model in both protocols" \
  bash -c "for m in $MODELS; do for p in onestep free; do grep -qE \"^\$m +\$p +[0-9.]+\" '$TMP/ref.stdout' || exit 1; done; done"
check "the log has round-2 epoch lines with train and validation loss, bin accuracy and MSE" \
  grep -qE "round 2 epoch 3/3: train loss .* validation loss .* \(bin acc .*, mse .*\)" "$TMP/ref.log"
check "the GRU alone is trained beside the chain's" grep -qE "GRU alone epoch 3/3: train loss" "$TMP/ref.log"
check "round 1's and both round-2 checkpoints are written" \
  test -s "$TMP/ref/checkpoint-best.h5" -a -s "$TMP/ref/gru-best.h5" -a -s "$TMP/ref/gru-only-best.h5"

# the file holds what it promises; every control's forecasts, in both protocols, recomputed here
# from the recording alone (ridge VAR by its normal equations in numpy, its ridge chosen again on
# the validation block); every MSE and Pearson r recomputed, over one neuropil set for all models
check_results() {
  /usr/bin/python3 - "$TMP/ref/results.h5" <<'PY'
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1], "r")
MODELS = "chain chain_gru untrained persistence mean median var1 var2 gru_only snn_only".split()
for s in ("/fit/round1/val_loss", "/fit/round2/train_loss", "/fit/round2/val_loss", "/predict/recorded",
          "/predict/fc/recorded", "/predict/fc/chain"):
    assert s in r, f"{s} missing"
assert "/fit/round2/test_loss" not in r and "/fit/round1/test_loss" not in r, "a per-epoch test column is back"
y = r["/predict/recorded"][:]
T, P = y.shape
assert T == 70 and P > 1, (T, P)
assert len(r["/fit/round2/val_loss"]) == 3
p = r["/predict"]
W, k0, t0 = int(p.attrs["warmup_frames"]), int(p.attrs["free_start"]), int(p.attrs["test_start"])
fit, v0 = int(p.attrs["train_frames"]), int(p.attrs["validation_start"])
assert p.attrs["headline"] == "chain"
assert W == 20 and k0 == 20 and fit < v0 < t0 < T, (W, k0, fit, v0, t0)
F = {(m, pr): p[f"forecast/{m}/{pr}"][:] for m in MODELS for pr in ("onestep", "free")}
for (m, pr), a in F.items():
    first = k0 if pr == "free" else (2 if m == "var2" else 1)
    assert a.shape == (T, P), (m, pr, a.shape)
    assert np.all(np.isnan(a[:first])), f"{m}/{pr} forecasts before frame {first}"
    assert np.all(np.isfinite(a[first:])) and np.all(a[first:] >= 0), f"{m}/{pr} not finite and >= 0 from {first}"
def same(m, pr, want, first, tol=0.0):
    got = F[(m, pr)][first:]
    err = np.max(np.abs(got - want[first:]) / np.maximum(1.0, np.abs(want[first:])))
    assert err <= tol, f"{m}/{pr} differs from the recomputation by {err:.3g}"
# persistence, mean, median
pers1 = np.full_like(y, np.nan); pers1[1:] = y[:-1]
persf = np.full_like(y, np.nan); persf[k0:] = y[k0 - 1]
same("persistence", "onestep", pers1, 1)
same("persistence", "free", persf, k0)
for m, lvl in (("mean", y[:fit].mean(0)), ("median", np.median(y[:fit], 0))):
    for pr, first in (("onestep", 1), ("free", k0)):
        same(m, pr, np.tile(lvl, (T, 1)), first, 1e-12)
# ridge VAR: targets [o, fit), inputs centred on the mean of frames [0, fit - 1), intercept free
grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
def var_fit(o, lam):
    c = y[: fit - 1].mean(0)
    X = np.array([np.concatenate([y[k - 1 - l] - c for l in range(o)] + [[1.0]]) for k in range(o, fit)])
    D = np.eye(o * P + 1) * lam * (fit - o); D[-1, -1] = 0
    return c, np.linalg.solve(X.T @ X + D, X.T @ y[o:fit])
def var_run(o, c, B, first, free):
    out = np.full_like(y, np.nan)
    for k in range(max(first, o), T):
        src = lambda j: out[j] if free and j >= first else y[j]
        row = np.concatenate([src(k - 1 - l) - c for l in range(o)] + [[1.0]])
        out[k] = np.maximum(row @ B, 0.0)
    return out
for o in (1, 2):
    vm = [np.mean((var_run(o, *var_fit(o, lam), v0, False)[v0:t0] - y[v0:t0]) ** 2) for lam in grid]
    lam = grid[int(np.argmin(vm))]
    assert p["forecast"].attrs[f"var{o}_lambda"] == lam, (o, p["forecast"].attrs[f"var{o}_lambda"], lam, vm)
    c, B = var_fit(o, lam)
    same(f"var{o}", "onestep", var_run(o, c, B, o, False), o, 1e-8)
    same(f"var{o}", "free", var_run(o, c, B, k0, True), k0, 1e-8)
# the chain's network one step ahead is the network alone, by construction
assert np.array_equal(F[("chain", "onestep")][1:], F[("snn_only", "onestep")][1:])
# scores: test MSE recomputed; Pearson over the neuropils whose recorded test series varies, the
# same for every model, a constant forecast there scoring 0
vary = np.array([np.ptp(y[t0:, j]) > 0 for j in range(P)])
for (m, pr), a in F.items():
    g = p[f"metrics/{m}/{pr}/test"]
    want = np.mean((a[t0:] - y[t0:]) ** 2)
    assert abs(g.attrs["mse"] - want) <= 1e-9 * want, (m, pr, g.attrs["mse"], want)
    assert g.attrs["frames"] == T - t0 and g.attrs["neuropils"] == vary.sum(), (m, pr, g.attrs["frames"])
    rs = g["pearson"][:]
    assert np.array_equal(~np.isnan(rs), vary), f"{m}/{pr}: Pearson set is not the varying neuropils"
    want_r = [0.0 if np.ptp(a[t0:, j]) == 0 else np.corrcoef(a[t0:, j], y[t0:, j])[0, 1] for j in np.flatnonzero(vary)]
    assert abs(g.attrs["mean_pearson"] - np.mean(want_r)) < 1e-9, (m, pr, g.attrs["mean_pearson"], np.mean(want_r))
    assert 0 <= g.attrs["bin_acc"] <= 1 and 0 <= g.attrs["bin_acc_025"] <= g.attrs["bin_acc"] + 1e-12
assert p["metrics/mean/free/test"].attrs["mean_pearson"] == 0.0, "a constant forecast scores r = 0"
PY
}
check "results.h5: every control's one-step and free forecasts recomputed; MSE and Pearson over one neuropil set" check_results

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
# round 2 with [fit] rnn_loss = mse: the validation loss that picks the epoch is the MSE itself
mkdir -p "$TMP/steps-mse"
run steps-mse 2 "$TMP/brain-k2.h5" --set run.mode=round2 --set fit.rnn_loss=mse \
  --set predict.round1_checkpoint="$TMP/steps/checkpoint-best.h5" &&
  check "rnn_loss = mse: the round-2 validation loss is the validation MSE" \
    /usr/bin/python3 -c "
import sys, re
kv = dict(re.findall(r'(\w+)=(\S+)', open('$TMP/steps-mse.summary').read()))
sys.exit(0 if kv['val_loss'] == kv['val_mse'] and kv['test_loss'] == kv['test_mse'] else 1)" &&
  check "rnn_loss = mse trains another GRU than the bin-interval loss" \
    bash -c "! h5diff -q '$TMP/steps/gru-best.h5' '$TMP/steps-mse/gru-best.h5' /params > /dev/null"
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
