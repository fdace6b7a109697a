#!/usr/bin/env bash
# A recording imported with --connectome --mapping carries its region matching (/neuropil_names):
# flyfit fits it without [data] mapping, even after the mapping file is gone; without the stored
# matching the same recording stops with "regions have no neuropil"; a [data] mapping that agrees
# gives the same fit, one that disagrees is refused naming the region, and nothing is written.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import numpy, h5py' 2>/dev/null; then
  skip "fit of an imported recording with a stored mapping" "no numpy/h5py for /usr/bin/python3"
  exit 0
fi
# a 300-neuron brain and its realistic recordings, 120 frames; their traces as a fly's .npz whose
# regions have other names: every second one is "rec_NAME", which map.txt renames back
"$BIN/flyfit-synth" --neurons 300 --seed 3 -o "$TMP/brain.h5" --activity "$TMP/synth.h5" --frames 120 \
  > /dev/null 2>&1 || { fail "flyfit-synth"; exit 1; }
$PY - "$TMP/synth.h5" "$TMP/fly.npz" "$TMP/map.txt" "$TMP/swap.txt" <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
areas = [a.decode() if isinstance(a, bytes) else a for a in f["areas"][:]]
names = [f"rec_{a}" if k % 2 == 0 else a for k, a in enumerate(areas)]
tr = f["traces"][:].astype(np.float64).T
np.savez(sys.argv[2], areas=np.array(["background"] + names), traces=np.vstack([np.ones((1, tr.shape[1])), tr]))
renamed = [(n, a) for n, a in zip(names, areas) if n != a]
open(sys.argv[3], "w").write("".join(f"{n} {a}\n" for n, a in renamed))
# the first two renamed regions swapped: a matching that disagrees with the stored one
(n0, a0), (n1, a1) = renamed[0], renamed[1]
open(sys.argv[4], "w").write(f"{n0} {a1}\n{n1} {a0}\n" + "".join(f"{n} {a}\n" for n, a in renamed[2:]))
EOF
IMP=$BIN/flyfit-import
check "import with --connectome --mapping" \
  "$IMP" activity "$TMP/fly.npz" --connectome "$TMP/brain.h5" --mapping "$TMP/map.txt" -o "$TMP/act.h5" 2>/dev/null
check "the import stores the matching itself: /neuropil_names, the neuropil of each region" $PY -c "
import sys, h5py
f = h5py.File(sys.argv[1], 'r')
s = lambda d: [x.decode() if isinstance(x, bytes) else x for x in f[d][:]]
want = [a[4:] if a.startswith('rec_') else a for a in s('areas')]
np_names = s('neuropil_names')
c = [x.decode() for x in h5py.File(sys.argv[2], 'r')['neuropils/names'][:]]
sys.exit(not (np_names == want and [c[i] for i in f['neuropil_index'][:]] == want))" "$TMP/act.h5" "$TMP/brain.h5"
"$IMP" activity "$TMP/fly.npz" -o "$TMP/plain.h5" 2>/dev/null

mv "$TMP/map.txt" "$TMP/map.kept" # the stored matching must not need the file
fit() { # name activity.h5 [--set ...]: a 1-epoch round-1 fit; stdout in name.out, stderr in name.log
  local name=$1 act=$2; shift 2
  "$BIN/flyfit" /dev/null --set data.connectome="$TMP/brain.h5" --set data.activity="$act" --set run.mode=fit \
    --set run.preset=brainscale --set run.threads=1 --set run.progress_s=0 --set preprocess.trim_frames=10 \
    --set fit.batch=8 --set fit.epochs_round1=1 --set fit.sample_ms=40 --set output.figures=false \
    --set output.dir="$TMP/$name" "$@" > "$TMP/$name.out" 2> "$TMP/$name.log"
}
if fit stored "$TMP/act.h5"; then ok "fit without [data] mapping, the mapping file gone"; else
  fail "fit without [data] mapping, the mapping file gone"; tail -3 "$TMP/stored.log" | sed 's/^/#   /'; fi
check "the log says the stored matching was used" grep -q "the matching '.*act.h5' stores" "$TMP/stored.log"
fit plain "$TMP/plain.h5"; rc=$?
check "without a stored matching the same recording stops: exit status 2 (was $rc)" test $rc -eq 2
check "... with the regions that have no neuropil" grep -q "39 regions have no neuropil: 'rec_" "$TMP/plain.log"

mv "$TMP/map.kept" "$TMP/map.txt"
check "[data] mapping that agrees with the stored matching: the fit runs" \
  fit agree "$TMP/act.h5" --set data.mapping="$TMP/map.txt"
check "... and gives the same round 1, bit for bit" bash -c "cmp -s <(grep '^fit done:' '$TMP/stored.out' | sed 's/ samples_per_s=.*//') \
  <(grep '^fit done:' '$TMP/agree.out' | sed 's/ samples_per_s=.*//') && h5diff -q '$TMP/stored/results.h5' '$TMP/agree/results.h5' /fit/round1/train_loss"
cp -r "$TMP/agree" "$TMP/agree.orig"
fit agree "$TMP/act.h5" --set data.mapping="$TMP/swap.txt"; rc=$?
check "[data] mapping that disagrees: exit status 2 (was $rc)" test $rc -eq 2
check "... the message names the region, both neuropils and the fix" \
  grep -qE "\[data\] mapping = .*swap.txt puts region 'rec_[A-Za-z0-9_]+' on '[A-Za-z0-9_]+', but '.*act.h5' stores the matching of its import, which puts it on '[A-Za-z0-9_]+': leave \[data\] mapping out" "$TMP/agree.log"
check "... and the earlier results stay as they were" h5diff -q "$TMP/agree.orig/results.h5" "$TMP/agree/results.h5"
