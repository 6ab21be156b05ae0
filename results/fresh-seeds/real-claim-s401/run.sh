#!/bin/sh
# The rows of the real-worker claim (round-robin, pkg-aware t=8, cost-aware; all-warm, one-worker) on sequences 401..409 and placement 4000 (real-fresh.sh says what it runs). As root; about 90 minutes.
exec sh results/fresh-seeds/real-fresh.sh claim 401 4000
