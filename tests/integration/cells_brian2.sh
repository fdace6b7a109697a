#!/usr/bin/env bash
# mode = cells' STDP pair rule (ff_stdp_pair, include/flyfit/cells.h, through the driver tests/helpers/cells_stdp.c)
# against Brian2's STDP example on a small network (6 inputs onto 4 cells, every pair plastic, coincident spikes
# planted): all-to-all at the reference's defaults, clipped at both bounds, Brian2's own constants, and
# nearest-neighbour; every weight within 1e-9 (tests/tools/brian2_stdp.py).
source "$(dirname "$0")/../lib.sh"
if ! /usr/bin/python3 -c "import brian2" 2>/dev/null; then
  skip "STDP against Brian2" "python3-brian is not installed (tools/install-deps.sh installs it)"; exit 0
fi
if [ ! -x "$TESTBIN/cells_stdp" ]; then
  fail "the driver $TESTBIN/cells_stdp is not built (make $TESTBIN/cells_stdp)"; exit 0
fi
/usr/bin/python3 "$ROOT/tests/tools/brian2_stdp.py" "$TESTBIN/cells_stdp" 2>"$TMP/brian2.log" \
  || { fail "tests/tools/brian2_stdp.py exited with $?"; grep -v Warning "$TMP/brian2.log" | tail -5 | sed 's/^/#   /'; }
