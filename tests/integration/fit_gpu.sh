#!/usr/bin/env bash
# Round 1 on a real GPU (backend = cuda: the kernels of include/flyfit/fit_dev.h launched by
# src/fit/cuda/fit_cuda.cu over managed memory) against the CPU backend, bit for bit, as
# fit_emulate.sh compares the emulation: the checkpoint's weights, Adam state and attributes, the
# history's losses and gradient norms, results.h5's losses and rates, the summary line:
# - ES-D-RTRL with encoder, connections and the low-rank term on 1 rank, and on 2 ranks (sharing GPU 0
#   where the machine has one);
# - D-RTRL (per-connection traces) on 1 rank; sparse x dense delivery on 1 rank;
# - mode = all on 1 rank: the prediction's network on the GPU too, forecasts and raster.
# Skipped, saying so, where there is no GPU or no CUDA build (tests/unit/test_fit.c checks the host
# side of backend = cuda everywhere, through a host twin of the GPU).
source "$(dirname "$0")/../lib.sh"
gpu_or_skip "round 1 on the GPU = CPU backend, bit for bit"
ngpu=$(nvidia-smi -L | grep -c '^GPU')
fit_fixture --neurons 300 --sample-ms 40 7 50 preprocess.trim_frames=5 fit.batch=4 fit.epochs_round1=2 \
  "fit.trainable=encoder, connections, lowrank" fit.lowrank_rank=3 output.figures=false || exit 1
cp "$TMP/brain.h5" "$TMP/brain-k2.h5"
"$BIN/flyfit-partition" "$TMP/brain-k2.h5" --ranks 2 > /dev/null 2>&1 || fail "flyfit-partition --ranks 2"
two=(); [ "$ngpu" -ge 2 ] || two=(--set run.devices=0,0)
if fit_run cpu1 1 cpu mpi && fit_run gpu1 1 cuda mpi; then
  check "ES-D-RTRL, 1 rank: the GPU equals the CPU, bit for bit" fit_round1_same cpu1 gpu1
  check "the log names the GPU" grep -qE 'round 1 on GPU [0-9]+ ' "$TMP/gpu1.log"
  check "the log gives round 1's device memory" grep -q 'round 1 arrays on rank 0' "$TMP/gpu1.log"
fi
if fit_run cpu2 2 cpu mpi && fit_run gpu2 2 cuda mpi "${two[@]}"; then
  check "ES-D-RTRL, 2 ranks: the GPU equals the CPU, bit for bit" fit_round1_same cpu2 gpu2
fi
drtrl=(--set fit.etrace_decay=0 --set "fit.trainable=encoder, connections")
if fit_run d-cpu 1 cpu mpi "${drtrl[@]}" && fit_run d-gpu 1 cuda mpi "${drtrl[@]}"; then
  check "D-RTRL, 1 rank: the GPU equals the CPU, bit for bit" fit_round1_same d-cpu d-gpu
fi
if fit_run sp-gpu 1 cuda mpi --set fit.delivery=spmm; then
  check "sparse x dense delivery on the GPU: the bits of per-spike delivery on the CPU" fit_round1_same cpu1 sp-gpu
fi
if fit_run a-cpu 1 cpu mpi "${FIT_ALL[@]}" && fit_run a-gpu 1 cuda mpi "${FIT_ALL[@]}"; then
  check "mode = all, 1 rank: round 1 and the prediction on the GPU give the CPU's summary lines, forecasts and raster" \
    fit_all_same a-cpu a-gpu
fi
