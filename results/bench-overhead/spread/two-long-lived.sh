#!/bin/bash
# Two warmroute processes (A, B) over the same upstream, load alternated in 5 s phases.
cd "${ROOT:-$(dirname "$0")/../../..}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(sleep 100000 | node dist/bench/upstream.js --count 2 --delay-ms 0) > $tmp/up.out 2>&1 &
UP=$!
for i in $(seq 50); do grep -q upstreams $tmp/up.out && break; sleep 0.1; done
U=$(grep -o 'http://[0-9.:]*' $tmp/up.out | head -2)
W=$(for u in $U; do printf '{"url":"%s","weight":1},' $u; done); W="[${W%,}]"
for n in A B; do p=$([ $n = A ] && echo 19001 || echo 19002); echo "{\"host\":\"127.0.0.1\",\"port\":$p,\"balancer\":\"round-robin\",\"workers\":$W,\"connectionsPerWorker\":32,\"logLevel\":\"warn\"}" > $tmp/$n.json; node dist/src/cli.js start -c $tmp/$n.json > $tmp/$n.log 2>&1 < /dev/null & echo $! > $tmp/$n.pid; done
sleep 2
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for round in $(seq 1 $1); do for n in A B; do p=$([ $n = A ] && echo 19001 || echo 19002); pid=$(cat $tmp/$n.pid)
  c0=$(cpu $pid); out=$(node_modules/.bin/autocannon -j -c 64 -d 5 -m POST -H content-type=application/json -b '{"hello":"world"}' http://127.0.0.1:$p/runLambda/fn 2>/dev/null); c1=$(cpu $pid)
  req=$(echo "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.requests.total, j["2xx"])})')
  set -- $req $1
  echo "round $round $n req=$1 ok=$2 cpu_us_per_req=$(( (c1-c0)*10000 / ($2+1) ))"
done; done
pkill -f "sleep 100000"; pkill -f "bench/upstream.js"; kill $(cat $tmp/A.pid) $(cat $tmp/B.pid)
