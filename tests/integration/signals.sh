#!/usr/bin/env bash
# Signals, checkpoints and faults during round-1 training (2 ranks):
# - SIGUSR1 to mpirun (what SLURM's --signal sends before the time limit; mpirun forwards it):
#   every rank finishes its batch, one checkpoint is written collectively, exit status 75; resume =
#   auto ends bit-identical to an uninterrupted run (summary line, parameters, Adam state);
# - SIGTERM to one rank only: the ranks still agree and stop together at the same batch;
# - a second signal aborts at once (status 128 + 10) and the previous checkpoint stays usable;
# - a rank killed with SIGKILL stops the job within 30 s with a message naming the rank, and the
#   last checkpoint resumes to the same result;
# - a stop outside round-1 training (round 2 of mode = all; a simulation in a folder with an earlier finished
#   run) writes run.json "stopped" naming the phase and what resumes, and a line in flyfit.log.
source "$(dirname "$0")/../lib.sh"
fit_fixture 3 120 fit.batch=4 fit.epochs_round1=10 "fit.trainable=encoder, connections" "output.dir=$TMP/ref" || exit 1
"$BIN/flyfit-partition" "$TMP/brain.h5" --ranks 2 > /dev/null 2>&1 || fail "flyfit-partition --ranks 2"
flyfit() { mpi 2 "$BIN/flyfit" "$TMP/fit.ini" "$@"; }
flyfit > "$TMP/ref.out" 2> "$TMP/ref.log" || { fail "uninterrupted run exited with $?"; exit 1; }
same_as_ref() { # what run-dir stdout-file
  local what=$1 dir=$2 out=$3
  if diff <(sed 's/ samples_per_s=.*//' "$TMP/ref.out") <(sed 's/ samples_per_s=.*//' "$out") >/dev/null \
     && h5diff -q "$TMP/ref/checkpoint-best.h5" "$dir/checkpoint-best.h5" /params \
     && h5diff -q "$TMP/ref/checkpoint-epoch-10.h5" "$dir/checkpoint-epoch-10.h5" /params \
     && h5diff -q "$TMP/ref/checkpoint-epoch-10.h5" "$dir/checkpoint-epoch-10.h5" /adam; then
    ok "$what: resumed run = uninterrupted run, bit for bit (summary, parameters, Adam state)"
  else
    fail "$what: resumed run differs from the uninterrupted one"
    diff "$TMP/ref.out" "$out" | head -4 | sed 's/^/#   /'
  fi
}
# start NAME: training in the background, returns when epoch 2 has been logged; $job = mpirun's pid
start() {
  local name=$1
  mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/$name" \
    > "$TMP/$name.out" 2> "$TMP/$name.log" &
  job=$! # mpirun itself, not a subshell
  for _ in $(seq 1 600); do grep -q "epoch 2/" "$TMP/$name/flyfit.log" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
ranks_of() { pgrep -P "$1" -f "$BIN/flyfit"; }
resume() { # NAME
  flyfit --set output.dir="$TMP/$1" --set run.resume=auto > "$TMP/$1.res.out" 2> "$TMP/$1.res.log"
}

# 1. SIGUSR1 to mpirun
start usr1 || fail "usr1: training did not start"
kill -USR1 "$job"; wait "$job"; rc=$?
check "SIGUSR1: exit status 75 (got $rc)" test "$rc" -eq 75
check "SIGUSR1: the log says where it stopped and how to continue" \
  grep -qE "stopped by SIGUSR1 after batch [0-9]+ of epoch [0-9]+: wrote .*checkpoint-epoch-[0-9]+(-batch-[0-9]+)?\.h5; \[run\] resume = auto" "$TMP/usr1/flyfit.log"
check "SIGUSR1: no error reported" bash -c "! grep -q 'error:' '$TMP/usr1.log'"
runjson() { # DIR PYTHON-CONDITION (j = the parsed run.json)
  /usr/bin/python3 -c "import json,sys; j = json.load(open(sys.argv[1] + '/run.json')); sys.exit(0 if ($2) else 1)" "$1"
}
check "SIGUSR1: run.json says stopped, exit status 75, 2 ranks" \
  runjson "$TMP/usr1" "j['status'] == 'stopped' and j['exit_status'] == 75 and j['ranks'] == 2 and len(j['peak_memory_mb']) == 2"
resume usr1 || fail "usr1: resume exited with $?"
loss=$(sed -n 's/.* test_loss=\([^ ]*\).*/\1/p' "$TMP/usr1.res.out")
check "resumed: run.json says done, with the phase times, the version and the summary's metrics" \
  runjson "$TMP/usr1" "j['status'] == 'done' and j['phase_seconds']['round1'] > 0 and j['flyfit_version'] and j['config_hash'].startswith('fnv1a64:') and abs(j['metrics']['fit.test_loss'] - float('$loss')) <= 1e-9 * abs(float('$loss'))"
check "SIGUSR1: resume = auto continued from the signal's checkpoint" \
  grep -qE "resume = auto: continuing from .*checkpoint-epoch-[0-9]+-batch-[0-9]+\.h5" "$TMP/usr1.res.log"
same_as_ref "SIGUSR1" "$TMP/usr1" "$TMP/usr1.res.out"
check "SIGUSR1: the part-epoch checkpoint is removed once its epoch is complete" \
  bash -c "! ls '$TMP/usr1' | grep -q -- '-batch-'"

# 2. SIGTERM to rank 1 only
start term1 || fail "term1: training did not start"
r=($(ranks_of "$job"))
check "two rank processes found" test "${#r[@]}" -eq 2
kill -TERM "${r[1]}"; wait "$job"; rc=$?
check "SIGTERM to one rank: exit status 75 (got $rc)" test "$rc" -eq 75
check "SIGTERM to one rank: both ranks stopped at the same batch, one checkpoint" \
  grep -qE "stopped by (SIGTERM|a signal on another rank) after batch" "$TMP/term1/flyfit.log"
resume term1 || fail "term1: resume exited with $?"
same_as_ref "SIGTERM to one rank" "$TMP/term1" "$TMP/term1.res.out"

# 3. two signals: abort at once, the previous checkpoint stays usable
start twice || fail "twice: training did not start"
r=($(ranks_of "$job"))
# rank 1 is held (SIGSTOP) so rank 0 cannot finish its batch before the second signal comes
kill -STOP "${r[1]}"
kill -USR1 "${r[0]}"; sleep 0.2 # (two pending signals of one kind would merge into one)
kill -USR1 "${r[0]}"; sleep 0.2; kill -CONT "${r[1]}"; wait "$job"; rc=$?
check "a second signal aborts at once with status 138 (got $rc)" test "$rc" -eq 138
check "... saying the previous checkpoint is kept" grep -q "second SIGUSR1: stopping at once" "$TMP/twice.log"
resume twice || fail "twice: resume exited with $?"
same_as_ref "after an abort" "$TMP/twice" "$TMP/twice.res.out"

# 4. a rank killed with SIGKILL
start killed || fail "killed: training did not start"
r=($(ranks_of "$job"))
t0=$(date +%s)
kill -KILL "${r[1]}"
for _ in $(seq 1 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then fail "a killed rank: the job still runs after 30 s"; kill -KILL "$job"; fi
wait "$job"; rc=$?
t=$(( $(date +%s) - t0 ))
check "a killed rank: the job stops within 30 s (${t} s), non-zero ($rc)" test "$t" -le 30 -a "$rc" -ne 0
check "a killed rank: the message names the rank" grep -qE "rank 1 .*(exited on signal 9|Killed)|process rank 1" "$TMP/killed.log"
resume killed || fail "killed: resume exited with $?"
same_as_ref "after a killed rank" "$TMP/killed" "$TMP/killed.res.out"

# 5. a stop outside round 1 leaves a true record: run.json says stopped and names the phase, the log says so
fit_all() { # NAME: mode = all in the background (round 1 short, round 2 long); $job = mpirun's pid
  mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/$1" --set run.mode=all \
    --set fit.epochs_round1=1 --set fit.epochs_round2=400 --set fit.rnn_hidden=8 --set fit.rnn_batch=4 \
    --set fit.rnn_seq_len=8 --set fit.rnn_iters=2 --set predict.warmup_frames=10 --set output.figures=false \
    > "$TMP/$1.out" 2> "$TMP/$1.log" &
  job=$!
  for _ in $(seq 1 1200); do grep -q "round-2 epoch 2/\|GRU epoch 2/\|epoch 2/400" "$TMP/$1/flyfit.log" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
if fit_all r2stop; then
  kill -USR1 "$job"; wait "$job"; rc=$?
  check "SIGUSR1 during round 2: exit status 75 (got $rc)" test "$rc" -eq 75
  check "SIGUSR1 during round 2: run.json says stopped in round2, and what a rerun continues" \
    runjson "$TMP/r2stop" "j['status'] == 'stopped' and j['exit_status'] == 75 and j['phase'] == 'round2' and 'round 1 is finished' in j['resumable']"
  check "SIGUSR1 during round 2: flyfit.log records the stop" grep -q "stopped by SIGUSR1 during round2" "$TMP/r2stop/flyfit.log"
  pred=(mpirun -np 2 --bind-to none "$BIN/flyfit" "$TMP/fit.ini" --set output.dir="$TMP/r2stop" --set run.mode=predict --set fit.rnn_hidden=8
        --set predict.warmup_frames=10 --set output.figures=false)
  expect_error "mode = predict on the gru-best.h5 of a stopped round 2" \
    "gru-best.h5' is from a round 2 that did not finish \(stopped or failed after [0-9]+ epochs\): rerun round 2" "${pred[@]}"
  check "... [predict] allow_incomplete = true uses it, saying so" \
    bash -c "$(printf '%q ' "${pred[@]}") --set predict.allow_incomplete=true > '$TMP/r2pred.out' 2>&1 && grep -q 'did not finish .* used as it is' '$TMP/r2pred.out'"
else
  fail "round 2 did not start"; kill "$job" 2>/dev/null
fi
# a simulation stopped in a folder that holds an earlier, finished run: its run.json must not say done
cat > "$TMP/sim.ini" <<INI
[data]
connectome = $TMP/brain.h5
[run]
duration_ms = 50
[stimulus]
poisson_neurons = 0-20
[output]
dir = $TMP/sim
INI
"$BIN/flyfit" "$TMP/sim.ini" > /dev/null 2>&1 && runjson "$TMP/sim" "j['status'] == 'done'" || fail "the short simulation"
"$BIN/flyfit" "$TMP/sim.ini" --set run.duration_ms=600000 > "$TMP/sim.out" 2> "$TMP/sim.log" &
job=$!
for _ in $(seq 1 600); do grep -q "spike exchange" "$TMP/sim/flyfit.log" 2>/dev/null && [ "$(grep -c 'spike exchange' "$TMP/sim/flyfit.log")" -ge 2 ] && break; sleep 0.05; done
sleep 0.5; kill -USR1 "$job"; wait "$job"; rc=$?
check "SIGUSR1 during a simulation: exit status 75 (got $rc)" test "$rc" -eq 75
check "... the earlier run's 'done' is replaced by 'stopped' in simulate" \
  runjson "$TMP/sim" "j['status'] == 'stopped' and j['phase'] == 'simulate' and j['exit_status'] == 75"
check "... and flyfit.log records it" grep -q "stopped by SIGUSR1 during simulate" "$TMP/sim/flyfit.log"
