"""Water labelled by GFN2-xTB (tblite).

Geometries are sampled cheaply with a classical flexible model and then relabelled with xTB:
TIP3P between molecules (``ase.calculators.tip3p``) plus harmonic O–H bonds and H–O–H angle
(SPC/Fw force constants k_r = 45.93 eV/Å², k_θ = 3.291 eV/rad², TIP3P geometry 0.9572 Å,
104.52°) inside each, under Langevin MD with a 0.5 fs step. Rigid TIP3P with RATTLE
constraints was tried first and is ~100x slower in ASE.

In-distribution pool: a periodic box of 32 molecules at 300 K / 1.00 g cm⁻³ and at
400 K / 0.92 g cm⁻³, plus clusters (H₂O)₂–(H₂O)₈ at 300 and 400 K. Unseen: the 32-molecule
box at another state point, 500 K / 1.08 g cm⁻³.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from bsct.data.reference import GFN2_XTB
from bsct.data.sampling import child_rng, run_md
from bsct.data.systems._common import SampleTask, run_tasks, tag

METHOD = GFN2_XTB
R_OH_ANGSTROM = 0.9572
ANGLE_HOH_DEG = 104.52
K_BOND_EV_PER_ANGSTROM2 = 45.93
K_ANGLE_EV_PER_RAD2 = 3.291
WATER_MASS_G_PER_MOL = 18.015
TIMESTEP_FS = 0.5
N_MOLECULES_BOX = 32
CLUSTERS_PER_TASK = 25
# snapshots per cluster run and their spacing (0.5 fs steps); ci: one snapshot after 300 steps.
# The full set takes 4 snapshots 50 fs apart per cluster (~2.5x less classical MD per frame).
CLUSTER_FRAMES_PER_RUN = {"ci": 1, "full": 4}
CLUSTER_STRIDE_STEPS = {"ci": 1, "full": 100}

SIZES: dict[str, dict[str, int]] = {
    "ci": {"box_300K": 6, "box_400K": 6, "clusters_300K": 10, "clusters_400K": 10, "unseen_box_500K": 4},
    # xTB on a 96-atom box costs ~12 s here against < 1 s for a cluster, so the full set keeps
    # 110 box frames (both pool state points and the unseen one) and fills up with clusters
    "full": {"box_300K": 40, "box_400K": 40, "clusters_300K": 220, "clusters_400K": 220,
             "unseen_box_500K": 30},
}
STATE_POINTS = {  # name -> (temperature_k, density_g_per_cm3)
    "box_300K": (300.0, 1.00),
    "box_400K": (400.0, 0.92),
    "unseen_box_500K": (500.0, 1.08),
}


def _molecule(rng: np.random.Generator) -> np.ndarray:
    """(3, 3) O, H, H positions of a TIP3P molecule, O at the origin, random orientation."""
    half = np.radians(ANGLE_HOH_DEG) / 2
    local = np.array([[0, 0, 0], [np.sin(half), np.cos(half), 0], [-np.sin(half), np.cos(half), 0]]) * R_OH_ANGSTROM
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.diag(r))
    return local @ rot.T


def _place(n_molecules: int, rng, box_angstrom: float | None, radius_angstrom: float | None,
           min_oo_angstrom: float = 2.6) -> Atoms:
    """Random non-overlapping molecules in a periodic cube or a sphere (clusters)."""
    centres: list[np.ndarray] = []
    positions = []
    for _ in range(200000):
        if len(centres) == n_molecules:
            break
        if box_angstrom is not None:
            p = rng.uniform(0, box_angstrom, 3)
        else:
            p = rng.uniform(-radius_angstrom, radius_angstrom, 3)
            if np.linalg.norm(p) > radius_angstrom:
                continue
        ok = True
        for c in centres:
            d = p - c
            if box_angstrom is not None:
                d -= box_angstrom * np.round(d / box_angstrom)
            if np.linalg.norm(d) < min_oo_angstrom:
                ok = False
                break
        if ok:
            centres.append(p)
            positions.append(_molecule(rng) + p)
    if len(centres) < n_molecules:
        raise RuntimeError(f"could not place {n_molecules} water molecules")
    symbols = "OHH" * n_molecules
    if box_angstrom is not None:
        return Atoms(symbols, positions=np.concatenate(positions), cell=[box_angstrom] * 3, pbc=True)
    return Atoms(symbols, positions=np.concatenate(positions))


def box_length_angstrom(n_molecules: int, density_g_per_cm3: float) -> float:
    return (n_molecules * WATER_MASS_G_PER_MOL / (density_g_per_cm3 * 0.602214076)) ** (1 / 3)


class FlexibleTIP3P(Calculator):
    """TIP3P between molecules plus harmonic O–H bonds and H–O–H angle inside each (SPC/Fw-like).

    E = E_TIP3P(intermolecular) + Σ_mol [½ k_r Σ_{OH} (r − r0)² + ½ k_θ (θ − θ0)²], with r0 and θ0
    the TIP3P geometry. Only used to *sample* geometries; the labels come from GFN2-xTB.
    Atoms must be ordered O, H, H per molecule (as :func:`_place` makes them).
    """

    implemented_properties: ClassVar[list[str]] = ["energy", "forces"]

    def __init__(self, rc_angstrom: float = 4.5, **kwargs):
        super().__init__(**kwargs)
        self.rc_angstrom = rc_angstrom

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from ase.calculators.tip3p import TIP3P

        super().calculate(atoms, properties, system_changes)
        inter = TIP3P(rc=self.rc_angstrom, width=1.0)
        work = self.atoms.copy()
        work.calc = inter
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces())
        pos = self.atoms.positions.reshape(-1, 3, 3)
        u = pos[:, 1] - pos[:, 0]  # (n_mol, 3)
        v = pos[:, 2] - pos[:, 0]
        ru = np.linalg.norm(u, axis=1)
        rv = np.linalg.norm(v, axis=1)
        cos = np.einsum("ij,ij->i", u, v) / (ru * rv)
        theta = np.arccos(np.clip(cos, -1.0, 1.0))
        sin = np.maximum(np.sin(theta), 1e-8)
        theta0 = np.radians(ANGLE_HOH_DEG)
        energy += float(0.5 * K_BOND_EV_PER_ANGSTROM2 * (((ru - R_OH_ANGSTROM) ** 2) + ((rv - R_OH_ANGSTROM) ** 2)).sum())
        energy += float(0.5 * K_ANGLE_EV_PER_RAD2 * ((theta - theta0) ** 2).sum())
        de_du = (K_BOND_EV_PER_ANGSTROM2 * (ru - R_OH_ANGSTROM) / ru)[:, None] * u
        de_dv = (K_BOND_EV_PER_ANGSTROM2 * (rv - R_OH_ANGSTROM) / rv)[:, None] * v
        k_dtheta = (K_ANGLE_EV_PER_RAD2 * (theta - theta0) * (-1.0 / sin))[:, None]
        de_du += k_dtheta * (v / (ru * rv)[:, None] - cos[:, None] * u / (ru**2)[:, None])
        de_dv += k_dtheta * (u / (ru * rv)[:, None] - cos[:, None] * v / (rv**2)[:, None])
        intra = np.stack([de_du + de_dv, -de_du, -de_dv], axis=1).reshape(-1, 3)
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = forces + intra


def _classical_md(atoms: Atoms, temperature_k: float, n_samples: int, stride_steps: int, n_equil_steps: int,
                  rng, tick) -> list[Atoms]:
    from ase.optimize import FIRE

    rc = 4.5 if atoms.pbc.any() else 10.0
    work = atoms.copy()
    work.calc = FlexibleTIP3P(rc)
    FIRE(work, logfile=None).run(fmax=0.5, steps=100)  # remove close contacts of the random packing
    return run_md(work, FlexibleTIP3P(rc), temperature_k, TIMESTEP_FS, n_equil_steps, n_samples,
                  stride_steps, rng, friction_per_fs=0.02, on_sample=tick)


def _box_frames(name: str, count: int, seed: int, tick) -> list[Atoms]:
    temperature_k, density = STATE_POINTS[name]
    frames = []
    run = 0
    while len(frames) < count:
        rng = child_rng(seed, name, run)
        start = _place(N_MOLECULES_BOX, rng, box_length_angstrom(N_MOLECULES_BOX, density), None)
        n = min(10, count - len(frames))
        frames += _classical_md(start, temperature_k, n, 40, 400, rng, tick)
        run += 1
    return tag(frames, name.removeprefix("unseen_"), temperature_k=temperature_k, density_g_per_cm3=density)


def _cluster_frames(temperature_k: float, first: int, stop: int, seed: int, frames_per_cluster: int,
                    stride_steps: int, tick) -> list[Atoms]:
    """Frames of clusters ``first`` .. ``stop - 1`` at one temperature, each cluster from its own
    ``child_rng``: a random packing, 300 steps of equilibration, then ``frames_per_cluster``
    snapshots ``stride_steps`` apart."""
    frames = []
    for i in range(first, stop):
        rng = child_rng(seed, f"clusters_{temperature_k:.0f}K", i)
        n_mol = int(rng.integers(2, 9))
        radius = (3 * n_mol / (4 * np.pi * 0.0334)) ** (1 / 3) + 0.5
        start = _place(n_mol, rng, None, radius)
        frames += _classical_md(start, temperature_k, frames_per_cluster, stride_steps, 300, rng, tick)
    return tag(frames, f"cluster_{temperature_k:.0f}K", temperature_k=temperature_k)


def sample_tasks(size: str, seed: int) -> list[SampleTask]:
    """The recipe as independent tasks (see :class:`SampleTask`), in output order; clusters
    in chunks of ``CLUSTERS_PER_TASK`` so that several processes share them evenly."""
    n = SIZES[size]
    tasks = [SampleTask("pool", n[name], partial(_box_frames, name, n[name], seed)) for name in ("box_300K", "box_400K")]
    per_cluster, stride = CLUSTER_FRAMES_PER_RUN[size], CLUSTER_STRIDE_STEPS[size]
    for t_k in (300.0, 400.0):
        n_clusters = n[f"clusters_{t_k:.0f}K"] // per_cluster
        for first in range(0, n_clusters, CLUSTERS_PER_TASK):
            stop = min(n_clusters, first + CLUSTERS_PER_TASK)
            tasks.append(SampleTask("pool", (stop - first) * per_cluster,
                                    partial(_cluster_frames, t_k, first, stop, seed, per_cluster, stride)))
    tasks.append(SampleTask("unseen", n["unseen_box_500K"], partial(_box_frames, "unseen_box_500K",
                                                                    n["unseen_box_500K"], seed)))
    return tasks


def sample(size: str, seed: int, tick=lambda: None):
    return run_tasks(sample_tasks(size, seed), tick)
