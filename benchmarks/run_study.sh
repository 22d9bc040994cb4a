#!/usr/bin/env bash
# The documented study of docs/results.md (size `small`, seed 0). Resumable: rerun after an
# interruption and finished steps are skipped. Wall times measured on the 2-core development
# machine are in docs/results.md.
#   benchmarks/run_study.sh [OUT]            (default OUT = runs/study-small)
set -euo pipefail
OUT=${1:-runs/study-small}
# 1. all potentials but the third-party ones, four systems, two Dask workers
time bsct study --systems cu,si,water,molecules --size small --seed 0 --out "$OUT" --executor dask --workers 2 --no-progress
# 2. Cu and Si with CHGNet and SevenNet-0 (cached jobs above are reused): the correlation set
time bsct study --systems cu,si --size small --seed 0 --out "$OUT" --third-party --no-progress
# 3. the four-system tables, correlations and docs/figures/study_*.png (all cached by now)
time bsct study --systems cu,si,water,molecules --size small --seed 0 --out "$OUT" --third-party \
    --figures docs/figures --no-progress
