# Shared helpers for the integration tests (sourced). Each check prints one TAP line:
# "ok - what" or "not ok - what", which tests/run.sh counts.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
TMP=$(mktemp -d "${TMPDIR:-/tmp}/flyfit-test.XXXXXX")
# KEEP_TMP=1 keeps the scratch directory for a look after a failure
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$TMP"' EXIT
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Quiet Open MPI on machines without a high-speed network.
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; }
skip() { echo "ok - $1 # SKIP $2"; }
check() { # description, command...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
# mpirun with NP ranks, quiet and bound to nothing (ranks may exceed cores).
mpi() { local np=$1; shift; mpirun -np "$np" --bind-to none "$@"; }
# expect_error DESCRIPTION PATTERN COMMAND...: the command must fail (nonzero) and its stderr must
# match the extended regex PATTERN.
expect_error() {
  local what=$1 pat=$2; shift 2
  local err=$TMP/stderr.$$ rc
  "$@" >/dev/null 2>"$err"; rc=$?
  if [ $rc -eq 0 ]; then fail "$what (exit status 0, expected failure)"; return; fi
  if grep -qE -- "$pat" "$err"; then ok "$what"; else
    fail "$what (message did not match /$pat/)"; sed 's/^/#   /' "$err" | head -5
  fi
}
