"""BSCT v2 tail shape: a non-monotonic force in the attractive tail, and forces past the cutoff.

**Tail bump** (kind ``tail_bump``, eV/Å). Beyond the equilibrium r_eq the scan force
f_r = −dE/dr of a physical bond first falls to its extremum (the strongest pull, at the
inflection point of E) and then rises monotonically to 0 as the bond dissociates. Any decrease
of f_r after the extremum is a bump or wiggle of the tail, whether or not f_r changes sign
(v1's sign-flip test sees only the sign). With the tail starting at index k_ext,

    dip_j = max_{k_ext ≤ i ≤ j} f_i − f_j            (≥ 0; 0 everywhere for a monotonic tail)

is how far the force has fallen back below the largest value it had already reached. Each
contiguous run of points with dip_j > T (runs closer than ``join_angstrom`` = 0.5 Å joined:
one wiggle, one artifact) is one detection, size = the run's largest dip (the bump's amplitude
in eV/Å), placed at the bottom of the dip (``detail`` names the crest).

    T = max(2 · k_σ · σ_f, force_floor)

with σ_f the larger local force noise at the crest and the bottom: a dip compares two samples,
each of which Gaussian noise moves by more than k_σ·σ_f with probability 2·Φ(−k_σ), so by the
union bound a pure-noise tail of n points exceeds T with probability at most n·2·Φ(−k_σ)
(5e-7 for n = 240, k_σ = 6).

**Scans with an environment** (``environment=True``: a crystal's or a ring's pair scan, where the
moving atoms keep their other neighbours). f_r then also holds the neighbours' restoring force,
which falls steadily, about −k_env·(r − r0), as the pair is pulled off its sites; once the
pair's own attraction has faded, f_r must turn down and keep falling to the end of the scored
range (Stillinger–Weber Si in diamond: from −1.35 eV/Å at 3.65 Å to −2.43 eV/Å at 4.46 Å, past
SW's 3.77 Å cutoff, where the pair does not interact at all). That trailing decline is a trend
of the environment, not a bump of the bond: a bump is a dip the force comes back from. So with
an environment the dip is two-sided, a local well of f_r,

    dip_j = min(max_{k_ext ≤ i ≤ j} f_i, max_{i ≥ j} f_i) − f_j,

which is 0 all along a monotonic decline and, for a bump on top of it, the part of the bump
the force recovers from. A dimer's tail (no environment: f_r must return to 0, so a fall that
has not recovered by the end of the scan is still a defect) keeps the one-sided dip.

The extremum k_ext is the first significant local minimum of f_r after r_eq: the running
minimum of f_r from r_eq on, taken where f_r first rises more than T above it (so noise
cannot end the search early and a later, deeper dip of the tail is still measured as a dip).

**Residual force** (kind ``residual_force``, eV/Å). Where the moving parts are farther apart
than the model's cutoff (``r > cutoff_angstrom``, or an explicit mask for fragment scans) they
cannot interact and f_r must be 0: one detection at the largest |f_r| there when it exceeds
max(k_σ·σ_f, force_floor).
"""

from __future__ import annotations

import numpy as np

from bsct.metrics.consistency import true_runs
from bsct.metrics.floors import Detection, FloorsV2


def tail_start_index(scan_force_ev_per_angstrom, eq_idx: int, threshold_ev_per_angstrom) -> int | None:
    """Index of the force extremum that starts the attractive tail, or None if there is no tail.

    threshold_ev_per_angstrom: scalar or (n,) T of the module docstring.
    """
    f = np.asarray(scan_force_ev_per_angstrom, float)
    thr = np.broadcast_to(np.asarray(threshold_ev_per_angstrom, float), f.shape)
    if eq_idx + 1 >= len(f):
        return None
    k_min = eq_idx + 1
    for j in range(eq_idx + 1, len(f)):
        if f[j] < f[k_min]:
            k_min = j
        elif f[j] - f[k_min] > thr[k_min]:
            return k_min
    return k_min if k_min < len(f) - 1 else None


def tail_bumps(r_angstrom, scan_force_ev_per_angstrom, eq_idx: int, noise_force_ev_per_angstrom,
               floors: FloorsV2 = FloorsV2(), join_angstrom: float = 0.5, environment: bool = False) -> list[Detection]:
    """Non-monotonic stretches of the attractive tail force (module docstring).

    join_angstrom: flagged runs closer than this are one bump (a wiggle, or the two lobes of
    the force of one narrow well, dips before and after its crest).
    environment: the moving atoms have other neighbours (pair scan of a crystal or ring): a
    dip counts only as far as f_r recovers from it (module docstring).
    """
    r = np.asarray(r_angstrom, float)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    sig = np.broadcast_to(np.asarray(noise_force_ev_per_angstrom, float), f.shape)
    thr_point = np.maximum(2.0 * floors.k_sigma * sig, floors.force_floor_ev_per_angstrom)
    k0 = tail_start_index(f, eq_idx, thr_point)
    if k0 is None:
        return []
    tail = f[k0:]
    # index (in tail) of the running maximum, the latest one on ties
    idx = np.arange(len(tail))
    crest = np.maximum.accumulate(np.where(tail >= np.maximum.accumulate(tail), idx, 0))
    dip = tail[crest] - tail
    if environment:  # a dip counts as far as the force comes back from it
        dip = np.minimum(dip, np.maximum.accumulate(tail[::-1])[::-1] - tail)
    thr = np.maximum(thr_point[k0:][crest], thr_point[k0:])
    flagged = dip > thr
    out = []
    runs: list[list[int]] = []
    for start, stop in true_runs(flagged):
        if runs and r[k0 + start] - r[k0 + runs[-1][1] - 1] < join_angstrom:
            runs[-1][1] = int(stop)
        else:
            runs.append([int(start), int(stop)])
    for start, stop in runs:
        j = start + int(np.argmax(np.where(flagged[start:stop], dip[start:stop] - thr[start:stop], -np.inf)))
        i = crest[j]
        out.append(Detection("tail_bump", float(r[k0 + j]), float(dip[j]), "eV/Å", float(thr[j]),
                             f"f_r falls from {tail[i]:+.3e} eV/Å at r = {r[k0 + i]:.3f} Å to {tail[j]:+.3e} eV/Å "
                             f"(tail starts at the force extremum, r = {r[k0]:.3f} Å)",
                             span_angstrom=(float(r[k0 + i]), float(r[k0 + j]))))
    return out


def residual_force(r_angstrom, scan_force_ev_per_angstrom, noise_force_ev_per_angstrom,
                   cutoff_angstrom: float | None = None, far_mask=None,
                   floors: FloorsV2 = FloorsV2()) -> list[Detection]:
    """Force past the cutoff: |f_r| beyond max(k_σ σ_f, floor) where ``r > cutoff_angstrom``.

    far_mask: optional (n,) bool, True where the moving parts cannot interact (fragment scans,
    where the closest inter-fragment distance, not r, is what passes the cutoff); overrides
    ``cutoff_angstrom``. Returns at most one detection.
    """
    r = np.asarray(r_angstrom, float)
    f = np.asarray(scan_force_ev_per_angstrom, float)
    if far_mask is not None:
        far = np.asarray(far_mask, bool)
    elif cutoff_angstrom is not None:
        far = r > cutoff_angstrom
    else:
        return []
    far = far & np.isfinite(f)
    if not far.any():
        return []
    sig = np.broadcast_to(np.asarray(noise_force_ev_per_angstrom, float), f.shape)
    thr = np.maximum(floors.k_sigma * sig, floors.force_floor_ev_per_angstrom)
    idx = np.flatnonzero(far)
    k = idx[int(np.argmax(np.abs(f[idx]) - thr[idx]))]
    if abs(f[k]) <= thr[k]:
        return []
    where = f"r > {cutoff_angstrom:.3f} Å" if far_mask is None else "the parts beyond the cutoff"
    return [Detection("residual_force", float(r[k]), float(abs(f[k])), "eV/Å", float(thr[k]),
                      f"f_r = {f[k]:+.3e} eV/Å where {where}")]
