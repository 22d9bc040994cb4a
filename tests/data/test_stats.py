"""Dataset statistics (docs/datasets.md): counts, label statistics, the table and the least-squares
per-element reference energies."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from bsct.data.stats import ci_files, dataset_stats, element_reference_ev, markdown_table, plot_distributions


def labelled(symbols: str, energy: float, forces: np.ndarray, pbc=False, **info) -> Atoms:
    n = len(Atoms(symbols))
    atoms = Atoms(symbols, positions=np.arange(3 * n, dtype=float).reshape(-1, 3),
                  cell=np.eye(3) * 10 if pbc else None, pbc=pbc)
    atoms.info.update(info)
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


@pytest.fixture
def small_set(tmp_path):
    frames = [labelled("H2O", -15.0, np.array([[1.0, 0, 0], [0, -2.0, 0], [0, 0, 0.5]]), config_type="md"),
              labelled("CuCu", -8.0, np.zeros((2, 3)), pbc=True, config_type="bulk")]
    path = tmp_path / "water" / "train.extxyz"
    path.parent.mkdir()
    write(path, frames)
    return path


def test_dataset_stats_counts_frames_atoms_and_labels(small_set):
    s = dataset_stats(small_set)
    assert s["name"] == "water/train" and s["bytes"] == small_set.stat().st_size
    assert (s["n_frames"], s["n_atoms_total"], s["n_atoms_min"], s["n_atoms_max"]) == (2, 5, 2, 3)
    assert s["elements"] == "CuHO" and s["periodic_frames"] == 1
    assert s["energy_per_atom_mean_ev"] == pytest.approx((-5.0 - 4.0) / 2)
    assert s["energy_per_atom_std_ev"] == pytest.approx(0.5)
    assert s["force_rms_ev_per_angstrom"] == pytest.approx(np.sqrt((1 + 4 + 0.25) / 15))
    assert s["force_max_ev_per_angstrom"] == 2.0
    assert s["config_types"] == ["bulk", "md"]


def test_markdown_table_has_one_row_per_set_under_its_header(small_set):
    table = markdown_table([dataset_stats(small_set)]).splitlines()
    assert table[0].startswith("| set | frames | atoms/frame |") and len(table) == 3
    assert table[2].startswith("| water/train | 2 | 2–3 | CuHO | 1 | -4.500 ± 0.500 | 0.592 | 2.00 |")


def test_element_reference_recovers_exact_per_element_energies():
    eps = {1: -0.5, 8: -4.25, 29: -3.0}
    compositions = ["H2O", "H2", "O2", "CuH", "Cu2O", "H2O2"]
    frames = {"train": [], "test": []}
    for k, symbols in enumerate(compositions):
        atoms = Atoms(symbols, positions=np.zeros((len(Atoms(symbols)), 3)))
        energy = sum(eps[int(z)] for z in atoms.numbers)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)))
        frames["train" if k % 2 else "test"].append(atoms)
    fitted = element_reference_ev(frames)
    assert sorted(fitted) == [1, 8, 29]
    for z, value in eps.items():
        assert fitted[z] == pytest.approx(value, abs=1e-10)


def test_ci_files_are_the_committed_sets():
    files = ci_files()
    assert {p.parent.name for p in files} == {"cu", "si", "water", "molecules"}
    assert all(p.suffix == ".extxyz" and p.exists() for p in files)
    assert [p.stem for p in files if p.parent.name == "cu"] == ["train", "val", "test", "unseen"]


def test_distribution_figure_has_energy_and_force_histograms_per_system(small_set, tmp_path):
    other = tmp_path / "cu" / "test.extxyz"
    other.parent.mkdir()
    write(other, [labelled("Cu2", -7.0, np.ones((2, 3)), pbc=True)])
    fig = plot_distributions([small_set, other])
    try:
        axes = fig.get_axes()
        assert len(axes) == 4  # (energy, force) x (water, cu)
        assert [ax.get_title() for ax in axes[:2]] == ["water", "cu"]
        assert all(len(ax.patches) > 0 for ax in axes)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
