#!/usr/bin/env bash
# Strong- and weak-scaling sweeps of flyfit, on a workstation (mpirun) or inside a SLURM allocation
# (srun; see jobs/scaling-strong.sbatch and jobs/scaling-weak.sbatch). Each point of the sweep writes
# OUT/<point>/results.h5; jobs/scaling-collect then turns them into one table, a plot and the
# model-against-measurement comparison of tools/flyfit-scaling.
#
# usage: jobs/scaling.sh strong|weak [options]
#   --ranks "1 2 4 8"          rank counts (default: 1 2 4 8, or the allocation's tasks under SLURM)
#   --batch "1 32"             trials side by side (default: 1)
#   --methods "metis"          partition methods: metis block random (default: metis)
#   --exchange "allgather targeted"   spike exchanges (default: both)
#   --connectome FILE          strong: the brain to split (default: the full-size synthetic brain, made
#                              once with flyfit-synth --seed 1 in OUT)
#   --neurons-per-rank N       weak: neurons per rank; brain K is flyfit-synth --neurons N*K (default
#                              138639: one whole fly brain per rank; 10M neurons at K = 72)
#   --duration-ms T            simulated time per point (default 1000)
#   --threads T                OpenMP threads per rank (default 1; GPU runs: 1)
#   --out DIR                  (default out/scaling-strong or out/scaling-weak)
#   --set section.key=value    passed to every flyfit run (e.g. run.backend=cuda once it exists)
#   --no-collect               do not run jobs/scaling-collect at the end (jobs/scaling.sbatch: one point
#                              per array task, collected by jobs/scaling-array-collect)
# Under SLURM the ranks are started with srun --mpi=$FLYFIT_SRUN_MPI (default pmix: Open MPI and MPICH
# built with PMIx; `srun --mpi=list` shows what the site has; FLYFIT_SRUN_MPI= uses its MpiDefault).
# The stimulus is Shiu et al.'s sugar experiment: 21 GNG neurons at 200 Hz per 138,639 neurons (so a
# weak-scaling brain K times as large has 21 K driven neurons and the same activity per neuron).
# Partitions are made once per brain and K and kept in the connectome file. Rerunning skips the
# points whose results.h5 exists.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
die() { echo "scaling.sh: $*" >&2; exit 2; }

kind=${1:-}
[ "$kind" = strong ] || [ "$kind" = weak ] || die "usage: jobs/scaling.sh strong|weak [options] (see the top of the script)"
shift
ranks="" batch="1" methods="metis" exchanges="allgather targeted" connectome="" npr=138639
duration=1000 threads=1 out="" sets=() collect=1
while [ $# -gt 0 ]; do
  case $1 in
  --ranks) ranks=$2; shift 2 ;;
  --batch) batch=$2; shift 2 ;;
  --methods) methods=$2; shift 2 ;;
  --exchange) exchanges=$2; shift 2 ;;
  --connectome) connectome=$2; shift 2 ;;
  --neurons-per-rank) npr=$2; shift 2 ;;
  --duration-ms) duration=$2; shift 2 ;;
  --threads) threads=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --set) sets+=(--set "$2"); shift 2 ;;
  --no-collect) collect=0; shift ;;
  *) die "unknown option '$1' (see the top of jobs/scaling.sh)" ;;
  esac
done
for m in $methods; do case $m in metis|block|random) ;; *) die "--methods: unknown method '$m' (metis, block, random)" ;; esac; done
for x in $exchanges; do case $x in allgather|targeted) ;; *) die "--exchange: unknown exchange '$x' (allgather, targeted)" ;; esac; done
out=${out:-out/scaling-$kind}
mkdir -p "$out"
[ -x "$BIN/flyfit" ] || die "$BIN/flyfit is missing: run make first"

# launcher: srun inside a SLURM allocation, mpirun otherwise
if [ -n "${SLURM_JOB_ID:-}" ]; then
  ranks=${ranks:-$(k=1; l=""; while [ $k -le "${SLURM_NTASKS:-1}" ]; do l="$l $k"; k=$((k * 2)); done; echo $l)}
  srun_mpi=${FLYFIT_SRUN_MPI-pmix}
  launch() { local np=$1; shift; srun ${srun_mpi:+--mpi=$srun_mpi} --ntasks="$np" --cpus-per-task="$threads" --kill-on-bad-exit=1 "$@"; }
  echo "scaling.sh: SLURM job $SLURM_JOB_ID, $SLURM_NNODES node(s), ${SLURM_NTASKS:-?} tasks; ranks: $ranks"
else
  ranks=${ranks:-1 2 4 8}
  [ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  launch() { local np=$1; shift; mpirun -np "$np" --oversubscribe --bind-to none "$@"; }
  echo "scaling.sh: mpirun on $(hostname), $(nproc) cores; ranks: $ranks"
fi

# brain FILE and its 21-per-138,639 sugar list
brain_for() { # K -> path of the connectome for this point
  local K=$1
  if [ "$kind" = strong ]; then
    if [ -z "$connectome" ]; then
      connectome=$out/brain.h5
      [ -f "$connectome" ] || "$BIN/flyfit-synth" --seed 1 -o "$connectome" >&2
    fi
    echo "$connectome"
  else
    local f=$out/brain-k$K.h5
    [ -f "$f" ] || "$BIN/flyfit-synth" --seed 1 --neurons $((npr * K)) -o "$f" >&2
    echo "$f"
  fi
}
# a copy of the brain per partition method, so that methods do not replace each other's /partition/kK
partitioned() { # brain K method -> path holding /partition/kK made with method
  local brain=$1 K=$2 m=$3 f
  [ "$K" -eq 1 ] && { echo "$brain"; return; }
  f=${brain%.h5}-$m.h5
  [ -f "$f" ] || cp "$brain" "$f"
  if ! h5dump -n "$f" 2>/dev/null | grep -q "/partition/k$K/report/send_pairs"; then
    if ! "$BIN/flyfit-partition" "$f" --ranks "$K" --method "$m" > "$out/partition-$(basename "${f%.h5}")-k$K.txt" 2>&1; then
      if [ "$m" = metis ] && grep -q "too many for METIS" "$out/partition-$(basename "${f%.h5}")-k$K.txt"; then
        echo "scaling.sh: $f is too large for METIS with 32-bit indices; using --method block" >&2
        "$BIN/flyfit-partition" "$f" --ranks "$K" --method block > /dev/null
      else
        cat "$out/partition-$(basename "${f%.h5}")-k$K.txt" >&2
        die "flyfit-partition $f --ranks $K --method $m failed"
      fi
    fi
  fi
  echo "$f"
}

for K in $ranks; do
  brain=$(brain_for "$K")
  n=$(h5dump -H -d /neurons/root_id "$brain" | sed -n 's/.*DATASPACE  SIMPLE { ( \([0-9]*\) ).*/\1/p')
  drive=$(( (21 * n + 138638) / 138639 ))
  sugar=$out/sugar-$(basename "${brain%.h5}").txt
  [ -f "$sugar" ] || "$ROOT/tools/pick-neurons" "$brain" --neuropil GNG --count "$drive" > "$sugar"
  for m in $methods; do
    f=$(partitioned "$brain" "$K" "$m")
    for x in $exchanges; do
      [ "$K" -eq 1 ] && [ "$x" != allgather ] && continue   # one rank exchanges nothing
      for b in $batch; do
        name=$kind-k$K-$m-$x-b$b
        [ "$K" -eq 1 ] && name=$kind-k1-b$b
        if [ -f "$out/$name/results.h5" ]; then echo "scaling.sh: $name done already"; continue; fi
        cat > "$out/$name.ini" <<INI
[data]
connectome = $f
[run]
duration_ms = $duration
batch = $b
threads = $threads
exchange = $x
progress_s = 30
[stimulus]
poisson_neurons = @$sugar
poisson_rate_hz = 200
[output]
dir = $out/$name
spikes = none
INI
        echo "scaling.sh: $name ($n neurons)"
        launch "$K" "$BIN/flyfit" "$out/$name.ini" "${sets[@]}" > "$out/$name.log" 2>&1 \
          || { tail -5 "$out/$name.log" >&2; die "$name failed; its log is $out/$name.log"; }
        grep -E "s per simulated second|peak memory" "$out/$name.log" | sed 's/^/    /'
      done
    done
  done
done
[ $collect -eq 0 ] || "$ROOT/jobs/scaling-collect" "$out"
