#!/usr/bin/env bash
# Single-neuron responses, exact arrival D steps later, refractoriness of both presets and a
# hand-computed chain, against closed-form answers (tests/tools/check_closed_form.py).
source "$(dirname "$0")/../lib.sh"
MK=$ROOT/tests/tools/mknet.py
/usr/bin/python3 "$MK" "$TMP/two.h5" edges 4 "0 1 3; 0 2 200"
/usr/bin/python3 "$MK" "$TMP/two_bs.h5" edges 4 "0 1 3; 0 2 500"
/usr/bin/python3 "$MK" "$TMP/chain.h5" edges 4 "0 1 200; 1 2 200; 2 3 200"
printf '0 1.05\n0 5.95\n' > "$TMP/in_shiu.txt"
printf '0 2.1\n0 8.0\n' > "$TMP/in_bs.txt"   # steps 10 and 40 at dt 0.2 ms
printf '0 1.05\n' > "$TMP/in_chain.txt"
run() { # name connectome input [--set ...]
  local name=$1 net=$2 input=$3; shift 3
  cat > "$TMP/$name.ini" <<INI
[data]
connectome = $TMP/$net
[run]
duration_ms = 80
[stimulus]
spikes_file = $TMP/$input
[output]
dir = $TMP/$name
state_neurons = 1, 2
INI
  "$BIN/flyfit" "$TMP/$name.ini" "$@" >"$TMP/$name.log" 2>&1 || { fail "$name: flyfit failed"; cat "$TMP/$name.log"; }
}
run shiu two.h5 in_shiu.txt
run bs two_bs.h5 in_bs.txt --set run.preset=brainscale --set model.w_syn_mV=0.02 --set run.duration_ms=120 \
  --set model.v_init_sd_mV=0 --set model.g_init_max_mV=0
run chain chain.h5 in_chain.txt
/usr/bin/python3 "$ROOT/tests/tools/check_closed_form.py" "$TMP/shiu/results.h5" "$TMP/bs/results.h5" "$TMP/chain/results.h5"
