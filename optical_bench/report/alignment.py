"""OT alignment heatmaps: which English sub-words a low-resource sentence's sub-words align with.

:func:`alignment_for_pair` loads a distilled Router model (or takes one), runs its student
route on the low-resource text and its teacher route on the English text, and aligns
their sub-word tokens by entropic OT (:func:`optical_bench.ot.ot_alignment`);
:func:`plot_alignment_heatmap` draws the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optical_bench.report.plots import new_figure, save_png

__all__ = ["PairAlignment", "alignment_for_pair", "plot_alignment_heatmap"]


def plot_alignment_heatmap(
    plan: Any,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: Path | str,
    title: str | None = None,
    *,
    normalize_rows: bool = False,
) -> Path:
    """Heatmap of an OT plan (rows: student/low-resource sub-words, columns: teacher/English).

    Args:
        plan: ``(m, n)`` array or tensor (e.g. ``ot_alignment(...).plan``).
        source_tokens, target_tokens: the ``m`` row and ``n`` column labels.
        normalize_rows: show :math:`P_{ij} / \\sum_j P_{ij}` (where each source token's mass goes).
    """
    matrix = np.asarray(plan.detach().cpu().numpy() if hasattr(plan, "detach") else plan, dtype=float)
    if matrix.ndim != 2 or matrix.shape != (len(source_tokens), len(target_tokens)):
        raise ValueError(
            f"plot_alignment_heatmap: plan of shape {matrix.shape} does not fit {len(source_tokens)} source and {len(target_tokens)} target tokens."
        )
    if normalize_rows:
        matrix = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1e-30, None)
    m, n = matrix.shape
    figure = new_figure(max(4.0, 0.35 * n + 2.0), max(3.0, 0.35 * m + 1.5))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="viridis", aspect="auto")
    axes.set_xticks(range(n))
    axes.set_xticklabels(list(target_tokens), rotation=60, ha="right", fontsize="small")
    axes.set_yticks(range(m))
    axes.set_yticklabels(list(source_tokens), fontsize="small")
    axes.set_xlabel("teacher tokens (English)")
    axes.set_ylabel("student tokens (low-resource)")
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, label="transport mass" if not normalize_rows else "share of the row's mass")
    return save_png(figure, path)


@dataclass
class PairAlignment:
    """An OT alignment of one low-resource sentence with its English translation."""

    plan: np.ndarray  # (m, n), rows: source (student) tokens
    source_tokens: list[str]
    target_tokens: list[str]
    cost: float
    settings: dict[str, Any]


def _encode_tokens(module, text: str) -> tuple[Any, Any, list[str], Any]:
    import torch

    prepare = getattr(module, "preprocess", None) or module.tokenize
    features = prepare([text])
    features = {k: (v.to(next(module.parameters()).device) if hasattr(v, "to") else v) for k, v in features.items()}
    with torch.no_grad():
        out = module(features)
    ids = out["input_ids"][0]
    tokenizer = module.tokenizer
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    special = torch.tensor([int(i) in set(tokenizer.all_special_ids) for i in ids.tolist()])
    return out["token_embeddings"][0], out["attention_mask"][0], tokens, special


def _load_router(model_or_folder: Any, device: str) -> tuple[Any, dict[str, Any]]:
    """The model's Router module and the model folder's provenance (``{}`` for a model object)."""
    from sentence_transformers.models import Router

    provenance: dict[str, Any] = {}
    if isinstance(model_or_folder, (str, Path)):
        from optical_bench.models import load_sentence_transformer, read_provenance

        provenance = (read_provenance(Path(model_or_folder)) or {}) if Path(model_or_folder).is_dir() else {}
        model = load_sentence_transformer(str(model_or_folder), device=device)
    else:
        model = model_or_folder
    router = model[0]
    if not isinstance(router, Router):
        raise ValueError(
            "alignment_for_pair needs a distilled Router model (student and teacher routes); "
            "build one with optical_bench.models.build_distillation_model or train one with `optical-bench train`."
        )
    return router, provenance


def _alignment_settings(
    provenance: dict[str, Any],
    student_route: str | None,
    epsilon: float | None,
    n_iters: int | None,
    cost: str | None,
    drop_special_tokens: bool | None,
) -> dict[str, Any]:
    """The OT settings: those given, else the provenance's ``ot``, else the defaults."""
    ot_settings = provenance.get("ot") or {}
    return {
        "student_route": student_route or provenance.get("student_side") or "query",
        "epsilon": float(epsilon if epsilon is not None else ot_settings.get("epsilon") or 0.05),
        # "iterations": the name in provenance written before 2026-12-06
        "n_iters": int(n_iters if n_iters is not None else ot_settings.get("iters") or ot_settings.get("iterations") or 50),
        "cost": cost or ot_settings.get("cost") or "cosine",
        "drop_special_tokens": bool(
            drop_special_tokens if drop_special_tokens is not None else ot_settings.get("drop_special_tokens", True)
        ),
    }


def _kept(tokens: Sequence[str], mask: Any, special: Any, drop_special: bool) -> list[int]:
    """Positions of real tokens (not padding; not special tokens when those are dropped)."""
    return [i for i in range(len(tokens)) if bool(mask[i]) and not (drop_special and bool(special[i]))]


def alignment_for_pair(
    model_or_folder: Any,
    lr_text: str,
    en_text: str,
    *,
    student_route: str | None = None,
    epsilon: float | None = None,
    n_iters: int | None = None,
    cost: str | None = None,
    drop_special_tokens: bool | None = None,
    device: str = "cpu",
) -> PairAlignment:
    """Align the sub-words of ``lr_text`` (student route) and ``en_text`` (teacher route).

    The model is a Router model (``model[0].sub_modules["query"|"document"]``, each
    ``[Transformer, Pooling, Normalize]``) or its folder; the token embeddings are the
    Transformer module's ``token_embeddings``; the plan is
    :func:`optical_bench.ot.ot_alignment`'s. OT settings default to the model's provenance
    (``optical_bench_provenance.json`` → ``ot``; IDF marginals are not reproduced: uniform),
    else epsilon 0.05, 50 iterations, cosine cost, special tokens dropped (their rows and
    columns are then removed from the plan).

    Args:
        student_route: ``"query"`` or ``"document"`` (default: the provenance's
            ``student_side``, else ``"query"``); the other route is the teacher.
    """
    import torch

    from optical_bench.ot import TokenSequences, ot_alignment

    router, provenance = _load_router(model_or_folder, device)
    settings = _alignment_settings(provenance, student_route, epsilon, n_iters, cost, drop_special_tokens)
    student_route = settings["student_route"]
    teacher_route = "document" if student_route == "query" else "query"
    drop = settings["drop_special_tokens"]
    s_emb, s_mask, s_tokens, s_special = _encode_tokens(router.sub_modules[student_route][0], lr_text)
    t_emb, t_mask, t_tokens, t_special = _encode_tokens(router.sub_modules[teacher_route][0], en_text)
    with torch.no_grad():
        alignment = ot_alignment(
            TokenSequences(s_emb.float(), s_mask, s_special.long() if drop else None),
            TokenSequences(t_emb.float(), t_mask, t_special.long() if drop else None),
            cost=settings["cost"],
            epsilon=settings["epsilon"],
            n_iters=settings["n_iters"],
        )
    plan = alignment.plan.detach().cpu().numpy()
    rows, cols = _kept(s_tokens, s_mask, s_special, drop), _kept(t_tokens, t_mask, t_special, drop)
    if not rows or not cols:  # only special tokens: keep everything
        rows, cols = list(range(len(s_tokens))), list(range(len(t_tokens)))
    return PairAlignment(
        plan[np.ix_(rows, cols)], [s_tokens[i] for i in rows], [t_tokens[j] for j in cols], float(alignment.cost), settings
    )
