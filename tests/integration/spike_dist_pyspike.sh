#!/usr/bin/env bash
# flyfit's spike-train distances (include/flyfit/spike_dist.h, through the driver
# tests/helpers/spike_dist_cli.c) against PySpike's ISI- and SPIKE-distances, a quadrature of the van
# Rossum integral and the coincidence factor's formula on a maximum matching, to 1e-9 relative, on
# hand-made and random trains (tests/tools/spike_dist_ref.py).
source "$(dirname "$0")/../lib.sh"
if ! /usr/bin/python3 -c "import pyspike, scipy" 2>/dev/null; then
  skip "spike distances against PySpike" "python3-pyspike (or python3-scipy) is not installed (tools/install-deps.sh installs it)"; exit 0
fi
if [ ! -x "$TESTBIN/spike_dist_cli" ]; then
  fail "the driver $TESTBIN/spike_dist_cli is not built (make $TESTBIN/spike_dist_cli)"; exit 0
fi
/usr/bin/python3 "$ROOT/tests/tools/spike_dist_ref.py" "$TESTBIN/spike_dist_cli"
