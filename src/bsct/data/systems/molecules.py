"""Small organic molecules (C, H, N, O) labelled by GFN2-xTB: a SPICE-like stand-in.

Starting geometries are the closed-shell neutral molecules of ASE's G2 collection listed
below. Per molecule the pool holds conformers from Langevin MD with xTB itself at 300 K and
1000 K (0.5 fs step), rattled copies (σ 0.02–0.08 Å) and copies with one bond stretched by
10–35 % (off-equilibrium points like a BSCT scan visits). Unseen: the same kinds of frames of
whole molecules that never appear in train/val/test.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from ase import Atoms

from bsct.data.reference import GFN2_XTB
from bsct.data.sampling import child_rng, rattle, strip
from bsct.data.systems._common import SampleTask, md_frames, run_tasks, tag

METHOD = GFN2_XTB
TIMESTEP_FS = 0.5
MD_EQUIL_STEPS = 200
MD_STRIDE_STEPS = 40

TRAIN_MOLECULES: tuple[str, ...] = (
    "CH4", "NH3", "H2O", "C2H6", "C2H4", "C2H2", "CH3OH", "H2CO", "HCOOH", "CH3CHO", "CH3CH2OH", "CH3OCH3",
    "H3CNH2", "CH3CN", "HCN", "CH3COOH", "CH3CONH2", "C3H8", "CH3COCH3", "C6H6", "C4H4O", "C4H4NH", "N2H4",
    "CO2", "isobutane",
)
UNSEEN_MOLECULES: tuple[str, ...] = ("C5H5N", "CH3CH2NH2", "HCOOCH3", "CH3NO2")

SIZES: dict[str, dict[str, int]] = {  # frames per molecule of each kind
    "ci": {"md_300K": 1, "md_1000K": 1, "rattled": 1, "stretched": 1},
    "full": {"md_300K": 16, "md_1000K": 12, "rattled": 8, "stretched": 8},
}


def g2(name: str) -> Atoms:
    from ase.collections import g2 as collection

    atoms = strip(collection[name])
    atoms.center()
    return atoms


def stretch_bond(atoms: Atoms, rng: np.random.Generator, factor_range=(1.1, 1.35)) -> Atoms:
    """Copy with one random covalent bond (i, j) lengthened by a factor; j moves along the bond."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i_idx, j_idx = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    k = int(rng.integers(len(i_idx)))
    i, j = int(i_idx[k]), int(j_idx[k])
    out = strip(atoms)
    bond = out.positions[j] - out.positions[i]
    out.positions[j] = out.positions[i] + bond * float(rng.uniform(*factor_range))
    out.info["stretched_pair"] = f"{i}-{j}"
    return out


def _frames(name: str, n: dict[str, int], seed: int, md_equil_steps: int, md_stride_steps: int,
            tick) -> list[Atoms]:
    base = g2(name)
    frames: list[Atoms] = []
    for t_k in (300, 1000):
        count = n[f"md_{t_k}K"]
        if count:
            frames += tag(md_frames(lambda rng: base, METHOD.factory, count, seed, f"{name}/md_{t_k}K", t_k,
                                    TIMESTEP_FS, md_equil_steps, md_stride_steps, 4, tick), f"md_{t_k}K", temperature_k=t_k)
    rattled = []
    for i in range(n["rattled"]):
        rng = child_rng(seed, f"{name}/rattled", i)
        rattled.append(rattle(base, float(rng.uniform(0.02, 0.08)), rng))
        tick()
    frames += tag(rattled, "rattled")
    stretched = []
    for i in range(n["stretched"]):
        rng = child_rng(seed, f"{name}/stretched", i)
        stretched.append(stretch_bond(rattle(base, 0.02, rng), rng))
        tick()
    frames += tag(stretched, "stretched")
    return [_set(a, molecule=name) for a in frames]


def _set(atoms: Atoms, **info) -> Atoms:
    atoms.info.update(info)
    return atoms


def sample_tasks(size: str, seed: int) -> list[SampleTask]:
    """One task per molecule (see :class:`SampleTask`), in output order."""
    per = SIZES[size]
    n = sum(per.values())

    def task(part, name):  # module constants read here, so a task run in another process sees the same
        return SampleTask(part, n, partial(_frames, name, per, seed, MD_EQUIL_STEPS, MD_STRIDE_STEPS))

    return [task("pool", name) for name in TRAIN_MOLECULES] + [task("unseen", name) for name in UNSEEN_MOLECULES]


def sample(size: str, seed: int, tick=lambda: None):
    return run_tasks(sample_tasks(size, seed), tick)

