r"""Batched log-domain Sinkhorn solver and token alignment for :mod:`optical_bench.ot`.

:func:`sinkhorn_log` solves a padded batch of entropic OT problems; :func:`ot_alignment`
chains it with the cost and the marginals of :mod:`optical_bench.ot.costs`. See the package
docstring for the conventions.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

from optical_bench.ot.costs import CostKind, pairwise_cost, token_marginals

__all__ = ["GradMode", "OTAlignment", "ot_alignment", "sinkhorn_log"]

GradMode = Literal["envelope", "autodiff"]

_GRAD_MODES = ("envelope", "autodiff")


# ---------------------------------------------------------------------------
# Sinkhorn
# ---------------------------------------------------------------------------


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _safe_log(p: Tensor) -> Tensor:
    """log(p) with exactly -inf where p == 0 and no NaN gradient there."""
    positive = p > 0
    return torch.where(positive, torch.where(positive, p, torch.ones_like(p)).log(), float("-inf"))


def sinkhorn_log(
    cost: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    epsilon: float = 0.05,
    n_iters: int = 50,
    tol: float | None = None,
    grad: GradMode = "envelope",
    check_every: int = 5,
    log: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, dict]:
    r"""Entropic optimal transport for a batch of masked problems, in the log domain.

    Solves, for each problem :math:`k` of the batch,

    .. math::
        \mathbf{P}^\star = \mathop{\arg\min}_{\mathbf{P} \ge 0} \quad
            \langle \mathbf{P}, \mathbf{C} \rangle_F - \varepsilon H(\mathbf{P})
        \quad \text{s.t.} \quad \mathbf{P}\mathbf{1} = \mathbf{a},\;
            \mathbf{P}^\top\mathbf{1} = \mathbf{b},
        \qquad H(\mathbf{P}) = -\sum_{ij} P_{ij}(\log P_{ij} - 1)

    and returns the plan and its transport cost :math:`\langle \mathbf{P}^\star, \mathbf{C}\rangle_F`
    (the entropy term is not included). The minimiser is
    :math:`P_{ij} = \exp\big((f_i + g_j - C_{ij})/\varepsilon\big)`, with dual potentials
    found by alternating exact maximisation of the dual (Sinkhorn's iterations, written
    stably with log-sum-exp):

    .. math::
        f_i \leftarrow \varepsilon \log a_i
            - \varepsilon \log\sum_j \exp\big((g_j - C_{ij})/\varepsilon\big)

        g_j \leftarrow \varepsilon \log b_j
            - \varepsilon \log\sum_i \exp\big((f_i - C_{ij})/\varepsilon\big)

    starting from :math:`g = 0`. After each pair of updates the column marginals
    are exact; the row-marginal error :math:`\|\mathbf{P}\mathbf{1} - \mathbf{a}\|_1`
    measures convergence.

    **Masking.** Positions with zero mass (:math:`a_i = 0` or :math:`b_j = 0`, i.e. padding
    or dropped tokens) get :math:`\log 0 = -\infty` potentials, so they drop out of
    every log-sum-exp and their plan rows/columns are exactly 0; their costs are never
    used (NaN or inf there is harmless). A problem whose ``a`` or ``b`` has no mass at
    all is *empty*: its plan is 0 and its cost 0. No NaN is produced in the forward or
    the backward pass, including for tiny :math:`\varepsilon` (1e-3) and huge costs
    (1e4). Precision is another matter: entries of the plan carry a relative error of
    about :math:`\max|C|/\varepsilon \cdot 6\cdot10^{-8}` in float32 (harmless for
    cosine costs, at most 2, and :math:`\varepsilon \ge 10^{-3}`); pass a float64 cost
    when :math:`\max|C|/\varepsilon` exceeds about :math:`10^5`.

    **Gradient** (with respect to ``cost``; ``a`` and ``b`` are treated as constants):

    - ``"envelope"`` (default): the iterations run under :func:`torch.no_grad` and the
      plan is returned detached, so the gradient of the returned cost is
      :math:`\partial/\partial\mathbf{C} = \mathbf{P}^\star`. By the envelope theorem this is
      the exact gradient of the *regularised* optimum
      :math:`\mathrm{OT}_\varepsilon(\mathbf{C}) = \min_\mathbf{P}\langle\mathbf{P},\mathbf{C}\rangle - \varepsilon H(\mathbf{P})`
      (at convergence), for the memory and time of one forward pass.
    - ``"autodiff"``: back-propagates through all the iterations; the gradient is that of
      :math:`\langle \mathbf{P}^\star(\mathbf{C}), \mathbf{C}\rangle` as computed (it includes
      how the plan moves with :math:`\mathbf{C}`). Memory grows with ``n_iters``.

    The two differ (by tens of percent on token problems): they are gradients of
    different quantities. Choose one on purpose and record it.

    Args:
        cost: ``(B, m, n)`` cost matrices (or one ``(m, n)`` matrix).
        a: ``(B, m)`` source marginals, non-negative, each row summing to the same total as
            the matching row of ``b`` (normally 1, see :func:`token_marginals`).
            ``None``: uniform over all ``m`` positions.
        b: ``(B, n)`` target marginals; ``None``: uniform over all ``n`` positions.
        epsilon: Entropic regularisation :math:`\varepsilon > 0`, in the units of the cost.
            Smaller is closer to exact OT but needs more iterations.
        n_iters: Number of iterations (each one an ``f`` and a ``g`` update), or the
            maximum number when ``tol`` is set.
        tol: If set, stop as soon as every problem's row-marginal error
            :math:`\|\mathbf{P}\mathbf{1}-\mathbf{a}\|_1` is below ``tol``; checked every
            ``check_every`` iterations (each check costs a host synchronisation).
        grad: ``"envelope"`` or ``"autodiff"``, see above.
        check_every: Iterations between two convergence checks when ``tol`` is set.
        log: Also return a dict with ``n_iters`` (iterations run), ``marginal_error``
            (``(B,)`` row-marginal L1 error of the returned plan) and the potentials
            ``f`` ``(B, m)`` and ``g`` ``(B, n)`` (in cost units, ``-inf`` where masked).

    Returns:
        ``(plan, transport_cost)``: plan ``(B, m, n)`` and :math:`\langle\mathbf{P},\mathbf{C}\rangle_F`
        of shape ``(B,)`` (no batch dimension if ``cost`` had none), in float32 (float64
        for float64 input). With ``log=True``, a third element, the dict above.

    References:
        - M. Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport.
          NeurIPS 2013. https://arxiv.org/abs/1306.0895
        - G. Peyré and M. Cuturi. Computational Optimal Transport, Foundations and Trends
          in Machine Learning 11(5-6), 2019, section 4.4 (log-domain Sinkhorn).
          https://arxiv.org/abs/1803.00567

    Example:
        >>> C = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
        >>> plan, transport_cost = sinkhorn_log(C, epsilon=0.01, n_iters=20)
        >>> plan.round(decimals=4)
        tensor([[[0.5000, 0.0000],
                 [0.0000, 0.5000]]])
        >>> transport_cost.round(decimals=4)
        tensor([0.])

        Padding is zero mass; its plan entries are exactly 0:

        >>> a = torch.tensor([[0.5, 0.5, 0.0]])
        >>> b = torch.tensor([[1.0]])
        >>> sinkhorn_log(torch.ones(1, 3, 1), a, b)[0].squeeze(-1)
        tensor([[0.5000, 0.5000, 0.0000]])
    """
    _check_options(grad, epsilon, n_iters, check_every)
    unbatched = cost.dim() == 2
    cost, a, b = _batched_problem(cost, a, b)
    cost, a, log_a, log_b, col_live, live = _mask_problems(cost, a, b)
    plan, u, v, done = _solve(cost, a, log_a, log_b, col_live, epsilon, grad, n_iters, tol, check_every)

    if not bool(live.all()):
        plan = plan * live[:, None, None].to(cost.dtype)
    transport_cost = (plan * cost).sum(dim=(-2, -1))

    info = _log_info(plan, a, live, u, v, epsilon, done) if log else None
    if unbatched:
        plan = plan.squeeze(0)
        transport_cost = transport_cost.squeeze(0)
        if info is not None:
            info = {k: (t.squeeze(0) if isinstance(t, Tensor) else t) for k, t in info.items()}
    if log:
        return plan, transport_cost, info
    return plan, transport_cost


def _check_options(grad: str, epsilon: float, n_iters: int, check_every: int) -> None:
    if grad not in _GRAD_MODES:
        raise ValueError(f"sinkhorn_log: unknown grad mode {grad!r}; choose one of {_GRAD_MODES}.")
    if not epsilon > 0:
        raise ValueError(f"sinkhorn_log: epsilon must be > 0, got {epsilon!r}.")
    if n_iters < 1:
        raise ValueError(f"sinkhorn_log: n_iters must be >= 1, got {n_iters!r}.")
    if check_every < 1:
        raise ValueError(f"sinkhorn_log: check_every must be >= 1, got {check_every!r}.")


def _batched_problem(cost: Tensor, a: Tensor | None, b: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``cost`` as ``(B, m, n)`` in the compute dtype, with detached ``(B, m)``, ``(B, n)``
    marginals of that dtype (uniform when not given)."""
    if cost.dim() == 2:
        cost = cost.unsqueeze(0)
        a = None if a is None else a.unsqueeze(0)
        b = None if b is None else b.unsqueeze(0)
    if cost.dim() != 3:
        raise ValueError(f"sinkhorn_log: cost must be (B, m, n) or (m, n), got shape {tuple(cost.shape)}.")
    batch, m, n = cost.shape
    dtype = _compute_dtype(cost.dtype)
    cost = cost.to(dtype)
    a = cost.new_full((batch, m), 1.0 / m) if a is None else a.to(device=cost.device, dtype=dtype)
    b = cost.new_full((batch, n), 1.0 / n) if b is None else b.to(device=cost.device, dtype=dtype)
    if a.shape != (batch, m) or b.shape != (batch, n):
        raise ValueError(
            f"sinkhorn_log: marginals of shape {tuple(a.shape)} and {tuple(b.shape)} do not fit "
            f"a cost of shape {(batch, m, n)}; expected {(batch, m)} and {(batch, n)}."
        )
    return cost, a.detach(), b.detach()


def _mask_problems(cost: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Masking: returns ``(cost, a, log_a, log_b, col_live, live)``, the cost zeroed at masked
    pairs, ``a`` with the stand-in marginals of empty problems, and ``live`` ``(B,)``, False
    for an empty problem."""
    _, m, n = cost.shape
    # Empty problems get stand-in uniform marginals so that every log-sum-exp has at least
    # one finite term; their plan and cost are zeroed at the end.
    row_live = a > 0
    col_live = b > 0
    live = row_live.any(-1) & col_live.any(-1)  # (B,)
    if not bool(live.all()):
        a = torch.where(live[:, None], a, 1.0 / m)
        b = torch.where(live[:, None], b, 1.0 / n)
        row_live = a > 0
        col_live = b > 0
    pair_live = row_live[:, :, None] & col_live[:, None, :]
    log_a = _safe_log(a)
    log_b = _safe_log(b)
    # Costs at masked pairs are never used; make them finite so no NaN can leak in.
    cost = cost.masked_fill(~pair_live, 0.0)
    return cost, a, log_a, log_b, col_live, live


def _solve(
    cost: Tensor,
    a: Tensor,
    log_a: Tensor,
    log_b: Tensor,
    col_live: Tensor,
    epsilon: float,
    grad: GradMode,
    n_iters: int,
    tol: float | None,
    check_every: int,
) -> tuple[Tensor, Tensor, Tensor, int]:
    """The plan and the scaled potentials ``(plan, u, v, iterations run)``, with the gradient
    path of ``grad``: ``"envelope"`` iterates without autograd (plan detached),
    ``"autodiff"`` records every iteration."""
    if grad == "envelope":
        with torch.no_grad():
            kernel = _neg_cost_scaled(cost.detach(), epsilon)
            u, v, done = _iterate(kernel, a, log_a, log_b, col_live, n_iters, tol, check_every)
            plan = torch.exp(kernel + u[:, :, None] + v[:, None, :])
    else:
        kernel = _neg_cost_scaled(cost, epsilon)
        u, v, done = _iterate(kernel, a, log_a, log_b, col_live, n_iters, tol, check_every)
        plan = torch.exp(kernel + u[:, :, None] + v[:, None, :])
    return plan, u, v, done


def _neg_cost_scaled(c: Tensor, epsilon: float) -> Tensor:
    return -c / epsilon


def _iterate(
    kernel: Tensor, a: Tensor, log_a: Tensor, log_b: Tensor, col_live: Tensor, n_iters: int, tol: float | None, check_every: int
) -> tuple[Tensor, Tensor, int]:
    """Sinkhorn's iterations from ``g = 0`` until ``n_iters`` or convergence within ``tol``."""
    # Scaled potentials u = f/eps, v = g/eps; P = exp(kernel + u_i + v_j).
    u = torch.zeros_like(log_a)
    v = torch.where(col_live, 0.0, float("-inf")).to(log_a.dtype)
    done = 0
    for it in range(n_iters):
        row_lse = torch.logsumexp(kernel + v[:, None, :], dim=-1)  # (B, m)
        if tol is not None and it > 0 and it % check_every == 0:
            err = (torch.exp(u + row_lse) - a).abs().sum(-1)
            if float(err.max()) < tol:
                break
        u = log_a - row_lse
        v = log_b - torch.logsumexp(kernel + u[:, :, None], dim=-2)
        done = it + 1
    return u, v, done


def _log_info(plan: Tensor, a: Tensor, live: Tensor, u: Tensor, v: Tensor, epsilon: float, done: int) -> dict:
    """The ``log=True`` dict of :func:`sinkhorn_log` (batched)."""
    with torch.no_grad():
        err = (plan.sum(-1) - a * live[:, None].to(plan.dtype)).abs().sum(-1)
    return {"n_iters": done, "marginal_error": err, "f": (epsilon * u).detach(), "g": (epsilon * v).detach()}


# ---------------------------------------------------------------------------
# Token alignment
# ---------------------------------------------------------------------------


class OTAlignment(NamedTuple):
    """The result of :func:`ot_alignment`; index ``[k]`` into each field for problem ``k``."""

    plan: Tensor
    """``(B, m, n)`` transport plan (rows: student tokens, columns: teacher tokens)."""
    cost: Tensor
    """``(B,)`` transport cost :math:`\\langle P, C\\rangle_F` per problem."""
    cost_matrix: Tensor
    """``(B, m, n)`` ground cost the plan was computed on."""
    source_marginal: Tensor
    """``(B, m)`` mass of each student token (0 on padding and dropped tokens)."""
    target_marginal: Tensor
    """``(B, n)`` mass of each teacher token."""


class TokenSequences(NamedTuple):
    """One side of an alignment: ``(B, m, d)`` (or ``(m, d)``) token embeddings, their ``(B, m)``
    attention mask (``None``: every position is real), the positions to give zero mass (special
    tokens, see :func:`token_marginals`) and per-token weights (e.g. IDF)."""

    tokens: Tensor
    mask: Tensor | None = None
    special_tokens_mask: Tensor | None = None
    weights: Tensor | None = None


def ot_alignment(
    student: Tensor | TokenSequences,
    teacher: Tensor | TokenSequences,
    *,
    cost: CostKind = "cosine",
    normalize: bool = True,
    epsilon: float = 0.05,
    n_iters: int = 50,
    tol: float | None = None,
    grad: GradMode = "envelope",
) -> OTAlignment:
    r"""Align a batch of student token sequences with teacher token sequences by entropic OT.

    Chains :func:`pairwise_cost`, :func:`token_marginals` and :func:`sinkhorn_log`: this
    is exactly the computation of :class:`~optical_bench.losses.OptimalTransportLoss`'s OT
    term, so a heatmap of ``plan[k]`` shows what the loss optimises.

    Args:
        student, teacher: :class:`TokenSequences` of the student (``(B, m, d)`` tokens) and the
            teacher (``(B, n, d)``), or bare token tensors (every position real, uniform mass).
        cost: Ground cost kind, see :func:`pairwise_cost`.
        normalize: For ``cost="sqeuclidean"``: L2-normalise the embeddings first.
        epsilon, n_iters, tol, grad: See :func:`sinkhorn_log`.

    Returns:
        An :class:`OTAlignment` ``(plan, cost, cost_matrix, source_marginal, target_marginal)``.
        Gradients flow to the embeddings as ``grad`` says; wrap the call in
        :func:`torch.no_grad` (or ``.detach()`` the fields) for plotting.

    Example:
        >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> t = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
        >>> alignment = ot_alignment(s, t, epsilon=0.01)
        >>> alignment.plan.round(decimals=4)
        tensor([[0.0000, 0.5000],
                [0.5000, 0.0000]])
        >>> round(float(alignment.cost), 4)
        0.0
    """
    student = student if isinstance(student, TokenSequences) else TokenSequences(student)
    teacher = teacher if isinstance(teacher, TokenSequences) else TokenSequences(teacher)
    student_tokens, student_mask, student_special_tokens_mask, student_weights = student
    teacher_tokens, teacher_mask, teacher_special_tokens_mask, teacher_weights = teacher
    unbatched = student_tokens.dim() == 2
    if unbatched != (teacher_tokens.dim() == 2):
        raise ValueError(
            "ot_alignment: student_tokens and teacher_tokens must both be batched (B, len, d) or both "
            f"unbatched (len, d); got shapes {tuple(student_tokens.shape)} and {tuple(teacher_tokens.shape)}."
        )

    def batched(t: Tensor | None) -> Tensor | None:
        return None if t is None or not unbatched else t.unsqueeze(0)

    if unbatched:
        student_tokens, teacher_tokens = student_tokens.unsqueeze(0), teacher_tokens.unsqueeze(0)
        student_mask, teacher_mask = batched(student_mask), batched(teacher_mask)
        student_special_tokens_mask = batched(student_special_tokens_mask)
        teacher_special_tokens_mask = batched(teacher_special_tokens_mask)
        student_weights, teacher_weights = batched(student_weights), batched(teacher_weights)
    if student_tokens.shape[0] != teacher_tokens.shape[0]:
        raise ValueError(
            f"ot_alignment: {student_tokens.shape[0]} student sequences but {teacher_tokens.shape[0]} teacher "
            "sequences; the batch must pair them one to one."
        )
    student_mask = _token_mask("student", student_tokens, student_mask)
    teacher_mask = _token_mask("teacher", teacher_tokens, teacher_mask)

    dtype = _compute_dtype(student_tokens.dtype)
    cost_matrix = pairwise_cost(student_tokens.to(dtype), teacher_tokens.to(dtype), kind=cost, normalize=normalize)
    source = token_marginals(student_mask, student_special_tokens_mask, student_weights, dtype=dtype)
    target = token_marginals(teacher_mask, teacher_special_tokens_mask, teacher_weights, dtype=dtype)
    plan, transport_cost = sinkhorn_log(cost_matrix, source, target, epsilon=epsilon, n_iters=n_iters, tol=tol, grad=grad)
    if unbatched:
        return OTAlignment(plan[0], transport_cost[0], cost_matrix[0], source[0], target[0])
    return OTAlignment(plan, transport_cost, cost_matrix, source, target)


def _token_mask(name: str, tokens: Tensor, mask: Tensor | None) -> Tensor:
    """``mask`` (all ones when None), checked to fit the ``(B, len, d)`` ``tokens``."""
    if mask is None:
        mask = torch.ones(tokens.shape[:2], dtype=torch.long, device=tokens.device)
    if tuple(mask.shape) != tuple(tokens.shape[:2]):
        raise ValueError(
            f"ot_alignment: {name} mask of shape {tuple(mask.shape)} does not fit {name} tokens of shape "
            f"{tuple(tokens.shape)}; padded token embeddings with their attention_mask are required "
            "(unpadded/flattened batches are not supported)."
        )
    return mask
