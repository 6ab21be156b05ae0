#!/bin/sh
# The real-worker cell on sequences 101..103 and placement 1000 (real-fresh.sh says what it runs). As root; about 47 minutes.
exec sh results/fresh-seeds/real-fresh.sh real 101 1000
