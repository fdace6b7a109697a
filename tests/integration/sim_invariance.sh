#!/usr/bin/env bash
# Bit-identical results for 1, 2, 3 and 4 ranks, for 1 and 2 threads per rank, for the metis,
# block and random partitions (flyfit-partition) and for both spike exchanges (allgather,
# targeted): spikes, spike counts, neuropil rates and recorded v and g, compared byte for byte.
source "$(dirname "$0")/../lib.sh"
/usr/bin/python3 "$ROOT/tests/tools/mknet.py" "$TMP/net.h5" random 400 11 40 50
for K in 2 3 4; do
  for m in metis block random; do
    cp "$TMP/net.h5" "$TMP/net-k$K-$m.h5"
    "$BIN/flyfit-partition" "$TMP/net-k$K-$m.h5" --ranks $K --method $m --seed 3 >/dev/null 2>"$TMP/part.log" \
      || { fail "flyfit-partition --ranks $K --method $m"; cat "$TMP/part.log"; }
  done
done
cat > "$TMP/run.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
duration_ms = 400
batch = 3
[stimulus]
poisson_neurons = 0-19
poisson_rate_hz = 200
silence = 30-35
[output]
spikes_txt = true
state_neurons = 3, 150, 399
INI
run() { # name np threads method exchange [--set ...]
  local name=$1 np=$2 th=$3 m=$4 x=$5; shift 5
  local net=$TMP/net.h5
  [ "$np" -gt 1 ] && net=$TMP/net-k$np-$m.h5
  mpi "$np" "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/$name" --set run.threads="$th" \
    --set data.connectome="$net" --set run.exchange="$x" "$@" >"$TMP/$name.log" 2>&1 \
    || { fail "$name: flyfit exited with $?"; tail -3 "$TMP/$name.log"; return 1; }
  sim_dump "$TMP/$name/results.h5" > "$TMP/$name.txt" && grep -q 'DATASET "/state/g_mV"' "$TMP/$name.txt" \
    || { fail "$name: results.h5 lacks datasets"; return 1; }
}
for preset in shiu brainscale; do
  extra=()
  [ $preset = brainscale ] && extra=(--set run.preset=brainscale --set stimulus.background_weight_mV=0.4 --set model.w_syn_mV=0.03)
  run "$preset-ref" 1 1 - allgather "${extra[@]}" || continue
  spikes=$(grep -c . "$TMP/$preset-ref/spikes.txt")
  check "$preset: reference run has spikes ($spikes)" test "$spikes" -gt 100
  for cfg in "1 2 - targeted" "2 1 metis allgather" "2 2 block targeted" "3 1 random targeted" "3 2 metis allgather" \
             "4 1 metis targeted" "4 2 block allgather" "4 1 random auto"; do
    set -- $cfg
    name="$preset-np$1-t$2-$3-$4"
    run "$name" "$1" "$2" "$3" "$4" "${extra[@]}" || continue
    if cmp -s "$TMP/$preset-ref.txt" "$TMP/$name.txt" && cmp -s "$TMP/$preset-ref/spikes.txt" "$TMP/$name/spikes.txt"; then
      ok "$preset: $1 rank(s) x $2 thread(s), $3 partition, $4 exchange: identical to 1 rank x 1 thread"
    else
      fail "$preset: $1 rank(s) x $2 thread(s), $3 partition, $4 exchange differs"; diff "$TMP/$preset-ref.txt" "$TMP/$name.txt" | head -4
    fi
  done
done

# threads = 0: unbound ranks on one node share its cores instead of each taking all of them
cores=$(nproc)
want=$(( cores / 2 > 0 ? cores / 2 : 1 ))
mpi 2 "$BIN/flyfit" "$TMP/run.ini" --set output.dir="$TMP/threads0" --set data.connectome="$TMP/net-k2-block.h5" \
  --set run.threads=0 > "$TMP/threads0.log" 2>&1
check "threads = 0 with 2 unbound ranks on $cores cores: $want thread(s) each" \
  grep -q "2 ranks x $want thread" "$TMP/threads0.log"

# spike words sent between ranks, against a count made here from the recorded spikes and the
# partition: allgather sends each spike of a non-silenced neuron to the K-1 other ranks, targeted
# to each other rank holding a stand-in of the neuron; spikes of the last window go nowhere
words_check() { # results.h5 connectome.h5 K mode
  /usr/bin/python3 - "$@" <<'PY'
import sys, h5py, numpy as np
res, net, K, mode = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), int(sys.argv[3]), sys.argv[4]
run = res["/run"].attrs
D, T = int(run["delay_steps"]), int(run["steps"])
last = (T + D - 1) // D - 1                        # the last window's spikes are never exchanged
step, neuron = res["/spikes/step"][:], res["/spikes/neuron"][:]
count = np.bincount(neuron[step < last * D], minlength=len(res["/neurons/spike_count"][0]))
count[30:36] = 0                                   # [stimulus] silence = 30-35: never sent
g = net[f"/partition/k{K}"]
order, no, po, pre = g["order"][:], g["neuron_offsets"][:], g["pre_offsets"][:], g["pre"][:]
if mode == "allgather":
    expect = int(count.sum()) * (K - 1)
else:
    dests = np.zeros(len(order), int)              # by new id: other ranks holding a stand-in
    for q in range(K):
        s = pre[po[q]:po[q + 1]]
        dests[s[(s < no[q]) | (s >= no[q + 1])]] += 1
    expect = int((count[order] * dests).sum())
got = int(res["/counts/words_sent"][:].sum())
assert res["/timing"].attrs["exchange"] == mode, res["/timing"].attrs["exchange"]
print("ok" if got == expect and got == int(res["/counts/words_recv"][:].sum()) else f"sent {got}, expected {expect}")
PY
}
for cfg in "shiu-np4-t1-metis-targeted 4 metis targeted" "shiu-np4-t2-block-allgather 4 block allgather" \
           "shiu-np3-t1-random-targeted 3 random targeted"; do
  set -- $cfg
  out=$(words_check "$TMP/$1/results.h5" "$TMP/net-k$2-$3.h5" "$2" "$4" 2>&1)
  check "$1: words sent between ranks = the count from spike counts and stand-ins ($out)" test "$out" = ok
done
