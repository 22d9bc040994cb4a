"""Helpers the system recipes share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from bsct.data.sampling import child_rng, rattle, run_md, strain


@dataclass(frozen=True)
class SampleTask:
    """One independent piece of a recipe: ``fn(tick)`` returns its frames.

    Each task draws only from its own ``child_rng`` streams, so tasks can run in any order or
    in other processes and the concatenation (in list order) is the same. ``fn`` is a
    ``functools.partial`` of module-level functions with plain arguments so that it pickles.

    Attributes:
        part: ``"pool"`` (split into train/val/test later) or ``"unseen"``.
        n_frames: frames it returns (for the progress bar).
        fn: ``fn(tick) -> list[Atoms]``; calls ``tick()`` once per frame.
    """

    part: str
    n_frames: int
    fn: Callable[[Callable[[], None]], list[Atoms]]


def run_tasks(tasks: list[SampleTask], tick: Callable[[], None] = lambda: None) -> tuple[list[Atoms], list[Atoms]]:
    """Run ``tasks`` one after another here; return (pool, unseen) in task order."""
    pool: list[Atoms] = []
    unseen: list[Atoms] = []
    for task in tasks:
        (pool if task.part == "pool" else unseen).extend(task.fn(tick))
    return pool, unseen


def tagged(fn: Callable, config_type: str, tick: Callable[[], None], **info) -> list[Atoms]:
    """``tag(fn(tick), config_type, **info)``: a picklable way to tag a task's frames."""
    return tag(fn(tick), config_type, **info)


def same_start(atoms: Atoms, rng: np.random.Generator | None = None) -> Atoms:
    """``make_start`` for MD runs that all start from one given structure (copied by ``run_md``)."""
    return atoms


def tag(frames: list[Atoms], config_type: str, **info) -> list[Atoms]:
    """Set ``info['config_type']`` (and any extra keys) on each frame; returns the same list."""
    for atoms in frames:
        atoms.info["config_type"] = config_type
        atoms.info.update(info)
    return frames


def md_frames(
    make_start: Callable[[np.random.Generator], Atoms],
    calculator_factory: Callable[[], object],
    n_frames: int,
    seed: int,
    key: str,
    temperature_k: float,
    timestep_fs: float,
    n_equil_steps: int,
    stride_steps: int,
    frames_per_run: int,
    tick: Callable[[], None],
) -> list[Atoms]:
    """``n_frames`` MD snapshots from independent runs of ``frames_per_run`` each.

    Run ``r`` starts from ``make_start(rng)`` with its own generator ``child_rng(seed, key, r)``.
    """
    frames: list[Atoms] = []
    run = 0
    while len(frames) < n_frames:
        rng = child_rng(seed, key, run)
        n = min(frames_per_run, n_frames - len(frames))
        frames += run_md(make_start(rng), calculator_factory(), temperature_k, timestep_fs, n_equil_steps, n,
                         stride_steps, rng, on_sample=tick)
        run += 1
    return frames


def strained_frames(base: Callable[[np.random.Generator], Atoms], n_frames: int, seed: int, key: str,
                    max_strain: float, rattle_angstrom: float, tick) -> list[Atoms]:
    """Randomly strained (±``max_strain`` per component) and lightly rattled copies of ``base``."""
    out = []
    for i in range(n_frames):
        rng = child_rng(seed, key, i)
        out.append(rattle(strain(base(rng), max_strain, rng), rattle_angstrom, rng))
        tick()
    return out


def rattled_frames(base: Callable[[np.random.Generator], Atoms], n_frames: int, seed: int, key: str,
                   sigma_range_angstrom: tuple[float, float], tick) -> list[Atoms]:
    """Copies of ``base`` rattled with a width drawn uniformly from ``sigma_range_angstrom``."""
    out = []
    for i in range(n_frames):
        rng = child_rng(seed, key, i)
        out.append(rattle(base(rng), float(rng.uniform(*sigma_range_angstrom)), rng))
        tick()
    return out
