#!/bin/sh
# User-space instructions per request cost-aware routes at 1,000 workers (pick, taken, dropped and the stream's own
# work), per function, under valgrind's callgrind: unlike time, the count does not move with other load on the machine.
# Two runs of stream.mjs (20,000 and 60,000 requests after the same warm-up), node --single-threaded so that no
# compiler or collector thread runs beside the stream; attribute.py takes the difference per function.
#
# usage: sh results/bench-picks/pick-instructions/count.sh ROOT TAG   (from the project root; ROOT: a checkout built
# with npx tsc -p tsconfig.json). Writes results/bench-picks/pick-instructions/TAG.txt: the per-function counts, then
# the sums: JavaScript and builtins without the write barrier (whose cost depends on whether the collector is marking
# at that moment), and the parts of the pick.
set -e
[ $# -eq 2 ] || { echo "usage: sh results/bench-picks/pick-instructions/count.sh ROOT TAG" >&2; exit 2; }
root=$1 tag=$2 dir=results/bench-picks/pick-instructions
[ -f "$root/dist/balancers/cost-aware.js" ] || { echo "count.sh: $root has no build (npx tsc -p tsconfig.json there)" >&2; exit 2; }
work=$(mktemp -d)
run() {
  valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$work/cg.$1" \
    node --single-threaded --perf-basic-prof "$dir/stream.mjs" "$root" 1000 "$1" > "$work/log.$1" 2>&1
  grep -o '==[0-9]*==' "$work/log.$1" | head -1 | tr -d = > "$work/pid.$1"
}
run 20000 & run 60000; wait
grep -h 'picks hash' "$work/log.20000" "$work/log.60000" > "$work/hashes"
python3 "$dir/attribute.py" "/tmp/perf-$(cat "$work/pid.20000").map" "$work/cg.20000" 20000 \
  "/tmp/perf-$(cat "$work/pid.60000").map" "$work/cg.60000" 60000 > "$work/per-function"
rm -f "/tmp/perf-$(cat "$work/pid.20000").map" "/tmp/perf-$(cat "$work/pid.60000").map"
{
  echo "# sh $dir/count.sh $root $tag, $(date -u +%Y-%m-%dT%H:%MZ), $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo 'no git')"
  sed 's/^/# /' "$work/hashes"
  echo "# instructions per routed request, per function (JS:* optimized code, with what was inlined into it):"
  cat "$work/per-function"
  awk '$2 ~ /^(JS|Builtin)/ && $2 !~ /RecordWrite/ { all += $1 }
       $2 ~ /^JS:\*(pick|psCostMs|costMs|missMs|lackingMs|allHeld|bringUp|refresh|used|drainOr0|perPackageOf|confirmed|time|planOf|fillShortlist|serviceOr0|hasService|find|current|fresh)$/ || $2 ~ /WeakMap/ { pick += $1 }
       END { printf "# sum: %d JavaScript and builtin instructions per routed request without the write barrier; %d in the pick'"'"'s functions\n", all, pick }' "$work/per-function"
} > "$dir/$tag.txt"
rm -rf "$work"
tail -1 "$dir/$tag.txt"
