#!/usr/bin/env bash
# Single-neuron recordings as CSV (docs/formats.md#neuron-recordings-as-csv): flyfit-synth --neuron's HDF5
# sweeps written as CSV by tests/tools/neuron_h5_to_csv.py (an independent writer, Python's repr of every
# double) in both layouts (a sweep per column with t_ms; a sweep per line after pandas' index column, as
# brian2modelfitting's example files) fit to the same done line and fitted voltage as the HDF5 file, by the
# voltage loss and by the SPIKE-distance; damaged files get one message naming the file, line and fix.
source "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
if ! /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  skip "CSV recordings" "python3-h5py is not installed (tools/install-deps.sh installs it)"; exit 0
fi
"$BIN/flyfit-synth" --neuron hh --seed 3 --sweeps 3 --sweep-ms 60 --current 0.2:0.8 -o hh.h5 >/dev/null 2>&1 ||
  { fail "flyfit-synth --neuron hh"; exit 1; }
check "the HDF5 recording as CSV, a sweep per column" /usr/bin/python3 "$ROOT/tests/tools/neuron_h5_to_csv.py" hh.h5 c
check "... and a sweep per line (brian2modelfitting's layout)" \
  /usr/bin/python3 "$ROOT/tests/tools/neuron_h5_to_csv.py" hh.h5 r --layout rows
cat > fit.ini <<'INI'
[run]
mode = neuron
seed = 5
[data]
recording = hh.h5
[neuron]
model = hh
starts = 2
max_evals = 120
bounds = gL=0.003:0.025, gNa=8:60, gK=1.5:15, VT=-72:-42
INI
COLS=(--set data.recording=c_voltage.csv --set data.recording_current=c_current.csv --set data.recording_spikes=c_spikes.csv)
ROWS=(--set data.recording=r_voltage.csv --set data.recording_current=r_current.csv --set data.recording_spikes=r_spikes.csv
      --set data.recording_layout=rows --set data.recording_dt=0.01)
SPIKE=(--set neuron.optimizer=de --set neuron.loss=spike --set neuron.starts=8 --set neuron.max_evals=96)
fit() { # NAME NP [--set ...]
  local name=$1 np=$2; shift 2
  mpi "$np" "$BIN/flyfit" fit.ini --set output.dir="$name" "$@" >"$name.stdout" 2>"$name.log" ||
    { fail "$name: flyfit exited with $?"; tail -3 "$name.log" | sed 's/^/#   /'; return 1; }
  tail -1 "$name.stdout" >"$name.done"
}
if fit h5 1 && fit cols 1 "${COLS[@]}" && fit rows 2 "${ROWS[@]}"; then
  check "voltage loss: a sweep per column gives the HDF5 file's done line" cmp -s h5.done cols.done
  check "voltage loss: a sweep per line (2 ranks) gives it too" cmp -s h5.done rows.done
  check "... and the same fitted voltage, bit for bit" h5diff -q h5/results.h5 rows/results.h5 /neuron/fitted_voltage
  check "the log names the CSV's 3 sweeps of 6000 samples at dt 0.01 ms (from t_ms)" \
    grep -q "3 sweeps of 6000 samples (dt 0.01 ms) from c_voltage.csv" cols.log
fi
if fit sh5 1 "${SPIKE[@]}" && fit scols 1 "${SPIKE[@]}" "${COLS[@]}" && fit srows 1 "${SPIKE[@]}" "${ROWS[@]}"; then
  check "SPIKE-distance: the CSV spike times (a sweep per column) give the HDF5 file's done line" cmp -s sh5.done scols.done
  check "SPIKE-distance: a sweep per line too" cmp -s sh5.done srows.done
fi

gzip -c c_voltage.csv >cz_voltage.csv.gz && gzip -c c_current.csv >cz_current.csv.gz
if fit colsgz 1 --set data.recording=cz_voltage.csv.gz --set data.recording_current=cz_current.csv.gz; then
  check "gzipped CSV (.csv.gz) reads as the plain files" cmp -s h5.done colsgz.done
fi

# ---- damaged files ------------------------------------------------------------------------------------------
printf 't_ms,a,b\n0,-65,-64\n0.1,-64,-63\n0.2,-63,-62\n' >v.csv
printf 't_ms,a,b\n0,0,0.1\n0.1,0,0.1\n0.2,0,0.1\n' >i.csv
printf 'a,b\n0.05,\n0.15,0.1\n' >s.csv
err() { "$BIN/flyfit" fit.ini --set output.dir=bad --set data.recording=v.csv --set data.recording_current=i.csv "$@"; }
check "a small hand-written CSV recording is accepted" bash -c "'$BIN/flyfit' fit.ini --set output.dir=ok \
  --set data.recording=v.csv --set data.recording_current=i.csv --set data.recording_spikes=s.csv \
  --set neuron.max_evals=4 >/dev/null 2>&1"
printf 't_ms,a,b\n0,-65,-64\n0.1,-64\n0.2,-63,-62\n' >ragged.csv
expect_error "a ragged row" "ragged.csv':3: 2 fields, but the header has 3" err --set data.recording=ragged.csv
printf 't_ms,a,b\n0,-65,-64\n0.1,-64,nan\n0.2,-63,-62\n' >nan.csv
expect_error "a NaN" "nan.csv':3: column 3 is nan; a fit needs every value finite" err --set data.recording=nan.csv
printf 't_ms,a,b\n0,0,0\n0.1,0,0\n' >short.csv
expect_error "mismatched sweep lengths" "mismatched sweep lengths: 'v.csv' has 3 samples per sweep but 'short.csv' 2" \
  err --set data.recording_current=short.csv
printf 'a\n0\n0\n0\n' >one.csv
expect_error "different sweep counts" "'v.csv' has 2 sweeps but 'one.csv' 1" err --set data.recording_current=one.csv
expect_error "a CSV voltage without its current" "name the input current's CSV too, \[data\] recording_current" \
  err --set data.recording_current=
printf 'a,b\n-65,-64\n-64,-63\n' >nodt.csv
printf 'a,b\n0,0\n0,0\n' >nodti.csv
expect_error "no time step" "does not say its time step: set \[data\] recording_dt" \
  err --set data.recording=nodt.csv --set data.recording_current=nodti.csv
printf 't_ms,a,b\n0,-65,-64\n0.1,-64,-63\n0.25,-63,-62\n' >uneven.csv
expect_error "uneven t_ms" "uneven.csv':4: t_ms = 0.25, but the samples must lie at t = k dt" err --set data.recording=uneven.csv
printf 'a,b\n0.15,\n0.05,0.1\n' >unsorted.csv
expect_error "unsorted spike times" "unsorted.csv': sweep 1's spike times are not increasing" \
  err --set data.recording_spikes=unsorted.csv
printf 'a,b\n0.05,0.1\n0.9,\n' >late.csv
expect_error "a spike after the sweep" "late.csv': sweep 1's spike 2 at 0.9 ms is outside the sweep \[0, 0.3\] ms" \
  err --set data.recording_spikes=late.csv
printf 'a,b\n0.05,x\n' >word.csv
expect_error "a word among the spike times" "word.csv':2: column 2 is 'x', not a number" err --set data.recording_spikes=word.csv
expect_error "recording_current beside an HDF5 recording" "recording_current and recording_spikes go with a CSV recording" \
  err --set data.recording=hh.h5
check "no refused input wrote results" test ! -e bad/results.h5
