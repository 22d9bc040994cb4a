"""The regression metrics: RMSE, MAE and the signed mean energy error, from known errors."""

import numpy as np
import pytest
import torch

from bsct.train.loss import ErrorAccumulator


def test_error_accumulator_keeps_the_sign_of_an_energy_offset_across_batches():
    n_atoms = torch.tensor([2, 4])
    e_ref = torch.tensor([-7.0, -14.0], dtype=torch.float64)
    per_atom_err = np.array([0.010, -0.030])  # eV/atom
    e_pred = e_ref + torch.as_tensor(per_atom_err) * n_atoms
    f_ref = torch.zeros(6, 3, dtype=torch.float64)
    f_pred = f_ref + 0.02
    acc = ErrorAccumulator()
    for system, atoms in ((slice(0, 1), slice(0, 2)), (slice(1, 2), slice(2, 6))):  # one system per batch
        acc.add(e_pred[system], f_pred[atoms], e_ref[system], f_ref[atoms], n_atoms[system])
    m = acc.metrics()
    assert m["energy_mean_error_mev_per_atom"] == pytest.approx(1000 * per_atom_err.mean())
    assert m["energy_rmse_mev_per_atom"] == pytest.approx(1000 * np.sqrt((per_atom_err**2).mean()))
    assert m["energy_mae_mev_per_atom"] == pytest.approx(1000 * np.abs(per_atom_err).mean())
    assert m["force_rmse_mev_per_angstrom"] == pytest.approx(20.0)
