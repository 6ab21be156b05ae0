#!/bin/sh
# The olscheduler ring's start-up (and pick) before and after its BLAKE2b went through hash-wasm, alternated:
# BEFORE = a checkout of c38a0ca built with npx tsc -p tsconfig.json; run from the project root of the new
# code (594b522), also built. Each run is bench:picks of that policy over three rounds (fresh processes).
set -e
OUT=results/bench-picks/blake2b
for i in 1 2 3 4; do
  (cd "$BEFORE" && node dist/bench/picks.js --policies 'pkg-aware (ring olscheduler)' --rounds 3 --out "$OLDPWD/$OUT/before-$i")
  node dist/bench/picks.js --policies 'pkg-aware (ring olscheduler)' --rounds 3 --out "$OUT/after-$i"
done
