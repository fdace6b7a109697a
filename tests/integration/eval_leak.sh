#!/usr/bin/env bash
# The test block reaches nothing a fit trains or chooses on. Two fits (mode = all) of one recording
# whose raw traces differ only on the test frames (scaled and noised there) must keep the same
# round-1 and round-2 parameters (both GRUs), the same histories and best epochs of both rounds,
# the same ridge strengths of the VAR controls, and the same rates on every frame before the test
# block; and the change must reach the test block (its recorded rates and scores differ), so that
# the comparison means something. The checkpoints' recording fingerprint names the whole file and
# is left out of the comparison on purpose.
source "$(dirname "$0")/../lib.sh"
fit_fixture --ini "$TMP/run.ini" 7 90 run.mode=all fit.batch=8 fit.epochs_round1=3 fit.epochs_round2=3 \
  fit.rnn_hidden=12 fit.rnn_batch=4 fit.rnn_seq_len=10 fit.rnn_iters=2 fit.rnn_lr=0.01 predict.warmup_frames=20 \
  output.figures=false || exit 1
run() { # name activity
  mpi 1 "$BIN/flyfit" "$TMP/run.ini" --set data.activity="$2" --set output.dir="$TMP/$1" > "$TMP/$1.stdout" \
    2> "$TMP/$1.log" || { fail "$1: flyfit exited with $?"; tail -3 "$TMP/$1.log" | sed 's/^/#   /'; return 1; }
}
run a "$TMP/act.h5" || exit 1
# the test block starts at /predict's test_start, in frames after trimming (trim_frames = 10)
test0=$(/usr/bin/python3 -c "import h5py; print(int(h5py.File('$TMP/a/results.h5','r')['/predict'].attrs['test_start']))")
cp "$TMP/act.h5" "$TMP/act-b.h5"
/usr/bin/python3 - "$TMP/act-b.h5" $((test0 + 10)) <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
k = int(sys.argv[2])
x = f["/traces"][:]
rng = np.random.default_rng(5)
x[k:] = x[k:] * rng.uniform(0.5, 3.0, size=x[k:].shape) + rng.normal(0, x.std(), size=x[k:].shape)
f["/traces"][...] = np.abs(x).astype(f["/traces"].dtype)
PY
run b "$TMP/act-b.h5" || exit 1

same_model() { # file: every dataset the same, attributes aside (they hold the recording's fingerprint)
  /usr/bin/python3 - "$TMP/a/$1" "$TMP/b/$1" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names, "no datasets"
for n in names:
    x, y = a[n][()], b[n][()]
    if n == "history" or n.endswith("/history"):  # wall-clock columns aside
        # round 1: ... grad_norm, samples_per_s, lr, seconds; round 2: ..., lr, seconds
        keep = [c for c in range(x.shape[-1]) if not (c == x.shape[-1] - 1 or (x.shape[-1] == 10 and c == 7))]
        x, y = x[..., keep], y[..., keep]
    assert np.array_equal(x, y, equal_nan=True), f"{n} differs"
PY
}
for f in checkpoint-best.h5 gru-best.h5 gru-only-best.h5; do
  check "test frames changed: $f holds the same parameters and history" same_model $f
done
check_choices() {
  /usr/bin/python3 - "$TMP/a/results.h5" "$TMP/b/results.h5" "$test0" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
t0 = int(sys.argv[3])
for g in ("/fit/round1", "/fit/round2"):
    assert a[g].attrs["best_epoch"] == b[g].attrs["best_epoch"], f"{g} best epoch differs"
    for c in a[g]:
        if c in ("seconds", "samples_per_s"): continue
        assert np.array_equal(a[g][c][:], b[g][c][:], equal_nan=True), f"{g}/{c} differs"
for k in ("var1_lambda", "var2_lambda", "var1_val_mse", "var2_val_mse"):
    assert a["/predict/forecast"].attrs[k] == b["/predict/forecast"].attrs[k], k
ra, rb = a["/predict/recorded"][:], b["/predict/recorded"][:]
assert np.array_equal(ra[:t0], rb[:t0]), "rates before the test block differ"
assert not np.array_equal(ra[t0:], rb[t0:]), "the change did not reach the test block: the test means nothing"
assert a["/predict/metrics/persistence/onestep/test"].attrs["mse"] != b["/predict/metrics/persistence/onestep/test"].attrs["mse"]
PY
}
check "test frames changed: same best epochs, histories, ridge choices and pre-test rates; different test rates" check_choices
