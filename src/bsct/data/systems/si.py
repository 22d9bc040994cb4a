"""Silicon labelled by the Stillinger-Weber potential (1985 parameters, matscipy).

In-distribution pool: the 64-atom diamond supercell sampled by Langevin MD at 300 and 1000 K;
liquid at 1700 K (melted at 3500 K first; SW melts near 1690 K); randomly strained (±4 %) and
rattled cells. Unseen: β-tin (64 atoms, rattled and MD at 300 K), amorphous Si (melt-quench
to 300 K) and a (100) surface slab.
"""

from __future__ import annotations

from ase.build import bulk, diamond100
from ase.spacegroup import crystal

from bsct.data.reference import SW_SI
from bsct.data.sampling import child_rng, maxwell_boltzmann, strip
from bsct.data.systems._common import md_frames, rattled_frames, strained_frames, tag

METHOD = SW_SI
A_DIAMOND_ANGSTROM = 5.431
TIMESTEP_FS = 2.0

SIZES: dict[str, dict[str, int]] = {
    "ci": {"md_300K": 12, "md_1000K": 12, "liquid_1700K": 16, "strained": 12, "rattled": 8,
           "unseen_beta_tin": 4, "unseen_amorphous": 4, "unseen_surface": 4},
    "full": {"md_300K": 220, "md_1000K": 220, "liquid_1700K": 260, "strained": 180, "rattled": 120,
             "unseen_beta_tin": 50, "unseen_amorphous": 50, "unseen_surface": 50},
}


def diamond64(rng=None):
    return bulk("Si", "diamond", a=A_DIAMOND_ANGSTROM, cubic=True).repeat(2)


def beta_tin64(rng=None):
    # I4_1/amd, a = 4.686 Å, c = 2.585 Å (β-tin Si at ~11 GPa); 4 atoms per cell -> 2x2x4 = 64
    cell = crystal("Si", [(0, 0, 0)], spacegroup=141, cellpar=[4.686, 4.686, 2.585, 90, 90, 90])
    return cell.repeat((2, 2, 4))


def surface100(rng=None):
    return diamond100("Si", size=(2, 2, 8), a=A_DIAMOND_ANGSTROM, vacuum=7.0, periodic=True)


def melt(seed: int, key: str, n_melt_steps: int, final_temperature_k: float, n_steps_to_final: int):
    """Diamond melted at 3500 K, then held at (or quenched linearly to) ``final_temperature_k``."""
    from ase import units
    from ase.md.langevin import Langevin

    rng = child_rng(seed, key)
    atoms = diamond64()
    atoms.calc = METHOD.calculator()
    maxwell_boltzmann(atoms, 3500, rng)
    dyn = Langevin(atoms, TIMESTEP_FS * units.fs, temperature_K=3500, friction=0.02 / units.fs, fixcm=False, rng=rng)
    dyn.run(n_melt_steps)
    n_stages = 10
    for stage in range(1, n_stages + 1):
        dyn.set_temperature(temperature_K=3500 + (final_temperature_k - 3500) * stage / n_stages)
        dyn.run(max(1, n_steps_to_final // n_stages))
    return strip(atoms)


def sample(size: str, seed: int, tick=lambda: None):
    n = SIZES[size]
    calc = METHOD.factory

    def md(key, start, t_k, count, per_run=12, equil=150, stride=20):
        return tag(md_frames(start, calc, count, seed, key, t_k, TIMESTEP_FS, equil, stride, per_run, tick),
                   key, temperature_k=t_k)

    pool = []
    pool += md("md_300K", diamond64, 300, n["md_300K"])
    pool += md("md_1000K", diamond64, 1000, n["md_1000K"])
    liquid = melt(seed, "liquid", 400, 1700, 200)
    pool += md("liquid_1700K", lambda rng: liquid, 1700, n["liquid_1700K"], per_run=16, equil=100, stride=30)
    pool += tag(strained_frames(diamond64, n["strained"], seed, "strained", 0.04, 0.04, tick), "strained")
    pool += tag(rattled_frames(diamond64, n["rattled"], seed, "rattled", (0.02, 0.25), tick), "rattled")

    unseen = []
    k = n["unseen_beta_tin"] // 2
    unseen += tag(rattled_frames(beta_tin64, k, seed, "beta_tin_rattled", (0.02, 0.1), tick), "beta_tin_rattled")
    unseen += md("beta_tin_300K", beta_tin64, 300, n["unseen_beta_tin"] - k, per_run=4, equil=50, stride=20)
    amorphous = melt(seed, "amorphous", 400, 300, 1000)
    unseen += md("amorphous_300K", lambda rng: amorphous, 300, n["unseen_amorphous"], per_run=8, equil=50)
    unseen += md("surface100_300K", surface100, 300, n["unseen_surface"], per_run=4, equil=200)
    return pool, unseen
