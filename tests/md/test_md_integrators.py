"""Batched integrators: purity, energy conservation, the O(Δt²) error law, batch independence."""

from __future__ import annotations

import numpy as np
import torch

from bsct.md.integrators import (
    init_state,
    kinetic_energy_ev,
    langevin_baoab_step,
    temperature_k,
    velocities_from_atoms,
    velocity_verlet_step,
)
from bsct.md.run import initial_structure
from bsct.potentials.pair import Morse
from bsct.potentials.protocol import AtomsBatch


def _state(structures, potential):
    batch = AtomsBatch.from_atoms(structures)
    masses = torch.as_tensor(np.concatenate([a.get_masses() for a in structures]))
    vel = torch.as_tensor(velocities_from_atoms(structures))
    return init_state(batch, vel, masses, potential)


def _nve_energies(state, potential, timestep_fs, n_steps):
    energies = [(state.energy_ev + kinetic_energy_ev(state)).numpy()]
    for _ in range(n_steps):
        state = velocity_verlet_step(state, potential, timestep_fs)
        energies.append((state.energy_ev + kinetic_energy_ev(state)).numpy())
    return np.array(energies)  # (n_steps + 1, n_systems)


def test_steps_do_not_modify_their_input(cu4):
    potential = Morse()
    state = _state([initial_structure(cu4, 300.0, seed=1)], potential)
    pos, vel, forces = (t.clone() for t in (state.batch.positions_angstrom, state.velocities_angstrom_per_fs,
                                            state.forces_ev_per_angstrom))
    new = velocity_verlet_step(state, potential, 1.0)
    new = langevin_baoab_step(new, potential, 1.0, 300.0, 0.01, torch.randn(4, 3))
    assert torch.equal(state.batch.positions_angstrom, pos)
    assert torch.equal(state.velocities_angstrom_per_fs, vel)
    assert torch.equal(state.forces_ev_per_angstrom, forces)
    assert state.time_fs == 0.0 and new.time_fs == 2.0
    assert not torch.equal(new.batch.positions_angstrom, pos)


def test_temperature_matches_ase(cu4):
    atoms = initial_structure(cu4, 500.0, seed=3)
    state = _state([atoms], Morse())
    assert abs(float(temperature_k(state)[0]) - atoms.get_temperature()) < 1e-8
    assert abs(float(kinetic_energy_ev(state)[0]) - atoms.get_kinetic_energy()) < 1e-10


def test_nve_conserves_energy_with_smooth_morse(cu4):
    potential = Morse()
    starts = [initial_structure(cu4.repeat((2, 1, 1)), 300.0, seed=s) for s in range(3)]
    energies = _nve_energies(_state(starts, potential), potential, 1.0, 300)
    drift_mev_per_atom = np.abs(energies - energies[0]).max(axis=0) / 8 * 1e3
    assert np.all(drift_mev_per_atom < 0.05), drift_mev_per_atom


def test_energy_error_falls_fourfold_when_timestep_halves(cu4):
    """Velocity Verlet's energy fluctuation is O(Δt²): same 200 fs with Δt = 4 fs and 2 fs."""
    potential = Morse()
    start = [initial_structure(cu4.repeat((2, 1, 1)), 300.0, seed=7)]
    errors = []
    for dt, n in ((4.0, 50), (2.0, 100)):
        e = _nve_energies(_state(start, potential), potential, dt, n)[:, 0]
        errors.append(np.abs(e - e[0]).max())
    ratio = errors[0] / errors[1]
    assert 3.0 < ratio < 5.0, (errors, ratio)


def test_batch_equals_each_replica_alone(cu4):
    potential = Morse()
    starts = [initial_structure(cu4, 300.0, seed=s) for s in range(3)]
    together = _state(starts, potential)
    alone = [_state([a], potential) for a in starts]
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    gens_alone = [torch.Generator().manual_seed(s) for s in range(3)]
    for _ in range(20):
        noise = torch.cat([torch.randn((4, 3), generator=g, dtype=torch.float64) for g in gens])
        together = langevin_baoab_step(together, potential, 1.0, 300.0, 0.01, noise)
        alone = [langevin_baoab_step(s, potential, 1.0, 300.0, 0.01,
                                     torch.randn((4, 3), generator=g, dtype=torch.float64))
                 for s, g in zip(alone, gens_alone)]
    stacked = torch.cat([s.batch.positions_angstrom for s in alone])
    assert torch.allclose(together.batch.positions_angstrom, stacked, atol=1e-10)
    assert torch.allclose(together.energy_ev, torch.cat([s.energy_ev for s in alone]), atol=1e-10)


def test_select_keeps_the_chosen_systems(cu4):
    potential = Morse()
    starts = [initial_structure(cu4, 300.0, seed=s) for s in range(3)]
    state = _state(starts, potential)
    sub = state.select([2, 0])
    assert sub.n_systems == 2
    assert torch.equal(sub.energy_ev, state.energy_ev[[2, 0]])
    assert torch.equal(sub.velocities_angstrom_per_fs[:4], state.velocities_angstrom_per_fs[8:12])


def test_langevin_holds_the_target_temperature(cu4):
    """BAOAB samples the canonical T: time and replica average within 10 % of the target."""
    potential = Morse()
    starts = [initial_structure(cu4, 300.0, seed=s) for s in range(8)]
    state = _state(starts, potential)
    gen = torch.Generator().manual_seed(0)
    temps = []
    for step in range(400):
        noise = torch.randn((32, 3), generator=gen, dtype=torch.float64)
        state = langevin_baoab_step(state, potential, 2.0, 600.0, 0.05, noise)
        if step >= 100:
            temps.append(temperature_k(state).mean().item())
    assert abs(np.mean(temps) / 600.0 - 1.0) < 0.1, np.mean(temps)
