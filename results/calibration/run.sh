#!/bin/sh
# Regenerates results/calibration/ from the project root after `npm run build`:
# the fit that chooses MODEL_DEFAULTS' installScale, importScale and sandboxMs
# (fit.md, fit.json, fit-error.svg; about 15 minutes on two busy cores), then
# every thesis log against the model with those defaults (calibration.md,
# calibration.json and the charts; about a minute). Deterministic: the same
# code writes the same files.
set -e
node dist/pipbench/cli.js calibrate --fit --quiet
node dist/pipbench/cli.js calibrate --seeds 20 --quiet
