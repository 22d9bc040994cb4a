"""``bsct.train`` exports its public API lazily (importing the package stays cheap): every name of
``__all__`` resolves, and a misspelt one is a clear AttributeError."""

import importlib
import subprocess
import sys

import pytest

import bsct.train


def test_every_public_name_resolves_to_its_module_object():
    from bsct.train.callbacks import default_score_fn
    from bsct.train.loop import train

    assert bsct.train.train is train and bsct.train.default_score_fn is default_score_fn
    for name in bsct.train.__all__:
        obj = getattr(bsct.train, name)
        assert obj.__module__.startswith("bsct.train.")
        assert getattr(importlib.import_module(obj.__module__), name) is obj


def test_a_misspelt_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'bsct.train' has no attribute 'trian'"):
        bsct.train.trian  # noqa: B018


def test_importing_the_package_imports_no_torch():
    code = "import sys, bsct.train; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
