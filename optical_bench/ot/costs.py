r"""Ground costs and token marginals (uniform or IDF-weighted) for :mod:`optical_bench.ot`.

See the package docstring for the conventions (batch ``B``, ``m`` source and ``n`` target
tokens, padding as zero mass).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["CostKind", "compute_idf", "idf_weights", "pairwise_cost", "token_marginals"]

CostKind = Literal["cosine", "sqeuclidean"]

_COST_KINDS = ("cosine", "sqeuclidean")


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
    attention_mask: Tensor, special_tokens_mask: Tensor | None = None, weights: Tensor | None = None, dtype: torch.dtype | None = None
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
                f"token_marginals: weights has shape {tuple(weights.shape)}, attention_mask {tuple(attention_mask.shape)}; they must match."
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
