"""Tests for optical_bench.ot: costs, marginals and the batched log-domain Sinkhorn solver."""

from __future__ import annotations

import doctest
import math

import numpy as np
import ot as pot
import pytest
import torch

import optical_bench.ot.costs as ot_costs
import optical_bench.ot.sinkhorn as ot_sinkhorn
from optical_bench.ot import TokenSequences, compute_idf, idf_weights, ot_alignment, pairwise_cost, sinkhorn_log, token_marginals


def _padded_problem(seed: int = 0, dtype=torch.float64, batch: int = 5, m: int = 7, n: int = 9, d: int = 6):
    """Random token sets with ragged lengths: returns x, y, masks and the real lengths."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, m, d, generator=gen, dtype=dtype)
    y = torch.randn(batch, n, d, generator=gen, dtype=dtype)
    m_len = torch.randint(1, m + 1, (batch,), generator=gen)
    n_len = torch.randint(1, n + 1, (batch,), generator=gen)
    m_len[0], n_len[0] = m, n  # one full problem
    m_len[1] = 1  # a single source token
    x_mask = (torch.arange(m)[None, :] < m_len[:, None]).long()
    y_mask = (torch.arange(n)[None, :] < n_len[:, None]).long()
    return x, y, x_mask, y_mask, m_len.tolist(), n_len.tolist()


# ---------------------------------------------------------------------------
# pairwise_cost
# ---------------------------------------------------------------------------


def test_cosine_cost_is_one_minus_cosine():
    x, y, *_ = _padded_problem()
    cost = pairwise_cost(x, y, kind="cosine")
    expected = 1 - torch.nn.functional.cosine_similarity(x[:, :, None, :], y[:, None, :, :], dim=-1)
    torch.testing.assert_close(cost, expected)


def test_sqeuclidean_cost_matches_cdist_and_normalize_flag():
    x, y, *_ = _padded_problem()
    torch.testing.assert_close(pairwise_cost(x, y, kind="sqeuclidean"), torch.cdist(x, y) ** 2)
    normalized = pairwise_cost(x, y, kind="sqeuclidean", normalize=True)
    torch.testing.assert_close(normalized, 2 * pairwise_cost(x, y, kind="cosine"))


def test_cost_of_zero_vectors_is_finite_with_finite_gradient():
    x = torch.zeros(1, 2, 3, requires_grad=True)
    y = torch.randn(1, 4, 3)
    cost = pairwise_cost(x, y)
    cost.sum().backward()
    assert torch.isfinite(cost).all() and torch.isfinite(x.grad).all()


def test_cost_rejects_unknown_kind_and_width_mismatch():
    with pytest.raises(ValueError, match="unknown kind"):
        pairwise_cost(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), kind="l1")
    with pytest.raises(ValueError, match="same vector width"):
        pairwise_cost(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))


# ---------------------------------------------------------------------------
# marginals and IDF
# ---------------------------------------------------------------------------


def test_marginals_are_uniform_over_real_tokens():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    a = token_marginals(mask)
    torch.testing.assert_close(a, torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0.0], [1.0, 0.0, 0.0, 0.0]]))


def test_marginals_drop_special_tokens_and_fall_back_when_only_specials():
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])
    special = torch.tensor([[1, 0, 0, 1, 0], [1, 1, 0, 0, 0]])
    a = token_marginals(mask, special_tokens_mask=special)
    torch.testing.assert_close(a[0], torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0]))
    # Row 1 holds only special tokens: uniform over its real tokens instead of no mass.
    torch.testing.assert_close(a[1], torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]))


def test_marginals_weighted_by_idf_sum_to_one_and_ignore_padding_weight():
    mask = torch.tensor([[1, 1, 1, 0]])
    weights = torch.tensor([[1.0, 3.0, 0.0, 100.0]])
    a = token_marginals(mask, weights=weights)
    torch.testing.assert_close(a, torch.tensor([[0.25, 0.75, 0.0, 0.0]]))
    # All weights 0 on the real tokens: uniform fallback.
    a = token_marginals(mask, weights=torch.zeros(1, 4))
    torch.testing.assert_close(a, torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0.0]]))


def test_marginals_of_a_row_without_real_tokens_are_zero():
    a = token_marginals(torch.tensor([[0, 0], [1, 0]]))
    torch.testing.assert_close(a, torch.tensor([[0.0, 0.0], [1.0, 0.0]]))


def test_compute_idf_follows_the_smoothed_formula():
    docs = [[0, 1, 1], [1, 2], [1]]
    idf = compute_idf(docs, vocab_size=4)
    n = len(docs)
    df = torch.tensor([1.0, 3.0, 1.0, 0.0])
    torch.testing.assert_close(idf, torch.log((n + 1) / (df + 1)) + 1)
    assert idf[1] == idf.min() and idf[3] == idf.max()
    with pytest.raises(ValueError, match="vocab_size"):
        compute_idf([[5]], vocab_size=4)


def test_idf_weights_gather_by_token_id_and_reject_out_of_range_ids():
    table = torch.tensor([0.5, 1.0, 2.0])
    torch.testing.assert_close(idf_weights(torch.tensor([[2, 1, 0]]), table), torch.tensor([[2.0, 1.0, 0.5]]))
    with pytest.raises(ValueError, match="outside the IDF table"):
        idf_weights(torch.tensor([[3]]), table)


def test_idf_marginals_are_the_plan_row_sums():
    ids = torch.tensor([[0, 1, 2, 3]])
    mask = torch.tensor([[1, 1, 1, 0]])
    table = compute_idf([[0, 1], [1], [1, 2]], vocab_size=4)
    a = token_marginals(mask, weights=idf_weights(ids, table), dtype=torch.float64)
    b = token_marginals(torch.ones(1, 5), dtype=torch.float64)
    plan, _ = sinkhorn_log(torch.rand(1, 4, 5, dtype=torch.float64), a, b, epsilon=0.1, n_iters=500)
    torch.testing.assert_close(plan.sum(-1), a)
    assert a[0, 1] < a[0, 0]  # the frequent token 1 weighs less than the rare token 0


# ---------------------------------------------------------------------------
# Sinkhorn against POT
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.5, 0.05])
@pytest.mark.parametrize("kind", ["cosine", "sqeuclidean"])
def test_sinkhorn_matches_pot_sinkhorn2_on_real_subblocks(epsilon, kind):
    x, y, x_mask, y_mask, m_len, n_len = _padded_problem(seed=1)
    cost = pairwise_cost(x, y, kind=kind, normalize=True)
    a = token_marginals(x_mask, dtype=torch.float64)
    b = token_marginals(y_mask, dtype=torch.float64)
    plan, value = sinkhorn_log(cost, a, b, epsilon=epsilon, n_iters=2000)
    for k, (mk, nk) in enumerate(zip(m_len, n_len)):
        block = cost[k, :mk, :nk].numpy()
        ak, bk = a[k, :mk].numpy(), b[k, :nk].numpy()
        ref_plan = pot.sinkhorn(ak, bk, block, epsilon, method="sinkhorn_log", numItermax=5000, stopThr=1e-13)
        ref_value = pot.sinkhorn2(ak, bk, block, epsilon, method="sinkhorn_log", numItermax=5000, stopThr=1e-13)
        np.testing.assert_allclose(plan[k, :mk, :nk].numpy(), ref_plan, atol=1e-9)
        assert value[k].item() == pytest.approx(float(ref_value), abs=1e-9)
        # Nothing outside the real sub-block.
        assert (plan[k, mk:, :] == 0).all() and (plan[k, :, nk:] == 0).all()


def test_sinkhorn_cost_is_within_the_entropic_bias_of_exact_emd():
    x, y, x_mask, y_mask, m_len, n_len = _padded_problem(seed=2)
    cost = pairwise_cost(x, y)
    a = token_marginals(x_mask, dtype=torch.float64)
    b = token_marginals(y_mask, dtype=torch.float64)
    epsilon = 0.005
    _, value = sinkhorn_log(cost, a, b, epsilon=epsilon, n_iters=5000)
    for k, (mk, nk) in enumerate(zip(m_len, n_len)):
        exact = float(pot.emd2(a[k, :mk].numpy(), b[k, :nk].numpy(), cost[k, :mk, :nk].numpy()))
        # <P_eps, C> >= OT_0 (P_eps is feasible) and <P_eps, C> - OT_0 <= eps * log(m n).
        assert exact - 1e-7 <= value[k].item() <= exact + epsilon * math.log(mk * nk) + 1e-7


def test_plan_satisfies_both_marginals_and_is_zero_on_padding():
    x, y, x_mask, y_mask, *_ = _padded_problem(seed=3, dtype=torch.float32)
    a, b = token_marginals(x_mask), token_marginals(y_mask)
    plan, _, info = sinkhorn_log(pairwise_cost(x, y), a, b, epsilon=0.05, n_iters=300, log=True)
    torch.testing.assert_close(plan.sum(-1), a, atol=1e-5, rtol=0)
    torch.testing.assert_close(plan.sum(-2), b, atol=1e-5, rtol=0)
    pad = ~(x_mask.bool()[:, :, None] & y_mask.bool()[:, None, :])
    assert (plan[pad] == 0).all()
    assert info["n_iters"] == 300 and info["marginal_error"].max() < 1e-5


def test_uniform_marginals_by_default_and_unbatched_input():
    cost = torch.rand(4, 3, dtype=torch.float64)
    plan, value = sinkhorn_log(cost, epsilon=0.1, n_iters=500)
    assert plan.shape == (4, 3) and value.shape == ()
    torch.testing.assert_close(plan.sum(-1), torch.full((4,), 0.25, dtype=torch.float64))
    torch.testing.assert_close(plan.sum(-2), torch.full((3,), 1 / 3, dtype=torch.float64))
    ref = pot.sinkhorn2(np.full(4, 0.25), np.full(3, 1 / 3), cost.numpy(), 0.1, method="sinkhorn_log", stopThr=1e-13)
    assert value.item() == pytest.approx(float(ref), abs=1e-9)


def test_half_precision_cost_is_solved_in_float32():
    cost = torch.rand(2, 3, 4).to(torch.bfloat16)
    plan, value = sinkhorn_log(cost, epsilon=0.01)
    assert plan.dtype == torch.float32 and value.dtype == torch.float32
    assert torch.isfinite(plan).all()


def test_costs_and_plans_stay_float32_under_autocast():
    x = torch.randn(2, 3, 8).to(torch.bfloat16)
    y = torch.randn(2, 4, 8).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        alignment = ot_alignment(x, y)
    assert alignment.cost_matrix.dtype == torch.float32 and alignment.plan.dtype == torch.float32
    torch.testing.assert_close(alignment.cost_matrix, pairwise_cost(x.float(), y.float()))


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------


def test_autodiff_gradient_passes_gradcheck_in_float64():
    gen = torch.Generator().manual_seed(4)
    cost = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    a = torch.tensor([[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]], dtype=torch.float64)  # second problem padded
    b = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.4, 0.6, 0.0, 0.0]], dtype=torch.float64)

    def transport_cost(c):
        return sinkhorn_log(c, a, b, epsilon=0.1, n_iters=30, grad="autodiff")[1]

    def plan(c):
        return sinkhorn_log(c, a, b, epsilon=0.1, n_iters=30, grad="autodiff")[0]

    assert torch.autograd.gradcheck(transport_cost, (cost,))
    assert torch.autograd.gradcheck(plan, (cost,))


def test_envelope_gradient_equals_the_plan():
    x, y, x_mask, y_mask, *_ = _padded_problem(seed=5)
    cost = pairwise_cost(x, y).detach().requires_grad_(True)
    a, b = token_marginals(x_mask, dtype=torch.float64), token_marginals(y_mask, dtype=torch.float64)
    plan, value = sinkhorn_log(cost, a, b, epsilon=0.05, n_iters=200, grad="envelope")
    assert not plan.requires_grad
    value.sum().backward()
    torch.testing.assert_close(cost.grad, plan)


def test_envelope_gradient_is_the_gradient_of_the_regularised_value():
    # d/dC [min_P <P,C> - eps H(P)] = P*: check against central finite differences of that value.
    gen = torch.Generator().manual_seed(6)
    cost = torch.rand(1, 3, 4, generator=gen, dtype=torch.float64)
    epsilon = 0.1

    def regularised_value(c):
        p, v = sinkhorn_log(c, epsilon=epsilon, n_iters=2000)
        return v + epsilon * (p * (p.log() - 1)).sum(dim=(-2, -1))

    plan, _ = sinkhorn_log(cost, epsilon=epsilon, n_iters=2000)
    step = 1e-6
    for i, j in [(0, 0), (1, 2), (2, 3)]:
        delta = torch.zeros_like(cost)
        delta[0, i, j] = step
        numeric = (regularised_value(cost + delta) - regularised_value(cost - delta)) / (2 * step)
        assert numeric.item() == pytest.approx(plan[0, i, j].item(), abs=1e-7)


def test_autodiff_gradient_matches_pot_sinkhorn2_autodiff():
    gen = torch.Generator().manual_seed(7)
    cost = torch.rand(3, 5, generator=gen, dtype=torch.float64)
    a = torch.full((3,), 1 / 3, dtype=torch.float64)
    b = torch.full((5,), 1 / 5, dtype=torch.float64)
    ours = cost.clone().requires_grad_(True)
    sinkhorn_log(ours, a, b, epsilon=0.2, n_iters=300, grad="autodiff")[1].backward()
    theirs = cost.clone().requires_grad_(True)
    pot.sinkhorn2(a, b, theirs, 0.2, method="sinkhorn_log", numItermax=300, stopThr=0.0).backward()
    torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-8, rtol=1e-6)


# ---------------------------------------------------------------------------
# Robustness
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("grad", ["envelope", "autodiff"])
def test_no_nan_for_tiny_epsilon_and_huge_costs(grad, dtype):
    x, y, x_mask, y_mask, *_ = _padded_problem(seed=8, dtype=dtype)
    cost = (1e4 * torch.rand(x.shape[0], x.shape[1], y.shape[1], dtype=dtype)).requires_grad_(True)
    a, b = token_marginals(x_mask, dtype=dtype), token_marginals(y_mask, dtype=dtype)
    plan, value = sinkhorn_log(cost, a, b, epsilon=1e-3, n_iters=50, grad=grad)
    value.sum().backward()
    assert torch.isfinite(plan).all() and torch.isfinite(value).all() and torch.isfinite(cost.grad).all()
    assert (value >= 0).all() and (plan >= 0).all()
    if dtype == torch.float64:
        # C / eps ~ 1e7 leaves float32 only a finite, rough plan (its rounding is ~1 in the exponent);
        # in float64 the last update makes the column marginals exact.
        torch.testing.assert_close(plan.sum(-2), b, atol=1e-9, rtol=0)


@pytest.mark.parametrize("grad", ["envelope", "autodiff"])
def test_empty_problems_and_garbage_on_padding_give_zero_and_no_nan(grad):
    cost = torch.rand(3, 3, 4)
    cost[0, 2, :] = float("nan")  # padded row holds NaN
    cost[0, :, 3] = float("inf")  # padded column holds inf
    cost.requires_grad_(True)
    a = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # problem 1: no source mass
    b = torch.tensor([[0.2, 0.3, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # problem 2: none either
    plan, value = sinkhorn_log(cost, a, b, epsilon=0.05, n_iters=30, grad=grad)
    value.sum().backward()
    assert torch.isfinite(plan).all() and torch.isfinite(value).all() and torch.isfinite(cost.grad).all()
    assert (plan[1:] == 0).all() and (value[1:] == 0).all() and (cost.grad[1:] == 0).all()
    assert (plan[0, 2, :] == 0).all() and (plan[0, :, 3] == 0).all()
    assert value[0] > 0


def test_tolerance_stops_early_and_reports_iterations():
    x, y, x_mask, y_mask, *_ = _padded_problem(seed=9)
    cost = pairwise_cost(x, y)
    a, b = token_marginals(x_mask, dtype=torch.float64), token_marginals(y_mask, dtype=torch.float64)
    _, value_tol, info_tol = sinkhorn_log(cost, a, b, epsilon=0.1, n_iters=5000, tol=1e-6, check_every=5, log=True)
    _, value_full, info_full = sinkhorn_log(cost, a, b, epsilon=0.1, n_iters=5000, log=True)
    assert info_tol["n_iters"] < 5000 and info_tol["n_iters"] % 5 == 0
    assert info_full["n_iters"] == 5000
    assert info_tol["marginal_error"].max() < 1e-6
    torch.testing.assert_close(value_tol, value_full, atol=1e-5, rtol=0)


def test_special_tokens_dropped_from_the_plan():
    x, y, x_mask, y_mask, *_ = _padded_problem(seed=10, dtype=torch.float32)
    x_special = torch.zeros_like(x_mask)
    x_special[:, 0] = 1  # [CLS]
    y_special = torch.zeros_like(y_mask)
    y_special[:, 0] = 1
    alignment = ot_alignment(TokenSequences(x, x_mask, x_special), TokenSequences(y, y_mask, y_special), n_iters=200)
    multi = x_mask.sum(-1) > 1  # rows with only [CLS] fall back to keeping it
    assert (alignment.plan[multi, 0, :] == 0).all()
    assert (alignment.plan[y_mask.sum(-1) > 1][:, :, 0] == 0).all()
    torch.testing.assert_close(alignment.plan.sum(dim=(-2, -1)), torch.ones(x.shape[0]), atol=1e-5, rtol=0)


def test_ot_alignment_is_the_chain_of_cost_marginals_and_sinkhorn():
    x, y, x_mask, y_mask, *_ = _padded_problem(seed=11)
    alignment = ot_alignment(TokenSequences(x, x_mask), TokenSequences(y, y_mask), epsilon=0.1, n_iters=100)
    cost = pairwise_cost(x, y)
    a, b = token_marginals(x_mask, dtype=torch.float64), token_marginals(y_mask, dtype=torch.float64)
    plan, value = sinkhorn_log(cost, a, b, epsilon=0.1, n_iters=100)
    torch.testing.assert_close(alignment.plan, plan)
    torch.testing.assert_close(alignment.cost, value)
    torch.testing.assert_close(alignment.cost_matrix, cost)
    single = ot_alignment(x[0], y[0], epsilon=0.1, n_iters=100)
    assert single.plan.shape == (x.shape[1], y.shape[1]) and single.cost.shape == ()


def test_invalid_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="grad mode"):
        sinkhorn_log(torch.rand(1, 2, 2), grad="implicit")
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_log(torch.rand(1, 2, 2), epsilon=0.0)
    with pytest.raises(ValueError, match="do not fit"):
        sinkhorn_log(torch.rand(1, 2, 2), a=torch.ones(1, 3) / 3)
    with pytest.raises(ValueError, match="attention_mask"):
        ot_alignment(TokenSequences(torch.rand(2, 3, 4), torch.ones(2, 4)), TokenSequences(torch.rand(2, 5, 4), torch.ones(2, 5)))


@pytest.mark.parametrize("module", [ot_costs, ot_sinkhorn], ids=lambda module: module.__name__)
def test_module_doctests_pass(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
