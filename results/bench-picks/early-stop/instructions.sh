#!/bin/sh
# User-space instructions per routed request of cost-aware in the bench's kind of stream at 1,000 workers,
# counted by valgrind's callgrind: (I(40,000) - I(20,000)) / 20,000 after the warm-up, node single-threaded
# and predictable so the count repeats. usage: sh instructions.sh ROOT   (ROOT: a checkout built with tsc)
set -e
here=$(dirname "$0")
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null node --single-threaded --predictable "$here/instructions.mjs" "$1" 1000 "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
a=$(count "$1" 20000)
b=$(count "$1" 40000)
echo "$1: $(( (b - a) / 20000 )) instructions per routed request"
