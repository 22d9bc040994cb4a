"""CHGNet trained from scratch on our data by chgnet's Trainer (bsct.train.external_chgnet).

Skipped without the ``models`` extra (``pytest.importorskip("chgnet")``).
"""

import json

import pytest
from ase.build import bulk

from bsct.data import ci_path
from bsct.potentials import AtomsBatch
from bsct.registry import load_potential
from bsct.train.external_chgnet import train_chgnet


def test_checkpoints_must_lie_within_training(tmp_path):
    with pytest.raises(ValueError, match="checkpoints_at"):
        train_chgnet(ci_path("cu", "train"), tmp_path, epochs=3, checkpoints_at=(0, 3))


def test_train_chgnet_keeps_each_requested_checkpoint_and_caches():
    pytest.importorskip("chgnet")
    from zoo_models import tiny_chgnet, tiny_chgnet_kwargs

    paths = tiny_chgnet()
    assert [p.name for p in paths] == ["epoch0001.pth.tar", "epoch0002.pth.tar"]
    out_dir = paths[0].parents[1]
    assert json.loads((out_dir / "train.json").read_text())["n_train_structures"] == 4
    mtimes = [p.stat().st_mtime_ns for p in paths]
    assert train_chgnet(out_dir=out_dir, **tiny_chgnet_kwargs()) == list(paths)  # read back, not retrained
    assert [p.stat().st_mtime_ns for p in paths] == mtimes


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    pytest.importorskip("chgnet")
    from zoo_models import tiny_chgnet, tiny_chgnet_kwargs

    again = train_chgnet(out_dir=tmp_path, **tiny_chgnet_kwargs())[-1]
    batch = AtomsBatch.from_atoms([bulk("Cu", "fcc", a=3.6, cubic=True)])
    first = load_potential(f"chgnet:{tiny_chgnet()[-1]}")(batch)
    second = load_potential(f"chgnet:{again}")(batch)
    assert float(first.energy_ev[0]) == float(second.energy_ev[0])
