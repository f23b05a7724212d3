"""The objective of a trained method: its dataset and loss, built from its row of the method
table (:data:`optical_bench.methods.TRAINED`).

A ``distillation`` row gives :class:`~optical_bench.losses.DistillationLoss` over pairs
``(lr, en)``, its terms weighted by :meth:`~optical_bench.config.TrainConfig.loss_weights`; the
``labelled-mse`` row gives sentence-transformers' ``MSELoss`` over rows ``(lr, label)``, the
labels the teacher's embeddings of the English side.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import torch
from datasets import Dataset
from sentence_transformers.sentence_transformer.losses import MSELoss

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import SentencePair
from optical_bench.losses import DistillationLoss, EnglishAnchor, InfoNCE, SentenceMSE, TokenOT
from optical_bench.methods import LABELLED_MSE, TERMS, TRAINED
from optical_bench.models import other_side
from optical_bench.ot import compute_idf

__all__ = ["Objective", "build_objective"]


class Objective(NamedTuple):
    """The training dataset, its loss, and how its columns are routed and prompted."""

    dataset: Dataset
    loss: torch.nn.Module
    router_mapping: dict[str, str]
    prompts: dict[str, str] | None


def _prompt(model, kind: str = "query") -> str:
    """The model's prompt for a text of ``kind`` (``query`` or ``document``; e5: ``query: ``, ``passage: ``)."""
    prompts = getattr(model, "prompts", None) or {}
    return prompts.get(kind, prompts.get("passage", "") if kind == "document" else "") or ""


def build_objective(
    config: TrainConfig, model, chosen: list[SentencePair], pairs: list[SentencePair], progress: bool, english_side: str = "query"
) -> Objective:
    """The dataset and loss of ``config.method`` on the ``chosen`` pairs (IDF marginals count all
    ``pairs``). The low-resource side is read as a query; the English side as a query (a
    translation) or, with ``english_side="document"``, as a document (a gold passage)."""
    if config.method not in TRAINED:
        raise ValueError(f"--method {config.method} trains nothing: it has no objective (trained methods: {', '.join(TRAINED)}).")
    prompts = (_prompt(model), _prompt(model, english_side))
    if TRAINED[config.method].loss == LABELLED_MSE:
        return _labelled_mse_objective(config, model, chosen, progress, prompts)
    return _distillation_objective(config, model, chosen, pairs, prompts)


def _labelled_mse_objective(config: TrainConfig, model, chosen: list[SentencePair], progress: bool, prompts: tuple[str, str]) -> Objective:
    """sentence-transformers' ``MSELoss`` towards the teacher's embeddings of the English side::

        L = mean_i ||s(x_i) - t(x_en,i)||^2      over rows (x_i, t(x_en,i)), x_i = x_lr,i

    With ``mse_english`` the student also reads each English sentence, with the same target, as
    sentence-transformers' make_multilingual recipe does: rows ``(x_lr, t(x_en))`` and
    ``(x_en, t(x_en))``, shuffled together, the same number of rows per step."""
    config.loss_weights()  # this loss has no weight but its own: a run that gives another is refused
    prompt, english_prompt = prompts
    teacher_side = other_side(config.student_side)
    teacher_encode = model.encode_document if teacher_side == "document" else model.encode_query
    labels = teacher_encode([p.en for p in chosen], prompt=english_prompt, batch_size=64, convert_to_numpy=True, show_progress_bar=progress)
    texts, targets = [p.lr for p in chosen], [row.tolist() for row in labels]
    if config.mse_english:
        rows = list(zip(texts + [p.en for p in chosen], targets + targets))
        random.Random(config.seed).shuffle(rows)
        texts, targets = [text for text, _ in rows], [target for _, target in rows]
    dataset = Dataset.from_dict({"lr": texts, "label": targets})
    return Objective(dataset, MSELoss(model), {"lr": config.student_side}, {"lr": prompt} if prompt else None)


def _distillation_objective(
    config: TrainConfig, model, chosen: list[SentencePair], pairs: list[SentencePair], prompts: tuple[str, str]
) -> Objective:
    """:class:`DistillationLoss` of the terms of :data:`~optical_bench.methods.TERMS`, each at the
    run's weight (:meth:`~optical_bench.config.TrainConfig.loss_weights`), summed in that order."""
    prompt, english_prompt = prompts
    weights = config.loss_weights().as_dict()
    student_side, teacher_side = config.student_side, other_side(config.student_side)
    dataset = Dataset.from_dict({"lr": [p.lr for p in chosen], "en": [p.en for p in chosen]})
    options = config.ot
    idf = {}
    if options.idf:
        for side, texts in ((student_side, [p.lr for p in pairs]), (teacher_side, [p.en for p in pairs])):
            tokenizer = model[0].sub_modules[side][0].tokenizer
            idf[side] = compute_idf(tokenizer(texts[:20000], add_special_tokens=True)["input_ids"], len(tokenizer))
    term_of = {
        "ot": lambda: TokenOT(options, student_idf=idf.get(student_side), teacher_idf=idf.get(teacher_side)),
        "mse": SentenceMSE,
        "contrastive": lambda: InfoNCE(config.temperature),
        "anchor": EnglishAnchor,
    }
    terms = {term: (weights[term], term_of[term]()) for term in TERMS}
    loss = DistillationLoss(model, terms, student_route=student_side, teacher_route=teacher_side)
    given = {column: text for column, text in (("lr", prompt), ("en", english_prompt)) if text}
    return Objective(dataset, loss, {"lr": student_side, "en": teacher_side}, given or None)
