#!/usr/bin/env bash
# Runs today's issue-16 regression tests against any commit and prints pass/fail per defect.
#
#   test/regressions/run-against.sh <commit> [defect ...]
#
# Builds a detached worktree of <commit> in a temporary folder, copies this checkout's
# node_modules, test/fixtures/ and every test file named in test/regressions/defects.tsv
# into it (today's tests, the commit's code), builds code and tests into dist/ (tsc with the
# commit's tsconfig.json and test/ included) and runs each listed test alone, compiled, with
# `nice -n 10 npx tap --grep=<name> dist/<file>.js`. With defect numbers, only their rows run.
# Tests run with TMPDIR set to a fresh folder; warmroute-* entries left in it are reported
# (defect 7). The worktree and the folder are removed at the end; KEEP=1 keeps them, with
# each test's TAP output under logs/.
#
# Output: one line per row (defect, PASS/FAIL/NORUN, kind, file, test), then one line per
# defect. NORUN: the file failed before the test ran (an import the commit lacks). kind
# "api": the test reads a counter or field that only the fix added, so on older code a
# FAIL does not show the defect itself; "test-only": the defect was in the test, not the
# proxy, and the two "mutant" rows show it (see below and README.md beside this file).
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: test/regressions/run-against.sh <commit> [defect ...]" >&2
  exit 2
fi
commit=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
manifest="$here/defects.tsv"
sha=$(git -C "$root" rev-parse --verify --quiet "$commit^{commit}") || { echo "run-against: no commit named \"$commit\"" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/warmroute-regressions-XXXXXX")
tree="$work/tree"
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept: $work (worktree $tree, logs $work/logs)"
  else
    git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1
    rm -rf "$work"
  fi
}
trap cleanup EXIT

git -C "$root" worktree add --detach --quiet "$tree" "$sha" || exit 1
cp -a "$root/node_modules" "$tree/"
mkdir -p "$work/logs" "$work/tmp"
cp -a "$root/test/fixtures/." "$tree/test/fixtures/"
files=$(grep -v '^#' "$manifest" | cut -f2 | sort -u)
for f in $files; do
  mkdir -p "$tree/$(dirname "$f")"
  cp "$root/$f" "$tree/$f"
done
# Tests as they were before the mends of defects 6 and 7, built with the rest (see below).
git -C "$root" show '8b6be67^1:test/src/hostile.test.ts' >"$tree/test/src/hostile-before-mend.test.ts"
git -C "$root" show '8b6be67^1:test/src/reload.test.ts' >"$tree/test/src/reload-before-mend.test.ts"
# The commit's compiler options, with the tests included and emitted (the tests run compiled).
printf '%s\n' '{ "extends": "./tsconfig.json", "compilerOptions": { "noEmit": false }, "include": ["src", "balancers", "pipbench", "bench", "test"] }' >"$tree/tsconfig.run-against.json"
(cd "$tree" && nice -n 10 npx tsc -p tsconfig.run-against.json >"$work/logs/tsc.log" 2>&1) || echo "run-against: the build of $commit reported errors (see logs/tsc.log with KEEP=1); running what was emitted"

echo "commit $(git -C "$root" log -1 --format='%h %s' "$sha" | cut -c1-100)"
declare -A verdict
row=0
wanted() { [ "$selected" = "" ] || [[ " $selected " == *" $1 "* ]]; }
# run_row DEFECT FILE NAME KIND: runs the tests of FILE whose names match NAME, prints and records the outcome.
run_row() {
  local defect=$1 file=$2 name=$3 kind=$4 log results result prev
  row=$((row + 1))
  log="$work/logs/$row-defect$defect.tap"
  (cd "$tree" && TMPDIR="${row_tmp:-$work/tmp}" nice -n 10 npx tap --reporter=tap --grep="$name" "dist/${file%.ts}.js" >"$log" 2>&1)
  # Top-level results of the chosen tests (the file's other tests are reported as skipped by the filter).
  results=$(grep -E '^    (not )?ok [0-9]+ - ' "$log" | grep -v '# SKIP filter')
  if [ -z "$results" ]; then
    result=NORUN
  elif grep -q '^    not ok' <<<"$results"; then
    result=FAIL
  else
    result=PASS
  fi
  printf '%-3s %-5s %-15s %s  %s\n' "$defect" "$result" "$kind" "$file" "$name"
  prev=${verdict[$defect]:-}
  verdict[$defect]="${prev:+$prev }$result($kind)"
}
selected="$*"
while IFS=$'\t' read -r defect file name kind; do
  case "$defect" in '#'*|'') continue ;; esac
  wanted "$defect" && run_row "$defect" "$file" "$name" "$kind"
done <"$manifest"

# Defect 6 was in a test, not in the proxy: the slow-body test could not fail. It is shown on this
# commit with the fix it guards undone in the temporary worktree (bodies streamed at admission:
# bufferedBodyBytes 0): the test as mended must FAIL there ("mutant"), while the test as it was
# before the mend (at 8b6be67^1) PASSES there ("mutant-unmended"), which was the defect.
if wanted 6; then
  # The constant, exported or not (it is exported since the raw ingress shares it).
  body_js=$(grep -lE '^(export )?const bufferedBodyBytes = 64 \* 1024;' "$tree"/dist/src/*.js 2>/dev/null | head -1)
  if [ -z "$body_js" ]; then
    echo "6   n/a   mutant          (no 'const bufferedBodyBytes = 64 * 1024;' in the build of src/ of this commit)"
  else
    # The tests run the build, so the mutation is made there (the line is the same in src/ and dist/).
    sed -i -E 's/^(export )?const bufferedBodyBytes = 64 \* 1024;/\1const bufferedBodyBytes = 0;/' "$body_js"
    run_row 6 test/src/hostile.test.ts '^slow request bodies cannot take every worker connection' mutant
    run_row 6 test/src/hostile-before-mend.test.ts '^slow request bodies cannot take every worker connection' mutant-unmended
    sed -i -E 's/^(export )?const bufferedBodyBytes = 0;/\1const bufferedBodyBytes = 64 * 1024;/' "$body_js"
  fi
fi

# Defect 7 was in tests too: they left warmroute-* folders behind. A test as it was before the mend
# (reload.test.ts at 8b6be67^1) is run alone in a TMPDIR of its own, which is then counted.
if wanted 7; then
  mkdir -p "$work/tmp7"
  # Only the folders count here: the old test's own assertions may no longer hold on newer code.
  (cd "$tree" && TMPDIR="$work/tmp7" nice -n 10 npx tap --reporter=tap --grep='^SIGTERM with a request in flight waits for it' \
    dist/test/src/reload-before-mend.test.js >"$work/logs/defect7-before-mend.tap" 2>&1)
  left7=$(find "$work/tmp7" -mindepth 1 -maxdepth 1 -name 'warmroute-*' | wc -l)
  echo "7   test/src/reload.test.ts as at 8b6be67^1 ('SIGTERM with a request in flight ...') left $left7 warmroute-* folder(s) behind"
  verdict[7]="${verdict[7]:-} folders-left-by-unmended-test=$left7"
fi

leftover=$(find "$work/tmp" -mindepth 1 -maxdepth 1 -name 'warmroute-*' | wc -l)
echo "temporary folders left by the runs above (warmroute-* in their TMPDIR): $leftover"
echo "per defect:"
for d in $(printf '%s\n' "${!verdict[@]}" | sort -n); do
  echo "  defect $d: ${verdict[$d]}"
done
