"""Crystal scan cells: v1's half-cell growth (before) vs v2's image-safe cell (after), in one run.

    python benchmarks/bench_crystal_cells.py [--points 12] [--repeats 2]
    python benchmarks/bench_crystal_cells.py --models chgnet --convergence 6,9,12,15 --points 12

fcc Cu inputs of 4, 32 and 108 atoms (cubic cell repeated 1, 2, 3 times), the first bond of each,
scanned as ``build_scan`` lays it out under ``cell_rule="half-cell"`` (main's rule, v1) and
``"image-safe"`` (bsct.scan.cells, v2's default) with the model's interaction range:

- ``lj`` (torch Lennard-Jones, cutoff 8.5 Å; range = cutoff, exact);
- ``emt`` (range 2 x 5.88 Å, exact) and EMT with the range set to one cutoff (5.88 Å: smaller
  cells, not exact: the "max |dE|" column says by how much);
- the paper-size Transformer (``final``: 2 layers, r_cut 6 Å, untrained; default range 2 r_cut,
  short of its 2-layer receptive field, so not exact either), and with the range set to r_cut;
- ``chgnet`` (CHGNet 0.3.0, float64, atom graph 6 Å, 4 message-passing layers; default range
  2 r_cut, not exact) and ``chgnet-rc`` with the range set to r_cut (6 Å).

``--convergence 6,9,12,15 --models chgnet`` instead prints each range's image error against the
largest range's cell (one bond of the 4-atom input, ``--points`` points).

Per case, interleaved in every repeat, one thread: CPU time of ``evaluate_scan`` over ``--points``
scan points (``time.process_time``; the machine is shared), best repeat. "max |dE|" is the largest
difference between the two cells' energy differences E(r) - E(r_first scored) over the collision
guard's scored range, eV, and relative to the largest such difference. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402

from bsct.registry import load_potential  # noqa: E402
from bsct.scan.bonds import find_bonds  # noqa: E402
from bsct.scan.collisions import scored_mask  # noqa: E402
from bsct.scan.geometry import MANY_BODY_RANGE_FACTOR, ScanRange, build_scan  # noqa: E402
from bsct.scan.runner import evaluate_scan  # noqa: E402


def transformer():
    """The paper-size Transformer (config ``final``: dim 64, 2 layers, k = 30, r_cut 6 Å), untrained,
    float64 (timing does not depend on the weights)."""
    from bsct.model.config import named_config
    from bsct.model.transformer import build_model

    return build_model(named_config("final", elements=(29,), dtype="float64"), seed=0).eval()


_CHGNET = []


def chgnet():
    if not _CHGNET:  # one load for both rows
        _CHGNET.append(load_potential("chgnet:0.3.0[dtype=float64]"))
    return _CHGNET[0]


def convergence(potential, ranges_angstrom: list[float], points: int) -> None:
    """The image error of one fcc Cu bond scan against the largest range's cell: max |ΔE − ΔE_ref|
    over the scored range, ΔE = E(r) − E(first scored r), per image range (Markdown table)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    bond = find_bonds(atoms)[0]
    curves = {}
    for rng in sorted(ranges_angstrom):
        geo = build_scan(atoms, bond, ScanRange(n_points=points), potential.cutoff_angstrom, cell_rule="image-safe",
                         image_range_angstrom=rng)
        curves[rng] = (len(geo.atoms), geo, evaluate_scan(potential, geo).energy_ev)
    _, ref_geo, ref_e = curves[max(curves)]
    mask = scored_mask(ref_geo.closest_third_atom_angstrom(), ref_geo.r_angstrom)
    k0 = np.flatnonzero(mask)[0]
    ref = (ref_e - ref_e[k0])[mask]
    print(f"{getattr(potential, 'name', potential)}, fcc Cu (4-atom input, first bond), {points} points; reference: "
          f"the {curves[max(curves)][0]}-atom cell of R = {max(curves):g} Å; ΔE range {np.abs(ref).max():.2f} eV\n")
    print("| image range R (Å) | cell atoms | max abs(ΔE − ΔE_ref), eV |")
    print("|---:|---:|---:|")
    for rng, (n_atoms, _, e) in curves.items():
        print(f"| {rng:g} | {n_atoms} | {np.abs((e - e[k0])[mask] - ref).max():.1e} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default="lj,emt,emt-rc,transformer")
    parser.add_argument("--inputs", default="1,2,3", help="cubic 4-atom cell repeated n times, comma-separated")
    parser.add_argument("--convergence", default=None, metavar="R1,R2,...",
                        help="instead: the image error of each model's scan per image range (Å) against the largest")
    args = parser.parse_args()
    torch.set_num_threads(1)
    emt = load_potential("emt")
    models = {"lj": lambda: (load_potential("lj"), None), "emt": lambda: (emt, None),
              "emt-rc": lambda: (emt, emt.interaction_range_angstrom / 2), "transformer": lambda: (transformer(), None),
              "transformer-rc": lambda: (transformer(), 6.0), "chgnet": lambda: (chgnet(), None),
              "chgnet-rc": lambda: (chgnet(), chgnet().cutoff_angstrom)}
    if args.convergence:
        for key in args.models.split(","):
            convergence(models[key]()[0], [float(x) for x in args.convergence.split(",")], args.points)
        return
    cases = []
    for key in args.models.split(","):
        potential, image_range = models[key]()
        image_range = image_range or getattr(potential, "interaction_range_angstrom", None) \
            or MANY_BODY_RANGE_FACTOR * potential.cutoff_angstrom  # build_scan's default when none is declared
        for n in (int(x) for x in args.inputs.split(",")):
            atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(n)
            bond = find_bonds(atoms)[0]
            grid = ScanRange(n_points=args.points)
            geos = {"before": build_scan(atoms, bond, grid, potential.cutoff_angstrom),
                    "after": build_scan(atoms, bond, grid, potential.cutoff_angstrom, cell_rule="image-safe",
                                        image_range_angstrom=image_range)}
            cases.append((key, len(atoms), potential, geos, image_range))
    best = {(i, v): np.inf for i in range(len(cases)) for v in ("before", "after")}
    curves = {}
    for _ in range(args.repeats):
        for i, (_, _, potential, geos, _) in enumerate(cases):
            for v, geo in geos.items():
                start = time.process_time()
                curves[i, v] = evaluate_scan(potential, geo)
                best[i, v] = min(best[i, v], time.process_time() - start)
    print(f"{platform.processor() or platform.machine()}, one thread, torch {torch.__version__}, {args.points} points x "
          f"{args.repeats} interleaved repeats (best CPU time)\n")
    print("| model (range R) | input atoms | atoms before | atoms after | CPU ms/point before | CPU ms/point after "
          "| before / after | max abs dE, eV | relative |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, (key, n_in, _, geos, image_range) in enumerate(cases):
        after = geos["after"]
        mask = scored_mask(after.closest_third_atom_angstrom(), after.r_angstrom)
        k0 = np.flatnonzero(mask)[0]
        de = [(curves[i, v].energy_ev - curves[i, v].energy_ev[k0])[mask] for v in ("before", "after")]
        t_before, t_after = (best[i, v] / args.points * 1e3 for v in ("before", "after"))
        print(f"| {key} ({image_range:.2f} Å) | {n_in} | {len(geos['before'].atoms)} | {len(after.atoms)} | "
              f"{t_before:.1f} | {t_after:.1f} | {t_before / t_after:.2f} | {np.abs(de[0] - de[1]).max():.1e} | "
              f"{np.abs(de[0] - de[1]).max() / np.abs(de[0]).max():.1e} |")


if __name__ == "__main__":
    main()
