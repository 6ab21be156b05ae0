#!/bin/sh
# The simulator against the real cell results/real-thesis (from the project root, after `npm run build`):
# the model fitted to its round-robin row only, then every row simulated on the same request sequences.
# --cores 0.3: the real --cpus-per-worker. --cache-mb 64.7: the real 30 MiB bound in the package table's
# sizes (all 180 packages take 83.2 MiB of files once installed at --size-scale 0.25, against 179.6 MiB in the table).
set -e
GEN=/tmp/real-thesis-gen
[ -f "$GEN/packages.json" ] || node dist/pipbench/cli.js generate --from-registry pipbench/data/olscheduler-eval/registry_100_5.json \
  --out "$GEN" --wheels --size-scale 0.25 --cost-scale 0.05
node dist/pipbench/cli.js calibrate --real results/real-thesis --cores 0.3 --cache-mb 64.7 --out-dir results/real-thesis-simulate --quiet
node dist/pipbench/cli.js simulate --name real-thesis-simulate --out-dir results \
  --registry "$GEN/registry.json" --packages "$GEN/packages.json" --handlers pipbench/data/olscheduler-eval/handlers_1000.txt \
  --workers 5 --cores 0.3 --cache-mb 64.7 \
  --policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 2,8 \
  --rate 1 --duration 80 --drain 50 --warmup 0 --seeds 3 --one-worker --static-budget 0 \
  --fitted results/real-thesis-simulate/real-fit.json --against results/real-thesis/summary.json --quiet
