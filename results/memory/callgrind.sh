#!/bin/sh
# Instructions per request of one proxy process under callgrind, for each V8 young-generation
# size (node --max-semi-space-size=MB; "default" is Node's own): each value runs once with N1
# and once with N2 requests (autocannon -a N -c 8: 8 keep-alive connections), and
# per request = (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up, warm-up and shutdown cancel out.
# Instruction counts do not depend on how busy the machine is, unlike CPU time.
# EXTRA adds node flags to every run (EXTRA=--liftoff-only for callgrind-liftoff.txt); PORT moves
# the worker (PORT) and the proxy (PORT + 1) so that two runs can go on at once.
# Run from the project root after a build: sh results/memory/callgrind.sh
set -e
VALUES=${VALUES:-default 1 2 4 8 16}
EXTRA=${EXTRA:-}
PORT=${PORT:-18941}
PROXY_PORT=$((PORT + 1))
N1=${N1:-2000}
N2=${N2:-12000}
OUT=${OUT:-results/memory/callgrind.txt}
TMP=$(mktemp -d)
trap 'kill $WORKER 2>/dev/null; rm -rf "$TMP"' EXIT
node -e 'require("http").createServer({keepAliveTimeout:120000},(q,s)=>{q.resume();q.on("end",()=>s.end("{\"result\":\"ok\"}"))}).listen(process.argv[1],"127.0.0.1")' "$PORT" &
WORKER=$!
printf '{"host":"127.0.0.1","port":%s,"logLevel":"warn","accessLog":false,"healthIntervalMs":0,"connectionsPerWorker":8,"workers":["127.0.0.1:%s"]}' "$PROXY_PORT" "$PORT" > "$TMP/c.json"
run() { # value, request count
  FLAG=""
  [ "$1" = default ] || FLAG="--max-semi-space-size=$1"
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$TMP/cg.out" \
    node $EXTRA $FLAG dist/src/cli.js start -c "$TMP/c.json" >/dev/null 2>"$TMP/vg.err" &
  P=$!
  until node -e 'require("http").get(`http://127.0.0.1:${process.argv[1]}/healthz`,(r)=>process.exit(r.statusCode===200?0:1)).on("error",()=>process.exit(1))' "$PROXY_PORT"; do sleep 0.5; done
  node_modules/.bin/autocannon -a "$2" -c 8 -m POST -b '{}' "http://127.0.0.1:$PROXY_PORT/runLambda/f" >/dev/null 2>&1
  kill -TERM $P; wait $P || true
  IR=$(grep -m1 '^summary:' "$TMP/cg.out" | awk '{print $2}')
  echo "$1 $2 $IR"
}
: > "$OUT"
for v in $VALUES; do
  run "$v" "$N1" | tee -a "$OUT"
  run "$v" "$N2" | tee -a "$OUT"
done
awk -v n1="$N1" -v n2="$N2" '$2==n1 {a[$1]=$3} $2==n2 {b[$1]=$3; order[++k]=$1} END {for (i=1;i<=k;i++) {v=order[i]; printf "--max-semi-space-size %s: %.0f instructions per request\n", v, (b[v]-a[v])/(n2-n1)}}' "$OUT" | tee -a "$OUT"
