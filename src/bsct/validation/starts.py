"""The named start structures of the protocol, built with ASE.

    fcc_2x2x2_a3.59              conventional (cubic) fcc cell x 2x2x2: 32 atoms, a = 3.59 Å
    fcc_2x2x2_a3.59_vacancy      the same with atom 0 removed: 31 atoms
    diamond_2x2x2_a5.431         conventional diamond cell x 2x2x2: 64 atoms (63 with _vacancy)
    fccprim_2x2x2_a3.59          the primitive fcc cell x 2x2x2: 8 atoms (the budget rule's shrink)
    diamondprim_2x2x2_a5.431     the primitive diamond cell x 2x2x2: 16 atoms
    g2:NAME                      molecule NAME of ``ase.collections.g2`` (gas phase, no cell)

The element of a crystal is its system's (``cu`` -> Cu, ``si`` -> Si).
"""

from __future__ import annotations

import re

from ase import Atoms

from bsct.runs import BadInput

_CRYSTAL = re.compile(r"^(?P<lattice>fcc|diamond)(?P<prim>prim)?_(?P<rep>\d+x\d+x\d+)_a(?P<a>\d+(\.\d+)?)"
                      r"(?P<vacancy>_vacancy)?$")


def primitive_variant(name: str) -> str:
    """The budget rule's shrunk start of a crystal start (``fcc_...`` -> ``fccprim_...``); other
    names (molecules, already primitive) are returned unchanged."""
    m = _CRYSTAL.match(name)
    if m is None or m["prim"]:
        return name
    return name.replace(m["lattice"], m["lattice"] + "prim", 1)


def build_start(name: str, system: str) -> Atoms:
    """The start structure ``name`` of ``system`` (module docstring); BadInput for an unknown name."""
    if name.startswith("g2:"):
        from ase.collections import g2

        molecule = name[3:]
        if molecule not in g2.names:
            raise BadInput(f"start {name!r}: {molecule!r} is not in ase.collections.g2")
        atoms = g2[molecule]
        return Atoms(numbers=atoms.numbers, positions=atoms.positions)
    m = _CRYSTAL.match(name)
    if m is None:
        raise BadInput(f"unknown start structure {name!r}: expected fcc|diamond[prim]_NxNxN_aA[_vacancy] or g2:NAME")
    from ase.build import bulk

    element = system[:1].upper() + system[1:].lower()
    cell = bulk(element, m["lattice"], a=float(m["a"]), cubic=not m["prim"])
    atoms = cell.repeat(tuple(int(n) for n in m["rep"].split("x")))
    if m["vacancy"]:
        del atoms[0]
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)


def build_starts(names, system: str) -> list[Atoms]:
    return [build_start(n, system) for n in names]
