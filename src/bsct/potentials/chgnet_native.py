"""CHGNet evaluated natively: many structures per model call through CHGNet's own graph batching.

CHGNet's ASE calculator evaluates one structure per call and always asks for energy, forces,
stress and magnetic moments, differentiating with ``create_graph=True`` (kept for training);
this adapter builds each structure's ``CrystalGraph`` with the model's own converter, joins them
in one ``BatchedGraph`` and differentiates once, for energy and forces only (stress on request).

In float32 (the precision CHGNet ships and its calculator uses) the energies and forces equal the
calculator's bit for bit (tests/potentials/test_chgnet_native.py). ``dtype="float64"`` runs the
same weights in double precision: the model, the fractional coordinates, the lattice and the
image shifts in float64 (the neighbour search is float64 in both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from bsct.potentials.ase_adapters import in_vacuum_box
from bsct.potentials.evaluate import chunks
from bsct.potentials.protocol import AtomsBatch, PotentialOutput, torch_dtype


def _load(model: str | Path):
    """(CHGNet, name label, supported atomic numbers) of a pretrained name or a chgnet model file."""
    from chgnet.model import CHGNet

    path = Path(model)
    if not (str(model).endswith(".pth.tar") or path.is_file()):
        return CHGNet.load(model_name=str(model), use_device="cpu", verbose=False), str(model), ALL_ELEMENTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such CHGNet model file (a .pth.tar written by chgnet)")
    try:
        net = CHGNet.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any file that is not a CHGNet model
        raise ValueError(f"{path}: not a CHGNet model file ({type(exc).__name__}: {exc})") from exc
    weights = net.composition_model.state_dict().get("fc.weight")
    fitted = frozenset(int(z) + 1 for z in np.flatnonzero(weights.detach().numpy().ravel())) \
        if weights is not None else ALL_ELEMENTS
    return net, path.name, fitted


#: CHGNet's atom embedding has 94 rows, H to Pu
ALL_ELEMENTS = frozenset(range(1, 95))


class _AnglesNotUsedAfterThis(torch.nn.Module):
    """Stands in for CHGNet's last angle update: its output feeds no later layer (the last atom
    convolution reads atom and bond features only), so computing it only costs time."""

    def forward(self, atom_feas, bond_feas, angle_feas, bond_graph):  # noqa: ARG002 - CHGNet's call signature
        return angle_feas


class CHGNetPotential:
    """A CHGNet behind the batched protocol: pretrained (``0.3.0``, ``0.2.0``, ``r2scan``) or a model
    file chgnet wrote (``*.pth.tar``, e.g. trained from scratch by
    :func:`bsct.train.external_chgnet.train_chgnet`; read by ``CHGNet.from_file``).

    Crystal-only like CHGNet itself: molecules are put in a vacuum box
    (:func:`~bsct.potentials.ase_adapters.in_vacuum_box`). ``cutoff_angstrom`` defaults to the
    model's atom-graph cutoff (6 Å for 0.3.0 and r2scan, 5 Å for 0.2.0). ``supported_elements``:
    H to Pu for the pretrained models; for a file, those its composition model (``AtomRef``) was
    fitted with, when it records them (others give a ValueError).

    A call's structures go through the model in groups of at most ``max_edges_per_call`` graph
    edges plus angles (at least one structure each): batching pays for small structures (a dimer
    6x, a 4-atom Cu cell 2.7x per frame) but not beyond a few thousand edges, where the model's
    own work dominates and bigger tensors only cost memory (docs/benchmarks.md).
    """

    conservative = True

    def __init__(self, model: str | Path = "0.3.0", dtype: str | torch.dtype = "float32",
                 cutoff_angstrom: float | None = None, max_edges_per_call: int = 3000):
        self.dtype = torch_dtype(dtype)
        net, label, self.supported_elements = _load(model)
        net.graph_converter.set_isolated_atom_response("ignore")  # a stretched bond may leave an atom alone
        net.eval().requires_grad_(False)
        if isinstance(net.angle_layers, torch.nn.ModuleList) and len(net.angle_layers):
            net.angle_layers[-1] = _AnglesNotUsedAfterThis()  # dead work in _compute (same outputs, tested)
        self._net = net.to(self.dtype)
        self.model = str(model)
        self.max_edges_per_call = int(max_edges_per_call)
        self.cutoff_angstrom = float(cutoff_angstrom if cutoff_angstrom is not None
                                     else net.graph_converter.atom_graph_cutoff)
        suffix = "" if self.dtype == torch.float32 else " (float64)"
        self.name = f"CHGNet {label}{suffix}"

    def _check_elements(self, batch: AtomsBatch) -> None:
        unknown = sorted({int(z) for z in torch.unique(batch.atomic_numbers)} - self.supported_elements)
        if unknown:
            fitted = ", ".join(chemical_symbols[z] for z in sorted(self.supported_elements))
            raise ValueError(f"{self.name} was fitted on {fitted} only; "
                             f"it cannot evaluate {', '.join(chemical_symbols[z] for z in unknown)}")

    def _graph(self, atoms: Atoms):
        """The model's own CrystalGraph of ``atoms``, its coordinates in this adapter's dtype."""
        from pymatgen.core import Lattice, Structure

        structure = Structure(Lattice(atoms.cell.array), atoms.numbers, atoms.positions,
                              coords_are_cartesian=True)
        graph = self._net.graph_converter(structure)
        if self.dtype != torch.float32:  # the converter rounds to float32; redo from float64
            graph.atom_frac_coord = torch.tensor(structure.frac_coords, dtype=self.dtype, requires_grad=True)
            graph.lattice = torch.tensor(structure.lattice.matrix, dtype=self.dtype)
            graph.neighbor_image = graph.neighbor_image.to(self.dtype)
        return graph

    def __call__(self, batch: AtomsBatch, compute_stress: bool = False) -> PotentialOutput:
        self._check_elements(batch)
        structures = [in_vacuum_box(a, self.cutoff_angstrom, self.name) for a in batch.to_atoms()]
        graphs = [self._graph(a) for a in structures]
        sizes = np.array([len(g.atom_graph) + len(g.bond_graph) for g in graphs])  # edges + angles
        parts = [self._evaluate(structures[lo:hi], graphs[lo:hi], compute_stress, batch.pbc[lo:hi].all(dim=1))
                 for lo, hi in chunks(sizes, self.max_edges_per_call)]
        out_dtype, device = batch.positions_angstrom.dtype, batch.positions_angstrom.device
        energy, forces, stress = (torch.cat(p).to(device=device, dtype=out_dtype) if p[0] is not None else None
                                  for p in zip(*parts))
        return PotentialOutput(energy, forces, stress)

    def _evaluate(self, structures, graphs, compute_stress: bool, periodic: torch.Tensor):
        """(energy, forces, stress or None) of graphs evaluated in one model call."""
        from chgnet.model.model import BatchedGraph

        net = self._net
        with torch.enable_grad():
            bg = BatchedGraph.from_graphs(graphs, bond_basis_expansion=net.bond_basis_expansion,
                                          angle_basis_expansion=net.angle_basis_expansion,
                                          compute_stress=compute_stress)
            pred = net._compute(bg)  # energy only; forces below without create_graph
            n_atoms = pred["atoms_per_graph"]
            # the intensive energy was divided by n in place; d(e·n)/dx is dE/dx exactly (n/n = 1)
            e_model = pred["e"] * n_atoms if net.is_intensive else pred["e"]
            inputs = [*bg.atom_positions, *(bg.strains if compute_stress else [])]
            grads = torch.autograd.grad(e_model.sum(), inputs)
        energy = pred["e"].detach()
        if net.composition_model is not None:
            feas = net.composition_model._assemble_graphs(graphs).to(self.dtype)
            energy = energy + net.composition_model._get_energy(feas)
        if net.is_intensive:
            energy = energy * n_atoms  # eV/atom -> eV, as CHGNetCalculator does
        forces = -torch.cat(grads[: len(graphs)])
        stress = self._stress(structures, grads[len(graphs):], periodic) if compute_stress else None
        return energy, forces, stress

    @staticmethod
    def _stress(structures, strain_grads, periodic) -> torch.Tensor:
        """σ = (1/V) dE/dε in eV/Å³ (ASE sign), zero for a molecule (its box is not physical)."""
        volume = torch.as_tensor(np.array([a.get_volume() for a in structures]), dtype=strain_grads[0].dtype)
        stress = torch.stack(list(strain_grads)) / volume[:, None, None]
        return stress * periodic.to(stress.dtype)[:, None, None]
