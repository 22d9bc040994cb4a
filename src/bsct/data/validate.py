"""Input checks before any model call, shared by scan, MD, FSD, diatomics and training.

A structure a model cannot meaningfully evaluate (NaN positions, two atoms on top of each
other, an element the model was never built for) must be refused as bad input, naming the
file, the frame and the problem, not turned into a score: a model that raises or returns NaN
on it would otherwise be read as a rough or unstable model.

Elements are asked of the potential. A potential may declare ``supported_elements``:

- an iterable of element symbols or atomic numbers: exactly those (EMT, SW-Si, xTB, a trained
  checkpoint's ``elements``, CHGNet, SevenNet);
- ``None``: any element (the analytic pair potentials, one form for every species);
- absent: unknown; then, where allowed (``probe=True``), one model call on the first frame
  that brings new elements, and, if it fails, one call on a dimer of each of its elements names
  the elements the model cannot evaluate (when others pass; a model failing on everything is
  left to the test, which reports failed evaluations).

Every refusal is an :class:`InvalidInput`, a ``ValueError`` (and a
:class:`~bsct.data.io.DatasetError`, so handlers of reader errors catch it too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii

from bsct.data.io import MIN_DISTANCE_ANGSTROM, DatasetError, closest_pair
from bsct.runs import BadInput

__all__ = [
    "InvalidInput", "NonFiniteInput", "OverlappingAtoms", "TooFewAtoms", "UnsupportedElement",
    "validate_structures", "check_elements", "refuse_unsupported", "declared_elements", "describe_elements",
    "unsupported_in", "potential_name", "MIN_DISTANCE_ANGSTROM",
]


class InvalidInput(DatasetError, BadInput):
    """Input a model must not be called on (exit 2); ``str(exc)`` names the source, the frame and the problem."""


class NonFiniteInput(InvalidInput):
    """Positions or cell with NaN or inf."""


class OverlappingAtoms(InvalidInput):
    """Two atoms closer than the threshold; ``pair`` is (i, j, distance in Å)."""

    def __init__(self, source, frame_index, problem, pair: tuple[int, int, float]):
        super().__init__(source, frame_index, problem)
        self.pair = pair


class TooFewAtoms(InvalidInput):
    """Fewer atoms than the test needs (a bond scan or MD needs two)."""


class UnsupportedElement(InvalidInput):
    """Elements the model does not support; ``elements`` lists their symbols."""

    def __init__(self, source, frame_index, problem, elements: Sequence[str]):
        super().__init__(source, frame_index, problem)
        self.elements = tuple(elements)


_UNDECLARED = object()


def potential_name(potential) -> str:
    return str(getattr(potential, "name", None) or type(potential).__name__)


def _symbol(value) -> str:
    if isinstance(value, str):
        if value not in atomic_numbers:
            raise ValueError(f"unknown element {value!r} in supported_elements")
        return value
    return chemical_symbols[int(value)]


def declared_elements(potential):
    """The symbols a potential declares (frozenset), None for any element, or ``_UNDECLARED``."""
    value = getattr(potential, "supported_elements", _UNDECLARED)
    if value is None or value is _UNDECLARED:
        return value
    return frozenset(_symbol(v) for v in value)


def describe_elements(symbols: Iterable[str]) -> str:
    ordered = sorted(symbols, key=lambda s: atomic_numbers[s])
    if len(ordered) <= 12:
        return ", ".join(ordered)
    return f"{len(ordered)} elements, {ordered[0]} to {ordered[-1]}"


def unsupported_in(symbols: Iterable[str], supported) -> list[str]:
    """The symbols (sorted by Z) outside ``supported`` (a set of symbols; None = any)."""
    if supported is None:
        return []
    return sorted(set(symbols) - set(supported), key=lambda s: atomic_numbers[s])


def _indices(indices: list[int], most: int = 10) -> str:
    """'0, 3, 7' or, for many, the first ``most`` and how many in all."""
    shown = ", ".join(map(str, indices[:most]))
    return shown if len(indices) <= most else f"{shown}, ... ({len(indices)} in all)"


def _refuse_elements(source, index, atoms: Atoms, missing: list[str], name: str, supported) -> UnsupportedElement:
    symbols = atoms.get_chemical_symbols()
    where = "; ".join(f"{s} (atom{'s' if symbols.count(s) > 1 else ''} "
                      f"{_indices([i for i, x in enumerate(symbols) if x == s])})" for s in missing)
    return UnsupportedElement(source, index, f"{name} does not support {where}; "
                              f"it supports {describe_elements(supported)}", missing)


def _structure_problem(source, index: int, atoms: Atoms, min_atoms: int,
                       min_distance_angstrom: float | None, what: str) -> InvalidInput | None:
    """The first structural problem of one frame as an exception, or None."""
    n = len(atoms)
    if n == 0:
        return TooFewAtoms(source, index, "holds no atoms")
    finite = np.isfinite(atoms.positions).all(axis=1)
    if not finite.all():
        return NonFiniteInput(source, index, f"positions are not finite (NaN or inf) at atom(s) "
                                             f"{_indices(np.flatnonzero(~finite).tolist())}")
    if not np.isfinite(atoms.cell.array).all():
        return NonFiniteInput(source, index, "cell is not finite (NaN or inf)")
    if atoms.pbc.any():
        lengths = np.linalg.norm(atoms.cell.array, axis=1)
        missing = [axis for axis in range(3) if atoms.pbc[axis] and lengths[axis] < 1e-8]
        if missing or (atoms.pbc.all() and abs(np.linalg.det(atoms.cell.array)) < 1e-6):
            return InvalidInput(source, index, f"periodic frame (pbc={atoms.pbc.tolist()}) without a proper cell "
                                               f"(zero vector(s) {missing} or zero volume)")
    if n < min_atoms:
        return TooFewAtoms(source, index, f"{'a single atom' if n == 1 else f'{n} atoms'}: {what} needs at least "
                                          f"{'two' if min_atoms == 2 else min_atoms} atoms")
    if min_distance_angstrom:
        pair = closest_pair(atoms, min_distance_angstrom)
        if pair is not None:
            i, j, d = pair
            s = atoms.get_chemical_symbols()
            other = f"{j} ({s[j]})" if j != i else "its own periodic image"
            return OverlappingAtoms(source, index, f"overlapping atoms: {i} ({s[i]}) and {other} are {d:.3f} Å "
                                                   f"apart (< {min_distance_angstrom} Å)", (i, j, d))
    return None


def validate_structures(
    structures: Sequence[Atoms],
    potential=None,
    *,
    source: str | Path = "<structures>",
    min_distance_angstrom: float | None = MIN_DISTANCE_ANGSTROM,
    min_atoms: int = 1,
    need_a_pair: bool = False,
    what: str = "this test",
    probe: bool = True,
) -> None:
    """Raise an :class:`InvalidInput` at the first unusable frame; return None when all pass.

    Per frame, in order: atoms present; positions and cell finite; a periodic direction has a
    cell vector; at least ``min_atoms`` atoms (``what`` names the test in the message); no two
    atoms closer than ``min_distance_angstrom`` (periodic images included; None skips the check);
    then, with ``potential``, its elements (:func:`check_elements`). ``need_a_pair``: at least
    one frame must hold two atoms or be periodic (a bond scan of isolated atoms finds no bond;
    single-atom frames among others, such as isolated-atom reference energies, are allowed).
    """
    if len(structures) == 0:
        raise InvalidInput(source, None, "holds no structures")
    for index, atoms in enumerate(structures):
        problem = _structure_problem(source, index, atoms, min_atoms, min_distance_angstrom, what)
        if problem is not None:
            raise problem
    if need_a_pair and not any(len(a) >= 2 or a.pbc.any() for a in structures):
        raise TooFewAtoms(source, 0, f"a single atom{' in every frame' if len(structures) > 1 else ''}: "
                                     f"{what} needs at least two atoms")
    if potential is not None:
        check_elements(structures, potential, source=source, probe=probe)


def check_elements(structures: Sequence[Atoms], potential, *, source: str | Path = "<structures>",
                   probe: bool = True, name: str | None = None) -> None:
    """Raise :class:`UnsupportedElement` at the first frame holding an element ``potential`` does not
    support (declared ``supported_elements``, or, when undeclared and ``probe``, found by probing)."""
    name = name or potential_name(potential)
    supported = declared_elements(potential)
    if supported is _UNDECLARED:
        if probe:
            _probe(structures, potential, source, name)
        return
    refuse_unsupported(structures, supported, name=f"model {name}", source=source)


def refuse_unsupported(structures: Sequence[Atoms], supported, *, name: str, source: str | Path = "<structures>") -> None:
    """Raise :class:`UnsupportedElement` at the first frame holding an element outside ``supported``
    (symbols or atomic numbers; None = any); ``name`` begins the message ("model EMT")."""
    if supported is not None:
        supported = frozenset(_symbol(v) for v in supported)
    for index, atoms in enumerate(structures):
        missing = unsupported_in(set(atoms.get_chemical_symbols()), supported)
        if missing:
            raise _refuse_elements(source, index, atoms, missing, name, supported)


def _failure(potential, atoms: Atoms) -> str | None:
    """The message of a failed (raised or non-finite) evaluation of one frame, or None."""
    from bsct.potentials.evaluate import evaluate

    return evaluate(potential, [atoms], None, retry_frames=False).failures.get(0)


def _dimer(symbol: str) -> Atoms:
    z = atomic_numbers[symbol]
    r = max(2.0 * float(covalent_radii[z]), 1.0)
    return Atoms([symbol, symbol], positions=[[0.0, 0.0, 0.0], [r, 0.0, 0.0]])


def _probe(structures: Sequence[Atoms], potential, source, name: str) -> None:
    """One call on the first frame bringing new elements; if it fails, a dimer per element.

    Refuses (:class:`UnsupportedElement`) only what the probe pins down: some elements' dimers
    fail while others pass, so the model runs and those elements are what it cannot take. A
    model that fails on every dimer, or on the frame alone, is left to the test, which records
    its failed evaluations (exit 3): it cannot be told from a model that is broken everywhere."""
    seen: set[str] = set()
    dimer_failures: dict[str, str | None] = {}  # one dimer call per element, however many frames fail

    def dimer_failure(symbol: str) -> str | None:
        if symbol not in dimer_failures:
            dimer_failures[symbol] = _failure(potential, _dimer(symbol))
        return dimer_failures[symbol]

    for index, atoms in enumerate(structures):
        symbols = set(atoms.get_chemical_symbols())
        if symbols <= seen:
            continue
        if _failure(potential, atoms) is not None and len(symbols) > 1:
            ordered = sorted(symbols, key=lambda s: atomic_numbers[s])
            failing = {s: e for s in ordered if (e := dimer_failure(s)) is not None}
            if failing and len(failing) < len(symbols):
                symbol, error = next(iter(failing.items()))
                raise UnsupportedElement(
                    source, index, f"model {name} cannot evaluate {', '.join(failing)}: a {symbol}-{symbol} dimer "
                                   f"fails ({error}) while {', '.join(s for s in ordered if s not in failing)} pass",
                    list(failing))
        seen |= symbols
