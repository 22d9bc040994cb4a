#!/usr/bin/env bash
# The `full` study size of docs/results.md, one system per invocation so that a piece fits a
# working session (training one full-size potential takes 0.2 h on molecules and up to ~2 h on
# Cu, one core). Every step is cached under OUT: rerun after an interruption and finished steps
# are skipped, MD resumes replica by replica.
#   benchmarks/run_full_study.sh [SYSTEMS] [OUT]   (default "molecules water si cu", runs/study-full)
set -euo pipefail
SYSTEMS=${1:-"molecules water si cu"}
OUT=${2:-runs/study-full}
export OMP_NUM_THREADS=1  # one thread per Dask worker: two workers fill the two cores
for system in $SYSTEMS; do
    time bsct study --systems "$system" --size full --seed 0 --out "$OUT" --executor dask --workers 2 --no-progress
done
# CHGNet and SevenNet-0 on the Cu and Si sets, then the tables over everything run so far (cached)
time bsct study --systems cu,si --size full --seed 0 --out "$OUT" --third-party --no-progress
time bsct study --systems cu,si,water,molecules --size full --seed 0 --out "$OUT" --third-party --no-progress
