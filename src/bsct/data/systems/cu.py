"""Copper labelled by ASE's EMT.

In-distribution pool: fcc supercells of 32 and 108 atoms sampled by Langevin MD at 300, 600
and 1200 K; randomly strained (±4 %) and rattled cells; cells with vacancies (MD at 600 K);
an fcc(111) slab (MD at 300 and 600 K). Unseen: bcc and hcp bulk and the (100) and (110)
surfaces, none of which appear in the pool.
"""

from __future__ import annotations

from functools import partial

from ase.build import bulk, fcc100, fcc110, fcc111

from bsct.data.reference import EMT_CU
from bsct.data.systems._common import (
    SampleTask,
    md_frames,
    rattled_frames,
    run_tasks,
    strained_frames,
    tag,
    tagged,
)

METHOD = EMT_CU
A_FCC_ANGSTROM = 3.59  # EMT's equilibrium lattice constant for Cu (3.590 Å)
TIMESTEP_FS = 5.0

SIZES: dict[str, dict[str, int]] = {
    "ci": {"md32_300K": 10, "md32_600K": 10, "md32_1200K": 10, "md108": 4, "strained": 10, "rattled": 8,
           "vacancy": 8, "slab111": 8, "unseen_bcc": 4, "unseen_hcp": 4, "unseen_fcc100": 2, "unseen_fcc110": 2},
    "full": {"md32_300K": 120, "md32_600K": 120, "md32_1200K": 120, "md108": 120, "strained": 150,
             "rattled": 100, "vacancy": 120, "slab111": 150, "unseen_bcc": 50, "unseen_hcp": 50,
             "unseen_fcc100": 40, "unseen_fcc110": 40},
}


def fcc32(rng=None):
    return bulk("Cu", "fcc", a=A_FCC_ANGSTROM, cubic=True).repeat(2)


def fcc108(rng=None):
    return bulk("Cu", "fcc", a=A_FCC_ANGSTROM, cubic=True).repeat(3)


def with_vacancy(rng):
    atoms = fcc32() if rng.random() < 0.5 else fcc108()
    n_remove = 1 if len(atoms) == 32 else 2
    del atoms[sorted(rng.choice(len(atoms), size=n_remove, replace=False).tolist(), reverse=True)]
    return atoms


def slab111(rng=None):
    return fcc111("Cu", size=(3, 3, 4), a=A_FCC_ANGSTROM, vacuum=7.0, periodic=True)


def bcc54(rng=None):
    # same volume per atom as fcc: a_bcc = (2 a_fcc^3 / 4)^(1/3)
    return bulk("Cu", "bcc", a=(A_FCC_ANGSTROM**3 / 2) ** (1 / 3), cubic=True).repeat(3)


def hcp54(rng=None):
    a = A_FCC_ANGSTROM / 2**0.5
    return bulk("Cu", "hcp", a=a, c=a * (8 / 3) ** 0.5).repeat(3)


def slab100(rng=None):
    return fcc100("Cu", size=(3, 3, 4), a=A_FCC_ANGSTROM, vacuum=7.0, periodic=True)


def slab110(rng=None):
    return fcc110("Cu", size=(3, 3, 4), a=A_FCC_ANGSTROM, vacuum=7.0, periodic=True)


def fcc32_or_108(rng):
    """The strained set's base cell: fcc32 with probability 0.7, else fcc108."""
    return fcc32() if rng.random() < 0.7 else fcc108()


def _md(seed, key, start, t_k, count, per_run, equil, stride, tick):
    frames = md_frames(start, METHOD.factory, count, seed, key, t_k, TIMESTEP_FS, equil, stride, per_run, tick)
    return tag(frames, key, temperature_k=t_k)


def sample_tasks(size: str, seed: int) -> list[SampleTask]:
    """The recipe as independent tasks (see :class:`SampleTask`), in output order."""
    n = SIZES[size]

    def md(part, key, start, t_k, count, per_run=10, equil=200, stride=20):
        return SampleTask(part, count, partial(_md, seed, key, start, t_k, count, per_run, equil, stride))

    tasks = [md("pool", f"md32_{t_k}K", fcc32, t_k, n[f"md32_{t_k}K"]) for t_k in (300, 600, 1200)]
    third = n["md108"] // 3
    for i, t_k in enumerate((300, 600, 1200)):
        count = third + (1 if i < n["md108"] - 3 * third else 0)
        if count:
            tasks.append(md("pool", f"md108_{t_k}K", fcc108, t_k, count, per_run=4, equil=100, stride=10))
    tasks.append(SampleTask("pool", n["strained"], partial(
        tagged, partial(strained_frames, fcc32_or_108, n["strained"], seed, "strained", 0.04, 0.03), "strained")))
    tasks.append(SampleTask("pool", n["rattled"], partial(
        tagged, partial(rattled_frames, fcc32, n["rattled"], seed, "rattled", (0.02, 0.2)), "rattled")))
    tasks.append(md("pool", "vacancy_600K", with_vacancy, 600, n["vacancy"], per_run=4, equil=100))
    half = n["slab111"] // 2
    tasks.append(md("pool", "slab111_300K", slab111, 300, half, per_run=4, equil=100))
    tasks.append(md("pool", "slab111_600K", slab111, 600, n["slab111"] - half, per_run=4, equil=100))
    tasks.append(md("unseen", "bcc_600K", bcc54, 600, n["unseen_bcc"], per_run=4, equil=100))
    tasks.append(md("unseen", "hcp_600K", hcp54, 600, n["unseen_hcp"], per_run=4, equil=100))
    tasks.append(md("unseen", "slab100_600K", slab100, 600, n["unseen_fcc100"], per_run=4, equil=100))
    tasks.append(md("unseen", "slab110_600K", slab110, 600, n["unseen_fcc110"], per_run=4, equil=100))
    return tasks


def sample(size: str, seed: int, tick=lambda: None):
    return run_tasks(sample_tasks(size, seed), tick)
