"""A checkpoint of the Transformer MLIP works as a SPEC in the BSCT scan and in the MD stability test."""

import copy

import numpy as np
import pytest
import torch
from ase.build import bulk

from bsct.model.checkpoint import save_checkpoint
from bsct.model.config import named_config
from bsct.model.transformer import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

CU_ONLY = dict(elements=(29,))


@pytest.fixture(scope="module")
def model_and_checkpoint(tiny, tmp_path_factory):
    """A float32 model, and its checkpoint path; a checkpoint SPEC loads in float64 (see
    ``load_checkpoint_potential``), so the object to compare with is the same model in float64."""
    model = build_model(named_config("final", **tiny(**CU_ONLY)), seed=0)
    model.set_normalization(torch.tensor([-3.7]), 0.5)
    path = str(save_checkpoint(tmp_path_factory.mktemp("ckpt") / "final.pt", model))
    return copy.deepcopy(model).to(torch.float64), path


def cu_cell():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.02, seed=1)
    return atoms


def test_checkpoint_through_bsct_scan(model_and_checkpoint):
    """The checkpoint SPEC scans exactly like the model it was saved from."""
    from ase.cluster import Icosahedron

    from bsct.scan import api
    from bsct.scan.geometry import ScanRange

    cluster = Icosahedron("Cu", 2)  # 13 atoms, non-periodic: a small, fast scan
    reports = [api.run_bsct(m, [cluster], max_per_type=1, progress=False, refine_jumps=False,
                            scan_range=ScanRange(n_points=40)) for m in model_and_checkpoint]
    from_object, from_file = (r.results[0].curve for r in reports)
    assert np.isfinite(from_file.energy_ev).all() and np.ptp(from_file.energy_ev) > 1e-3  # a real, varying curve
    np.testing.assert_array_equal(from_file.energy_ev, from_object.energy_ev)
    np.testing.assert_array_equal(from_file.scan_force_ev_per_angstrom, from_object.scan_force_ev_per_angstrom)
    assert reports[1].score == reports[0].score and reports[1].artifacts == reports[0].artifacts


def test_checkpoint_through_md(model_and_checkpoint):
    """The checkpoint SPEC runs the same MD, step for step, as the model it was saved from."""
    from bsct.md import run as md

    cfg = md.MDConfig(time_ps=0.02, equilibration_ps=0.0, replicas=2, seed=3)
    results = [md.run_md_stability(m, [cu_cell()], cfg) for m in model_and_checkpoint]
    assert [len(r.runs) for r in results] == [2, 2]
    for a, b in zip(*(r.runs for r in results)):
        assert a.n_force_calls == b.n_force_calls == 21  # 0.02 ps at the default 1 fs, plus the first call
        np.testing.assert_array_equal(a.trace["total_energy_ev"], b.trace["total_energy_ev"])
    assert results[1].stable_fraction == results[0].stable_fraction
