#!/usr/bin/env bash
# Round 1's device kernels without a GPU: backend = emulate runs the kernels of
# include/flyfit/fit_dev.h serially in scrambled orders, collects spikes in per-cell slots, and with
# transport = nccl places the gathered words as a device does. The checkpoint's weights, Adam state and
# every attribute (Adam's t, epochs, checksum, configuration fingerprint), the history's losses and
# gradient norms (every column but the wall-clock ones), the losses and rates of results.h5 and the
# summary line must equal the CPU backend's bit for bit:
# - ES-D-RTRL with encoder, connections and the low-rank term, 1, 2 and 3 ranks, both transports;
# - D-RTRL (per-connection traces) on 2 ranks;
# - mode = all (the prediction's network runs the same kernels) on 2 ranks: forecasts and the raster too;
# - sparse x dense delivery ([fit] delivery = spmm, and auto at both extremes), on the CPU (int64) and
#   emulated (double, as cuSPARSE would sum), equals per-spike delivery; the log says which ran.
source "$(dirname "$0")/../lib.sh"
fit_fixture --neurons 300 --sample-ms 40 7 50 preprocess.trim_frames=5 fit.batch=4 fit.epochs_round1=2 \
  "fit.trainable=encoder, connections, lowrank" fit.lowrank_rank=3 output.figures=false || exit 1
for K in 2 3; do
  cp "$TMP/brain.h5" "$TMP/brain-k$K.h5"
  "$BIN/flyfit-partition" "$TMP/brain-k$K.h5" --ranks $K > /dev/null 2>&1 || fail "flyfit-partition --ranks $K"
done
for K in 1 2 3; do
  fit_run "cpu$K" "$K" cpu mpi || continue
  for tr in mpi nccl; do
    fit_run "emu$K-$tr" "$K" emulate "$tr" || continue
    check "ES-D-RTRL, $K rank(s): emulated kernels ($tr transport) equal the CPU, bit for bit" fit_round1_same "cpu$K" "emu$K-$tr"
  done
done
fit_round1_dump "$TMP/cpu2" > "$TMP/cpu2.dump"
check "the comparison sees the weights, Adam state, history and losses" \
  bash -c "grep -q '^/params/encoder_w ' '$TMP/cpu2.dump' && grep -q '^@checksum ' '$TMP/cpu2.dump' && grep -q '^/params/lowrank_b ' '$TMP/cpu2.dump' &&
           grep -q '^/adam/connection_v ' '$TMP/cpu2.dump' && grep -q '^/history ' '$TMP/cpu2.dump' &&
           grep -q '^val_loss ' '$TMP/cpu2.dump' && grep -q '^grad_norm ' '$TMP/cpu2.dump'"
# delivery as sparse x dense (cuSPARSE's form; the emulation sums in double as it would) = per spike
if fit_run sp-cpu1 1 cpu mpi --set fit.delivery=spmm && fit_run sp-emu2 2 emulate nccl --set fit.delivery=spmm; then
  check "sparse x dense delivery, CPU, 1 rank: the bits of per-spike delivery" fit_round1_same cpu1 sp-cpu1
  check "sparse x dense delivery, emulated in double, 2 ranks, nccl: the bits of per-spike delivery" fit_round1_same cpu2 sp-emu2
fi
if fit_run auto0 2 cpu mpi --set fit.spmm_density=0 && fit_run auto1 2 emulate mpi --set fit.spmm_density=1; then
  check "delivery = auto names its rule and, at density 0, delivers every step with arrivals as sparse x dense" \
    bash -c "grep -q 'sparse x dense for a step whose arrivals fill at least 0 ' '$TMP/auto0.log' &&
             grep -qE 'sparse x dense on [1-9][0-9]* of [0-9]+ steps' '$TMP/auto0.log'"
  check "... at density 1, none" grep -qE 'sparse x dense on 0 of [0-9]+ steps' "$TMP/auto1.log"
  check "... and either way the bits of per-spike delivery" bash -c "$(declare -f fit_round1_same fit_round1_dump); TMP='$TMP'; fit_round1_same cpu2 auto0 && fit_round1_same cpu2 auto1"
fi
drtrl=(--set fit.etrace_decay=0 --set "fit.trainable=encoder, connections")
if fit_run d-cpu 2 cpu mpi "${drtrl[@]}" && fit_run d-emu 2 emulate nccl "${drtrl[@]}"; then
  check "D-RTRL, 2 ranks: emulated kernels (nccl transport) equal the CPU, bit for bit" fit_round1_same d-cpu d-emu
fi
if fit_run a-cpu 2 cpu mpi "${FIT_ALL[@]}" && fit_run a-emu 2 emulate mpi "${FIT_ALL[@]}"; then
  check "mode = all, 2 ranks: emulated round 1 and prediction give the CPU's summary lines, forecasts and raster" \
    fit_all_same a-cpu a-emu
fi
check "the log names the emulated kernels" grep -q "round 1 on emulated device kernels" "$TMP/emu2-nccl.log"
if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; then
  skip "backend = cuda with mode = fit and no GPU is refused" "this machine has a GPU (fit_gpu.sh runs it)"
else
  expect_error "backend = cuda with mode = fit and no GPU is refused, naming the way out" \
    'backend = cuda, but (host .* has no usable CUDA GPU|this flyfit was built without CUDA).*backend = cpu' \
    "$BIN/flyfit" "$TMP/fit.ini" --set run.backend=cuda
fi
