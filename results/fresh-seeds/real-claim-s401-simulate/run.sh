#!/bin/sh
# The simulator, fitted on the committed real cell and not fitted again, against real-claim-s401 (real-fresh.sh). About 30 s.
exec sh results/fresh-seeds/real-fresh.sh claim-simulate 401 4000
