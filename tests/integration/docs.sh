#!/usr/bin/env bash
# The configuration reference (docs/config.md) is the one the program prints (so it cannot drift), every
# program answers --help, and every repository file the README and jobs/ name exists.
source "$(dirname "$0")/../lib.sh"
"$ROOT/tools/gen-config-doc" "$BIN/flyfit" > "$TMP/config.md"
check "docs/config.md is current (make docs)" cmp -s "$TMP/config.md" "$ROOT/docs/config.md"
quiet() { "$@" >/dev/null 2>&1; }
for p in "flyfit" "flyfit-import" "flyfit-synth" "flyfit-partition"; do
  check "$p --help" quiet "$BIN/$p" --help
done
check "flyfit-plot --help" quiet /usr/bin/python3 "$ROOT/tools/flyfit-plot" --help
check "flyfit-scaling --help" quiet "$ROOT/tools/flyfit-scaling" --help
check "jobs/scaling-collect --help" quiet "$ROOT/jobs/scaling-collect" --help
check "jobs/scaling-array-collect --help" quiet "$ROOT/jobs/scaling-array-collect" --help
check "flyfit --version" quiet "$BIN/flyfit" --version
check "README.md names make demo and make check" grep -q "make demo" "$ROOT/README.md"
# every file of the repository that the README and the example jobs name exists (brace lists expanded)
named_missing() {
  cd "$ROOT" || return 1
  local f g bad=""
  for f in $(grep -ohE '\b(jobs|tools|tests|src|include|docs|partition)/[A-Za-z0-9_./{},-]*[A-Za-z0-9_}]' \
               README.md jobs/*.ini jobs/*.sh jobs/*.sbatch | grep -v '^partition/k' | sort -u); do
    for g in $(eval "echo $f"); do [ -e "$g" ] || bad="$bad $g"; done
  done
  [ -z "$bad" ] || { echo "#   named but missing:$bad"; return 1; }
}
check "every repository file the README and jobs/ name exists" named_missing
