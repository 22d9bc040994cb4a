"""Silicon labelled by the Stillinger-Weber potential (1985 parameters, matscipy).

In-distribution pool: the 64-atom diamond supercell sampled by Langevin MD at 300 and 1000 K;
liquid at 1700 K (melted at 3500 K first; SW melts near 1690 K); randomly strained (±4 %) and
rattled cells. Unseen: β-tin (64 atoms, rattled and MD at 300 K), amorphous Si (melt-quench
to 300 K) and a (100) surface slab.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from ase.build import bulk, diamond100
from ase.spacegroup import crystal

from bsct.data.reference import SW_SI
from bsct.data.sampling import child_rng, maxwell_boltzmann, strip
from bsct.data.systems._common import (
    SampleTask,
    md_frames,
    rattled_frames,
    run_tasks,
    same_start,
    strained_frames,
    tag,
    tagged,
)

METHOD = SW_SI
A_DIAMOND_ANGSTROM = 5.431
TIMESTEP_FS = 2.0

SIZES: dict[str, dict[str, int]] = {
    "ci": {"md_300K": 12, "md_1000K": 12, "liquid_1700K": 16, "strained": 12, "rattled": 8,
           "unseen_beta_tin": 4, "unseen_amorphous": 4, "unseen_surface": 4},
    "full": {"md_300K": 220, "md_1000K": 220, "liquid_1700K": 260, "strained": 180, "rattled": 120,
             "unseen_beta_tin": 50, "unseen_amorphous": 50, "unseen_surface": 50},
}


def _sampler_neighbourhood():
    """matscipy's cutoff neighbourhood without the jk pair search that SW's forces never read.

    ``CutoffNeighbourhood.get_triplets`` also maps every triplet to its j–k pair with a Python
    loop (~75 % of a 64-atom force call) although ``Manybody`` asks only for "ijdD". Skipping it
    leaves ij/ik, distances and so every number bit-identical (tested), at ~4x the speed.
    """
    from matscipy.neighbours import (
        CutoffNeighbourhood,
        first_neighbours,
        neighbour_list,
        triplet_list,
    )

    class PairsOnlyTriplets(CutoffNeighbourhood):
        def get_triplets(self, atoms, quantities, neighbours=None, cutoff=None):
            if "k" in quantities:
                return super().get_triplets(atoms, quantities, neighbours, cutoff)
            cutoff = self.cutoff if cutoff is None else cutoff
            i_p, _, d_p, D_p = neighbour_list("ijdD", atoms, cutoff) if neighbours is None else neighbours
            ij_t, ik_t = triplet_list(first_neighbours(len(atoms), i_p), d_p, cutoff)
            connectivity = np.array([ij_t, ik_t]).T
            D = np.zeros((len(ij_t), 3, 3))
            D[:, 0] = D_p[ij_t]
            D[:, 1] = D_p[ik_t]
            D[:, 2] = D[:, 1] - D[:, 0]
            return self.make_result(quantities, connectivity, D, np.linalg.norm(D, axis=-1), None,
                                    accepted_quantities="ijdD")

    return PairsOnlyTriplets


def sampler_calculator():
    """The SW (1985) Manybody calculator that drives the MD sampling, with the fast neighbourhood.

    Labels are still computed by ``METHOD`` (stock matscipy); this only speeds up sampling.
    """
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import StillingerWeber
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import (
        Stillinger_Weber_PRB_31_5262_Si,
    )

    form = StillingerWeber(Stillinger_Weber_PRB_31_5262_Si)
    neighbourhood = _sampler_neighbourhood()(atom_types=form["atom_type"], pair_types=form["pair_type"])
    return Manybody(**form, neighbourhood=neighbourhood)


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
    atoms.calc = sampler_calculator()
    maxwell_boltzmann(atoms, 3500, rng)
    dyn = Langevin(atoms, TIMESTEP_FS * units.fs, temperature_K=3500, friction=0.02 / units.fs, fixcm=False, rng=rng)
    dyn.run(n_melt_steps)
    n_stages = 10
    for stage in range(1, n_stages + 1):
        dyn.set_temperature(temperature_K=3500 + (final_temperature_k - 3500) * stage / n_stages)
        dyn.run(max(1, n_steps_to_final // n_stages))
    return strip(atoms)


def _md(seed, key, start, t_k, count, per_run, equil, stride, tick):
    frames = md_frames(start, sampler_calculator, count, seed, key, t_k, TIMESTEP_FS, equil, stride, per_run, tick)
    return tag(frames, key, temperature_k=t_k)


def _melted_md(seed, melt_key, n_melt_steps, final_temperature_k, n_steps_to_final, md_args, tick):
    """MD runs (``_md`` arguments after ``start``) from one melted (or melt-quenched) cell."""
    start = melt(seed, melt_key, n_melt_steps, final_temperature_k, n_steps_to_final)
    return _md(seed, md_args[0], partial(same_start, start), *md_args[1:], tick)


def sample_tasks(size: str, seed: int) -> list[SampleTask]:
    """The recipe as independent tasks (see :class:`SampleTask`), in output order."""
    n = SIZES[size]

    def md(part, key, start, t_k, count, per_run=12, equil=150, stride=20):
        return SampleTask(part, count, partial(_md, seed, key, start, t_k, count, per_run, equil, stride))

    k = n["unseen_beta_tin"] // 2
    return [
        md("pool", "md_300K", diamond64, 300, n["md_300K"]),
        md("pool", "md_1000K", diamond64, 1000, n["md_1000K"]),
        SampleTask("pool", n["liquid_1700K"], partial(
            _melted_md, seed, "liquid", 400, 1700, 200, ("liquid_1700K", 1700, n["liquid_1700K"], 16, 100, 30))),
        SampleTask("pool", n["strained"], partial(
            tagged, partial(strained_frames, diamond64, n["strained"], seed, "strained", 0.04, 0.04), "strained")),
        SampleTask("pool", n["rattled"], partial(
            tagged, partial(rattled_frames, diamond64, n["rattled"], seed, "rattled", (0.02, 0.25)), "rattled")),
        SampleTask("unseen", k, partial(
            tagged, partial(rattled_frames, beta_tin64, k, seed, "beta_tin_rattled", (0.02, 0.1)), "beta_tin_rattled")),
        md("unseen", "beta_tin_300K", beta_tin64, 300, n["unseen_beta_tin"] - k, per_run=4, equil=50, stride=20),
        SampleTask("unseen", n["unseen_amorphous"], partial(
            _melted_md, seed, "amorphous", 400, 300, 1000, ("amorphous_300K", 300, n["unseen_amorphous"], 8, 50, 20))),
        md("unseen", "surface100_300K", surface100, 300, n["unseen_surface"], per_run=4, equil=200),
    ]


def sample(size: str, seed: int, tick=lambda: None):
    return run_tasks(sample_tasks(size, seed), tick)
