#!/usr/bin/env bash
# Runs every test of `make check` and ends with the line "N passed, N failed".
# Unit tests are cmocka binaries in build/tests (their TAP output is counted test by test);
# integration tests are the scripts in tests/integration, which print TAP lines through tests/lib.sh.
# A script that dies without reporting counts as one failure.
# Usage: tests/run.sh [PATTERN...]: only the tests whose name contains one of the patterns ("fit.sh"
# names the script fit.sh alone).
# FLYFIT_BUILD (default build) is where the unit tests and drivers are, FLYFIT_BIN (default bin) the
# programs; FLYFIT_SAN=1 (make check SAN=1) runs them under ASan/UBSan: each report goes to a file of
# FLYFIT_BUILD/test-logs/san/, and a test that leaves one fails, whatever its own verdict.
set -u
cd "$(dirname "$0")/.."
patterns=("$@")
pass=0; fail=0; skip=0
failed=(); skipped=()
build=${FLYFIT_BUILD:-build}
log_dir=$build/test-logs
mkdir -p "$log_dir"
san_dir=
if [ "${FLYFIT_SAN:-0}" = 1 ]; then
  san_dir=$PWD/$log_dir/san
  rm -rf "$san_dir" "$log_dir/san-reports"; mkdir -p "$san_dir"
  # Reports go to files (log_path), so that a report from a run whose stderr a test discards, or
  # from a run that was meant to fail, is still seen. Open MPI's and HDF5's start-up allocations live
  # until exit: not flyfit's leaks (tests/fuzz/lsan.supp). Matching them needs the whole stack of
  # each allocation (fast_unwind_on_malloc=0: the fast unwinder stops at the first library frame
  # without a frame pointer) and Open MPI's plugins kept loaded until exit, so their frames still
  # have names when the leak check runs.
  export ASAN_OPTIONS=log_path=$san_dir/asan:detect_leaks=1:fast_unwind_on_malloc=0
  export UBSAN_OPTIONS=log_path=$san_dir/ubsan:print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
  export OMPI_MCA_mca_base_component_disable_dlclose=1
fi

# selected NAME: whether a test is asked for (a pattern is part of NAME, or none was given)
selected() {
  [ ${#patterns[@]} -eq 0 ] && return 0
  local p
  for p in "${patterns[@]}"; do [[ $1 == *$p* ]] && return 0; done
  return 1
}

# san_reports NAME: a failure for each sanitizer report the test left (then clears them)
san_reports() {
  [ -n "$san_dir" ] || return 0
  local r
  for r in "$san_dir"/*; do
    [ -f "$r" ] || continue
    failed+=("$1: sanitizer report $(basename "$r"): $(grep -m1 -E 'ERROR|runtime error|SUMMARY' "$r")")
    fail=$((fail + 1))
    mkdir -p "$log_dir/san-reports"; mv "$r" "$log_dir/san-reports/$1.$(basename "$r")"
  done
}

count() { # name, output file, exit status
  local name=$1 out=$2 rc=$3 p f s
  # a skipped test is "ok ... # SKIP reason" (or "not ok ... # SKIP", as cmocka writes it)
  p=$(grep -E '^ok ' "$out" | grep -cvE '# (SKIP|skip)' | tr -d ' ')
  s=$(grep -cE '^(not )?ok .*# (SKIP|skip)' "$out" | tr -d ' ')
  f=$(grep -E '^not ok ' "$out" | grep -cvE '# (SKIP|skip)' | tr -d ' ')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    failed+=("$name (exit status $rc; see $out)")
  fi
  while IFS= read -r line; do failed+=("$name: ${line#not ok }"); done < <(grep -E '^not ok ' "$out" | grep -vE '# (SKIP|skip)')
  while IFS= read -r line; do skipped+=("$name: ${line#*# }"); done < <(grep -E '^(not )?ok .*# (SKIP|skip)' "$out")
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  printf '%-40s %3d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
}

for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  selected "$name" || continue
  out=$log_dir/$name.log
  CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
  count "$name" "$out" $?
  san_reports "$name"
done

for t in tests/integration/*.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t" .sh)
  selected "$name.sh" || continue
  out=$log_dir/$name.log
  bash "$t" >"$out" 2>&1
  count "$name" "$out" $?
  san_reports "$name"
done

if [ ${#skipped[@]} -gt 0 ]; then
  echo "skipped:"; printf '  %s\n' "${skipped[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed (logs in $log_dir):"; printf '  %s\n' "${failed[@]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
