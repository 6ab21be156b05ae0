#!/bin/bash
# What a warmroute-rr run of bench:overhead does in its measured window, run after run:
# req/s and CPU per request (from the benchmark), the proxy's minor page faults, CPU per
# thread, the machine's rescheduling (RES) and function-call (CAL) interrupts, and with
# PERF=1 a CPU profile and the cross-CPU interrupts the proxy sends, with call stacks
# (perf record; read with `perf report -i FILE --stdio --no-children --sort dso`).
# Run from the project root after `npm run build`: bash results/bench-overhead/spread/probe.sh RUNS [bench flags]
set -u
runs=${1:-6}; shift || true
# OUT keeps the runs and perf data for reading afterwards; without it they go to a temporary folder removed at exit.
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
for i in $(seq 1 "$runs"); do
  nice -n -10 node dist/bench/overhead.js --targets warmroute-rr "$@" --out "$out/run-$i" > /dev/null 2>&1 &
  bench=$!
  (
    for _ in $(seq 1 300); do pid=$(pgrep -P $bench -f 'cli.js start' | head -1); [ -n "$pid" ] && break; sleep 0.05; done
    snap() {
      for t in /proc/$pid/task/*; do echo "tid$(basename "$t") $(awk '{print $14 + $15}' "$t/stat")"; done
      awk '/^ *(RES|CAL):/ { print $1, $2 + $3 }' /proc/interrupts
      awk '{ print "minflt", $10 }' /proc/$pid/stat
    }
    sleep 4  # start-up and the 2 s warm-up
    snap > "$out/before-$i"
    if [ "${PERF:-0}" = 1 ]; then
      perf record -q -F 499 -g -o "$out/cpu-$i.data" -p "$pid" -- sleep 5 > /dev/null 2>&1 &
      perf record -q -g -o "$out/ipi-$i.data" -e ipi:ipi_send_cpu -p "$pid" -- sleep 5 > /dev/null 2>&1
      wait
    else
      sleep 5
    fi
    snap > "$out/after-$i"
  ) &
  wait
  awk -F'|' -v i="$i" '/^\| warmroute-rr / { printf "run %d: %d req/s, %d µs CPU per request (%d kernel) | ", i, $3, $10, $11 }' "$out/run-$i/summary.md"
  awk 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) printf "%s %d  ", $1, d }' "$out/before-$i" "$out/after-$i"
  echo
done
