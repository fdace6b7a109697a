#!/usr/bin/env bash
# backend = cuda on a real GPU against the CPU backend, bit for bit: both presets, batch 1 and 3,
# MPI and NCCL transport, 1 and 2 ranks (2 ranks share GPU 0 with MPI transport when the machine
# has one GPU; NCCL needs a GPU per rank). Skipped, saying so, where there is no GPU or no CUDA build.
source "$(dirname "$0")/../lib.sh"
gpu_or_skip "CUDA backend = CPU backend, bit for bit"
ngpu=$(nvidia-smi -L | grep -c '^GPU')
/usr/bin/python3 "$ROOT/tests/tools/mknet.py" "$TMP/net.h5" random 2000 9 100 60
cp "$TMP/net.h5" "$TMP/net-k2.h5"
"$BIN/flyfit-partition" "$TMP/net-k2.h5" --ranks 2 >/dev/null 2>&1 || fail "flyfit-partition --ranks 2"
printf '%s\n' "5 3.0" "5 3.1" "40 12.0" "1200 50.2" "7 150.0" > "$TMP/in.txt"
cat > "$TMP/run.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
duration_ms = 300
[stimulus]
poisson_neurons = 0-40
poisson_rate_hz = 250
spikes_file = $TMP/in.txt
silence = 50-59
[output]
spikes_txt = true
state_neurons = 2, 41, 1999
INI
cases=("1 mpi" "1 nccl")
if [ "$ngpu" -ge 2 ]; then cases+=("2 mpi" "2 nccl"); else cases+=("2 mpi --set run.devices=0,0"); fi
backend_vs_cpu "CUDA backend" cuda 0 "${cases[@]}"
check "the log names the GPU" grep -qE 'backend cuda: rank 0 on .*GPU [0-9]' "$TMP/shiu-b1-cuda-np1-mpi.log"
