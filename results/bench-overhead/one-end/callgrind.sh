#!/bin/sh
# Instructions per request of the proxy process alone, before (BEFORE, a built
# checkout of the older commit) and after (this checkout), under callgrind:
# each side runs once with 0 and once with N requests (sequential keep-alive
# POSTs from one client, autocannon -a N -c 1); per request = (Ir(N) - Ir(0)) / N,
# so start-up and shutdown cancel out. Run from the project root after a build.
# ACCESS_LOG=true turns the access log on (at logLevel warn, as bench:overhead runs).
set -e
BEFORE=${BEFORE:-/tmp/wr-before-1ab3c67}
N=${N:-2000}
ACCESS_LOG=${ACCESS_LOG:-false}
OUT=${OUT:-results/bench-overhead/one-end}
TMP=$(mktemp -d)
trap 'kill $WORKER 2>/dev/null; rm -rf "$TMP"' EXIT
node -e 'require("http").createServer((q,s)=>{q.resume();q.on("end",()=>s.end("{}"))}).listen(18931,"127.0.0.1")' &
WORKER=$!
printf '{"host":"127.0.0.1","port":18932,"logLevel":"warn","accessLog":%s,"healthIntervalMs":0,"workers":["127.0.0.1:18931"]}' "$ACCESS_LOG" > "$TMP/c.json"
run() { # side dir, request count
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$TMP/cg.out" \
    node "$2/dist/src/cli.js" start -c "$TMP/c.json" >/dev/null 2>"$TMP/vg.err" &
  P=$!
  until curl -s -o /dev/null http://127.0.0.1:18932/healthz; do sleep 0.5; done
  if [ "$3" -gt 0 ]; then node_modules/.bin/autocannon -a "$3" -c 1 -m POST -b '{}' http://127.0.0.1:18932/runLambda/f >/dev/null 2>&1; fi
  kill -TERM $P; wait $P || true
  IR=$(grep -m1 '^summary:' "$TMP/cg.out" | awk '{print $2}')
  echo "$1 $3 $IR"
}
{
  run before "$BEFORE" 0
  run after . 0
  run before "$BEFORE" "$N"
  run after . "$N"
} | tee "$OUT/callgrind.txt"
awk -v n="$N" '{ir[$1" "$2]=$3} END {for (s in ir) {}; b=(ir["before " n]-ir["before 0"])/n; a=(ir["after " n]-ir["after 0"])/n; printf "per request: before %.0f, after %.0f instructions (%+.1f%%)\n", b, a, (a-b)/b*100}' "$OUT/callgrind.txt" | tee -a "$OUT/callgrind.txt"
