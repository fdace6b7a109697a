#!/usr/bin/env bash
# Files whose damaged global heap makes libhdf5 1.10 itself read out of bounds, crash or hang when it
# reads their variable-length strings (tests/fuzz/hdf5-bugs): flyfit and flyfit-partition check such
# strings in a process of their own (bin/flyfit-h5check) before reading them, so each input ends within
# 10 s with exit status 2 and a message naming the file (and the damage, or damage found before it), never a
# crash or a hang. The valid seeds of the
# fuzz corpus pass the same check.
source "$(dirname "$0")/../lib.sh"
BUGS=$ROOT/tests/fuzz/hdf5-bugs
fit_fixture 3 40 || exit 1
for f in "$BUGS"/activity/*.h5; do
  t0=$(date +%s.%N)
  timeout 30 "$BIN/flyfit" "$TMP/fit.ini" --set data.activity="$f" --set output.dir="$TMP/out-a" > "$TMP/a.out" 2>&1
  rc=$?
  t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  check "activity $(basename "$f"): exit status 2 (got $rc) within 10 s (${t} s)" \
    awk -v rc="$rc" -v t="$t" 'BEGIN { exit !(rc == 2 && t <= 10) }'
  check "... the message names the file and the damage" \
    grep -q "$(basename "$f")': its variable-length strings cannot be read safely: .*global heap is damaged" "$TMP/a.out"
done
for f in "$BUGS"/connectome/*.h5; do
  cp "$f" "$TMP/conn.h5"
  for prog in flyfit flyfit-partition; do
    t0=$(date +%s.%N)
    if [ $prog = flyfit ]; then
      timeout 30 "$BIN/flyfit" "$TMP/fit.ini" --set data.connectome="$TMP/conn.h5" --set run.mode=simulate \
        --set output.dir="$TMP/out-c" > "$TMP/c.out" 2>&1
    else
      timeout 30 "$BIN/flyfit-partition" "$TMP/conn.h5" --ranks 2 > "$TMP/c.out" 2>&1
    fi
    rc=$?
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    check "connectome $(basename "$f"), $prog: exit status 2 (got $rc) within 10 s (${t} s)" \
      awk -v rc="$rc" -v t="$t" 'BEGIN { exit !(rc == 2 && t <= 10) }'
    # flyfit checks the arrays first: a file damaged there too is refused for that, naming the file
    check "... the message names the file" grep -q "error: '$TMP/conn.h5': " "$TMP/c.out"
  done
done
bad=0
for f in "$ROOT"/tests/fuzz/corpus/*/*.h5; do "$BIN/flyfit-h5check" "$f" || { bad=1; echo "# $f: status $?"; }; done
check "every valid seed of the fuzz corpus passes flyfit-h5check" test $bad -eq 0
