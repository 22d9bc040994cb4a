"""Reading structures from files: extxyz (or anything ase.io reads) and ASE databases."""

from __future__ import annotations

from pathlib import Path

from ase import Atoms


def read_structures(path: str | Path, index: str = ":") -> list[Atoms]:
    """All frames of an extxyz / ASE-readable file or an ASE ``.db``, in file order.

    Raises FileNotFoundError or ValueError naming the file when it is missing or holds nothing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".db":
        from ase.db import connect

        with connect(str(path)) as db:
            frames = [row.toatoms(add_additional_information=True) for row in db.select(sort="id")]
    else:
        from ase.io import read

        try:
            frames = read(str(path), index=index)
        except StopIteration:
            frames = []
        except Exception as exc:  # ase raises many types for malformed files
            raise ValueError(f"{path}: cannot be read as a structure file ({type(exc).__name__}: {exc})") from exc
        if isinstance(frames, Atoms):
            frames = [frames]
    if len(frames) == 0:
        raise ValueError(f"{path}: holds no structures")
    return list(frames)
