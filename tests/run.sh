#!/usr/bin/env bash
# Runs every test of `make check` and ends with the line "N passed, N failed".
# Unit tests are cmocka binaries in build/tests (their TAP output is counted test by test);
# integration tests are the scripts in tests/integration, which print TAP lines through tests/lib.sh.
# A script that dies without reporting counts as one failure. Usage: tests/run.sh [PATTERN]
set -u
cd "$(dirname "$0")/.."
pattern=${1:-}
pass=0; fail=0; skip=0
failed=(); skipped=()
log_dir=build/test-logs
mkdir -p "$log_dir"

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

for t in build/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  [ -n "$pattern" ] && [[ $name != *$pattern* ]] && continue
  out=$log_dir/$name.log
  CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
  count "$name" "$out" $?
done

for t in tests/integration/*.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t" .sh)
  [ -n "$pattern" ] && [[ $name != *$pattern* ]] && continue
  out=$log_dir/$name.log
  bash "$t" >"$out" 2>&1
  count "$name" "$out" $?
done

if [ ${#skipped[@]} -gt 0 ]; then
  echo "skipped:"; printf '  %s\n' "${skipped[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed (logs in $log_dir):"; printf '  %s\n' "${failed[@]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
