"""The model's building blocks on their own: element embedding, energy and direct-force readouts,
neighbour attention (its self sink, temperature and edge-order independence)."""

import math

import pytest
import torch
from scipy.spatial.transform import Rotation

from bsct.model.attention import NeighborAttention
from bsct.model.embedding import ElementEmbedding
from bsct.model.readout import AtomicEnergyReadout, DirectForceReadout

pytestmark = pytest.mark.usefixtures("one_thread")


def test_embedding_gives_each_element_its_row_and_refuses_unknown_ones():
    torch.manual_seed(0)
    emb = ElementEmbedding([1, 8, 29], dim=4)
    z = torch.tensor([29, 1, 1, 8])
    assert emb.element_index(z).tolist() == [2, 0, 0, 1]
    out = emb(z)
    assert out.shape == (4, 4)
    assert torch.equal(out[1], out[2]) and torch.equal(out[0], emb.table.weight[2])
    with pytest.raises(ValueError, match=r"elements \[6, 14\] are not in the model's element list \[1, 8, 29\]"):
        emb(torch.tensor([6, 1, 14]))


def test_energy_readout_is_scaled_mlp_plus_the_element_reference():
    torch.manual_seed(0)
    readout = AtomicEnergyReadout(dim=4, n_elements=2).double()
    h = torch.randn(3, 4, dtype=torch.float64)
    idx = torch.tensor([0, 1, 1])
    plain = readout(h, idx)
    readout.reference_energy_ev.copy_(torch.tensor([-1.5, -7.0]))
    readout.energy_scale_ev.fill_(2.0)
    torch.testing.assert_close(readout(h, idx), 2.0 * plain + torch.tensor([-1.5, -7.0, -7.0], dtype=torch.float64))


def _direct_forces(readout, positions, h, rbf_of):
    center, neighbor = torch.tensor([0, 1, 0, 2]), torch.tensor([1, 0, 2, 0])
    d = positions[neighbor] - positions[center]
    dist = d.norm(dim=1)
    return readout(h, center, neighbor, rbf_of(dist), d / dist[:, None], torch.zeros(4, dtype=torch.float64), 1.5)


def test_direct_forces_rotate_with_the_edges_and_vanish_without_edges():
    torch.manual_seed(0)
    readout = DirectForceReadout(dim=4, n_rbf=3).double()
    h = torch.randn(3, 4, dtype=torch.float64)

    def rbf_of(dist):
        return torch.exp(-((dist[:, None] - torch.tensor([1.0, 1.5, 2.0], dtype=torch.float64)) ** 2))

    positions = torch.tensor([[0.0, 0.0, 0.0], [1.1, 0.2, 0.0], [-0.3, 1.4, 0.5]], dtype=torch.float64)
    rot = torch.as_tensor(Rotation.from_euler("xyz", [20, -70, 140], degrees=True).as_matrix())
    forces = _direct_forces(readout, positions, h, rbf_of)
    rotated = _direct_forces(readout, positions @ rot.T, h, rbf_of)
    torch.testing.assert_close(rotated, forces @ rot.T)
    assert forces[1:].abs().sum() > 0
    none = readout(h, torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64),
                   torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64),
                   torch.zeros(0, dtype=torch.float64), 1.5)
    assert torch.equal(none, torch.zeros(3, 3, dtype=torch.float64))


def _edges():
    center = torch.tensor([0, 0, 1, 1, 2, 2])
    neighbor = torch.tensor([1, 2, 0, 2, 0, 1])
    return center, neighbor


def _attention_inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    rbf = torch.rand(6, 4, generator=gen, dtype=torch.float64)
    rbf_self = torch.rand(4, generator=gen, dtype=torch.float64)
    units = torch.nn.functional.normalize(torch.randn(6, 3, generator=gen, dtype=torch.float64), dim=1)
    return h, rbf, rbf_self, units


def test_attention_sends_the_weight_of_faded_neighbours_to_the_atom_itself():
    torch.manual_seed(0)
    att = NeighborAttention(dim=8, n_heads=2, n_rbf=4, n_vector_channels=2).double()
    h, rbf, rbf_self, units = _attention_inputs()
    center, neighbor = _edges()
    faded = torch.full((6,), -1e4, dtype=torch.float64)
    out, vec = att(h, center, neighbor, rbf, rbf_self, units, faded)
    # no neighbour left: each atom attends to itself only, so its output is its own value row
    v_self = att.kvu(torch.cat([h, rbf_self.expand(3, -1)], dim=-1))[:, 8:16]
    torch.testing.assert_close(out, v_self)
    assert torch.equal(vec, torch.zeros(3, 2, dtype=torch.float64))
    # and the output moves smoothly as the fade is lifted: a tiny weight changes it a tiny bit
    nearly, _ = att(h, center, neighbor, rbf, rbf_self, units, torch.full((6,), -30.0, dtype=torch.float64))
    assert (nearly - out).abs().max() < 1e-10


def test_attention_does_not_depend_on_the_order_of_the_edges():
    torch.manual_seed(1)
    att = NeighborAttention(dim=8, n_heads=2, n_rbf=4, n_vector_channels=2).double()
    h, rbf, rbf_self, units = _attention_inputs(seed=1)
    center, neighbor = _edges()
    log_w = torch.tensor([0.0, -0.5, -1.0, 0.0, -2.0, -0.1], dtype=torch.float64)
    out, vec = att(h, center, neighbor, rbf, rbf_self, units, log_w)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])
    out_p, vec_p = att(h, center[perm], neighbor[perm], rbf[perm], rbf_self, units[perm], log_w[perm])
    torch.testing.assert_close(out_p, out)
    torch.testing.assert_close(vec_p, vec)


def test_attention_temperature_is_a_buffer_unless_learned_and_never_below_a_tenth():
    fixed = NeighborAttention(dim=8, n_heads=2, n_rbf=4, temperature=2.0)
    assert "log_temperature" in dict(fixed.named_buffers())
    torch.testing.assert_close(fixed.temperature, torch.tensor([2.0, 2.0]))
    learned = NeighborAttention(dim=8, n_heads=2, n_rbf=4, temperature=0.01, learn_temperature=True)
    assert "log_temperature" in dict(learned.named_parameters())
    assert learned.log_temperature[0].item() == pytest.approx(math.log(0.01))
    torch.testing.assert_close(learned.temperature, torch.tensor([0.1, 0.1]))
