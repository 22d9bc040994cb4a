"""Small seeded systems for the MD tests (built with ase.build, independent of committed data)."""

from __future__ import annotations

import pytest
from ase.build import bulk


@pytest.fixture(autouse=True)
def _one_torch_thread(one_thread):
    """Every MD test on one torch thread (tests/conftest.py)."""


@pytest.fixture
def cu4():
    """Conventional fcc Cu cell, 4 atoms (periodic; cheap for the torch Morse)."""
    return bulk("Cu", "fcc", a=3.61, cubic=True)


@pytest.fixture
def cu32():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)


@pytest.fixture
def si8():
    return bulk("Si", "diamond", a=5.43, cubic=True)
