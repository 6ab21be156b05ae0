#!/bin/sh
# The real-worker cell on sequences 201..203 and placement 2000 (real-fresh.sh says what it runs). As root; about 47 minutes.
exec sh results/fresh-seeds/real-fresh.sh real 201 2000
