"""The mteb encoder of a sentence-transformers model: a disk cache for document embeddings,
translate-test queries, multi-process document encoding, and MaxSim late interaction."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from mteb.models.abs_encoder import get_prompt_name
from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
from mteb.types import PromptType

from optical_bench.embedding_cache import DEFAULT_VERIFY_SAMPLE, EmbeddingCache

MAXSIM_LENGTH = 64
# the scoring mode in the cache key of MaxSim token rows: what is stored, and how many tokens
MAXSIM_CACHE_SCORING = f"maxsim-normalised-tokens-{MAXSIM_LENGTH}"


def normalised_token_rows(token_embeddings: list, length: int) -> np.ndarray:
    """The first ``length`` token embeddings of each text, L2-normalised, zero past its last token:
    ``[n, length * d]`` (what the embedding cache stores for MaxSim documents)."""
    dim = int(token_embeddings[0].shape[-1]) if len(token_embeddings) else 0
    out = np.zeros((len(token_embeddings), length, dim), dtype=np.float32)
    for row, tokens in enumerate(token_embeddings):
        tokens = torch.nn.functional.normalize(torch.as_tensor(tokens, dtype=torch.float32)[:length], dim=-1).numpy()
        out[row, : len(tokens)] = tokens
    return out.reshape(len(token_embeddings), -1)


def with_padding_marker(rows: np.ndarray, length: int, is_query: bool) -> np.ndarray:
    """Rows of :func:`normalised_token_rows` flattened to ``[n, length * (d + 1)]`` for mteb.

    An extra coordinate marks padding, so that an inner product between a query token
    (extra = 1) and a padded document token (extra = -1e4) is hugely negative and never wins
    a max, while padded query tokens (all zeros) add 0 to the sum. A position holds a real
    token where its vector is not zero (a normalised token has norm 1).
    """
    tokens = np.asarray(rows, dtype=np.float32).reshape(len(rows), length, -1)
    real = np.abs(tokens).sum(axis=2) > 0
    marker = np.where(real, 1.0 if is_query else 0.0, 0.0 if is_query else -1e4).astype(np.float32)
    return np.concatenate([tokens, marker[:, :, None]], axis=2).reshape(len(rows), -1)


def padded_token_embeddings(token_embeddings: list, length: int, is_query: bool) -> np.ndarray:
    """Variable-length token embeddings, L2-normalised and flattened to ``[n, length * (d + 1)]``
    with a padding marker (:func:`normalised_token_rows`, :func:`with_padding_marker`)."""
    return with_padding_marker(normalised_token_rows(token_embeddings, length), length, is_query)


def maxsim_scores(queries: np.ndarray, documents: np.ndarray, length: int = MAXSIM_LENGTH, chunk: int = 8):
    r"""Late-interaction (ColBERT MaxSim) scores from flattened padded token embeddings.

    .. math:: s(q, d) = \frac{1}{|q|} \sum_{i \in q} \max_{j \in d} \langle q_i, d_j \rangle

    with L2-normalised token embeddings (the mean over real query tokens keeps scores in
    [-1, 1]; it does not change the ranking of one query's documents).
    """

    q = torch.as_tensor(np.asarray(queries), dtype=torch.float32)
    d = torch.as_tensor(np.asarray(documents), dtype=torch.float32)
    q = q.view(q.shape[0], length, -1)
    d = d.view(d.shape[0], length, -1)
    counts = q[:, :, -1].sum(dim=1).clamp(min=1.0)
    # tokens are packed at the front: positions past the longest query and the longest document
    # are padding everywhere, and padding adds nothing (see padded_token_embeddings)
    q = q[:, : max(int(q[:, :, -1].sum(dim=1).max().item()) if len(q) else 0, 1)]
    d = d[:, : max(int((d[:, :, -1] == 0).sum(dim=1).max().item()) if len(d) else 0, 1)]
    documents_by_token = d.reshape(-1, d.shape[-1]).T.contiguous()  # [d + 1, documents * tokens]
    scores = torch.empty(q.shape[0], d.shape[0])
    rows = max(1, chunk * length // q.shape[1])  # the same memory per block as `chunk` full-length queries
    for start in range(0, q.shape[0], rows):
        block = q[start : start + rows]
        similarities = (block.reshape(-1, block.shape[-1]) @ documents_by_token).view(len(block), q.shape[1], d.shape[0], d.shape[1])
        scores[start : start + rows] = similarities.max(dim=3).values.sum(dim=1) / counts[start : start + rows, None]
    return scores


def token_level_embeddings(model, texts: list[str], is_query: bool, batch_size: int, documents_seen: dict, cache=None) -> np.ndarray:
    """Padded token embeddings (:func:`padded_token_embeddings`) of queries or documents.

    A corpus that several subsets share (AfriQA's languages) is encoded once: ``documents_seen``
    keeps the last corpus, keyed by the SHA-256 of its texts. With ``cache`` (an
    :class:`~optical_bench.embedding_cache.EmbeddingCache` of the document route, scoring
    :data:`MAXSIM_CACHE_SCORING`), documents' token rows are read from disk when an earlier
    evaluation of the same document route stored them (the students of one teacher share it)."""
    key = None if is_query else hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()
    if key is not None and key in documents_seen:
        return documents_seen[key]
    encode = model.encode_query if is_query else model.encode_document

    def token_rows(chunk: list[str]) -> np.ndarray:
        tokens = encode(chunk, batch_size=batch_size, output_value="token_embeddings", show_progress_bar=False)
        return normalised_token_rows([t.cpu() for t in tokens], MAXSIM_LENGTH)

    rows = cache.get_or_compute(texts, token_rows) if cache is not None and not is_query else token_rows(texts)
    padded = with_padding_marker(rows, MAXSIM_LENGTH, is_query)
    if key is not None:
        documents_seen.clear()  # the last corpus only: memory stays one corpus
        documents_seen[key] = padded
    return padded


def make_encoder(
    model,
    meta,
    cache_embeddings: bool = True,
    query_translator=None,
    scoring: str = "cosine",
    verify_sample: int = DEFAULT_VERIFY_SAMPLE,
    cache_root: Path | None = None,
    pool: dict | None = None,
):
    """An mteb encoder for a SentenceTransformer, caching document embeddings on disk.

    With ``query_translator`` (anything with ``translate_batch(list[str]) -> list[str]``),
    queries are translated before they are encoded: the translate-test baseline. With a ``pool``
    (``SentenceTransformer.start_multi_process_pool(devices)``, also settable as ``encoder.pool``),
    documents are encoded by sentence-transformers' multi-process encoding, one per device."""

    class CachedDocumentEncoder(SentenceTransformerEncoderWrapper):
        """mteb's own sentence-transformers wrapper plus a disk cache for document embeddings
        (:mod:`optical_bench.embedding_cache`: keyed by everything that changes an embedding,
        verified on every hit)."""

        def __init__(self) -> None:
            super().__init__(model)
            self.mteb_model_meta = meta
            self.caches: dict[str | None, EmbeddingCache] = {}
            self.stats = {"document_hits": 0, "document_misses": 0, "document_verified": 0}
            self.document_tokens: dict[str, np.ndarray] = {}
            self.pool = pool

        def similarity(self, embeddings1, embeddings2):
            if scoring == "maxsim":
                return maxsim_scores(embeddings1, embeddings2)
            return super().similarity(embeddings1, embeddings2)

        def _token_level(self, inputs, prompt_type, **kwargs):
            texts = [str(text) for batch in inputs for text in batch["text"]]
            is_query = prompt_type == PromptType.query
            maxsim_rows = {"output_value": "token_embeddings"}
            cache = self._cache_for(None, maxsim_rows, MAXSIM_CACHE_SCORING) if cache_embeddings and not is_query else None
            embeddings = token_level_embeddings(self.model, texts, is_query, kwargs.get("batch_size", 64), self.document_tokens, cache)
            self._count_cache_stats()
            return embeddings

        def _cache_for(self, prompt: str | None, options: dict, scoring_key: str = scoring) -> EmbeddingCache:
            key = json.dumps([prompt, sorted(options.items()), scoring_key], default=str)
            if key not in self.caches:
                self.caches[key] = EmbeddingCache(
                    self.model, prompt=prompt, scoring=scoring_key, encode_options=options, verify_sample=verify_sample, root=cache_root
                )
            return self.caches[key]

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            if scoring == "maxsim":
                return self._token_level(inputs, prompt_type, **kwargs)
            if query_translator is not None and prompt_type == PromptType.query:
                texts = [str(text) for batch in inputs for text in batch["text"]]
                translated = query_translator.translate_batch(texts)
                return self.model.encode_query(
                    translated, batch_size=kwargs.get("batch_size", 64), convert_to_numpy=True, show_progress_bar=False
                )
            if prompt_type != PromptType.document or not (cache_embeddings or self.pool):
                return super().encode(
                    inputs, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset, prompt_type=prompt_type, **kwargs
                )
            # the prompt mteb's wrapper passes for these documents (its own resolution)
            prompt_name = get_prompt_name(self.model_prompts, task_metadata, prompt_type) if self.model_prompts else None
            prompt = self.model_prompts.get(prompt_name) if prompt_name else None
            options = {k: v for k, v in kwargs.items() if k not in ("batch_size", "show_progress_bar")}
            texts = [str(text) for batch in inputs for text in batch["text"]]
            batch_size = kwargs.get("batch_size", 64)

            def encode_texts(chunk: list[str]) -> np.ndarray:
                if self.pool is not None:
                    options["pool"] = self.pool
                embeddings = self.model.encode_document(
                    chunk,
                    prompt=prompt,
                    batch_size=batch_size,
                    convert_to_numpy=True,
                    show_progress_bar=kwargs.get("show_progress_bar", False) and len(chunk) > batch_size,
                    **options,
                )
                return np.asarray(embeddings, dtype=np.float32)

            if not cache_embeddings:
                return encode_texts(texts)
            cache = self._cache_for(prompt, options)
            array = cache.get_or_compute(texts, encode_texts)
            self._count_cache_stats()
            return array

        def _count_cache_stats(self) -> None:
            for name in self.stats:
                self.stats[name] = sum(c.stats.get(name, 0) for c in self.caches.values())

    return CachedDocumentEncoder()
