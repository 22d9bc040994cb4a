"""`bsct.fsd.run.run_fsd`: batching, charge, workers, resume, --skip-bad, fsd.json and the report."""

import json
import shutil

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from bsct.data.bsct_spice import BadSystemError, read_system, sample_root, system_dirs
from bsct.fsd import run as fsd_run
from bsct.fsd.metric import METRIC_KEYS
from bsct.fsd.run import evaluate_scans, run_fsd, summarise
from bsct.potentials.pair import Morse
from bsct.runs import ResumeMismatchError
from bsct.registry import ModelByCharge, spec_with_charge


def write_periodic_dimer_scan(root, calc, r_angstrom, system_id="1"):
    """A two-atom scan in a periodic cell, labelled by ``calc`` (the generator's periodic layout)."""
    path = root / "Cu-Cu" / system_id
    path.mkdir(parents=True)
    cell = np.diag([8.0, 8.0, 8.0])
    for k, r in enumerate(r_angstrom):
        atoms = Atoms("Cu2", positions=[[2.0, 2.0, 2.0], [2.0 + r, 2.0, 2.0]], cell=cell, pbc=True)
        atoms.calc = calc
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        atoms.info.update(id=system_id, bond="Cu-Cu")
        write(path / f"atoms_{k}.xyz", atoms, format="extxyz")
    np.savez(path / "partition.npz", bond=np.array("Cu-Cu"), bond_index=np.array([0, 1]), labels=np.array([0, 1]),
             perturb_range=np.array([r_angstrom[0], r_angstrom[-1], len(r_angstrom)]),
             unit_vec=np.array([1.0, 0.0, 0.0]), rotation=np.array("0x,0y,0z"))
    return path


class CountingMorse(Morse):
    def __init__(self):
        super().__init__()
        self.n_calls = 0

    def forward(self, batch, compute_stress=False):
        self.n_calls += 1
        return super().forward(batch, compute_stress)


@pytest.fixture
def sample_copy(tmp_path):
    """The two smallest shipped systems in a writable root."""
    root = tmp_path / "data"
    for d in system_dirs(sample_root(), ["C-O", "N-O"]):
        shutil.copytree(d, root / d.parent.name / d.name)
    return root


def test_torch_potential_evaluates_several_scans_in_one_call():
    scans = [read_system(d) for d in system_dirs(sample_root(), ["C-O", "N-O"])]
    batched = CountingMorse()
    together, error = evaluate_scans(batched, scans, max_atoms_per_call=20_000)
    assert error is None and batched.n_calls == 1  # 100·6 + 100·5 atoms fit one call
    for scan, (e, f) in zip(scans, together):
        single = CountingMorse()
        e1, f1 = evaluate_scans(single, [scan], max_atoms_per_call=50)[0][0]
        n_atoms = len(scan.frames[0])
        assert single.n_calls == int(np.ceil(100 / (50 // n_atoms)))  # whole frames, at most 50 atoms per call
        np.testing.assert_allclose(e, e1, rtol=1e-12)
        np.testing.assert_allclose(f, f1, rtol=1e-12, atol=1e-12)
        assert f.shape == scan.forces_ref_ev_per_angstrom.shape


def test_identical_model_and_reference_give_fsd_zero_end_to_end(tmp_path):
    from ase.calculators.emt import EMT

    r = np.linspace(2.0, 3.5, 31)
    path = write_periodic_dimer_scan(tmp_path, EMT(), r, "1")
    scan = read_system(path)  # the generator's periodic two-atom layout: frames keep cell and pbc
    assert scan.frames[0].pbc.all() and scan.frames[0].cell.volume == pytest.approx(512.0)
    res = run_fsd("emt", tmp_path, progress=False)
    row = res["systems"]["Cu-Cu/1"]
    # zero up to the 8 decimals that extxyz keeps of the reference forces
    assert row["full_smoothness"] == pytest.approx(0, abs=1e-5) and row["full_forces_mae"] < 1e-8
    assert row["full_energy_mae"] < 1e-2  # trapezoid error of the force-integrated profile, 0.05 Å grid


def test_charge_reaches_calculators_that_take_one():
    assert spec_with_charge("xtb:GFN2-xTB", -1) == "xtb:GFN2-xTB[charge=-1]"
    assert spec_with_charge("gfn2-xtb[accuracy=2.0]", 1) == "gfn2-xtb[accuracy=2.0,charge=1]"
    assert spec_with_charge("xtb:GFN2-xTB[charge=2]", 1) == "xtb:GFN2-xTB[charge=2]"  # the user's choice wins
    assert spec_with_charge("morse", 1) is None and spec_with_charge("emt", 1) is None
    models = ModelByCharge("xtb:GFN2-xTB")
    assert models.get(-1)._get_calculator().parameters["charge"] == -1
    assert models.get(0)._get_calculator().parameters["charge"] == 0


def test_summary_means_over_systems_per_bond_and_overall():
    rows = {"A-B/1": {"bond_type": "A-B"} | {k: 1.0 for k in METRIC_KEYS},
            "A-B/2": {"bond_type": "A-B"} | {k: 3.0 for k in METRIC_KEYS},
            "C-D/1": {"bond_type": "C-D"} | {k: 8.0 for k in METRIC_KEYS}}
    per_bond, mean = summarise(rows)
    assert per_bond["A-B"]["full_smoothness"] == 2.0 and per_bond["C-D"]["n_systems"] == 1
    assert mean["stretch_forces_mae"] == 4.0 and mean["n_systems"] == 3  # over systems, not over bond types


def test_fsd_json_report_plots_and_resume_skips_finished_systems(sample_copy, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = run_fsd("morse", sample_copy, out, progress=False)
    saved = json.loads((out / "fsd.json").read_text())
    assert list(saved["systems"]) == ["C-O/21541", "N-O/4583"]
    assert set(METRIC_KEYS) <= set(saved["systems"]["C-O/21541"]) and set(METRIC_KEYS) <= set(saved["mean"])
    assert list(saved["per_bond"]) == ["C-O", "N-O"] and "python" in saved["versions"]
    assert len(list((out / "predictions").glob("*.npz"))) == 2 and len(list((out / "plots").glob("*.png"))) == 2
    page = (out / "report.html").read_text()
    assert "Worst systems" in page and "data:image/png;base64," in page
    worst_first = sorted(saved["systems"], key=lambda lab: -saved["systems"][lab]["full_smoothness"])
    ranking = page[page.index("Worst systems"):]
    assert ranking.index(worst_first[0]) < ranking.index(worst_first[1])

    (out / "predictions" / "N-O_4583.npz").unlink()
    evaluated = []
    real = fsd_run.evaluate_scans

    def spy(potential, scans, max_atoms_per_call=20_000):
        evaluated.extend(s.label for s in scans)
        return real(potential, scans, max_atoms_per_call)

    monkeypatch.setattr(fsd_run, "evaluate_scans", spy)
    again = run_fsd("morse", sample_copy, out, resume=True, progress=False)
    assert evaluated == ["N-O/4583"]
    assert again["systems"] == first["systems"] | {"N-O/4583": again["systems"]["N-O/4583"]}
    assert {k: again["systems"]["N-O/4583"][k] for k in METRIC_KEYS} == {
        k: first["systems"]["N-O/4583"][k] for k in METRIC_KEYS}
    # what the resumed run cost includes the model time the first run spent on the cached system
    assert first["timings"]["resumed_eval_seconds"] == 0
    assert again["timings"]["resumed_eval_seconds"] == first["systems"]["C-O/21541"]["eval_seconds"] > 0
    with pytest.raises(ValueError, match="written by another potential \\('morse'"):
        run_fsd("lj", sample_copy, out, resume=True, progress=False)


def test_fsd_resume_refuses_another_potential_under_the_same_name(sample_copy, tmp_path):
    one = {"bond_types": ["N-O"], "limit_per_type": 1, "progress": False, "plots": False}
    run_fsd(Morse(), sample_copy, tmp_path / "out", **one)
    with pytest.raises(ResumeMismatchError, match="another potential"):
        run_fsd(Morse(r0_angstrom=2.775), sample_copy, tmp_path / "out", resume=True, **one)
    assert run_fsd(Morse(), sample_copy, tmp_path / "out", resume=True, **one)["systems"]


def test_bad_system_stops_the_run_unless_skipped_and_is_then_listed(sample_copy):
    (sample_copy / "C-O" / "21541" / "atoms_40.xyz").unlink()
    with pytest.raises(BadSystemError, match=r"C-O/21541/atoms_40\.xyz: missing scan frame.*--skip-bad"):
        run_fsd("morse", sample_copy, progress=False)
    res = run_fsd("morse", sample_copy, skip_bad=True, progress=False)
    assert list(res["systems"]) == ["N-O/4583"]
    assert [s["system"] for s in res["skipped"]] == ["C-O/21541"] and "atoms_40.xyz" in res["skipped"][0]["error"]


def test_a_batched_spec_fans_out_over_workers_with_the_same_numbers(sample_copy, tmp_path):
    # a SPEC reaches each worker as text and is loaded there; a live batched model stays in process.
    # 400 atoms per call: each system (~100 frames of 5-6 atoms) is a group of its own, so two tasks
    small = 400
    assert len(fsd_run._groups(system_dirs(sample_copy), small)) == 2
    one = run_fsd("morse", sample_copy, None, workers=1, progress=False, max_atoms_per_call=small)
    two = run_fsd("morse", sample_copy, None, workers=2, progress=False, max_atoms_per_call=small)
    live = run_fsd(Morse(), sample_copy, None, workers=2, progress=False, max_atoms_per_call=small)
    together = run_fsd("morse", sample_copy, None, workers=2, progress=False)  # one group: nothing to split
    assert [r["timings"]["workers"] for r in (one, two, live, together)] == [1, 2, 1, 1]
    for name, row in one["systems"].items():
        for key in METRIC_KEYS:
            assert two["systems"][name][key] == pytest.approx(row[key], rel=1e-12), (name, key)


def test_two_workers_give_the_same_numbers_as_one(sample_copy, tmp_path):
    # GFN2-xTB: an ASE calculator with state (SCF guess from the previous frame), so the split matters
    one = run_fsd("xtb:GFN2-xTB", sample_copy, tmp_path / "w1", workers=1, plots=False, progress=False)
    two = run_fsd("xtb:GFN2-xTB", sample_copy, tmp_path / "w2", workers=2, plots=False, progress=False)
    assert two["timings"]["workers"] == 2
    # Equal to rounding: tblite's OpenMP reductions may run on other thread counts in the worker
    # processes (1e-15 relative seen). A split that leaked SCF state would differ by ~1e-6.
    assert list(two["systems"]) == list(one["systems"])
    for name, row in one["systems"].items():
        other = two["systems"][name]
        assert other.keys() == row.keys()
        for key, value in row.items():
            if key != "eval_seconds":
                assert other[key] == (pytest.approx(value, rel=1e-10) if isinstance(value, float) else value), key
    for name in ("C-O_21541", "N-O_4583"):
        a = np.load(tmp_path / "w1" / "predictions" / f"{name}.npz")["forces_model_ev_per_angstrom"]
        b = np.load(tmp_path / "w2" / "predictions" / f"{name}.npz")["forces_model_ev_per_angstrom"]
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
