#!/bin/sh
# Idle vCPUs and warmroute's cost per request: bench:overhead's warmroute-rr row, run
# alternately with both CPUs kept busy by a spinning nice-19 shell loop each (so that no
# vCPU halts when idle) and without, counting the machine's function-call interrupts
# (CAL in /proc/interrupts: cross-CPU wake-ups among them) over each run.
# Run from the project root after `npm run build`: sh results/bench-overhead/spread/run.sh [PAIRS]
set -eu
pairs=${1:-4}
out=results/bench-overhead/spread
cal() { awk '/^ *CAL:/ { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; print n }' /proc/interrupts; }
echo "| run | CPUs kept busy | req/s | CPU µs/req | of which kernel | function-call interrupts per request |" > $out/runs.md
echo "| ---: | --- | ---: | ---: | ---: | ---: |" >> $out/runs.md
i=0
while [ $i -lt $((pairs * 2)) ]; do
  i=$((i + 1))
  spin=$([ $((i % 2)) -eq 1 ] && echo no || echo yes)
  spinners=''
  if [ $spin = yes ]; then
    for c in $(seq 0 $(($(nproc) - 1))); do taskset -c $c nice -n 19 sh -c 'while :; do :; done' & spinners="$spinners $!"; done
  fi
  c0=$(cal)
  nice -n -10 node dist/bench/overhead.js --targets warmroute-rr --out $out/run-$i > /dev/null
  c1=$(cal)
  if [ -n "$spinners" ]; then kill $spinners; wait $spinners 2> /dev/null || true; fi
  awk -F'|' -v i=$i -v spin=$spin -v cal=$((c1 - c0)) '/^\| warmroute-rr / { rps = $3 + 0; printf "| %d | %s | %d | %d | %d | %.2f |\n", i, spin, rps, $10, $11, cal / (rps * 12) }' $out/run-$i/summary.md >> $out/runs.md
  tail -1 $out/runs.md
done
