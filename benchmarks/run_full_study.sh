#!/usr/bin/env bash
# The `full` study size of docs/results.md: the paper-like model on the full datasets of all four
# systems, with CHGNet and SevenNet-0 on Cu and Si. Measured on the 2-core machine with nothing else
# running (2026-11-29): 9.35 worker-hours summed over steps, about 4 h 50 min wall with the two
# workers over three resumed invocations (docs/results.md, "Runtime").
# The order of --systems sets which jobs run first and the rows' order in the tables (and so the
# bootstrap's draws); the cached results do not depend on it.
# Every step is cached under OUT and resumes: a training continues from its last epoch, BSCT bond by
# bond, FSD system by system, MD replica by replica, so the run can be stopped and started again.
#   benchmarks/run_full_study.sh [OUT]   (default runs/study-full)
set -euo pipefail
OUT=${1:-runs/study-full}
export OMP_NUM_THREADS=1  # one thread per Dask worker: two workers fill the two cores
time bsct study --systems water,si,cu,molecules --size full --seed 0 --out "$OUT" --third-party \
    --executor dask --workers 2 --no-progress
# the Cu + Si correlation set alone (cached: only the tables)
time bsct study --systems cu,si --size full --seed 0 --out "$OUT" --third-party --no-progress
