#!/bin/sh
# cost-aware's pick before and after the pricing calls' numbers moved into CostModel.pickArgs (with the refresh split,
# the set read only where it decides, drainOr0 reading once), alternated: BEFORE = a checkout of 1b7330c built with
# npx tsc -p tsconfig.json; run from the project root of the new code, also built. Each run is bench:picks over three
# rounds (fresh processes). Then: node results/bench-picks/alternated.mjs results/bench-picks/pick-instructions
# cost-aware > results/bench-picks/pick-instructions/summary.md
exec sh results/bench-picks/alternate.sh results/bench-picks/pick-instructions cost-aware
