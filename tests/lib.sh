# Shared helpers for the integration tests (sourced). Each check prints one TAP line:
# "ok - what" or "not ok - what", which tests/run.sh counts.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# the programs (FLYFIT_BIN, default bin) and the test drivers (FLYFIT_BUILD/tests, default
# build/tests) under test; make check SAN=1 points both into build/san
abs() { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
BIN=$(abs "${FLYFIT_BIN:-bin}")
TESTBIN=$(abs "${FLYFIT_BUILD:-build}")/tests
TMP=$(mktemp -d "${TMPDIR:-/tmp}/flyfit-test.XXXXXX")
# KEEP_TMP=1 keeps the scratch directory for a look after a failure
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$TMP"' EXIT
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Quiet Open MPI on machines without a high-speed network.
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
skip() { echo "ok - $1 # SKIP $2"; }
check() { # description, command...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
# mpirun with NP ranks, quiet and bound to nothing (ranks may exceed cores).
mpi() { local np=$1; shift; mpirun -np "$np" --bind-to none "$@"; }
# expect_error DESCRIPTION PATTERN COMMAND...: the command must fail (nonzero) and its stderr must
# match the extended regex PATTERN.
expect_error() {
  local what=$1 pat=$2; shift 2
  local err=$TMP/stderr.$$ rc
  "$@" >/dev/null 2>"$err"; rc=$?
  if [ $rc -eq 0 ]; then fail "$what (exit status 0, expected failure)"; return; fi
  if grep -qE -- "$pat" "$err"; then ok "$what"; else
    fail "$what (message did not match /$pat/)"; sed 's/^/#   /' "$err" | head -5
  fi
}
# sim_dump RESULTS.h5: the text of every dataset of a simulation that must not depend on ranks,
# threads, partition, exchange or backend
sim_dump() {
  h5dump -d /spikes/batch -d /spikes/step -d /spikes/neuron -d /neurons/spike_count -d /neuropils/rate_hz \
    -d /state/v_mV -d /state/g_mV -m %.17g "$1" | grep -v HDF5
}
# backend_run NAME NP BACKEND TRANSPORT [--set ...]: $TMP/run.ini on $TMP/net.h5 (1 rank) or
# $TMP/net-kNP.h5, output in $TMP/NAME, log in $TMP/NAME.log, sim_dump in $TMP/NAME.txt
backend_run() {
  local name=$1 np=$2 be=$3 tr=$4; shift 4
  local net=$TMP/net.h5
  [ "$np" -gt 1 ] && net=$TMP/net-k$np.h5
  mpi "$np" "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/$name" --set data.connectome="$net" \
    --set run.backend="$be" --set run.transport="$tr" "$@" >"$TMP/$name.log" 2>&1 \
    || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log" | sed 's/^/#   /'; return 1; }
  sim_dump "$TMP/$name/results.h5" > "$TMP/$name.txt"
}

# fit_fixture [--neurons N] [--sample-ms MS] [--synth 'ARGS'] [--ini FILE] SEED FRAMES [section.key=value]...
# The fitting tests' fixture: a synthetic brain of N neurons (600) with FRAMES frames of synthetic
# recordings, from flyfit-synth --seed SEED --sample-ms MS (60; '' = its default) and the --synth
# ARGS (split at blanks), --activity-model brainscale (the fitting model's own network makes them: a
# known answer), into $TMP/brain.h5 and $TMP/act.h5; and FILE ($TMP/fit.ini), a round-1 fit of them:
#   [data] connectome, activity   [run] mode = fit, preset = brainscale, threads = 1, progress_s = 0
#   [preprocess] trim_frames = 10   [fit] sample_ms = MS (unless '')   [output] dir = $TMP/out
# Each section.key=value replaces the line of that key, or adds one. flyfit-synth runs one thread
# (its output does not depend on the count). On failure: a TAP failure line, status 1. Safe under set -e
# (tests/golden/capture.sh).
fit_fixture() {
  local neurons=600 sample_ms=60 ini=$TMP/fit.ini synth=()
  while [ $# -gt 0 ]; do
    case $1 in
      --neurons) neurons=$2; shift 2 ;;
      --sample-ms) sample_ms=$2; shift 2 ;;
      --synth) read -ra synth <<< "$2"; shift 2 ;;
      --ini) ini=$2; shift 2 ;;
      *) break ;;
    esac
  done
  local seed=$1 frames=$2; shift 2
  if [ -n "$sample_ms" ]; then synth=(--sample-ms "$sample_ms" "${synth[@]}"); fi
  "$BIN/flyfit-synth" --neurons "$neurons" --seed "$seed" -o "$TMP/brain.h5" --activity "$TMP/act.h5" \
    --activity-model brainscale --frames "$frames" "${synth[@]}" --threads 1 > "$TMP/synth.log" 2>&1 \
    || { fail "flyfit-synth --activity"; tail -3 "$TMP/synth.log" | sed 's/^/#   /'; return 1; }
  local lines=("data.connectome=$TMP/brain.h5" "data.activity=$TMP/act.h5" run.mode=fit run.preset=brainscale
               run.threads=1 run.progress_s=0 preprocess.trim_frames=10)
  if [ -n "$sample_ms" ]; then lines+=("fit.sample_ms=$sample_ms"); fi
  lines+=("output.dir=$TMP/out" "$@")
  # one INI line per key, in the order the keys first appear, grouped by section
  local -A value=()
  local order=() sections=() kv key s
  for kv in "${lines[@]}"; do
    key=${kv%%=*}
    if [ -z "${value[$key]+set}" ]; then order+=("$key"); fi
    value[$key]=${kv#*=}
  done
  for key in "${order[@]}"; do
    s=${key%%.*}
    if [[ " ${sections[*]} " != *" $s "* ]]; then sections+=("$s"); fi
  done
  {
    for s in "${sections[@]}"; do
      echo "[$s]"
      for key in "${order[@]}"; do
        if [ "${key%%.*}" = "$s" ]; then echo "${key#*.} = ${value[$key]}"; fi
      done
    done
  } > "$ini"
}

# gpu_or_skip DESCRIPTION: ends the script with one SKIP unless this machine has a GPU and flyfit was
# built with CUDA
gpu_or_skip() {
  if ! { command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; }; then
    skip "$1" "no GPU on this machine"; exit 0
  fi
  if ! ldd "$BIN/flyfit" | grep -q libcudart; then skip "$1" "flyfit built without CUDA"; exit 0; fi
}
# FIT_ALL: the settings of a short mode = all run on fit_fixture's data (round 2 and prediction too);
# fit_all_same A B: two such runs gave the same summary lines, forecasts and raster
FIT_ALL=(--set run.mode=all --set fit.epochs_round2=2 --set fit.rnn_hidden=8 --set fit.rnn_batch=4 --set fit.rnn_seq_len=8
         --set fit.rnn_iters=2 --set predict.warmup_frames=10)
fit_all_same() {
  cmp -s "$TMP/$1.summary" "$TMP/$2.summary" && h5diff -q "$TMP/$1/results.h5" "$TMP/$2/results.h5" /predict/forecast &&
    h5diff -q "$TMP/$1/results.h5" "$TMP/$2/results.h5" /predict/raster
}
fit_conn() { if [ "$1" = 1 ]; then echo "$TMP/brain.h5"; else echo "$TMP/brain-k$1.h5"; fi; }
# fit_run NAME NP BACKEND TRANSPORT [--set ...]: $TMP/fit.ini (fit_fixture) on NP ranks ($TMP/brain-kNP.h5 for NP > 1)
# into $TMP/NAME; its summary line without samples_per_s in $TMP/NAME.summary
fit_run() {
  local name=$1 np=$2 be=$3 tr=$4; shift 4
  mpi "$np" "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$(fit_conn "$np")" --set output.dir="$TMP/$name" \
    --set run.backend="$be" --set run.transport="$tr" "$@" > "$TMP/$name.stdout" 2> "$TMP/$name.log" \
    || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log" | sed 's/^/#   /'; return 1; }
  grep -E '^[a-z0-9]+ done:' "$TMP/$name.stdout" | sed -E 's/ samples_per_s=[^ ]*//' > "$TMP/$name.summary"
}
# fit_round1_dump DIR: everything of a 2-epoch round 1 that must not depend on the backend or the rank
# count (history columns 7 and 9 are wall clock)
fit_round1_dump() { # run-dir
  /usr/bin/python3 - "$1" <<'PY'
import sys, h5py, numpy as np
d = sys.argv[1]
c = h5py.File(f"{d}/checkpoint-epoch-2.h5", "r")
r = h5py.File(f"{d}/results.h5", "r")
out = [(f"@{k}", np.asarray(v)) for k, v in sorted(c.attrs.items())]  # Adam's t, epochs, checksum, fingerprint
for g in ("/params", "/adam"):
    c[g].visititems(lambda n, o: out.append((f"{g}/{n}", o[()])) if isinstance(o, h5py.Dataset) else None)
h = c["/history"][()]
out.append(("/history", h[:, [q for q in range(h.shape[1]) if q not in (7, 9)]]))
r["/fit/round1"].visititems(lambda n, o: out.append((n, o[()])) if isinstance(o, h5py.Dataset) and n not in ("seconds", "samples_per_s") else None)
for n in ("/round1/sim_rates", "/round1/test_pred"):
    out.append((n, r[n][()]))
for n, a in out:
    print(n, np.asarray(a).dtype, np.asarray(a).shape, np.asarray(a).tobytes().hex())
PY
}
fit_round1_same() { # a b: bit-identical round 1
  cmp -s "$TMP/$1.summary" "$TMP/$2.summary" && cmp -s <(fit_round1_dump "$TMP/$1") <(fit_round1_dump "$TMP/$2")
}

# backend_vs_cpu LABEL BACKEND MIN_SPIKES "NP TRANSPORT [--set k=v ...]"...: for both presets and
# batch 1 and 3, the CPU backend on 1 rank ($TMP/PRESET-bB-cpu; with at least MIN_SPIKES spikes) and
# BACKEND in each case ($TMP/PRESET-bB-BACKEND-npNP-TRANSPORT) on $TMP/run.ini; every case's
# sim_dump and spikes.txt must equal the CPU backend's, bit for bit (backend_run)
backend_vs_cpu() {
  local label=$1 be=$2 min=$3; shift 3
  local cases=("$@") preset B ref n cfg name np tr args_text
  local -a extra args
  for preset in shiu brainscale; do
    extra=()
    [ $preset = brainscale ] && extra=(--set run.preset=brainscale --set stimulus.background_weight_mV=0.4 --set model.w_syn_mV=0.03)
    for B in 1 3; do
      ref=$preset-b$B-cpu
      backend_run "$ref" 1 cpu mpi --set run.batch=$B "${extra[@]}" || continue
      if [ "$min" -gt 0 ]; then
        n=$(grep -c . "$TMP/$ref/spikes.txt")
        check "$preset batch $B: the CPU reference has spikes ($n)" test "$n" -gt "$min"
      fi
      for cfg in "${cases[@]}"; do
        read -r np tr args_text <<<"$cfg"
        read -r -a args <<<"${args_text:-}"
        name=$preset-b$B-$be-np$np-$tr
        backend_run "$name" "$np" "$be" "$tr" --set run.batch=$B "${extra[@]}" "${args[@]}" || continue
        if cmp -s "$TMP/$ref.txt" "$TMP/$name.txt" && cmp -s "$TMP/$ref/spikes.txt" "$TMP/$name/spikes.txt"; then
          ok "$preset batch $B: $label on $np rank(s), $tr transport = CPU backend, bit for bit"
        else
          fail "$preset batch $B: $label on $np rank(s), $tr transport differs from the CPU backend"
          diff "$TMP/$ref.txt" "$TMP/$name.txt" | head -4 | sed 's/^/#   /'
        fi
      done
    done
  done
}
