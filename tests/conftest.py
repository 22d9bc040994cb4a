"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

#: The Transformer MLIP small enough for unit tests (a forward pass in milliseconds); files add what
#: they test (``elements``, ``n_layers``, ``dtype``, ``graph``...) through :func:`tiny`.
TINY_MODEL = dict(hidden_dim=16, n_heads=2, n_vector_channels=4, n_layers=1, k_neighbors=8, n_rbf=8,
                  r_cut_angstrom=4.0)


@pytest.fixture(scope="session")
def tiny():
    """``tiny(**overrides)``: keyword arguments of ``named_config`` for a tiny model, overrides win."""

    def make(**overrides) -> dict:
        return {**TINY_MODEL, **overrides}

    return make


@pytest.fixture
def one_thread():
    """Torch on one thread for the test, restored afterwards: tiny batches run several times faster on
    one thread than on two that contend on the shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _system_cache_in_tmp(tmp_path_factory):
    """The suite's parsed-system cache (bsct.data.spice_cache) lives in a session folder, never in ~/.cache."""
    import os

    before = os.environ.get("BSCT_CACHE_DIR")
    os.environ["BSCT_CACHE_DIR"] = str(tmp_path_factory.mktemp("bsct_cache"))
    yield
    if before is None:
        os.environ.pop("BSCT_CACHE_DIR", None)
    else:
        os.environ["BSCT_CACHE_DIR"] = before
