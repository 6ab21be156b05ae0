#!/bin/sh
# What sharing the learned models' observations costs the proxy in CPU: processes: 2,
# cost-aware, two all-warm simulated workers, 20,000 requests of one thesis handler
# (autocannon, 20 connections), CPU time (user + system) of the primary and both serving
# processes, at this tree and at 47a2c6a (each process learning alone), interleaved
# ROUNDS times. Run from the repository root after npx tsc -p tsconfig.json.
set -e
OUT=${OUT:-results/processes-learning}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-20000}
REG=pipbench/data/olscheduler-eval/registry_100_5.json
TMP=$(mktemp -d)
PIDS=""
trap 'kill $PIDS 2>/dev/null; rm -rf "$TMP"' EXIT
git archive 47a2c6a | tar -x -C "$TMP" --one-top-level=before
ln -s "$(pwd)/node_modules" "$TMP/before/node_modules"
(cd "$TMP/before" && npx tsc -p tsconfig.json)
for p in 9421 9422; do
  node dist/pipbench/cli.js worker --registry $REG --port $p --time-scale 0.001 --all-warm --cores 8 --name w$p > /dev/null 2>&1 &
  PIDS="$PIDS $!"
done
cat > "$TMP/config.json" <<JSON
{ "host": "127.0.0.1", "port": 9420, "processes": 2, "balancer": "cost-aware", "registry": "$(pwd)/$REG",
  "healthIntervalMs": 500, "accessLog": false, "logLevel": "warn",
  "workers": [{"url": "http://127.0.0.1:9421", "id": "w1"}, {"url": "http://127.0.0.1:9422", "id": "w2"}] }
JSON
# CPU ms (user + system) of a process and its children still running.
cpu_ms() {
  ticks=0
  for pid in $1 $(pgrep -P "$1"); do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    ticks=$((ticks + t))
  done
  echo $((ticks * 1000 / $(getconf CLK_TCK)))
}
echo "variant round requests cpuMs cpuMsPer1000 requestsPerSec non2xx" > "$OUT/ipc-cost.txt"
for round in $(seq 1 "$ROUNDS"); do
  for variant in before now; do
    if [ $variant = before ]; then ROOT="$TMP/before"; else ROOT=$(pwd); fi
    node "$ROOT/dist/src/cli.js" start -c "$TMP/config.json" > "$TMP/proxy.log" 2>&1 &
    PROXY=$!
    until curl -sf http://127.0.0.1:9420/status | grep -q '"index":1'; do sleep 0.5; done
    # Warm up: connections, the models' first estimates.
    node_modules/.bin/autocannon -c 20 -a 2000 -m POST -b '{}' http://127.0.0.1:9420/runLambda/hdl0_0 > /dev/null 2>&1
    start=$(cpu_ms $PROXY)
    node_modules/.bin/autocannon -c 20 -a "$REQUESTS" -m POST -b '{}' --json http://127.0.0.1:9420/runLambda/hdl0_0 > "$TMP/ac.json" 2>/dev/null
    end=$(cpu_ms $PROXY)
    rps=$(node -e "const j=JSON.parse(require('fs').readFileSync('$TMP/ac.json','utf8'));console.log(Math.round(j.requests.average), j.non2xx)")
    echo "$variant $round $REQUESTS $((end - start)) $(( (end - start) * 1000 / REQUESTS )) $rps" >> "$OUT/ipc-cost.txt"
    kill -TERM $PROXY
    wait $PROXY || true
  done
done
uptime >> "$OUT/ipc-cost.txt"
