#!/bin/sh
# cost-aware's pick before and after its holdings moved into one open-addressed table per worker record, by
# package number (balancers/held-table.ts), alternated: BEFORE = a checkout of ce48736 built with
# npx tsc -p tsconfig.json; run from the project root of the new code, also built. Each run is bench:picks
# over three rounds (fresh processes). Then: node results/bench-picks/alternated.mjs
# results/bench-picks/held-table cost-aware > results/bench-picks/held-table/summary.md
exec sh results/bench-picks/alternate.sh results/bench-picks/held-table cost-aware
