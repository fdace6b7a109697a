#!/usr/bin/env bash
# make check-slurm: the job scripts in jobs/ on a real one-node SLURM cluster, started here as root
# (tests/slurm/cluster.sh) and stopped again, by process id, however the test ends.
#  1. jobs/flyfit.sbatch runs the demo simulation (jobs/demo.ini, on a 20,000-neuron synthetic brain)
#     on 2 ranks: the partition is made (partition = auto) and the spikes equal a 1-rank run's;
#     jobs/flyfit-multinode.sbatch does the same with srun and with mpirun as the launcher;
#  2. jobs/scaling.sbatch as a job array (strong and weak, K = 1 and 2) and jobs/scaling-array-collect;
#     jobs/scaling-strong.sbatch (one job, K = 1 and 2) and jobs/scaling-collect;
#  3. jobs/flyfit.sbatch fits (jobs/demo-fit.ini, mode = fit, 12 epochs, on a 1,500-neuron brain and
#     200 frames of synthetic recordings, as tools/demo.sh makes them but shorter) uninterrupted;
#  4. the same fit again, given the time-limit signal by hand (scancel --batch --signal=USR1) once it
#     trains: flyfit checkpoints and exits with status 75, the job requeues itself, resumes and ends
#     bit-identical to 3 (checkpoint-best.h5 /params and the "fit done:" line); once with
#     jobs/flyfit.sbatch (mpirun passes the signal on) and once with jobs/flyfit-multinode.sbatch (srun).
# Prints TAP lines and ends with "N passed, N failed". Needs root and the packages of
# tools/install-deps.sh (slurmctld, slurmd, slurm-client, munge); without them every check is skipped.
# KEEP_TMP=1 keeps the scratch directory (cluster configuration, logs, job outputs).
set -u
cd "$(dirname "$0")/../.." || exit 2
# shellcheck source=tests/slurm/cluster.sh
source tests/slurm/cluster.sh
npass=0 nfail=0 nskip=0
ok()   { echo "ok - $*"; npass=$((npass + 1)); }
fail() { echo "not ok - $*"; nfail=$((nfail + 1)); }
skip() { echo "ok - $1 # SKIP $2"; nskip=$((nskip + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
summary() {
  [ $nskip -eq 0 ] || echo "$nskip skipped"
  echo "$npass passed, $nfail failed"
}
# the limits below are for a loaded 2-core machine; each job takes well under a minute on an idle one
JOB_WAIT=${SLURM_TEST_JOB_WAIT:-300}

for t in slurmctld slurmd sbatch munged mungekey; do
  command -v $t >/dev/null || { skip "SLURM job scripts on a one-node cluster" "$t is not installed (tools/install-deps.sh)"; summary; exit 0; }
done
[ "$(id -u)" -eq 0 ] || { skip "SLURM job scripts on a one-node cluster" "needs root to start slurmd"; summary; exit 0; }
[ "$(nproc)" -ge 2 ] || { skip "SLURM job scripts on a one-node cluster" "needs 2 cores for 2-rank jobs"; summary; exit 0; }
for p in flyfit flyfit-synth flyfit-partition; do
  [ -x "bin/$p" ] || { fail "bin/$p is built (make)"; summary; exit 1; }
done

# A SLURM job around this test (make check-slurm run inside an allocation) must not leak into ours.
for v in $(compgen -e | grep '^SLURM_'); do unset "$v"; done
T=$(mktemp -d "${TMPDIR:-/tmp}/flyfit-slurm.XXXXXX")
chmod 755 "$T"
cleanup() {
  [ $nfail -eq 0 ] || { slurm_dump; echo "# scratch directory: $T${KEEP_TMP:+ (kept)}"; }
  slurm_stop
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM HUP
# Open MPI in a container: shared memory without cross-memory attach, no high-speed network
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mkdir -p "$T/data" "$T/jobs"
t_start=$SECONDS

# ---- the data, made while the cluster starts ------------------------------------------------------
( set -e
  bin/flyfit-synth --neurons 20000 --seed 1 -o "$T/data/brain.h5" --threads 1
  tools/pick-neurons "$T/data/brain.h5" --neuropil GNG --count 5 > "$T/data/sugar.txt"
  tools/pick-neurons "$T/data/brain.h5" --targets-of "$T/data/sugar.txt" --count 4 > "$T/data/watch.txt"
  bin/flyfit-synth --neurons 1500 --seed 1 -o "$T/data/fit-brain.h5" --activity "$T/data/activity.h5" \
    --activity-model brainscale --frames 200 --sample-ms 100 --threads 1
) > "$T/data/make.log" 2>&1 &
data_pid=$!

if slurm_start "$T/cluster"; then
  ok "a one-node SLURM cluster starts: munged, slurmctld, slurmd as root; node $(hostname -s) idle with $(nproc) CPUs"
else
  fail "a one-node SLURM cluster starts"
  wait $data_pid
  exit 1
fi
if wait $data_pid; then ok "the test data: a 20,000-neuron brain, a 1,500-neuron brain with 200 frames of recordings"; else
  fail "the test data (flyfit-synth, pick-neurons)"; sed 's/^/#   /' "$T/data/make.log" | tail -5; exit 1
fi

# sbatch from the repository root with the lines a site adapts given on the command line
CPU=(--partition=debug --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0)
submit() { # NAME SCRIPT [sbatch options] -- [script arguments]: prints the job id
  local name=$1 script=$2 opts=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  sbatch --parsable --job-name="$name" --output="$T/jobs/$name-%j.out" "${CPU[@]}" ${opts[@]+"${opts[@]}"} \
    "$script" "$@" 2>>"$T/jobs/sbatch.err" | cut -d';' -f1
}
job_out() { # NAME JOB
  echo "$T/jobs/$1-$2.out"
}
show_out() { # NAME JOB: the end of a job's output, for a failure
  echo "# --- $(job_out "$1" "$2") (last 15 lines); scontrol: $(job_field "$2" JobState) $(job_field "$2" ExitCode) restarts $(job_field "$2" Restarts)"
  tail -15 "$(job_out "$1" "$2")" 2>&1 | sed 's/^/#   /'
}
job_done_ok() { # NAME JOB: waits; COMPLETED with exit code 0:0
  local st
  st=$(wait_job "$2" "$JOB_WAIT")
  if [ "$st" = COMPLETED ] && [ "$(job_field "$2" ExitCode)" = 0:0 ]; then return 0; fi
  echo "# job $2 ($1): $st, exit code $(job_field "$2" ExitCode)"
  show_out "$1" "$2"
  return 1
}

# ---- 1. simulation: jobs/flyfit.sbatch and jobs/flyfit-multinode.sbatch ----------------------------
# (each job its own copy of the brain: partition = auto writes into it, and jobs may run side by side)
SIM=(jobs/demo.ini --set stimulus.poisson_neurons=@"$T/data/sugar.txt" --set output.state_neurons=@"$T/data/watch.txt"
     --set run.duration_ms=500 --set run.progress_s=0)
mkdir -p "$T/sim"
for d in out srun mpirun; do cp "$T/data/brain.h5" "$T/sim/brain-$d.h5"; done
sim_job=$(submit sim jobs/flyfit.sbatch -- "${SIM[@]}" --set data.connectome="$T/sim/brain-out.h5" --set output.dir="$T/sim/out")
srun_job=$(FLYFIT_LAUNCHER=srun submit sim-srun jobs/flyfit-multinode.sbatch --nodes=1 -- "${SIM[@]}" \
  --set data.connectome="$T/sim/brain-srun.h5" --set output.dir="$T/sim/srun")
mpirun_job=$(FLYFIT_LAUNCHER=mpirun submit sim-mpirun jobs/flyfit-multinode.sbatch --nodes=1 -- "${SIM[@]}" \
  --set data.connectome="$T/sim/brain-mpirun.h5" --set output.dir="$T/sim/mpirun")

# ---- 2. the scaling job array (queued behind the simulations) -------------------------------------
scal_job=$(submit scaling jobs/scaling.sbatch --array=0-3 --nodes=1 -- --modes "strong weak" --ranks "1 2" --out "$T/scaling" \
  --connectome "$T/data/brain.h5" --neurons-per-rank 5000 --duration-ms 200 --exchange allgather)
# and the one-job sweep, jobs/scaling-strong.sbatch (its own copy of the brain: it partitions it)
mkdir -p "$T/strong"; cp "$T/data/brain.h5" "$T/strong/brain.h5"
strong_job=$(submit strong jobs/scaling-strong.sbatch --nodes=1 -- --connectome "$T/strong/brain.h5" --out "$T/strong" \
  --duration-ms 200 --exchange allgather)

# ---- 3. and 4. the fits (queued behind those) -----------------------------------------------------
EPOCHS=${SLURM_TEST_EPOCHS:-12}
# 100 ms of network time per frame, as the recordings were made (flyfit-synth --sample-ms 100)
FIT=(jobs/demo-fit.ini --set run.mode=fit --set data.activity="$T/data/activity.h5" --set fit.epochs_round1="$EPOCHS"
     --set fit.sample_ms=100 --set run.progress_s=0)
for d in ref sig sig-srun; do mkdir -p "$T/fit-$d"; cp "$T/data/fit-brain.h5" "$T/fit-$d/brain.h5"; done
ref_job=$(submit fit-ref jobs/flyfit.sbatch -- "${FIT[@]}" --set data.connectome="$T/fit-ref/brain.h5" --set output.dir="$T/fit-ref/out")
# the interrupted fits are held until the test watches them, so that none can finish unobserved where
# many cores run the jobs side by side
sig_job=$(submit fit-sig jobs/flyfit.sbatch --hold -- "${FIT[@]}" \
  --set data.connectome="$T/fit-sig/brain.h5" --set output.dir="$T/fit-sig/out")
sig_srun_job=$(FLYFIT_LAUNCHER=srun submit fit-sig-srun jobs/flyfit-multinode.sbatch --hold --nodes=1 -- "${FIT[@]}" \
  --set data.connectome="$T/fit-sig-srun/brain.h5" --set output.dir="$T/fit-sig-srun/out")
if [ -n "$sim_job" ] && [ -n "$srun_job" ] && [ -n "$mpirun_job" ] && [ -n "$scal_job" ] && [ -n "$strong_job" ] && [ -n "$ref_job" ] \
   && [ -n "$sig_job" ] && [ -n "$sig_srun_job" ]; then
  ok "sbatch takes jobs/flyfit.sbatch, jobs/flyfit-multinode.sbatch, jobs/scaling.sbatch (array) and jobs/scaling-strong.sbatch with the SITE lines overridden"
else
  fail "sbatch takes the job scripts"; sed 's/^/#   /' "$T/jobs/sbatch.err"; exit 1
fi

# 1.
if job_done_ok sim "$sim_job"; then
  ok "jobs/flyfit.sbatch jobs/demo.ini: 2 ranks, job COMPLETED, exit code 0"
  check "the simulation wrote results.h5 and spikes.txt" test -s "$T/sim/out/results.h5" -a -s "$T/sim/out/spikes.txt"
  check "partition = auto made /partition/k2 in the connectome" \
    bash -c "h5dump -n '$T/sim/brain-out.h5' | grep -q '/partition/k2/owner'"
  check "the job's output says how flyfit ended" grep -q "flyfit.sbatch: flyfit ended with status 0" "$(job_out sim "$sim_job")"
  # the same simulation on 1 rank, outside SLURM, while the other jobs run
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 bin/flyfit "${SIM[@]}" --set data.connectome="$T/data/brain.h5" \
    --set output.dir="$T/sim/one" --set run.threads=1 > "$T/sim/one.log" 2>&1
  check "its spikes equal a 1-rank run's outside SLURM" cmp -s "$T/sim/out/spikes.txt" "$T/sim/one/spikes.txt"
else
  fail "jobs/flyfit.sbatch jobs/demo.ini: 2 ranks, job COMPLETED, exit code 0"
fi
for l in srun mpirun; do
  j=$([ $l = srun ] && echo "$srun_job" || echo "$mpirun_job")
  if job_done_ok "sim-$l" "$j" && cmp -s "$T/sim/$l/spikes.txt" "$T/sim/out/spikes.txt"; then
    ok "jobs/flyfit-multinode.sbatch with FLYFIT_LAUNCHER=$l: COMPLETED, the same spikes"
  else
    fail "jobs/flyfit-multinode.sbatch with FLYFIT_LAUNCHER=$l: COMPLETED, the same spikes"
  fi
done

# 4. The signal first (the interrupted fits are last in the queue, and the test watches each start
# training): NAME JOB; status 0 once the signal is sent
signal_during_training() {
  local name=$1 job=$2 out t0
  out=$(job_out "$name" "$job")
  training() { grep -qE "epoch [0-9]+/$EPOCHS:" "$out" 2>/dev/null; }
  requeued() { [ "$(job_field "$job" Restarts)" -ge 1 ] 2>/dev/null || _job_ended "$job"; }
  scontrol release "$job"
  if ! wait_for $((2 * JOB_WAIT)) training; then
    fail "$name: the fit starts training within $((2 * JOB_WAIT)) s"; show_out "$name" "$job"; return 1
  fi
  t0=$SECONDS
  if scancel --batch --signal=USR1 "$job"; then
    ok "$name: scancel --batch --signal=USR1 (the time-limit signal) during training (after $(grep -cE "epoch [0-9]+/$EPOCHS:" "$out") epochs)"
  else
    fail "$name: scancel --batch --signal=USR1"; return 1
  fi
  wait_for "$JOB_WAIT" requeued
  if [ "$(job_field "$job" Restarts)" = 1 ]; then
    ok "$name: the job requeued itself (Restarts=1) $((SECONDS - t0)) s after the signal"
  else
    fail "$name: the job requeued itself after the signal (state $(job_field "$job" JobState), exit code $(job_field "$job" ExitCode), restarts $(job_field "$job" Restarts))"
    show_out "$name" "$job"
  fi
}
signal_during_training fit-sig "$sig_job" && signalled_sig=1
signal_during_training fit-sig-srun "$sig_srun_job" && signalled_sig_srun=1

# 2.
scal_done() { [ -z "$(squeue -h -j "$scal_job" 2>/dev/null)" ]; }
if wait_for "$JOB_WAIT" scal_done; then
  states=$(scontrol show job "$scal_job" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p' | sort | uniq -c | xargs)
  check "jobs/scaling.sbatch --array=0-3: every task COMPLETED ($states)" test "$states" = "4 COMPLETED"
  /usr/bin/python3 jobs/scaling-array-collect "$T/scaling" > "$T/scaling/collect.log" 2>&1
  rc=$?
  rows=$(tail -n +2 "$T/scaling/scaling.csv" 2>/dev/null | cut -d, -f1-3 | sort | tr '\n' ' ')
  if [ $rc -eq 0 ] && [ "$rows" = "strong,strong-k1-b1,1 strong,strong-k2-metis-allgather-b1,2 weak,weak-k1-b1,1 weak,weak-k2-metis-allgather-b1,2 " ] \
     && [ -s "$T/scaling/scaling.png" ]; then
    ok "jobs/scaling-array-collect: one table (scaling.csv: strong and weak, K = 1 and 2) and scaling.png"
  else
    fail "jobs/scaling-array-collect: one table and a plot (status $rc; rows: $rows)"
    tail -8 "$T/scaling/collect.log" | sed 's/^/#   /'
    for f in "$T"/jobs/scaling-*.out; do tail -4 "$f" | sed "s|^|#   $(basename "$f"): |"; done
  fi
else
  fail "jobs/scaling.sbatch --array=0-3 finished within ${JOB_WAIT} s"
fi

rows=$(tail -n +2 "$T/strong/scaling.csv" 2>/dev/null | cut -d, -f1,2 | sort | tr '\n' ' ')
if job_done_ok strong "$strong_job" && [ "$rows" = "strong-k1-b1,1 strong-k2-metis-allgather-b1,2 " ] && [ -s "$T/strong/scaling.png" ]; then
  ok "jobs/scaling-strong.sbatch (K = 1 and 2 with srun): scaling.csv and scaling.png by jobs/scaling-collect"
else
  fail "jobs/scaling-strong.sbatch (K = 1 and 2 with srun): scaling.csv and scaling.png (rows: $rows)"
fi

# 3.
ref_ok=0
if job_done_ok fit-ref "$ref_job" && grep -q "^fit done: epochs=$EPOCHS " "$(job_out fit-ref "$ref_job")" \
   && [ -s "$T/fit-ref/out/checkpoint-best.h5" ]; then
  ok "jobs/flyfit.sbatch jobs/demo-fit.ini (mode = fit, $EPOCHS epochs): COMPLETED, 'fit done:', checkpoint-best.h5"
  ref_ok=1
else
  fail "jobs/flyfit.sbatch jobs/demo-fit.ini (mode = fit): COMPLETED, 'fit done:', checkpoint-best.h5"
fi

# 4. (the rest): NAME JOB SCRIPT
resumed_equals_uninterrupted() {
  local name=$1 job=$2 script=$3 out a b
  out=$(job_out "$name" "$job")
  check "$name: flyfit checkpointed and stopped with status 75, and $script requeued the job" \
    bash -c "grep -A1 'flyfit checkpointed and stopped (status 75)' '$out' | grep -q 'requeueing job $job'"
  check "$name: the requeued job ran again and COMPLETED, exit code 0" job_done_ok "$name" "$job"
  check "$name: the second run resumed from the checkpoint (resume = auto: continuing from ...)" \
    grep -q "resume = auto: continuing from" "$out"
  if [ $ref_ok -eq 1 ] && [ -s "$T/$name/out/checkpoint-best.h5" ]; then
    if h5diff -q "$T/fit-ref/out/checkpoint-best.h5" "$T/$name/out/checkpoint-best.h5" /params /params >/dev/null 2>&1; then
      ok "$name: interrupted and resumed = uninterrupted: checkpoint-best.h5 /params bit-identical (h5diff)"
    else
      fail "$name: interrupted and resumed = uninterrupted: checkpoint-best.h5 /params bit-identical (h5diff)"
      h5diff -r "$T/fit-ref/out/checkpoint-best.h5" "$T/$name/out/checkpoint-best.h5" /params /params 2>&1 | head -8 | sed 's/^/#   /'
    fi
    a=$(grep "^fit done:" "$(job_out fit-ref "$ref_job")" | tail -1 | sed 's/ samples_per_s=.*//')
    b=$(grep "^fit done:" "$out" | tail -1 | sed 's/ samples_per_s=.*//')
    if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "$name: the same 'fit done:' line (but samples_per_s)"; else
      fail "$name: the same 'fit done:' line (but samples_per_s)"; echo "#   uninterrupted: $a"; echo "#   resumed:       $b"
    fi
  else
    fail "$name: interrupted and resumed = uninterrupted (a checkpoint-best.h5 is missing)"
  fi
}
[ -z "${signalled_sig:-}" ] || resumed_equals_uninterrupted fit-sig "$sig_job" jobs/flyfit.sbatch
[ -z "${signalled_sig_srun:-}" ] || resumed_equals_uninterrupted fit-sig-srun "$sig_srun_job" "jobs/flyfit-multinode.sbatch (srun)"
for j in $sim_job $srun_job $mpirun_job $scal_job $strong_job $ref_job $sig_job $sig_srun_job; do
  scontrol show job "$j" 2>/dev/null | tr ' ' '\n' | awk -F= '
    /^JobId=/ { id = $2 } /^JobName=/ { n = $2 } /^JobState=/ { st = $2 } /^Restarts=/ { r = $2 }
    /^RunTime=/ { printf "# job %s %s: %s, run time %s, restarts %s\n", id, n, st, $2, r }'
done
echo "# check-slurm took $((SECONDS - t_start)) s"
summary
[ $nfail -eq 0 ]
