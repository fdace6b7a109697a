#!/usr/bin/env bash
# flyfit's Hodgkin-Huxley neuron (include/flyfit/neuron_models.h, through the driver
# tests/helpers/neuron_sim.c) against Brian2's exponential Euler on the model of brian2modelfitting's HH
# examples, five current steps: v within 1e-6 mV at every step and the same spikes
# (tests/tools/brian2_hh.py).
source "$(dirname "$0")/../lib.sh"
if ! /usr/bin/python3 -c "import brian2" 2>/dev/null; then
  skip "HH against Brian2" "python3-brian is not installed (tools/install-deps.sh installs it)"; exit 0
fi
if [ ! -x "$TESTBIN/neuron_sim" ]; then
  fail "the driver $TESTBIN/neuron_sim is not built (make $TESTBIN/neuron_sim)"; exit 0
fi
/usr/bin/python3 "$ROOT/tests/tools/brian2_hh.py" "$TESTBIN/neuron_sim" 2>"$TMP/brian2.log" \
  || { fail "tests/tools/brian2_hh.py exited with $?"; grep -v Warning "$TMP/brian2.log" | tail -5 | sed 's/^/#   /'; }
