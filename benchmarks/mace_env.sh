#!/usr/bin/env bash
# A separate venv for MACE (mace-torch), used only by benchmarks/bench_vs_mace.py.
#
# Why separate: mace-torch pins e3nn==0.4.4, while the project's `models` extra (sevenn) needs
# e3nn 0.6, so the two cannot share /work/main/.venv (.venv). bsct itself is installed without
# extras (torch, ase, matscipy, ...) so the benchmark can run our Transformer in the same process.
#
# Usage:  bash benchmarks/mace_env.sh [VENV_DIR]      (default /work/venvs/mace)
# Then:   OMP_NUM_THREADS=1 VENV_DIR/bin/python benchmarks/bench_vs_mace.py --help
set -euo pipefail
VENV_DIR="${1:-/work/venvs/mace}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python3 -m venv "$VENV_DIR"
"$VENV_DIR/bin/pip" install --quiet --upgrade pip
# torch first, pinned as in pyproject.toml (the CPU wheel), so mace-torch's resolution cannot move it
"$VENV_DIR/bin/pip" install --quiet "torch==2.13.0"
"$VENV_DIR/bin/pip" install --quiet "torch==2.13.0" mace-torch
"$VENV_DIR/bin/pip" install --quiet -e "$ROOT"
"$VENV_DIR/bin/python" - <<'PY'
import e3nn, mace, torch
print(f"torch {torch.__version__}, e3nn {e3nn.__version__}, mace {getattr(mace, '__version__', '?')}")
PY
