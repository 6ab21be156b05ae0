#!/bin/sh
# The real-worker cell (results/real-thesis/run.sh) on fresh request sequences (201..203) and a fresh
# placement (2000): the same generated repository and command plus --seed and --placement-seed.
# From the project root, after `npm run build`; as root, for the cgroups; about 47 minutes.
set -e
GEN=/tmp/real-thesis-gen
rm -rf "$GEN"
node dist/pipbench/cli.js generate --from-registry pipbench/data/olscheduler-eval/registry_100_5.json --out "$GEN" \
  --wheels --size-scale 0.25 --cost-scale 0.05
nice -n -5 node dist/pipbench/cli.js experiment --engine process --name real-thesis-s201 --out-dir results/fresh-seeds \
  --repo "$GEN/repo" --handlers-dir "$GEN/handlers" --registry "$GEN/registry.json" \
  --packages "$GEN/packages.json" --handlers pipbench/data/olscheduler-eval/handlers_1000.txt \
  --workers 5 --cpus-per-worker 0.3 --cache-mb 30 \
  --policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 2,8 \
  --rate 1 --duration 80 --drain 50 --warmup 0 --repeat 3 --seed 201 --placement-seed 2000
