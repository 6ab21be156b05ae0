#!/bin/sh
# The rows of the real-worker claim (round-robin, pkg-aware t=8, cost-aware; all-warm, one-worker) on sequences 301..309 and placement 3000 (real-fresh.sh says what it runs). As root; about 90 minutes.
exec sh results/fresh-seeds/real-fresh.sh claim 301 3000
