#!/bin/sh
# cost-aware's pick before and after its reading of what a candidate holds stops at the bound, alternated:
# BEFORE = a checkout of c38a0ca built with npx tsc -p tsconfig.json; run from the project root of the new
# code (3053d41), also built. Each run is bench:picks over three rounds (fresh processes).
set -e
OUT=results/bench-picks/early-stop
for i in 1 2 3 4; do
  (cd "$BEFORE" && node dist/bench/picks.js --policies cost-aware --rounds 3 --out "$OLDPWD/$OUT/before-$i")
  node dist/bench/picks.js --policies cost-aware --rounds 3 --out "$OUT/after-$i"
done
