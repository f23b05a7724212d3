r"""Batched, masked entropic optimal transport between token sets, in torch.

This module holds the numerical core of OPTICAL (Huang, Yu & Allan, WSDM 2023):
the cost between the student's and the teacher's token embeddings, the token
marginals (uniform or IDF-weighted, with padding and optionally special tokens
carrying no mass), and a log-domain Sinkhorn solver that runs a whole batch of
problems of different sizes as one padded tensor program.

Conventions used throughout:

- ``B`` problems in a batch; problem ``k`` transports a source of ``m`` tokens
  (the student's, padded) onto a target of ``n`` tokens (the teacher's, padded).
- Padding is expressed through the marginals: a position with zero mass takes
  no part in the problem. The solver never reads the cost at such positions
  (they may hold anything finite or not) and the plan is exactly 0 there.
- All solver arithmetic is done in float32 at least (float64 stays float64),
  whatever the dtype of the cost: half precision is too coarse for
  :math:`C / \varepsilon` with small :math:`\varepsilon`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "OTAlignment",
    "compute_idf",
    "idf_weights",
    "ot_alignment",
    "pairwise_cost",
    "sinkhorn_log",
    "token_marginals",
]

CostKind = Literal["cosine", "sqeuclidean"]
GradMode = Literal["envelope", "autodiff"]

_COST_KINDS = ("cosine", "sqeuclidean")
_GRAD_MODES = ("envelope", "autodiff")


# ---------------------------------------------------------------------------
# Costs
# ---------------------------------------------------------------------------


def pairwise_cost(x: Tensor, y: Tensor, kind: CostKind = "cosine", normalize: bool = False) -> Tensor:
    r"""Ground cost between every token of ``x`` and every token of ``y``.

    .. math::
        \text{cosine:}\quad C_{ij} = 1 - \frac{\langle x_i, y_j\rangle}{\|x_i\|\,\|y_j\|}
        \in [0, 2]

        \text{sqeuclidean:}\quad C_{ij} = \|x_i - y_j\|_2^2
        \quad(\text{of } x_i/\|x_i\|,\ y_j/\|y_j\| \text{ when } \texttt{normalize})

    Args:
            x: Source vectors, shape ``(B, m, d)`` (or ``(m, d)``).
            y: Target vectors, shape ``(B, n, d)`` (or ``(n, d)``).
            kind: ``"cosine"`` (the default; vectors are always L2-normalised) or
                ``"sqeuclidean"``.
            normalize: For ``"sqeuclidean"`` only: L2-normalise the vectors first, which
                makes the cost ``2 * (1 - cos)``. Ignored by ``"cosine"``.

    Returns:
        Cost tensor of shape ``(B, m, n)`` (or ``(m, n)``), dtype of the inputs (autocast is
        disabled inside: cast half-precision inputs up first, as :func:`ot_alignment` does).
        Zero vectors (e.g. zeroed padding) get a cosine cost of 1, never NaN.

    Example:
        >>> x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
        >>> pairwise_cost(x, x)
        tensor([[[0., 1.],
                 [1., 0.]]])
        >>> pairwise_cost(x, 2 * x, kind="sqeuclidean")
        tensor([[[1., 5.],
                 [5., 1.]]])
    """
    if kind not in _COST_KINDS:
        raise ValueError(f"pairwise_cost: unknown kind {kind!r}; choose one of {_COST_KINDS}.")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"pairwise_cost: x and y must have the same vector width, got {tuple(x.shape)} and {tuple(y.shape)}. "
            "A student and a teacher of different widths need a projection first."
        )
    # Autocast would run the matmul in half precision: too coarse once divided by a small epsilon.
    with torch.autocast(device_type=x.device.type, enabled=False):
        if kind == "cosine" or normalize:
            x = F.normalize(x, p=2, dim=-1)
            y = F.normalize(y, p=2, dim=-1)
        inner = x @ y.transpose(-1, -2)
        if kind == "cosine":
            return 1.0 - inner
        x_sq = (x * x).sum(-1).unsqueeze(-1)
        y_sq = (y * y).sum(-1).unsqueeze(-2)
        # The expansion can dip a hair below 0 through rounding: clamp, it is a squared norm.
        return (x_sq + y_sq - 2.0 * inner).clamp_min(0.0)


# ---------------------------------------------------------------------------
# Marginals
# ---------------------------------------------------------------------------


def token_marginals(
    attention_mask: Tensor,
    special_tokens_mask: Tensor | None = None,
    weights: Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r"""Probability vectors over the tokens of each sequence.

    .. math::
        a_i \propto \mathbb{1}[\text{mask}_i = 1]\;
        \mathbb{1}[\text{special}_i = 0]\; w_i, \qquad \textstyle\sum_i a_i = 1

    Padding (``attention_mask == 0``) always gets zero mass. With
    ``special_tokens_mask`` the flagged positions get zero mass too; with ``weights``
    (non-negative, e.g. IDF from :func:`idf_weights`) each remaining token's mass is
    proportional to its weight. A row left with no mass (only special tokens, or all
    weights 0) falls back to uniform over its real tokens. A row with no real token at
    all stays all-zero; :func:`sinkhorn_log` treats such a problem as empty (plan 0, cost 0).

    Args:
        attention_mask: ``(B, m)``, 1 (or True) on real tokens, 0 on padding.
        special_tokens_mask: Optional ``(B, m)``, 1 on positions to drop ([CLS], [SEP], ...).
        weights: Optional ``(B, m)`` non-negative per-token weights. Negative values are
            clamped to 0.
        dtype: Floating dtype of the result; defaults to ``weights.dtype`` when given and
            floating, else ``torch.float32``.

    Returns:
        ``(B, m)`` tensor whose rows sum to 1 (rows without real tokens: 0).

    Example:
        >>> mask = torch.tensor([[1, 1, 1, 1, 0]])
        >>> token_marginals(mask)
        tensor([[0.2500, 0.2500, 0.2500, 0.2500, 0.0000]])
        >>> token_marginals(mask, special_tokens_mask=torch.tensor([[1, 0, 0, 1, 0]]))
        tensor([[0.0000, 0.5000, 0.5000, 0.0000, 0.0000]])
    """
    if dtype is None:
        dtype = weights.dtype if weights is not None and weights.is_floating_point() else torch.float32
    real = (attention_mask > 0).to(dtype)
    mass = real
    if special_tokens_mask is not None:
        if special_tokens_mask.shape != attention_mask.shape:
            raise ValueError(
                f"token_marginals: special_tokens_mask has shape {tuple(special_tokens_mask.shape)}, "
                f"attention_mask {tuple(attention_mask.shape)}; they must match."
            )
        mass = mass * (special_tokens_mask <= 0).to(dtype)
    if weights is not None:
        if weights.shape != attention_mask.shape:
            raise ValueError(
                f"token_marginals: weights has shape {tuple(weights.shape)}, "
                f"attention_mask {tuple(attention_mask.shape)}; they must match."
            )
        mass = mass * weights.to(dtype).clamp_min(0.0)
    total = mass.sum(-1, keepdim=True)
    mass = torch.where(total > 0, mass, real)
    total = mass.sum(-1, keepdim=True)
    return mass / total.clamp_min(torch.finfo(dtype).tiny)


def compute_idf(token_id_lists: Iterable[Sequence[int]], vocab_size: int) -> Tensor:
    r"""Smoothed inverse document frequency of every token id over a corpus.

    .. math::
        \mathrm{idf}(t) = \log\frac{N + 1}{\mathrm{df}(t) + 1} + 1

    where :math:`N` is the number of documents (token-id lists) and
    :math:`\mathrm{df}(t)` the number of them that contain ``t`` (scikit-learn's
    ``smooth_idf`` formula). Ids never seen get the largest value, :math:`\log(N+1)+1`;
    every value is at least 1, so no token is ever weighted to zero.

    Args:
        token_id_lists: One sequence of token ids per document (e.g. the ``input_ids``
            of the tokenizer over the training side of the bitext).
        vocab_size: Length of the table; every id must be in ``[0, vocab_size)``.

    Returns:
        ``(vocab_size,)`` float32 tensor, to be passed to :func:`idf_weights`.

    Example:
        >>> compute_idf([[0, 1], [1, 1]], vocab_size=3)
        tensor([1.4055, 1.0000, 2.0986])
    """
    df = torch.zeros(vocab_size, dtype=torch.float64)
    n_docs = 0
    for ids in token_id_lists:
        n_docs += 1
        unique = torch.unique(torch.as_tensor(list(ids), dtype=torch.long))
        if unique.numel() == 0:
            continue
        if int(unique.min()) < 0 or int(unique.max()) >= vocab_size:
            raise ValueError(
                f"compute_idf: document {n_docs - 1} holds token id {int(unique.max())} outside "
                f"[0, {vocab_size}); pass vocab_size=len(tokenizer)."
            )
        df[unique] += 1.0
    idf = torch.log((n_docs + 1.0) / (df + 1.0)) + 1.0
    return idf.to(torch.float32)


def idf_weights(input_ids: Tensor, idf_table: Tensor) -> Tensor:
    """Per-token IDF weights for a batch of token ids.

    Args:
        input_ids: ``(B, m)`` token ids.
        idf_table: ``(V,)`` IDF per token id, e.g. from :func:`compute_idf`.

    Returns:
        ``(B, m)`` weights (dtype of ``idf_table``), on ``input_ids``' device; pass them
        to :func:`token_marginals` as ``weights``.

    Example:
        >>> idf_weights(torch.tensor([[2, 0, 2]]), torch.tensor([1.0, 1.5, 3.0]))
        tensor([[3., 1., 3.]])
    """
    if idf_table.dim() != 1:
        raise ValueError(f"idf_weights: idf_table must be 1-D (vocab_size,), got shape {tuple(idf_table.shape)}.")
    if input_ids.numel() and int(input_ids.max()) >= idf_table.numel():
        raise ValueError(
            f"idf_weights: token id {int(input_ids.max())} is outside the IDF table of size {idf_table.numel()}; "
            "build the table with compute_idf(..., vocab_size=len(tokenizer)) for this tokenizer."
        )
    return idf_table.to(input_ids.device)[input_ids]


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
    if grad not in _GRAD_MODES:
        raise ValueError(f"sinkhorn_log: unknown grad mode {grad!r}; choose one of {_GRAD_MODES}.")
    if not epsilon > 0:
        raise ValueError(f"sinkhorn_log: epsilon must be > 0, got {epsilon!r}.")
    if n_iters < 1:
        raise ValueError(f"sinkhorn_log: n_iters must be >= 1, got {n_iters!r}.")
    if check_every < 1:
        raise ValueError(f"sinkhorn_log: check_every must be >= 1, got {check_every!r}.")

    unbatched = cost.dim() == 2
    if unbatched:
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
    a = a.detach()
    b = b.detach()

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

    def neg_cost_scaled(c: Tensor) -> Tensor:
        return -c / epsilon

    def iterate(kernel: Tensor) -> tuple[Tensor, Tensor, int]:
        # Scaled potentials u = f/eps, v = g/eps; P = exp(kernel + u_i + v_j).
        u = torch.zeros_like(log_a)
        v = torch.where(col_live, 0.0, float("-inf")).to(dtype)
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

    if grad == "envelope":
        with torch.no_grad():
            kernel = neg_cost_scaled(cost.detach())
            u, v, done = iterate(kernel)
            plan = torch.exp(kernel + u[:, :, None] + v[:, None, :])
    else:
        kernel = neg_cost_scaled(cost)
        u, v, done = iterate(kernel)
        plan = torch.exp(kernel + u[:, :, None] + v[:, None, :])

    if not bool(live.all()):
        plan = plan * live[:, None, None].to(dtype)
    transport_cost = (plan * cost).sum(dim=(-2, -1))

    info = None
    if log:
        with torch.no_grad():
            err = (plan.sum(-1) - a * live[:, None].to(dtype)).abs().sum(-1)
        info = {
            "n_iters": done,
            "marginal_error": err,
            "f": (epsilon * u).detach(),
            "g": (epsilon * v).detach(),
        }
    if unbatched:
        plan = plan.squeeze(0)
        transport_cost = transport_cost.squeeze(0)
        if info is not None:
            info = {k: (t.squeeze(0) if isinstance(t, Tensor) else t) for k, t in info.items()}
    if log:
        return plan, transport_cost, info
    return plan, transport_cost


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


def ot_alignment(
    student_tokens: Tensor,
    teacher_tokens: Tensor,
    student_mask: Tensor | None = None,
    teacher_mask: Tensor | None = None,
    *,
    cost: CostKind = "cosine",
    normalize: bool = True,
    epsilon: float = 0.05,
    n_iters: int = 50,
    tol: float | None = None,
    grad: GradMode = "envelope",
    student_special_tokens_mask: Tensor | None = None,
    teacher_special_tokens_mask: Tensor | None = None,
    student_weights: Tensor | None = None,
    teacher_weights: Tensor | None = None,
) -> OTAlignment:
    r"""Align a batch of student token sequences with teacher token sequences by entropic OT.

    Chains :func:`pairwise_cost`, :func:`token_marginals` and :func:`sinkhorn_log`: this
    is exactly the computation of :class:`~optical_bench.losses.OptimalTransportLoss`'s OT
    term, so a heatmap of ``plan[k]`` shows what the loss optimises.

    Args:
        student_tokens: ``(B, m, d)`` (or ``(m, d)``) token embeddings of the student.
        teacher_tokens: ``(B, n, d)`` (or ``(n, d)``) token embeddings of the teacher.
        student_mask: ``(B, m)`` attention mask; ``None``: every position is real.
        teacher_mask: ``(B, n)`` attention mask; ``None``: every position is real.
        cost: Ground cost kind, see :func:`pairwise_cost`.
        normalize: For ``cost="sqeuclidean"``: L2-normalise the embeddings first.
        epsilon, n_iters, tol, grad: See :func:`sinkhorn_log`.
        student_special_tokens_mask, teacher_special_tokens_mask: Positions to give zero
            mass, see :func:`token_marginals`.
        student_weights, teacher_weights: Per-token weights (e.g. IDF), see
            :func:`token_marginals`.

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
    if student_mask is None:
        student_mask = torch.ones(student_tokens.shape[:2], dtype=torch.long, device=student_tokens.device)
    if teacher_mask is None:
        teacher_mask = torch.ones(teacher_tokens.shape[:2], dtype=torch.long, device=teacher_tokens.device)
    for name, tokens, mask in (
        ("student", student_tokens, student_mask),
        ("teacher", teacher_tokens, teacher_mask),
    ):
        if tuple(mask.shape) != tuple(tokens.shape[:2]):
            raise ValueError(
                f"ot_alignment: {name} mask of shape {tuple(mask.shape)} does not fit {name} tokens of shape "
                f"{tuple(tokens.shape)}; padded token embeddings with their attention_mask are required "
                "(unpadded/flattened batches are not supported)."
            )

    dtype = _compute_dtype(student_tokens.dtype)
    cost_matrix = pairwise_cost(student_tokens.to(dtype), teacher_tokens.to(dtype), kind=cost, normalize=normalize)
    source = token_marginals(student_mask, student_special_tokens_mask, student_weights, dtype=dtype)
    target = token_marginals(teacher_mask, teacher_special_tokens_mask, teacher_weights, dtype=dtype)
    plan, transport_cost = sinkhorn_log(cost_matrix, source, target, epsilon=epsilon, n_iters=n_iters, tol=tol, grad=grad)
    if unbatched:
        return OTAlignment(plan[0], transport_cost[0], cost_matrix[0], source[0], target[0])
    return OTAlignment(plan, transport_cost, cost_matrix, source, target)

