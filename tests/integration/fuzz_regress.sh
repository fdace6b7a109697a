#!/usr/bin/env bash
# Replays the fuzzing inputs through the harnesses of tests/fuzz, built with the normal toolchain
# (build/tests/fuzz_TARGET; `make fuzz` runs the same harnesses under libFuzzer and ASan/UBSan):
# every seed (tests/fuzz/corpus/TARGET) and every input that once crashed or hung flyfit
# (tests/fuzz/regress/TARGET) must be read or refused cleanly: no crash, no broken invariant, and
# each refusal a bad-input status with a message. A few regression inputs are also checked for the
# message they must produce.
source "$(dirname "$0")/../lib.sh"
FUZZ=$ROOT/tests/fuzz
for t in config csv npz connectome activity checkpoint; do
  drv=$ROOT/build/tests/fuzz_$t
  [ -x "$drv" ] || { fail "$t: build/tests/fuzz_$t is missing (make check builds it)"; continue; }
  for kind in corpus regress; do
    dir=$FUZZ/$kind/$t
    n=$(find "$dir" -type f ! -name '.*' 2>/dev/null | wc -l)
    if [ "$n" -eq 0 ]; then
      [ "$kind" = corpus ] && fail "$t: no seed inputs in tests/fuzz/corpus/$t"
      continue
    fi
    if TMPDIR=$TMP "$drv" "$dir" > "$TMP/$t.$kind.out" 2> "$TMP/$t.$kind.err"; then
      ok "$t: the $n $kind input(s) are read or refused cleanly"
    else
      fail "$t: replaying tests/fuzz/$kind/$t failed (exit status $?)"
      tail -5 "$TMP/$t.$kind.err" | sed 's/^/#   /'
    fi
  done
done

# said(TARGET FILE PATTERN DESCRIPTION): replaying FILE prints a message matching PATTERN
said() {
  local t=$1 f=$FUZZ/regress/$1/$2 pat=$3 what=$4
  [ -x "$ROOT/build/tests/fuzz_$t" ] || return
  TMPDIR=$TMP FLYFIT_FUZZ_VERBOSE=1 "$ROOT/build/tests/fuzz_$t" "$f" > /dev/null 2> "$TMP/said.err"
  if grep -qE -- "$pat" "$TMP/said.err"; then ok "$t: $what"; else
    fail "$t: $what (no message matching /$pat/)"; grep 'status' "$TMP/said.err" | head -3 | sed 's/^/#   /'
  fi
}
said connectome crafted-jumping-indptr.h5 "ff_connectome_read: status 2: .*/connections/indptr\[1\] = 9 is beyond its last entry, 4" \
  "an indptr running past its end is refused"
said connectome crafted-decreasing-indptr.h5 "ff_net_load: status 2: .*/connections/indptr decreases at neuron 1" \
  "ff_net_load reports a decreasing indptr (not a half-built network)"
said connectome crafted-unstored-root-id.h5 "dataset /neurons/root_id claims 1099511627776 elements .* stores 0 bytes" \
  "a dataset claiming 2^40 elements with nothing stored is refused before allocating"
said connectome crafted-array-attribute-ranks.h5 "attribute 'ranks' is not a single number \(in /partition/k1\)" \
  "an array attribute 'ranks' is refused"
said connectome crafted-jumping-np-row.h5 "neuropil rows of rank 0 decrease or run past their last entry" \
  "slab neuropil rows running past their end are refused"
said connectome null-deref-indptr-message-cc6a652c.h5 "/neuropils/indptr ends at [0-9]+ but there are 3 entries" \
  "an indptr that ends elsewhere than its data is reported with both numbers"
said activity crafted-string-array-attribute.h5 "attribute 'neural_activity_id' is not a single readable string" \
  "a string attribute of 3 elements is refused"
said activity crafted-unstored-traces.h5 "dataset /traces claims 4294967296 elements" \
  "/traces claiming 2^32 values with nothing stored is refused"
said csv leak-import-merge-duplicate-5fb023dc.bin "duplicate row: .* repeats line 6" "a duplicate Codex row is reported"
said csv ub-codex-header-only-97384163.bin "the table has a header but no rows" \
  "a Codex table with a header and no rows is refused (not an empty connectome)"
