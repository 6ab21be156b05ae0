#!/bin/sh
# The simulator's check on another data set: the model fitted on the committed real cell's round-robin row
# (results/real-thesis-simulate/real-fit.json, not fitted again) predicting every row of the fresh-seed real
# cell (../real-thesis-s201) on its request sequences (201..203) and placement seed (2000).
# From the project root, after `npm run build`. About 10 s.
set -e
GEN=/tmp/real-thesis-gen
[ -f "$GEN/packages.json" ] || node dist/pipbench/cli.js generate --from-registry pipbench/data/olscheduler-eval/registry_100_5.json \
  --out "$GEN" --wheels --size-scale 0.25 --cost-scale 0.05
node dist/pipbench/cli.js simulate --name real-thesis-s201-simulate --out-dir results/fresh-seeds \
  --registry "$GEN/registry.json" --packages "$GEN/packages.json" --handlers pipbench/data/olscheduler-eval/handlers_1000.txt \
  --workers 5 --cores 0.3 --cache-mb 64.7 \
  --policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 2,8 \
  --rate 1 --duration 80 --drain 50 --warmup 0 --seeds 3 --one-worker --static-budget 0 \
  --seed 201 --placement-seed 2000 \
  --fitted results/real-thesis-simulate/real-fit.json --against results/fresh-seeds/real-thesis-s201/summary.json --quiet
