#!/bin/sh
# The olscheduler ring's start-up (and pick) before and after its BLAKE2b went through hash-wasm, alternated:
# BEFORE = a checkout of c38a0ca built with npx tsc -p tsconfig.json; run from the project root of the new
# code (594b522), also built.
exec sh results/bench-picks/alternate.sh results/bench-picks/blake2b 'pkg-aware (ring olscheduler)'
