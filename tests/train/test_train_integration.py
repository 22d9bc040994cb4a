"""A checkpoint of the Transformer MLIP works as a SPEC in the BSCT scan and in the MD stability test."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from bsct.model.checkpoint import save_checkpoint
from bsct.model.config import named_config
from bsct.model.transformer import build_model

TINY = dict(hidden_dim=16, n_heads=2, n_vector_channels=4, n_layers=1, k_neighbors=8, n_rbf=8,
            r_cut_angstrom=4.0, elements=(29,))


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = build_model(named_config("final", **TINY), seed=0)
    model.set_normalization(torch.tensor([-3.7]), 0.5)
    return str(save_checkpoint(tmp_path_factory.mktemp("ckpt") / "final.pt", model))


def cu_cell():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.02, seed=1)
    return atoms


def test_checkpoint_through_bsct_scan(checkpoint):
    from ase.cluster import Icosahedron

    from bsct.scan import api
    from bsct.scan.geometry import ScanRange

    cluster = Icosahedron("Cu", 2)  # 13 atoms, non-periodic: a small, fast scan
    report = api.run_bsct(checkpoint, [cluster], max_per_type=1, progress=False, refine_jumps=False,
                          scan_range=ScanRange(n_points=40))
    assert np.isfinite(report.score) and report.score >= 0


def test_checkpoint_through_md(checkpoint):
    from bsct.md import run as md

    result = md.run_md_stability(checkpoint, [cu_cell()], md.MDConfig(time_ps=0.02, equilibration_ps=0.0, replicas=2))
    assert len(result.runs) == 2
    assert 0.0 <= result.stable_fraction <= 1.0
