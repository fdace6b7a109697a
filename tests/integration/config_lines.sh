#!/usr/bin/env bash
# Long configuration lines: a neuron list on one line of a few thousand characters (libinih, which
# used to read the INI files, stopped at 200 and said "not an INI line") drives the same neurons as
# the list in an @FILE and as a list continued over indented lines: bit-identical results. A value
# over the 4095-character limit stops flyfit with a message naming the file, the line, the length,
# the limit and the @FILE fix.
source "$(dirname "$0")/../lib.sh"
"$BIN/flyfit-synth" --neurons 1500 --seed 2 -o "$TMP/net.h5" > /dev/null 2>&1 || { fail "flyfit-synth"; exit 1; }
# every third neuron of 0..1499: 500 indices, about 2,400 characters on one line
seq 0 3 1499 > "$TMP/neurons.txt"
long=$(paste -sd, "$TMP/neurons.txt")
head3=$(seq 0 3 747 | paste -sd,)
tail3=$(seq 750 3 1499 | paste -sd,)
write_ini() { # file, then the [stimulus] lines (the first of them is line 11)
  local f=$1; shift
  {
    printf '%s\n' "; one long line" "[data]" "connectome = $TMP/net.h5" "[run]" "duration_ms = 60" "batch = 2" \
      "seed = 7" "threads = 1" "progress_s = 0" "[stimulus]"
    printf '%s\n' "$@" "poisson_rate_hz = 300" "[output]" "spikes = all" "state_neurons = 0, 3"
  } > "$f"
}
write_ini "$TMP/long.ini" "poisson_neurons = $long"
write_ini "$TMP/file.ini" "poisson_neurons = @$TMP/neurons.txt"
write_ini "$TMP/cont.ini" "poisson_neurons = $head3," "    $tail3   ; the second half"
check "the long line is ${#long} characters, line 11" \
  bash -c "[ ${#long} -gt 2000 ] && [ \$(sed -n 11p '$TMP/long.ini' | wc -c) -gt 2000 ]"
for v in long file cont; do
  "$BIN/flyfit" "$TMP/$v.ini" --set output.dir="$TMP/$v" > "$TMP/$v.log" 2>&1 \
    || { fail "$v: flyfit exited with $?"; tail -3 "$TMP/$v.log" | sed 's/^/#   /'; continue; }
  sim_dump "$TMP/$v/results.h5" > "$TMP/$v.txt"
done
check "a ${#long}-character list on one line runs" test -s "$TMP/long.txt"
check "... and gives the spikes, counts and rates of the same list in an @FILE" cmp -s "$TMP/long.txt" "$TMP/file.txt"
check "... and of the list continued on an indented line" cmp -s "$TMP/long.txt" "$TMP/cont.txt"
check "... which drives spikes" /usr/bin/python3 -c "import h5py, sys; sys.exit(len(h5py.File('$TMP/long/results.h5')['/spikes/neuron']) < 100)" 2>/dev/null

toolong=$(seq 0 1 1199 | paste -sd,)
write_ini "$TMP/toolong.ini" "poisson_neurons = $toolong"
expect_error "a ${#toolong}-character list: file, line, length, limit and the @FILE fix" \
  "toolong.ini:11: \[stimulus\] poisson_neurons: the value is ${#toolong} characters long, longer than the limit of 4095; .*poisson_neurons = @FILE" \
  "$BIN/flyfit" "$TMP/toolong.ini" --set output.dir="$TMP/toolong"
check "... exit status 2 (bad input)" bash -c "'$BIN/flyfit' '$TMP/toolong.ini' > /dev/null 2>&1; [ \$? -eq 2 ]"
"$BIN/flyfit" "$TMP/toolong.ini" 2>&1 >/dev/null | grep -m1 "limit of 4095" | sed 's/^/# message: /'
write_ini "$TMP/indent.ini" "poisson_rate_hz = 100" "  poisson_neurons = 1"
expect_error "an indented key after a key that is no list: the line and the key it would continue" \
  "indent.ini:12: this line is indented, so it continues \[stimulus\] poisson_rate_hz of line 11" \
  "$BIN/flyfit" "$TMP/indent.ini"
