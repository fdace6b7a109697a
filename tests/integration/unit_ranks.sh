#!/usr/bin/env bash
# The unit tests of the collective modules on several ranks: test_exchange, test_net, test_h5 and
# test_results (tests/unit; tests/run.sh runs them on one rank) under mpirun -np 2 and 3. Every
# rank runs every test and the ranks agree on each verdict (tests/unit/testmpi.h), so a pass means
# all tests passed on all ranks.
source "$(dirname "$0")/../lib.sh"
for t in test_exchange test_net test_h5 test_results; do
  drv=$TESTBIN/$t
  [ -x "$drv" ] || { fail "$t: $drv is missing (make check builds it)"; continue; }
  for np in 2 3; do
    out=$TMP/$t-np$np.out
    CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 mpirun -np "$np" --bind-to none "$drv" > "$out" 2>&1
    rc=$?
    passed=$(grep -c '^ok [0-9]' "$out")
    n=$(grep -m1 -oE '^1\.\.[0-9]+' "$out" | cut -c4-)   # the tests of the binary (each rank prints 1..n)
    n=${n:-0}
    if [ $rc -eq 0 ] && [ "$n" -gt 0 ] && [ "$passed" -eq $((n * np)) ] && ! grep -q '^not ok' "$out"; then
      ok "$t on $np ranks: $n tests passed on every rank"
    else
      fail "$t on $np ranks: exit status $rc, $passed of $((n * np)) test runs passed"
      grep -E '^not ok|rank [0-9]|error' "$out" | head -6 | sed 's/^/#   /'
    fi
  done
done
