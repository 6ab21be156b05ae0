#!/bin/sh
# The simulator, fitted on the committed real cell and not fitted again, against real-thesis-s101 (real-fresh.sh). About 10 s.
exec sh results/fresh-seeds/real-fresh.sh simulate 101 1000
