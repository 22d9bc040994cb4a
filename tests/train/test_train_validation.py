"""Training refuses unusable data before its first epoch (issue #22), naming the split, frame and element."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from bsct.data.validate import NonFiniteInput, UnsupportedElement
from bsct.model.config import named_config
from bsct.train.loop import TrainConfig, train


def _labelled(atoms):
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((len(atoms), 3)))
    return atoms


def test_validation_elements_the_model_will_not_know_are_refused_before_training():
    cu = [_labelled(bulk("Cu", cubic=True)) for _ in range(2)]
    with pytest.raises(UnsupportedElement, match=r"^validation data, frame 0: the model being trained .* does not "
                                                 r"support H \(atoms 1, 2\); O \(atom 0\); it supports Cu$"):
        train(named_config("baseline"), cu, [_labelled(molecule("H2O"))], TrainConfig(epochs=1, progress=False))


def test_nan_positions_in_the_training_data_are_refused():
    bad = bulk("Cu", cubic=True)
    bad.positions[0, 0] = np.nan
    with pytest.raises(NonFiniteInput, match="^training data, frame 1: positions are not finite"):
        train(named_config("baseline"), [_labelled(bulk("Cu", cubic=True)), _labelled(bad)],
              train_config=TrainConfig(epochs=1, progress=False))
