#!/bin/sh
# bench:overhead at 50 connections, alternating the build before this change set (BEFORE: a
# checkout of 9bb7d0e built with npx tsc -p tsconfig.json) and this one, ROUNDS times each,
# the order swapped every other round; /proc/loadavg before each run goes to loadavg.txt.
# Run from the project root after a build: BEFORE=/path/to/checkout sh results/bench-overhead/request-path-trims/alternate.sh
set -e
OUT=results/bench-overhead/request-path-trims
ROUNDS=${ROUNDS:-4}
TARGETS=nginx-rr,warmroute-rr,warmroute-pkg-aware
run() { # side dir
  echo "$1 $(date -u +%H:%M:%S) $(cat /proc/loadavg)" >> "$OUT/loadavg.txt"
  (cd "$2" && nice -n -10 node dist/bench/overhead.js --connections 50 --targets $TARGETS --out "$3")
}
i=1
while [ "$i" -le "$ROUNDS" ]; do
  if [ $((i % 2)) -eq 1 ]; then
    run "before-$i" "$BEFORE" "$PWD/$OUT/before-$i"; run "after-$i" . "$PWD/$OUT/after-$i"
  else
    run "after-$i" . "$PWD/$OUT/after-$i"; run "before-$i" "$BEFORE" "$PWD/$OUT/before-$i"
  fi
  i=$((i + 1))
done
