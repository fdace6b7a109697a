#!/usr/bin/env bash
# make fuzz: runs each libFuzzer harness (build/fuzz/fuzz_TARGET) for SECONDS, starting from its
# seeds (tests/fuzz/corpus/TARGET) and the inputs that once crashed (tests/fuzz/regress/TARGET),
# growing a working corpus in build/fuzz/corpus/TARGET. It runs in libFuzzer's fork mode, so a
# crash (or a leak, out-of-memory or timeout) is saved and the run goes on; the inputs land in
# build/fuzz/crashes/TARGET/ and are listed at the end. Logs: build/fuzz/TARGET.log.
# Usage: tests/fuzz/run.sh SECONDS TARGET...
set -u
cd "$(dirname "$0")/../.."
secs=${1:?usage: tests/fuzz/run.sh SECONDS TARGET...}; shift
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 \
  OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI's and HDF5's start-up allocations live until exit: not leaks of flyfit's
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# the longest input worth mutating: a few times the largest seed
max_len() {
  case $1 in
    config) echo 4096 ;;
    csv|npz) echo 8192 ;;
    *) echo 16384 ;;
  esac
}

found=()
declare -A new_of
for t in "$@"; do
  bin=build/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz builds it)"; exit 1; }
  work=build/fuzz/corpus/$t crashes=build/fuzz/crashes/$t log=build/fuzz/$t.log
  mkdir -p "$work" "$crashes" tests/fuzz/regress/$t
  tmp=$(mktemp -d /dev/shm/flyfit-fuzz.XXXXXX 2>/dev/null || mktemp -d)
  before=$(ls "$crashes" | wc -l)
  echo "fuzz: $t for ${secs}s (max_len $(max_len "$t"); log $log)"
  # an input takes milliseconds; libhdf5 1.10 loops forever on some damaged heaps, so give up soon
  TMPDIR=$tmp "$bin" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=5 -rss_limit_mb=2560 \
    -artifact_prefix="$crashes/" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    "$work" "tests/fuzz/corpus/$t" "tests/fuzz/regress/$t" > "$log" 2>&1
  rm -rf "$tmp"
  # fork mode's status lines: "#N: cov: C ft: F corp: K exec/s: E oom/timeout/crash: a/b/c time: Ts ..."
  last=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -1)
  runs=$(sed -nE 's/^#([0-9]+): .*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$last")
  eps=$(sed -nE 's/.* exec\/s:? ([0-9]+) .*/\1/p' <<<"$last")
  after=$(ls "$crashes" | wc -l)
  printf 'fuzz: %-11s %9s runs  %6s exec/s  cov %5s  corpus %5s  new crashes %d\n' "$t" "${runs:-?}" "${eps:-?}" \
    "${cov:-?}" "$(ls "$work" | wc -l)" $((after - before))
  new_of[$t]=$((after - before))
  [ "$after" -gt "$before" ] && found+=("$t")
done
if [ ${#found[@]} -gt 0 ]; then
  echo "fuzz: new crashing inputs in build/fuzz/crashes/{$(IFS=,; echo "${found[*]}")}/:"
  for t in "${found[@]}"; do
    ls -t "build/fuzz/crashes/$t" | head -n "${new_of[$t]}" | sed "s|^|  build/fuzz/crashes/$t/|"
  done
  echo "fuzz: replay one with build/fuzz/fuzz_TARGET FILE; once fixed, keep it in tests/fuzz/regress/TARGET/"
  exit 1
fi
echo "fuzz: no new crashes"
