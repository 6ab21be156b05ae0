#!/bin/sh
# cost-aware's learned model in each of two processes: three simulated workers (thesis
# registry, 50x faster), a proxy with processes: 2, 90 s of open-loop load; each
# process's model (from /status, under "processes") sampled every 30 s.
# Run from the repository root after npx tsc -p tsconfig.json.
set -e
OUT=${OUT:-results/processes-learning}
TMP=$(mktemp -d)
REG=pipbench/data/olscheduler-eval/registry_100_5.json
PIDS=""
trap 'kill $PIDS 2>/dev/null; rm -rf "$TMP"' EXIT
for p in 9411 9412 9413; do
  node dist/pipbench/cli.js worker --registry $REG --port $p --time-scale 0.02 --name w$p > /dev/null 2>&1 &
  PIDS="$PIDS $!"
done
cat > "$TMP/config.json" <<JSON
{ "host": "127.0.0.1", "port": 9410, "processes": 2, "balancer": "cost-aware", "registry": "$(pwd)/$REG",
  "healthIntervalMs": 500, "accessLog": false, "logLevel": "warn",
  "workers": [{"url": "http://127.0.0.1:9411", "id": "w1"}, {"url": "http://127.0.0.1:9412", "id": "w2"}, {"url": "http://127.0.0.1:9413", "id": "w3"}] }
JSON
node dist/src/cli.js start -c "$TMP/config.json" > "$TMP/proxy.log" 2>&1 &
PIDS="$PIDS $!"
until curl -sf http://127.0.0.1:9410/status | grep -q '"index":1'; do sleep 0.5; done
node dist/pipbench/cli.js run --target http://127.0.0.1:9410 --registry $REG --mode async --rate 20 --duration 90 --quiet > "$TMP/run.txt" 2>&1 &
RUN=$!
: > "$OUT/samples.jsonl"
for t in 30 60 90; do
  sleep 30
  curl -s http://127.0.0.1:9410/status | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log(JSON.stringify({atSec:$t,processes:j.processes.map(p=>({index:p.index,model:p.balancer}))}))})" >> "$OUT/samples.jsonl"
done
wait $RUN
cp "$TMP/run.txt" "$OUT/run.txt"
