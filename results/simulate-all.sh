#!/bin/sh
# Every simulated results folder, from the project root after `npm ci && npm run build`.
# Deterministic: each command writes the same summary.json on every run.
# Every cell runs 10 request sequences (30 placements, 10 on the load cells) and the
# clairvoyant static row (--static-budget, default 150 runs per sequence); one-worker
# runs wherever the workers share a CPU (--host-cores) and on the per-worker thesis cells.
# JOBS=2 sh results/simulate-all.sh runs two at a time; a headline cell takes about
# 2 to 4 minutes of CPU (2 to 12 minutes of wall time with nice on a shared
# 2-core machine), the whole set a few hours of CPU.
set -e
cd "$(dirname "$0")/.."
S="node dist/pipbench/cli.js simulate"
D=pipbench/data/olscheduler-eval
T="--registry $D/registry_100_5.json --handlers $D/handlers_1000.txt"
MAIN="--policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware"
R="--placements 30 --seeds 10 --quiet"
# Inputs: generated registries at three Zipf skews, and the thesis registry's filled-in package table.
for z in 0.8 1.4 2.0; do node dist/pipbench/cli.js generate --out /tmp/zipf-$z --zipf $z >/dev/null; done
node dist/pipbench/cli.js generate --from-registry $D/registry_100_5.json --out /tmp/thesis-pk >/dev/null
# The same table at what the calibrated worker really charges (installs x 0.6, imports x 0.15: MODEL_DEFAULTS).
node -e 'const fs=require("fs");const t=JSON.parse(fs.readFileSync("/tmp/thesis-pk/packages.json","utf8"));fs.writeFileSync("/tmp/thesis-pk/charged.json",JSON.stringify(t.map(p=>({...p,installMs:p.installMs*0.6,importMs:p.importMs*0.15}))))'
{
  echo "$S --name sim-thesis-host $T --workers 5 --host-cores 4 --wait 200 --duration 300 --policies round-robin,random,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 5,10,50,100,200,300,auto $R"
  echo "$S --name sim-thesis-disk-90 $T --workers 5 --wait 200 --duration 300 --cache-mb 90 $MAIN --thresholds 10,50,100,200,300,auto --one-worker $R"
  echo "$S --name sim-thesis $T --workers 5 --wait 200 --duration 300 $MAIN --thresholds 1,2,3,5,10,50,100,200,300,auto --one-worker $R"
  echo "$S --name sim-thesis-package-table $T --packages /tmp/thesis-pk/packages.json $MAIN --thresholds 100,200,auto $R"
  for v in none:none charged:/tmp/thesis-pk/charged.json; do
    echo "$S --name sim-thesis-policy-table-${v%%:*} $T --packages /tmp/thesis-pk/packages.json --policy-packages ${v#*:} --policies round-robin,pkg-aware,cost-aware --thresholds 200,auto $R"
  done
  for z in 0.8 1.4 2.0; do
    echo "$S --name sim-zipf-$z --registry /tmp/zipf-$z/registry.json --packages /tmp/zipf-$z/packages.json --handlers /tmp/zipf-$z/handlers.txt $MAIN --thresholds 10,50,100,200,300,auto $R"
  done
  echo "$S --name sim-rotation $T $MAIN --thresholds 100,auto $R --choice rotate --rotation-period 60 --rotation-slice 0.2"
  echo "$S --name sim-bursty $T $MAIN --thresholds 100,auto $R --arrivals bursty --burst 60,10,4"
  echo "$S --name sim-unequal $T $MAIN --thresholds 100,auto $R --worker-cores 1.6,1.2,0.8,0.4,0.4 --worker-weights 4,3,2,1,1"
  for rate in 16.3 19.6 22.8 26.1 29.4 32.6 35.9 39.1; do
    echo "$S --name sim-load-$rate $T $MAIN --thresholds 10,50,100,200,300,auto --rate $rate --placements 10 --seeds 10 --quiet"
  done
  for mb in 30 60 90 120 180; do
    echo "$S --name sim-cache-$mb $T $MAIN --thresholds 100,auto --cache-mb $mb $R"
  done
} | xargs -P "${JOBS:-1}" -I CMD sh -c 'CMD >/dev/null && echo "done: CMD" | cut -c1-120'
