#!/usr/bin/env bash
# flyfit against the published Brian2 model (Shiu et al., tests/tools/brian2_shiu.py) on a small
# network written in the Shiu file formats and imported with flyfit-import: the same input spikes
# must give the same spike trains, spike for spike, on 1 and on 3 ranks.
source "$(dirname "$0")/../lib.sh"
if ! /usr/bin/python3 -c "import brian2" 2>/dev/null; then
  skip "Brian2 comparison" "python3-brian is not installed (tools/install-deps.sh installs it)"; exit 0
fi
for seed in 3 8; do
  d=$TMP/s$seed
  mkdir -p "$d"
  /usr/bin/python3 "$ROOT/tests/tools/mkshiu.py" "$d" 200 "$seed"
  "$BIN/flyfit-import" shiu --neurons "$d/neurons.csv" --connectivity "$d/connectivity.csv" -o "$d/net.h5" 2>"$d/import.log" \
    || { fail "seed $seed: flyfit-import shiu"; cat "$d/import.log"; continue; }
  "$BIN/flyfit-partition" "$d/net.h5" --ranks 3 >/dev/null 2>&1 || fail "seed $seed: flyfit-partition --ranks 3"
  /usr/bin/python3 "$ROOT/tests/tools/brian2_shiu.py" "$d/neurons.csv" "$d/connectivity.csv" "$d/input.txt" 300 \
    2>"$d/brian2.log" | sort -k1,1n -k2,2n > "$d/brian2.txt"
  n=$(wc -l < "$d/brian2.txt")
  check "seed $seed: Brian2 produced a busy network ($n spikes)" test "$n" -gt 300
  cat > "$d/run.ini" <<INI
[data]
connectome = $d/net.h5
[run]
duration_ms = 300
[stimulus]
spikes_file = $d/input.txt
[output]
spikes_txt = true
INI
  for np in 1 3; do
    mpi "$np" "$BIN/flyfit" "$d/run.ini" --set output.dir="$d/out$np" >"$d/flyfit$np.log" 2>&1 || { fail "seed $seed: flyfit on $np ranks"; continue; }
    awk '{ printf "%d %d\n", $2 / 0.1 + 0.5, $1 }' "$d/out$np/spikes.txt" | sort -k1,1n -k2,2n > "$d/flyfit$np.txt"
    if cmp -s "$d/brian2.txt" "$d/flyfit$np.txt"; then ok "seed $seed, $np rank(s): spike trains identical to Brian2 ($n spikes)"; else
      fail "seed $seed, $np rank(s): spike trains differ from Brian2"; diff "$d/brian2.txt" "$d/flyfit$np.txt" | head -5 | sed 's/^/#   /'
    fi
  done
done
