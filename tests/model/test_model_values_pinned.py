"""The model's outputs are pinned: faster code (issue #23) must compute the same function.

The expected numbers below are literals computed with the model code of main at commit 0575bcd
(before the speed work), float64, one thread, by running this file's ``CASES`` through that code
(``python tests/model/test_model_values_pinned.py`` prints them; run it on that commit to
reproduce). They are not produced by the code under test. Tolerance 1e-10 eV (eV/Å, eV/Å^3).

Every graph (hard k-NN, differentiable k-NN, radius), the degree embedding, the direct-force
head, periodic / free / slab cells, a batch of systems of different sizes, stress, and the
second derivative the training loss needs (d sum(F.w) / d parameters) are covered.
"""

import math
import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule

from bsct.model.config import named_config
from bsct.model.transformer import build_model
from bsct.potentials.protocol import AtomsBatch

TINY = dict(hidden_dim=16, n_heads=2, n_vector_channels=4, n_layers=2, k_neighbors=8, n_rbf=8, r_cut_angstrom=4.0)


def cu_bulk():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))  # 32 atoms
    atoms.rattle(0.08, seed=11)
    return atoms


def cu_slab():
    atoms = fcc111("Cu", size=(2, 2, 3), vacuum=4.0)  # pbc = (True, True, False)
    atoms.rattle(0.05, seed=12)
    return atoms


def molecules():
    a = molecule("CH3CH2OH")
    a.rattle(0.05, seed=13)
    b = molecule("H2O")
    b.rattle(0.05, seed=14)
    return [a, b]


def dimer():
    return Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.3]])


# name -> (named config, overrides, structures, stress?)
CASES = {
    "baseline-paper-cu": ("baseline", {}, lambda: [cu_bulk()], True),
    "diffknn-paper-cu": ("+diffknn", {}, lambda: [cu_bulk()], True),
    "final-paper-cu": ("final", {}, lambda: [cu_bulk()], True),
    "final-tiny-molecules": ("final", dict(TINY, elements=(1, 6, 8)), molecules, False),
    "final-tiny-slab+dimer": ("final", dict(TINY), lambda: [cu_slab(), dimer()], False),
    "radius-tiny-cu": ("final", dict(TINY, graph="radius"), lambda: [cu_bulk()], True),
    "degree-tiny-cu": ("final", dict(TINY, degree_embedding=True), lambda: [cu_bulk()], True),
    "learned-T-tiny-cu": ("final", dict(TINY, learn_temperature=True), lambda: [cu_bulk()], False),
    "direct-tiny-cu": ("final", dict(TINY, force_head="direct"), lambda: [cu_bulk()], False),
}


def build(name):
    config_name, overrides, structures, stress = CASES[name]
    overrides = dict(overrides)
    elements = overrides.pop("elements", (29,))
    cfg = named_config(config_name, **{**overrides, "elements": elements, "dtype": "float64"})
    model = build_model(cfg, seed=7)
    n = len(cfg.elements)
    model.set_normalization(torch.linspace(-3.5, -1.0, n, dtype=torch.float64), 0.8)
    return model, AtomsBatch.from_atoms(structures()), stress


def weights(shape):
    """Fixed, non-symmetric weights so one number checks every force component."""
    return torch.cos(torch.arange(math.prod(shape), dtype=torch.float64) * 0.7 + 0.3).reshape(shape)


def summary(name):
    """energy per system, F[0], F[-1], sum(F * w), stress (or None) as plain lists."""
    model, batch, stress = build(name)
    out = model(batch, compute_stress=stress)
    f = out.forces_ev_per_angstrom
    return dict(
        energy=out.energy_ev.tolist(),
        f_first=f[0].tolist(),
        f_last=f[-1].tolist(),
        f_weighted=float((f * weights(f.shape)).sum()),
        stress=None if out.stress_ev_per_angstrom3 is None else out.stress_ev_per_angstrom3.flatten().tolist(),
    )


def parameter_gradient(name):
    """sum over parameters of d sum(F.w) / d theta . u, the second derivative a force loss uses."""
    model, batch, _ = build(name)
    out = model(batch, create_graph=True)
    f = out.forces_ev_per_angstrom
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad((f * weights(f.shape)).sum() + out.energy_ev.sum(), params)
    return float(sum((g * weights(g.shape)).sum() for g in grads))


# ---- literals from main at commit 0575bcd (see module docstring) ----
EXPECTED = {
    'baseline-paper-cu': {'energy': [-110.43821449959268], 'f_first': [0.0007135499333827355, -4.068351603842562e-05, -0.005193143083084808], 'f_last': [-0.0033833180967225776, -0.002910117660129504, 0.0009677541386540454], 'f_weighted': -0.0034863474295215233, 'stress': [0.000225864662075801, 1.1734229030406578e-05, -4.41283031461515e-05, 1.1734229030406578e-05, 0.000232244770629456, -8.089857629023565e-05, -4.41283031461515e-05, -8.089857629023565e-05, 0.0002981044672256064]},
    'degree-tiny-cu': {'energy': [-120.91993750868728], 'f_first': [-0.05982038804407624, 0.05835736574633555, 0.026403861809677433], 'f_last': [-0.006672764045628228, 0.03561067132926002, -0.13623762819188906], 'f_weighted': 0.4248124011308408, 'stress': [-0.0008817019745313967, -0.001283784930105356, -0.002215182046849326, -0.001283784930105356, -0.0016317758572119152, -8.824399264169248e-05, -0.002215182046849326, -8.824399264169248e-05, -0.003680284868898561]},
    'diffknn-paper-cu': {'energy': [-110.4817837175835], 'f_first': [-0.007096335272664635, 0.003086838737977958, -0.0015401742933069656], 'f_last': [-0.00019165204274531052, 0.0012170268727476987, 0.006775443634028634], 'f_weighted': -0.05724817254749894, 'stress': [-0.00037361214775277567, 6.484107822929262e-06, -4.118357390306167e-06, 6.484107822929262e-06, -0.0004302930643728918, -6.0681897877687596e-05, -4.118357390306167e-06, -6.0681897877687596e-05, -0.000489206950135446]},
    'direct-tiny-cu': {'energy': [-117.04603863160398], 'f_first': [0.3342221977086325, 0.0006191101833568653, 0.0016531371948161457], 'f_last': [-0.011237720003421875, -0.023769512880786138, 0.05998731491047983], 'f_weighted': 0.7673978306542092, 'stress': None},
    'final-paper-cu': {'energy': [-110.35444842615954], 'f_first': [0.00029809475494968696, -0.0034621862828354763, -0.012362025160811908], 'f_last': [-0.0033949308084495235, -0.008439496416415705, -0.0013829343142449026], 'f_weighted': 0.05451448748769703, 'stress': [1.9244672984321906e-05, -3.6776447995240095e-05, -0.00010977232738636976, -3.6776447995240095e-05, 0.00020360530282277034, -0.00017120693354863784, -0.00010977232738636976, -0.00017120693354863784, 0.0002909620082268397]},
    'final-tiny-molecules': {'energy': [-25.485278026305483, -7.874172478193799], 'f_first': [0.005591754591129792, 0.0010294017180216151, 0.00013409970381518597], 'f_last': [0.003629173090233375, 0.024542740796304276, 0.013438295749827934], 'f_weighted': 0.007906593256807655, 'stress': None},
    'final-tiny-slab+dimer': {'energy': [-43.88281216730456, -7.320879182463562], 'f_first': [-0.00023287767873348027, 0.0003992394092730287, 0.01279839428954068], 'f_last': [-0.0, -0.0, -0.019396051447791364], 'f_weighted': -0.03014177249921629, 'stress': None},
    'learned-T-tiny-cu': {'energy': [-117.04603863160398], 'f_first': [0.01177915853116952, -0.0013222470254842498, -0.0005753492547549507], 'f_last': [-1.317998622930687e-06, -0.004155438111394946, 0.008076536635914603], 'f_weighted': 0.010720685998042469, 'stress': None},
    'radius-tiny-cu': {'energy': [-116.86380267403531], 'f_first': [-0.0006740432656756582, -0.0013570063328489682, 0.004069514839008604], 'f_last': [0.0015680819915608391, -0.002027783304725753, -0.005872235330656522], 'f_weighted': 0.04691247524845268, 'stress': [5.698620996175216e-05, -3.1813663561431033e-06, -6.035439966367347e-07, -3.1813663561431033e-06, -3.30274681359867e-05, -6.696641801240288e-07, -6.035439966367347e-07, -6.696641801240288e-07, -1.4208549656747069e-05]},
}
EXPECTED_PARAMETER_GRADIENT = {
    'final-paper-cu': 24.778426917444282,
    'final-tiny-molecules': 15.726288881265418,
    'degree-tiny-cu': 8.982925952480786,
    'learned-T-tiny-cu': -8.476272181347262,
    'direct-tiny-cu': -15.932816932722307,
    'baseline-paper-cu': 26.221888101360825,
}


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_equal_those_of_the_model_code_before_the_speed_work(name):
    got, want = summary(name), EXPECTED[name]
    np.testing.assert_allclose(got["energy"], want["energy"], rtol=0, atol=1e-10)
    for key in ("f_first", "f_last", "f_weighted"):
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-10, err_msg=key)
    if want["stress"] is None:
        assert got["stress"] is None
    else:
        np.testing.assert_allclose(got["stress"], want["stress"], rtol=0, atol=1e-10)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETER_GRADIENT))
def test_training_second_derivative_equals_the_one_before_the_speed_work(name):
    assert parameter_gradient(name) == pytest.approx(EXPECTED_PARAMETER_GRADIENT[name], rel=1e-10, abs=1e-10)


if __name__ == "__main__":  # print the literals (run on commit 0575bcd to reproduce them)
    torch.set_num_threads(1)
    np.set_printoptions(precision=17)
    print("EXPECTED = {")
    for key in sorted(CASES):
        print(f"    {key!r}: {summary(key)!r},")
    print("}")
    print("EXPECTED_PARAMETER_GRADIENT = {")
    for key in ("final-paper-cu", "final-tiny-molecules", "degree-tiny-cu", "learned-T-tiny-cu", "direct-tiny-cu",
                "baseline-paper-cu"):
        print(f"    {key!r}: {parameter_gradient(key)!r},")
    print("}")
    sys.exit(0)
