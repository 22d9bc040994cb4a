"""NVE energy drift of GFN2-xTB against its SCF accuracy: is the reference's drift SCF noise?

Runs the study's MD protocol (0.5 ps Langevin at 300 K, then NVE at the auto timestep, 0.5 fs
for H) on the first thermal CH4 and NH3 test frames of the full molecules set with tblite's
``accuracy`` at each value given, drift criteria switched off, and prints the NVE drift.
A drift that shrinks with the SCF tolerance comes from incompletely converged forces (a
smaller ``--timestep-fs`` reduces it but does not remove it).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/md_xtb_scf_drift.py [--accuracy 1 0.1 0.01]
      [--nve-ps 3] [--timestep-fs 0.5]
Measures, asserts nothing; docs/md.md quotes its table.
"""

from __future__ import annotations

import argparse
import time

from bsct.data import read_structures, reference_path
from bsct.md.criteria import StabilityCriteria
from bsct.md.run import MDConfig, run_md_stability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accuracy", type=float, nargs="+", default=[1.0, 0.1, 0.01])
    parser.add_argument("--nve-ps", type=float, default=3.0)
    parser.add_argument("--timestep-fs", type=float, default=None)
    args = parser.parse_args()

    frames = read_structures(reference_path("molecules", "test", size="full"))
    starts = [next(a for a in frames if a.get_chemical_formula() == f and a.info.get("config_type") == "md_300K")
              for f in ("CH4", "H3N")]
    criteria = StabilityCriteria(max_energy_drift_mev_per_atom=1e9, max_drift_slope_mev_per_atom_per_ps=1e9)
    print("| SCF accuracy | molecule | Δt (fs) | NVE (ps) | final drift (meV/atom) | slope (meV/atom/ps) | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for acc in args.accuracy:
        config = MDConfig(temperature_k=300.0, time_ps=args.nve_ps, equilibration_ps=0.5, replicas=len(starts),
                          seed=0, timestep_fs=args.timestep_fs)
        t0 = time.perf_counter()
        result = run_md_stability(f"xtb:GFN2-xTB[accuracy={acc}]", starts, config, criteria)
        wall = time.perf_counter() - t0
        dt = config.resolved_timestep_fs(starts)
        for run in result.runs:
            print(f"| {acc:g} | {run.formula} | {dt:g} | {args.nve_ps:g} | "
                  f"{run.drift_mev_per_atom:.3f} | {run.drift_slope_mev_per_atom_per_ps:.3f} | {wall / len(starts):.0f} |")


if __name__ == "__main__":
    main()
