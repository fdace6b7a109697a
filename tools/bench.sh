#!/usr/bin/env bash
# make bench: speed and memory of flyfit on the full-size synthetic brain (138,639 neurons,
# ~15.1M connections), shiu preset, 21 GNG neurons driven at 200 Hz, 1 s simulated:
#   batch 1 and batch 32, on 1 rank x 2 threads and on 2 ranks x 1 thread;
#   the reference Brian2 model (C++ standalone, 1 thread) on the same network and stimulus, when
#   Brian2 is installed; the import of the full-size Codex CSV (~17M rows).
# Figures go to stdout and to bench/results.csv; the machine is named in every row.
set -euo pipefail
cd "$(dirname "$0")/.."
B=bench
mkdir -p $B
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
if [ ! -f $B/full.h5 ] || [ ! -f $B/full.csv.gz ] || [ ! -f $B/full-neurons.csv ]; then
  echo "bench: making the full-size synthetic brain (once)"
  bin/flyfit-synth --seed 1 -o $B/full.h5 --codex-csv $B/full.csv.gz --neurons-csv $B/full-neurons.csv
fi
tools/pick-neurons $B/full.h5 --neuropil GNG --count 21 > $B/sugar.txt
cat > $B/sim.ini <<INI
[data]
connectome = $B/full.h5
[run]
duration_ms = 1000
progress_s = 0
[stimulus]
poisson_neurons = @$B/sugar.txt
poisson_rate_hz = 200
[output]
spikes = none
INI
csv=$B/results.csv
machine="$(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
echo "benchmark,ranks,threads,batch,metric,value,setup_s,stepping_s,peak_rss_mb_max,spikes,machine" > $csv
row() { printf '%-24s %5s %7s %5s %-24s %9s %8s %10s %8s\n' "$@"; }
row benchmark ranks threads batch metric value setup_s stepping_s peak_MB
for cfg in "1 2 1" "2 1 1" "1 2 32" "2 1 32"; do
  set -- $cfg
  out=$B/sim-np$1-t$2-b$3
  mpirun -np "$1" --bind-to none bin/flyfit $B/sim.ini --set output.dir=$out --set run.threads="$2" \
    --set run.batch="$3" > $out.log 2>&1 || { echo "bench: flyfit failed, see $out.log"; exit 1; }
  /usr/bin/python3 - "$out/results.h5" "$1" "$2" "$3" "$machine" >> $csv <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
t = f["/timing"]
per = t.attrs["simulate_s"] / (f["/run"].attrs["duration_ms"] / 1000)
step = t.attrs["compute_s_rank0"] + t.attrs["exchange_s_rank0"]
spikes = int(f["/neurons/spike_count"][:].sum())
print(f"simulate_1s_shiu,{sys.argv[2]},{sys.argv[3]},{sys.argv[4]},wall_s_per_simulated_s,{per:.4f},"
      f"{t.attrs['setup_s']:.3f},{step:.4f},{t['peak_rss_mb'][:].max():.0f},{spikes},\"{sys.argv[5]}\"")
PY
  IFS=, read -r b r th bt m v su st mb sp _ < <(tail -1 $csv)
  row "$b" "$r" "$th" "$bt" "$m" "$v" "$su" "$st" "$mb"
done
if /usr/bin/python3 -c "import brian2" 2>/dev/null; then
  line=$(/usr/bin/python3 tools/bench/brian2_standalone.py $B/full.h5 $B/sugar.txt 200 1000 1 $B/brian2 2>$B/brian2.log | tail -1) \
    || { echo "bench: the Brian2 reference failed, see $B/brian2.log"; exit 1; }
  run_s=$(echo "$line" | sed -n 's/.*run_s=\([0-9.]*\).*/\1/p')
  spikes=$(echo "$line" | sed -n 's/.*spikes=\([0-9]*\).*/\1/p')
  echo "brian2_cpp_standalone_1s_shiu,1,1,1,wall_s_per_simulated_s,$run_s,,,,$spikes,\"$machine\"" >> $csv
  row brian2_cpp_standalone 1 1 1 wall_s_per_simulated_s "$run_s" "" "" ""
  best=$(awk -F, '$1 == "simulate_1s_shiu" && $4 == 1 { print $6 }' $csv | sort -g | head -1)
  echo "bench: flyfit batch 1 is $(awk -v a="$run_s" -v b="$best" 'BEGIN { printf "%.0f", a / b }')x faster than Brian2 C++ standalone on this machine"
else
  echo "bench: python3-brian missing; the Brian2 reference is skipped"
fi
rows=$(( $(zcat $B/full.csv.gz | wc -l) - 1 ))
line=$(bin/flyfit-import codex --connections $B/full.csv.gz --neurons $B/full-neurons.csv -o $B/imported.h5 2>&1 | tail -1)
secs=$(echo "$line" | sed -n 's/.* \([0-9.]*\) s, peak.*/\1/p')
mb=$(echo "$line" | sed -n 's/.*peak memory \([0-9]*\) MB.*/\1/p')
echo "import_codex_csv_gz,1,1,,wall_s for $rows rows,$secs,,,$mb,,\"$machine\"" >> $csv
row import_codex_csv_gz 1 1 "" "wall_s ($rows rows)" "$secs" "" "" "$mb"
same=yes
for d in /connections/indptr /connections/post /connections/count /neuropils/synapses /neurons/root_id; do
  cmp -s <(h5dump -d $d $B/imported.h5 | sed 1d) <(h5dump -d $d $B/full.h5 | sed 1d) || same=no
done
echo "bench: the imported connectome equals the generated one: $same"
rm -f $B/imported.h5
echo "bench: results in $csv"
