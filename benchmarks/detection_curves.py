"""Known-answer curves of BSCT v2 (issue #19, item 7): detection rate vs planted size, and false alarms.

Planted part. Every artifact kind v2 detects is added, at a known place and size, to a smooth
base curve E(r), f_r(r) (f_r = -dE/dr of the base), on three grid densities (ScanRange's
default range, 60 / 240 / 960 points), in float64 and float32, on two bases:

    morse   the project's switched Morse (bsct.potentials.pair.Morse: D = 0.35 eV, a = 1.4/Å,
            r0 = 2.5 Å, C2 switch 4.5-6 Å), computed by torch autograd with a -100 eV offset
            (a total energy): float64, or entirely in float32 (rounding noise of E and f_r).
    model   a tiny Transformer MLIP (config ``final``, hidden 32, k 16, r_cut 5 Å, 16 RBFs)
            trained for 8 epochs on the project's ci Cu set with bsct.train.loop.train (~1 min),
            scanned as a Cu dimer through bsct.scan (build_scan + evaluate_scan), the model
            run in float64 (load_model(dtype=float64)) or in its native float32.

Planted term (x = r - r*, G = exp(-(x/w)^2); E and f_r consistent unless said otherwise):

    energy_step      E += s·H(x)                    f_r unchanged (autograd cannot see a step)   s in eV
    force_step       E += s·x·e^(-x/0.5)·H(x)       f_r drops by s at r*                          eV/Å
    curvature_step   E += s/2·x²·e^(-x/0.3)·H(x)    f_r' drops by s at r* (a kink of f_r)         eV/Å²
    noise_patch      E += s·N(0,1), f_r += 10/Å·s·N(0,1) on |x| ≤ 0.4 Å (independent, seeded)    s = σ_E in eV
    nonconservative  f_r += ε·f_base(r*)·G, w = 0.2 Å; E unchanged (a non-conservative force)     ε, fraction of f_r
    tail_bump        f_r += a·G, w = 0.1 Å (E by its erf integral), a solved so that the true
                     non-monotonic dip of the tail force (v2's definition, on a 0.6 mÅ grid)
                     equals s                                                                     s in eV/Å
    spurious_well    E -= a·G, w = 0.1 Å, a solved so that the true prominence of the well
                     (on a 0.6 mÅ grid) equals s                                                  s in eV
    residual_force   f_r -= s·L(r)/L(r_c), L = 1/(1+e^((r-c)/0.3 Å)), c ~ U(r_c ± 0.3 Å):
                     a smooth monotonic attraction that has not vanished at the cutoff r_c;
                     |f_r| = s at r_c (E by its softplus integral)                                eV/Å

r* is uniform over the attractive region [r_eq + 0.15 Å, r_hi] (tail_bump: from the force
extremum + 0.3 Å), r_hi = r_c - 0.6 Å or 0.3 Å before the first artifact v2 finds on the base
itself (the trained model has a real tail bump near its cutoff). Sizes: 8 per kind, log-spaced
over 3.5 decades around v2's floor (floor × 10^-1.5 … 10^2). One trial = one curve with one
planted artifact. A trial is a *hit* for v2 when an artifact whose *primary* kind is the planted
kind lies within 3 grid steps of the planted place (distance between extents: a point for
steps and kinks, r* ± 2w for bumps, wells and the non-conservative force, r* ± 0.4 Å for the
noise patch, r_c for the residual force); ``any`` counts an artifact of any kind there. v1
(bsct.metrics.scan_metrics.analyse_curve, default Tolerances, on the same arrays, without the
h/8 refinement that needs the model) hits with an artifact of the same kind (v1 has no tail-bump
kind: its stretch-side ``force_sign_flip`` is counted).

False-alarm part. Smooth references scanned through the project's scan API (run_bsct, which
gives v1 as `bsct scan` does, with refinement), the same raw curves analysed by v2
(collision guard ``scored_mask`` for pair scans with third atoms, the cutoff for dimers, the
fragment distance for fragment scans).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/detection_curves.py            # full (~9 min CPU, 15 min wall on a busy 2-core box)
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/detection_curves.py --quick    # ~1 min (writes runs/detection_curves/quick)
    PYTHONPATH=src python benchmarks/detection_curves.py --plot-only                   # figures + tables from the JSON

Writes ``<out>/detection_curves.json`` (every trial, every reference), ``<out>/<kind>.png`` and
``<out>/tables.md``; ``<out>`` defaults to docs/figures/detection.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

KINDS = {
    # name: (v2 kind, v1 kind, unit, v2 floor (FloorsV2), v1 tolerance (Tolerances) or None if not comparable)
    "energy_step": ("energy_jump", "energy_jump", "eV", "energy_floor_ev", "energy_jump_ev"),
    "force_step": ("force_jump", "force_jump", "eV/Å", "force_floor_ev_per_angstrom", "force_jump_ev_per_angstrom"),
    "curvature_step": ("curvature_jump", "curvature_jump", "eV/Å²", "curvature_floor_ev_per_angstrom2",
                       "curvature_jump_ev_per_angstrom2"),
    "noise_patch": ("roughness", "roughness", "eV (σ_E)", "roughness_energy_floor_ev", None),
    "nonconservative": ("force_inconsistency", "force_inconsistency", "fraction of f_r", None, None),
    "tail_bump": ("tail_bump", "force_sign_flip", "eV/Å (dip)", "force_floor_ev_per_angstrom", None),
    "spurious_well": ("spurious_minimum", "spurious_minimum", "eV (prominence)", "energy_floor_ev", "well_depth_ev"),
    "residual_force": ("residual_force", "residual_force", "eV/Å", "force_floor_ev_per_angstrom",
                       "residual_force_ev_per_angstrom"),
}
GRIDS = (60, 240, 960)
DTYPES = ("float64", "float32")
BASES = ("morse", "model")
SIZE_EXPONENTS = np.linspace(-1.5, 2.0, 8)  # sizes = 10**(round(log10 floor) + e)
NONCONS_SIZES = 10.0 ** np.linspace(-4.0, -0.5, 8)  # fractions of f_r
TOL_STEPS = 3
OFFSET_EV = -100.0
R0_DIMER = 2.5
MODEL_SETTINGS = dict(hidden_dim=32, k_neighbors=16, r_cut_angstrom=5.0, n_rbf=16)
MODEL_EPOCHS = 8

log = logging.getLogger("detection_curves")


def floor_of(attr):
    from bsct.metrics.floors import FloorsV2

    return None if attr is None else float(getattr(FloorsV2(), attr))


def v1_tol_of(attr):
    from bsct.metrics.detectors import Tolerances

    return None if attr is None else float(getattr(Tolerances(), attr))


def sizes_of(kind: str) -> np.ndarray:
    """8 sizes, half a decade apart, on round decades (so the issue's 0.1 meV and 1 meV/Å are
    among them) from ~0.03x to ~100x the floor: 10^(round(log10 floor) + SIZE_EXPONENTS)."""
    if kind == "nonconservative":
        return NONCONS_SIZES.copy()
    return 10.0 ** (round(math.log10(floor_of(KINDS[kind][3]))) + SIZE_EXPONENTS)


# --------------------------------------------------------------------------------------------
# Base curves
# --------------------------------------------------------------------------------------------

def grid(n: int, r0: float, cutoff: float) -> np.ndarray:
    from bsct.scan.geometry import ScanRange

    return ScanRange(n_points=n).grid_angstrom(r0, cutoff)


def morse_curve(r, dtype: str):
    """Switched Morse + offset, E and f_r = -dE/dr by torch autograd in ``dtype``."""
    import torch

    from bsct.potentials.pair import Morse

    t = torch.tensor(np.asarray(r, float), dtype=getattr(torch, dtype), requires_grad=True)
    e = Morse().cut_pair_energy_ev(t) + OFFSET_EV
    (grad,) = torch.autograd.grad(e.sum(), t)
    return e.detach().double().numpy(), -grad.double().numpy()


def train_model(model_dir: Path) -> Path:
    """The tiny Transformer of the model base (cached in model_dir/model.pt)."""
    path = model_dir / "model.pt"
    if path.exists():
        return path
    import torch

    from bsct.data import ci_path, load_dataset
    from bsct.model.config import named_config
    from bsct.train.loop import TrainConfig, train

    torch.set_num_threads(1)
    cfg = named_config("final", **MODEL_SETTINGS)
    t0 = time.perf_counter()
    train(cfg, load_dataset(ci_path("cu", "train")), load_dataset(ci_path("cu", "val")),
          TrainConfig(epochs=MODEL_EPOCHS, progress=False, seed=0), out_dir=model_dir)
    log.info("trained the model base in %.0f s -> %s", time.perf_counter() - t0, path)
    return path


def model_scan(model_path: Path, n: int, dtype: str):
    """Cu dimer scan of the checkpoint through the project's scan API; (r, E, f_r, cutoff)."""
    import torch
    from ase import Atoms

    from bsct.model.checkpoint import load_model
    from bsct.scan.bonds import select_bonds
    from bsct.scan.geometry import ScanRange, build_scan
    from bsct.scan.runner import evaluate_scan

    model = load_model(model_path, dtype=getattr(torch, dtype))
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [R0_DIMER, 0, 0]])
    bond = select_bonds([atoms], 1, 0, None).bonds[0]
    geo = build_scan(atoms, bond, ScanRange(n_points=n), model.cutoff_angstrom)
    c = evaluate_scan(model, geo)
    return c.r_angstrom, c.energy_ev, c.scan_force_ev_per_angstrom, float(model.cutoff_angstrom)


@dataclass
class Base:
    name: str
    n: int
    dtype: str
    r: np.ndarray
    e: np.ndarray
    f: np.ndarray
    cutoff: float


def make_bases(grids, bases, model_path: Path | None) -> dict:
    out = {}
    for name in bases:
        for n in grids:
            for dtype in DTYPES:
                if name == "morse":
                    r = grid(n, R0_DIMER, 6.0)
                    e, f = morse_curve(r, dtype)
                    out[(name, n, dtype)] = Base(name, n, dtype, r, e, f, 6.0)
                else:
                    r, e, f, rc = model_scan(model_path, n, dtype)
                    out[(name, n, dtype)] = Base(name, n, dtype, r, e, f, rc)
    return out


class FineBase:
    """The float64 base on any r: analytic for Morse, a cubic spline of the densest float64 scan
    for the model (its interpolation error, ~h⁴f⁗, is far below the sizes solved for)."""

    def __init__(self, base: Base):
        from scipy.interpolate import CubicSpline

        self.name = base.name
        self._e = CubicSpline(base.r, base.e)
        self._f = CubicSpline(base.r, base.f)

    def __call__(self, r):
        if self.name == "morse":
            return morse_curve(r, "float64")
        return self._e(r), self._f(r)


def base_landmarks(fine: FineBase, r_lo: float, r_hi: float, cutoff: float) -> dict:
    """r_eq (minimum of E) and r_ext (first force minimum after it) on a fine grid."""
    r = np.linspace(r_lo, min(r_hi, cutoff), 20001)
    e, f = fine(r)
    i = int(np.argmin(e))
    j = i + int(np.argmin(f[i:]))
    # the first *local* minimum of f after r_eq (the tail starts there)
    d = np.diff(f[i:])
    up = np.flatnonzero(d > 0)
    j = i + int(up[0]) if len(up) else j
    return {"r_eq": float(r[i]), "r_ext": float(r[j])}


# --------------------------------------------------------------------------------------------
# Planting
# --------------------------------------------------------------------------------------------

W_BUMP = 0.1
W_NONCONS = 0.2
NOISE_HALF_WIDTH = 0.4
NOISE_FORCE_RATIO = 10.0  # σ_f = 10/Å · σ_E, as the roughness floors' ratio (3e-3 / 3e-4)
RESID_LAMBDA = 0.3


def gauss(r, r_star, w):
    return np.exp(-(((r - r_star) / w) ** 2))


def bump_terms(r, r_star, a):
    """Force bump f += a·G (w = W_BUMP) and its energy E = -∫f."""
    from scipy.special import erf

    f = a * gauss(r, r_star, W_BUMP)
    e = -a * W_BUMP * math.sqrt(math.pi) / 2.0 * (1.0 + erf((r - r_star) / W_BUMP))
    return e, f


def well_terms(r, r_star, a):
    g = gauss(r, r_star, W_BUMP)
    return -a * g, -2.0 * a * (r - r_star) / W_BUMP**2 * g


def resid_terms(r, cutoff, c, s):
    """f -= s·L(r)/L(rc), L logistic (centre c, width RESID_LAMBDA); E = softplus integral."""
    lam = RESID_LAMBDA
    l_rc = 1.0 / (1.0 + math.exp((cutoff - c) / lam))
    z = (r - c) / lam
    f = -s / l_rc / (1.0 + np.exp(np.clip(z, -60, 60)))
    e = -s / l_rc * lam * np.logaddexp(0.0, -z)
    return e, f


def true_dip(fine: FineBase, r_ext: float, r_star: float, a: float) -> float:
    """Largest fall of the tail force below its running maximum near the bump (v2's tail dip)."""
    r = np.linspace(max(r_ext, r_star - 0.6), r_star + 0.6, 2001)
    _, f = fine(r)
    f = f + bump_terms(r, r_star, a)[1]
    return float(np.max(np.maximum.accumulate(f) - f))


def true_prominence(fine: FineBase, r_star: float, a: float) -> float:
    """Prominence of the planted well's minimum (scipy's definition: on each side, the highest
    point before the curve falls below the minimum again, or the window's edge; the lower of the
    two barriers minus the bottom), 0 when no minimum forms within 2w of r*."""
    r = np.linspace(r_star - 0.6, r_star + 0.6, 2001)
    e, _ = fine(r)
    e = e + well_terms(r, r_star, a)[0]
    inner = np.flatnonzero((e[1:-1] < e[:-2]) & (e[1:-1] <= e[2:])) + 1
    inner = inner[np.abs(r[inner] - r_star) <= 2 * W_BUMP]
    if len(inner) == 0:
        return 0.0
    k = inner[np.argmin(e[inner])]
    lower_left = np.flatnonzero(e[:k] < e[k])
    lower_right = np.flatnonzero(e[k + 1:] < e[k])
    left = e[(lower_left[-1] if len(lower_left) else 0): k + 1].max()
    right = e[k: (k + 1 + lower_right[0]) if len(lower_right) else len(e)].max()
    return float(min(left, right) - e[k])


def solve_amplitude(measure, target: float) -> float:
    """a > 0 with measure(a) = target (measure increasing in a), by bisection in log a."""
    lo, hi = 1e-9, 1.0
    while measure(hi) < target:
        hi *= 4.0
        if hi > 1e3:
            return float("nan")
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if measure(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1 + 1e-6:
            break
    return hi


@dataclass
class Plant:
    kind: str
    size: float
    r_star: float
    seed: int
    amplitude: float = float("nan")  # a of tail_bump / spurious_well
    centre: float = float("nan")  # c of residual_force

    def extent(self, cutoff: float) -> tuple[float, float]:
        if self.kind in ("tail_bump", "spurious_well"):
            return (self.r_star - 2 * W_BUMP, self.r_star + 2 * W_BUMP)
        if self.kind == "nonconservative":
            return (self.r_star - 2 * W_NONCONS, self.r_star + 2 * W_NONCONS)
        if self.kind == "noise_patch":
            return (self.r_star - NOISE_HALF_WIDTH, self.r_star + NOISE_HALF_WIDTH)
        if self.kind == "residual_force":
            return (cutoff, cutoff)
        return (self.r_star, self.r_star)

    def terms(self, r, f_base_at_star: float, cutoff: float):
        """(ΔE, Δf_r) on grid r."""
        x = r - self.r_star
        on = x >= 0
        s = self.size
        zero = np.zeros_like(r)
        if self.kind == "energy_step":
            return s * on, zero
        if self.kind == "force_step":
            d = np.exp(-np.clip(x, 0, None) / 0.5)
            return s * x * d * on, -s * (1 - x / 0.5) * d * on
        if self.kind == "curvature_step":
            d = np.exp(-np.clip(x, 0, None) / 0.3)
            return 0.5 * s * x**2 * d * on, -s * (x - x**2 / (2 * 0.3)) * d * on
        if self.kind == "noise_patch":
            rng = np.random.default_rng([self.seed, len(r), 7])
            win = np.abs(x) <= NOISE_HALF_WIDTH
            return s * rng.standard_normal(len(r)) * win, NOISE_FORCE_RATIO * s * rng.standard_normal(len(r)) * win
        if self.kind == "nonconservative":
            return zero, s * f_base_at_star * gauss(r, self.r_star, W_NONCONS)
        if self.kind == "tail_bump":
            return bump_terms(r, self.r_star, self.amplitude)
        if self.kind == "spurious_well":
            return well_terms(r, self.r_star, self.amplitude)
        if self.kind == "residual_force":
            return resid_terms(r, cutoff, self.centre, s)
        raise ValueError(self.kind)


def make_plants(base_name: str, kinds, sizes_by_kind, n_seeds: int, fine: FineBase, marks: dict, cutoff: float,
                r_hi: float) -> list[Plant]:
    """Positions and solved amplitudes, shared by every grid and dtype of one base (paired trials)."""
    plants = []
    for kind in kinds:
        # a well closer than 0.3 Å to r_eq can become the deepest minimum itself (then it is the bond's)
        lo = marks["r_ext"] + 0.3 if kind == "tail_bump" else marks["r_eq"] + (0.3 if kind == "spurious_well" else 0.15)
        hi = r_hi - (NOISE_HALF_WIDTH if kind == "noise_patch" else 0.0)
        for i_size, size in enumerate(sizes_by_kind[kind]):
            for seed in range(n_seeds):
                rng = np.random.default_rng([zlib.crc32(f"{base_name}/{kind}".encode()), i_size, seed])
                r_star = float(rng.uniform(lo, hi))
                p = Plant(kind, float(size), r_star, seed)
                if kind in ("tail_bump", "spurious_well"):
                    measure = ((lambda a: true_dip(fine, marks["r_ext"], r_star, a)) if kind == "tail_bump"
                               else (lambda a: true_prominence(fine, r_star, a)))
                    p.amplitude = solve_amplitude(measure, size)
                    if not (np.isfinite(p.amplitude) and abs(measure(p.amplitude) / size - 1) < 0.02):
                        log.warning("dropped %s %s at %.3f Å: size %.3g not reachable", base_name, kind, r_star, size)
                        continue
                elif kind == "residual_force":
                    p.centre = float(cutoff + rng.uniform(-0.3, 0.3))
                plants.append(p)
    return plants


# --------------------------------------------------------------------------------------------
# Analysis of one trial
# --------------------------------------------------------------------------------------------

@dataclass
class DimerCurve:
    """A v1 Curve (bsct.metrics.scan_metrics.Curve) of a dimer from arrays."""

    r_angstrom: np.ndarray
    energy_ev: np.ndarray
    f: np.ndarray
    r0_angstrom: float
    label: str = "dimer"
    bond_type: str = "X-X"

    def __post_init__(self):
        self.dx_dr = np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0]])
        forces = np.zeros((len(self.f), 2, 3))
        forces[:, 0, 0] = -self.f
        forces[:, 1, 0] = self.f
        self.forces_ev_per_angstrom = forces
        self.min_cross_distance_angstrom = np.asarray(self.r_angstrom, float)

    @property
    def scan_force_ev_per_angstrom(self):
        return np.einsum("kad,ad->k", self.forces_ev_per_angstrom, self.dx_dr)


def gap(extent, lo, hi):
    a, b = extent
    return max(0.0, lo - b, a - hi)


def analyse_both(r, e, f, r0, cutoff):
    from bsct.metrics.bsct_v2 import analyse_arrays_v2
    from bsct.metrics.scan_metrics import analyse_curve

    a2 = analyse_arrays_v2(r, e, f, r_eq_hint=r0, cutoff_angstrom=cutoff)
    a1 = analyse_curve(DimerCurve(r, e, f, r0), cutoff_angstrom=cutoff)
    v2 = [(m.kind, m.primary.extent_angstrom, float(m.primary.size), list(m.kinds)) for m in a2.artifacts]
    v1 = [(a.kind, (a.r_angstrom, a.r_angstrom), float(a.size), [a.kind]) for a in a1.artifacts]
    return v1, v2


def judge(arts, kind_wanted, lo, hi, tol, base_arts=()):
    """(hit with the right primary kind, hit of any kind, found size, artifacts near the place).

    Artifacts the unplanted base already has (same kind, r within ``tol``) are not the planted one."""
    arts = [a for a in arts if not any(a[0] == b[0] and abs(a[1][1] - b[1][1]) <= tol for b in base_arts)]
    near = [a for a in arts if gap(a[1], lo, hi) <= tol]
    right = [a for a in near if a[0] == kind_wanted]
    size = right[0][2] if right else float("nan")
    close = [a for a in arts if gap(a[1], lo, hi) <= 0.5]
    return bool(right), bool(near), size, len(close)


def run_trial(base: Base, plant: Plant, f_star: float, r0: float, base_arts=((), ())) -> dict:
    r = base.r
    de, df = plant.terms(r, f_star, base.cutoff)
    e, f = base.e + de, base.f + df
    if base.dtype == "float32":
        e = e.astype(np.float32).astype(float)
        f = f.astype(np.float32).astype(float)
    h = float(r[1] - r[0])
    lo, hi = plant.extent(base.cutoff)
    v1, v2 = analyse_both(r, e, f, r0, base.cutoff)
    v2_kind, v1_kind = KINDS[plant.kind][0], KINDS[plant.kind][1]
    h1, any1, size1, close1 = judge(v1, v1_kind, lo, hi, TOL_STEPS * h, base_arts[0])
    h2, any2, size2, close2 = judge(v2, v2_kind, lo, hi, TOL_STEPS * h, base_arts[1])
    return {"base": base.name, "n": base.n, "dtype": base.dtype, "kind": plant.kind, "size": plant.size,
            "seed": plant.seed, "r_star": round(plant.r_star, 5), "v2_hit": h2, "v2_any": any2,
            "v2_size": size2, "v2_close": close2, "v2_n": len(v2), "v1_hit": h1, "v1_any": any1, "v1_size": size1,
            "v1_close": close1, "v1_n": len(v1),
            "v2_kinds_near": sorted({a[0] for a in v2 if gap(a[1], lo, hi) <= TOL_STEPS * h
                                     and not any(a[0] == b[0] and abs(a[1][1] - b[1][1]) <= TOL_STEPS * h
                                                 for b in base_arts[1])}),
            "amplitude": None if not np.isfinite(plant.amplitude) else float(plant.amplitude)}


def _run_chunk(args):
    base, plants, f_stars, r0 = args
    base_arts = analyse_both(base.r, base.e, base.f, r0, base.cutoff)  # what the base itself has
    return [run_trial(base, p, fs, r0, base_arts) for p, fs in zip(plants, f_stars)]


# --------------------------------------------------------------------------------------------
# References (false alarms)
# --------------------------------------------------------------------------------------------

def references(quick: bool, model_path: Path | None, heavy: bool) -> list[dict]:
    """(name, spec/potential factory, structure factory, grids, note)."""
    from ase import Atoms
    from ase.build import bulk, molecule

    def dimer(sym, r0):
        return lambda: Atoms(sym + "2", positions=[[0, 0, 0], [r0, 0, 0]])

    grids_all = (240,) if quick else GRIDS
    refs = [
        dict(name="EMT Cu dimer", spec="emt", atoms=dimer("Cu", 2.3), grids=grids_all),
        dict(name="EMT fcc Cu (pair scan)", spec="emt", atoms=lambda: bulk("Cu", "fcc", a=3.61), grids=(240,)),
        dict(name="ASE LJ smooth (σ 2.3, ε 0.3, rc 6.9)", spec="ase-lj:2.3,0.3", atoms=dimer("Cu", 2.58), grids=grids_all),
        dict(name="ASE LJ smooth (σ 1, ε 1, rc 3)", spec="ase-lj:1.0,1.0", atoms=dimer("Cu", 1.12), grids=grids_all),
        dict(name="switched LJ (project, σ 2.3, ε 0.3, switch 4-5 Å)",
             spec="lj[sigma_angstrom=2.3,epsilon_ev=0.3,cutoff_angstrom=5.0,switch_on_angstrom=4.0]",
             atoms=dimer("Cu", 2.58), grids=grids_all),
    ]
    if not quick:
        refs += [
            dict(name="Stillinger-Weber Si (pair scan, diamond)", spec="sw-si", atoms=lambda: bulk("Si", "diamond", a=5.431),
                 grids=(240,)),
        ]
    if heavy:
        refs += [
            dict(name="GFN2-xTB water", spec="gfn2-xtb", atoms=lambda: molecule("H2O"), grids=(240,)),
            dict(name="GFN2-xTB ethanol", spec="gfn2-xtb", atoms=lambda: molecule("CH3CH2OH"), grids=(240,)),
            dict(name="CHGNet 0.3.0 Cu dimer", spec="chgnet:0.3.0", atoms=dimer("Cu", 2.3), grids=(240,)),
            dict(name="CHGNet 0.3.0 water", spec="chgnet:0.3.0", atoms=lambda: molecule("H2O"), grids=(240,)),
            dict(name="SevenNet-0 Cu dimer", spec="sevennet:7net-0", atoms=dimer("Cu", 2.3), grids=(240,)),
            dict(name="SevenNet-0 water", spec="sevennet:7net-0", atoms=lambda: molecule("H2O"), grids=(240,)),
        ]
    return refs


def load_reference_potential(spec: str):
    from bsct.registry import load_potential

    if spec.startswith("ase-lj:"):
        from ase.calculators.lj import LennardJones

        from bsct.potentials.ase_adapters import CalculatorPotential

        sigma, eps = (float(x) for x in spec.split(":")[1].split(","))
        rc = 3.0 * sigma
        return CalculatorPotential(LennardJones(sigma=sigma, epsilon=eps, rc=rc, smooth=True), cutoff_angstrom=rc,
                                   name=f"ASE LJ smooth {sigma},{eps}")
    return load_potential(spec)


def v2_on_curve(curve, geometry, cutoff):
    """v2 on a scanned curve, with the collision guard for pair scans and the cutoff where it applies."""
    from bsct.metrics.bsct_v2 import analyse_arrays_v2
    from bsct.scan.collisions import closest_third_atom_distance_angstrom, scored_mask

    r, e, f = curve.r_angstrom, curve.energy_ev, curve.scan_force_ev_per_angstrom
    include, far, rc = None, None, None
    n_atoms = len(geometry.atoms)
    if curve.mode == "pair" and n_atoms > 2:
        d3 = closest_third_atom_distance_angstrom(geometry.positions_angstrom(), geometry.i, geometry.j,
                                                  geometry.atoms.cell.array, geometry.atoms.pbc)
        include = scored_mask(d3, r)
    elif curve.mode == "fragment" and cutoff is not None and curve.min_cross_distance_angstrom is not None:
        far = curve.min_cross_distance_angstrom > cutoff
    elif n_atoms == 2:
        rc = cutoff
    return analyse_arrays_v2(r, e, f, r_eq_hint=curve.r0_angstrom, cutoff_angstrom=rc, far_mask=far, include=include,
                             environment=curve.mode == "pair" and n_atoms > 2)


def run_reference(ref: dict, n: int, curves_dir: Path | None = None) -> dict:
    from bsct.metrics.scan_metrics import analyse_curve
    from bsct.scan.api import run_bsct
    from bsct.scan.geometry import ScanRange, build_scan
    from bsct.scan.runner import evaluate_points
    from bsct.scan.score_v2 import analyse_bond_v2

    t0 = time.perf_counter()
    pot = load_reference_potential(ref["spec"])
    structures = [ref["atoms"]()]
    rep = run_bsct(pot, structures, max_per_type=1, scan_range=ScanRange(n_points=n), progress=False)
    cutoff = pot.cutoff_angstrom
    scans = []
    for bond, res in zip(rep.selection.bonds, rep.results):
        c = res.curve
        geo = build_scan(structures[bond.structure_idx], bond, ScanRange(n_points=n), cutoff, "auto", True)
        a2 = v2_on_curve(c, geo, cutoff)
        raw1 = analyse_curve(c, cutoff_angstrom=cutoff)
        # v2 as `bsct scan --score-version v2` scores it: collision guard, cutoff, h/8 confirmation
        if c.mode == "pair" and c.closest_third_atom_angstrom is None:
            c.closest_third_atom_angstrom = geo.closest_third_atom_angstrom()
        scan2 = analyse_bond_v2(c, len(geo.atoms), cutoff, refine=lambda rr, g=geo: evaluate_points(pot, g, rr))
        if curves_dir is not None:  # the raw curves, for a closer look
            curves_dir.mkdir(parents=True, exist_ok=True)
            c.save(curves_dir / f"{ref['spec'].replace(':', '_').replace(',', '_')[:40]}_{c.label}_{n}.npz")
        scans.append({
            "bond": c.label, "mode": c.mode, "n_atoms": int(len(geo.atoms)),
            "scored": [round(x, 3) for x in a2.scored_range_angstrom],
            "noise_e": float(a2.noise[0].energy_ev) if a2.noise else None,
            "noise_f": float(a2.noise[0].force_ev_per_angstrom) if a2.noise else None,
            "v1": [f"{a.kind} @ {a.r_angstrom:.3f} Å ({a.size:.3g} {a.unit})" for a in res.analysis.artifacts],
            "v1_raw": [f"{a.kind} @ {a.r_angstrom:.3f} Å ({a.size:.3g} {a.unit})" for a in raw1.artifacts],
            "v2": [f"{m.kind} @ {m.r_angstrom:.3f} Å ({m.primary.size:.3g} {m.primary.unit})" for m in a2.artifacts],
            "v2_scan": [f"{m.kind} @ {m.r_angstrom:.3f} Å ({m.primary.size:.3g} {m.primary.unit})" for m in scan2.merged],
        })
    return {"name": ref["name"], "spec": ref["spec"], "n_points": n, "cutoff": cutoff, "scans": scans,
            "seconds": round(time.perf_counter() - t0, 1)}


def array_reference(name: str, base: Base, r0: float) -> dict:
    """A base curve itself as a reference (Morse, the trained model), analysed by v1 (raw) and v2."""
    from bsct.metrics.bsct_v2 import analyse_arrays_v2
    from bsct.metrics.scan_metrics import analyse_curve

    a2 = analyse_arrays_v2(base.r, base.e, base.f, r_eq_hint=r0, cutoff_angstrom=base.cutoff)
    a1 = analyse_curve(DimerCurve(base.r, base.e, base.f, r0), cutoff_angstrom=base.cutoff)
    scan = {"bond": "dimer", "mode": "pair", "n_atoms": 2, "scored": [round(x, 3) for x in a2.scored_range_angstrom],
            "noise_e": float(a2.noise[0].energy_ev), "noise_f": float(a2.noise[0].force_ev_per_angstrom),
            "v1": None, "v1_raw": [f"{a.kind} @ {a.r_angstrom:.3f} Å ({a.size:.3g} {a.unit})" for a in a1.artifacts],
            "v2": [f"{m.kind} @ {m.r_angstrom:.3f} Å ({m.primary.size:.3g} {m.primary.unit})" for m in a2.artifacts]}
    return {"name": name, "spec": f"{base.name} {base.dtype}", "n_points": base.n, "cutoff": base.cutoff,
            "scans": [scan], "seconds": 0.0}


# --------------------------------------------------------------------------------------------
# Tables and figures
# --------------------------------------------------------------------------------------------

def rates(trials, base, kind, n, dtype, key):
    sizes = sorted({t["size"] for t in trials if t["kind"] == kind and t["base"] == base})
    out = []
    for s in sizes:
        sel = [t[key] for t in trials if t["kind"] == kind and t["base"] == base and t["n"] == n
               and t["dtype"] == dtype and t["size"] == s]
        out.append(float(np.mean(sel)) if sel else float("nan"))
    return np.array(sizes), np.array(out)


def size_at_half(sizes, rate):
    """Smallest size where the rate reaches 0.5 (log-interpolated), '<min' / '>max' outside."""
    ok = np.isfinite(rate)
    sizes, rate = sizes[ok], rate[ok]
    if len(sizes) == 0:
        return "–"
    above = np.flatnonzero(rate >= 0.5)
    if len(above) == 0:
        return f"> {sizes[-1]:.2g}"
    k = int(above[0])
    if k == 0:
        return f"≤ {sizes[0]:.2g}"
    x0, x1 = math.log10(sizes[k - 1]), math.log10(sizes[k])
    y0, y1 = rate[k - 1], rate[k]
    x = x0 + (0.5 - y0) * (x1 - x0) / (y1 - y0) if y1 != y0 else x1
    s = f"{10 ** x:.2g}"
    if np.any(rate[k:] < 0.5):
        s += "*"
    return s


def floor_marks(kind, data):
    """(v2 floor, v1 tolerance) in the kind's size unit, for the figures and tables."""
    v2f, v1t = floor_of(KINDS[kind][3]), v1_tol_of(KINDS[kind][4])
    if kind == "nonconservative":
        fs = data.get("f_star_median", {})
        med = np.median(list(fs.values())) if fs else float("nan")
        v2f = floor_of("force_floor_ev_per_angstrom") / med
        v1t = v1_tol_of("force_inconsistency_ev_per_angstrom") / med
    return v2f, v1t


def write_tables(data, out: Path) -> str:
    trials = data["trials"]
    lines = ["## 50 % detection size (planted size at which half the trials are found with the right primary kind)",
             "", "`*`: the rate falls below 50 % again at a larger size. `≤ x` / `> x`: already at / never within the "
             "sizes tried.", ""]
    grids = data["config"]["grids"]
    for base in data["config"]["bases"]:
        lines += [f"### base: {base}", "",
                  "| kind (unit) | v2 floor | v1 tol | " + " | ".join(
                      f"v2 {n} {d[5:]}" for n in grids for d in DTYPES) + " | " + " | ".join(
                      f"v1 {n} {d[5:]}" for n in grids for d in DTYPES) + " |",
                  "|---" * (3 + 4 * len(grids)) + "|"]
        for kind in data["config"]["kinds"]:
            v2f, v1t = floor_marks(kind, data)
            cells = []
            for key in ("v2_hit", "v1_hit"):
                for n in grids:
                    for d in DTYPES:
                        s, r = rates(trials, base, kind, n, d, key)
                        cells.append(size_at_half(s, r))
            fmt = lambda x: "–" if x is None or not np.isfinite(x) else f"{x:.2g}"  # noqa: E731
            lines.append(f"| {kind} ({KINDS[kind][2]}) | {fmt(v2f)} | {fmt(v1t)} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Detection rate per planted size at the default grid (240 points)", "",
              "Each cell: v2 float64 / v2 float32 / v1 float64 (fraction of trials found with the right kind at the "
              "right place). Sizes in the kind's unit, left to right as listed.", ""]
    for base in data["config"]["bases"]:
        lines += [f"### base: {base}", "", "| kind | sizes | rates (v2 f64 / v2 f32 / v1 f64) |", "|---|---|---|"]
        for kind in data["config"]["kinds"]:
            s64, r64 = rates(trials, base, kind, 240, "float64", "v2_hit")
            _, r32 = rates(trials, base, kind, 240, "float32", "v2_hit")
            _, q64 = rates(trials, base, kind, 240, "float64", "v1_hit")
            sizes = ", ".join(f"{x:.2g}" for x in s64)
            cells = ", ".join(f"{a:.2f}/{b:.2f}/{c:.2f}" for a, b, c in zip(r64, r32, q64))
            lines.append(f"| {kind} | {sizes} | {cells} |")
        lines.append("")
    # one defect one artifact, and any-kind rates at the default grid
    lines += ["## One defect, one artifact (default grid, v2)", "",
              "Of the v2 hits, the fraction with exactly one artifact within 0.5 Å of the planted place; the median "
              "ratio of the reported size to the planted size (hits, float64); and, for the trials that were not "
              "hits, the kinds that were the primary at the planted place instead, with the largest size at which "
              "each was seen.", "",
              "| base | kind | hits | one artifact | reported / planted size | other primary kinds at the place (largest size) |",
              "|---|---|---|---|---|---|"]
    for base in data["config"]["bases"]:
        for kind in data["config"]["kinds"]:
            sel = [t for t in trials if t["base"] == base and t["kind"] == kind and t["n"] == 240]
            hits = [t for t in sel if t["v2_hit"]]
            one = np.mean([t["v2_close"] == 1 for t in hits]) if hits else float("nan")
            wrong = {}
            for t in sel:
                for k in t["v2_kinds_near"]:
                    if k != KINDS[kind][0] and not t["v2_hit"]:
                        wrong[k] = max(wrong.get(k, 0.0), t["size"])
            w = ", ".join(f"{k} ({v:.2g})" for k, v in sorted(wrong.items())) or "none"
            ratio = [t["v2_size"] / t["size"] for t in hits if t["dtype"] == "float64" and kind not in ("nonconservative", "noise_patch")]
            rs = f"{np.median(ratio):.3f}" if ratio else "–"
            lines.append(f"| {base} | {kind} | {len(hits)}/{len(sel)} | {one:.2f} | {rs} | {w} |")
    lines.append("")
    lines += ["## False alarms on smooth references (every artifact counts)", "",
              "| reference | points | scans | v1 (bsct scan, refined) | v1 raw arrays | v2 (bsct scan, refined) | v2 raw arrays | σ_E, σ_f (v2 noise) | s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for ref in data["references"]:
        scans = ref["scans"]
        def fmt_list(key):  # noqa: E306
            if all(s.get(key) is None for s in scans):
                return "–"
            items = [x for s in scans for x in (s.get(key) or [])]
            return f"{len(items)}" + (": " + "; ".join(f"{s['bond']}: " + ", ".join(s[key]) for s in scans if s.get(key)) if items else "")
        noise = "; ".join(f"{s['noise_e']:.1e}, {s['noise_f']:.1e}" for s in scans if s["noise_e"] is not None)
        lines.append(f"| {ref['name']} | {ref['n_points']} | {len(scans)} | {fmt_list('v1')} | {fmt_list('v1_raw')} | "
                     f"{fmt_list('v2_scan')} | {fmt_list('v2')} | {noise} | {ref['seconds']} |")
    text = "\n".join(lines) + "\n"
    (out / "tables.md").write_text(text)
    return text


def plot(data, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = data["trials"]
    colors = {60: "tab:orange", 240: "tab:blue", 960: "tab:green"}
    for kind in data["config"]["kinds"]:
        bases = data["config"]["bases"]
        fig, axes = plt.subplots(1, len(bases), figsize=(5.6 * len(bases), 4.8), squeeze=False, sharey=True)
        v2f, v1t = floor_marks(kind, data)
        for ax, base in zip(axes[0], bases):
            k = 0
            for n in data["config"]["grids"]:
                for d in DTYPES:
                    ls = "-" if d == "float64" else "--"
                    jitter = 0.012 * (k - 2.5)  # identical curves would hide each other
                    k += 1
                    s, r = rates(trials, base, kind, n, d, "v2_hit")
                    ax.plot(s, r + jitter, ls, color=colors.get(n, "k"), marker="o", ms=3, lw=1.8,
                            label=f"v2 {n} pts {d}")
                    s, r = rates(trials, base, kind, n, d, "v1_hit")
                    ax.plot(s, r - jitter - 0.006, ls, color=colors.get(n, "k"), marker="x", ms=3, lw=0.8, alpha=0.5,
                            label=f"v1 {n} pts {d}")
            if v2f is not None and np.isfinite(v2f):
                ax.axvline(v2f, color="k", lw=1.0, label="v2 floor")
            if v1t is not None and np.isfinite(v1t):
                ax.axvline(v1t, color="grey", lw=1.0, ls=":", label="v1 tolerance")
            ax.set_xscale("log")
            ax.set_ylim(-0.06, 1.06)
            ax.set_xlabel(f"planted size ({KINDS[kind][2]})")
            ax.set_title(f"{kind} on {base}")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("detection rate (right kind, right place)")
        handles, labels = axes[0][-1].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=7, ncol=7, loc="lower center")
        fig.tight_layout(rect=(0, 0.13, 1, 1))
        fig.savefig(out / f"{kind}.png", dpi=110)
        plt.close(fig)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None,
                   help="figures, tables and the JSON cache (default docs/figures/detection; --quick: runs/detection_curves/quick)")
    p.add_argument("--work", default=str(ROOT / "runs/detection_curves"), help="trained model checkpoint (cached)")
    p.add_argument("--quick", action="store_true", help="~1-2 min: Morse only, 60/240 points, 4 sizes, 1 seed, light references")
    p.add_argument("--seeds", type=int, default=6, help="positions per size at 60 and 240 points")
    p.add_argument("--dense-seeds", type=int, default=2, help="positions per size at 960 points (v2 is ~4x slower there)")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated planted kinds")
    p.add_argument("--bases", default="morse,model")
    p.add_argument("--no-heavy", action="store_true", help="skip CHGNet, SevenNet-0 and GFN2-xTB")
    p.add_argument("--skip-references", action="store_true")
    p.add_argument("--workers", type=int, default=1, help="processes for the planted trials")
    p.add_argument("--plot-only", action="store_true", help="remake figures and tables from the JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out) if args.out else ROOT / ("runs/detection_curves/quick" if args.quick else "docs/figures/detection")
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "detection_curves.json"
    if args.plot_only:
        data = json.loads(cache.read_text())
        plot(data, out)
        print(write_tables(data, out))
        return 0

    import torch

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    kinds = [k for k in args.kinds.split(",") if k]
    bases = [b for b in args.bases.split(",") if b]
    grids = list(GRIDS)
    seeds = {60: args.seeds, 240: args.seeds, 960: args.dense_seeds}
    sizes_by_kind = {k: sizes_of(k) for k in kinds}
    if args.quick:
        bases, grids = ["morse"], [60, 240]
        seeds = {60: 1, 240: 1}
        sizes_by_kind = {k: v[::2] for k, v in sizes_by_kind.items()}
    model_path = train_model(Path(args.work)) if "model" in bases else None
    bases_arr = make_bases(grids, bases, model_path)
    data = {"config": {"kinds": kinds, "bases": bases, "grids": grids, "seeds": {str(k): v for k, v in seeds.items()},
                       "sizes": {k: list(map(float, v)) for k, v in sizes_by_kind.items()}, "tol_steps": TOL_STEPS,
                       "quick": args.quick, "model": dict(MODEL_SETTINGS, epochs=MODEL_EPOCHS, config="final")},
            "trials": [], "references": [], "landmarks": {}, "f_star_median": {}}
    chunks = []
    for base in bases:
        dense = bases_arr[(base, max(grids), "float64")]
        fine = FineBase(dense)
        marks = base_landmarks(fine, dense.r[0], dense.r[-1], dense.cutoff)
        # the attractive region ends 0.6 Å before the cutoff, or 0.3 Å before the first artifact v2
        # finds on the base itself (float64, densest grid)
        from bsct.metrics.bsct_v2 import analyse_arrays_v2

        base_art = analyse_arrays_v2(dense.r, dense.e, dense.f, r_eq_hint=R0_DIMER, cutoff_angstrom=dense.cutoff).artifacts
        r_hi = dense.cutoff - 0.6
        for m in base_art:
            lo_ext = m.primary.extent_angstrom[0]
            if lo_ext > marks["r_eq"] + 0.5:
                r_hi = min(r_hi, lo_ext - 0.3)
        marks["r_hi"] = r_hi
        marks["base_artifacts"] = [f"{m.kind} @ {m.r_angstrom:.3f}" for m in base_art]
        data["landmarks"][base] = marks
        log.info("base %s: %s", base, marks)
        n_max_seeds = max(seeds.values())
        plants = make_plants(base, kinds, sizes_by_kind, n_max_seeds, fine, marks, dense.cutoff, r_hi)
        f_stars = [float(fine(np.array([p.r_star]))[1][0]) for p in plants]
        data["f_star_median"][base] = float(np.median(np.abs([fs for p, fs in zip(plants, f_stars)
                                                               if p.kind == "nonconservative"] or [np.nan])))
        for n in grids:
            for dtype in DTYPES:
                sel = [(p, fs) for p, fs in zip(plants, f_stars) if p.seed < seeds[n]]
                for kind in kinds:
                    mine = [(p, fs) for p, fs in sel if p.kind == kind]
                    chunks.append((bases_arr[(base, n, dtype)], [p for p, _ in mine], [fs for _, fs in mine], R0_DIMER))
        for n in grids:
            for dtype in DTYPES:
                data["references"].append(array_reference(f"{base} (base curve) {dtype}", bases_arr[(base, n, dtype)],
                                                          R0_DIMER))
    n_trials = sum(len(c[1]) for c in chunks)
    log.info("%d planted trials in %d chunks", n_trials, len(chunks))
    t0 = time.perf_counter()
    if args.workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(args.workers) as pool:
            for res in pool.imap_unordered(_run_chunk, chunks):
                data["trials"] += res
    else:
        for i, c in enumerate(chunks):
            data["trials"] += _run_chunk(c)
            if i % 8 == 7:
                log.info("chunk %d/%d, %.0f s", i + 1, len(chunks), time.perf_counter() - t0)
    data["planted_seconds"] = round(time.perf_counter() - t0, 1)
    cache.write_text(json.dumps(data, indent=None, default=float))
    if not args.skip_references:
        for ref in references(args.quick, model_path, heavy=not (args.no_heavy or args.quick)):
            for n in ref["grids"]:
                try:
                    res = run_reference(ref, n, Path(args.work) / "reference_curves")
                except Exception as exc:  # a missing optional package must not lose the rest
                    log.warning("reference %s failed: %s", ref["name"], exc)
                    res = {"name": ref["name"], "spec": ref["spec"], "n_points": n, "cutoff": None, "scans": [],
                           "seconds": 0.0, "error": str(exc)}
                log.info("reference %s (%d pts): %.0f s", ref["name"], n, res["seconds"])
                data["references"].append(res)
                cache.write_text(json.dumps(data, indent=None, default=float))
    data["total_seconds"] = round(time.perf_counter() - t_start, 1)
    cache.write_text(json.dumps(data, indent=None, default=float))
    plot(data, out)
    print(write_tables(data, out))
    print(f"total {data['total_seconds']:.0f} s (planted {data['planted_seconds']:.0f} s, {n_trials} trials)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
