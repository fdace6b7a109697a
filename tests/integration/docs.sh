#!/usr/bin/env bash
# Documentation that cannot drift from the code:
# - every program answers --help;
# - docs/config.md is what tools/gen-config-doc makes from `flyfit --help-config markdown`;
# - every section reference (the section sign and a number) in the repository and in the programs'
#   --help texts names a section that docs/design.md (or the .md file named before it) has;
# - every relative markdown link and every repository path that README.md, docs/ and jobs/ name exists;
# - the README's "Layout" names existing folders and every top-level folder, every folder under src/
#   and every folder directly under tests/;
# - the original brief's file name appears only in docs/design.md's history note;
# - the random-stream table of docs/design.md matches include/flyfit/rng.h.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1
export LC_ALL=C # byte-wise matching: the section sign is two bytes in UTF-8 files and --help texts
quiet() { "$@" >/dev/null 2>&1; }
# report LIST_FILE WHAT: the check fails, listing the first lines of LIST_FILE, when it is not empty
report() {
  [ -s "$1" ] || return 0
  echo "#   $2 ($(wc -l <"$1")):"
  head -40 "$1" | sed 's/^/#     /'
  return 1
}

# ---- the programs answer --help; their texts are checked below ------------------------------------
mkdir -p "$TMP/help"
help_of() { # NAME COMMAND...: stdout of a --help into $TMP/help/NAME.txt; fails when the command fails
  local name=$1; shift
  "$@" >"$TMP/help/$name.txt" 2>&1
}
check "flyfit --help" help_of flyfit "$BIN/flyfit" --help
check "flyfit --help-config" help_of flyfit-config "$BIN/flyfit" --help-config
check "flyfit --help-config markdown" help_of flyfit-config-md "$BIN/flyfit" --help-config markdown
check "flyfit-partition --help" help_of flyfit-partition "$BIN/flyfit-partition" --help
check "flyfit-synth --help" help_of flyfit-synth "$BIN/flyfit-synth" --help
check "flyfit-import --help" help_of flyfit-import "$BIN/flyfit-import" --help
for c in shiu codex activity shuffle; do
  check "flyfit-import $c --help" help_of "flyfit-import-$c" "$BIN/flyfit-import" "$c" --help
done
check "flyfit-plot --help" quiet /usr/bin/python3 "$ROOT/tools/flyfit-plot" --help
check "flyfit-scaling --help" quiet "$ROOT/tools/flyfit-scaling" --help
check "tools/evaluate --help" quiet "$ROOT/tools/evaluate" --help
check "tools/evaluate-table --help" quiet /usr/bin/python3 "$ROOT/tools/evaluate-table" --help
check "jobs/scaling-collect --help" quiet "$ROOT/jobs/scaling-collect" --help
check "jobs/scaling-array-collect --help" quiet "$ROOT/jobs/scaling-array-collect" --help
check "flyfit --version" quiet "$BIN/flyfit" --version
check "README.md names make demo and make check" \
  sh -c 'grep -q "make demo" README.md && grep -q "make check" README.md'

# ---- (c) the configuration reference is generated ----------------------------------------------------
config_current() {
  tools/gen-config-doc "$BIN/flyfit" >"$TMP/config.md" || return 1
  diff -u docs/config.md "$TMP/config.md" >"$TMP/config.diff" && return 0
  echo "#   docs/config.md differs from tools/gen-config-doc's output (run make docs):"
  head -20 "$TMP/config.diff" | sed 's/^/#     /'
  return 1
}
check "docs/config.md is current (make docs: tools/gen-config-doc from flyfit --help-config markdown)" config_current

# The repository's text files: tracked ones and new ones git does not ignore (or every file outside
# build/, bin/ and out/ when this is not a git checkout); the programs' --help texts beside them.
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -co --exclude-standard
else
  find . -type f ! -path './.git/*' ! -path './build/*' ! -path './bin/*' ! -path './out/*' | sed 's|^\./||'
fi | while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done | sort -u >"$TMP/files"
mapfile -t FILES <"$TMP/files"
mapfile -t MDS < <(grep -E '\.md$' "$TMP/files")

# ---- (a) section references -------------------------------------------------------------------------
# sections FILE: the numbers of FILE's numbered headings ("## 2. The model" -> 2, "### 2.3 ..." -> 2.3)
sections() { grep -oP '^#{1,6} \K[0-9]+(\.[0-9]+)*(?=\.? )' "$1"; }
section_refs_ok() {
  local bad=$TMP/bad-sections
  : >"$bad"
  { grep -IHnoP '(?:[A-Za-z0-9_./-]+\.md[`)\]]*\s?)?§\s?[0-9]+(?:\.[0-9]+)*(?:\s?(?:-|–)\s?[0-9]+(?:\.[0-9]+)*)?' \
      "${FILES[@]}" 2>/dev/null
    (cd "$TMP/help" && grep -HnoP '(?:[A-Za-z0-9_./-]+\.md[`)\]]*\s?)?§\s?[0-9]+(?:\.[0-9]+)*(?:\s?(?:-|–)\s?[0-9]+(?:\.[0-9]+)*)?' \
      ./*.txt | sed 's|^\./|--help of |')
  } | while IFS= read -r hit; do
    local where=${hit%:*} ref=${hit##*:} doc target nums n
    doc=$(grep -oP '^[A-Za-z0-9_./-]+\.md' <<<"$ref" || true)
    if [ -z "$doc" ]; then
      target=docs/design.md
    elif [ -f "$doc" ]; then
      target=$doc
    elif [[ $where != "--help of"* ]] && [ -f "$(dirname "${where%%:*}")/$doc" ]; then
      target=$(dirname "${where%%:*}")/$doc
    else
      echo "$where: '$ref' names $doc, which does not exist" >>"$bad"
      continue
    fi
    nums=$(grep -oP '§\s?\K[0-9][0-9.]*(?:\s?(?:-|–)\s?[0-9][0-9.]*)?' <<<"$ref" | sed 's/–/ /g; s/-/ /g')
    for n in $nums; do
      n=${n%.}
      sections "$target" | grep -qxF "$n" || echo "$where: '$ref': $target has no section $n" >>"$bad"
    done
  done
  report "$bad" "section references to missing sections or files"
}
check "every section reference names an existing section of docs/design.md (files and --help texts)" section_refs_ok

# ---- (b) links and repository paths in the documentation ------------------------------------------------
links_ok() {
  local bad=$TMP/bad-links md t path
  : >"$bad"
  : >"$TMP/linked"
  for md in "${MDS[@]}"; do
    while IFS= read -r t; do
      [[ $t =~ ^[a-z][a-z0-9+.-]*: ]] && continue # http:, https:, mailto:
      path=${t%%#*}
      [ -n "$path" ] || continue
      if [ -e "$(dirname "$md")/$path" ]; then
        realpath -m --relative-to=. "$(dirname "$md")/$path" >>"$TMP/linked"
      else
        echo "$md: link ($t) does not exist" >>"$bad"
      fi
    done < <(grep -oP '\]\(\K[^)\s]+(?=\))' "$md")
  done
  report "$bad" "broken relative links"
}
check "every relative markdown link in README.md and docs/ exists" links_ok
# Repository paths: only those starting with a tracked top-level folder (so generated outputs such as
# out/demo/... and example names are not checked); brace lists and globs are expanded.
paths_ok() {
  local bad=$TMP/bad-paths f g
  : >"$bad"
  for f in $(grep -ohP '(?<![\w./-])(apps|bench|data|docs|include|jobs|src|tests|tools|\.ci)/[A-Za-z0-9_./{},*-]*[A-Za-z0-9_}*]' \
               "${MDS[@]}" jobs/*.ini jobs/*.sh jobs/*.sbatch | sort -u); do
    for g in $(eval "echo $f"); do [ -e "$g" ] || echo "$g" >>"$bad"; done
  done
  report "$bad" "named but missing"
}
check "every repository path that README.md, docs/ and jobs/ name exists" paths_ok
docs_reachable() {
  local bad=$TMP/unlinked f
  : >"$bad"
  for f in "${MDS[@]}"; do
    [[ $f == docs/* ]] || continue
    grep -qxF "$f" "$TMP/linked" || echo "$f" >>"$bad"
  done
  report "$bad" "pages no README or docs page links to"
}
check "every page under docs/ is linked from README.md or another page" docs_reachable

# ---- (d) the README's Layout matches the tree ------------------------------------------------------------
layout_ok() {
  local bad=$TMP/bad-layout d
  : >"$bad"
  awk '/^## Layout/{s=1; next} /^## /{s=0} s && /^```/{b=!b; next} s && b {print $1}' README.md | grep '/$' \
    | sed 's|/$||' | sort -u >"$TMP/layout"
  [ -s "$TMP/layout" ] || echo "README.md has no '## Layout' section with a code block of folders" >>"$bad"
  while IFS= read -r d; do [ -d "$d" ] || echo "$d/ is named but does not exist" >>"$bad"; done <"$TMP/layout"
  # every top-level folder holding tracked files, every folder under src/, every folder directly under tests/
  for d in $(grep / "$TMP/files" | cut -d/ -f1 | sort -u); do
    grep -qE "^$(sed 's/\./\\./g' <<<"$d")(/|$)" "$TMP/layout" || echo "$d/ is missing" >>"$bad"
  done
  for d in $(grep -E '^src/.+/' "$TMP/files" | xargs -n1 dirname | sort -u) \
           $(grep -E '^tests/[^/]+/' "$TMP/files" | cut -d/ -f1-2 | sort -u); do
    grep -qxF "$d" "$TMP/layout" || echo "$d/ is missing" >>"$bad"
  done
  report "$bad" "README.md Layout"
}
check "README.md's Layout names every folder of the tree, and only existing ones" layout_ok

# ---- (e) the original brief is named only in the history note of docs/design.md ------------------------
brief_only_in_history() {
  local bad=$TMP/bad-brief name="DESIGN"
  name+=".md" # spelled in two parts so that this script does not name it
  : >"$bad"
  grep -IHnF "$name" "${FILES[@]}" 2>/dev/null | grep -v '^docs/design\.md:' >>"$bad"
  (cd "$TMP/help" && grep -HnF "$name" ./*.txt | sed 's|^\./|--help of |') >>"$bad"
  # in docs/design.md: only before its first numbered section
  awk -v n="$name" '/^## /{exit} index($0, n){h=1} END{exit !h}' docs/design.md ||
    echo "docs/design.md: its history note does not name the original brief" >>"$bad"
  awk -v n="$name" '/^## /{s=1} s && index($0, n){print "docs/design.md:" NR ": " $0}' docs/design.md >>"$bad"
  report "$bad" "the original brief named outside docs/design.md's history note"
}
check "the original design brief is named only in docs/design.md's history note" brief_only_in_history

# ---- the random-stream table ------------------------------------------------------------------------------
streams_ok() {
  local bad=$TMP/bad-streams name num
  : >"$bad"
  while read -r name num; do
    grep -qF "| $num | \`$name\` |" docs/design.md || echo "$name = $num" >>"$bad"
  done < <(grep -oP '\bFF_STREAM_\w+ = [0-9]+' include/flyfit/rng.h | grep -v FF_STREAM_END | tr -d '=')
  report "$bad" "streams of include/flyfit/rng.h missing from docs/design.md §5.1"
}
check "docs/design.md lists every random stream of include/flyfit/rng.h" streams_ok
