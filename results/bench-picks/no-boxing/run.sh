#!/bin/sh
# cost-aware's pick before and after the change that stopped allocating a heap number per candidate,
# alternated: BEFORE = a checkout of a3097d3 built with npx tsc -p tsconfig.json; run from the project
# root of the new code, also built. Each run is bench:picks over three rounds (fresh processes).
set -e
OUT=results/bench-picks/no-boxing
for i in 1 2 3 4; do
  (cd "$BEFORE" && node dist/bench/picks.js --policies cost-aware --rounds 3 --out "$OLDPWD/$OUT/before-$i")
  node dist/bench/picks.js --policies cost-aware --rounds 3 --out "$OUT/after-$i"
done
