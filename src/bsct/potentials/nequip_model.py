"""NequIP-framework models (NequIP, Allegro) behind the batched protocol: SPEC ``nequip:PATH``.

PATH is what the ``nequip`` package (0.19) writes: a training checkpoint (``*.ckpt``, e.g. from
:func:`bsct.train.external.train_nequip`) or a ``nequip-package`` archive (``*.nequip.zip``),
loaded with nequip's own ``load_saved_model``. A whole :class:`AtomsBatch` is one model call: the
batch becomes nequip's own batched ``AtomicDataDict`` (flat atoms plus a per-atom ``batch``
index, as in its torch-sim integration), nequip's transforms map species to types and build the
neighbour list, and the model returns per-system energies and -dE/dx forces (and the stress).

Cutoff and elements are read from the model's metadata (``r_max``, ``type_names``).
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from bsct.potentials.protocol import AtomsBatch, PotentialOutput, torch_dtype



def _missing_nequip() -> ImportError:
    return ImportError("nequip:PATH models need the `nequip` package (and `nequip-allegro` for Allegro): "
                       "pip install 'bsct[zoo]'")


@contextmanager
def _nequip_global_state():
    """nequip's process-wide set-up (``set_global_state``: float64 default dtype, and on first use
    ``seed_everything(123)``), undone on exit so the rest of the process sees no change."""
    from nequip.utils.global_state import set_global_state

    dtype, torch_rng = torch.get_default_dtype(), torch.get_rng_state()
    np_rng, py_rng = np.random.get_state(), random.getstate()
    seed_env = os.environ.get("PL_GLOBAL_SEED")
    try:
        set_global_state(allow_tf32=False)
        torch.set_default_dtype(torch.float64)
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_rng_state(torch_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
        if seed_env is None:
            os.environ.pop("PL_GLOBAL_SEED", None)


def _load(path: Path, dtype: str | None):
    """nequip's own loader; for another ``dtype`` than trained, a checkpoint's model is rebuilt by
    nequip's Lightning module from the checkpoint's model config with ``model_dtype`` replaced, and
    the same weights loaded into it (a cast of the built model is not enough: its layers keep the
    trained dtype)."""
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.train.lightning import _SOLE_MODEL_KEY

    if dtype is None:
        return load_saved_model(str(path))
    import hydra

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    hparams = checkpoint["hyper_parameters"]
    module = hydra.utils.get_class(hparams["info_dict"]["training_module"]["_target_"])
    lightning_module = module.load_from_checkpoint(str(path), weights_only=False,
                                                   model={**hparams["model"], "model_dtype": dtype})
    return lightning_module.evaluation_model[_SOLE_MODEL_KEY]


class NequIPPotential:
    """A trained NequIP or Allegro model, evaluated a whole batch per call.

    Args:
        path: a nequip checkpoint (``.ckpt``) or packaged model (``.nequip.zip``).
        dtype: the model's floating point type: ``None`` keeps the one it was trained in
            (``model_dtype`` in its metadata); ``"float64"``/``"float32"`` evaluates the same
            weights in that precision (checkpoints only).
            Positions always enter in float64 (nequip's data convention).
    """

    conservative = True

    def __init__(self, path: str | Path, dtype: str | None = None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such nequip model file (a .ckpt checkpoint or a .nequip.zip package)")
        try:
            from nequip.integrations.utils import basic_transforms
            from nequip.nn import graph_model
        except ImportError as exc:
            raise _missing_nequip() from exc
        if dtype is not None:
            torch_dtype(dtype)  # float32 or float64, else a ValueError naming them
        if dtype is not None and path.name.endswith(".nequip.zip"):
            raise ValueError("dtype= applies to checkpoints (.ckpt); "
                             "a packaged model runs in the dtype it was packaged in")
        try:
            with _nequip_global_state():
                model = _load(path, dtype)
        except Exception as exc:  # noqa: BLE001 - any file that is not a nequip model
            raise ValueError(f"{path}: not a nequip checkpoint or package ({type(exc).__name__}: {exc})") from exc
        metadata = model.metadata
        self.dtype = metadata.get(graph_model.MODEL_DTYPE_KEY, "float32")
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.path = str(path)
        self.name = f"nequip {path.name}"
        self.cutoff_angstrom = float(metadata[graph_model.R_MAX_KEY])
        self.type_names = metadata[graph_model.TYPE_NAMES_KEY].split(" ")
        identity = {t: t for t in self.type_names}
        self._transforms = basic_transforms(metadata, self.cutoff_angstrom, self.type_names, identity)
        # type names are chemical symbols in models trained by bsct (identity species -> type map)
        self.supported_elements = frozenset(self.type_names)

    def _check_elements(self, atomic_numbers: torch.Tensor) -> None:
        from ase.data import chemical_symbols

        unknown = sorted({chemical_symbols[int(z)] for z in torch.unique(atomic_numbers)} - self.supported_elements)
        if unknown:
            raise ValueError(f"{self.name} was trained on {', '.join(sorted(self.supported_elements))} only; "
                             f"it cannot evaluate {', '.join(unknown)}")

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        from nequip.data import AtomicDataDict as K

        self._check_elements(batch.atomic_numbers)
        data = {
            # copies: the model switches on requires_grad of the positions it is given
            K.POSITIONS_KEY: batch.positions_angstrom.detach().to(torch.float64).clone(),
            K.CELL_KEY: batch.cell_angstrom.detach().to(torch.float64).clone(),
            K.PBC_KEY: batch.pbc.clone(),
            K.BATCH_KEY: batch.system_idx.clone(),
            K.NUM_NODES_KEY: batch.n_atoms_per_system,
            K.ATOMIC_NUMBERS_KEY: batch.atomic_numbers.clone(),
        }
        with _nequip_global_state():
            for transform in self._transforms:
                data = transform(data)
            out = self.model(data)
        dtype = batch.positions_angstrom.dtype
        energy = out[K.TOTAL_ENERGY_KEY].detach().reshape(-1).to(dtype)
        forces = out[K.FORCE_KEY].detach().to(dtype)
        stress = None
        if compute_stress:
            stress = torch.zeros(batch.n_systems, 3, 3, dtype=dtype)
            periodic = batch.pbc.all(dim=1)
            if periodic.any() and out.get(K.STRESS_KEY) is not None:
                stress[periodic] = out[K.STRESS_KEY].detach().reshape(-1, 3, 3).to(dtype)[periodic]
        return PotentialOutput(energy, forces, stress)
