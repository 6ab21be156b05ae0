#!/bin/sh
# The headline cell once in real time (HTTP workers and a proxy per row, time scale 0.5):
# the thesis workload on the calibrated set-up (5 workers sharing one 4-core host),
# then the same cell in simulate at the same placement and seed, set beside it.
set -e
cd "$(dirname "$0")/.."
D=pipbench/data/olscheduler-eval
CELL="--registry $D/registry_100_5.json --handlers $D/handlers_1000.txt --workers 5 --host-cores 4 --wait 200 --duration 300 --policies round-robin,pkg-aware,cost-aware --thresholds 100 --quiet"
node dist/pipbench/cli.js experiment --name realtime-headline $CELL --time-scale 0.5
node dist/pipbench/cli.js simulate --name realtime-headline-simulate $CELL --against results/realtime-headline/summary.json
