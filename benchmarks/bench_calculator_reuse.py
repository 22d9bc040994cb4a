"""Reused vs fresh ASE calculators: harness time per frame over the raw ASE loop.

    python benchmarks/bench_calculator_reuse.py [--frames 12] [--repeats 3]

Scan-like frames: one crystal cell with atom 1 moved along its bond to atom 0, a step per frame.
Per system, in one run with the variants interleaved in every repeat, one thread:

- raw: one ASE calculator, ``atoms.positions`` updated per frame, energy and forces;
- fresh: ``CalculatorPotential(factory, reuse=False)`` through ``bsct.potentials.evaluate.evaluate``
  (the previous path: a new calculator per model call, ``MAX_ATOMS_PER_CALL`` atoms per call);
- kept: the same with ``reuse=True`` (one calculator for the adapter's life).

Per-frame times are the best repeat; ratio = adapter / raw. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import ase  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from bsct.potentials.ase_adapters import CalculatorPotential  # noqa: E402
from bsct.potentials.evaluate import Configurations, evaluate  # noqa: E402


def sw_si():
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import StillingerWeber
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import Stillinger_Weber_PRB_31_5262_Si

    return Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))


def scan_positions(atoms, n_frames: int, step_angstrom: float = 0.05) -> np.ndarray:
    """(n_frames, n_atoms, 3): atom 1 moved along the 0-1 bond, from 0.8x its length outwards."""
    direction = atoms.positions[1] - atoms.positions[0]
    bond = np.linalg.norm(direction)
    out = np.repeat(atoms.positions[None], n_frames, axis=0)
    for k in range(n_frames):
        out[k, 1] = atoms.positions[0] + (0.8 * bond + step_angstrom * k) * direction / bond
    return out


def raw_loop(make, atoms, positions):
    work = atoms.copy()
    work.calc = make()
    for p in positions:
        work.positions = p
        work.get_potential_energy()
        work.get_forces()


def adapter(make, reuse: bool, atoms, positions):
    result = evaluate(CalculatorPotential(make, reuse=reuse), Configurations(atoms, positions))
    assert not result.failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    systems = [
        ("EMT Cu fcc", EMT, bulk("Cu", "fcc", a=3.61, cubic=True).repeat(4)),
        ("EMT Cu fcc", EMT, bulk("Cu", "fcc", a=3.61, cubic=True).repeat(6)),
        ("SW Si diamond", sw_si, bulk("Si", "diamond", a=5.431, cubic=True).repeat(3)),
        ("SW Si diamond", sw_si, bulk("Si", "diamond", a=5.431, cubic=True).repeat(4)),
    ]
    variants = {
        "raw": raw_loop,
        "fresh": lambda make, atoms, pos: adapter(make, False, atoms, pos),
        "kept": lambda make, atoms, pos: adapter(make, True, atoms, pos),
    }
    best = {(i, v): np.inf for i in range(len(systems)) for v in variants}
    for _, make, atoms in systems:  # warm-up: imports, first-call compilation
        for run in variants.values():
            run(make, atoms, scan_positions(atoms, 1))
    for _ in range(args.repeats):
        for i, (_, make, atoms) in enumerate(systems):
            positions = scan_positions(atoms, args.frames)
            for v, run in variants.items():
                start = time.perf_counter()
                run(make, atoms, positions)
                best[i, v] = min(best[i, v], (time.perf_counter() - start) / args.frames)
    print(f"{platform.processor() or platform.machine()}, one thread, ase {ase.__version__}, "
          f"{args.frames} frames x {args.repeats} interleaved repeats (best)\n")
    print("| system | atoms | raw ms/frame | fresh ms/frame | kept ms/frame | fresh / raw | kept / raw |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i, (name, _, atoms) in enumerate(systems):
        raw, fresh, kept = (best[i, v] * 1e3 for v in variants)
        print(f"| {name} | {len(atoms)} | {raw:.1f} | {fresh:.1f} | {kept:.1f} | {fresh / raw:.2f} | {kept / raw:.2f} |")


if __name__ == "__main__":
    main()
