"""Each validation error is raised, naming the file and the frame, on a crafted bad file."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from bsct.cli import main
from bsct.data import DatasetError, ci_path, load_dataset, read_structures


def _good(n=3):
    frames = []
    for i in range(n):
        atoms = molecule("H2O")
        atoms.positions += 0.01 * i
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0 - i, forces=np.full((3, 3), 0.1))
        frames.append(atoms)
    return frames


LINE_GOOD = 'Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="F F F"'
H2O = ["O 0 0 0.12 0 0 0.1", "H 0 0.76 -0.47 0 0 0.1", "H 0 -0.76 -0.47 0 0 -0.2"]


def _xyz(path, header, atom_lines):
    """Frame 0 good, frame 1 bad (so the message must name frame 1)."""
    text = f"3\n{LINE_GOOD}\n" + "\n".join(H2O) + "\n"
    text += f"{len(atom_lines)}\n{header}\n" + "\n".join(atom_lines) + "\n"
    path.write_text(text)
    return path


CASES = {
    "missing energy": ('Properties=species:S:1:pos:R:3:forces:R:3 pbc="F F F"', H2O),
    "missing forces": ('Properties=species:S:1:pos:R:3 energy=-1.0 pbc="F F F"', [l.rsplit(" ", 3)[0] for l in H2O]),
    "positions are not finite": (LINE_GOOD, ["O 0 0 nan 0 0 0.1"] + H2O[1:]),
    "forces are not finite": (LINE_GOOD, H2O[:2] + ["H 0 -0.76 -0.47 0 nan -0.2"]),
    "energy is not finite": (LINE_GOOD.replace("energy=-1.0", "energy=nan"), H2O),
    "shape mismatch": ('Properties=species:S:1:pos:R:3:forces:R:2 energy=-1.0 pbc="F F F"',
                       [l.rsplit(" ", 1)[0] for l in H2O]),
    "overlapping atoms": (LINE_GOOD, H2O[:2] + ["H 0 0.70 -0.47 0 0 -0.2"]),
    "periodic frame without a cell": (LINE_GOOD.replace('pbc="F F F"', 'pbc="T T T"'), H2O),
}


@pytest.mark.parametrize("problem", sorted(CASES))
def test_bad_extxyz_raises_naming_file_and_frame(tmp_path, problem):
    header, lines = CASES[problem]
    path = _xyz(tmp_path / "bad.extxyz", header, lines)
    with pytest.raises(DatasetError, match=problem) as info:
        load_dataset(path)
    assert str(path) in str(info.value) and "frame 1" in str(info.value)
    assert info.value.frame_index == 1
    assert main(["data", "validate", str(path)]) == 2


def test_structure_checks_without_labels(tmp_path):
    path = _xyz(tmp_path / "nolabels.extxyz", 'Properties=species:S:1:pos:R:3 pbc="F F F"',
                [l.rsplit(" ", 3)[0] for l in H2O])
    assert len(read_structures(path, validate=True)) == 2  # labels not required
    assert main(["data", "validate", "--no-labels", str(path)]) == 0


def test_ase_db_loader_and_validation(tmp_path):
    from ase.db import connect

    path = tmp_path / "user.db"
    with connect(str(path)) as db:
        for atoms in _good(2):
            db.write(atoms)
        bare = molecule("NH3")  # an export that forgot the labels
        db.write(bare)
    frames = read_structures(path)
    assert len(frames) == 3
    with pytest.raises(DatasetError, match=r"frame 2: missing energy"):
        load_dataset(path)


def test_export_keys_are_recognised(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.info["REF_energy"] = -3.5
    atoms.arrays["REF_forces"] = np.zeros((4, 3))
    path = tmp_path / "mptrj_like.extxyz"
    write(str(path), atoms)
    (frame,) = load_dataset(path)
    assert frame.info["REF_energy"] == -3.5


def test_overlap_across_periodic_boundary(tmp_path):
    atoms = Atoms("Cu2", positions=[[0.1, 0, 0], [3.5, 0, 0]], cell=[3.6, 3.6, 3.6], pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=np.zeros((2, 3)))
    path = tmp_path / "pbc.extxyz"
    write(str(path), atoms)
    with pytest.raises(DatasetError, match="frame 0: overlapping atoms"):
        load_dataset(path)


def test_cli_validate_checksum_and_stats(capsys, tmp_path):
    assert main(["data", "validate", "ci:cu/val", str(ci_path("si", "test"))]) == 0
    assert main(["data", "checksum", "ci:water/val"]) == 0
    assert main(["data", "stats", "ci:cu/val", "ci:molecules/val", "--markdown",
                 "--plot", str(tmp_path / "d.png")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "| cu/val |" in out and (tmp_path / "d.png").stat().st_size > 1000
