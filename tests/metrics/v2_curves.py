"""Reference curves for the BSCT v2 tests: analytic Morse (float64, float32-rounded, seeded
noise), the project's switched Morse evaluated by torch autograd in float64 and float32, and ASE
dimers (LennardJones smooth/unsmoothed, EMT Cu) through their own calculators. All on the
default scan grid (ScanRange(): 240 points from 0.6 r0 to max(2.5 r0, cutoff + 1 Å))."""

import numpy as np
from ase import Atoms

from bsct.scan.geometry import ScanRange

D_EV, A_PER_ANGSTROM, R0_ANGSTROM = 0.35, 1.4, 2.5  # the project's default Morse (bsct.potentials.pair.Morse)


def default_grid(r0_angstrom=R0_ANGSTROM, cutoff_angstrom=6.0):
    return ScanRange().grid_angstrom(r0_angstrom, cutoff_angstrom)


def morse(r):
    """E (eV) and f_r = -dE/dr (eV/Å) of the analytic, uncut Morse bond, float64."""
    x = np.exp(-A_PER_ANGSTROM * (r - R0_ANGSTROM))
    return D_EV * ((1 - x) ** 2 - 1), -2 * D_EV * A_PER_ANGSTROM * x * (1 - x)


def as_float32(*arrays):
    return tuple(np.asarray(a).astype(np.float32).astype(float) for a in arrays)


def morse_float32_total(r, offset_ev=-100.0):
    """Morse plus a -100 eV 'total energy' offset, rounded to float32 (rounding σ ≈ 2.2e-6 eV)."""
    e, f = morse(r)
    return (e + offset_ev).astype(np.float32).astype(float), f.astype(np.float32).astype(float)


def planted_energy_step(r, size_ev, r_star):
    e, f = morse(r)
    return e + size_ev * (r >= r_star), f  # autograd-like: the force does not see the step


def planted_force_step(r, size_ev_per_angstrom, r_star):
    """g = s·x·e^(-x/0.5)·H(x) (bsct.potentials.pair.PlantedArtifact 'force_step'): f_r drops by s at r*."""
    e, f = morse(r)
    x = r - r_star
    on = x >= 0
    decay = np.exp(-np.clip(x, 0, None) / 0.5)
    g = size_ev_per_angstrom * x * decay * on
    dg = size_ev_per_angstrom * (1 - x / 0.5) * decay * on
    return e + g, f - dg


def torch_morse(r, dtype="float64", offset_ev=-100.0):
    """The project's switched Morse (C2 switch 4.5-6 Å) with autograd forces, computed in ``dtype``."""
    import torch

    from bsct.potentials.pair import Morse

    t = torch.tensor(r, dtype=getattr(torch, dtype), requires_grad=True)
    e = Morse().cut_pair_energy_ev(t) + offset_ev
    (grad,) = torch.autograd.grad(e.sum(), t)
    return e.detach().double().numpy(), -grad.double().numpy()


def ase_dimer(calc, r, symbol="Cu"):
    """E and f_r (the force along the bond on atom j minus on atom i, halved) of a dimer."""
    energies, forces = [], []
    for d in r:
        atoms = Atoms(symbol + "2", positions=[[0, 0, 0], [d, 0, 0]], cell=[40, 40, 40])
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        fo = atoms.get_forces()
        forces.append(0.5 * (fo[1, 0] - fo[0, 0]))
    return np.array(energies), np.array(forces)


def lj_dimer(sigma, epsilon, smooth):
    """ASE LennardJones dimer, rc = 3σ, on the default grid for r0 = 2^(1/6)σ and cutoff rc."""
    from ase.calculators.lj import LennardJones

    rc = 3.0 * sigma
    r = default_grid(2 ** (1 / 6) * sigma, rc)
    e, f = ase_dimer(LennardJones(sigma=sigma, epsilon=epsilon, rc=rc, smooth=smooth), r, "Ar")
    return r, e, f


def lj_force_at_cutoff(sigma, epsilon):
    """f_r(rc⁻) = 24ε/rc·(2(σ/rc)^12 − (σ/rc)^6) of the unsmoothed LJ: the step at rc."""
    rc = 3.0 * sigma
    return 24 * epsilon / rc * (2 * (sigma / rc) ** 12 - (sigma / rc) ** 6)


def emt_cu_dimer():
    from ase.calculators.emt import EMT

    r = default_grid(2.3, 5.0)
    return (r,) + ase_dimer(EMT(), r, "Cu")
