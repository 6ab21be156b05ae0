#!/bin/sh
# The real-worker cell (results/real-thesis/run.sh) on a fresh set of request sequences and a fresh
# placement, and the simulator's check against it. From the project root, after `npm run build`.
#
#   sh results/fresh-seeds/real-fresh.sh real SEED PLACEMENT_SEED       # as root, for the cgroups; about 47 min
#   sh results/fresh-seeds/real-fresh.sh simulate SEED PLACEMENT_SEED   # about 10 s, after the real run
#   sh results/fresh-seeds/real-fresh.sh claim SEED PLACEMENT_SEED      # as root; about 90 min
#   sh results/fresh-seeds/real-fresh.sh claim-simulate SEED PLACEMENT_SEED   # after the claim run
#
# real: the committed command plus --seed SEED --placement-seed PLACEMENT_SEED (sequences SEED..SEED+2),
# written to results/fresh-seeds/real-thesis-sSEED. simulate: the model fitted on the committed cell's
# round-robin row (results/real-thesis-simulate/real-fit.json, not fitted again) run on the same
# sequences and placement, against that run; written to results/fresh-seeds/real-thesis-sSEED-simulate.
# claim: the rows of the real-worker claim only (round-robin, pkg-aware at t=8, the best threshold of the three
# sets before it, and cost-aware, with the all-warm and one-worker rows every real cell has) on 9 sequences
# SEED..SEED+8 instead of 3, so that their paired ratio has an interval over enough sequences; written to
# results/fresh-seeds/real-claim-sSEED; claim-simulate: the simulator's check of it, as simulate.
set -e
usage() { echo "usage: sh results/fresh-seeds/real-fresh.sh real|simulate|claim|claim-simulate SEED PLACEMENT_SEED" >&2; exit 2; }
[ $# -eq 3 ] || usage
mode=$1 seed=$2 placement=$3
case "$seed$placement" in '' | *[!0-9]*) echo "real-fresh: SEED and PLACEMENT_SEED must be whole numbers, got \"$seed\" and \"$placement\"" >&2; exit 2 ;; esac
name=real-thesis-s$seed
GEN=/tmp/real-thesis-gen
LOAD="--rate 1 --duration 80 --drain 50 --warmup 0"
CELL="--handlers pipbench/data/olscheduler-eval/handlers_1000.txt --workers 5 --policies round-robin,least-loaded,pkg-aware,hashing-bounded,cost-aware --thresholds 2,8 $LOAD"
CLAIM="--handlers pipbench/data/olscheduler-eval/handlers_1000.txt --workers 5 --policies round-robin,pkg-aware,cost-aware --thresholds 8 $LOAD"
generate() {
  node dist/pipbench/cli.js generate --from-registry pipbench/data/olscheduler-eval/registry_100_5.json --out "$GEN" \
    --wheels --size-scale 0.25 --cost-scale 0.05
}
# Real run $1 (cell flags $2, $3 sequences from SEED) on freshly generated wheels, as root for the cgroups.
measure() {
  rm -rf "$GEN"
  generate
  nice -n -5 node dist/pipbench/cli.js experiment --engine process --name "$1" --out-dir results/fresh-seeds \
    --repo "$GEN/repo" --handlers-dir "$GEN/handlers" --registry "$GEN/registry.json" --packages "$GEN/packages.json" \
    $2 --cpus-per-worker 0.3 --cache-mb 30 --repeat "$3" --seed "$seed" --placement-seed "$placement"
}
# The simulator's check of real run $1 (cell flags $2, $3 sequences). --cores 0.3 and --cache-mb 64.7: the real
# quota and the 30 MiB bound in the table's sizes (results/real-thesis-simulate/run.sh).
check() {
  [ -f "$GEN/packages.json" ] || generate
  node dist/pipbench/cli.js simulate --name "$1-simulate" --out-dir results/fresh-seeds \
    --registry "$GEN/registry.json" --packages "$GEN/packages.json" \
    $2 --cores 0.3 --cache-mb 64.7 --seeds "$3" --one-worker --static-budget 0 --seed "$seed" --placement-seed "$placement" \
    --fitted results/real-thesis-simulate/real-fit.json --against "results/fresh-seeds/$1/summary.json" --quiet
}
case "$mode" in
  real) measure "$name" "$CELL" 3 ;;
  claim) measure "real-claim-s$seed" "$CLAIM" 9 ;;
  simulate) check "$name" "$CELL" 3 ;;
  claim-simulate) check "real-claim-s$seed" "$CLAIM" 9 ;;
  *) usage ;;
esac
