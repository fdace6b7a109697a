#!/usr/bin/env bash
# A full disk and results.h5 (a 3 MB tmpfs as [output] dir; skipped where tmpfs cannot be
# mounted): a simulation whose results.h5 cannot fit is refused before writing, with both sizes; when the
# write itself fails (the estimate skipped), on 1 and 2 ranks, flyfit exits 3 naming the cause ("No space
# left on device") and the file,
# without a crash, without a file under the final name, with the earlier results intact (by hash), and
# run.json says failed. Round-1 checkpoints on 2 ranks: refused before writing when the folder is too small;
# a parallel write that fails on one rank stops both (they agree after every dataset) instead of hanging.
# Round 2's checkpoint (mode = all, 2 ranks): refused before writing, or the write failing named; run.json
# says failed in round2. flyfit-import onto a nearly full disk: exit 3 naming the cause, the earlier
# connectome under the same name intact.
# Where a tmpfs cannot be mounted (or FLYFIT_TEST_NO_TMPFS is set), an LD_PRELOAD shim
# (tests/shim/enospc.c) makes the folder a 3 MB disk: writes fail with ENOSPC when its files hold 3 MB,
# and statvfs reports the room left.
source "$(dirname "$0")/../lib.sh"
MNT=$TMP/small
mkdir -p "$MNT"
if [ -z "${FLYFIT_TEST_NO_TMPFS:-}" ] && mount -t tmpfs -o size=3m tmpfs "$MNT" 2>/dev/null; then
  trap 'umount "$MNT" 2>/dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
elif [ -r "$TESTBIN/libenospc.so" ]; then
  echo "# no 3 MB tmpfs here: $MNT made a 3 MB disk by an LD_PRELOAD shim"
  export LD_PRELOAD=$TESTBIN/libenospc.so FLYFIT_ENOSPC_DIR=$MNT FLYFIT_ENOSPC_BYTES=3145728
else
  skip "disk full" "neither a 3 MB tmpfs nor $TESTBIN/libenospc.so (make check builds it)"
  exit 0
fi
"$BIN/flyfit-synth" --neurons 600 --seed 4 -o "$TMP/brain.h5" > /dev/null 2>&1 || fail "flyfit-synth"
cp "$TMP/brain.h5" "$TMP/brain-k2.h5"
"$BIN/flyfit-partition" "$TMP/brain-k2.h5" --ranks 2 > /dev/null 2>&1 || fail "flyfit-partition"
cat > "$TMP/sim.ini" <<INI
[data]
connectome = $TMP/brain.h5
[run]
duration_ms = 2000
[stimulus]
poisson_neurons = 0-20
[output]
dir = $MNT/out
spikes = all
INI
"$BIN/flyfit" "$TMP/sim.ini" --set run.duration_ms=200 > /dev/null 2>&1 || fail "the small run that fits"
sum() { md5sum "$MNT/out/results.h5" | cut -d' ' -f1; }
before=$(sum)
# the estimate before writing refuses at once, with both numbers
"$BIN/flyfit" "$TMP/sim.ini" --set run.batch=40 > "$TMP/early" 2>&1
rc=$?
check "not enough room for results.h5: refused before writing, exit status 3 (got $rc)" test "$rc" -eq 3
check "... naming what it needs and what the folder has" \
  grep -qE "results.h5 needs about [0-9.]+ MB but '$MNT/out' has [0-9.]+ MB free \(No space left on device\)" "$TMP/early"
check "... the earlier results.h5 is intact" test "$(sum)" = "$before"
# the write itself failing (the estimate skipped, as when another job fills the disk meanwhile)
export FLYFIT_SKIP_SPACE_CHECK=1
for np in 1 2; do
  conn=$TMP/brain.h5; [ "$np" = 2 ] && conn=$TMP/brain-k2.h5
  mpi "$np" -x FLYFIT_SKIP_SPACE_CHECK "$BIN/flyfit" "$TMP/sim.ini" --set data.connectome="$conn" --set run.batch=40 > "$TMP/out.$np" 2>&1
  rc=$?
  check "disk full, $np rank(s): exit status 3, not a crash (got $rc)" test "$rc" -eq 3
  check "... the message names the file and the cause" \
    grep -qE "results.h5' \(written as .*\): writing dataset /spikes/[a-z]+ failed: No space left on device \(writing [0-9]+ bytes\)" "$TMP/out.$np"
  check "... no temporary file is left, the earlier results.h5 is intact" \
    bash -c "! ls '$MNT/out' | grep -q tmp && [ '$(sum)' = '$before' ]"
  check "... run.json says failed in simulate, exit status 3" \
    /usr/bin/python3 -c "import json,sys; j = json.load(open('$MNT/out/run.json')); sys.exit(0 if j['status'] == 'failed' and j['phase'] == 'simulate' and j['exit_status'] == 3 else 1)"
done

# round-1 checkpoints on 2 ranks (connections trained: ~1.5 MB each): refused before writing with both
# sizes; and, with the estimate skipped, the parallel write failing on one rank stops both ranks (no hang)
unset FLYFIT_SKIP_SPACE_CHECK
fit_fixture 3 70 fit.batch=8 fit.epochs_round1=3 "fit.trainable=encoder, connections" "output.dir=$MNT/fit" || exit 1
cp "$TMP/brain.h5" "$TMP/fit-k2.h5"
"$BIN/flyfit-partition" "$TMP/fit-k2.h5" --ranks 2 > /dev/null 2>&1 || fail "flyfit-partition (fit)"
rm -rf "$MNT/out"
timeout 120 mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$TMP/fit-k2.h5" > "$TMP/fit.early" 2>&1
rc=$?
check "round-1 checkpoint without room, 2 ranks: exit status 3 (got $rc)" test "$rc" -eq 3
check "... refused before writing, naming both sizes" \
  grep -qE "writing checkpoint '.*checkpoint-epoch-[0-9]+.h5': the checkpoint needs about [0-9.]+ MB but '$MNT/fit' has [0-9.]+ MB free" "$TMP/fit.early"
rm -rf "$MNT/fit"
timeout 120 mpirun -np 2 --bind-to none -x FLYFIT_SKIP_SPACE_CHECK=1 "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$TMP/fit-k2.h5" > "$TMP/fit.late" 2>&1
rc=$?
check "round-1 checkpoint write failing on a full disk, 2 ranks: both stop with exit status 3, no hang (got $rc)" test "$rc" -eq 3
check "... the message names the checkpoint and the rank whose write failed" \
  grep -qE "writing checkpoint '.*checkpoint-epoch-[0-9]+.h5': .*writing dataset /[a-z_/]+ failed.*" "$TMP/fit.late"
check "... no temporary checkpoint is left" bash -c "! ls '$MNT/fit' | grep -q tmp"

# round 2 (mode = all, a GRU of 512 hidden units: ~19 MB a checkpoint): refused before writing; with the
# estimate skipped, the write fails naming the file and the cause; run.json says failed in round2
rm -rf "$MNT/fit"
r2=(--set data.connectome="$TMP/fit-k2.h5" --set run.mode=all --set fit.trainable=encoder --set fit.epochs_round1=1
    --set fit.epochs_round2=2 --set fit.rnn_hidden=512 --set fit.rnn_batch=4 --set fit.rnn_seq_len=8 --set fit.rnn_iters=1
    --set output.figures=false --set predict.warmup_frames=10)
timeout 300 mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" "${r2[@]}" > "$TMP/r2.early" 2>&1
rc=$?
check "round 2's checkpoint without room, 2 ranks: exit status 3 (got $rc)" test "$rc" -eq 3
check "... refused before writing, naming both sizes" \
  grep -qE "round 2's checkpoint needs about [0-9.]+ MB but '$MNT/fit' has [0-9.]+ MB free" "$TMP/r2.early"
rm -rf "$MNT/fit"
timeout 300 mpirun -np 2 --bind-to none -x FLYFIT_SKIP_SPACE_CHECK=1 "$BIN/flyfit" "$TMP/fit.ini" "${r2[@]}" > "$TMP/r2.late" 2>&1
rc=$?
check "round 2's checkpoint write failing on a full disk, 2 ranks: exit status 3, no crash (got $rc)" test "$rc" -eq 3
check "... the message names gru-best.h5 and the cause" grep -qE "gru-best.h5.*No space left on device" "$TMP/r2.late"
check "... no temporary file is left" bash -c "! ls '$MNT/fit' | grep -q tmp"
check "... run.json says failed in round2" \
  /usr/bin/python3 -c "import json,sys; j = json.load(open('$MNT/fit/run.json')); sys.exit(0 if j['status'] == 'failed' and j['phase'] == 'round2' else 1)"

# flyfit-import onto a nearly full disk: the earlier connectome under the same name stays intact
rm -rf "$MNT/fit" "$MNT/out"
mkdir -p "$MNT/imp"
/usr/bin/python3 - "$TMP/big.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("pre_root_id,post_root_id,neuropil,syn_count,nt_type\n")
    for i in range(40000):
        a, k = i % 800, i // 800
        f.write(f"{720575940600000000 + a},{720575940600000000 + (a + k + 1) % 800},AL_L,{i % 9 + 1},ACH\n")
PY
"$BIN/flyfit-import" codex --connections "$TMP/big.csv" -o "$MNT/imp/conn.h5" > /dev/null 2>&1 || fail "the import that fits"
isum() { md5sum "$MNT/imp/conn.h5" | cut -d' ' -f1; }
ibefore=$(isum)
avail=$(df --output=avail -B1 "$MNT" | tail -1)
dd if=/dev/zero of="$MNT/filler" bs=4096 count=$(( (avail - 32768) / 4096 )) 2> /dev/null
"$BIN/flyfit-import" codex --connections "$TMP/big.csv" -o "$MNT/imp/conn.h5" > "$TMP/imp.out" 2>&1
rc=$?
check "flyfit-import on a full disk: exit status 3, not a crash (got $rc)" test "$rc" -eq 3
check "... the message names the file and the cause" grep -qE "conn.h5.*No space left on device" "$TMP/imp.out"
check "... no temporary file is left, the earlier connectome is intact" \
  bash -c "! ls '$MNT/imp' | grep -q tmp && [ '$(isum)' = '$ibefore' ]"
rm -f "$MNT/filler"
