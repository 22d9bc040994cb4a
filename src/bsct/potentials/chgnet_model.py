"""A CHGNet model file behind the batched protocol: SPEC ``chgnet:PATH``.

PATH is what chgnet writes: a ``Trainer.save`` / training checkpoint (``*.pth.tar``, e.g. from
:func:`bsct.train.external_chgnet.train_chgnet`), read by ``CHGNet.from_file``. A whole batch is
one ``predict_structure`` call (chgnet's own graph batching, ``batch_size`` structures per
forward pass); CHGNet predicts energy per atom, returned here as the total. Forces are
-dE/dx by chgnet's autograd. CHGNet runs in float32 and needs periodic cells: a molecule is put in
a box wide enough that no atom sees an image (as for the pretrained ``chgnet:0.3.0``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import units

from bsct.potentials.protocol import AtomsBatch, PotentialOutput

class CHGNetFilePotential:
    """A CHGNet trained and saved by chgnet, evaluated a whole batch per call.

    ``cutoff_angstrom`` is the model's atom-graph cutoff; ``supported_elements`` those its
    composition model (``AtomRef``) was fitted with, when it records them (others give a
    ValueError), else any of chgnet's 94.
    """

    conservative = True

    def __init__(self, path: str | Path, batch_size: int = 16):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such CHGNet model file (a .pth.tar written by chgnet)")
        from chgnet.model import CHGNet

        try:
            model = CHGNet.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any file that is not a CHGNet model
            raise ValueError(f"{path}: not a CHGNet model file ({type(exc).__name__}: {exc})") from exc
        self.model = model.eval()
        self.batch_size = int(batch_size)
        self.path = str(path)
        self.name = f"CHGNet {path.name}"
        self.cutoff_angstrom = float(model.graph_converter.atom_graph_cutoff)
        weights = model.composition_model.state_dict().get("fc.weight")
        fitted = np.flatnonzero(weights.detach().numpy().ravel()) + 1 if weights is not None else np.arange(1, 95)
        self.supported_elements = frozenset(int(z) for z in fitted)

    def _structures(self, batch: AtomsBatch):
        from ase.data import chemical_symbols
        from pymatgen.io.ase import AseAtomsAdaptor

        unknown = sorted({int(z) for z in torch.unique(batch.atomic_numbers)} - self.supported_elements)
        if unknown:
            fitted = ", ".join(chemical_symbols[z] for z in sorted(self.supported_elements))
            raise ValueError(f"{self.name} was fitted on {fitted} only; "
                             f"it cannot evaluate {', '.join(chemical_symbols[z] for z in unknown)}")
        structures = []
        for atoms in batch.to_atoms():
            if not atoms.pbc.all():
                if atoms.pbc.any():
                    raise ValueError(f"{self.name} needs fully periodic or fully free structures, "
                                     f"got pbc={atoms.pbc.tolist()}")
                extent = atoms.positions.max(axis=0) - atoms.positions.min(axis=0)
                atoms.cell = np.diag(extent + 2 * self.cutoff_angstrom + 2.0)
                atoms.pbc = True
                atoms.center()
            structures.append(AseAtomsAdaptor.get_structure(atoms))
        return structures

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        structures = self._structures(batch)
        task = "efs" if compute_stress else "ef"
        predictions = self.model.predict_structure(structures, task=task, batch_size=self.batch_size)
        if isinstance(predictions, dict):
            predictions = [predictions]
        dtype = batch.positions_angstrom.dtype
        n_atoms = batch.n_atoms_per_system.to(dtype)
        energy = torch.as_tensor(np.array([p["e"] for p in predictions], dtype=np.float64), dtype=dtype)
        if self.model.is_intensive:  # eV/atom -> eV
            energy = energy * n_atoms
        forces = torch.as_tensor(np.concatenate([p["f"] for p in predictions]).astype(np.float64), dtype=dtype)
        stress = None
        if compute_stress:
            stress = torch.zeros(batch.n_systems, 3, 3, dtype=dtype)
            for s, (p, periodic) in enumerate(zip(predictions, batch.pbc.all(dim=1))):
                if periodic:
                    # GPa -> eV/Å³, as chgnet's own ASE calculator converts it
                    stress[s] = torch.as_tensor(np.asarray(p["s"], dtype=np.float64) * units.GPa)
        return PotentialOutput(energy, forces, stress)
