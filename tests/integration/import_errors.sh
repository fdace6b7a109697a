#!/usr/bin/env bash
# Every bad input file stops flyfit-import with the file, line and reason, a nonzero exit status,
# and no output file; an earlier connectome.h5 at the output path stays byte for byte the same.
source "$(dirname "$0")/../lib.sh"
D=$ROOT/data
N=$D/fixture_neurons.csv
cp "$D/fixture_codex.csv" "$TMP/codex.csv"
cp "$D/fixture_connectivity.csv" "$TMP/conn.csv"
"$BIN/flyfit-import" codex --connections "$TMP/codex.csv" --neurons "$N" -o "$TMP/keep.h5" 2>/dev/null
cp "$TMP/keep.h5" "$TMP/keep.orig"

# edit FILE LINE SED-EXPRESSION -> prints the path of an edited copy
edit() { local out=$TMP/$(basename "$1" .csv).$RANDOM.csv; sed "$2" "$1" > "$out"; echo "$out"; }
codex_bad() { # description pattern file
  expect_error "codex: $1" "$2" "$BIN/flyfit-import" codex --connections "$3" --neurons "$N" -o "$TMP/keep.h5"
  check "codex: $1: earlier output untouched" cmp -s "$TMP/keep.h5" "$TMP/keep.orig"
  check "codex: $1: no temporary file left" test -z "$(ls "$TMP" | grep 'keep.h5.tmp')"
}
shiu_bad() {
  expect_error "shiu: $1" "$2" "$BIN/flyfit-import" shiu --neurons "$N" --connectivity "$3" -o "$TMP/new.h5"
  check "shiu: $1: no output file" test ! -e "$TMP/new.h5"
}

f=$(edit "$TMP/codex.csv" '1s/syn_count/synapses/'); codex_bad "missing column" "$f:1: missing column 'syn_count' \(the header has: 'pre_root_id', 'post_root_id', 'neuropil', 'synapses', 'nt_type'\)" "$f"
f=$(edit "$TMP/codex.csv" '5s/,[0-9]*,\([A-Z]*\)$/,7x,\1/'); codex_bad "non-numeric field" "$f:5: column 'syn_count': '7x' is not an integer" "$f"
f=$(edit "$TMP/codex.csv" '4s/^720575940597944841/720575940000000001/'); codex_bad "unknown root id" "$f:4: pre_root_id 720575940000000001 is not in the neuron list" "$f"
f=$(edit "$TMP/codex.csv" '6s/,\([0-9]*\),\([A-Z]*\)$/,-\1,\2/'); codex_bad "negative count" "$f:6: syn_count -[0-9]+: a synapse count must be a positive integer" "$f"
f=$TMP/dup.csv; { cat "$TMP/codex.csv"; sed -n 3p "$TMP/codex.csv"; } > "$f"; codex_bad "duplicate row" "$f:17: duplicate row: .* repeats line 3" "$f"
codex_bad "missing file" "cannot read '$TMP/none.csv'" "$TMP/none.csv"
: > "$TMP/empty.csv"; codex_bad "empty file" "empty.csv: the file is empty" "$TMP/empty.csv"
# a gzip stream cut short: a larger table, so that the cut falls inside the data
/usr/bin/python3 - "$TMP/big.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("pre_root_id,post_root_id,neuropil,syn_count,nt_type\n")
    for i in range(20000):
        a, k = i % 500, i // 500  # 40 distinct targets per source
        f.write(f"{720575940600000000 + a},{720575940600000000 + (a + k + 1) % 500},AL_L,{i % 9 + 1},ACH\n")
PY
gzip -c "$TMP/big.csv" > "$TMP/big.csv.gz"
head -c $(( $(stat -c %s "$TMP/big.csv.gz") / 2 )) "$TMP/big.csv.gz" > "$TMP/cut.csv.gz"
"$BIN/flyfit-import" codex --connections "$TMP/big.csv.gz" -o "$TMP/big.h5" 2>/dev/null; check "the whole gzip file imports" test $? -eq 0
expect_error "codex: truncated gzip" "cut.csv.gz: truncated or corrupt gzip data after line [0-9]+" \
  "$BIN/flyfit-import" codex --connections "$TMP/cut.csv.gz" -o "$TMP/cut.h5"
check "codex: truncated gzip: no output file" test ! -e "$TMP/cut.h5"

f=$(edit "$TMP/conn.csv" '1s/Connectivity,/Synapses,/'); shiu_bad "missing column" "$f:1: missing column 'Connectivity'" "$f"
f=$(edit "$TMP/conn.csv" '3s/,1,12$/,x,12/'); shiu_bad "non-numeric field" "$f:3: column 'Excitatory': 'x' is not an integer" "$f"
f=$(edit "$TMP/conn.csv" '4s/^2,720575940599459782/2,720575940599459783/'); shiu_bad "unknown root id" "$f:4: Presynaptic_ID 720575940599459783 is not in the neuron list" "$f"
f=$(edit "$TMP/conn.csv" '3s/,12,1,12$/,-12,1,-12/'); shiu_bad "negative count" "$f:3: Connectivity -12: a synapse count must be a positive integer" "$f"
f=$TMP/dupshiu.csv; { cat "$TMP/conn.csv"; sed -n 5p "$TMP/conn.csv" | sed 's/^3,/12,/'; } > "$f"; shiu_bad "duplicate row" "$f:14: duplicate row: .* repeats line 5" "$f"
f=$(edit "$TMP/conn.csv" '3s/,0,1,12,1,12$/,0,2,12,1,12/'); shiu_bad "index that does not match the neuron list" "$f:3: Postsynaptic_Index is 2 but Postsynaptic_ID 720575940597856265 is row 1" "$f"
f=$(edit "$TMP/conn.csv" '3s/,1,12$/,1,13/'); shiu_bad "inconsistent signed count" "$f:3: Excitatory x Connectivity is 13, not 1 x 12" "$f"
printf ',Completed\n720575940596125868,True\n720575940596125868,True\n' > "$TMP/dupn.csv"
expect_error "neuron list with a repeated root id" "dupn.csv:3: root id 720575940596125868 repeats line 2" \
  "$BIN/flyfit-import" shiu --neurons "$TMP/dupn.csv" --connectivity "$TMP/conn.csv" -o "$TMP/x.h5"
expect_error "usage: missing -o" "-o is required" "$BIN/flyfit-import" codex --connections "$TMP/codex.csv"
expect_error "usage: unknown command" "unknown command 'csv'" "$BIN/flyfit-import" csv
