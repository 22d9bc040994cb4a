"""A FAMILY:PATH model SPEC names what is wrong with its file: absent, or not a model of that package."""

from __future__ import annotations

import pytest

from bsct.registry import load_potential
from bsct.runs import BadInput


@pytest.mark.parametrize("family, package, filename, absent, wrong", [
    ("chgnet", "chgnet", "model.pth.tar", "no such CHGNet model file", "not a CHGNet model file"),
    ("nequip", "nequip", "model.ckpt", "no such nequip model file", "not a nequip checkpoint or package"),
])
def test_missing_and_wrong_files_are_clear_errors(tmp_path, family, package, filename, absent, wrong):
    pytest.importorskip(package)
    with pytest.raises(BadInput, match=absent):
        load_potential(f"{family}:{tmp_path / ('absent-' + filename)}")
    junk = tmp_path / filename
    junk.write_text("not a model")
    with pytest.raises(BadInput, match=wrong):
        load_potential(f"{family}:{junk}")
