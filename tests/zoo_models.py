"""Tiny models of other architectures, trained once per test process by their own packages' trainers
(``nequip-train``, chgnet's ``Trainer``); shared by tests/potentials/test_{nequip,chgnet}_model.py and
tests/train/test_external*.py.

NequIP needs the optional ``zoo`` extra, CHGNet the ``models`` extra: callers
``pytest.importorskip("nequip")`` / ``("chgnet")`` first.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

#: a few seconds of training on 4 ci Cu frames: enough weights to test loading and physics, not accuracy
TINY_HYPER = {"nequip": {"num_layers": 1, "num_features": 8, "radial_mlp_width": 8},
              "allegro": {"num_scalar_features": 8, "num_tensor_features": 2, "radial_chemical_embed_dim": 8,
                          "scalar_embed_mlp_hidden_layers_width": 8, "allegro_mlp_hidden_layers_width": 8,
                          "readout_mlp_hidden_layers_width": 8}}


def tiny_nequip_kwargs(model: str = "nequip", seed: int = 0) -> dict:
    from bsct.data import ci_path

    return dict(data_path=ci_path("cu", "train"), model=model, n_train=4, n_val=2, seed=seed, epochs=2,
                checkpoints_at=(1, 2), hyper=TINY_HYPER[model])


@lru_cache(maxsize=None)
def tiny_nequip(model: str = "nequip") -> tuple[Path, ...]:
    """Checkpoints after epochs 1 and 2 of a tiny ``model`` ("nequip" or "allegro") on ci Cu."""
    from bsct.train.external import train_nequip

    out = Path(tempfile.mkdtemp(prefix=f"bsct-tiny-{model}-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return tuple(train_nequip(out_dir=out / "run", **tiny_nequip_kwargs(model)))


def tiny_chgnet_kwargs(seed: int = 0) -> dict:
    from bsct.data import ci_path

    return dict(data_path=ci_path("cu", "train"), n_train=4, n_val=2, seed=seed, epochs=2, checkpoints_at=(1, 2),
                hyper={"atom_fea_dim": 8, "bond_fea_dim": 8, "angle_fea_dim": 8, "atom_conv_hidden_dim": 8,
                       "bond_conv_hidden_dim": 8, "mlp_hidden_dims": [8]})


@lru_cache(maxsize=None)
def tiny_chgnet() -> tuple[Path, ...]:
    """Checkpoints after epochs 1 and 2 of a tiny CHGNet trained from scratch on ci Cu by chgnet's Trainer."""
    from bsct.train.external_chgnet import train_chgnet

    out = Path(tempfile.mkdtemp(prefix="bsct-tiny-chgnet-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return tuple(train_chgnet(out_dir=out / "run", **tiny_chgnet_kwargs()))


def assert_equals_calculator(out, batch, frames, calc, *, stress_atol: float, periodic_stress_only: bool = False):
    """Our batched output equals the package's own ASE calculator frame by frame (1e-6 eV, 1e-6 eV/Å)."""
    import numpy as np

    for i, atoms in enumerate(frames):
        atoms = atoms.copy()
        atoms.calc = calc
        assert abs(atoms.get_potential_energy() - float(out.energy_ev[i])) < 1e-6
        np.testing.assert_allclose(out.forces_ev_per_angstrom[batch.system_idx == i].numpy(), atoms.get_forces(),
                                   atol=1e-6)
        if atoms.pbc.all() or not periodic_stress_only:
            np.testing.assert_allclose(out.stress_ev_per_angstrom3[i].numpy(), atoms.get_stress(voigt=False),
                                       atol=stress_atol)
