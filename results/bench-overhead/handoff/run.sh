#!/bin/sh
# The connection hand-off of processes: 2, before (9dc30e8, node:cluster's round-robin) and after (the
# primary's own hand-off), alternated: BEFORE=checkout of 9dc30e8 built with npx tsc -p tsconfig.json;
# run from the project root of the new code, also built.
set -e
OUT=results/bench-overhead/handoff
for i in 1 2; do
  (cd "$BEFORE" && node dist/bench/overhead.js --targets nginx-rr-2,warmroute-rr-2,warmroute-rr --connections 50 --rounds 3 --proxy-node-args=--max-semi-space-size=4 --out "$OLDPWD/$OUT/before-$i")
  node dist/bench/overhead.js --targets nginx-rr-2,warmroute-rr-2,warmroute-rr --connections 50 --rounds 3 --proxy-node-args=--max-semi-space-size=4 --out "$OUT/after-$i"
done
