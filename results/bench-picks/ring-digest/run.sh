#!/bin/sh
# The olscheduler ring's start-up and pick before and after its BLAKE2b digests came back as 'binary' strings
# instead of Buffers, alternated: BEFORE = a checkout of ce48736 (the ring's code as it was until this change)
# built with npx tsc -p tsconfig.json; run from the project root of the new code, also built. Then:
# node results/bench-picks/alternated.mjs results/bench-picks/ring-digest 'pkg-aware (ring olscheduler)' > results/bench-picks/ring-digest/summary.md
exec sh results/bench-picks/alternate.sh results/bench-picks/ring-digest 'pkg-aware (ring olscheduler)'
