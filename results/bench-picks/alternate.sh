#!/bin/sh
# bench:picks of one policy on two builds, alternated: four runs of each, before then after, each run three
# rounds (fresh processes), into OUT/before-K and OUT/after-K (alternated.mjs summarizes them).
# usage: BEFORE=<a checkout built with npx tsc -p tsconfig.json> sh results/bench-picks/alternate.sh OUT POLICY
#   run from the project root of the other build (the "after"), also built.
set -e
OUT=$1
POLICY=$2
if [ -z "$BEFORE" ] || [ -z "$OUT" ] || [ -z "$POLICY" ]; then
  echo 'usage: BEFORE=<built checkout> sh results/bench-picks/alternate.sh OUT POLICY' >&2
  exit 2
fi
for i in 1 2 3 4; do
  (cd "$BEFORE" && node dist/bench/picks.js --policies "$POLICY" --rounds 3 --out "$OLDPWD/$OUT/before-$i")
  node dist/bench/picks.js --policies "$POLICY" --rounds 3 --out "$OUT/after-$i"
done
