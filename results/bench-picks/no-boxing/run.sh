#!/bin/sh
# cost-aware's pick before and after the change that stopped allocating a heap number per candidate,
# alternated: BEFORE = a checkout of a3097d3 built with npx tsc -p tsconfig.json; run from the project
# root of the new code, also built. Each run is bench:picks over three rounds (fresh processes).
exec sh results/bench-picks/alternate.sh results/bench-picks/no-boxing cost-aware
