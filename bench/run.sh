#!/usr/bin/env bash
# make bench: speed, memory and scale-out of flyfit on the full-size synthetic brain (138,639 neurons,
# ~15.1M connections), shiu preset, 21 GNG neurons driven at 200 Hz, 1 s simulated.
#   sim        batch 1 and 32 on 1 rank x 2 threads and 2 ranks x 1 thread; the reference Brian2 model
#              (C++ standalone) on the same network and stimulus, when Brian2 is installed
#   import     flyfit-import of the full-size Codex CSV (~17M rows)
#   partition  edge cut, imbalance and time of METIS, block and random for K = 2 ... 64
#   scaleout   K = 1, 2, 4 for each partition method and both exchanges: time per simulated second,
#              bytes exchanged per window, peak memory per rank
#   model      tools/flyfit-scaling calibrated on the 1-rank runs, beside the measured K = 2, 4 runs;
#              then its predictions for K = 1 ... 1024 GPUs, strong and weak scaling
#   fit        round 1: peak memory of ES-D-RTRL and D-RTRL against neurons x batch, connections and
#              sample length (a least-squares fit says what it grows with); samples per second and the
#              bytes of state touched per step on the full-size brain at batch 128, against the
#              machine's memory bandwidth
#   task       [run] mode = task: peak memory (run.json's peak_memory_mb, the whole process) and ms per batch of
#              bptt, diag (D-RTRL) and expsm_diag (ES-D-RTRL) at delays 1000, 2000 and 4000 ms, 200 neurons,
#              batch 8, 2 batches, one rank: BPTT's tape grows with the trial, the online methods' traces do not
#   neuron     [run] mode = neuron: HH by the voltage loss from three 60 ms sweeps, multi-start L-BFGS (3 starts,
#              600 evaluations), DE and the GA (24 members, 9,600 evaluations): the evaluations and simulated
#              seconds each needs to reach the same loss, and wall seconds, one rank
#   gpu        (make bench-gpu; not in the default set) the CUDA backend against the CPU backend at
#              batch 1, 32 and 128, MPI and NCCL transport, identical spike counts; a round-1 step at batch
#              128 on the CPU cores and on the GPU, with round 1's device memory; skipped without a GPU
# usage: bench/run.sh [SECTION ...]   (default: all; model needs scaleout's runs)
# Figures go to stdout and to build/bench/*.csv; the machine is named in every CSV row.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench
mkdir -p $B
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
sections=${*:-sim import partition scaleout model fit task neuron}
machine="$(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
cores=$(nproc)

if [ "$sections" = task ] || [ "$sections" = neuron ]; then :  # mode = task and mode = neuron need no connectome
elif [ ! -f $B/full.h5 ] || [ ! -f $B/full.csv.gz ] || [ ! -f $B/full-neurons.csv ]; then
  echo "bench: making the full-size synthetic brain (once)"
  bin/flyfit-synth --seed 1 -o $B/full.h5 --codex-csv $B/full.csv.gz --neurons-csv $B/full-neurons.csv
fi
[ "$sections" = task ] || [ "$sections" = neuron ] || tools/pick-neurons $B/full.h5 --neuropil GNG --count 21 > $B/sugar.txt
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

# one flyfit run: NAME RANKS THREADS [--set ...]; appends a row to $B/results.csv
sim_header="benchmark,ranks,threads,batch,method,exchange,wall_s_per_simulated_s,setup_s,compute_s_max,exchange_s_max,kB_per_window,peak_rss_mb,spikes,machine"
row() { printf '%-26s %5s %7s %5s %-7s %-9s %9s %8s %9s %10s %8s  %s\n' "$@"; }
simulate() {
  local name=$1 np=$2 th=$3; shift 3
  local out=$B/$name
  mpirun -np "$np" --oversubscribe --bind-to none bin/flyfit $B/sim.ini --set output.dir=$out --set run.threads="$th" "$@" \
    > $out.log 2>&1 || { echo "bench: flyfit failed, see $out.log"; exit 1; }
  /usr/bin/python3 - "$out/results.h5" "$name" "$machine" >> $B/results.csv <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
run, t, c = f["/run"].attrs, f["/timing"], f["/counts"]
per = t.attrs["simulate_s"] / (run["duration_ms"] / 1000)
exch = t["pack_s"][:] + t["comm_s"][:] + t["unpack_s"][:]
kb = c["words_sent"][:].sum() * 8 / 1000 / max(1, int(t.attrs["windows"]))
dec = lambda a: a.decode() if isinstance(a, bytes) else str(a)
K = int(run["ranks"])
method = "-" if K == 1 else dec(h5py.File(dec(run["connectome"]), "r")[f"/partition/k{K}"].attrs["method"])
print(f"{sys.argv[2]},{int(run['ranks'])},{int(run['threads_rank0'])},{int(run['batch'])},{method},"
      f"{dec(t.attrs['exchange'])},{per:.5f},{t.attrs['setup_s']:.3f},{t['compute_s'][:].max():.4f},{exch.max():.4f},"
      f"{kb:.3f},{' '.join(f'{x:.0f}' for x in t['peak_rss_mb'][:])},{int(c['spikes'][:].sum())},\"{sys.argv[3]}\"")
PY
  IFS=, read -r b r th bt m x v su cm ex kb mb sp _ < <(tail -1 $B/results.csv)
  row "$b" "$r" "$th" "$bt" "$m" "$x" "$v" "$su" "$kb" "$mb"
}
sim_table_header() { row benchmark ranks threads batch method exchange s/sim_s setup_s kB/window "peak MB per rank"; }
[ -f $B/results.csv ] && head -1 $B/results.csv | grep -qx "$sim_header" || echo "$sim_header" > $B/results.csv

# a copy of the brain holding partitions for K = 2 and 4 made with METHOD
partitioned() {
  local m=$1 f=$B/part-$1.h5
  if [ ! -f $f ] || ! h5dump -n $f 2>/dev/null | grep -q "/partition/k4/report/send_pairs"; then
    cp $B/full.h5 $f.new
    for K in 2 4; do bin/flyfit-partition $f.new --ranks $K --method $m > /dev/null 2>&1 \
      || { echo "bench: flyfit-partition --ranks $K --method $m failed"; exit 1; }; done
    mv $f.new $f
  fi
  echo $f
}

for section in $sections; do case $section in
sim)
  echo "== simulation: full-size brain, 1 s, 21 neurons at 200 Hz"
  f=$(partitioned metis)
  sim_table_header
  for cfg in "1 2 1" "2 1 1" "1 2 32" "2 1 32"; do
    set -- $cfg
    simulate "sim-np$1-t$2-b$3" "$1" "$2" --set data.connectome=$f --set run.batch="$3"
  done
  if /usr/bin/python3 -c "import brian2" 2>/dev/null; then
    line=$(/usr/bin/python3 bench/brian2_standalone.py $B/full.h5 $B/sugar.txt 200 1000 1 $B/brian2 2>$B/brian2.log | tail -1) \
      || { echo "bench: the Brian2 reference failed, see $B/brian2.log"; exit 1; }
    run_s=$(echo "$line" | sed -n 's/.*run_s=\([0-9.]*\).*/\1/p')
    spikes=$(echo "$line" | sed -n 's/.*spikes=\([0-9]*\).*/\1/p')
    echo "brian2_cpp_standalone,1,1,1,-,-,$run_s,,,,,,$spikes,\"$machine\"" >> $B/results.csv
    row brian2_cpp_standalone 1 1 1 - - "$run_s" "" "" ""
    best=$(awk -F, '$1 ~ /^sim-np/ && $4 == 1 { print $7 }' $B/results.csv | sort -g | head -1)
    echo "bench: flyfit batch 1 is $(awk -v a="$run_s" -v b="$best" 'BEGIN { printf "%.0f", a / b }')x faster than Brian2 C++ standalone on this machine"
  else
    echo "bench: python3-brian missing; the Brian2 reference is skipped"
  fi
  ;;
import)
  echo "== import of the full-size Codex CSV"
  rows=$(( $(zcat $B/full.csv.gz | wc -l) - 1 ))
  line=$(bin/flyfit-import codex --connections $B/full.csv.gz --neurons $B/full-neurons.csv -o $B/imported.h5 2>&1 | tail -1)
  secs=$(echo "$line" | sed -n 's/.* \([0-9.]*\) s, peak.*/\1/p')
  mb=$(echo "$line" | sed -n 's/.*peak memory \([0-9]*\) MB.*/\1/p')
  echo "import_codex_csv_gz,1,1,,-,-,$secs,,,,,$mb,,\"$machine\"" >> $B/results.csv
  echo "bench: imported $rows rows in $secs s, peak memory $mb MB"
  same=yes
  for d in /connections/indptr /connections/post /connections/count /neuropils/synapses /neurons/root_id; do
    cmp -s <(h5dump -d $d $B/imported.h5 | sed 1d) <(h5dump -d $d $B/full.h5 | sed 1d) || same=no
  done
  echo "bench: the imported connectome equals the generated one: $same"
  rm -f $B/imported.h5
  ;;
partition)
  echo "== partitions of the full-size brain (flyfit-partition --report-only)"
  echo "method,ranks,edge_cut,edge_cut_fraction,imbalance_neurons,imbalance_connections,ghosts,send_pairs_per_neuron,max_peers,seconds,machine" > $B/partition.csv
  rm -f $B/reports-metis.json
  printf '%-7s %5s %11s %8s %10s %10s %11s %9s %8s\n' method K edge_cut cut_% imb_neur imb_conn dests/neur max_peers seconds
  for m in metis block random; do
    for K in 2 4 8 16 32 64; do
      bin/flyfit-partition $B/full.h5 --ranks $K --method $m --report-only --json $B/report.json > /dev/null 2>&1 \
        || { echo "bench: flyfit-partition --ranks $K --method $m failed"; exit 1; }
      [ $m = metis ] && cat $B/report.json >> $B/reports-metis.json
      /usr/bin/python3 - $B/report.json "$machine" >> $B/partition.csv <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
n, e = j["neurons_total"], j["connections_total"]
print(f"{j['method']},{j['ranks']},{j['edge_cut']},{j['edge_cut'] / e:.4f},{j['imbalance_neurons']:.4f},"
      f"{j['imbalance_connections']:.4f},{sum(j['ghosts'])},{sum(j['send_pairs']) / n:.3f},{max(j['send_peers'])},"
      f"{j['seconds']:.2f},\"{sys.argv[2]}\"")
PY
      IFS=, read -r m_ k_ cut frac imn imc gh dpn mp sec _ < <(tail -1 $B/partition.csv)
      printf '%-7s %5s %11s %8.1f %10s %10s %11s %9s %8s\n' "$m_" "$k_" "$cut" "$(awk -v f=$frac 'BEGIN{print 100*f}')" \
        "$imn" "$imc" "$dpn" "$mp" "$sec"
    done
  done
  rm -f $B/report.json
  for K in 2 4 8 16 64; do
    awk -F, -v K=$K '$2 == K { cut[$1] = $3 } END { printf "bench: K=%d METIS edge cut %.2fx block, %.2fx random\n", K, cut["metis"] / cut["block"], cut["metis"] / cut["random"] }' $B/partition.csv
  done
  ;;
scaleout)
  echo "== scale-out: K = 1, 2, 4 for each partition method and exchange (batch 1 and 32)"
  sim_table_header
  for bt in 1 32; do
    simulate "k1-b$bt" 1 1 --set run.batch=$bt
    simulate "k1-quiet-b$bt" 1 1 --set run.batch=$bt --set stimulus.poisson_neurons=
    for m in metis block random; do
      f=$(partitioned $m)
      for K in 2 4; do
        for x in allgather targeted; do
          simulate "k$K-$m-$x-b$bt" $K 1 --set data.connectome=$f --set run.exchange=$x --set run.batch=$bt
        done
      done
    done
  done
  /usr/bin/python3 - $B/results.csv <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["benchmark"].startswith("k") and r["benchmark"].endswith("-b1")]
rss = {}
for r in rows:
    if r["method"] in ("-", "metis") and r["exchange"] == "allgather" and "quiet" not in r["benchmark"]:
        rss[int(r["ranks"])] = max(float(x) for x in r["peak_rss_mb"].split())
if 1 in rss:
    print("bench: peak memory per rank (max over ranks), batch 1: " +
          ", ".join(f"K={k} {v:.0f} MB ({v / rss[1]:.2f}x K=1)" for k, v in sorted(rss.items())))
for K in (2, 4):
    for m in ("metis", "block", "random"):
        kb = {r["exchange"]: float(r["kB_per_window"]) for r in rows
              if int(r["ranks"]) == K and r["method"] == m and "quiet" not in r["benchmark"]}
        if len(kb) == 2:
            print(f"bench: K={K} {m}: {kb['allgather']:.3f} kB per window with allgather, {kb['targeted']:.3f} with "
                  f"targeted ({kb['targeted'] / kb['allgather'] if kb['allgather'] else 0:.2f}x)")
PY
  ;;
model)
  echo "== scaling model (tools/flyfit-scaling), calibrated on this machine's 1-rank runs"
  [ -f $B/k1-b1/results.h5 ] || { echo "bench: run the scaleout section first"; exit 1; }
  [ -f $B/reports-metis.json ] || { echo "bench: run the partition section first"; exit 1; }
  cmp_runs=()
  for bt in 1 32; do for m in metis block random; do for K in 2 4; do for x in allgather targeted; do
    cmp_runs+=($B/k$K-$m-$x-b$bt/results.h5); done; done; done; done
  tools/flyfit-scaling --backend cpu --calibrate $B/k1-b1/results.h5 $B/k1-quiet-b1/results.h5 $B/k1-b32/results.h5 \
    $B/k1-quiet-b32/results.h5 --reports $B/part-metis.h5 \
    --connectome $B/full.h5 --ranks 1,2,4 --batch 1,32 --ranks-per-node 8 --cores-per-node $cores \
    --compare "${cmp_runs[@]}" | tee $B/model-vs-measured.txt
  echo "== predictions for GPUs: 8 per node (NVLink), InfiniBand NDR between nodes, full-size brain"
  tools/flyfit-scaling --backend gpu --calibrate $B/k1-b1/results.h5 --reports $B/reports-metis.json \
    --connectome $B/full.h5 --ranks 1...1024 --batch 1,128 --csv $B/model-strong-gpu.csv \
    --plot $B/model-strong-gpu.png 2>/dev/null | tee $B/model-strong-gpu.txt
  echo "== weak scaling on paper: 138,639 neurons per GPU up to 1024 GPUs (142M neurons)"
  tools/flyfit-scaling --backend gpu --calibrate $B/k1-b1/results.h5 --reports $B/reports-metis.json \
    --connectome $B/full.h5 --weak 138639 --ranks 1...1024 --batch 1,128 --csv $B/model-weak-gpu.csv \
    --plot $B/model-weak-gpu.png 2>/dev/null | tee $B/model-weak-gpu.txt
  ;;
fit)
  echo "== round 1 (mode = fit): memory of the traces, and throughput"
  F=$B/fit
  mkdir -p $F
  echo "method,neurons,connections,batch,sample_steps,peak_rss_mb,machine" > $B/fit-memory.csv
  for n in 1500 3000; do for deg in 30 90; do
    [ -f $F/b-$n-$deg.h5 ] || bin/flyfit-synth --neurons $n --degree $deg --seed 2 -o $F/b-$n-$deg.h5 \
      --activity $F/a-$n-$deg.h5 --activity-model brainscale --frames 80 --sample-ms 20 --threads 1 > /dev/null 2>&1
    for bt in 8 32; do for ms in 50 150; do for decay in 0.99 0; do
      out=$F/m-$n-$deg-$bt-$ms-$decay
      bin/flyfit /dev/null --set data.connectome=$F/b-$n-$deg.h5 --set data.activity=$F/a-$n-$deg.h5 \
        --set run.mode=fit --set run.preset=brainscale --set run.threads=1 --set run.progress_s=0 \
        --set preprocess.trim_frames=0 --set fit.split=0.5 --set fit.batch=$bt --set fit.sample_ms=$ms \
        --set fit.epochs_round1=1 --set fit.trainable=encoder,connections --set fit.etrace_decay=$decay \
        --set output.dir=$out > $out.log 2>&1 || { echo "bench: fit failed, see $out.log"; exit 1; }
      /usr/bin/python3 - "$out.log" "$n" "$deg" "$bt" "$ms" "$decay" "$machine" >> $B/fit-memory.csv <<'PY'
import re, sys
log = open(sys.argv[1]).read()
conn = int(re.search(r"(\d+) connections", log).group(1))
rss = re.search(r"peak memory per rank \(MB\): ([0-9.]+)", log)
method = "ES-D-RTRL" if float(sys.argv[6]) > 0 else "D-RTRL"
print(f"{method},{sys.argv[2]},{conn},{sys.argv[4]},{int(float(sys.argv[5]) / 0.2)},{rss.group(1) if rss else 'nan'},\"{sys.argv[7]}\"")
PY
    done; done; done
    for bt in 8 32; do for r in 5 40; do # the low-rank term (ES-D-RTRL), rank r
      out=$F/m-$n-$deg-$bt-lowrank-$r
      bin/flyfit /dev/null --set data.connectome=$F/b-$n-$deg.h5 --set data.activity=$F/a-$n-$deg.h5 \
        --set run.mode=fit --set run.preset=brainscale --set run.threads=1 --set run.progress_s=0 \
        --set preprocess.trim_frames=0 --set fit.split=0.5 --set fit.batch=$bt --set fit.sample_ms=50 \
        --set fit.epochs_round1=1 --set fit.trainable=encoder,lowrank --set fit.lowrank_rank=$r \
        --set output.dir=$out > $out.log 2>&1 || { echo "bench: fit failed, see $out.log"; exit 1; }
      conn=$(sed -n 's/.* \([0-9]*\) connections.*/\1/p' $out.log | head -1)
      rss=$(sed -n 's/.*peak memory per rank (MB): \([0-9.]*\).*/\1/p' $out.log | head -1)
      echo "lowrank-$r,$n,$conn,$bt,250,${rss:-nan},\"$machine\"" >> $B/fit-memory.csv
    done; done
  done; done
  /usr/bin/python3 - $B/fit-memory.csv <<'PY'
import csv, sys
import numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
for method in ("ES-D-RTRL", "D-RTRL"):
    r = [x for x in rows if x["method"] == method]
    nb = np.array([float(x["neurons"]) * float(x["batch"]) for x in r])
    e = np.array([float(x["connections"]) for x in r])
    eb = e * np.array([float(x["batch"]) for x in r])
    st = np.array([float(x["sample_steps"]) for x in r])
    y = np.array([float(x["peak_rss_mb"]) for x in r]) * 1e6
    A = np.column_stack([np.ones_like(y), nb, e, eb, st])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    print(f"bench: {method} peak memory = {coef[0]/1e6:.1f} MB + {coef[1]:.1f} B x neurons x batch + {coef[2]:.1f} B x "
          f"connections + {coef[3]:.2f} B x connections x batch + {coef[4]:.0f} B x sample steps "
          f"({len(r)} runs, range {y.min()/1e6:.0f}-{y.max()/1e6:.0f} MB)")
r = [x for x in rows if x["method"].startswith("lowrank-")]  # encoder + low-rank term at rank k
if r:
    nb = np.array([float(x["neurons"]) * float(x["batch"]) for x in r])
    e = np.array([float(x["connections"]) for x in r])
    nr = np.array([float(x["neurons"]) * float(x["method"].split("-")[1]) for x in r])
    y = np.array([float(x["peak_rss_mb"]) for x in r]) * 1e6
    A = np.column_stack([np.ones_like(y), nb, e, nr])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    print(f"bench: encoder + low-rank (ES-D-RTRL) peak memory = {coef[0]/1e6:.1f} MB + {coef[1]:.1f} B x neurons x batch + "
          f"{coef[2]:.1f} B x connections + {coef[3]:.1f} B x neurons x rank ({len(r)} runs, range "
          f"{y.min()/1e6:.0f}-{y.max()/1e6:.0f} MB; 24 B x neurons x rank are A, B and their Adam moments)")
PY
  # throughput on the full-size brain at batch 128 (short samples; a step costs the same in a long one)
  [ -f $F/full-act.h5 ] || bin/flyfit-synth --seed 1 -o $F/full.h5 --activity $F/full-act.h5 --activity-model brainscale --frames 200 \
    --sample-ms 2 --threads 2 > $F/full-synth.log 2>&1
  cc -O2 -fopenmp bench/stream.c -o $F/stream
  bw=$($F/stream)
  triad=$(echo "$bw" | sed -n 's/^\([0-9.]*\) GB\/s.*/\1/p')
  for tr in encoder "encoder,connections" "encoder,lowrank"; do
    out=$F/full-$(echo $tr | tr , -)
    bin/flyfit /dev/null --set data.connectome=$F/full.h5 --set data.activity=$F/full-act.h5 --set run.mode=fit \
      --set run.preset=brainscale --set run.threads=0 --set run.progress_s=0 --set preprocess.trim_frames=0 \
      --set fit.batch=128 --set fit.sample_ms=4 --set fit.epochs_round1=1 --set fit.trainable=$tr --set fit.validation=0 \
      --set output.dir=$out > $out.log 2>&1 || { echo "bench: fit failed, see $out.log"; exit 1; }
    line=$(grep "rank 0 stepper" $out.log | sed 's/.*stepper: //')
    ms=$(echo "$line" | sed -n 's/^\([0-9.e+-]*\) ms per step.*/\1/p')
    rss=$(sed -n 's/.*peak memory per rank (MB): \([0-9.]*\).*/\1/p' $out.log | head -1)
    echo "bench: full-size brain, batch 128, trainable $tr: $line; peak memory $rss MB"
    echo "bench:   $(grep 'round 1 arrays on rank 0' $out.log | sed 's/.*round 1 arrays/round 1 arrays/')"
    # the same run's STREAM triad, just after it (the machine may be shared: the nearer, the fairer)
    again=$($F/stream | sed -n 's/^\([0-9.]*\) GB\/s.*/\1/p')
    up=$(echo "$line" | sed -n 's/.*moved, \([0-9.e+-]*\) GB\/s;.*/\1/p')
    whole=$(echo "$line" | sed -n 's/^[0-9.e+-]* ms per step for [0-9]* neurons x [0-9]* samples, \([0-9.e+-]*\) GB\/s.*/\1/p')
    awk -v u="$up" -v w="$whole" -v a="$triad" -v b="$again" 'BEGIN { s = a > b ? a : b;
      printf "bench:   the update moves %.3g GB/s = %.0f%% of the STREAM triad (%.3g GB/s, best of the runs before and after); the whole step with delivery %.3g GB/s = %.0f%%\n", u, 100 * u / s, s, w, 100 * w / s }' 
    awk -v ms="$ms" 'BEGIN { printf "bench:   %.3g samples/s at 4166 steps per sample (one 1.2 Hz frame) on this machine\n", 128 / (ms * 1e-3 * 4166) }'
    eval "ms_$(echo $tr | tr -c 'a-z\n' _)=$ms"
  done
  awk -v a="$ms_encoder" -v b="$ms_encoder_lowrank" 'BEGIN { if (a > 0 && b > 0) printf "bench: the low-rank term (rank 20) takes %.0f%% of a round-1 step at batch 128 on the full-size brain\n", 100 * (b - a) / b }'
  echo "bench: this machine: $bw"
  ;;
gpu)
  echo "== GPU backend: full-size brain, 1 s, 21 neurons at 200 Hz (make bench-gpu)"
  if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    echo "bench-gpu: SKIPPED: no GPU on this machine (nvidia-smi -L fails)"
    continue
  fi
  ldd bin/flyfit | grep -q libcudart \
    || { echo "bench-gpu: SKIPPED: this build has no CUDA (nvcc missing at build time)"; continue; }
  ngpu=$(nvidia-smi -L | grep -c '^GPU')
  sim_table_header
  simulate gpu-cpu-b1 1 "$cores" --set run.batch=1
  simulate gpu-cuda-b1 1 1 --set run.backend=cuda --set run.batch=1
  simulate gpu-cuda-nccl-b1 1 1 --set run.backend=cuda --set run.transport=nccl --set run.batch=1
  simulate gpu-cpu-b32 1 "$cores" --set run.batch=32
  simulate gpu-cuda-b32 1 1 --set run.backend=cuda --set run.batch=32
  simulate gpu-cuda-b128 1 1 --set run.backend=cuda --set run.batch=128
  if [ "$ngpu" -ge 2 ]; then
    f=$(partitioned metis)
    simulate gpu-cuda-nccl-np2-b1 2 1 --set data.connectome=$f --set run.backend=cuda --set run.transport=nccl
    simulate gpu-cuda-mpi-np2-b1 2 1 --set data.connectome=$f --set run.backend=cuda --set run.transport=mpi
  fi
  for b in 1 32; do
    if cmp -s <(h5dump -d /neurons/spike_count $B/gpu-cpu-b$b/results.h5 | sed 1d) \
              <(h5dump -d /neurons/spike_count $B/gpu-cuda-b$b/results.h5 | sed 1d); then
      echo "bench-gpu: batch $b: GPU spike counts identical to the CPU backend's"
    else
      echo "bench-gpu: batch $b: GPU spike counts DIFFER from the CPU backend's"
    fi
  done
  for name in gpu-cuda-b1 gpu-cuda-b32 gpu-cuda-b128; do
    echo "bench-gpu: $name: $(grep -E 'backend cuda: rank 0|device kernels' $B/$name.log | sed 's/^\[[^]]*\] //' | tr '\n' ' ')"
  done
  cpu=$(awk -F, '$1 == "gpu-cpu-b32" { print $7 }' $B/results.csv | tail -1)
  gpu=$(awk -F, '$1 == "gpu-cuda-b32" { print $7 }' $B/results.csv | tail -1)
  echo "bench-gpu: batch 32: the GPU is $(awk -v a="$cpu" -v b="$gpu" 'BEGIN { printf "%.1f", a / b }')x the CPU backend on $cores cores"
  # round 1 on the full-size brain at batch 128 (encoder, ES-D-RTRL): a step on the CPU cores and on the
  # GPU, and the arrays round 1 holds (the allocation table: on the GPU, its device memory)
  F=$B/fit
  mkdir -p $F
  [ -f $F/full-act.h5 ] || bin/flyfit-synth --seed 1 -o $F/full.h5 --activity $F/full-act.h5 --activity-model brainscale \
    --frames 200 --sample-ms 2 --threads "$cores" > $F/full-synth.log 2>&1
  for be in cpu cuda; do
    out=$F/gpu-round1-$be
    bin/flyfit /dev/null --set data.connectome=$F/full.h5 --set data.activity=$F/full-act.h5 --set run.mode=fit \
      --set run.preset=brainscale --set run.backend=$be --set run.threads=0 --set run.progress_s=0 \
      --set preprocess.trim_frames=0 --set fit.batch=128 --set fit.sample_ms=4 --set fit.epochs_round1=1 \
      --set fit.trainable=encoder --set fit.validation=0 --set output.dir=$out > $out.log 2>&1 \
      || { echo "bench-gpu: round 1 on $be failed, see $out.log"; exit 1; }
    echo "bench-gpu: round 1, full-size brain, batch 128, $be: $(grep 'rank 0 stepper' $out.log | sed 's/.*stepper: //')"
    echo "bench-gpu:   $(grep 'round 1 arrays on rank 0' $out.log | sed 's/.*round 1 arrays/round 1 arrays/')"
  done
  ;;
task)
  echo "== mode = task: peak memory against the delay (200 neurons, batch 8, 2 batches, 1 rank, 1 thread: each thread holds its own trial)"
  T=$B/task
  mkdir -p $T
  echo "method,delay_ms,steps,batch,ms_per_batch,peak_rss_mb,machine" > $B/task-memory.csv
  printf '%-11s %9s %6s %13s %12s\n' method delay_ms steps ms/batch "peak RSS MB"
  for method in bptt diag expsm_diag; do for delay in 1000 2000 4000; do
    out=$T/$method-$delay
    printf '[run]\nmode = task\nprogress_s = 0\n[task]\nmethod = %s\n[output]\ndir = %s\n' $method $out > $out.ini
    bin/flyfit $out.ini --set task.delay_ms=$delay --set task.batch=8 --set task.max_batches=2 --set task.val_every=1000 --set run.threads=1 \
      --set task.val_trials=8 --set task.test_trials=8 > $out.out 2> $out.log || { echo "bench: task failed, see $out.log"; exit 1; }
    /usr/bin/python3 - "$out" $method $delay "$machine" >> $B/task-memory.csv <<'PY'
import json, re, sys
out, method, delay, machine = sys.argv[1:5]
done = open(out + ".out").read().strip().splitlines()[-1]
steps = re.search(r"steps=(\d+)", done).group(1)
ms = re.search(r"ms_per_batch=([0-9.]+)", done).group(1)
rss = max(json.load(open(out + "/run.json"))["peak_memory_mb"])
print(f"{method},{delay},{steps},8,{ms},{rss:.1f},\"{machine}\"")
PY
    IFS=, read -r m d st bt ms mb _ < <(tail -1 $B/task-memory.csv)
    printf '%-11s %9s %6s %13s %12s\n' "$m" "$d" "$st" "$ms" "$mb"
  done; done
  echo "== mode = task: where the online methods' gradient goes (defaults, seed 1, the seed's network, 16 training trials):"
  echo "   cosine with BPTT and norm ratio per block of parameters (tests/helpers/task_grads.c)"
  make -s build/tests/task_grads || exit 1
  echo "etrace_decay,method,block,cosine,norm_ratio,bptt_norm,machine" > $B/task-gradients.csv
  for decay in 0.98 0.999; do
    build/tests/task_grads 16 run.seed=1 task.etrace_decay=$decay > $T/grads-$decay.txt || { echo "bench: task_grads failed"; exit 1; }
    while read -r m blk cos ratio bn; do
      [ "$decay" = 0.999 ] && [ "$m" = diag ] && continue # D-RTRL does not depend on the decay
      echo "$decay,$m,$blk,${cos#cosine=},${ratio#norm_ratio=},${bn#bptt_norm=},\"$machine\"" >> $B/task-gradients.csv
      printf '  decay %-6s %-11s %-20s %s %s\n' "$decay" "$m" "$blk" "$cos" "$ratio"
    done < $T/grads-$decay.txt
  done
  ;;
neuron)
  echo "== mode = neuron: simulated time to reach the same voltage loss, multi-start L-BFGS against DE (HH, 1 rank)"
  N=$B/neuron
  mkdir -p $N
  bin/flyfit-synth --neuron hh --seed 3 --sweeps 3 --sweep-ms 60 --current 0.2:0.8 -o $N/hh.h5 > /dev/null 2>&1
  printf '[run]\nmode = neuron\nseed = 5\nprogress_s = 0\n[data]\nrecording = %s\n[neuron]\nmodel = hh\nbounds = %s\n' \
    $N/hh.h5 "gL=0.003:0.025, gNa=8:60, gK=1.5:15, VT=-72:-42" > $N/fit.ini
  for run in "lbfgs 3 600" "de 24 9600" "ga 24 9600"; do
    set -- $run
    /usr/bin/time -f %e -o $N/$1.wall bin/flyfit $N/fit.ini --set neuron.optimizer=$1 --set neuron.starts=$2 \
      --set neuron.max_evals=$3 --set output.dir=$N/$1 > $N/$1.out 2> $N/$1.log || { echo "bench: neuron $1 failed, see $N/$1.log"; exit 1; }
  done
  /usr/bin/python3 - $N "$machine" <<'PY' | tee $B/neuron-cost.csv
import h5py, numpy as np, sys
N, machine = sys.argv[1:3]
def curve(opt):  # (evaluations so far, best loss so far) of a run, its sweep milliseconds, its wall seconds
    f = h5py.File(f"{N}/{opt}/results.h5", "r")
    h = f["/neuron/loss_history"][()]
    ms = f["/neuron/current"].shape[0] * f["/neuron/current"].shape[1] * f["/neuron/current"].attrs["dt_ms"]
    if opt == "lbfgs":  # the starts one after another, as one rank runs them
        l = np.concatenate([r[np.isfinite(r)] for r in h])
        e = np.arange(1, len(l) + 1)
    else:  # the population's best after each generation
        l, e = np.nanmin(h, axis=0), np.arange(1, h.shape[1] + 1) * h.shape[0]
    return e, np.minimum.accumulate(l), ms, float(open(f"{N}/{opt}.wall").read())
runs = {o: curve(o) for o in ("lbfgs", "de", "ga")}
# wall seconds to the target: the run's wall time x the share of its evaluations (an L-BFGS evaluation also
# integrates the sensitivities, so it costs more than a DE one)
print("optimizer,final_loss_mV2,evaluations,wall_s,target,target_loss_mV2,evaluations_to_target,"
      "simulated_s_to_target,wall_s_to_target,machine")
best = min(runs["lbfgs"][1][-1], runs["de"][1][-1])
for name, target in (("both_final", max(runs["lbfgs"][1][-1], runs["de"][1][-1])), ("best_plus_5pct", 1.05 * best),
                     ("twice_best", 2 * best)):
    for o, (e, b, ms, wall) in runs.items():
        hit = np.nonzero(b <= target)[0]
        n = int(e[hit[0]]) if len(hit) else None
        print(f"{o},{b[-1]:.6g},{int(e[-1])},{wall:.2f},{name},{target:.6g},{'not reached' if n is None else n},"
              f"{'' if n is None else f'{n * ms / 1000:.3f}'},{'' if n is None else f'{wall * n / e[-1]:.2f}'},"
              f"\"{machine}\"")
PY
  ;;
*) echo "bench: unknown section '$section' (sim, import, partition, scaleout, model, fit, task, neuron, gpu)"; exit 1 ;;
esac; done
echo "bench: results in $B/*.csv"
