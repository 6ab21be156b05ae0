#!/bin/bash
# Per round: a long-lived proxy L (started once) and a fresh proxy F, each 5 s measured, back to back.
cd "${ROOT:-$(dirname "$0")/../../..}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(sleep 100000 | node dist/bench/upstream.js --count 2 --delay-ms 0) > $tmp/up.out 2>&1 &
for i in $(seq 50); do grep -q upstreams $tmp/up.out && break; sleep 0.1; done
U=$(grep -o 'http://[0-9.:]*' $tmp/up.out | head -2)
W=$(for u in $U; do printf '{"url":"%s","weight":1},' $u; done); W="[${W%,}]"
for n in L:19004 F:19005; do echo "{\"host\":\"127.0.0.1\",\"port\":${n#*:},\"balancer\":\"round-robin\",\"workers\":$W,\"connectionsPerWorker\":32,\"logLevel\":\"warn\"}" > $tmp/${n%%:*}.json; done
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
ac() { node_modules/.bin/autocannon -j -c 64 -d $2 -m POST -H content-type=application/json -b '{"hello":"world"}' http://127.0.0.1:$1/runLambda/fn 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j["2xx"])})'; }
up() { for k in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$1/healthz && break; sleep 0.05; done; }
node dist/src/cli.js start -c $tmp/L.json > $tmp/L.log 2>&1 < /dev/null & L=$!
up 19004; ac 19004 2 > /dev/null
for round in $(seq 1 $1); do
  c0=$(cpu $L); ok=$(ac 19004 5); c1=$(cpu $L); lr="L $((ok / 5)) req/s $(( (c1-c0)*10000 / (ok+1) )) µs"
  node dist/src/cli.js start -c $tmp/F.json > $tmp/F.log 2>&1 < /dev/null & F=$!
  up 19005; ac 19005 2 > /dev/null
  c0=$(cpu $F); ok=$(ac 19005 5); c1=$(cpu $F)
  echo "round $round: $lr | F $((ok / 5)) req/s $(( (c1-c0)*10000 / (ok+1) )) µs"
  kill $F; wait $F 2>/dev/null
done
kill $L; pkill -f "sleep 100000"; pkill -f "bench/upstream.js"
