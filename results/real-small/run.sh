#!/bin/sh
# The committed real-worker cell (from the project root, after `npm run build`).
set -e
GEN=/tmp/real-small-gen
rm -rf "$GEN"
node dist/pipbench/cli.js generate --out "$GEN" --packages 40 --handlers 20 --levels 2 --zipf 0.8 \
  --imports-mean 1.5 --repeat 10 --wheels --seed 1
node dist/pipbench/cli.js experiment --engine process --name real-small --out-dir results \
  --repo "$GEN/repo" --handlers-dir "$GEN/handlers" --registry "$GEN/registry.json" \
  --packages "$GEN/packages.json" --handlers "$GEN/handlers.txt" \
  --workers 5 --cpus-per-worker 0.4 --cache-mb 6 \
  --policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 1,3 \
  --rate 1 --duration 30 --drain 30 --warmup 0 --repeat 3
