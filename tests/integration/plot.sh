#!/usr/bin/env bash
# tools/flyfit-plot: every figure of a full results file (made by tests/tools/mkresults.py in the evaluation
# layout: every model in both protocols, validation curves) is a real PNG whose titles, labels and numbers
# agree with the file (tests/tools/check_plot.py reads figures.json, metrics.txt and the file); a file without
# the optional models or without a validation block draws every figure from what it has; each partial file
# skips exactly its missing figures with one note and exit status 0; P = 3 and P = 78 with 2000 frames; a
# missing, non-HDF5 or damaged file gives exit status 2; and the results files that bin/flyfit writes today
# (simulation and round-1 fit) draw without error.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import numpy, h5py, matplotlib' 2>/dev/null; then
  skip "flyfit-plot" "no numpy/h5py/matplotlib for /usr/bin/python3 (tools/install-deps.sh installs them)"
  exit 0
fi
mk() { $PY "$ROOT/tests/tools/mkresults.py" "$@"; }
cp_() { $PY "$ROOT/tests/tools/check_plot.py" "$@"; }
plot() { # NAME FILE [ARGS]: figures into $TMP/NAME, stderr into $TMP/NAME.err, exit status into $TMP/NAME.rc
  local name=$1 file=$2; shift 2
  $PY "$ROOT/tools/flyfit-plot" "$file" -o "$TMP/$name" "$@" 2> "$TMP/$name.err"
  echo $? > "$TMP/$name.rc"
}
status() { [ "$(cat "$TMP/$1.rc")" = "$2" ] || { echo "#   exit status $(cat "$TMP/$1.rc"), expected $2"; sed 's/^/#   /' "$TMP/$1.err" | head -5; false; }; }
notes() { # NAME EXPECTED-COUNT: the number of notes, the closing "N figures in DIR" line aside
  local n; n=$(grep '^flyfit-plot: ' "$TMP/$1.err" | grep -vc ' figures in '); [ "$n" -eq "$2" ] || { echo "#   $n notes, expected $2:"; sed 's/^/#   /' "$TMP/$1.err"; false; }
}
has_note() { grep -qF "flyfit-plot: $2" "$TMP/$1.err" || { echo "#   no note '$2' in:"; sed 's/^/#   /' "$TMP/$1.err"; false; }; }

SIM="raster.png population_rate.png neuropil_rates.png state.png"
FIT="losses.png fc.png raster-predict.png partition.png metrics.png forecasts-vs-controls.png"

# --- the full file, 12 neuropils, every model but shuffled; NaN where a model makes no forecast ---
mk "$TMP/full.h5"
plot full "$TMP/full.h5"
check "full file: exit status 0" status full 0
check "full file: no figure skipped" notes full 0
check "full file: every figure is a real PNG" cp_ pngs "$TMP/full" $SIM $FIT predictions-01.png
check "full file: exactly those figures" cp_ only "$TMP/full" $SIM $FIT predictions-01.png
check "full file: metrics.txt written" test -s "$TMP/full/metrics.txt"
check "every axis labelled, with its unit" cp_ labels "$TMP/full"
check "predictions: one neuropil per panel, in order, titled with the file's test r" cp_ predictions "$TMP/full" "$TMP/full.h5"
check "forecasts-vs-controls: the 4 neuropils of highest test variance, both protocols, chain and its controls" \
  cp_ forecasts "$TMP/full" "$TMP/full.h5"
check "losses: both rounds, train and validation, best epochs and kept test scores marked, loss in Hz²" \
  cp_ losses "$TMP/full" "$TMP/full.h5" mse
check "fc: the title's correlation is numpy's over the off-diagonal entries; every name on the axes" \
  cp_ fc "$TMP/full" "$TMP/full.h5"
check "partition: edge cut and imbalances in the title" cp_ partition "$TMP/full" "$TMP/full.h5"
check "metrics.txt holds the file's numbers for 10 models x 2 protocols x (test, all)" cp_ metrics "$TMP/full" "$TMP/full.h5"
check "metrics.png: test MSE (lower is better) and mean r per protocol, the file's values, headline marked" \
  cp_ metricsfig "$TMP/full" "$TMP/full.h5"

# --- the optional models missing (no gru_only, snn_only, var2, chain_gru) and no validation block ---
mk "$TMP/lean.h5" --models chain,untrained,persistence,mean,median,var1 --no-val
plot lean "$TMP/lean.h5"
check "optional models missing, no validation block: exit status 0, no notes" bash -c \
  "[ \$(cat '$TMP/lean.rc') = 0 ] && [ \$(grep -c '^flyfit-plot: ' '$TMP/lean.err') = 1 ]"
check "... every figure drawn, a real PNG" cp_ pngs "$TMP/lean" $SIM $FIT predictions-01.png
check "... forecasts-vs-controls without gru_only" cp_ forecasts "$TMP/lean" "$TMP/lean.h5"
check "... losses without validation curves, the title saying so" cp_ losses "$TMP/lean" "$TMP/lean.h5" mse
check "... metrics.txt and metrics.png hold exactly the models present" bash -c \
  "$PY '$ROOT/tests/tools/check_plot.py' metrics '$TMP/lean' '$TMP/lean.h5' && \
   $PY '$ROOT/tests/tools/check_plot.py' metricsfig '$TMP/lean' '$TMP/lean.h5'"
# no chain at all: the figures of the headline are skipped with a note, the controls still drawn
mk "$TMP/nochain.h5" --models persistence,mean,var1
plot nochain "$TMP/nochain.h5"
check "no chain in the file: exit status 0" status nochain 0
check "... notes for predictions-*.png and fc.png only" notes nochain 2
check "... the controls still compared" bash -c "$PY '$ROOT/tests/tools/check_plot.py' only '$TMP/nochain' $SIM \
  losses.png raster-predict.png partition.png metrics.png forecasts-vs-controls.png && \
  $PY '$ROOT/tests/tools/check_plot.py' forecasts '$TMP/nochain' '$TMP/nochain.h5' && \
  $PY '$ROOT/tests/tools/check_plot.py' metrics '$TMP/nochain' '$TMP/nochain.h5'"

# --- sizes: P = 3, and P = 78 over 2000 frames (the full-size case, 7 pages) ---
# P = 3, one neuropil without any prediction (NaN throughout: its pearson r is NaN too), one whose
# recorded test series is constant (outside the scored set: NaN r)
mk "$TMP/p3.h5" --neuropils 3 --frames 150 --dead-neuropil 1 --flat-neuropil 2
plot p3 "$TMP/p3.h5"
check "P = 3 with a neuropil never predicted: exit status 0" status p3 0
check "... one page of 3 panels, the dead and the flat one titled without r" cp_ predictions "$TMP/p3" "$TMP/p3.h5"
check "... forecasts-vs-controls shows all 3 neuropils" cp_ forecasts "$TMP/p3" "$TMP/p3.h5"
check "... fc names every neuropil" cp_ fc "$TMP/p3" "$TMP/p3.h5"
check "... metrics.txt writes its NaN numbers as nan" cp_ metrics "$TMP/p3" "$TMP/p3.h5"
mk "$TMP/p78.h5" --neuropils 78 --frames 2000 --shuffled
start=$(date +%s.%N)
plot p78 "$TMP/p78.h5"
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "# P = 78, 2000 frames: flyfit-plot took $secs s"
check "P = 78: exit status 0" status p78 0
check "P = 78: 7 pages of predictions, one neuropil per panel" cp_ predictions "$TMP/p78" "$TMP/p78.h5"
check "P = 78: every page a real PNG" cp_ pngs "$TMP/p78" predictions-0{1,2,3,4,5,6,7}.png fc.png $FIT
check "P = 78 with the shuffled connectome: forecasts and metrics.png show it" bash -c \
  "$PY '$ROOT/tests/tools/check_plot.py' forecasts '$TMP/p78' '$TMP/p78.h5' && \
   $PY '$ROOT/tests/tools/check_plot.py' metricsfig '$TMP/p78' '$TMP/p78.h5' && \
   $PY '$ROOT/tests/tools/check_plot.py' metrics '$TMP/p78' '$TMP/p78.h5'"
check "P = 78: fc names a readable subset of the neuropils" cp_ fc "$TMP/p78" "$TMP/p78.h5"
check "P = 78: every axis labelled, with its unit" cp_ labels "$TMP/p78"
check "P = 78: done in under 60 s ($secs s)" test "$(echo "$secs < 60" | bc)" = 1
# a smaller file drawn into the same directory leaves no pages of the larger one behind
plot p78 "$TMP/p3.h5"
check "stale prediction pages of an earlier file are removed" \
  bash -c "[ \$(ls '$TMP/p78' | grep -c '^predictions-') = 1 ]"

# --- partial files: each missing section skips its figures with one note each, exit status 0 ---
mk "$TMP/nopredict.h5" --no-predict
plot nopredict "$TMP/nopredict.h5"
check "no /predict: exit status 0" status nopredict 0
check "no /predict: the note for predictions-*.png" has_note nopredict "no /predict section; predictions-*.png skipped"
check "no /predict: one note each for predictions, forecasts-vs-controls, fc, raster-predict, metrics" notes nopredict 5
check "no /predict: the other figures drawn" cp_ only "$TMP/nopredict" $SIM losses.png partition.png
check "no /predict: no metrics.txt" test ! -e "$TMP/nopredict/metrics.txt"

mk "$TMP/partial.h5" --no-round2 --no-partition --empty-raster --loss mae
plot partial "$TMP/partial.h5"
check "no round 2, no partition report, an empty raster: exit status 0" status partial 0
check "... one note each, and no others" notes partial 3
check "... no round 2: its note" has_note partial "no /fit/round2 section; losses.png shows round 1 only"
check "... no round 2: losses.png shows round 1, its mae loss in Hz" cp_ losses "$TMP/partial" "$TMP/partial.h5" mae
check "... no partition report: its note" has_note partial "no /partition_report section; partition.png skipped"
check "... empty /predict/raster: its note" has_note partial "/predict/raster holds no spikes; raster-predict.png skipped"
check "... the other figures drawn" cp_ only "$TMP/partial" $SIM losses.png fc.png metrics.png predictions-01.png \
  forecasts-vs-controls.png
check "... real PNGs" cp_ pngs "$TMP/partial" $SIM losses.png fc.png metrics.png predictions-01.png forecasts-vs-controls.png

mk "$TMP/sim.h5" --sim-only
plot sim "$TMP/sim.h5"
check "simulation sections only: exit status 0" status sim 0
check "simulation sections only: notes for predictions, forecasts, losses, fc, raster-predict, partition, metrics" notes sim 7
check "simulation sections only: the simulation figures" cp_ only "$TMP/sim" $SIM
plot simq "$TMP/sim.h5" --quiet
check "--quiet: no notes for the missing sections, the same figures" bash -c "[ \$(cat '$TMP/simq.rc') = 0 ] && \
  ! grep -q 'section;' '$TMP/simq.err' && $PY '$ROOT/tests/tools/check_plot.py' only '$TMP/simq' $SIM"
check "simulation sections only: real PNGs, labelled" bash -c "$PY '$ROOT/tests/tools/check_plot.py' pngs '$TMP/sim' $SIM && \
  $PY '$ROOT/tests/tools/check_plot.py' labels '$TMP/sim'"

# --- bad input: exit status 2 with a clear message ---
mk "$TMP/badshape.h5" --bad-shape
plot badshape "$TMP/badshape.h5"
check "a /predict/forecast/chain/free of the wrong shape: exit status 2" status badshape 2
check "... the message names the dataset and both shapes" \
  grep -qE '/predict/forecast/chain/free has shape \(299, 12\), the recording \(300, 12\)' "$TMP/badshape.err"
check "... and the other figures are still drawn" cp_ pngs "$TMP/badshape" $SIM losses.png fc.png raster-predict.png \
  partition.png metrics.png
echo "not an HDF5 file" > "$TMP/text.h5"
plot text "$TMP/text.h5"
check "a file that is not HDF5: exit status 2" status text 2
check "... message names the file" grep -qF "text.h5 is not a readable HDF5 file" "$TMP/text.err"
plot missing "$TMP/no-such.h5"
check "a missing file: exit status 2" status missing 2
check "... message names the file" grep -qF "no-such.h5: no such file" "$TMP/missing.err"
$PY "$ROOT/tools/flyfit-plot" "$TMP/full.h5" > /dev/null 2>&1
check "no -o: exit status 1 (bad command line)" test $? -eq 1
plot trial "$TMP/full.h5" --trial 2
check "--trial beyond the file's trials: exit status 1, naming them" bash -c "[ \$(cat '$TMP/trial.rc') = 1 ] && \
  grep -qF -- '--trial 2: $TMP/full.h5 holds trials 0 to 1' '$TMP/trial.err'"
$PY "$ROOT/tools/flyfit-plot" --help > "$TMP/help.txt" 2>&1
check "--help names every figure" bash -c "for x in $SIM $FIT predictions-NN.png metrics.txt figures.json; do \
  grep -qF \"\${x%.png}\" '$TMP/help.txt' || { echo \"#   --help lacks \$x\"; exit 1; }; done"

# --- the files bin/flyfit writes today: a simulation and a round-1 fit ---
fit_fixture --neurons 300 --sample-ms 40 3 40 preprocess.trim_frames=5 fit.batch=4 fit.epochs_round1=3 \
  "output.dir=$TMP/fit"
"$BIN/flyfit" "$TMP/fit.ini" > "$TMP/fit.log" 2>&1 || fail "flyfit mode = fit"
plot realfit "$TMP/fit/results.h5"
check "a real round-1 fit: exit status 0" status realfit 0
check "... losses.png, round 1, best epoch marked" bash -c "$PY '$ROOT/tests/tools/check_plot.py' pngs '$TMP/realfit' losses.png && \
  $PY '$ROOT/tests/tools/check_plot.py' losses '$TMP/realfit' '$TMP/fit/results.h5' && \
  $PY '$ROOT/tests/tools/check_plot.py' labels '$TMP/realfit'"
"$BIN/flyfit" "$TMP/fit.ini" --set run.mode=simulate --set run.duration_ms=200 --set run.batch=2 \
  --set stimulus.poisson_neurons=0-20 --set output.state_neurons=1,2 --set output.dir="$TMP/sim-run" \
  > "$TMP/sim-run.log" 2>&1 || fail "flyfit mode = simulate"
plot realsim "$TMP/sim-run/results.h5" --trial 1
check "a real simulation: exit status 0" status realsim 0
check "... raster, population rate and state, labelled" bash -c "$PY '$ROOT/tests/tools/check_plot.py' pngs '$TMP/realsim' \
  raster.png population_rate.png state.png && $PY '$ROOT/tests/tools/check_plot.py' labels '$TMP/realsim'"
