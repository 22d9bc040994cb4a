"""Conformance check for any potential: run it on yours before trusting its BSCT score.

    from bsct.testing import check_potential
    check_potential(my_potential, [atoms1, atoms2])   # raises AssertionError naming the failure

Checks: output shapes; inputs unchanged; a batch equals each system alone; invariance under
rotation, translation, atom permutation and (periodic cells) wrapping atoms to another image;
forces equal -dE/dx by central finite differences (conservative potentials only).
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from bsct.potentials.protocol import AtomsBatch, BatchedPotential


def _eval(potential: BatchedPotential, structures: list[Atoms]) -> tuple[np.ndarray, np.ndarray]:
    out = potential(AtomsBatch.from_atoms(structures))
    return out.energy_ev.detach().double().cpu().numpy(), out.forces_ev_per_angstrom.detach().double().cpu().numpy()


def _close(name: str, a, b, atol: float, rtol: float = 1e-6) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    bound = atol + rtol * float(np.max(np.abs(b))) if b.size else atol
    if not err <= bound:
        raise AssertionError(f"{name}: max deviation {err:.3e} exceeds {bound:.3e}")
    return err


def check_potential(
    potential: BatchedPotential,
    structures: list[Atoms],
    energy_atol_ev: float = 1e-6,
    force_atol_ev_per_angstrom: float = 1e-5,
    fd_step_angstrom: float = 1e-4,
    fd_atol_ev_per_angstrom: float = 1e-3,
    n_fd_components: int = 6,
    seed: int = 0,
) -> dict[str, float]:
    """Run every conformance check; return the largest deviation seen in each (eV or eV/Å)."""
    rng = np.random.default_rng(seed)
    report: dict[str, float] = {}
    for attr in ("cutoff_angstrom", "conservative"):
        if not hasattr(potential, attr):
            raise AssertionError(f"potential lacks the `{attr}` attribute of the protocol")

    batch = AtomsBatch.from_atoms(structures)
    before = batch.positions_angstrom.clone(), batch.cell_angstrom.clone()
    out = potential(batch)
    if tuple(out.energy_ev.shape) != (batch.n_systems,):
        raise AssertionError(f"energy shape {tuple(out.energy_ev.shape)}, expected ({batch.n_systems},)")
    if tuple(out.forces_ev_per_angstrom.shape) != (batch.n_atoms, 3):
        raise AssertionError(f"forces shape {tuple(out.forces_ev_per_angstrom.shape)}, expected ({batch.n_atoms}, 3)")
    if not (torch.equal(before[0], batch.positions_angstrom) and torch.equal(before[1], batch.cell_angstrom)):
        raise AssertionError("the potential modified its input batch")
    e_batch = out.energy_ev.detach().double().numpy()
    f_batch = out.forces_ev_per_angstrom.detach().double().numpy()

    singles = [_eval(potential, [a]) for a in structures]
    report["batch_vs_single_energy_ev"] = _close("batch vs single energy", e_batch, [s[0][0] for s in singles], energy_atol_ev)
    report["batch_vs_single_forces"] = _close("batch vs single forces", f_batch, np.concatenate([s[1] for s in singles]),
                                              force_atol_ev_per_angstrom)

    def worst(key: str, what: str, a, b, atol: float) -> None:  # keep the largest deviation over the structures
        report[key] = max(report.get(key, 0.0), _close(f"structure {s}: {what}", a, b, atol))

    for s, atoms in enumerate(structures):
        e0, f0 = singles[s][0][0], singles[s][1]
        # Translation.
        moved = atoms.copy()
        moved.translate(rng.normal(size=3))
        e, f = _eval(potential, [moved])
        worst("translation_energy_ev", "translation energy", e[0], e0, energy_atol_ev)
        worst("translation_forces", "translation forces", f, f0, force_atol_ev_per_angstrom)
        # Rotation (cell rotated with the atoms).
        rot = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
        turned = atoms.copy()
        turned.positions = atoms.positions @ rot.T
        turned.cell = atoms.cell.array @ rot.T
        e, f = _eval(potential, [turned])
        worst("rotation_energy_ev", "rotation energy", e[0], e0, energy_atol_ev)
        worst("rotation_forces", "rotation forces", f, f0 @ rot.T, force_atol_ev_per_angstrom)
        # Permutation.
        perm = rng.permutation(len(atoms))
        e, f = _eval(potential, [atoms[perm]])
        worst("permutation_energy_ev", "permutation energy", e[0], e0, energy_atol_ev)
        worst("permutation_forces", "permutation forces", f, f0[perm], force_atol_ev_per_angstrom)
        # Periodic image.
        if atoms.pbc.all():
            shifted = atoms.copy()
            shifted.positions[0] += atoms.cell.array.sum(axis=0)
            e, f = _eval(potential, [shifted])
            worst("periodic_image_energy_ev", "periodic image energy", e[0], e0, energy_atol_ev)
            worst("periodic_image_forces", "periodic image forces", f, f0, force_atol_ev_per_angstrom)
        # Forces = -dE/dx by central differences on a few random components.
        if potential.conservative:
            for _ in range(n_fd_components):
                a, d = int(rng.integers(len(atoms))), int(rng.integers(3))
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[a, d] += fd_step_angstrom
                minus.positions[a, d] -= fd_step_angstrom
                ep, em = _eval(potential, [plus, minus])[0]
                fd = -(ep - em) / (2 * fd_step_angstrom)
                worst("finite_difference_forces", f"force on atom {a} axis {d} vs -dE/dx", f0[a, d], fd,
                      fd_atol_ev_per_angstrom)
    return report


def assert_smooth(model, data, max_score: float = 0.0, **bsct_options):
    """A pytest-ready gate: run BSCT and fail with every artifact listed if the score is too high,
    or with the failures listed if any evaluation failed (a model that did not run never passes).

        def test_my_potential_is_smooth():
            assert_smooth(MyPotential(), "tests/data/structures.extxyz", max_score=0.5)

    Returns the report so a test can look further.
    """
    from bsct.scan.api import run_bsct

    bsct_options.setdefault("progress", False)
    report = run_bsct(model, data, **bsct_options)
    if not report.complete:
        raise AssertionError(
            f"BSCT of {report.model} finished with failed evaluations: {report.n_failed_points} scan point(s) could "
            "not be evaluated, so the score is incomplete and proves nothing:\n"
            + "\n".join(f"  {m}" for m in report.failed_evaluations()))
    if report.gate_score > max_score:
        lines = [f"  {a.bond_label}: {a.kind} at r = {a.r_angstrom:.3f} Å, size {a.size:.4g} {a.unit}" for a in report.artifacts]
        raise AssertionError(f"BSCT score {report.gate_score:.4f} > {max_score} for {report.model}:\n" + "\n".join(lines))
    return report
