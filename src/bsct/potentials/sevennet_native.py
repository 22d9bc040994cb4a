"""SevenNet evaluated natively: many structures per model call through its own graph batching.

Each structure becomes an ``AtomGraphData`` built by the same function SevenNet's ASE calculator
uses (``unlabeled_atoms_to_graph``: matscipy's neighbour list, non-periodic axes widened); the
graphs are joined by torch_geometric's ``Collater`` and the model runs in batch mode, as sevenn's
own batch inference and TorchSim interface do. In float32 (SevenNet's precision) energies, forces
and stress equal the calculator's bit for bit (tests/potentials/test_sevennet_native.py).

``dtype="float64"`` is not offered by sevenn itself (its TorchSim interface refuses it and its
one-hot node embedding casts to float32): here the model is moved to float64 and a cast is put
after that embedding; it agrees with float32 to float32 rounding (~1e-6 eV) and its forces are
-dE/dx to finite-difference accuracy.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from bsct.potentials.evaluate import chunks
from bsct.potentials.protocol import AtomsBatch, PotentialOutput, torch_dtype

#: SevenNet models whose weights ship in the sevenn 0.13 wheel (names as sevenn spells them)
SHIPPED = ("7net-0", "7net-0_11July2024", "7net-0_22May2024", "7net-l3i5", "7net-mf-0")


class _CastFeatures(torch.nn.Module):
    """Casts the named entries of SevenNet's data dict to ``dtype`` (after its float32 one-hot)."""

    def __init__(self, keys: list[str], dtype: torch.dtype):
        super().__init__()
        self.keys = keys
        self.dtype = dtype

    def forward(self, data):
        for key in self.keys:
            data[key] = data[key].to(self.dtype)
        return data


def _to_dtype(model, dtype: torch.dtype):
    """``model`` evaluated in ``dtype``: weights moved, a cast added after the one-hot embedding."""
    if dtype == torch.float32:
        return model
    model = model.to(dtype)
    onehot = model._modules["onehot_idx_to_onehot"]
    keys = [k for k in (onehot.key_output, onehot.key_additional_output) if k is not None]
    modules = OrderedDict()
    for name, module in model._modules.items():
        modules[name] = module
        if name == "onehot_idx_to_onehot":
            modules["bsct_cast_features"] = _CastFeatures(keys, dtype)
    model._modules = modules
    return model


class SevenNetPotential:
    """A SevenNet checkpoint (a shipped name, see :data:`SHIPPED`, or a path) behind the batched protocol.

    ``modal`` picks the fidelity of a multi-fidelity model (SevenNet-MF-0: ``PBE`` or ``R2SCAN``,
    any case). ``cutoff_angstrom`` defaults to the checkpoint's (5 Å for SevenNet-0).

    A call's structures go through the model in groups of at most ``max_edges_per_call`` edges
    (at least one structure each): batching a dimer's frames is 9x faster per frame, but past
    about a thousand edges SevenNet's tensor products dominate and bigger batches get slower per
    frame on a CPU (docs/benchmarks.md).
    """

    conservative = True

    def __init__(self, model: str = "7net-0", modal: str | None = None, dtype: str | torch.dtype = "float32",
                 cutoff_angstrom: float | None = None, max_edges_per_call: int = 1000):
        import sevenn._keys as KEY
        from sevenn.util import load_checkpoint, pretrained_name_to_path

        self.dtype = torch_dtype(dtype)
        if str(model).lower() in {s.lower() for s in SHIPPED}:
            path = pretrained_name_to_path(str(model))
        elif Path(model).is_file():
            path = str(model)
        else:  # sevenn would try to download any other name
            raise ValueError(f"SevenNet {model!r}: not a checkpoint file, and the weights shipped in the sevenn "
                             f"wheel are {', '.join(SHIPPED)}")
        checkpoint = load_checkpoint(path)
        net = checkpoint.build_model()
        self.modal = self._modal(net.modal_map, modal)
        net.set_is_batch_data(True)
        net.eval().requires_grad_(False)
        self._net = _to_dtype(net, self.dtype)
        self._graph_cutoff = float(checkpoint.config[KEY.CUTOFF])
        self.model = str(model)
        self.max_edges_per_call = int(max_edges_per_call)
        self.cutoff_angstrom = float(cutoff_angstrom if cutoff_angstrom is not None else self._graph_cutoff)
        name = {"7net-0": "SevenNet-0"}.get(str(model), f"SevenNet {model}")
        self.name = name + (f" [{self.modal}]" if self.modal else "") + (
            " (float64)" if self.dtype != torch.float32 else "")
        self.supported_elements = frozenset(int(z) for z in checkpoint.config[KEY.TYPE_MAP])

    @staticmethod
    def _modal(modal_map: dict | None, modal: str | None) -> str | None:
        if not modal_map:
            if modal:
                raise ValueError(f"modal={modal!r} given, but this model has one fidelity")
            return None
        by_lower = {m.lower(): m for m in modal_map}
        if modal is None or str(modal).lower() not in by_lower:
            raise ValueError(f"this multi-fidelity model needs modal=one of {', '.join(modal_map)}, got {modal!r}")
        return by_lower[str(modal).lower()]

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        import sevenn._keys as KEY
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from sevenn.util import dtype_correct

        graphs = []
        for atoms in batch.to_atoms():
            raw = unlabeled_atoms_to_graph(atoms, self._graph_cutoff)  # numpy, float64
            if self.dtype == torch.float32:
                data = AtomGraphData.from_numpy_dict(raw)  # exactly as its calculator
            else:  # edge vectors straight from float64, not through float32
                data = AtomGraphData(**{k: dtype_correct(v, float_dtype=self.dtype) for k, v in raw.items()})
            if self.modal:
                data[KEY.DATA_MODALITY] = self.modal
            graphs.append(data)
        sizes = np.array([g[KEY.EDGE_IDX].shape[1] for g in graphs])
        parts = [self._evaluate(graphs[lo:hi], compute_stress) for lo, hi in chunks(sizes, self.max_edges_per_call)]
        out_dtype, device = batch.positions_angstrom.dtype, batch.positions_angstrom.device
        energy, forces, stress = (torch.cat(p).to(device=device, dtype=out_dtype) if p[0] is not None else None
                                  for p in zip(*parts))
        if stress is not None:
            stress = stress * batch.pbc.all(dim=1).to(stress.dtype)[:, None, None]
        return PotentialOutput(energy, forces, stress)

    def _evaluate(self, graphs: list, compute_stress: bool):
        """(energy, forces, stress or None) of graphs evaluated in one model call."""
        import sevenn._keys as KEY
        from torch_geometric.loader.dataloader import Collater

        data = Collater([], follow_batch=None, exclude_keys=None)(graphs)
        with torch.enable_grad():
            out = self._net(data)
        # each system's atomic energies summed as SevenNet sums one structure (torch.sum, not its
        # batched scatter), so a batch equals its calculator to the last bit, not just to float32 rounding
        reduce = self._net._modules.get("reduce_total_enegy") or self._net._modules.get("reduce_total_energy")
        n_atoms = [int(g[KEY.NUM_ATOMS]) for g in graphs]
        atomic = out[KEY.ATOMIC_ENERGY].detach().reshape(-1).split(n_atoms)
        energy = torch.stack([torch.sum(e) for e in atomic]) * (reduce.constant if reduce is not None else 1.0)
        stress = None
        if compute_stress:  # SevenNet's virial order xx yy zz xy yz zx, sign flipped as its calculator does
            s = -out[KEY.PRED_STRESS].detach().reshape(-1, 6)
            stress = torch.stack([s[:, 0], s[:, 3], s[:, 5], s[:, 3], s[:, 1], s[:, 4], s[:, 5], s[:, 4], s[:, 2]],
                                 dim=1).reshape(-1, 3, 3)
        return energy, out[KEY.PRED_FORCE].detach(), stress
