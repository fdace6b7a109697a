#!/usr/bin/env bash
# Every bad input stops flyfit with one clear message naming the file or key, a nonzero exit
# status, and no change to the output of an earlier run in the same directory.
source "$(dirname "$0")/../lib.sh"
MK=$ROOT/tests/tools/mknet.py
/usr/bin/python3 "$MK" "$TMP/net.h5" random 60 5 10 40
cat > "$TMP/good.ini" <<INI
[data]
connectome = $TMP/net.h5
[run]
duration_ms = 100
[stimulus]
poisson_neurons = 0-3
[output]
dir = $TMP/out
spikes_txt = true
INI
"$BIN/flyfit" "$TMP/good.ini" >/dev/null 2>&1 || fail "the good configuration runs"
snapshot() { (cd "$TMP/out" && stat -c '%n %s %Y' ./* && md5sum ./*) 2>&1; }
snapshot > "$TMP/before"

# bad_run DESCRIPTION PATTERN [NP] -- flyfit arguments...
bad_run() {
  local what=$1 pat=$2 np=1; shift 2
  if [ "$1" != "--" ]; then np=$1; shift; fi
  shift
  if [ "$np" -gt 1 ]; then
    expect_error "$what" "$pat" mpi "$np" "$BIN/flyfit" "$@"
    local n; n=$(grep -c "error:" "$TMP/stderr.$$")
    check "$what: reported once by $np ranks ($n)" test "$n" -eq 1
  else
    expect_error "$what" "$pat" "$BIN/flyfit" "$@"
  fi
  snapshot > "$TMP/after"
  check "$what: earlier output untouched" cmp -s "$TMP/before" "$TMP/after"
}
ini() { local f=$TMP/$1.ini; shift; { cat "$TMP/good.ini"; printf '%s\n' "$@"; } > "$f"; echo "$f"; }

bad_run "missing config file" "cannot read config file '$TMP/nope.ini'" -- "$TMP/nope.ini"
mkdir -p "$TMP/a-dir.ini"
bad_run "a config path that is a directory" "config file '$TMP/a-dir.ini' is a directory, not a file" -- "$TMP/a-dir.ini"
cp "$TMP/net.h5" "$TMP/bad-home.h5"
/usr/bin/python3 -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f['/neurons/neuropil'][7] = 128; f.close()" "$TMP/bad-home.h5"
np=$(/usr/bin/python3 -c "import h5py, sys; print(len(h5py.File(sys.argv[1], 'r')['/neuropils/names']))" "$TMP/net.h5")
bad_run "a home neuropil outside the connectome's, 1 rank" \
  "/neurons/neuropil\[7\] = 128 is outside -1..$((np - 1)) \(the connectome has $np neuropils\)" -- "$TMP/good.ini" --set data.connectome="$TMP/bad-home.h5"
expect_error "... flyfit-partition refuses it with the same message" \
  "/neurons/neuropil\[7\] = 128 is outside -1..$((np - 1)) \(the connectome has $np neuropils\)" "$BIN/flyfit-partition" "$TMP/bad-home.h5" --ranks 2
bad_run "spikes_txt with spikes = none" "\[output\] spikes_txt = true contradicts \[output\] spikes = none" -- "$TMP/good.ini" --set output.spikes=none
bad_run "unknown key" "bad_key.ini:11: unknown key \[run\] bach \(did you mean \[run\] batch\?\)" -- "$(ini bad_key '[run]' 'bach = 2')"
bad_run "NaN value" "nan_value.ini:11: \[model\] tau_m_ms: 'nan' is not a finite number" -- "$(ini nan_value '[model]' 'tau_m_ms = nan')"
bad_run "out-of-range value from --set" "--set run.batch=0: \[run\] batch = 0 is out of range" -- "$TMP/good.ini" --set run.batch=0
bad_run "missing connectome" "\[data\] connectome: '$TMP/none.h5': No such file" -- "$TMP/good.ini" --set data.connectome="$TMP/none.h5"
head -c 4000 /dev/urandom > "$TMP/random.h5"
bad_run "connectome that is not HDF5" "random.h5' is not a readable HDF5 file" 2 -- "$TMP/good.ini" --set data.connectome="$TMP/random.h5"
size=$(stat -c %s "$TMP/net.h5")
head -c $((size / 2)) "$TMP/net.h5" > "$TMP/truncated.h5"
bad_run "truncated connectome" "truncated.h5" -- "$TMP/good.ini" --set data.connectome="$TMP/truncated.h5"
/usr/bin/python3 - "$TMP" <<'PY'
import shutil, sys, h5py, numpy as np
t = sys.argv[1]
for name, edit in [("nopost", lambda f: f.__delitem__("/connections/post")),
                   ("shape", lambda f: (f.__delitem__("/connections/indptr"),
                                        f.create_dataset("/connections/indptr", data=np.zeros(10, np.int64)))),
                   ("range", lambda f: f["/connections/post"].__setitem__(0, 1000))]:
    shutil.copy(f"{t}/net.h5", f"{t}/{name}.h5")
    with h5py.File(f"{t}/{name}.h5", "a") as f:
        edit(f)
PY
bad_run "connectome without /connections/post" "nopost.h5': dataset /connections/post is missing" -- "$TMP/good.ini" --set data.connectome="$TMP/nopost.h5"
bad_run "connectome with a wrongly shaped indptr" "shape.h5': /connections/indptr has 10 entries for 60 neurons" -- "$TMP/good.ini" --set data.connectome="$TMP/shape.h5"
bad_run "connection to a neuron that does not exist" "range.h5': a connection of rank 0 goes to local neuron 1000, outside 0..59" -- "$TMP/good.ini" --set data.connectome="$TMP/range.h5"
bad_run "Poisson neuron index out of range" "\[stimulus\] poisson_neurons: neuron index 60 is out of range 0..59" -- "$TMP/good.ini" --set stimulus.poisson_neurons=5,60
printf '3 1.0\n4 x\n' > "$TMP/spikes_bad.txt"
bad_run "stimulus file with a bad line" "spikes_bad.txt:2: expected 'neuron_index time_ms'" 2 -- "$TMP/good.ini" --set stimulus.spikes_file="$TMP/spikes_bad.txt"
printf '3 1.0\n400 2.0\n' > "$TMP/spikes_range.txt"
bad_run "stimulus file with a neuron out of range" "spikes_range.txt:2: neuron index 400 is out of range" -- "$TMP/good.ini" --set stimulus.spikes_file="$TMP/spikes_range.txt"
printf '720575940600000003\n720575940699999999\n' > "$TMP/roots.txt"
bad_run "neuron list with an unknown root id" "roots.txt:2: 720575940699999999 is neither a neuron index" -- "$TMP/good.ini" --set "stimulus.silence=@$TMP/roots.txt"
/usr/bin/python3 "$MK" "$TMP/two.h5" edges 2 "0 1 5"
bad_run "more ranks than neurons" "3 ranks for 2 neurons" 3 -- "$TMP/good.ini" --set data.connectome="$TMP/two.h5" --set stimulus.poisson_neurons=0
check "no temporary files left behind" test -z "$(find "$TMP/out" -name '*.tmp.*')"
