"""Failure criteria of the MD stability test: thresholds, references and the per-replica monitor.

Every criterion is a small pure function on positions (numpy, Å) or on energies; the
:class:`StabilityMonitor` applies them to a set of replicas, keeps the references they are
measured against and remembers the first time each replica failed. Both MD engines (batched
torch, ASE one replica at a time) use the same monitor, so they fail runs identically.

Criteria (thresholds are fields of :class:`StabilityCriteria`; units in the names):

``non_finite``      energy or any force component is NaN/inf (or the potential raised).
``temperature``     instantaneous T > (``temperature_blowup_factor`` + s·√(2/3N)) × target T during
                    NVE, or > (``equilibration_temperature_blowup_factor`` + s·√(2/3N)) × target T
                    while the thermostat is still removing the excess energy of a rattled,
                    strained or hot start. √(2/3N) is the relative spread of the instantaneous
                    temperature of N atoms, s = ``temperature_fluctuation_sigmas``: a 4-atom
                    molecule's T swings far more than a crystal's without anything being wrong.
``energy_drift``    NVE only: |E_tot(t) - E_tot(t₀)| / N > ``max_energy_drift_mev_per_atom``,
                    t₀ the start of NVE production.
``drift_slope``     NVE only: |least-squares slope of E_tot/N over [t₀, t]| >
                    ``max_drift_slope_mev_per_atom_per_ps``, tested once t - t₀ ≥
                    ``min_slope_window_ps``.
``atom_loss``       an atom has no other atom within ``isolation_distance_angstrom``.
``bond_length``     molecules and water: a bond of the starting structure (d < ``bond_cutoff_factor``
                    × sum of covalent radii) deviates from its starting length by more than
                    ``max_bond_deviation_angstrom`` (Fu et al., "Forces are not enough", 2023).
``coordination``    crystals: more than ``max_coordination_change_fraction`` of the atoms have a
                    coordination number (neighbours within ``coordination_cutoff_angstrom``, by
                    default the end of the first shell of the starting structure, see
                    :func:`first_shell_cutoff_angstrom`) different from the start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import primitive_neighbor_list
from matscipy.neighbours import neighbour_list

REASONS = ("non_finite", "temperature", "energy_drift", "drift_slope", "atom_loss", "bond_length", "coordination")


@dataclass(frozen=True)
class StabilityCriteria:
    """Thresholds that decide when an MD run has failed (see the module docstring).

    Defaults are chosen so that the smooth references (EMT Cu, Stillinger-Weber Si, a switched
    Morse solid) stay an order of magnitude below each of them at 300 K with 1 fs steps
    (measured values in docs/md.md).
    """

    max_energy_drift_mev_per_atom: float = 2.0
    max_drift_slope_mev_per_atom_per_ps: float = 0.5
    min_slope_window_ps: float = 1.0
    temperature_blowup_factor: float = 3.0
    equilibration_temperature_blowup_factor: float = 10.0
    temperature_fluctuation_sigmas: float = 4.0
    isolation_distance_angstrom: float = 4.0
    max_bond_deviation_angstrom: float = 0.5
    bond_cutoff_factor: float = 1.2
    coordination_cutoff_angstrom: float | None = None
    max_coordination_change_fraction: float = 0.25
    structure_kind: Literal["auto", "molecule", "crystal"] = "auto"
    check_every_steps: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- pure geometric functions


def is_molecular(atoms: Atoms, structure_kind: str = "auto") -> bool:
    """Molecule-like (bond criterion) or crystal-like (coordination criterion)?

    ``auto``: molecular when the structure is not fully periodic or contains hydrogen (water
    boxes, organic molecules); crystalline otherwise.
    """
    if structure_kind == "molecule":
        return True
    if structure_kind == "crystal":
        return False
    if structure_kind != "auto":
        raise ValueError(f"structure_kind must be auto, molecule or crystal, got {structure_kind!r}")
    return (not bool(np.all(atoms.pbc))) or bool(np.any(atoms.numbers == 1))


def _pairs(positions, cell, pbc, cutoff_angstrom):
    """(i, j, S, d) of all directed pairs within the cutoff (periodic images included; matscipy)."""
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.all():
        if not pbc.any():
            # A free system: give the search a box around the atoms (matscipy bins atoms in the cell).
            lo = positions.min(axis=0) - cutoff_angstrom
            positions = positions - lo
            cell = np.diag(positions.max(axis=0) + cutoff_angstrom + 1.0)
        else:  # mixed periodicity: ASE's (slower, general) search
            return primitive_neighbor_list("ijSd", pbc, cell, positions, cutoff_angstrom, self_interaction=False)
    return neighbour_list("ijSd", positions=positions, cell=cell, pbc=pbc, cutoff=cutoff_angstrom)


def find_bonds(atoms: Atoms, bond_cutoff_factor: float = 1.2):
    """Bonds of a structure: pairs with d < factor × (r_cov,i + r_cov,j), each pair once (i < j).

    Returns (i, j, shift, d0): int arrays (n_bonds,), (n_bonds,), (n_bonds, 3) integer cell
    shifts so that the bond vector is x_j - x_i + shift @ cell, and the lengths d0 in Å.
    """
    radii = covalent_radii[atoms.numbers]
    cutoff = 2.0 * float(radii.max()) * bond_cutoff_factor
    i, j, S, d = _pairs(atoms.get_positions(), atoms.cell.array, atoms.pbc, cutoff)
    keep = (i < j) & (d < bond_cutoff_factor * (radii[i] + radii[j]))
    return i[keep], j[keep], S[keep], d[keep]


def bond_lengths_angstrom(positions_angstrom: np.ndarray, cell_angstrom: np.ndarray, i, j, shift) -> np.ndarray:
    """(n_bonds,) |x_j - x_i + shift @ cell| for unwrapped positions (n_atoms, 3)."""
    vec = positions_angstrom[j] - positions_angstrom[i] + np.asarray(shift, dtype=float) @ cell_angstrom
    return np.linalg.norm(vec, axis=1)


def nearest_neighbor_distance_angstrom(positions_angstrom, cell_angstrom, pbc, search_radius_angstrom) -> np.ndarray:
    """(n_atoms,) distance to each atom's nearest neighbour; inf when none within the search radius."""
    n = len(positions_angstrom)
    i, _, _, d = _pairs(positions_angstrom, cell_angstrom, pbc, search_radius_angstrom)
    out = np.full(n, np.inf)
    np.minimum.at(out, i, d)
    return out


def coordination_numbers(positions_angstrom, cell_angstrom, pbc, cutoff_angstrom) -> np.ndarray:
    """(n_atoms,) number of neighbours closer than the cutoff."""
    i, _, _, _ = _pairs(positions_angstrom, cell_angstrom, pbc, cutoff_angstrom)
    return np.bincount(i, minlength=len(positions_angstrom))


def first_shell_cutoff_angstrom(atoms: Atoms, smearing_fraction: float = 0.05) -> float:
    """Where the first neighbour shell ends: the first minimum of the smoothed pair-distance histogram.

    With d_nn the median nearest-neighbour distance, the distances d_ij < 1.8 d_nn are smeared
    with Gaussians of width σ = ``smearing_fraction`` × d_nn; the first peak p₁ is the maximum
    below 1.3 d_nn, the second p₂ the maximum in [1.2 p₁, 1.8 d_nn], and the cutoff is the lowest
    point between them (fcc Cu: ≈ 3.1 Å between 2.55 and 3.61 Å; diamond Si: between 2.35 and
    3.84 Å). Robust to thermal frames where d_nn itself is shortened by vibrations.
    """
    pos, cell, pbc = atoms.get_positions(), atoms.cell.array, atoms.pbc
    nn = nearest_neighbor_distance_angstrom(pos, cell, pbc, 6.0)
    finite = nn[np.isfinite(nn)]
    if len(finite) == 0:
        return 6.0
    d_nn = float(np.median(finite))
    _, _, _, d = _pairs(pos, cell, pbc, 1.8 * d_nn)
    sigma = smearing_fraction * d_nn
    r = np.arange(0.7 * d_nn, 1.8 * d_nn, 0.01)
    density = np.exp(-0.5 * ((r[:, None] - d[None, :]) / sigma) ** 2).sum(axis=1)
    first = int(np.argmax(np.where(r <= 1.3 * d_nn, density, -np.inf)))
    second_region = r >= 1.2 * r[first]
    if not second_region.any():
        return float(r[-1])
    second = int(np.argmax(np.where(second_region, density, -np.inf)))
    between = slice(first, max(second, first + 1))
    return float(r[between][np.argmin(density[between])])


def least_squares_slope(t, y) -> float:
    """Slope of the straight line fitted to y(t) (same unit as y per unit of t); NaN for < 2 points."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(t) < 2 or np.ptp(t) == 0:
        return float("nan")
    tc = t - t.mean()
    return float((tc * (y - y.mean())).sum() / (tc * tc).sum())


# ---------------------------------------------------------------- the monitor


@dataclass
class Failure:
    """Why and when a replica failed: ``time_ps`` counts from the start of the run (equilibration included)."""

    reason: str
    time_ps: float
    detail: str


class _Reference:
    """What one replica is compared against (built from its starting structure)."""

    def __init__(self, atoms: Atoms, criteria: StabilityCriteria):
        self.n_atoms = len(atoms)
        self.cell = atoms.cell.array.copy()
        self.pbc = atoms.pbc.copy()
        self.molecular = is_molecular(atoms, criteria.structure_kind)
        self.bonds = find_bonds(atoms, criteria.bond_cutoff_factor) if self.molecular else None
        if self.molecular:
            self.coord_cutoff = None
            self.coordination0 = None
        else:
            self.coord_cutoff = criteria.coordination_cutoff_angstrom or first_shell_cutoff_angstrom(atoms)
            self.coordination0 = coordination_numbers(atoms.get_positions(), self.cell, self.pbc, self.coord_cutoff)
        # NVE bookkeeping, filled when production starts.
        self.e0_ev: float | None = None
        self.t0_ps: float | None = None
        self.sums = np.zeros(5)  # n, Σt, Σy, Σt², Σty  (t in ps, y = E_tot/N in meV/atom)
        self.last_drift_mev_per_atom = float("nan")
        self.max_abs_drift_mev_per_atom = 0.0


class StabilityMonitor:
    """Applies the criteria to a fixed list of replicas and records the first failure of each.

    Replicas are addressed by their position ``k`` in ``structures``; the engines pass which
    replicas the rows of their arrays belong to, so failed replicas can leave the batch.
    """

    def __init__(self, structures: list[Atoms], criteria: StabilityCriteria, temperature_k: float):
        self.criteria = criteria
        self.temperature_k = float(temperature_k)
        self.refs = [_Reference(a, criteria) for a in structures]
        self.failures: dict[int, Failure] = {}

    # -- bookkeeping
    def record_failure(self, k: int, reason: str, time_ps: float, detail: str) -> None:
        if k not in self.failures:
            self.failures[k] = Failure(reason, float(time_ps), detail)

    def start_production(self, k: int, time_ps: float, total_energy_ev: float) -> None:
        ref = self.refs[k]
        ref.e0_ev = float(total_energy_ev)
        ref.t0_ps = float(time_ps)
        ref.last_drift_mev_per_atom = 0.0
        ref.sums = np.array([1.0, 0.0, 0.0, 0.0, 0.0])  # the point (t0, 0) itself

    def drift_summary(self, k: int) -> dict:
        """Final drift (meV/atom), max |drift| (meV/atom) and slope (meV/atom/ps) of replica k's NVE part."""
        ref = self.refs[k]
        n, st, sy, stt, sty = ref.sums
        slope = (n * sty - st * sy) / (n * stt - st * st) if n >= 2 and (n * stt - st * st) > 0 else float("nan")
        return {
            "drift_mev_per_atom": ref.last_drift_mev_per_atom,
            "max_abs_drift_mev_per_atom": ref.max_abs_drift_mev_per_atom if ref.e0_ev is not None else float("nan"),
            "drift_slope_mev_per_atom_per_ps": float(slope),
        }

    # -- per-step checks (cheap: energies, forces, temperature)
    def check_step(
        self,
        replicas: list[int],
        time_ps: float,
        potential_energy_ev: np.ndarray,
        kinetic_energy_ev: np.ndarray,
        forces_finite: np.ndarray,
        temperature_k: np.ndarray,
        production: bool,
    ) -> list[int]:
        """Check one step for the listed replicas (arrays are aligned with ``replicas``); return those that failed now."""
        c = self.criteria
        failed = []
        factor = c.temperature_blowup_factor if production else c.equilibration_temperature_blowup_factor
        for row, k in enumerate(replicas):
            spread = np.sqrt(2.0 / (3.0 * self.refs[k].n_atoms))
            t_max = (factor + c.temperature_fluctuation_sigmas * spread) * self.temperature_k
            if k in self.failures:
                failed.append(k)
                continue
            epot, ekin = float(potential_energy_ev[row]), float(kinetic_energy_ev[row])
            if not (np.isfinite(epot) and np.isfinite(ekin) and bool(forces_finite[row])):
                self.record_failure(k, "non_finite", time_ps, f"E_pot={epot}, forces finite={bool(forces_finite[row])}")
            elif temperature_k[row] > t_max:
                self.record_failure(k, "temperature", time_ps, f"T={float(temperature_k[row]):.0f} K > {t_max:.0f} K")
            elif production:
                ref = self.refs[k]
                if ref.e0_ev is None:
                    self.start_production(k, time_ps, epot + ekin)
                drift = (epot + ekin - ref.e0_ev) / ref.n_atoms * 1e3
                ref.last_drift_mev_per_atom = drift
                ref.max_abs_drift_mev_per_atom = max(ref.max_abs_drift_mev_per_atom, abs(drift))
                t = time_ps - ref.t0_ps
                ref.sums += (1.0, t, drift, t * t, t * drift)
                if abs(drift) > c.max_energy_drift_mev_per_atom:
                    self.record_failure(k, "energy_drift", time_ps,
                               f"|ΔE|={abs(drift):.3g} meV/atom > {c.max_energy_drift_mev_per_atom} meV/atom")
                elif t >= c.min_slope_window_ps:
                    slope = self.drift_summary(k)["drift_slope_mev_per_atom_per_ps"]
                    if abs(slope) > c.max_drift_slope_mev_per_atom_per_ps:
                        self.record_failure(k, "drift_slope", time_ps,
                                   f"|dE/dt|={abs(slope):.3g} meV/atom/ps > {c.max_drift_slope_mev_per_atom_per_ps}")
            if k in self.failures:
                failed.append(k)
        return failed

    # -- geometric checks (neighbour searches; every ``check_every_steps``)
    def check_geometry(self, k: int, time_ps: float, positions_angstrom: np.ndarray) -> bool:
        """Atom loss, bond lengths (molecular) or coordination (crystal) of replica k; True if it failed now."""
        if k in self.failures:
            return True
        c, ref = self.criteria, self.refs[k]
        pos = np.asarray(positions_angstrom, dtype=float)
        if not np.all(np.isfinite(pos)):
            self.record_failure(k, "non_finite", time_ps, "positions are not finite")
            return True
        if ref.n_atoms > 1:
            nn = nearest_neighbor_distance_angstrom(pos, ref.cell, ref.pbc, c.isolation_distance_angstrom)
            lost = np.flatnonzero(~np.isfinite(nn))
            if len(lost):
                self.record_failure(k, "atom_loss", time_ps,
                           f"{len(lost)} atom(s) with no neighbour within {c.isolation_distance_angstrom} Å "
                           f"(first: {int(lost[0])})")
                return True
        if ref.molecular and ref.bonds is not None and len(ref.bonds[0]):
            i, j, shift, d0 = ref.bonds
            dev = np.abs(bond_lengths_angstrom(pos, ref.cell, i, j, shift) - d0)
            worst = int(np.argmax(dev))
            if dev[worst] > c.max_bond_deviation_angstrom:
                self.record_failure(k, "bond_length", time_ps,
                           f"bond {int(i[worst])}-{int(j[worst])} deviates {dev[worst]:.2f} Å "
                           f"> {c.max_bond_deviation_angstrom} Å")
                return True
        if not ref.molecular:
            cn = coordination_numbers(pos, ref.cell, ref.pbc, ref.coord_cutoff)
            changed = float(np.mean(cn != ref.coordination0))
            if changed > c.max_coordination_change_fraction:
                self.record_failure(k, "coordination", time_ps,
                           f"{changed:.0%} of atoms changed coordination (cutoff {ref.coord_cutoff:.2f} Å) "
                           f"> {c.max_coordination_change_fraction:.0%}")
                return True
        return False
