#!/usr/bin/env bash
# Bit-identical results for 1, 2, 3 and 4 ranks, for 1 and 2 threads per rank, and for block and
# random partitions: spikes, spike counts and neuropil rates (compared byte for byte).
source "$(dirname "$0")/../lib.sh"
/usr/bin/python3 "$ROOT/tests/tools/mknet.py" "$TMP/net.h5" random 400 11 40 50
cat > "$TMP/run.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
duration_ms = 400
batch = 3
[stimulus]
poisson_neurons = 0-19
poisson_rate_hz = 200
[output]
spikes_txt = true
state_neurons = 3, 150, 399
INI
dump() { # results.h5 -> text of every dataset that must not depend on ranks, threads or partition
  h5dump -d /spikes/batch -d /spikes/step -d /spikes/neuron -d /neurons/spike_count -d /neuropils/rate_hz \
    -d /state/v_mV -d /state/g_mV -m %.17g "$1" | grep -v HDF5
}
run() { # name np threads partition [preset]
  local name=$1 np=$2 th=$3 part=$4; shift 4
  mpi "$np" "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/$name" --set run.threads="$th" \
    --set run.partition="$part" "$@" >"$TMP/$name.log" 2>&1 || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log"; return 1; }
  dump "$TMP/$name/results.h5" > "$TMP/$name.txt" && grep -q "DATASET \"/state/g_mV\"" "$TMP/$name.txt" || { fail "$name: results.h5 lacks datasets"; return 1; }
}
for preset in shiu brainscale; do
  extra=()
  [ $preset = brainscale ] && extra=(--set run.preset=brainscale --set stimulus.background_weight_mV=0.4 --set model.w_syn_mV=0.03)
  run "$preset-ref" 1 1 block "${extra[@]}" || continue
  spikes=$(grep -c . "$TMP/$preset-ref/spikes.txt")
  check "$preset: reference run has spikes ($spikes)" test "$spikes" -gt 100
  for cfg in "1 2 block" "2 1 block" "2 2 random" "3 1 block" "3 1 random" "4 1 random" "4 2 block"; do
    set -- $cfg
    name="$preset-np$1-t$2-$3"
    run "$name" "$1" "$2" "$3" "${extra[@]}" || continue
    if cmp -s "$TMP/$preset-ref.txt" "$TMP/$name.txt" && cmp -s "$TMP/$preset-ref/spikes.txt" "$TMP/$name/spikes.txt"; then
      ok "$preset: $1 rank(s) x $2 thread(s), $3 partition identical to 1 rank x 1 thread"
    else
      fail "$preset: $1 rank(s) x $2 thread(s), $3 partition differs"; diff "$TMP/$preset-ref.txt" "$TMP/$name.txt" | head -4
    fi
  done
done
