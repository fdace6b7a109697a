#!/usr/bin/env bash
# Izhikevich and AdEx from spike times (issue 19): differential evolution on the SPIKE-distance, 10^4
# evaluations, recovers the planted parameters within 5% from four 2 s sweeps of OU current, and the fitted
# cell's coincidence factor on four HELD-OUT sweeps (another OU seed, never seen by the fit) is above 0.86.
# The held-out Γ is flyfit's own gamma loss at the fitted point (bounds low = high). About 60 s on 2 cores.
source "$(dirname "$0")/../lib.sh"
cd "$TMP" || exit 1
cat > fit.ini <<'INI'
[run]
mode = neuron
seed = 2
[neuron]
loss = spike
optimizer = de
starts = 40
max_evals = 10000
INI
within() { # DONE NAME PLANTED PERCENT
  awk -v n="$2" -v t="$3" -v pc="$4" '{ for (i = 1; i <= NF; ++i) if (index($i, n "=") == 1) {
      v = substr($i, length(n) + 2); e = (v - t) / (t < 0 ? -t : t) * 100; printf "#   %s = %s (planted %s, %+.3f%%)\n", n, v, t, e
      ok = (e < 0 ? -e : e) <= pc } } END { exit !ok }' "$1"
}
heldout_gamma() { # MODEL DONE RECORDING: Γ of the fitted cell on RECORDING > 0.86
  local b
  b=$(tail -1 "$2" | tr ' ' '\n' | grep = | grep -vE '^(model|loss|evals|unidentifiable)=' | sed 's/=\(.*\)/=\1:\1/' | paste -sd, -)
  "$BIN/flyfit" fit.ini --set data.recording="$3" --set neuron.model="$1" --set neuron.loss=gamma \
    --set neuron.starts=4 --set neuron.max_evals=8 --set "neuron.bounds=$b" --set output.dir="ho_$1" >/dev/null 2>&1 &&
    awk '/best member/ { for (i = 1; i <= NF; ++i) if ($i == "loss") { l = $(i + 1); sub(",", "", l) } }
      END { printf "#   held-out coincidence factor %.6f\n", 1 - l; exit !(1 - l > 0.86) }' "ho_$1/flyfit.log"
}
run_model() { # MODEL PARAMS BOUNDS PLANTED...
  local m=$1 params=$2 bounds=$3; shift 3
  "$BIN/flyfit-synth" --neuron "$m" --stimulus ou --sweeps 4 --sweep-ms 2000 --seed 4 ${params:+--params "$params"} \
    -o "${m}_train.h5" >/dev/null 2>&1 &&
    "$BIN/flyfit-synth" --neuron "$m" --stimulus ou --sweeps 4 --sweep-ms 2000 --seed 5 ${params:+--params "$params"} \
      -o "${m}_heldout.h5" >/dev/null 2>&1 || { fail "flyfit-synth --neuron $m --stimulus ou"; return; }
  if mpi 2 "$BIN/flyfit" fit.ini --set data.recording="${m}_train.h5" --set neuron.model="$m" \
       --set "neuron.bounds=$bounds" --set output.dir="$m" >"$m.stdout" 2>"$m.log"; then
    tail -1 "$m.stdout" >"$m.done"
    check "$m: 10^4 evaluations (the done line)" grep -qE "^neuron done: model=$m loss=spike evals=10000 " "$m.done"
    for pv in "$@"; do
      check "$m from spike times: ${pv%%:*} within 5% of ${pv#*:}" within "$m.done" "${pv%%:*}" "${pv#*:}" 5
    done
    check "$m: coincidence factor on held-out sweeps > 0.86" heldout_gamma "$m" "$m.done" "${m}_heldout.h5"
  else
    fail "the $m fit exited with an error"; tail -3 "$m.log" | sed 's/^/#   /'
  fi
}
run_model izhikevich "a=0.03,d=6" "a=0.005:0.1, b=0.1:0.3, c=-70:-50, d=2:10" a:0.03 b:0.2 c:-65 d:6
run_model adex "" "a=1:10, tau_w=50:300, b=20:200, V_r=-75:-55" a:4 tau_w:144 b:80.5 V_r:-70.6
