#!/usr/bin/env bash
# The exit statuses are one table (include/flyfit/error.h, docs/guide/running.md, docs/design.md §3.6) and
# the programs keep to it: 0 done, 1 bad command line, 2 bad input, 3 an output that cannot be written
# (environment or I/O), 7 asked for what this build lacks; 75 and 128 + n (signals) are checked in
# signals.sh. Every FF_ERR_* status of error.h is in the guide's table with its number.
source "$(dirname "$0")/../lib.sh"
MK=$ROOT/tests/tools/mknet.py
/usr/bin/python3 "$MK" "$TMP/net.h5" random 60 5 10 40
printf '[data]\nconnectome = %s\n[run]\nduration_ms = 20\n[output]\ndir = %s/out\n' "$TMP/net.h5" "$TMP" > "$TMP/ok.ini"
status() { # EXPECTED DESCRIPTION COMMAND...
  local want=$1 what=$2; shift 2
  "$@" > "$TMP/out.txt" 2>&1
  local rc=$?
  check "$what: exit status $want (got $rc)" test "$rc" -eq "$want"
}
status 0 "a good run" "$BIN/flyfit" "$TMP/ok.ini"
status 1 "an unknown option" "$BIN/flyfit" --no-such-option
status 1 "no config file" "$BIN/flyfit"
status 2 "an unknown key (bad input)" "$BIN/flyfit" "$TMP/ok.ini" --set run.bach=2
status 2 "a missing connectome (bad input)" "$BIN/flyfit" "$TMP/ok.ini" --set data.connectome="$TMP/none.h5"
touch "$TMP/a-file"
status 3 "an output folder that cannot be made (environment or I/O)" "$BIN/flyfit" "$TMP/ok.ini" --set output.dir="$TMP/a-file/out"
check "... and its message names the folder" grep -q "$TMP/a-file/out" "$TMP/out.txt"
if ! ldd "$BIN/flyfit" | grep -q libcudart; then
  status 7 "backend = cuda in a build without CUDA" "$BIN/flyfit" "$TMP/ok.ini" --set run.backend=cuda
fi
# error.h's statuses, each in the guide's table with its number
while read -r name num; do
  check "error.h's $name = $num is in docs/guide/running.md's table" grep -qE "(^| )$num [A-Za-z]" "$ROOT/docs/guide/running.md"
done < <(sed -n 's/^ *\(FF_ERR_[A-Z]*\) = \([0-9]*\),.*/\1 \2/p' "$ROOT/include/flyfit/error.h")
check "the guide's table has 75 (stopped) and 128 + n (a second signal)" \
  bash -c "grep -q '75 stopped' '$ROOT/docs/guide/running.md' && grep -q '128 + n' '$ROOT/docs/guide/running.md'"
