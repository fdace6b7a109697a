#!/usr/bin/env bash
# Single-neuron fitting (docs/design.md §2.9.4-2.9.5): flyfit-synth --neuron writes planted sweeps with
# /truth.
source "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
synth() { "$BIN/flyfit-synth" "$@" >/dev/null 2>&1; }
# ---- flyfit-synth --neuron ------------------------------------------------------------------------------
check "flyfit-synth --neuron hh writes a recording" \
  synth --neuron hh --seed 3 --sweeps 3 --sweep-ms 60 --current 0.2:0.8 --noise-mv 1 -o hh.h5
truth_is() { # FILE VALUES: /truth/values as h5dump prints them
  h5dump -d /truth/values "$1" | grep -q "(0): $2"
}
check "/truth holds the Brian2 example's HH values" truth_is hh.h5 "0.008364, 24.698, 5.815, -55.31, 50, -90, -65, 0.2"
shapes_ok() { h5dump -H -d /sweeps/voltage hh.h5 | grep -q "( 3, 6000 )" && h5dump -H -d /sweeps/current hh.h5 | grep -q "( 3, 6000 )"; }
check "3 sweeps of 6,000 samples, current and voltage" shapes_ok
spikes_ok() { h5dump -d /sweeps/spike_indptr hh.h5 | grep -qE "\(0\): 0, [0-9]+, [0-9]+, [1-9][0-9]*"; }
check "the sweeps spike" spikes_ok
check "--params plants other values" synth --neuron hh --params "gL=0.01, VT=-56" -o hh2.h5
check "... and /truth says so" truth_is hh2.h5 "0.01, 24.698, 5.815, -56,"
check "the same seed gives the same file" bash -c "'$BIN/flyfit-synth' --neuron hh --seed 3 --sweeps 3 --sweep-ms 60 \
  --current 0.2:0.8 -o again.h5 >/dev/null 2>&1 && h5diff -q hh.h5 again.h5 /sweeps"
for m in gif izhikevich adex; do
  check "flyfit-synth --neuron $m" synth --neuron "$m" --sweeps 2 --sweep-ms 100 -o "$m.h5"
done
expect_error "--params with an unknown name is refused, listing the model's" "no parameter 'gX' \(its parameters: gL gNa" \
  "$BIN/flyfit-synth" --neuron hh --params gX=1 -o bad.h5
expect_error "--neuron with an unknown model" "--neuron 'lif'" "$BIN/flyfit-synth" --neuron lif -o bad.h5
expect_error "a --neuron option without --neuron" "--sweeps is an option of --neuron" "$BIN/flyfit-synth" --sweeps 2 -o bad.h5
