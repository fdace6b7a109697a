#!/usr/bin/env bash
# flyfit-import shuffle, the degree-preserving shuffled twin of a connectome: on a 2000-neuron
# synthetic brain, tests/tools/check_shuffle.py recomputes from the files that degrees, neuropil
# sizes and signs are kept, that there are no self-connections or repeats, that most connections
# moved, and that the seed alone decides the result; then the command line's errors, none of which
# may damage an earlier output; and flyfit runs on the shuffled file.
source "$(dirname "$0")/../lib.sh"
IMP=$BIN/flyfit-import
if [ ! -x "$IMP" ] || [ ! -x "$BIN/flyfit-synth" ]; then
  fail "bin/flyfit-import and bin/flyfit-synth are built (run: make all)"
  exit 0
fi
cd "$TMP" || exit 1
exit_status() { local want=$1; shift; "$@" >/dev/null 2>&1; [ $? -eq "$want" ]; }

"$BIN/flyfit-synth" --neurons 2000 --seed 3 -o brain.h5 > synth.log 2>&1 || { fail "flyfit-synth"; exit 0; }
check "shuffle, seed 7" "$IMP" shuffle brain.h5 -o a.h5 --seed 7 2> a.log
sed 's/^/# /' a.log
check "the log gives attempts, accepted swaps and the share changed" \
  grep -qE 'a.h5: shuffled brain.h5 \(seed 7, 10 swaps per connection\): 2000 neurons, [0-9]+ connections, [0-9]+ attempts, [0-9]+ swaps accepted, [0-9.]+% of the connections changed' a.log
"$IMP" shuffle brain.h5 -o b.h5 --seed 7 2>/dev/null
"$IMP" shuffle brain.h5 -o c.h5 --seed 8 --swaps-per-connection 5 2>/dev/null
/usr/bin/python3 "$ROOT/tests/tools/check_shuffle.py" brain.h5 a.h5 b.h5 c.h5 \
  || fail "check_shuffle.py ran to the end"
# the checks can fail: another brain of the same size is no degree-preserving shuffle of this one
"$BIN/flyfit-synth" --neurons 2000 --seed 4 -o other.h5 > /dev/null 2>&1
/usr/bin/python3 "$ROOT/tests/tools/check_shuffle.py" brain.h5 other.h5 b.h5 c.h5 > negative.txt 2>&1
check "check_shuffle.py rejects another brain: in-degrees differ" grep -q "^not ok - every neuron's in-degree" negative.txt
check "check_shuffle.py rejects another brain: no /shuffle group" grep -q "^not ok - the file says it is a shuffle" negative.txt
check "no temporary files are left" test -z "$(ls | grep '\.tmp\.')"

# errors: one message naming the problem, exit status 1 (command line) or 2 (input); an earlier
# output stays byte for byte, and the input is never replaced
cp a.h5 keep.h5; cp a.h5 keep.orig; cp brain.h5 brain.orig
expect_error "missing input file" "'none.h5': No such file or directory" "$IMP" shuffle none.h5 -o keep.h5
check "missing input file: exit status 2" exit_status 2 "$IMP" shuffle none.h5 -o keep.h5
echo "not a connectome" > junk.h5
expect_error "an input that is not HDF5" "junk.h5" "$IMP" shuffle junk.h5 -o keep.h5
expect_error "-o is the input" "-o names the input" "$IMP" shuffle brain.h5 -o brain.h5
expect_error "-o is the input under another name" "-o names the input" "$IMP" shuffle brain.h5 -o ./brain.h5
ln -s brain.h5 link.h5
expect_error "-o is a link to the input" "-o names the input" "$IMP" shuffle brain.h5 -o link.h5
check "-o is the input: exit status 1" exit_status 1 "$IMP" shuffle brain.h5 -o brain.h5
expect_error "no -o" "-o is required" "$IMP" shuffle brain.h5
expect_error "no input" "the connectome to shuffle is required" "$IMP" shuffle -o keep.h5
expect_error "two inputs" "only one connectome at a time" "$IMP" shuffle brain.h5 a.h5 -o keep.h5
expect_error "negative --seed" "--seed '-1' is not a whole number" "$IMP" shuffle brain.h5 -o keep.h5 --seed -1
expect_error "non-numeric --seed" "--seed '1x' is not a whole number" "$IMP" shuffle brain.h5 -o keep.h5 --seed 1x
expect_error "--swaps-per-connection out of range" "--swaps-per-connection 2000: 0..1000" \
  "$IMP" shuffle brain.h5 -o keep.h5 --swaps-per-connection 2000
check "bad option: exit status 1" exit_status 1 "$IMP" shuffle brain.h5 -o keep.h5 --frobnicate
check "failed runs left the earlier output as it was" cmp -s keep.h5 keep.orig
check "failed runs left the input as it was" cmp -s brain.h5 brain.orig
check "--help exits 0 and describes /shuffle" bash -c "'$IMP' shuffle --help | grep -q 'group /shuffle'"

# flyfit reads the shuffled file as any connectome: a short simulation on 2 ranks (partition = auto
# adds /partition/k2 to it)
cat > sim.ini <<INI
[data]
connectome = $TMP/a.h5
[run]
preset = shiu
partition = auto
duration_ms = 20
threads = 1
progress_s = 0
[stimulus]
poisson_neurons = 0-49
poisson_rate_hz = 200
[output]
dir = $TMP/sim
INI
check "flyfit simulates the shuffled connectome on 2 ranks" bash -c "mpirun -np 2 --bind-to none '$BIN/flyfit' sim.ini > sim.log 2>&1"
