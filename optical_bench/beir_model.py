"""A student for BEIR's retrieval classes: queries through the query route, documents through the document route.

BEIR's own ``beir.retrieval.models.SentenceBERT`` calls ``model.encode`` for queries *and*
documents. A distilled model is a ``Router`` whose routes differ (the student reads the
low-resource side, the frozen teacher the other), so ``encode`` cannot know which side it
is given; our models have no default route and ``encode`` raises rather than guess. This
adapter gives BEIR the interface it expects (``encode_queries`` / ``encode_corpus``) on top
of sentence-transformers' ``encode_query`` / ``encode_document``, which apply the right
route and the model's own prompts, exactly as mteb does::

    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch
    from optical_bench.beir_model import RoutedBEIRModel

    model = RoutedBEIRModel("runs/student/model")
    retriever = EvaluateRetrieval(DenseRetrievalExactSearch(model, batch_size=64), score_function="cos_sim")
    results = retriever.retrieve(corpus, queries)

Documents are their title and text joined by a space (BEIR's and mteb's convention), so
the scores equal mteb's on the same collection.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


class RoutedBEIRModel:
    """BEIR's model interface over any sentence-transformers model, Router or not.

    Args:
        model: a loaded ``SentenceTransformer`` or anything :func:`optical_bench.models.load_sentence_transformer`
            accepts (a packaged name, a model folder, a Hugging Face id).
        sep: what joins a document's title and text (BEIR's and mteb's default: a space).
    """

    def __init__(self, model: Any, sep: str = " ", device: str | None = None):
        if isinstance(model, (str, os.PathLike)):
            from optical_bench.models import load_sentence_transformer

            model = load_sentence_transformer(model, device=device)
        self.model = model
        self.sep = sep

    def encode_queries(self, queries: list[str], batch_size: int = 64, **kwargs) -> np.ndarray:
        return self.model.encode_query(list(queries), batch_size=batch_size, **_encode_options(kwargs))

    def encode_corpus(self, corpus: list[dict[str, str]] | dict[str, list] | list[str], batch_size: int = 64, **kwargs) -> np.ndarray:
        from beir.retrieval.models.util import extract_corpus_sentences

        texts = extract_corpus_sentences(corpus=corpus, sep=self.sep)
        return self.model.encode_document(texts, batch_size=batch_size, **_encode_options(kwargs))


def _encode_options(kwargs: dict) -> dict:
    """BEIR's search classes pass ``convert_to_tensor`` and ``show_progress_bar``; keep what
    sentence-transformers' encode accepts."""
    allowed = ("convert_to_tensor", "convert_to_numpy", "show_progress_bar", "normalize_embeddings", "device")
    return {key: value for key, value in kwargs.items() if key in allowed}
