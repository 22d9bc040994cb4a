"""The scan's progress advances chunk by chunk within a bond (issue #22, item 7)."""

from ase import Atoms

from bsct.potentials.pair import Morse
from bsct.scan.bonds import find_bonds
from bsct.scan.geometry import ScanRange, build_scan
from bsct.scan.runner import evaluate_scan


def test_on_chunk_reports_every_call_of_one_bond():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    bond = find_bonds(atoms)[0]
    geometry = build_scan(atoms, bond, ScanRange(n_points=50), cutoff_angstrom=None, mode="pair")
    done: list[int] = []
    curve = evaluate_scan(Morse(), geometry, max_atoms_per_call=20, on_chunk=done.append)
    assert done == [10] * 5  # 10 two-atom points per call
    assert sum(done) == len(curve.r_angstrom) == 50
