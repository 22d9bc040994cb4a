"""One defect, one artifact: detections at the same place merge, with the primary kind by priority
and the others kept as evidence; the score counts the artifact once."""

import numpy as np
import pytest
from v2_curves import default_grid, lj_dimer, lj_force_at_cutoff, morse, planted_energy_step, planted_force_step

from bsct.metrics.bsct_v2 import analyse_arrays_v2
from bsct.metrics.floors import Detection
from bsct.metrics.merge import PRIORITY, merge_detections


def test_merge_keeps_the_highest_priority_kind_and_the_rest_as_evidence():
    h = 0.02
    dets = [
        Detection("tail_bump", 3.04, 0.01, "eV/Å", 5e-4),
        Detection("force_inconsistency", 3.02, 0.5, "eV/Å", 5e-4),
        Detection("energy_jump", 3.00, 0.01, "eV", 5e-5),
        Detection("force_jump", 4.00, 0.002, "eV/Å", 5e-4),
        Detection("force_jump", 4.20, 0.003, "eV/Å", 5e-4),  # 10 grid steps away: a second defect
    ]
    merged = merge_detections(dets, h, merge_points=4, bond_label="b", bond_type="Cu-Cu")
    assert [m.kind for m in merged] == ["energy_jump", "force_jump", "force_jump"]
    first = merged[0]
    assert first.kinds == ("energy_jump", "force_inconsistency", "tail_bump")
    assert first.artifact.size == 0.01 and first.artifact.unit == "eV"
    assert first.artifact.excess == pytest.approx(0.01 - 5e-5)
    assert "also force_inconsistency" in first.artifact.detail and first.artifact.bond_type == "Cu-Cu"
    assert PRIORITY.index("energy_jump") < PRIORITY.index("force_jump") < PRIORITY.index("force_inconsistency") \
        < PRIORITY.index("curvature_jump") < PRIORITY.index("spurious_minimum") < PRIORITY.index("tail_bump")


@pytest.mark.parametrize("size_ev, r_star", [(1e-4, 3.2), (1e-2, 3.2), (0.3, 3.2), (-1e-2, 4.5)])
def test_one_planted_energy_step_gives_exactly_one_artifact(size_ev, r_star):
    r = default_grid()
    res = analyse_arrays_v2(r, *planted_energy_step(r, size_ev, r_star), r_eq_hint=2.5)
    assert len(res.artifacts) == 1
    art = res.artifacts[0]
    assert art.kind == "energy_jump" and abs(art.r_angstrom - r_star) <= r[1] - r[0]
    assert art.primary.size == pytest.approx(abs(size_ev), rel=0.05)
    if abs(size_ev) >= 1e-2:  # big steps trip other detectors too: kept as evidence, not counted
        assert "force_inconsistency" in art.kinds
    if size_ev < 0:
        assert "spurious_minimum" in art.kinds  # a step down in the rising tail leaves a well behind it
    assert res.score == pytest.approx(np.log10(art.primary.size / art.primary.threshold))


def test_unsmoothed_lj_cutoff_is_one_force_jump_with_its_consistency_echo_as_evidence():
    r, e, f = lj_dimer(1.0, 1.0, smooth=False)
    res = analyse_arrays_v2(r, e, f, r_eq_hint=2 ** (1 / 6), cutoff_angstrom=3.0)
    assert len(res.artifacts) == 1
    art = res.artifacts[0]
    assert art.kind == "force_jump" and abs(art.r_angstrom - 3.0) <= r[1] - r[0]
    assert art.primary.size == pytest.approx(abs(lj_force_at_cutoff(1.0, 1.0)), rel=0.03)
    assert len(res.detections) == len(art.kinds)  # every raw detection is inside this one artifact


def test_a_large_force_step_in_the_tail_is_one_artifact_not_three():
    r = default_grid()
    res = analyse_arrays_v2(r, *planted_force_step(r, 0.1, 3.2), r_eq_hint=2.5)
    assert len(res.artifacts) == 1
    assert res.artifacts[0].kind == "force_jump"
    assert set(res.artifacts[0].kinds) == {"force_jump", "force_inconsistency", "tail_bump"}
    assert len(res.detections) == 3


@pytest.mark.parametrize("n_points", [240, 960])
@pytest.mark.parametrize("sigma_ev", [3.2e-4, 1e-3, 3.2e-3, 1e-2])
def test_a_noise_patch_is_one_roughness_artifact_and_a_clean_morse_none(n_points, sigma_ev):
    """0.8 Å of independent noise (σ_E, σ_f = 10/Å·σ_E) on a float64 Morse: one artifact, named
    roughness, at the patch; before, one patch split into up to 21 (wells and dips judged by the
    scan-wide σ, edges judged by the clean side's σ, stretches broken where σ hovers at the floor)."""
    r = np.linspace(1.5, 7.0, n_points)
    e, f = morse(r)
    assert analyse_arrays_v2(r, e, f, r_eq_hint=2.5).artifacts == []
    for seed, r_star in enumerate((3.0, 3.6, 4.2)):
        rng = np.random.default_rng(seed)
        on = np.abs(r - r_star) <= 0.4
        arts = analyse_arrays_v2(r, e + sigma_ev * rng.normal(size=n_points) * on,
                                 f + 10 * sigma_ev * rng.normal(size=n_points) * on, r_eq_hint=2.5).artifacts
        assert len(arts) <= 1 and all(abs(m.r_angstrom - r_star) <= 0.4 for m in arts)
        if sigma_ev >= 1e-3:
            assert [m.kind for m in arts] == ["roughness"]
