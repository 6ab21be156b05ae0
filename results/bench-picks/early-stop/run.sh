#!/bin/sh
# cost-aware's pick before and after its reading of what a candidate holds stops at the bound, alternated:
# BEFORE = a checkout of c38a0ca built with npx tsc -p tsconfig.json; run from the project root of the new
# code (3053d41), also built. Each run is bench:picks over three rounds (fresh processes).
exec sh results/bench-picks/alternate.sh results/bench-picks/early-stop cost-aware
