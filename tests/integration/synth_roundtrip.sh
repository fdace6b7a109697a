#!/usr/bin/env bash
# flyfit-synth end to end: its outputs, its error handling, and the Codex CSV round trip through
# flyfit-import, which must give back exactly the connectome arrays that flyfit-synth wrote.
source "$(dirname "$0")/../lib.sh"
SYN=$BIN/flyfit-synth
if [ ! -x "$SYN" ]; then
  fail "bin/flyfit-synth is built (run: make bin/flyfit-synth)"
  exit 0
fi

# exit_status WANT COMMAND...: true when the command exits with status WANT.
exit_status() { local want=$1; shift; "$@" >/dev/null 2>&1; [ $? -eq "$want" ]; }
# same_datasets A.h5 B.h5 DATASET...: type, shape and values all equal. (h5diff is not enough: it
# exits 0 for datasets of different lengths, which it calls "not comparable".)
same_datasets() {
  local a=$1 b=$2 d; shift 2
  for d in "$@"; do
    cmp -s <(h5dump -d "$d" "$a" 2>&1 | sed 1d) <(h5dump -d "$d" "$b" 2>&1 | sed 1d) || { echo "# $d differs"; return 1; }
  done
}
differ() { ! same_datasets "$@" >/dev/null; }
DATASETS=(/neurons/root_id /neurons/neuropil /connections/indptr /connections/post /connections/count
          /neuropils/names /neuropils/indptr /neuropils/neuropil /neuropils/synapses)

check "a 3000-neuron brain with Codex CSV and neuron list" \
  "$SYN" --neurons 3000 --seed 5 -o "$TMP/a.h5" --codex-csv "$TMP/x.csv.gz" --neurons-csv "$TMP/n.csv" 2>"$TMP/a.log"
sed 's/^/# /' "$TMP/a.log"
check "the statistics summary is printed" grep -q 'inhibitory.*of presynaptic neurons' "$TMP/a.log"
check "the neuron list has a header and 3000 rows" test "$(head -1 "$TMP/n.csv")" = ",Completed" -a "$(wc -l <"$TMP/n.csv")" -eq 3001
check "the CSV is valid gzip with the Codex header" \
  test "$(gzip -dc "$TMP/x.csv.gz" | head -1)" = "pre_root_id,post_root_id,neuropil,syn_count,nt_type"
check "no temporary files are left" test -z "$(ls "$TMP" | grep '\.tmp\.')"

OMP_NUM_THREADS=1 "$SYN" --neurons 3000 --seed 5 -o "$TMP/b.h5" 2>/dev/null
check "same seed, one thread: identical arrays" same_datasets "$TMP/a.h5" "$TMP/b.h5" "${DATASETS[@]}"
"$SYN" --neurons 3000 --seed 6 -o "$TMP/c.h5" 2>/dev/null
check "another seed: other wiring" differ "$TMP/a.h5" "$TMP/c.h5" /connections/post
check "the source attribute names the seed" bash -c "h5dump -a /source '$TMP/a.h5' | grep -q 'flyfit-synth seed=5'"

"$SYN" --neurons-from "$TMP/n.csv" --neurons 1000 --neurons-csv "$TMP/m.csv" 2>/dev/null
check "--neurons-from --neurons 1000 takes the first 1000 root ids" cmp -s <(head -1001 "$TMP/n.csv") "$TMP/m.csv"
"$SYN" --neurons-from "$TMP/m.csv" --neurons-csv "$TMP/m2.csv" 2>/dev/null
check "--neurons-from alone takes every row" cmp -s "$TMP/m.csv" "$TMP/m2.csv"

check "--help exits 0 with the usage" bash -c "'$SYN' --help | grep -q 'usage: flyfit-synth'"
check "unknown option: exit status 1" exit_status 1 "$SYN" --frobnicate -o "$TMP/z.h5"
expect_error "unknown option is named" "flyfit-synth: error: unknown option '--frobnicate'" "$SYN" --frobnicate -o "$TMP/z.h5"
expect_error "non-numeric --neurons is refused" "error: --neurons: 'abc' is not an integer" "$SYN" --neurons abc -o "$TMP/z.h5"
expect_error "out-of-range --synapses is refused" "error: --synapses: 0.5 is out of range" "$SYN" --synapses 0.5 -o "$TMP/z.h5"
check "no output given: exit status 1" exit_status 1 "$SYN" --neurons 10
check "missing --neurons-from file: exit status 2" exit_status 2 "$SYN" --neurons-from "$TMP/none.csv" -o "$TMP/z.h5"
expect_error "a neuron list shorter than --neurons is refused" "lists 1000 neurons, fewer than --neurons 2000" \
  "$SYN" --neurons-from "$TMP/m.csv" --neurons 2000 -o "$TMP/z.h5"
check "failed runs wrote nothing" test ! -e "$TMP/z.h5"

if [ ! -x "$BIN/flyfit-import" ]; then
  skip "Codex CSV round trip through flyfit-import" "bin/flyfit-import is not built"
else
  check "flyfit-import reads the gzip CSV" \
    "$BIN/flyfit-import" codex --connections "$TMP/x.csv.gz" --neurons "$TMP/n.csv" -o "$TMP/y.h5"
  check "import gives back the same connectome arrays" same_datasets "$TMP/a.h5" "$TMP/y.h5" "${DATASETS[@]}"
  "$SYN" --neurons 3000 --seed 5 --codex-csv "$TMP/x.csv" 2>/dev/null
  check "flyfit-import reads the plain CSV" \
    "$BIN/flyfit-import" codex --connections "$TMP/x.csv" --neurons "$TMP/n.csv" -o "$TMP/y2.h5"
  check "plain CSV import: the same arrays" same_datasets "$TMP/a.h5" "$TMP/y2.h5" "${DATASETS[@]}"
fi
