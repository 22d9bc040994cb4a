"""Property-based tests (hypothesis) of the readers and the input validator.

Seeded (``derandomize=True``) and small, so CI runs the same examples every time.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import get_distances
from ase.io import write
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bsct.data.io import DatasetError, get_energy, get_forces, load_dataset, read_structures
from bsct.data.validate import NonFiniteInput, OverlappingAtoms, validate_structures

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SYMBOLS = ("H", "C", "O", "Si", "Cu")
finite = st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False)


@st.composite
def labelled_frame(draw) -> Atoms:
    """A frame whose atoms sit on a 1 Å grid with < 0.2 Å jitter (so never closer than 0.6 Å), with labels."""
    n = draw(st.integers(1, 5))
    sites = draw(st.lists(st.tuples(*[st.integers(0, 3)] * 3), min_size=n, max_size=n, unique=True))
    jitter = np.array(draw(st.lists(st.floats(-0.19, 0.19), min_size=3 * n, max_size=3 * n))).reshape(n, 3)
    atoms = Atoms([draw(st.sampled_from(SYMBOLS)) for _ in range(n)], positions=np.array(sites, float) + jitter)
    if draw(st.booleans()):
        atoms.cell, atoms.pbc = [6.0, 6.5, 7.0], True
    forces = np.array(draw(st.lists(finite, min_size=3 * n, max_size=3 * n))).reshape(n, 3)
    atoms.calc = SinglePointCalculator(atoms, energy=draw(st.floats(-1e4, 1e4)), forces=forces)
    return atoms


def _write(directory: str, frames) -> Path:
    path = Path(directory) / "frames.extxyz"
    write(path, frames, format="extxyz")
    return path


@SETTINGS
@given(st.lists(labelled_frame(), min_size=1, max_size=4))
def test_valid_frames_round_trip(frames):
    with tempfile.TemporaryDirectory() as tmp:
        read = load_dataset(_write(tmp, frames))
    assert len(read) == len(frames)
    for a, b in zip(frames, read):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        assert np.allclose(a.positions, b.positions, atol=1e-7) and (a.pbc == b.pbc).all()
        assert get_energy(b) == pytest.approx(a.get_potential_energy(), abs=1e-6)
        assert np.allclose(get_forces(b), a.get_forces(), atol=1e-7)


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("token"), st.floats(0.0, 1.0),
              st.sampled_from(["nan", "inf", "-inf", "x", "1e999", "--", "3.0.0", "", "[", '"', "=", "T"])),
    st.tuples(st.just("drop_line"), st.floats(0.0, 1.0)),
    st.tuples(st.just("count"), st.floats(0.0, 1.0), st.integers(-2, 9)),
)


def _mutate(text: str, mutation) -> str:
    kind, where = mutation[0], mutation[1]
    lines = text.split("\n")
    if kind == "truncate":
        return text[: int(where * len(text))]
    if kind == "drop_line":
        del lines[min(int(where * len(lines)), len(lines) - 1)]
        return "\n".join(lines)
    if kind == "count":  # the atom-count line of some frame
        starts, k = [], 0
        while k < len(lines) and lines[k].strip().isdigit():
            starts.append(k)
            k += int(lines[k]) + 2
        lines[starts[min(int(where * len(starts)), len(starts) - 1)]] = str(mutation[2])
        return "\n".join(lines)
    tokens = re.split(r"(\s+)", text)  # words and the whitespace between them
    words = [k for k, t in enumerate(tokens) if t and not t.isspace()]
    tokens[words[min(int(where * len(words)), len(words) - 1)]] = mutation[2]
    return "".join(tokens)


@SETTINGS
@given(st.lists(labelled_frame(), min_size=1, max_size=3), MUTATIONS)
def test_malformed_input_raises_the_documented_error_naming_file_and_frame(frames, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, frames)
        path.write_text(_mutate(path.read_text(), mutation))
        try:
            read = load_dataset(path)
        except DatasetError as exc:
            assert str(exc).startswith(f"{path}, frame {exc.frame_index}: ") if exc.frame_index is not None \
                else str(exc).startswith(f"{path}: ")
            return
        except ValueError as exc:  # the file as a whole cannot be read: the message names it
            assert str(path) in str(exc)
            return
        for atoms in read:  # accepted: every frame is usable
            assert np.isfinite(atoms.positions).all() and np.isfinite(get_energy(atoms))
            assert get_forces(atoms).shape == (len(atoms), 3) and np.isfinite(get_forces(atoms)).all()
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, frames)
        path.write_text(_mutate(path.read_text(), mutation))
        assert len(read_structures(path)) == len(read)


coordinate = st.floats(0.0, 3.0, allow_nan=False)


@SETTINGS
@given(st.integers(2, 7).flatmap(lambda n: st.lists(st.tuples(coordinate, coordinate, coordinate),
                                                      min_size=n, max_size=n)))
def test_closest_pair_below_the_threshold_is_always_named(points):
    atoms = Atoms(f"H{len(points)}", positions=points)
    d = get_distances(atoms.positions)[1]
    d_min = float(d[np.triu_indices(len(points), 1)].min())
    assume(abs(d_min - 0.5) > 1e-9)
    if d_min >= 0.5:
        validate_structures([atoms], min_distance_angstrom=0.5)
        return
    with pytest.raises(OverlappingAtoms) as info:
        validate_structures([atoms], min_distance_angstrom=0.5)
    i, j, dist = info.value.pair
    assert i != j and dist == pytest.approx(d_min, abs=1e-9) and d[i, j] == pytest.approx(d_min, abs=1e-9)
    assert f"{i} (H) and {j} (H) are {dist:.3f} Å apart" in str(info.value)


@SETTINGS
@given(st.floats(1.2, 5.0), st.lists(st.tuples(*[st.floats(0.0, 1.0, exclude_max=True)] * 3), min_size=2, max_size=6))
def test_periodic_images_count_when_naming_the_closest_pair(length, fractional):
    atoms = Atoms(f"Cu{len(fractional)}", scaled_positions=fractional, cell=[length] * 3, pbc=True)
    d = get_distances(atoms.positions, cell=atoms.cell, pbc=True)[1]  # minimum image: exact for a cube and 0.5 < L/2
    d_min = float(d[np.triu_indices(len(fractional), 1)].min())
    assume(abs(d_min - 0.5) > 1e-9)
    if d_min >= 0.5:
        validate_structures([atoms])
        return
    with pytest.raises(OverlappingAtoms) as info:
        validate_structures([atoms])
    i, j, dist = info.value.pair
    assert dist == pytest.approx(d_min, abs=1e-9) and d[i, j] == pytest.approx(d_min, abs=1e-9)


@SETTINGS
@given(st.lists(labelled_frame(), min_size=1, max_size=4), st.data())
def test_non_finite_positions_or_cell_are_always_caught_at_the_right_frame(frames, data):
    validate_structures(frames)  # valid structures pass
    k = data.draw(st.integers(0, len(frames) - 1))
    bad = frames[k]
    value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    if data.draw(st.booleans()) or not bad.pbc.any():
        atom = data.draw(st.integers(0, len(bad) - 1))
        bad.positions[atom, data.draw(st.integers(0, 2))] = value
        match = rf"positions are not finite \(NaN or inf\) at atom\(s\) {atom}$"
    else:
        cell = bad.cell.array.copy()
        cell[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] = value
        bad.cell = cell
        match = "cell is not finite"
    with pytest.raises(NonFiniteInput, match=match) as info:
        validate_structures(frames, source="f.xyz")
    assert info.value.frame_index == k and str(info.value).startswith(f"f.xyz, frame {k}: ")


@SETTINGS
@given(st.lists(labelled_frame(), min_size=1, max_size=4), st.data())
def test_a_non_finite_number_in_any_frame_is_named_with_that_frame(frames, data):
    k = data.draw(st.integers(0, len(frames) - 1))
    atom = data.draw(st.integers(0, len(frames[k]) - 1))
    column = data.draw(st.integers(1, 6))  # x y z fx fy fz
    value = data.draw(st.sampled_from(["nan", "inf", "-inf", "NaN"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, frames)
        lines = path.read_text().split("\n")
        line = sum(len(f) + 2 for f in frames[:k]) + 2 + atom
        parts = lines[line].split()
        parts[column] = value
        lines[line] = " ".join(parts)
        path.write_text("\n".join(lines))
        with pytest.raises(DatasetError) as info:
            load_dataset(path)
    what = "positions" if column <= 3 else "forces"
    assert info.value.frame_index == k
    assert str(info.value).startswith(f"{path}, frame {k}: {what} are not finite (NaN or inf), first at atom {atom}")
