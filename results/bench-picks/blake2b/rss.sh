#!/bin/sh
# Resident memory of an idle proxy (one process, one unreachable worker) three seconds after it starts, N starts
# (default 5) of each build: BEFORE and AFTER checkouts built with npx tsc -p tsconfig.json. Prints VmRSS (KiB).
for build in "$BEFORE" "$AFTER"; do
  k=0
  while [ $k -lt "${N:-5}" ]; do
    k=$((k + 1))
    node "$build/dist/src/cli.js" start --port 0 --workers 127.0.0.1:1 --log-level warn > /dev/null 2>&1 &
    pid=$!
    sleep 3
    echo "$build $(grep VmRSS /proc/$pid/status)"
    kill $pid
    wait $pid 2>/dev/null
  done
done
