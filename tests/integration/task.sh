#!/usr/bin/env bash
# [run] mode = task (docs/design.md §2.8) on a small network and short trials, for each gradient method:
# 1, 2, 3 and 4 ranks with 1, 3, 2 and 4 threads each give the same bits (weights, readout, history, raster); the last stdout line is the
# "task done:" line and run.json carries its pairs; Dale's law holds in the saved weights; a config with only
# [run] mode and [task] method is accepted with the original's defaults; a run stopped by SIGTERM and resumed (other rank
# counts) equals the uninterrupted one; each bad [task] value stops the run
# with a message naming its key and a nonzero exit status.
source "$(dirname "$0")/../lib.sh"
cat > "$TMP/task.ini" <<INI
[run]
mode = task
progress_s = 0
seed = 3
[task]
n_rec = 25
conn_method = rand
n_cues = 3
cue_ms = 20
gap_ms = 10
delay_ms = 40
recall_ms = 20
batch = 10
max_batches = 3
val_every = 2
val_trials = 12
test_trials = 12
[output]
dir = $TMP/out
figures = false
INI

# the datasets that must not depend on the rank count (the history's wall seconds aside)
task_dump() {
  h5dump -d /task/params/w -d /task/params/w_out -d /task/params/b_out -d /task/params/mask -d /task/history/loss \
    -d /task/history/acc -d /task/history/val_acc -d /task/raster/step -d /task/raster/neuron \
    -d /task/raster/readout -m %.17g "$1" | grep -v HDF5
}

for method in bptt diag expsm_diag; do
  for np in 1 2 3 4; do
    name=$method-np$np
    # one thread on 1 rank; 3, 2, 4 threads a rank on 2, 3, 4 ranks (threads take whole trials)
    threads=$(( np == 1 ? 1 : np == 2 ? 3 : np == 3 ? 2 : 4 ))
    if ! mpi "$np" "$BIN/flyfit" "$TMP/task.ini" --set task.method=$method --set output.dir="$TMP/$name" --set run.threads=$threads \
        >"$TMP/$name.out" 2>"$TMP/$name.log"; then
      fail "$method on $np rank(s): flyfit exited with an error"; tail -3 "$TMP/$name.log" | sed 's/^/#   /'
      continue
    fi
    task_dump "$TMP/$name/results.h5" >"$TMP/$name.txt"
    if [ "$np" -eq 1 ]; then
      last=$(tail -1 "$TMP/$name.out")
      check "$method: the last stdout line is 'task done: method=$method batches=3 val_acc=... test_acc=...'" \
        grep -qE "^task done: method=$method batches=3 val_acc=[0-9.]+ test_acc=[0-9.]+ " <<<"$last"
      check "$method: run.json carries the pairs" \
        sh -c "grep -q '\"task.method\": \"$method\"' '$TMP/$name/run.json' && grep -q '\"task.test_acc\"' '$TMP/$name/run.json'"
      check "$method: Dale's law in the saved weights (all >= 0, 0 where no connection)" /usr/bin/python3 - \
        "$TMP/$name/results.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
w, m = f["/task/params/w"][:], f["/task/params/mask"][:]
sys.exit(0 if (w >= 0).all() and (w[m == 0] == 0).all() and (w[m == 1] > 0).any() else 1)
PY
    else
      if cmp -s "$TMP/$method-np1.txt" "$TMP/$name.txt"; then ok "$method: $np ranks x $threads threads = 1 rank x 1 thread, bit for bit"
      else fail "$method: $np ranks differ from 1 rank"; diff "$TMP/$method-np1.txt" "$TMP/$name.txt" | head -4 | sed 's/^/#   /'; fi
    fi
  done
done
# [task] split = neurons: every trial on all ranks, each rank advancing its block of neurons, the spikes of every step
# exchanged as the simulation exchanges them: the same bits as the trials split on 1 rank
for run in diag:2 diag:3 expsm_diag:2; do
  method=${run%:*} np=${run#*:} name=split-${run%:*}-np${run#*:}
  if mpi "$np" "$BIN/flyfit" "$TMP/task.ini" --set task.method=$method --set task.split=neurons \
      --set output.dir="$TMP/$name" >"$TMP/$name.out" 2>"$TMP/$name.log"; then
    task_dump "$TMP/$name/results.h5" >"$TMP/$name.txt"
    check "$method, split = neurons on $np ranks: the bits of split = trials on 1 rank (weights, readout, history, raster)" \
      cmp -s "$TMP/$method-np1.txt" "$TMP/$name.txt"
  else
    fail "$method, split = neurons on $np ranks: flyfit exited with an error"; tail -3 "$TMP/$name.log" | sed 's/^/#   /'
  fi
done
# a resume point written by a split run (rows gathered by rank 0) resumes with the trials split, and the other way
mpi 2 "$BIN/flyfit" "$TMP/task.ini" --set task.method=diag --set task.split=neurons --set output.dir="$TMP/xsplit" \
  >/dev/null 2>&1 && "$BIN/flyfit" "$TMP/task.ini" --set task.method=diag --set task.max_batches=5 --set run.resume=auto \
  --set output.dir="$TMP/xsplit" >/dev/null 2>&1 && "$BIN/flyfit" "$TMP/task.ini" --set task.method=diag \
  --set task.max_batches=5 --set output.dir="$TMP/x5" >/dev/null 2>&1 && "$BIN/flyfit" "$TMP/task.ini" --set task.method=diag \
  --set output.dir="$TMP/xtrials" >/dev/null 2>&1 && mpi 2 "$BIN/flyfit" "$TMP/task.ini" --set task.method=diag \
  --set task.split=neurons --set task.max_batches=5 --set run.resume=auto --set output.dir="$TMP/xtrials" >/dev/null 2>&1 ||
  fail "split = neurons and resume: a run failed"
check "resume: split = neurons (2 ranks) then split = trials (1 rank), and the other way, = 5 batches at once, bit for bit" \
  sh -c "h5diff -q '$TMP/x5/results.h5' '$TMP/xsplit/results.h5' /task/params && h5diff -q '$TMP/x5/results.h5' '$TMP/xtrials/results.h5' /task/params"
expect_error "split = neurons with bptt is refused, naming the keys" \
  "\[task\] split = neurons trains by the online methods only \(method = diag or expsm_diag\)" \
  mpi 2 "$BIN/flyfit" "$TMP/task.ini" --set task.method=bptt --set task.split=neurons --set output.dir="$TMP/bad"
check "the methods give different weights" sh -c "! cmp -s '$TMP/bptt-np1.txt' '$TMP/diag-np1.txt'"

# [output] figures = true: the run draws its own figures into DIR/figures
check "[output] figures = true: the run ends by drawing task-learning.png, task-raster.png and task-readout.png" \
  sh -c "'$BIN/flyfit' '$TMP/task.ini' --set output.figures=true --set output.dir='$TMP/withfig' >'$TMP/withfig.out' 2>'$TMP/withfig.log' \
         && test -s '$TMP/withfig/figures/task-learning.png' && test -s '$TMP/withfig/figures/task-raster.png' \
         && test -s '$TMP/withfig/figures/task-readout.png' && tail -1 '$TMP/withfig.out' | grep -q '^task done: '"

# the figures of tools/flyfit-plot's task section: the learning curves of the three methods, the raster, the readout
if /usr/bin/python3 -c "import numpy, h5py, matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$ROOT/tools/flyfit-plot" "$TMP/expsm_diag-np1/results.h5" --compare "$TMP/bptt-np1/results.h5" \
    --compare "$TMP/diag-np1/results.h5" -o "$TMP/fig" --quiet 2>"$TMP/fig.log"
  check "flyfit-plot draws task-learning.png, task-raster.png and task-readout.png" \
    sh -c "test -s '$TMP/fig/task-learning.png' && test -s '$TMP/fig/task-raster.png' && test -s '$TMP/fig/task-readout.png'"
  check "task-learning.png has a line per method (figures.json)" /usr/bin/python3 - "$TMP/fig/figures.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["task-learning.png"]["axes"]
lines = " ".join(d[1]["lines"])
sys.exit(0 if all(f"{m} validation" in lines for m in ("bptt", "diag", "expsm_diag")) else 1)
PY
  expect_error "flyfit-plot --compare with a file that is not HDF5" "--compare .*task.ini: not a readable HDF5 file" \
    /usr/bin/python3 "$ROOT/tools/flyfit-plot" "$TMP/bptt-np1/results.h5" --compare "$TMP/task.ini" -o "$TMP/fig2"
else
  skip "flyfit-plot task figures" "no numpy/h5py/matplotlib for /usr/bin/python3"
fi

# resume after SIGTERM: a longer run (about 0.2 s a batch) stopped on 2 ranks after its third batch, resumed on 3
# ranks with [run] resume = auto, equals the uninterrupted run on 1 rank (weights, history, raster)
long=(--set task.method=bptt --set task.n_rec=50 --set task.delay_ms=1500 --set task.batch=32 --set task.max_batches=16
      --set task.val_every=5 --set task.val_trials=64 --set task.target_acc=1)
"$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set output.dir="$TMP/whole" >"$TMP/whole.out" 2>"$TMP/whole.log" ||
  fail "resume: the uninterrupted run failed"
mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set output.dir="$TMP/cut" \
  >"$TMP/cut.out" 2>"$TMP/cut.log" &
job=$!
for _ in $(seq 1 600); do grep -q "batch 3/16" "$TMP/cut/flyfit.log" 2>/dev/null && break; sleep 0.05; done
# to the ranks, as SLURM sends it (mpirun itself answers SIGTERM by ending the job with status 1)
kill -TERM $(pgrep -P "$job" -f "$BIN/flyfit"); wait "$job"; rc=$?
check "resume: SIGTERM stops the training with exit status 75 (got $rc)" test "$rc" -eq 75
check "resume: the log says after which batch it stopped and that resume = auto continues" \
  grep -qE "stopped by a signal after batch [0-9]+: wrote .*task-last.h5; \[run\] resume = auto continues" "$TMP/cut/flyfit.log"
check "resume: run.json says stopped in phase task, and how to continue" /usr/bin/python3 -c \
  "import json,sys; j = json.load(open(sys.argv[1])); sys.exit(0 if j['status'] == 'stopped' and j['phase'] == 'task' and 'task-last.h5' in j['resumable'] else 1)" \
  "$TMP/cut/run.json"
mpi 3 "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set output.dir="$TMP/cut" --set run.resume=auto \
  >"$TMP/cut2.out" 2>"$TMP/cut2.log" || fail "resume: the resumed run failed"
check "resume: it continued from the resume point" grep -qE "resumed from .*task-last.h5 after [0-9]+ batches" "$TMP/cut2.log"
task_dump "$TMP/whole/results.h5" >"$TMP/whole.txt"
task_dump "$TMP/cut/results.h5" >"$TMP/cut.txt"
if [ -s "$TMP/whole.txt" ] && cmp -s "$TMP/whole.txt" "$TMP/cut.txt" && [ "$(tail -1 "$TMP/whole.out" | cut -d' ' -f1-6)" = "$(tail -1 "$TMP/cut2.out" | cut -d' ' -f1-6)" ]; then
  ok "resume: stopped on 2 ranks + resumed on 3 = uninterrupted on 1, bit for bit (weights, history, raster, summary)"
else
  fail "resume: the resumed run differs from the uninterrupted one"; diff "$TMP/whole.txt" "$TMP/cut.txt" | head -4 | sed 's/^/#   /'
fi
expect_error "resume: a resume point of another configuration is refused, naming the key" \
  "task-last.h5' was made with another configuration: task.lr" \
  "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set output.dir="$TMP/cut" --set run.resume=auto --set task.lr=0.01
expect_error "resume: a resume point past max_batches is refused" "more than \[task\] max_batches = 4" \
  "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set output.dir="$TMP/cut" --set run.resume=auto --set task.max_batches=4

# [task] weights = an earlier run's results.h5 with max_batches = 0 (the original's --mode sim): the trained network is
# scored and recorded, not trained: the same test accuracy, weights and raster as the run that trained it, on 2 ranks
mpi 2 "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set task.weights="$TMP/whole/results.h5" --set task.max_batches=0 \
  --set output.dir="$TMP/sim" >"$TMP/sim.out" 2>"$TMP/sim.log" || fail "weights: the run failed"
acc_of() { sed -n 's/.* test_acc=\([^ ]*\).*/\1/p' "$1"; }
check "weights, max_batches = 0: 'task done: ... batches=0' with the training run's test accuracy ($(acc_of "$TMP/whole.out"))" \
  sh -c "tail -1 '$TMP/sim.out' | grep -q 'batches=0 ' && [ '$(acc_of "$TMP/whole.out")' = \"\$(sed -n 's/.* test_acc=\([^ ]*\).*/\1/p' '$TMP/sim.out')\" ]"
mpi 2 "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set task.method=diag --set task.split=neurons \
  --set task.weights="$TMP/whole/results.h5" --set task.max_batches=0 --set output.dir="$TMP/simsplit" \
  >"$TMP/simsplit.out" 2>"$TMP/simsplit.log" || fail "weights, split = neurons: the run failed"
check "weights, split = neurons on 2 ranks: the training run's test accuracy" \
  sh -c "[ '$(acc_of "$TMP/whole.out")' = \"\$(sed -n 's/.* test_acc=\([^ ]*\).*/\1/p' '$TMP/simsplit.out')\" ]"
check "weights, max_batches = 0: the same weights, raster and readout as the run that trained it" \
  sh -c "sim_dump() { h5dump -d /task/params/w -d /task/params/w_out -d /task/raster/step -d /task/raster/neuron -d /task/raster/readout -m %.17g \"\$1\" | grep -v HDF5; }; \
         sim_dump '$TMP/whole/results.h5' > '$TMP/w1.txt' && sim_dump '$TMP/sim/results.h5' > '$TMP/w2.txt' && test -s '$TMP/w1.txt' && cmp -s '$TMP/w1.txt' '$TMP/w2.txt'"
expect_error "weights of another n_rec are refused, naming the dataset and the keys" \
  "/task/params/w is 50 x 150, this run's network needs 55 x 155: set \[task\] n_rec" \
  "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set task.n_rec=55 --set task.weights="$TMP/whole/results.h5" --set task.max_batches=0
expect_error "weights of another seed are refused" "is not this run's connections: set \[task\] conn_method and \[run\] seed" \
  "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set run.seed=4 --set task.weights="$TMP/whole/results.h5" --set task.max_batches=0
expect_error "weights: a missing file is named" "no-such.h5" \
  "$BIN/flyfit" "$TMP/task.ini" "${long[@]}" --set task.weights="$TMP/no-such.h5" --set task.max_batches=0

# the original's defaults: only [run] mode and [task] method (no batch is run: max_batches = 0 by --set)
printf '[run]\nmode = task\n[task]\nmethod = expsm_diag\n[output]\ndir = %s\n' "$TMP/defaults" > "$TMP/defaults.ini"
check "a config of [run] mode = task and [task] method alone runs (the defaults, 0 batches)" \
  sh -c "'$BIN/flyfit' '$TMP/defaults.ini' --set task.max_batches=0 --set task.test_trials=2 2>'$TMP/defaults.log' \
         | tail -1 | grep -q 'task done: method=expsm_diag batches=0 .*n_rec=200 steps=2200'"

# bad inputs: one message naming the key, a nonzero exit status
expect_error "n_rec not a multiple of 5" "\[task\] n_rec = 23 is not a multiple of 5" \
  "$BIN/flyfit" "$TMP/task.ini" --set task.n_rec=23
check "n_rec = 23 runs with e_share set" \
  sh -c "'$BIN/flyfit' '$TMP/task.ini' --set task.n_rec=23 --set task.e_share=0.8 --set task.max_batches=1 --set output.dir='$TMP/e' >/dev/null 2>&1"
expect_error "no cues" "\[task\] n_cues = 0 is out of range" "$BIN/flyfit" "$TMP/task.ini" --set task.n_cues=0
expect_error "negative cues" "\[task\] n_cues = -2 is out of range" "$BIN/flyfit" "$TMP/task.ini" --set task.n_cues=-2
expect_error "a delay shorter than dt" "\[task\] delay_ms = 0.5 ms is shorter than dt" \
  "$BIN/flyfit" "$TMP/task.ini" --set task.delay_ms=0.5
expect_error "an unknown method" "\[task\] method: 'rtrl' is not one of bptt\|diag\|expsm_diag" \
  "$BIN/flyfit" "$TMP/task.ini" --set task.method=rtrl
expect_error "an unknown method, 2 ranks" "\[task\] method: 'rtrl' is not one of" \
  mpi 2 "$BIN/flyfit" "$TMP/task.ini" --set task.method=rtrl
if [ -s "$TMP/cut/results.h5" ] && [ -s "$TMP/cut/task-last.h5" ]; then
  cp "$TMP/cut/results.h5" "$TMP/cut-results.h5"; cp "$TMP/cut/task-last.h5" "$TMP/cut-last.h5"
  expect_error "a bad value into the directory of an earlier run" "\[task\] n_cues = 0 is out of range" \
    "$BIN/flyfit" "$TMP/task.ini" --set task.n_cues=0 --set output.dir="$TMP/cut"
  check "... leaves its results.h5 and resume point as they were" \
    sh -c "cmp -s '$TMP/cut/results.h5' '$TMP/cut-results.h5' && cmp -s '$TMP/cut/task-last.h5' '$TMP/cut-last.h5'"
fi
expect_error "an unknown [task] key" "unknown key \[task\] n_recc \(did you mean \[task\] n_rec\?\)" \
  "$BIN/flyfit" "$TMP/task.ini" --set task.n_recc=20
