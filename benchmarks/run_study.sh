#!/usr/bin/env bash
# The documented study of docs/results.md (size `small`, seed 0). Resumable: rerun after an
# interruption and finished steps are skipped. Wall times measured on the 2-core development
# machine are in docs/results.md.
#   benchmarks/run_study.sh [OUT]            (default OUT = runs/study-small)
set -euo pipefail
OUT=${1:-runs/study-small}
STUDY=${STUDY:-bsct study}   # before `study` is registered in cli.py: STUDY="python -m bsct.study_command"
# 1. design variants, weakened variants, references and planted controls on Cu and Si
time $STUDY --systems cu,si --size small --seed 0 --out "$OUT" --executor dask --workers 2 --no-progress
# 2. add CHGNet and SevenNet-0 (cached jobs above are reused) and draw docs/figures/study_*.png
time $STUDY --systems cu,si --size small --seed 0 --out "$OUT" --third-party --executor dask --workers 2 \
    --figures docs/figures --no-progress
