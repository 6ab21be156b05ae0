#!/bin/sh
# The processes: 2 rows of bench:overhead, unpinned and pinned, and the shares measurement.
# Run from the repository root after npx tsc -p tsconfig.json.
set -e
OUT=${OUT:-results/bench-overhead/processes}
T=nginx-rr,nginx-rr-2,warmroute-rr,warmroute-rr-2
uptime > "$OUT/load-before.txt"
node dist/bench/overhead.js --targets $T --out "$OUT/unpinned"
node dist/bench/overhead.js --targets $T --proxy-cpus 1 --load-cpus 0 --out "$OUT/proxy-cpu1-load-cpu0"
node dist/bench/process-shares.js --out "$OUT"
uptime > "$OUT/load-after.txt"
