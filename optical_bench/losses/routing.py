"""Helpers shared by the losses: the model's Router, its routes' tokenizers, batch sizes."""

from __future__ import annotations

from typing import Any

from sentence_transformers.base.modules.router import Router
from torch import Tensor, nn

from optical_bench.embedding_cache import tokenizer_fingerprint

__all__ = ["feature_batch_size", "find_router", "route_tokenizer", "same_tokenizer", "tokenizer_fingerprint"]


def find_router(model: nn.Module) -> Router:
    """The first Router among the modules of ``model``; ValueError naming the fix when there is none."""
    for module in model.modules():
        if isinstance(module, Router):
            return module
    raise ValueError(
        "OptimalTransportLoss needs a SentenceTransformer holding a Router with a student and a teacher route, "
        "e.g. SentenceTransformer(modules=[Router.for_query_document(query_modules=[student, Pooling(d), "
        "Normalize()], document_modules=[teacher, Pooling(d), Normalize()])]); the given model has no Router."
    )


def route_tokenizer(router: Router, route: str):
    """The tokenizer of the first module of ``route`` (None when it has none)."""
    first = router.sub_modules[route][0]
    return getattr(first, "tokenizer", None)


def same_tokenizer(first, second) -> bool:
    """Whether two tokenizers are known to split every text alike (False when it cannot be shown)."""
    if first is None or second is None:
        return False
    if first is second:
        return True
    if type(first) is not type(second):
        return False
    try:
        return tokenizer_fingerprint(first) == tokenizer_fingerprint(second)
    except Exception:  # a tokenizer without a serialisable state cannot be shown equal
        return False


def feature_batch_size(features: dict[str, Any]) -> int:
    """Rows of a tokenized batch (``input_ids`` or ``attention_mask``); -1 when it has neither."""
    for key in ("input_ids", "attention_mask"):
        value = features.get(key)
        if isinstance(value, Tensor):
            return value.shape[0]
    return -1
