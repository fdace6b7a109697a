#!/usr/bin/env bash
# flyfit-import activity end to end: small recordings made by numpy (tests/tools/mkfly.py) against
# the same preprocessing done independently in numpy (tests/tools/activity_ref.py), every dataset
# and attribute of activity.h5, region-to-neuropil mapping, and every bad input: its message, exit
# status 2, no output file, and an earlier activity.h5 left byte for byte as it was.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
IMP=$BIN/flyfit-import
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
  skip "flyfit-import activity" "no numpy/h5py for /usr/bin/python3"
  exit 0
fi
mkfly() { $PY "$ROOT/tests/tools/mkfly.py" "$@"; }
ref() { $PY "$ROOT/tests/tools/activity_ref.py" "$@"; }
quiet() { "$@" 2>/dev/null; }

# The connectome: the Codex fixture's neuropils are AL_L, GNG, LH_L, MB_CA_L, SAD (indices 0-4).
"$IMP" codex --connections "$ROOT/data/fixture_codex.csv" -o "$TMP/connectome.h5" 2>/dev/null
"$IMP" shiu --neurons "$ROOT/data/fixture_neurons.csv" --connectivity "$ROOT/data/fixture_connectivity.csv" \
  -o "$TMP/no_neuropils.h5" 2>/dev/null

# ---- good input ------------------------------------------------------------------------------------
F=$TMP/2017-10-30_1.npz
mkfly "$F"
check "defaults: the import succeeds" "$IMP" activity "$F" -o "$TMP/a.h5" 2>"$TMP/a.log"
sed 's/^/# /' "$TMP/a.log"
ref "$F" "$TMP/a.h5" --label defaults
check "defaults: no temporary file is left" test -z "$(ls "$TMP" | grep '\.tmp\.')"
# created_by holds the command line, so run the same one twice in two directories
mkdir -p "$TMP/run1" "$TMP/run2"
(cd "$TMP/run1" && "$IMP" activity "$F" -o activity.h5 2>/dev/null)
(cd "$TMP/run2" && "$IMP" activity "$F" -o activity.h5 2>/dev/null)
check "the same input gives the same file, byte for byte" cmp -s "$TMP/run1/activity.h5" "$TMP/run2/activity.h5"

# deflated, Fortran order, float32, and every parameter changed
G=$TMP/fly2.npz
mkfly "$G" --compressed --fortran --float32 --seed 3 --frames 400
PARAMS=(--fs-hz 2 --highpass-hz 0.05 --trim-frames 50 --calcium-tau-s 1.5 --deconv-lambda 0.05 --max-rate-hz 80)
check "parameters: the import succeeds" quiet "$IMP" activity "$G" -o "$TMP/b.h5" --id fly-B "${PARAMS[@]}"
ref "$G" "$TMP/b.h5" "${PARAMS[@]}" --id fly-B --label "deflated, Fortran, float32, parameters"
"$IMP" activity "$G" -o "$TMP/c.h5" --highpass-hz 0 --trim-frames 0 2>/dev/null
ref "$G" "$TMP/c.h5" --highpass-hz 0 --trim-frames 0 --label "no filter, no trim"

# ---- connectome and mapping ------------------------------------------------------------------------
check "connectome: names match exactly" quiet "$IMP" activity "$F" --connectome "$TMP/connectome.h5" -o "$TMP/d.h5"
ref "$F" "$TMP/d.h5" --index 0,1,2,3,4 --label connectome
check "connectome: its name is stored" bash -c "h5dump -a /connectome '$TMP/d.h5' | grep -q connectome.h5"

M=$TMP/map_fly.npz
mkfly "$M" --names bg,AL_left,GNG,lateral_horn_L,SAD,MB_CA_L --seed 4
printf '# recording region -> FlyWire neuropil\nAL_left AL_L\n\nlateral_horn_L, LH_L   # comma-separated works too\n' > "$TMP/map.txt"
check "mapping: the import succeeds" quiet "$IMP" activity "$M" --connectome "$TMP/connectome.h5" --mapping "$TMP/map.txt" -o "$TMP/e.h5"
ref "$M" "$TMP/e.h5" --index 0,1,2,4,3 --label mapping
check "mapping: its name is stored" bash -c "h5dump -a /mapping '$TMP/e.h5' | grep -q map.txt"

U=$TMP/unmatched.npz
mkfly "$U" --names bg,AL_L,foo,GNG,bar,LH_L,MB_CA_L --seed 5
"$IMP" activity "$U" --connectome "$TMP/connectome.h5" --drop-unmatched -o "$TMP/f.h5" 2>"$TMP/f.log"
check "drop_unmatched: the import succeeds" test $? -eq 0
check "drop_unmatched: the warning lists what was left out" \
  grep -q "warning: .*unmatched.npz: 2 regions without a neuropil are left out: 'foo', 'bar'; 1 neuropil gets no recorded activity: 'SAD'" "$TMP/f.log"
ref "$U" "$TMP/f.h5" --keep AL_L,GNG,LH_L,MB_CA_L --index 0,1,2,3 --label drop_unmatched
check "drop_unmatched: what was dropped is stored" bash -c "h5dump -a /dropped '$TMP/f.h5' | grep -q \"'foo', 'bar'\""

# ---- bad input -------------------------------------------------------------------------------------
cp "$TMP/a.h5" "$TMP/keep.h5"
cp "$TMP/keep.h5" "$TMP/keep.orig"
# bad DESCRIPTION PATTERN ARGS...: exit status 2, the message, no output, keep.h5 untouched
bad() {
  local what=$1 pat=$2 rc; shift 2
  "$IMP" activity "$@" -o "$TMP/keep.h5" >/dev/null 2>"$TMP/err"; rc=$?
  check "$what: exit status 2 (was $rc)" test $rc -eq 2
  if grep -qE -- "$pat" "$TMP/err"; then ok "$what: message"; else
    fail "$what: message did not match /$pat/"; sed 's/^/#   /' "$TMP/err" | head -5; fi
  check "$what: the earlier activity.h5 is untouched" cmp -s "$TMP/keep.h5" "$TMP/keep.orig"
  check "$what: no temporary file is left" test -z "$(ls "$TMP" | grep 'keep.h5.tmp')"
  "$IMP" activity "$@" -o "$TMP/new.h5" >/dev/null 2>&1
  check "$what: no new output file" test ! -e "$TMP/new.h5"
}
mkfly "$TMP/nan.npz" --nan 2:57
bad "NaN in a region" "nan.npz': region 'GNG' \(row 2\) holds NaN at frame 57" "$TMP/nan.npz"
mkfly "$TMP/const.npz" --constant 3
bad "constant region" "const.npz': region 'LH_L' \(row 3\) is constant" "$TMP/const.npz"
bad "unmatched regions are listed" "2 regions have no neuropil: 'foo', 'bar'; 1 neuropil has no region: 'SAD'; give a mapping file" \
  "$U" --connectome "$TMP/connectome.h5"
printf 'AL_left AL_L\nlateral_horn_L LH_L extra\n' > "$TMP/badmap.txt"
bad "bad mapping line" "badmap.txt:2: expected two names, 'region_name neuropil_name', found 3" \
  "$M" --connectome "$TMP/connectome.h5" --mapping "$TMP/badmap.txt"
printf 'AL_left AL_L\nqux LH_L\n' > "$TMP/unknown.txt"
bad "mapping names a region not in the recording" "unknown.txt:2: region 'qux' is not in the recording" \
  "$M" --connectome "$TMP/connectome.h5" --mapping "$TMP/unknown.txt"
printf 'AL_left LH_L\nlateral_horn_L LH_L\n' > "$TMP/twice.txt"
bad "two regions mapped to one neuropil" "twice.txt:2: regions 'lateral_horn_L' and 'AL_left' \(line 1\) both map to neuropil 'LH_L'" \
  "$M" --connectome "$TMP/connectome.h5" --mapping "$TMP/twice.txt"
bad "connectome without neuropils" "the connectome has no neuropils" "$F" --connectome "$TMP/no_neuropils.h5"
mkfly "$TMP/short.npz" --frames 80
bad "too few frames for the trim" "short.npz' has 80 frames; dropping the first 100 \(trim_frames\) leaves none" "$TMP/short.npz"
bad "missing member" "2017-10-30_1.npz' has no member 'F' \(it holds 'areas', 'traces'\); name the members with --names-key" \
  "$F" --traces-key F
mkfly "$TMP/pickled.npz" --object-names
bad "pickled region names" "member 'areas' is a pickled object array.*np.array\(names, dtype=str\)" "$TMP/pickled.npz"
mkfly "$TMP/transposed.npz" --transpose
bad "traces stored [frames, regions]" "member 'traces' is \[frames, regions\] \(300 × 6.*save traces.T" "$TMP/transposed.npz"
head -c 1500 "$G" > "$TMP/cut.npz"
bad "truncated archive" "cut.npz' is a damaged or truncated .npz archive" "$TMP/cut.npz"
bad "not an npz" "fixture_codex.csv' is not an .npz archive" "$ROOT/data/fixture_codex.csv"
bad "missing file" "absent.npz': No such file or directory" "$TMP/absent.npz"
$PY -c "import numpy as np; np.savez('$TMP/flat.npz', areas=np.array(['bg','AL_L']), traces=np.ones((2, 5)))"
bad "one flat region" "flat.npz': region 'AL_L' \(row 1\) is constant" "$TMP/flat.npz" --trim-frames 0
$PY -c "import numpy as np; np.savez('$TMP/1d.npz', areas=np.array(['bg','AL_L']), traces=np.ones(5))"
bad "1-D traces" "1d.npz' member 'traces' has 1 dimension\(s\); expected 2, \[regions, frames\]" "$TMP/1d.npz"
$PY -c "import numpy as np; np.savez('$TMP/rows.npz', areas=np.array(['bg','AL_L','GNG']), traces=np.ones((4, 200)))"
bad "names and rows disagree" "rows.npz': member 'areas' has 3 names but member 'traces' has 4 rows" "$TMP/rows.npz"

# ---- bad command lines: exit status 1 ----------------------------------------------------------------
usage() { # description pattern args...
  local what=$1 pat=$2 rc; shift 2
  "$IMP" activity "$@" >/dev/null 2>"$TMP/err"; rc=$?
  if [ $rc -eq 1 ] && grep -qE -- "$pat" "$TMP/err"; then ok "usage: $what"; else
    fail "usage: $what (exit status $rc)"; sed 's/^/#   /' "$TMP/err" | head -3; fi
}
usage "missing -o" "-o is required" "$F"
usage "missing recording" "the recording FLY.npz is required" -o "$TMP/x.h5"
usage "mapping without connectome" "--mapping needs --connectome" "$F" --mapping "$TMP/map.txt" -o "$TMP/x.h5"
usage "cutoff at Nyquist" "highpass_hz = 0.6: the cutoff must be at least 0 .* below half the frame rate" "$F" --highpass-hz 0.6 -o "$TMP/x.h5"
usage "fractional trim" "--trim-frames 1.5 is not a whole number" "$F" --trim-frames 1.5 -o "$TMP/x.h5"
usage "not a number" "--max-rate-hz '1O0' is not a number" "$F" --max-rate-hz 1O0 -o "$TMP/x.h5"
check "usage errors write nothing" test ! -e "$TMP/x.h5"
check "flyfit-import activity --help" bash -c "'$IMP' activity --help | grep -q 'Friedrich, Zhou & Paninski 2017'"
