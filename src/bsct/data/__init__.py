"""Reference datasets and structure readers.

- :func:`read_structures`, :func:`load_dataset`: read extxyz / ASE db files, with validation.
- :func:`ci_path`: the small committed datasets (``cu``, ``si``, ``water``, ``molecules``;
  splits ``train``, ``val``, ``test``, ``unseen``).
- :func:`resolve_data_arg`: a command's ``--data`` (a file or ``ci:SYSTEM[/SPLIT]``) as a path.
- :mod:`bsct.data.generate`: ``bsct data generate`` behind the scenes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bsct.runs import lazy_exports

_FROM_IO = ("DatasetError", "LabelledBatch", "load_dataset", "read_structures", "to_labelled_batch", "validate_frames")

# The readers of bsct.data.io, imported on first use: ``bsct --help`` (whose data commands live
# in this package) must not load numpy and ASE.
__getattr__ = lazy_exports(__name__, dict.fromkeys(_FROM_IO, "bsct.data.io"))


SYSTEMS = ("cu", "si", "water", "molecules")
SPLITS = ("train", "val", "test", "unseen")


def ci_path(system: str, split: str = "train") -> Path:
    """Path of a committed ci dataset file, e.g. ``ci_path('cu', 'train')``.

    Raises ValueError for an unknown system or split, FileNotFoundError if the file is missing.
    """
    from bsct.data.systems import canonical_system

    system = canonical_system(system)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    path = Path(str(resources.files("bsct") / "assets" / "data" / "ci" / system / f"{split}.extxyz"))
    if not path.exists():
        raise FileNotFoundError(f"{path}: ci dataset missing; regenerate with "
                                f"`bsct data generate {system} --size ci --out {path.parent}`")
    return path


CI_PREFIX = "ci:"


def parse_ci_arg(text: str) -> tuple[str, str | None] | None:
    """``ci:SYSTEM[/SPLIT]`` -> (SYSTEM, SPLIT or None); anything else (a file) -> None."""
    if not text.startswith(CI_PREFIX):
        return None
    system, _, split = text[len(CI_PREFIX):].partition("/")
    return system, split or None


def resolve_data_arg(text: str, default_split: str) -> Path:
    """The one reading of a command's data argument: ``ci:SYSTEM[/SPLIT]`` is a committed ci set
    (:func:`ci_path`; SPLIT defaults to ``default_split``, which each command states in its
    ``--help``), anything else a file path."""
    ci = parse_ci_arg(text)
    if ci is None:
        return Path(text)
    system, split = ci
    return ci_path(system, split or default_split)


def reference_path(system: str, split: str = "train", size: str = "ci", seed: int = 0,
                   generate: bool = False, workers: int = 1, progress: bool = True) -> Path:
    """Path of a reference dataset file of any size.

    Looks, in order, for the copy committed in the package (all ``ci`` sets, seed 0, and the
    ``full`` sets small enough to commit: ``molecules``), then for a generated copy in
    :func:`bsct.data.generate.default_out_dir`. With ``generate=True`` a missing set is made
    there first (minutes to an hour for ``full``, see docs/datasets.md; ``workers`` and
    ``progress`` as in :func:`bsct.data.generate.generate`); otherwise FileNotFoundError names the
    command that makes it.
    """
    from bsct.data.generate import default_out_dir
    from bsct.data.generate import generate as make
    from bsct.data.systems import canonical_system

    system = canonical_system(system)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if seed == 0:
        packaged = Path(str(resources.files("bsct") / "assets" / "data" / size / system / f"{split}.extxyz"))
        if packaged.exists():
            return packaged
    out = default_out_dir(system, size, seed)
    path = out / f"{split}.extxyz"
    if not path.exists():
        if not generate:
            raise FileNotFoundError(f"{path}: not generated yet; run `bsct data generate {system} --size {size} "
                                    f"--seed {seed}`")
        make(system, size, seed, out, progress=progress, workers=workers)
    return path


__all__ = [
    "SPLITS",
    "SYSTEMS",
    "DatasetError",
    "LabelledBatch",
    "ci_path",
    "parse_ci_arg",
    "resolve_data_arg",
    "load_dataset",
    "read_structures",
    "to_labelled_batch",
    "validate_frames",
]
