#!/usr/bin/env bash
# The GPU backend's algorithm without a GPU: backend = emulate runs the CUDA kernels' bodies
# (include/flyfit/sim_dev.h) serially on the CPU in scrambled orders, with the host side the CUDA
# build uses (src/sim/sim_dev.c). Its results must equal the CPU backend's bit for bit, for both
# presets, batch 1 and 3, 1-3 ranks, MPI and NCCL-style transport, with Poisson, file and silenced
# inputs and recorded state. Then the device backends' refusals: no GPU, too little device memory,
# NCCL with the CPU backend, a GPU backend for a mode it does not run, too few listed devices.
source "$(dirname "$0")/../lib.sh"
/usr/bin/python3 "$ROOT/tests/tools/mknet.py" "$TMP/net.h5" random 300 7 30 50
for K in 2 3; do
  cp "$TMP/net.h5" "$TMP/net-k$K.h5"
  "$BIN/flyfit-partition" "$TMP/net-k$K.h5" --ranks $K --seed 5 >/dev/null 2>&1 || fail "flyfit-partition --ranks $K"
done
printf '%s\n' "5 3.0" "5 3.1" "5 9.9" "40 12.0" "41 12.0" "120 50.2" "7 150.0" "7 151.0" > "$TMP/in.txt"
cat > "$TMP/run.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
duration_ms = 250
batch = 3
[stimulus]
poisson_neurons = 0-14
poisson_rate_hz = 250
spikes_file = $TMP/in.txt
silence = 20-24
[output]
spikes_txt = true
state_neurons = 2, 41, 299
INI
backend_vs_cpu "emulated GPU backend" emulate 200 "1 mpi" "1 nccl" "2 mpi" "2 nccl" "3 mpi" "3 nccl"
log=$TMP/shiu-b3-emulate-np3-nccl.log
check "the log names every rank's device and its arrays" test "$(grep -c 'backend emulate: rank [0-9] on' "$log")" -eq 3
check "the log says the spikes go between the devices" grep -q 'spike exchange: allgather between the devices, NCCL' "$log"
check "the log reports peak device memory of every rank" grep -qE 'peak device memory per rank \(MB\): [0-9.]+, [0-9.]+, [0-9.]+' "$log"
check "results.h5 records the backend" sh -c "h5dump -a /config/run.backend '$TMP/shiu-b3-emulate-np3-nccl/results.h5' 2>/dev/null | grep -q emulate || h5dump -A '$TMP/shiu-b3-emulate-np3-nccl/results.h5' | grep -q '\"emulate\"'"

# ---- refusals -----------------------------------------------------------------------------------
ini=$TMP/run.ini
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  skip "backend = cuda without a GPU is refused" "this machine has a GPU"
else
  expect_error "backend = cuda without a GPU is refused, naming the fix" \
    'backend = cuda, but (host .* has no usable CUDA GPU|this flyfit was built without CUDA).*backend = cpu' \
    "$BIN/flyfit" "$ini" --set output.dir="$TMP/nogpu" --set run.backend=cuda
  "$BIN/flyfit" "$ini" --set output.dir="$TMP/nogpu" --set run.backend=cuda >/dev/null 2>&1
  check "... with exit status 2 (bad input)" test $? -eq 2
fi
expect_error "a network larger than the device's free memory is refused with both numbers" \
  'needs [0-9.]+ MB of GPU memory \(largest: .*\), but [0-9.]+ MB of [0-9.]+ MB are free' \
  env FLYFIT_EMULATE_MEMORY_MB=0.2 "$BIN/flyfit" "$ini" --set output.dir="$TMP/small" --set run.backend=emulate
check "... before anything was written" test ! -e "$TMP/small/results.h5"
# one rank of two refuses (only its device is too small): the run stops at once, exit status 4,
# with one message that names that rank, and neither a hang nor Open MPI's abort noise
args=("$ini" --set output.dir="$TMP/one" --set data.connectome="$TMP/net-k2.h5" --set run.backend=emulate)
timeout 60 mpirun --bind-to none -np 1 "$BIN/flyfit" "${args[@]}" : \
  -np 1 env FLYFIT_EMULATE_MEMORY_MB=0.1 "$BIN/flyfit" "${args[@]}" >"$TMP/one.out" 2>"$TMP/one.err"
rc=$?
check "one rank refusing its device memory stops the run with exit status 4 (got $rc)" test $rc -eq 4
check "... with one message, naming rank 1" \
  test "$(grep -c 'GPU memory' "$TMP/one.err")" -eq 1 -a "$(grep -c 'rank 1' "$TMP/one.err")" -ge 1
check "... and without Open MPI's abort noise" sh -c "! grep -qiE 'SIGTERM|mpirun noticed|MPI_ABORT' '$TMP/one.err'"
check "... and nothing written" test ! -e "$TMP/one/results.h5"
expect_error "transport = nccl with backend = cpu is refused" 'run\] transport = nccl.*backend' \
  "$BIN/flyfit" "$ini" --set output.dir="$TMP/x1" --set run.transport=nccl
expect_error "a devices list shorter than the ranks on a node names both numbers" 'runs 2 ranks, but \[run\] devices lists 1 GPU' \
  mpi 2 "$BIN/flyfit" "$ini" --set output.dir="$TMP/x3" --set data.connectome="$TMP/net-k2.h5" \
  --set run.backend=emulate --set run.devices=0
expect_error "a malformed devices list is refused" 'run\] devices' \
  "$BIN/flyfit" "$ini" --set output.dir="$TMP/x4" --set run.backend=emulate --set run.devices=0,x
