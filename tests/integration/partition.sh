#!/usr/bin/env bash
# flyfit-partition and partitioned loading: the report, byte-identical reruns, METIS against
# block and random, [run] partition = auto, and every bad input: a partition for another rank
# count, a damaged or missing /partition group, --ranks 0, more ranks than neurons, and a write
# interrupted by kill -9 (the connectome must come through each of them unchanged).
source "$(dirname "$0")/../lib.sh"
P=$BIN/flyfit-partition
"$BIN/flyfit-synth" --neurons 6000 --seed 2 -o "$TMP/brain.h5" 2>/dev/null
cp "$TMP/brain.h5" "$TMP/orig.h5"

"$P" "$TMP/brain.h5" --ranks 4 > "$TMP/report.txt" 2>&1
check "the report is a table with one row per rank" test "$(grep -cE '^ +[0-3] +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$' "$TMP/report.txt")" -eq 4
check "the report gives edge cut and imbalance" grep -q "edge cut .* imbalance (max/mean) neurons" "$TMP/report.txt"
cp "$TMP/orig.h5" "$TMP/again.h5"
"$P" "$TMP/again.h5" --ranks 4 >/dev/null 2>&1
check "the same arguments give the same file, byte for byte" cmp -s "$TMP/brain.h5" "$TMP/again.h5"
size1=$(stat -c %s "$TMP/brain.h5")
"$P" "$TMP/brain.h5" --ranks 4 >/dev/null 2>&1
check "partitioning again for the same K replaces it (file size $size1 stays)" test "$(stat -c %s "$TMP/brain.h5")" -eq "$size1"
check "the connectome data are untouched by partitioning" \
  cmp -s <(h5dump -d /connections/post -d /connections/count -d /neuropils/synapses "$TMP/orig.h5" | sed 1d) \
         <(h5dump -d /connections/post -d /connections/count -d /neuropils/synapses "$TMP/brain.h5" | sed 1d)

# --report-only changes nothing; --json gives the same figures as the stored report, and the
# stored report agrees with a count made here from the stored slabs
cp "$TMP/brain.h5" "$TMP/before-report.h5"
"$P" "$TMP/brain.h5" --ranks 4 --report-only --json "$TMP/k4.json" > "$TMP/report2.txt" 2>&1
check "--report-only leaves the file byte for byte as it was" cmp -s "$TMP/brain.h5" "$TMP/before-report.h5"
check "--report-only prints the same table" cmp -s <(grep -vE 'took|^flyfit-partition:' "$TMP/report.txt") <(grep -vE 'took|^flyfit-partition:' "$TMP/report2.txt")
/usr/bin/python3 - "$TMP/brain.h5" "$TMP/k4.json" > "$TMP/report-check.txt" 2>&1 <<'PY'
import json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); g = f["/partition/k4"]; j = json.load(open(sys.argv[2]))
no, po, pre = g["neuron_offsets"][:], g["pre_offsets"][:], g["pre"][:]
owner = np.searchsorted(no, pre, side="right") - 1          # rank owning each stand-in
K = 4
pairs = np.zeros(K, int); speers = np.zeros(K, int); rpeers = np.zeros(K, int); ghosts = np.zeros(K, int)
for q in range(K):
    o = owner[po[q]:po[q + 1]]
    remote = o[o != q]
    ghosts[q] = len(remote)
    np.add.at(pairs, remote, 1)
    for r in set(remote.tolist()):
        speers[r] += 1
    rpeers[q] = len(set(remote.tolist()))
bad = [k for k, v in (("ghosts", ghosts), ("send_pairs", pairs), ("send_peers", speers), ("recv_peers", rpeers))
       if list(v) != j[k] or list(v) != list(g["report/" + k][:])]
print("mismatch:", bad) if bad else print("ok")
PY
check "report ghosts, send pairs and peers match a count from the slabs" grep -qx ok "$TMP/report-check.txt"

# METIS against block and random: a clearly lower edge cut, imbalance within 1.05
for m in metis block random; do
  cp "$TMP/orig.h5" "$TMP/$m.h5"
  "$P" "$TMP/$m.h5" --ranks 8 --method $m 2>/dev/null | sed -n 2p > "$TMP/$m.txt"
done
cut() { sed -n 's/.*edge cut \([0-9]*\) connections.*/\1/p' "$TMP/$1.txt"; }
imb() { sed -n "s/.*imbalance (max\/mean) neurons \([0-9.]*\), connections \([0-9.]*\).*/\1 \2/p" "$TMP/$1.txt"; }
echo "# edge cut at K=8: metis $(cut metis), block $(cut block), random $(cut random)"
check "METIS edge cut below 0.7x block's and random's" \
  awk -v m="$(cut metis)" -v b="$(cut block)" -v r="$(cut random)" 'BEGIN { exit !(m < 0.7 * b && m < 0.7 * r) }'
check "METIS imbalance of neurons and connections at most 1.05 ($(imb metis))" \
  awk -v s="$(imb metis)" 'BEGIN { split(s, a, " "); exit !(a[1] <= 1.05 && a[2] <= 1.05) }'

# bad command lines and inputs leave the file as it was
cp "$TMP/brain.h5" "$TMP/before.h5"
unchanged() { check "$1: the connectome file is unchanged" cmp -s "$TMP/brain.h5" "$TMP/before.h5"; }
expect_error "--ranks 0" "--ranks 0: the rank count must be between 1 and" "$P" "$TMP/brain.h5" --ranks 0
unchanged "--ranks 0"
expect_error "more ranks than neurons" "--ranks 7000: more ranks than the 6000 neurons" "$P" "$TMP/brain.h5" --ranks 7000
unchanged "more ranks than neurons"
expect_error "unknown method" "--method scotch: expected one of metis, block, random" "$P" "$TMP/brain.h5" --ranks 2 --method scotch
expect_error "missing file" "nothere.h5': No such file" "$P" "$TMP/nothere.h5" --ranks 2
printf 'not hdf5' > "$TMP/junk.h5"
expect_error "not an HDF5 file" "junk.h5' is not a readable HDF5 file" "$P" "$TMP/junk.h5" --ranks 2

cat > "$TMP/run.ini" <<INI
[data]
connectome = $TMP/brain.h5
[run]
duration_ms = 100
[stimulus]
poisson_neurons = 0-20
[output]
dir = $TMP/out
INI
expect_error "flyfit on 3 ranks with partitions for 4 only" \
  "holds no partition for 3 ranks \(it holds partitions for K = 4\); make one with:" mpi 3 "$BIN/flyfit" "$TMP/run.ini"
check "... and the message gives the command" grep -q "flyfit-partition $TMP/brain.h5 --ranks 3" "$TMP/stderr.$$"
unchanged "a partition for another K"
cp "$TMP/orig.h5" "$TMP/nopart.h5"
expect_error "flyfit on 2 ranks with no /partition group at all" \
  "holds no partition for 2 ranks \(it holds none\); make one with:" mpi 2 "$BIN/flyfit" "$TMP/run.ini" \
  --set data.connectome="$TMP/nopart.h5"
check "... and that file is unchanged" cmp -s "$TMP/nopart.h5" "$TMP/orig.h5"

# --balance: what METIS keeps within 3% of the mean
for bal in neurons connections; do
  "$P" "$TMP/orig.h5" --ranks 6 --balance $bal --report-only 2>/dev/null | sed -n 2p > "$TMP/bal-$bal.txt"
done
check "--balance neurons: neuron imbalance at most 1.03 ($(imb bal-neurons 2>/dev/null))" \
  awk -v s="$(sed -n 's/.*neurons \([0-9.]*\), connections.*/\1/p' "$TMP/bal-neurons.txt")" 'BEGIN { exit !(s > 0 && s <= 1.03) }'
check "--balance connections: connection imbalance at most 1.03" \
  awk -v s="$(sed -n 's/.*connections \([0-9.]*\);.*/\1/p' "$TMP/bal-connections.txt")" 'BEGIN { exit !(s > 0 && s <= 1.03) }'

# damaged partitions: a changed connection, a missing dataset, attributes for another K
/usr/bin/python3 - "$TMP" <<'PY'
import shutil, sys, h5py
t = sys.argv[1]
for name in ("flip", "nodata", "attrs"):
    shutil.copy(f"{t}/brain.h5", f"{t}/{name}.h5")
with h5py.File(f"{t}/flip.h5", "a") as f:
    w = f["/partition/k4/weight"]
    w[len(w) - 1] = w[len(w) - 1] + 1     # a connection of the last rank
with h5py.File(f"{t}/nodata.h5", "a") as f:
    del f["/partition/k4/target"]
with h5py.File(f"{t}/attrs.h5", "a") as f:
    f["/partition/k4"].attrs["ranks"] = 3
PY
expect_error "a changed connection in a slab" "the slab of rank 3 in /partition/k4 does not match its checksum" \
  mpi 4 "$BIN/flyfit" "$TMP/run.ini" --set data.connectome="$TMP/flip.h5"
expect_error "a missing dataset in /partition" "nodata.h5': dataset /partition/k4/target is missing" \
  mpi 4 "$BIN/flyfit" "$TMP/run.ini" --set data.connectome="$TMP/nodata.h5"
expect_error "a partition whose attributes say another K" "was made for 3 ranks and 6000 neurons, not 4" \
  mpi 4 "$BIN/flyfit" "$TMP/run.ini" --set data.connectome="$TMP/attrs.h5"

# [run] partition = auto: made on rank 0, kept in the file, said in the log; same results as 1 rank
cp "$TMP/orig.h5" "$TMP/auto.h5"
"$BIN/flyfit" "$TMP/run.ini" --set data.connectome="$TMP/auto.h5" --set output.dir="$TMP/one" >/dev/null 2>&1
mpi 3 "$BIN/flyfit" "$TMP/run.ini" --set data.connectome="$TMP/auto.h5" --set run.partition=auto \
  --set output.dir="$TMP/three" > "$TMP/auto.log" 2>&1
check "auto: the log says the partition was made" grep -q "partition = auto: .* making one with METIS on rank 0" "$TMP/auto.log"
check "auto: the file now holds /partition/k3" bash -c "h5dump -n '$TMP/auto.h5' | grep -q '/partition/k3/target'"
check "auto: spikes identical to one rank" \
  cmp -s <(h5dump -d /spikes/neuron -d /spikes/step "$TMP/one/results.h5" | sed 1d) <(h5dump -d /spikes/neuron -d /spikes/step "$TMP/three/results.h5" | sed 1d)

# an interrupted write never damages the connectome: kill -9 part-way, several times
"$BIN/flyfit-synth" --neurons 40000 --seed 4 -o "$TMP/big.h5" 2>/dev/null
cp "$TMP/big.h5" "$TMP/big.orig"
for delay in 0.2 0.6 1.2 2.0; do
  "$P" "$TMP/big.h5" --ranks 16 >/dev/null 2>&1 &
  pid=$!
  sleep $delay
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if cmp -s "$TMP/big.h5" "$TMP/big.orig"; then state=unchanged
  elif h5dump -d /partition/k16/checksum "$TMP/big.h5" >/dev/null 2>&1 &&
       cmp -s <(h5dump -d /connections/post "$TMP/big.h5" | sed 1d) <(h5dump -d /connections/post "$TMP/big.orig" | sed 1d); then
    state="complete with its new partition"; cp "$TMP/big.h5" "$TMP/big.orig"
  else state=damaged; fi
  check "killed after ${delay}s: the connectome is $state" test "$state" != damaged
  rm -f "$TMP"/big.h5.tmp.*
done
