"""A linear warm start: map the student's sentence space onto the teacher's before any distillation.

When the student starts from another encoder than the teacher (the paper's pairing: an
English teacher, all-MiniLM-L6-v2, and a multilingual student, multilingual-e5-small-q4),
the two spaces are unrelated at the start: the student's Chichewa queries land nowhere near
the teacher's English documents (dev R@1 0.005), and an OT plan between unrelated token
spaces is near-uniform. A map fitted in closed form puts the student where the teacher is
before the first step.

For sentences :math:`x_1..x_n` that both encoders read, let :math:`S \\in R^{n \\times d_s}`
hold the student's embeddings (its own route, before the map) and
:math:`T \\in R^{n \\times d_t}` the teacher's. With :math:`X = [S\\ 1]` the ridge solution,
the bias left unpenalised, is

.. math::

    [W; b] = \\arg\\min_{W, b} \\lVert S W + 1 b^\\top - T \\rVert_F^2 + \\lambda \\lVert W \\rVert_F^2
           = (X^\\top X + \\lambda I')^{-1} X^\\top T, \\qquad I' = \\mathrm{diag}(1, \\dots, 1, 0),

and the student then embeds :math:`x` as :math:`e(x) = \\frac{s(x) W + b}{\\lVert s(x) W + b \\rVert_2}`.
The rows of :math:`S` and :math:`T` are pairs: an English sentence read by both (``english``),
a bitext pair, the low-resource side read by the student and the English side by the
teacher (``bitext``), or both sets stacked (``both``). Only training text is used.

The map is a standard ``Dense`` module (identity activation) plus ``Normalize`` at the end of
the student route, so the saved model loads with plain sentence-transformers; it trains with
the rest of the student. :class:`~optical_bench.losses.OptimalTransportLoss` can apply it to
the student's token embeddings too (``map_tokens``), so that the OT cost compares tokens in
the teacher's space.

The embeddings the map is fitted on come through the embedding cache
(:mod:`optical_bench.embedding_cache`, keyed by the route's modules and the exact texts): the
seeds and methods of a study that share a student and its texts encode them once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from optical_bench.config import LINEAR_MAP_SOURCES
from optical_bench.embedding_cache import EmbeddingCache
from optical_bench.models.building import append_affine


def fit_linear_map(source: np.ndarray, target: np.ndarray, ridge: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares ``target ~ source @ W + b`` (the bias unpenalised); returns ``(W, b)``.

    ``W`` has shape ``[d_source, d_target]`` and ``b`` shape ``[d_target]``; solved in float64.
    """
    if source.shape[0] != target.shape[0]:
        raise ValueError(f"fit_linear_map: {source.shape[0]} source rows but {target.shape[0]} target rows.")
    if ridge < 0:
        raise ValueError("fit_linear_map: the ridge must be >= 0.")
    design = np.hstack([source.astype(np.float64), np.ones((source.shape[0], 1))])
    penalty = ridge * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ target.astype(np.float64))
    return solution[:-1].astype(np.float32), solution[-1].astype(np.float32)


def add_linear_map(model, weight: np.ndarray, bias: np.ndarray, side: str = "query") -> None:
    """Append the trainable map ``Dense(W, b)`` (``W`` of shape ``[d_in, d_out]``) and ``Normalize`` to the
    ``side`` route of a Router model."""
    append_affine(
        model, torch.from_numpy(np.ascontiguousarray(weight.T)), torch.from_numpy(bias), side=side, trainable=True, caller="add_linear_map"
    )


def warm_start_linear_map(
    model,
    pairs: list[tuple[str, str]],
    *,
    source: str = "both",
    side: str = "query",
    ridge: float = 1e-2,
    english: Sequence[str] = (),
    progress: bool = False,
    cache: bool = True,
) -> dict:
    """Fit the map on ``pairs`` (low-resource, English) and append it to the student route.

    ``source``: ``english`` (the English side, read by both encoders), ``bitext`` (the
    low-resource side by the student, its English twin by the teacher) or ``both``.
    ``english``: more English sentences for the English rows (``english`` and ``both``), e.g.
    monolingual text when the bitext is too small to fit :math:`d^2` weights.
    ``cache``: read and write the embeddings through the embedding cache.
    Returns a record: the source, the number of rows, the ridge and the mean cosine between the
    mapped student embeddings and the teacher's on the fitted rows (before and after).
    """
    if source not in LINEAR_MAP_SOURCES or source == "none":
        raise ValueError(f"--linear-map {source!r}: choose one of english, bitext, both.")
    if not pairs:
        raise ValueError("--linear-map needs training pairs to fit on.")
    if english and source == "bitext":
        raise ValueError("English sentences beyond the bitext feed the English rows: use source english or both.")
    student = route_encoder(model, side, progress=progress, cache=cache)
    teacher = route_encoder(model, "document" if side == "query" else "query", progress=progress, cache=cache)
    paired_english = [en for _, en in pairs]
    target = teacher(paired_english)
    inputs, targets = [], []
    if source in ("english", "both"):
        inputs.append(student(paired_english))
        targets.append(target)
        if english:
            inputs.append(student(list(english)))
            targets.append(teacher(list(english)))
    if source in ("bitext", "both"):
        inputs.append(student([lr for lr, _ in pairs]))
        targets.append(target)
    s, t = np.vstack(inputs), np.vstack(targets)
    weight, bias = fit_linear_map(s, t, ridge)
    before = _mean_cosine(s, t) if s.shape[1] == t.shape[1] else None
    after = _mean_cosine(s @ weight + bias, t)
    add_linear_map(model, weight, bias, side)
    return {
        "source": source,
        "rows": int(s.shape[0]),
        "english_texts": len(english),
        "ridge": ridge,
        "fit_cosine_before": before,
        "fit_cosine_after": after,
    }


def route_encoder(model, route: str, *, progress: bool = False, cache: bool = True) -> Callable[[Sequence[str]], np.ndarray]:
    """A function that encodes texts by the ``route`` (``query`` or ``document``) of ``model`` with the
    prompt sentence-transformers applies there, through the embedding cache unless ``cache`` is off
    (the cache's key, a hash of the route's weights, is computed once here, not per call)."""
    encode = model.encode_query if route == "query" else model.encode_document
    options = {"batch_size": 64, "convert_to_numpy": True, "show_progress_bar": progress}

    def compute(texts: Sequence[str]) -> np.ndarray:
        return encode(list(texts), **options)

    if not cache:
        return compute
    entries = EmbeddingCache(model, prompt=None, route=route, encode_options=options)
    return lambda texts: entries.get_or_compute(texts, compute)


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.mean(np.sum(a * b, axis=1)))
