"""Hard k-NN energy jumps when two neighbours swap rank; differentiable k-NN stays continuous.

Continuity is tested the way a mathematician would: the energy difference across the swap
point shrinks to zero with the displacement (proportionally to it), while the hard k-NN
difference stays finite.
"""

import numpy as np
import pytest
import torch
from ase import Atoms

from bsct.model.config import named_config
from bsct.model.neighborhood import X_DROP, log_fade
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch

pytestmark = pytest.mark.usefixtures("one_thread")

MOLECULES = dict(n_layers=2, elements=(1, 6, 8), dtype="float64")
DELTAS = [1e-2, 1e-4, 1e-6]


def swap_cluster(t: float) -> Atoms:
    """C at the origin with two H at 1.0 / 1.1 Å; O at 2.0 Å and a third H at 2.0 + t Å.

    With k = 3 the O and the far H compete for the carbon's last neighbour slot; they swap
    order at t = 0 (different elements, so the swap changes what the carbon sees).
    """
    u = -np.ones(3) / np.sqrt(3.0)
    positions = [[0, 0, 0], [1.0, 0, 0], [0, 1.1, 0], [0, 0, 2.0], list((2.0 + t) * u)]
    return Atoms("CHHOH", positions=positions)


def leaving_cluster(d: float) -> Atoms:
    """A small molecule plus an H atom at distance d from the carbon, along -z."""
    positions = [[0, 0, 0], [1.0, 0, 0], [0, 1.1, 0], [0.3, 0.2, 1.2], [0, 0, -d]]
    return Atoms("CHHOH", positions=positions)


def energies(model, frames):
    return model(AtomsBatch.from_atoms(frames)).energy_ev.numpy()


def jumps(model, make, at):
    return np.array([abs(np.diff(energies(model, [make(at - d), make(at + d)]))[0]) for d in DELTAS])


@pytest.mark.parametrize("name,extra", [("baseline", {}), ("+diffknn", {}), ("final", {}),
                                        ("final", {"degree_embedding": True})])
def test_rank_swap(tiny, name, extra):
    model = build_model(named_config(name, **tiny(**MOLECULES, k_neighbors=3, **extra)), seed=0)
    diff = jumps(model, swap_cluster, 0.0)
    if name == "baseline":  # hard k-NN: a finite step that does not shrink
        assert diff[-1] > 1e-4
        assert diff[-1] > 0.5 * diff[0]
    else:  # continuous: the difference shrinks with the displacement
        np.testing.assert_allclose(diff / np.array(DELTAS), diff[0] / DELTAS[0], rtol=0.05)  # |dE| ~ slope * 2d
        assert diff[-1] < 1e-6


@pytest.mark.parametrize("graph", ["knn", "diffknn", "radius"])
@pytest.mark.parametrize("degree_embedding", [False, True])
def test_neighbour_leaving_the_cutoff(tiny, graph, degree_embedding):
    model = build_model(named_config("final", **tiny(**MOLECULES, k_neighbors=8, graph=graph, degree_embedding=degree_embedding)),
                        seed=0)
    diff = jumps(model, leaving_cluster, 4.0)  # the far H crosses r_cut = 4 Å
    if graph == "knn":
        assert diff[-1] > 1e-4
        return
    assert diff.max() < 1e-12  # faded out before r_cut
    # the H does matter inside the fade region, so the quiet crossing is not for want of an effect
    e_near, e_fading = energies(model, [leaving_cluster(3.0), leaving_cluster(3.9)])
    assert abs(e_near - e_fading) > 1e-8
    # and E(d) is smooth through the whole fade and the edge's removal: halving the step divides
    # the largest second difference by ~4 (E'' continuous), where a jump or a kink would not shrink so
    rough = []
    for n in (231, 461):
        d = np.linspace(2.9, 4.05, n)
        rough.append(np.abs(np.diff(energies(model, [leaving_cluster(x) for x in d]), 2)).max())
    assert 3.5 < rough[0] / rough[1] < 4.5, rough


def test_diffknn_curve_is_smooth_along_a_scan(tiny):
    """Dense scan through the swap: second differences stay small everywhere for diffknn, not for knn."""
    t = np.linspace(-0.3, 0.3, 301)
    rough = {}
    for name in ["baseline", "final"]:
        model = build_model(named_config(name, **tiny(**MOLECULES, k_neighbors=3)), seed=0)
        e = energies(model, [swap_cluster(x) for x in t])
        rough[name] = np.abs(np.diff(e, 2)).max()
    assert rough["final"] < 0.1 * rough["baseline"]


def test_log_fade_values():
    x = torch.tensor([-1.0, 0.0, 0.5, 0.8, X_DROP])
    w = torch.exp(log_fade(x))
    assert w[0] == 1 and w[1] == 1
    assert 0.7 < w[2] < 0.8 and 0.05 < w[3] < 0.1 and w[4] < 1e-20
