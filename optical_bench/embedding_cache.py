"""The embedding cache: keyed by everything that changes an embedding, verified on use.

Encoding is over 99% of an evaluation's time, and every student of one teacher encodes
its documents with the same frozen document route, so document embeddings are cached on
disk; the linear warm start of a study's seeds reads the same English and low-resource
texts through the same routes, so it uses the cache too (any route of a Router: ``route``).
A cached score must be a pure function of (model, task, settings), so the key of an
entry hashes *everything* that changes the embedding of a text:

- every module of the route, in order: its class, its saved configuration
  (``get_config_dict()``), its ``max_seq_length`` and ``do_lower_case``, the backbone's
  configuration, the complete tokenizer (the serialised ``tokenizer.json`` of a fast
  tokenizer, else its vocabulary and special tokens), and every weight with its dtype
  and shape;
- the model's ``truncate_dim``; the encode options that change values (precision,
  normalisation, output value);
- the prompt text actually applied (as sentence-transformers' own ``encode_document`` or
  ``encode_query`` resolves it);
- the scoring mode, the cache format version, and the versions of torch, transformers
  and sentence-transformers;
- the exact texts, in order.

The route's *name* is not hashed: two routes that compute the same thing (a model without a
Router, the same prompt) share their entries.

Layout: ``<home>/embeddings/v2/<encoder key>/<texts key>.npy`` with ``.json`` (what the key
was made of, for people) and ``.sha256`` (written last: marks the entry complete). Entries
of the first format (``<home>/embeddings/<16 hex>/``, keyed by weights only) are never read.

Each hit is *verified*: a few of its texts (the longest, where a length limit bites, and
some drawn at random) are re-encoded and compared with the stored rows; an entry that
disagrees is refused with :class:`StaleEmbeddingCacheError`, never used. Each entry is
written under a lock, so two processes never compute or write one entry at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optical_bench.io import StaleEmbeddingCacheError, atomic_write_bytes, atomic_write_json, folder_lock, home

logger = logging.getLogger(__name__)

CACHE_FORMAT = 2
DEFAULT_VERIFY_SAMPLE = 4
VERIFY_MIN_COSINE = 0.999  # re-encoding one text alone vs in a padded batch differs by ~1e-6 in float32
_BACKBONE_KEYS_THAT_NAME_A_PLACE = ("_name_or_path", "name_or_path", "_commit_hash", "transformers_version")
_ENCODE_OPTIONS_THAT_CHANGE_VALUES = ("precision", "normalize_embeddings", "output_value", "truncate_dim")


def cache_root() -> Path:
    return home() / "embeddings" / f"v{CACHE_FORMAT}"


ROUTES = ("document", "query")


def route_modules(model, route: str = "document") -> list:
    """The modules that encode ``route`` (``document`` or ``query``): the Router's route of
    that name, else its default route (plus any modules after the Router), else the whole model."""
    from sentence_transformers.models import Router

    if route not in ROUTES:
        raise ValueError(f"route {route!r}: choose one of {', '.join(ROUTES)}")
    first = model[0] if len(model) else None
    if isinstance(first, Router):
        name = route if route in first.sub_modules else first.default_route
        return list(first.sub_modules[name]) + list(model)[1:]
    return list(model)


def tokenizer_fingerprint(tokenizer) -> str:
    """What a tokenizer splits texts by, as one canonical text: its backend's JSON (sorted keys)
    without the truncation and padding state, else its sorted vocabulary. The one fingerprint of a
    tokenizer: embedding-cache keys, truncation counts and :func:`optical_bench.losses.routing.same_tokenizer`
    all read it. The backend's truncation and padding state is set by each call (from
    ``max_seq_length``, hashed apart): leaving it in would make a key depend on what was encoded before."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        serialised = json.loads(backend.to_str())
        serialised.pop("truncation", None)
        serialised.pop("padding", None)
        return json.dumps(serialised, sort_keys=True, ensure_ascii=False)
    return json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)


def _tokenizer_identity(tokenizer) -> bytes:
    text = tokenizer_fingerprint(tokenizer)
    extra = {
        "class": type(tokenizer).__name__,
        "special_tokens": getattr(tokenizer, "special_tokens_map", {}),
        "padding_side": getattr(tokenizer, "padding_side", None),
        "truncation_side": getattr(tokenizer, "truncation_side", None),
        "do_lower_case": getattr(tokenizer, "do_lower_case", None),
    }
    return text.encode() + json.dumps(extra, sort_keys=True, default=str).encode()


def update_with_modules(digest, modules: Iterable[Any]) -> list[dict]:
    """Feed a module list's identity into ``digest``; return a readable summary of it."""
    summary = []
    for index, module in enumerate(modules):
        kind = f"{type(module).__module__}.{type(module).__qualname__}"
        digest.update(f"{index}:{kind}".encode())
        config = module.get_config_dict() if callable(getattr(module, "get_config_dict", None)) else {}
        settings = {
            "config": config,
            "max_seq_length": getattr(module, "max_seq_length", None),
            "do_lower_case": getattr(module, "do_lower_case", None),
        }
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        backbone = getattr(getattr(module, "auto_model", None), "config", None)
        if backbone is not None:  # where it was loaded from is not part of what it computes
            settings_of_backbone = {k: v for k, v in backbone.to_dict().items() if k not in _BACKBONE_KEYS_THAT_NAME_A_PLACE}
            digest.update(json.dumps(settings_of_backbone, sort_keys=True, default=str).encode())
        tokenizer = getattr(module, "tokenizer", None)
        if tokenizer is not None:
            digest.update(_tokenizer_identity(tokenizer))
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy().tobytes())
        summary.append({"module": type(module).__name__, "max_seq_length": settings["max_seq_length"]})
    return summary


def applied_prompt(model, prompt: str | None, route: str = "document") -> str | None:
    """The prompt ``model.encode_document(texts, prompt=prompt)`` (``route`` document) or
    ``model.encode_query`` (``route`` query) applies: ``prompt`` if given, else the model's
    ``document``, ``passage`` or ``corpus`` prompt (in that order) or its ``query`` prompt,
    else its default prompt (sentence-transformers' own resolution)."""
    if prompt is not None:
        return prompt
    prompts = getattr(model, "prompts", None) or {}
    for name in ("document", "passage", "corpus") if route == "document" else ("query",):
        if name in prompts:
            return prompts[name]
    default = getattr(model, "default_prompt_name", None)
    return prompts.get(default) if default else None


def encoder_key(
    model, *, prompt: str | None, scoring: str = "cosine", encode_options: dict | None = None, route: str = "document"
) -> tuple[str, dict]:
    """The key of the encoder of one route (everything but the texts) and a readable record of it."""
    import sentence_transformers
    import transformers

    digest = hashlib.sha256(f"optical-bench embedding cache v{CACHE_FORMAT}".encode())
    modules = update_with_modules(digest, route_modules(model, route))
    options = {k: (encode_options or {}).get(k) for k in _ENCODE_OPTIONS_THAT_CHANGE_VALUES}
    record = {
        "format": CACHE_FORMAT,
        "route": route,
        "modules": modules,
        "truncate_dim": getattr(model, "truncate_dim", None),
        "prompt": applied_prompt(model, prompt, route),
        "scoring": scoring,
        "encode_options": options,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
    }
    # what computes is hashed (the route's modules above, its prompt here); the route's name is for people
    hashed = {k: v for k, v in record.items() if k not in ("modules", "route")}
    digest.update(json.dumps(hashed, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:24], record


def texts_key(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(str(text).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def verification_sample(texts: Sequence[str], size: int, seed: int = 0) -> list[int]:
    """Indices to re-encode: the longest half (where a length limit bites) and the rest at random."""
    if size <= 0 or not texts:
        return []
    size = min(size, len(texts))
    longest = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))[: (size + 1) // 2]
    rest = [i for i in range(len(texts)) if i not in set(longest)]
    drawn = random.Random(seed).sample(rest, min(size - len(longest), len(rest)))
    return sorted(longest + drawn)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)


class EmbeddingCache:
    """Cached embeddings of one route of one encoder (see the module docstring); ``stats``
    counts ``<route>_hits``, ``<route>_misses`` and ``<route>_verified``."""

    def __init__(
        self,
        model,
        *,
        prompt: str | None,
        route: str = "document",
        scoring: str = "cosine",
        encode_options: dict | None = None,
        verify_sample: int = DEFAULT_VERIFY_SAMPLE,
        root: Path | None = None,
    ):
        self.key, self.record = encoder_key(model, prompt=prompt, scoring=scoring, encode_options=encode_options, route=route)
        self.folder = Path(root or cache_root()) / self.key
        self.verify_sample = verify_sample
        self.route = route
        self.stats = {f"{route}_hits": 0, f"{route}_misses": 0, f"{route}_verified": 0}
        warn_about_old_entries()

    def get_or_compute(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The embeddings of ``texts``: from the cache (verified) or from ``encode`` (then stored)."""
        path = self.folder / f"{texts_key(texts)}.npy"
        with folder_lock(path.parent, "the embedding cache entry", lock_file=path.with_suffix(".lock")):
            cached = self._read(path)
            if cached is not None:
                self._verify(path, cached, texts, encode)
                self.stats[f"{self.route}_hits"] += 1
                return cached
            array = np.asarray(encode(list(texts)), dtype=np.float32)
            self.stats[f"{self.route}_misses"] += 1
            self._store(path, array, len(texts))
            return array

    def _store(self, path: Path, array: np.ndarray, texts: int) -> None:
        """Write one entry (the checksum last: it marks the entry complete). The cache is optional:
        a full disk or a read-only cache folder costs the next run the encoding, not this one its result."""
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        try:
            atomic_write_bytes(path, buffer.getvalue())
            atomic_write_json(
                path.with_suffix(".json"),
                {**self.record, "texts": texts, "shape": list(array.shape), "written": time.strftime("%Y-%m-%d %H:%M:%S")},
            )
            atomic_write_bytes(path.with_suffix(".sha256"), hashlib.sha256(buffer.getvalue()).hexdigest().encode())
        except OSError as error:
            logger.warning(
                "%s: the embedding cache entry was not written (%s); the evaluation goes on without it. Fix: free disk space "
                "under %s (or choose another OPTICAL_BENCH_HOME) to reuse these embeddings next time.",
                error.filename or path,
                error.strerror or error,
                path.parent,
            )

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        checksum = path.with_suffix(".sha256")
        if not (path.exists() and checksum.exists()):
            return None
        data = path.read_bytes()
        expected = checksum.read_bytes().decode("ascii", errors="replace").strip()
        if hashlib.sha256(data).hexdigest() != expected:
            logger.warning("Corrupted embedding cache entry %s (its checksum %s does not match): recomputing", path, checksum.name)
            return None
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as error:
            logger.warning("Unreadable embedding cache entry %s (%s): recomputing", path, error)
            return None

    def _verify(self, path: Path, cached: np.ndarray, texts: Sequence[str], encode) -> None:
        indices = verification_sample(texts, self.verify_sample)
        if not indices:
            return
        fresh = np.asarray(encode([texts[i] for i in indices]), dtype=np.float32)
        cosines = _cosines(cached[indices], fresh)
        self.stats[f"{self.route}_verified"] += len(indices)
        worst = int(np.argmin(cosines))
        if cosines[worst] < VERIFY_MIN_COSINE:
            raise StaleEmbeddingCacheError(
                f"The cached {self.route} embeddings {path} do not match this model: text {indices[worst]} "
                f"({texts[indices[worst]][:60]!r}...) re-encodes at cosine {cosines[worst]:.4f} to its cached row "
                f"(at least {VERIFY_MIN_COSINE} expected). The cache key misses something that changes embeddings. "
                f"Fix: delete {path.parent} and rerun (or pass --no-cache), and report the model that did this."
            )


_warned_old = False


def warn_about_old_entries() -> None:
    """Say once that entries of the first cache format exist and are ignored."""
    global _warned_old
    if _warned_old:
        return
    _warned_old = True
    base = home() / "embeddings"
    if not base.is_dir():
        return
    old = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith("v")]
    if old:
        size = sum(f.stat().st_size for folder in old for f in folder.rglob("*") if f.is_file())
        logger.warning(
            "Ignoring %d folders of document embeddings cached by an older optical-bench (their key left out "
            "sequence lengths, prompts and tokenizers, so they may hold another model's embeddings); "
            "delete them to free %.0f MB: %s/<16 hex digits>",
            len(old),
            size / 2**20,
            base,
        )
