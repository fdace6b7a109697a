#!/usr/bin/env bash
# Round-2 GRU, data parallel: a few training iterations (forward, bin-interval loss, BPTT, gradient
# reduction, clipping, Adam) of one batch split over 1, 2, 3 and 4 ranks must give bit-identical
# losses, gradient norms, gradients and parameters (build/tests/gru_ranks prints them in hex). Chunks
# of 1, 2 and 3 sequences, a last chunk shorter than the others, ranks left without a sequence, the
# model's real size (P 78, H 256), and OpenBLAS allowed 2 threads.
source "$(dirname "$0")/../lib.sh"
DRV=$ROOT/build/tests/gru_ranks
[ -x "$DRV" ] || { fail "build/tests/gru_ranks is missing (make check builds it)"; exit 1; }
run() { # name np args... -> $TMP/name.out (without the naive lines)
  local name=$1 np=$2; shift 2
  mpi "$np" "$DRV" "$@" > "$TMP/$name.raw" 2> "$TMP/$name.err" || { fail "$name: gru_ranks exited with $?"; tail -3 "$TMP/$name.err"; return 1; }
  grep -v '^naive' "$TMP/$name.raw" > "$TMP/$name.out"
}
same() { cmp -s "$TMP/$1.out" "$TMP/$2.out"; }
naive_differs=0
for chunk in 1 2 3; do
  args="7 12 9 16 $chunk 3"   # B L P H chunk iterations: 7 sequences make a short last chunk
  run "c$chunk-np1" 1 $args || continue
  for np in 2 3 4; do
    run "c$chunk-np$np" "$np" $args || continue
    check "chunk $chunk: losses, gradients and parameters on $np ranks equal 1 rank's, bit for bit" same "c$chunk-np1" "c$chunk-np$np"
    cmp -s <(grep '^naive' "$TMP/c$chunk-np1.raw") <(grep '^naive' "$TMP/c$chunk-np$np.raw") || naive_differs=1
  done
done
check "the driver printed 3 iterations and the parameters" test "$(grep -c '^iter\|^params' "$TMP/c2-np1.out")" -eq 4
if OPENBLAS_NUM_THREADS=2 run threads2 2 7 12 9 16 2 3; then
  check "2 ranks with OPENBLAS_NUM_THREADS=2 give the bits of 1 rank" same c2-np1 threads2
fi
# the real size; 10 sequences in chunks of 4 leave the fourth rank without any
if run big-np1 1 10 5 78 256 4 2; then
  for np in 3 4; do
    run "big-np$np" "$np" 10 5 78 256 4 2 && check "P 78, H 256, chunk 4: $np ranks equal 1 rank, bit for bit" same big-np1 "big-np$np"
  done
fi
echo "# a plain double MPI_SUM of the per-rank losses differs between rank counts: $([ $naive_differs = 1 ] && echo yes || echo no)"
