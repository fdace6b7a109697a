#!/usr/bin/env bash
# [run] mode = cells (docs/design.md §2.10): flyfit-synth --cells writes a planted recording with /truth; a config
# naming only the mode and the recording runs at the defaults and ends with the "cells done:" line, whose AUCs
# and E/I accuracy must clear the issue's bars on a small planted network (STDP above 0.7 and within 0.03 of the
# best baseline; E/I 10 points above the majority); 1, 2, 3 and 4 ranks give the same line and results.h5 bit for
# bit (and 1 and 3 ranks with the nearest-neighbour rule, random placement, two passes), every matrix split by rows
# over the ranks; above partial_max_cells the partial correlation is skipped; with coupling_mV the driven neurons
# form a network through the learned weights, its spikes crossing the ranks every step; flyfit-import cells reads
# npz, CSV and HDF5 into the same recording; bad input (a NaN, too few frames, an
# unknown layout, a missing member) stops with exit status 2 and a message naming the file and the fix.
source "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
# ---- flyfit-synth --cells ---------------------------------------------------------------------------------
check "flyfit-synth --cells writes a planted recording" \
  bash -c "'$BIN/flyfit-synth' --cells 120 --seconds 150 --ensembles 4 --seed 7 -o cells.h5 >synth.log 2>&1"
shapes_ok() { h5dump -H cells.h5 | grep -q "( 120, 4500 )" && h5dump -H -d /truth/weights cells.h5 | grep -q "( 120, 120 )"; }
check "/cells/fluorescence is 120 cells x 4,500 frames (30 Hz), /truth/weights 120 x 120" shapes_ok
types_ok() { [ "$(h5dump -d /truth/excitatory cells.h5 | grep -o '\b1\b' | wc -l)" -eq 96 ]; }
check "96 of the 120 cells are excitatory (80%)" types_ok
check "the same seed gives the same file" bash -c "'$BIN/flyfit-synth' --cells 120 --seconds 150 --ensembles 4 --seed 7 \
  -o again.h5 >/dev/null 2>&1 && h5diff -q cells.h5 again.h5 /cells && h5diff -q cells.h5 again.h5 /truth"
expect_error "--seconds without --cells" "--seconds is an option of --cells" "$BIN/flyfit-synth" --seconds 10 -o x.h5

# ---- the run at the defaults ----------------------------------------------------------------------------------
printf '[run]\nmode = cells\n[data]\nrecording = cells.h5\n' >run.ini
run_np() { # NP: stdout's last line in npNP.done, results in npNP/
  mpi "$1" "$BIN/flyfit" run.ini --set output.dir="np$1" --set output.figures=false >"np$1.stdout" 2>"np$1.log" ||
    { fail "$1 ranks: flyfit exited with $?"; tail -3 "np$1.log" | sed 's/^/#   /'; return 1; }
  tail -1 "np$1.stdout" >"np$1.done"
}
field() { grep -o "$2=[^ ]*" "$1" | cut -d= -f2; }
if run_np 1; then
  sed 's/^/#   /' np1.done
  check "the last line is 'cells done: auc_stdp=.. auc_corr=.. auc_partial=.. auc_xcorr=.. auc_best_baseline=.. ei_acc=.. ei_majority=..'" \
    grep -qE '^cells done: auc_stdp=[0-9.]+ auc_corr=[0-9.]+ auc_partial=[0-9.]+ auc_xcorr=[0-9.]+ auc_best_baseline=[0-9.]+ ei_acc=[0-9.]+ ei_majority=[0-9.]+$' np1.done
  check "STDP finds connections: AUC >= 0.7" awk -v a="$(field np1.done auc_stdp)" 'BEGIN { exit !(a >= 0.7) }'
  check "STDP within 0.03 of the best baseline" \
    awk -v a="$(field np1.done auc_stdp)" -v b="$(field np1.done auc_best_baseline)" 'BEGIN { exit !(a >= b - 0.03) }'
  check "E/I classification beats the majority class by 10 points" \
    awk -v a="$(field np1.done ei_acc)" -v b="$(field np1.done ei_majority)" 'BEGIN { exit !(a >= b + 0.10) }'
  check "run.json holds the done pairs" grep -q '"cells.auc_stdp": ' np1/run.json
  check "results.h5 holds the matrices, ROC curves and the confusion table" bash -c "h5dump -H -d /cells/weights \
    -d /cells/corr -d /cells/partial -d /cells/xcorr -d /cells/roc/stdp/fpr -d /cells/ei_confusion np1/results.h5 >/dev/null"
  auc_ok() { # the AUC of results.h5 recomputed by numpy from the stored matrix and truth
    /usr/bin/python3 - np1/results.h5 "$(field np1.done auc_stdp)" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r'); w = f['/cells/weights'][:]; t = f['/cells/truth/weights'][:] != 0
off = ~np.eye(len(w), dtype=bool); s = w[off]; y = t[off]
pos, neg = s[y], s[~y]
order = np.sort(neg)
wins = np.searchsorted(order, pos, 'left').sum() + 0.5 * (np.searchsorted(order, pos, 'right') - np.searchsorted(order, pos, 'left')).sum()
auc = wins / (len(pos) * len(neg))
print(f"#   AUC by numpy {auc:.6f}, by flyfit {sys.argv[2]}")
sys.exit(0 if abs(auc - float(sys.argv[2])) < 6e-5 else 1)
PY
  }
  check "the STDP AUC equals numpy's Mann-Whitney count on the stored matrix" auc_ok
  check "tools/flyfit-plot draws cells-matrix.png and cells-roc.png" bash -c "/usr/bin/python3 '$ROOT/tools/flyfit-plot' \
    np1/results.h5 -o fig --quiet 2>/dev/null && test -s fig/cells-matrix.png && test -s fig/cells-roc.png"
  for np in 2 3 4; do
    if run_np "$np"; then
      check "$np ranks: the done line of 1 rank" cmp -s np1.done "np$np.done"
      check "$np ranks: results.h5 /cells of 1 rank, bit for bit" h5diff -q np1/results.h5 "np$np/results.h5" /cells
    fi
  done
  check "4 ranks: every matrix split by rows (rank 0 holds 30 of the 120)" grep -q "rank 0 holds 30 of 120" np4.log
  # above [cells] partial_max_cells the partial correlation is skipped (NaN, no matrix); the rest is unchanged
  if mpi 2 "$BIN/flyfit" run.ini --set output.dir=nopart --set output.figures=false --set cells.partial_max_cells=100 \
       >nopart.stdout 2>nopart.log; then
    tail -1 nopart.stdout >nopart.done
    check "partial_max_cells below the cells: auc_partial=nan, the other AUCs as before" bash -c "grep -q 'auc_partial=nan' \
      nopart.done && [ \"\$(sed 's/auc_partial=[^ ]*//' nopart.done)\" = \"\$(sed 's/auc_partial=[^ ]*//' np1.done)\" ]"
    check "... no /cells/partial in results.h5, the log saying why" bash -c "! h5dump -H -d /cells/partial nopart/results.h5 \
      >/dev/null 2>&1 && grep -q 'partial correlation is skipped: 120 cells are more than \[cells\] partial_max_cells = 100' nopart.log"
  else
    fail "partial_max_cells = 100: flyfit exited with an error"; tail -3 nopart.log | sed 's/^/#   /'
  fi
  # currents through the learned weights ([cells] coupling_mV): the network machinery (every step's spikes across
  # the ranks, the weights transposed to their postsynaptic ranks) at a coupling too weak to move a potential by
  # one ulp gives the uncoupled results bit for bit; at 4 mV with two passes (weights learned in pass 1 carry
  # the currents of pass 2) 1, 2 and 3 ranks agree bit for bit, and the trains are not the uncoupled ones (a
  # shorter recording: every 0.5 ms step is an exchange, slow for ranks sharing a core)
  if mpi 2 "$BIN/flyfit" run.ini --set output.dir=tiny --set output.figures=false --set cells.coupling_mV=1e-30 \
       >tiny.stdout 2>tiny.log; then
    check "coupling_mV = 1e-30 on 2 ranks: 1 uncoupled rank's results.h5 bit for bit" h5diff -q np1/results.h5 tiny/results.h5 /cells
  else
    fail "coupling_mV = 1e-30: flyfit exited with an error"; tail -3 tiny.log | sed 's/^/#   /'
  fi
  coupled=(--set data.recording=net.h5 --set cells.coupling_mV=4 --set cells.passes=2 --set cells.types=truth
           --set output.figures=false)
  if "$BIN/flyfit-synth" --cells 40 --seconds 12 --ensembles 2 --seed 3 -o net.h5 >/dev/null 2>&1 &&
     mpi 1 "$BIN/flyfit" run.ini --set output.dir=k1 "${coupled[@]}" >k1.stdout 2>k1.log &&
     mpi 2 "$BIN/flyfit" run.ini --set output.dir=k2 "${coupled[@]}" >k2.stdout 2>k2.log &&
     mpi 3 "$BIN/flyfit" run.ini --set output.dir=k3 "${coupled[@]}" >k3.stdout 2>k3.log &&
     mpi 1 "$BIN/flyfit" run.ini --set output.dir=u1 --set data.recording=net.h5 --set cells.passes=2 \
       --set cells.types=truth --set output.figures=false >u1.stdout 2>u1.log; then
    check "coupling_mV = 4, 2 passes, planted types: 2 and 3 ranks give 1 rank's results.h5 bit for bit" \
      bash -c "h5diff -q k1/results.h5 k2/results.h5 /cells && h5diff -q k1/results.h5 k3/results.h5 /cells"
    spikes() { grep -o '[0-9]* model spikes' "$1" | cut -d' ' -f1; }
    check "... and the coupled network's spikes differ from the uncoupled ones' ($(spikes k1/flyfit.log) against $(spikes u1/flyfit.log))" \
      bash -c "[ '$(spikes k1/flyfit.log)' != '$(spikes u1/flyfit.log)' ] && ! h5diff -q k1/results.h5 u1/results.h5 /cells/weights"
  else
    fail "coupling_mV = 4: flyfit exited with an error"; tail -3 k1.log k2.log k3.log u1.log | sed 's/^/#   /'
  fi
  # the other rule and random placement (Philox keyed by cell, frame and pass), two passes: 1 and 3 ranks alike
  other=(--set cells.rule=nearest --set cells.placement=random --set cells.passes=2 --set output.figures=false)
  if mpi 1 "$BIN/flyfit" run.ini --set output.dir=o1 "${other[@]}" >o1.stdout 2>o1.log &&
     mpi 3 "$BIN/flyfit" run.ini --set output.dir=o3 "${other[@]}" >o3.stdout 2>o3.log; then
    check "nearest-neighbour, random placement, 2 passes: 3 ranks give 1 rank's results.h5 bit for bit" \
      bash -c "h5diff -q o1/results.h5 o3/results.h5 /cells && ! h5diff -q o1/results.h5 np1/results.h5 /cells/weights"
  else
    fail "nearest-neighbour, random placement: flyfit exited with an error"; tail -3 o1.log o3.log | sed 's/^/#   /'
  fi
fi

# ---- flyfit-import cells ------------------------------------------------------------------------------------
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
F = h5py.File('cells.h5', 'r')['/cells/fluorescence'][:40, :600]
np.savez('small.npz', F=F, fs=np.array(30.0))
np.savetxt('small.csv', F, delimiter=',', fmt='%.17g')
with h5py.File('small.h5', 'w') as f:
    d = f.create_dataset('F', data=F.T); d.attrs['fs_hz'] = 30.0
bad = F.copy(); bad[3, 17] = np.nan
np.savez('nan.npz', F=bad, fs=np.array(30.0))
np.savez('short.npz', F=F[:, :20], fs=np.array(30.0))
np.savez('nokey.npz', traces=F, fs=np.array(30.0))
PY
imp() { "$BIN/flyfit-import" cells "$@" >/dev/null 2>&1; }
check "flyfit-import cells reads an .npz (member F, fs)" imp small.npz -o from-npz.h5
check "... a CSV with --fs-hz" imp small.csv --fs-hz 30 -o from-csv.h5
check "... an HDF5 file of frames x cells with --transpose" imp small.h5 --transpose -o from-h5.h5
check "the three give the same recording" bash -c "h5diff -q from-npz.h5 from-csv.h5 /cells/fluorescence && \
  h5diff -q from-npz.h5 from-h5.h5 /cells/fluorescence && h5diff -q from-npz.h5 from-h5.h5 /cells/deconvolved"
check "... and it holds the deconvolved spikes" bash -c "h5dump -H -d /cells/deconvolved from-npz.h5 | grep -q '( 40, 600 )'"
status_is() { # STATUS PATTERN COMMAND...: exit status and message
  local want=$1 pat=$2; shift 2
  "$@" >/dev/null 2>"$TMP/err"; local rc=$?
  [ "$rc" -eq "$want" ] && grep -qE -- "$pat" "$TMP/err" || { sed 's/^/#   /' "$TMP/err" | head -3; echo "#   exit $rc"; return 1; }
}
check "a cell with NaN: exit 2, naming file, cell and frame" status_is 2 "'nan.npz': cell 3 has a non-finite value \(nan\) at frame 17" \
  "$BIN/flyfit-import" cells nan.npz -o x.h5
check "too few frames: exit 2, naming the counts and the fix" \
  status_is 2 "'short.npz': 20 frames, fewer than the deconvolution needs \(63.*record longer" "$BIN/flyfit-import" cells short.npz -o x.h5
check "an unknown layout: exit 2, naming the formats" status_is 2 "'small.txt': unknown file layout: .*reads .npz" \
  bash -c "cp small.csv small.txt && '$BIN/flyfit-import' cells small.txt -o x.h5"
check "an .npz without F: exit 2, listing its members and --key" status_is 2 "has no member 'F'.*--key" \
  "$BIN/flyfit-import" cells nokey.npz -o x.h5
check "a CSV without a frame rate: exit 2" status_is 2 "no frame rate: give --fs-hz" "$BIN/flyfit-import" cells small.csv -o x.h5
# the run refuses the same recordings
/usr/bin/python3 -c "
import h5py, numpy as np
for name, cut, nan in (('run-nan.h5', 600, True), ('run-short.h5', 20, False)):
    with h5py.File(name, 'w') as f:
        F = h5py.File('cells.h5', 'r')['/cells/fluorescence'][:10, :cut].copy()
        if nan: F[4, 99] = np.inf
        f.create_dataset('/cells/fluorescence', data=F); f.attrs['fs_hz'] = 30.0
"
check "mode = cells on a recording with Inf: exit 2, naming it" status_is 2 "recording: 'run-nan.h5': cell 4 has a non-finite value \(inf\) at frame 99" \
  "$BIN/flyfit" run.ini --set data.recording=run-nan.h5 --set output.dir=bad
check "mode = cells on a short recording: exit 2" status_is 2 "'run-short.h5': 20 frames, fewer than the deconvolution needs" \
  "$BIN/flyfit" run.ini --set data.recording=run-short.h5 --set output.dir=bad
check "mode = cells on a file that is not a cells recording: exit 2" status_is 2 "has no /cells/fluorescence: not a cells recording" \
  "$BIN/flyfit" run.ini --set data.recording=small.h5 --set output.dir=bad
check "mode = cells without [data] recording: exit 2" status_is 2 "mode = cells needs \[data\] recording" \
  "$BIN/flyfit" run.ini --set data.recording= --set output.dir=bad
check "types = truth without /truth: exit 2" status_is 2 "types = truth needs the recording's /truth" \
  "$BIN/flyfit" run.ini --set data.recording=from-npz.h5 --set cells.types=truth --set output.dir=bad
check "a bad input wrote nothing" test ! -e bad/results.h5
if [ -s np1/results.h5 ]; then
  cp np1/results.h5 np1-before.h5
  check "a bad input into an earlier run's directory: exit 2" status_is 2 "cell 4 has a non-finite value" \
    "$BIN/flyfit" run.ini --set data.recording=run-nan.h5 --set output.dir=np1
  check "... and its results.h5 is left as it was" cmp -s np1/results.h5 np1-before.h5
fi
# a recording without /truth: connectivity and features, nothing scored (NaN), no error
check "an imported recording without /truth runs, its scores NaN" bash -c "'$BIN/flyfit' run.ini --set data.recording=from-npz.h5 \
  --set output.dir=notruth --set output.figures=false 2>/dev/null | tail -1 | grep -q '^cells done: auc_stdp=nan .* ei_acc=nan' && \
  h5dump -H -d /cells/weights notruth/results.h5 | grep -q '( 40, 40 )'"
