#!/usr/bin/env bash
# flyfit's event-driven simulation against tests/helpers/ref_sim.c, the slow obvious step-by-step
# simulator: identical spike trains, spike for spike, for both presets and many settings.
source "$(dirname "$0")/../lib.sh"
MK=$ROOT/tests/tools/mknet.py
/usr/bin/python3 "$MK" "$TMP/a.h5" random 300 7 30 60
/usr/bin/python3 "$MK" "$TMP/b.h5" random 120 3 60 40
printf '0 1.05\n5 3.0\n5 3.3\n17 20\n17 20.04\n40 0\n' > "$TMP/in.txt"
cat > "$TMP/base.ini" <<INI
[data]
connectome = $TMP/a.h5
[run]
duration_ms = 600
[stimulus]
poisson_neurons = 0-14
poisson_rate_hz = 200
[output]
dir = $TMP/out
INI

compare() { # description, --set arguments...
  local what=$1; shift
  rm -rf "$TMP/out"
  if ! "$BIN/flyfit" "$TMP/base.ini" "$@" >"$TMP/log" 2>&1; then fail "$what (flyfit failed)"; sed 's/^/#   /' "$TMP/log" | tail -3; return; fi
  /usr/bin/python3 "$ROOT/tests/tools/h5spikes.py" "$TMP/out/results.h5" > "$TMP/got"
  "$ROOT/build/tests/ref_sim" "$TMP/base.ini" "$@" | sort -k1,1n -k2,2n -k3,3n > "$TMP/want"
  local n; n=$(wc -l < "$TMP/want")
  if [ "$n" -lt 50 ]; then fail "$what (reference has only $n spikes: not a useful comparison)"; return; fi
  if cmp -s "$TMP/got" "$TMP/want"; then ok "$what ($n spikes identical)"; else
    fail "$what"; diff "$TMP/got" "$TMP/want" | head -4 | sed 's/^/#   /'; fi
}

compare "shiu preset, Poisson input"
compare "shiu, 3 trials, 2 threads" --set run.batch=3 --set run.threads=2
compare "shiu, file input spikes" --set stimulus.poisson_neurons= --set stimulus.spikes_file=$TMP/in.txt --set model.w_syn_mV=2
compare "shiu, silenced neurons" --set stimulus.silence=15-60
compare "shiu, driven neurons keep refractoriness, random initial state" --set stimulus.driven_refractory=true --set model.v_init_sd_mV=3 --set model.g_init_max_mV=5
compare "shiu, tau_syn = tau_m (degenerate propagator)" --set model.tau_syn_ms=20
compare "shiu, tau_syn > tau_m, no refractory period" --set model.tau_syn_ms=30 --set model.tau_ref_ms=0
compare "shiu, dense strong network" --set data.connectome=$TMP/b.h5 --set stimulus.poisson_neurons=0-4
compare "brainscale preset" --set run.preset=brainscale --set model.w_syn_mV=0.02
compare "brainscale, background input, 2 trials" --set run.preset=brainscale --set stimulus.background_weight_mV=0.5 --set model.w_syn_mV=0.03 --set run.batch=2
compare "brainscale, tau_syn = tau_m" --set run.preset=brainscale --set model.tau_syn_ms=20 --set stimulus.background_weight_mV=0.3 --set model.w_syn_mV=0.01
