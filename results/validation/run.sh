#!/bin/sh
# The three validation cells, each run by both engines.
set -e
cd "$(dirname "$0")/../.."
D=pipbench/data/olscheduler-eval
COMMON="--registry $D/registry_100_5.json --handlers $D/handlers_1000.txt --workers 5 --duration 60 --policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 100,auto --out-dir results/validation --quiet"
for cell in light:1000 thesis:200 overload:50; do
  name=${cell%%:*}; wait=${cell##*:}
  node dist/pipbench/cli.js experiment --name $name-experiment $COMMON --wait $wait --time-scale 0.5
  node dist/pipbench/cli.js simulate --name $name-simulate $COMMON --wait $wait --against results/validation/$name-experiment/summary.json
  node dist/pipbench/cli.js simulate --name $name-simulate-30x3 $COMMON --wait $wait --placements 30 --seeds 3 --one-worker --against results/validation/$name-experiment/summary.json
done
