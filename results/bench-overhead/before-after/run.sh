#!/bin/sh
# The request path before the worker-side rebuild (commit 3d9e628: one admission
# counter, undici Pools) against this checkout, run alternately three times each
# on the same machine in the same minutes; each run writes <label>-<i>.json here.
# Run from the project root after `npm ci && npm run build`.
# Another commit and folder: COMMIT=2842935 OUT=results/bench-overhead/last-change RUNS=2 sh results/bench-overhead/before-after/run.sh
# (BEFORE: where the older checkout is built, default /tmp/warmroute-COMMIT.)
set -e
COMMIT=${COMMIT:-3d9e628}
OUT=${OUT:-results/bench-overhead/before-after}
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
mkdir -p "$OUT"
# Only this run's files are listed at the end.
rm -f "$OUT"/before-*.json "$OUT"/after-*.json
BEFORE=${BEFORE:-/tmp/warmroute-$COMMIT}
if [ ! -d "$BEFORE" ]; then
  git worktree add -f "$BEFORE" "$COMMIT"
  (cd "$BEFORE" && npm ci --no-audit --no-fund && npx tsc -p tsconfig.json)
fi
TARGETS=nginx-rr,warmroute-rr,warmroute-pkg-aware
for i in $(seq 1 "${RUNS:-3}"); do
  (cd "$BEFORE" && node dist/bench/overhead.js --targets $TARGETS --out /tmp/overhead-before-$i)
  cp /tmp/overhead-before-$i/summary.json "$OUT/before-$i.json"
  node dist/bench/overhead.js --targets $TARGETS --out /tmp/overhead-after-$i
  cp /tmp/overhead-after-$i/summary.json "$OUT/after-$i.json"
done
node -e '
const fs = require("fs"); const dir = process.argv[1];
const ratio = (x) => (typeof x === "number" ? `${x.toFixed(2)}x` : "- (no nginx)");
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const rows = JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8")).rows;
  console.log(f, rows.map((r) => `${r.target} ${Math.round(r.load.requestsPerSec)} req/s ${ratio(r.vsNginx?.requestsPerSec)} ${Math.round(r.cpuMicrosPerRequest)} µs`).join(" | "));
}' "$OUT"
