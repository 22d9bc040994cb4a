"""Force Smoothness Deviation: known answers, invariances, and the shipped BSCT-SPICE sample."""

import numpy as np
import pytest

from bsct.data.bsct_spice import read_system, sample_root, smiles_charge, system_dirs
from bsct.metrics.fsd import force_smoothness_deviation


@pytest.fixture(scope="module")
def spice():
    return read_system(system_dirs(sample_root(), ["C-O"])[0])


def test_sample_reader_gives_grid_labels_and_fragments(spice):
    assert spice.bond_type == "C-O" and spice.charge == 0
    n = len(spice.frames)
    assert spice.forces_ref_ev_per_angstrom.shape == (n, len(spice.frames[0]), 3)
    assert np.all(np.diff(spice.r_angstrom) > 0)
    i, j = spice.bond_index
    d = [f.get_distance(i, j) for f in spice.frames]
    np.testing.assert_allclose(d, spice.r_angstrom, atol=2e-3)
    assert set(np.unique(spice.fragment_labels)) == {0, 1}


def test_fsd_is_zero_for_the_reference_itself_and_blind_to_energy_offsets(spice):
    res = force_smoothness_deviation(spice.r_angstrom, spice.forces_ref_ev_per_angstrom,
                                     spice.forces_ref_ev_per_angstrom, spice.energy_ref_ev, spice.energy_ref_ev + 123.0)
    assert res.fsd_per_angstrom == 0 and res.energy_mae_ev == pytest.approx(0, abs=1e-9) and res.force_mae_ev_per_angstrom == 0


def test_fsd_reads_a_planted_force_jump_as_its_log_slope():
    r = np.linspace(1.0, 3.0, 101)
    f_ref = np.zeros((101, 2, 3))
    f_ref[:, 0, 0] = 10 * (r - 1.5)  # |dF_ref| grows away from the minimum at r = 1.5
    f_ref[:, 1, 0] = -f_ref[:, 0, 0]
    e_ref = 5 * (r - 1.5) ** 2
    f_model = f_ref.copy()
    f_model[r > 2.5, 0, 0] *= 3.0  # the model's force triples beyond 2.5 Å: a step in log ratio
    res = force_smoothness_deviation(r, f_model, f_ref, e_ref)
    h = r[1] - r[0]
    d_ref = 2 * (10 * (2.52 - 1.5)) ** 2
    expected = np.log((9 * d_ref / 2 + d_ref / 2) / d_ref) / h  # one atom tripled, the other not
    assert res.fsd_per_angstrom == pytest.approx(expected, rel=1e-6)
    assert res.fsd_stretch_per_angstrom == res.fsd_per_angstrom and res.fsd_compression_per_angstrom == 0


def test_fsd_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape mismatch"):
        force_smoothness_deviation(np.arange(3.0), np.zeros((3, 2, 3)), np.zeros((3, 3, 3)), np.zeros(3))


def test_smiles_charge():
    assert smiles_charge("[H:1][N+:2]([H:3])([H:4])[H:5]") == 1
    assert smiles_charge("[O-:1][C:2](=[O:3])[O-:4]") == -2


def test_run_fsd_on_the_sample_with_a_real_model_and_resume(tmp_path):
    from bsct.scan.spice_eval import run_fsd

    out = run_fsd("morse", bond_types=["C-O", "N-N"], out_dir=tmp_path, progress=False)
    assert [r["system"] for r in out["rows"]] == ["C-O/21541", "N-N/44342"]
    assert out["summary"]["all"]["fsd_per_angstrom"] > 0
    from bsct.potentials.pair import Morse

    class Counting(Morse):
        calls = 0

        def forward(self, batch, compute_stress=False):
            Counting.calls += 1
            return super().forward(batch, compute_stress)

    again = run_fsd(Counting(), bond_types=["C-O", "N-N"], out_dir=tmp_path, resume=True, progress=False)
    assert again["rows"] == out["rows"] and Counting.calls == 0
