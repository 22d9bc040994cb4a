"""Soft k-NN ranks taken in memory-bounded blocks equal the all-at-once ranks, derivatives included."""

import torch

from bsct.model.neighborhood import soft_ranks


def _edges(n_atoms=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 25, (n_atoms,), generator=gen)
    counts[3] = 0  # an atom without candidates
    center = torch.repeat_interleave(torch.arange(n_atoms), counts)
    d = (0.8 + 5.0 * torch.rand(len(center), generator=gen, dtype=torch.float64)).requires_grad_()
    w = torch.rand(len(center), generator=gen, dtype=torch.float64).requires_grad_()
    return center, d, w, n_atoms


def test_blocked_soft_ranks_match_one_block_with_first_and_second_derivatives():
    center, d, w, n_atoms = _edges()
    whole = soft_ranks(center, d, w, n_atoms, 0.2, pair_block=1 << 40)
    blocked = soft_ranks(center, d, w, n_atoms, 0.2, pair_block=300)  # many blocks, some single-atom
    # forces in the training loss need the second derivative through the checkpointed blocks
    assert_same_derivatives(blocked, whole, d, w, seed=1, tol=1e-12)


def assert_same_derivatives(got, want, d, w, seed, tol, tol_second=None):
    """Values, first derivatives (with create_graph) and second derivatives of got and want agree."""
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    v = torch.randn(len(d), dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    g_got = torch.autograd.grad((got * v).sum(), (d, w), create_graph=True)
    g_want = torch.autograd.grad((want * v).sum(), (d, w), create_graph=True)
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    h_got = torch.autograd.grad((g_got[0] ** 2).sum() + (g_got[1] ** 2).sum(), (d, w))
    h_want = torch.autograd.grad((g_want[0] ** 2).sum() + (g_want[1] ** 2).sum(), (d, w))
    for a, b in zip(h_got, h_want):
        torch.testing.assert_close(a, b, rtol=tol_second or tol, atol=tol_second or tol)


def test_soft_rank_is_the_weighted_count_of_nearer_edges():
    # one center, three edges at 1, 2, 3 Å with a tiny scale: rho = sum of weights of nearer edges
    center = torch.zeros(3, dtype=torch.long)
    d = torch.tensor([2.0, 1.0, 3.0], dtype=torch.float64)
    w = torch.tensor([0.5, 0.25, 1.0], dtype=torch.float64)
    rho = soft_ranks(center, d, w, 1, 1e-3, pair_block=1)
    torch.testing.assert_close(rho, torch.tensor([0.25, 0.0, 0.75], dtype=torch.float64))


def test_soft_ranks_equal_the_pairwise_sum_with_first_and_second_derivatives():
    # the dense per-center evaluation (written-out backward) against the definition, pair by pair
    center, d, w, n_atoms = _edges(n_atoms=6, seed=2)

    def by_definition(d, w):
        diff = (d[:, None] - d[None, :]) / 0.2
        same = (center[:, None] == center[None, :]) & ~torch.eye(len(d), dtype=torch.bool)
        return (torch.sigmoid(diff) * w[None, :] * same).sum(1)

    assert_same_derivatives(soft_ranks(center, d, w, n_atoms, 0.2), by_definition(d, w), d, w, seed=3, tol=1e-12,
                            tol_second=1e-10)


def test_pair_sigmoid_is_the_sigmoid_of_differences_also_where_exp_would_overflow():
    from bsct.model.neighborhood import _pair_sigmoid

    x = torch.tensor([[0.0, 3.0, -2.5, 30.0], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(_pair_sigmoid(x), torch.sigmoid(x[:, :, None] - x[:, None, :]), rtol=1e-14, atol=1e-15)
    wide = torch.tensor([[0.0, 200.0, -150.0]], dtype=torch.float32)  # range beyond float32 exp: sigmoid path
    s = _pair_sigmoid(wide)
    assert torch.isfinite(s).all()
    torch.testing.assert_close(s, torch.sigmoid(wide[:, :, None] - wide[:, None, :]))


def test_hard_ranks_break_ties_in_pair_order_per_center():
    from bsct.model.neighborhood import hard_ranks

    center = torch.tensor([0, 0, 0, 0, 2, 2, 2])  # atom 1 has no edges
    d = torch.tensor([2.0, 1.0, 2.0, 1.0, 3.0, 3.0, 0.5], dtype=torch.float64)
    assert hard_ranks(center, d, 3).tolist() == [2, 0, 3, 1, 1, 2, 0]
