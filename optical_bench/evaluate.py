"""Evaluation through ``mteb`` (scores) with a ``beir`` cross-check, and a document-embedding cache.

``evaluate_model`` runs ``mteb.evaluate`` with

- a named, fully specified :class:`mteb.ModelMeta` whose revision is the content hash
  of the model folder (each checkpoint gets its own revision, so mteb's
  ``only-missing`` strategy never returns another checkpoint's scores);
- an explicit result cache that writes MTEB's layout directly under ``out``:
  ``<out>/<org>__<model>/<revision>/<Task>.json`` plus ``model_meta.json``;
- :class:`CachedDocumentEncoder`, which stores the document embeddings on disk under
  a fingerprint of the *document route* (for a Router model: the teacher), so every
  student of a grid that shares the teacher reuses them;
- mteb's predictions (the rankings), from which BEIR's ``EvaluateRetrieval``
  recomputes nDCG@10 and MRR@10: a difference above ``1e-4`` is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optical_bench.embedding_cache import DEFAULT_VERIFY_SAMPLE, DocumentEmbeddingCache
from optical_bench.io import atomic_write_json, folder_lock

logger = logging.getLogger(__name__)

BEIR_TOLERANCE = 1e-4
K_VALUES = [1, 3, 5, 10, 20, 100]


class CrossCheckError(AssertionError):
    """mteb and BEIR disagree on a metric computed from the same rankings."""


# --------------------------------------------------------------------------- model loading and identity


def load_sentence_transformer(spec: str | os.PathLike, device: str | None = None, trust_remote_code: bool = False,
                              allow_pickled_weights: bool = False):
    """Load a model by packaged name, local folder or Hugging Face id.

    Safe by default: weights load through safetensors only (a pickled ``pytorch_model.bin``
    can run code when unpickled; pass ``allow_pickled_weights=True`` to accept one), and
    ``trust_remote_code`` stays off unless asked for.
    """
    from sentence_transformers import SentenceTransformer

    from optical_bench.assets.models import resolve_model

    path = resolve_model(str(spec))
    model_kwargs = {} if allow_pickled_weights else {"use_safetensors": True}
    try:
        return SentenceTransformer(path, device=device or "cpu", trust_remote_code=trust_remote_code, model_kwargs=model_kwargs)
    except OSError as error:
        if not allow_pickled_weights and "safetensors" in str(error).lower():
            raise FileNotFoundError(
                f"The model {spec!r} ({path}) has no safetensors weights. Pickled weights can run code when loaded; "
                "if you trust the source, load it with allow_pickled_weights=True (or convert it to safetensors)."
            ) from error
        raise FileNotFoundError(
            f"Could not load the model {spec!r} ({path}): {error}. Fix: pass a packaged name "
            f"(all-minilm-l6-v2, multilingual-e5-small-q4), a sentence-transformers folder, or a "
            f"Hugging Face id (which needs the hub)."
        ) from error


def folder_fingerprint(path: str | os.PathLike) -> str:
    """Content hash of a model folder's weights and configs (16 hex digits): the MTEB
    revision of a local model. Model cards and ``optical_bench_provenance.json`` are left
    out (they hold timings and absolute paths), so one model has one revision on every
    machine."""
    root = Path(path)
    digest = hashlib.sha256()
    # a .cache folder *inside* the model folder is skipped; the folder itself may well live
    # under ~/.cache (the default OPTICAL_BENCH_HOME), so only the relative path is checked
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix in (".safetensors", ".json", ".bin", ".model", ".txt")
        and ".cache" not in p.relative_to(root).parts and p.name not in ("README.md", "optical_bench_provenance.json")
    )
    if not files:
        raise ValueError(f"{root} holds no model files (*.safetensors, *.json, *.bin, *.model, *.txt) to fingerprint.")
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode())
        with open(file, "rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()[:16]


def build_model_meta(model, name: str, revision: str, *, languages: list[str] | None = None, reference: str | None = None,
                     adapted_from: str | None = None, license: str | None = None, training_datasets: set[str] | None = None,
                     citation: str | None = None, experiment_kwargs: dict | None = None, scoring: str = "cosine"):
    """A complete :class:`mteb.ModelMeta` (``create_empty`` skips validation and then fails)."""
    from mteb.models.model_meta import ModelMeta

    n_parameters = sum(p.numel() for p in model.parameters())
    prompts = getattr(model, "prompts", {}) or {}
    return ModelMeta(
        loader=None,
        name=name if "/" in name else f"optical-bench/{name}",
        revision=revision,
        release_date=time.strftime("%Y-%m-%d"),
        languages=languages,
        n_parameters=n_parameters,
        memory_usage_mb=round(n_parameters * 4 / 2**20, 1),
        max_tokens=model.max_seq_length,
        embed_dim=model.get_embedding_dimension(),
        license=license,
        open_weights=True,
        public_training_code="https://pypi.org/project/optical-bench/",
        public_training_data=None,
        framework=["Sentence Transformers", "PyTorch"],
        reference=reference,
        similarity_fn_name="MaxSim" if scoring == "maxsim" else "cosine",
        model_type=["late-interaction"] if scoring == "maxsim" else ["dense"],
        use_instructions=bool(prompts.get("query") or prompts.get("document")),
        training_datasets=training_datasets or set(),
        adapted_from=adapted_from,
        citation=citation,
        experiment_kwargs=experiment_kwargs,
    )


# --------------------------------------------------------------------------- the encoder with a document cache


MAXSIM_LENGTH = 64


def _padded_token_embeddings(token_embeddings: list, length: int, is_query: bool) -> np.ndarray:
    """Flatten variable-length token embeddings to ``[n, length * (d + 1)]`` for mteb.

    Tokens are L2-normalised; an extra coordinate marks padding so that an inner product
    between a query token (extra = 1) and a padded document token (extra = -1e4) is hugely
    negative and never wins a max, while padded query tokens (all zeros) add 0 to the sum.
    """
    import torch

    dim = int(token_embeddings[0].shape[-1]) if len(token_embeddings) else 0
    out = np.zeros((len(token_embeddings), length, dim + 1), dtype=np.float32)
    if not is_query:
        out[:, :, dim] = -1e4
    for row, tokens in enumerate(token_embeddings):
        tokens = torch.nn.functional.normalize(torch.as_tensor(tokens, dtype=torch.float32)[:length], dim=-1).numpy()
        out[row, : len(tokens), :dim] = tokens
        out[row, : len(tokens), dim] = 1.0 if is_query else 0.0
    return out.reshape(len(token_embeddings), -1)


def maxsim_scores(queries: np.ndarray, documents: np.ndarray, length: int = MAXSIM_LENGTH, chunk: int = 8):
    r"""Late-interaction (ColBERT MaxSim) scores from flattened padded token embeddings.

    .. math:: s(q, d) = \frac{1}{|q|} \sum_{i \in q} \max_{j \in d} \langle q_i, d_j \rangle

    with L2-normalised token embeddings (the mean over real query tokens keeps scores in
    [-1, 1]; it does not change the ranking of one query's documents).
    """
    import torch

    q = torch.as_tensor(np.asarray(queries), dtype=torch.float32)
    d = torch.as_tensor(np.asarray(documents), dtype=torch.float32)
    q = q.view(q.shape[0], length, -1)
    d = d.view(d.shape[0], length, -1)
    counts = q[:, :, -1].sum(dim=1).clamp(min=1.0)
    scores = torch.empty(q.shape[0], d.shape[0])
    for start in range(0, q.shape[0], chunk):
        block = torch.einsum("qie,dje->qdij", q[start : start + chunk], d)
        scores[start : start + chunk] = block.max(dim=3).values.sum(dim=2) / counts[start : start + chunk, None]
    return scores


def make_encoder(model, meta, cache_embeddings: bool = True, query_translator=None, scoring: str = "cosine",
                 verify_sample: int = DEFAULT_VERIFY_SAMPLE, cache_root: Path | None = None):
    """An mteb encoder for a SentenceTransformer, caching document embeddings on disk.

    With ``query_translator`` (anything with ``translate_batch(list[str]) -> list[str]``),
    queries are translated before they are encoded: the translate-test baseline.
    """
    from mteb.models.abs_encoder import get_prompt_name
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from mteb.types import PromptType

    class CachedDocumentEncoder(SentenceTransformerEncoderWrapper):
        """mteb's own sentence-transformers wrapper plus a disk cache for document embeddings
        (:mod:`optical_bench.embedding_cache`: keyed by everything that changes an embedding,
        verified on every hit)."""

        def __init__(self) -> None:
            super().__init__(model)
            self.mteb_model_meta = meta
            self.caches: dict[str | None, DocumentEmbeddingCache] = {}
            self.stats = {"document_hits": 0, "document_misses": 0, "document_verified": 0}

        def similarity(self, embeddings1, embeddings2):
            if scoring == "maxsim":
                return maxsim_scores(embeddings1, embeddings2)
            return super().similarity(embeddings1, embeddings2)

        def _token_level(self, inputs, prompt_type, **kwargs):
            texts = [str(text) for batch in inputs for text in batch["text"]]
            is_query = prompt_type == PromptType.query
            encode = self.model.encode_query if is_query else self.model.encode_document
            tokens = encode(texts, batch_size=kwargs.get("batch_size", 64), output_value="token_embeddings", show_progress_bar=False)
            return _padded_token_embeddings([t.cpu() for t in tokens], MAXSIM_LENGTH, is_query)

        def _cache_for(self, prompt: str | None, options: dict) -> DocumentEmbeddingCache:
            key = json.dumps([prompt, sorted(options.items())], default=str)
            if key not in self.caches:
                self.caches[key] = DocumentEmbeddingCache(self.model, prompt=prompt, scoring=scoring, encode_options=options,
                                                          verify_sample=verify_sample, root=cache_root)
            return self.caches[key]

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            if scoring == "maxsim":
                return self._token_level(inputs, prompt_type, **kwargs)
            if query_translator is not None and prompt_type == PromptType.query:
                texts = [str(text) for batch in inputs for text in batch["text"]]
                translated = query_translator.translate_batch(texts)
                return self.model.encode_query(translated, batch_size=kwargs.get("batch_size", 64), convert_to_numpy=True, show_progress_bar=False)
            if not cache_embeddings or prompt_type != PromptType.document:
                return super().encode(inputs, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset, prompt_type=prompt_type, **kwargs)
            # the prompt mteb's wrapper passes for these documents (its own resolution)
            prompt_name = get_prompt_name(self.model_prompts, task_metadata, prompt_type) if self.model_prompts else None
            prompt = self.model_prompts.get(prompt_name) if prompt_name else None
            options = {k: v for k, v in kwargs.items() if k not in ("batch_size", "show_progress_bar")}
            texts = [str(text) for batch in inputs for text in batch["text"]]
            batch_size = kwargs.get("batch_size", 64)
            progress = kwargs.get("show_progress_bar", False)

            def encode_texts(chunk: list[str]) -> np.ndarray:
                embeddings = self.model.encode_document(chunk, prompt=prompt, batch_size=batch_size, convert_to_numpy=True,
                                                        show_progress_bar=progress and len(chunk) > batch_size, **options)
                return np.asarray(embeddings, dtype=np.float32)

            cache = self._cache_for(prompt, options)
            array = cache.get_or_compute(texts, encode_texts)
            for name, value in cache.stats.items():
                self.stats[name] = sum(c.stats[name] for c in self.caches.values())
            return array

    return CachedDocumentEncoder()


def _result_cache(out: Path):
    from mteb.cache import ResultCache

    class FolderResultCache(ResultCache):
        """mteb's ResultCache writing ``<out>/<org>__<model>/<revision>/<Task>.json`` (no ``results/`` level)."""

        def get_task_result_path(self, task_name, model_name, model_revision=None, remote=False, experiment_name=None):
            path = super().get_task_result_path(task_name, model_name, model_revision, remote, experiment_name)
            if remote:
                return path
            return self.cache_path / path.relative_to(self.cache_path / "results")

    return FolderResultCache(cache_path=out)


# --------------------------------------------------------------------------- BEIR cross-check


def beir_scores(qrels: dict[str, dict[str, int]], rankings: dict[str, dict[str, float]]) -> dict[str, float]:
    """nDCG@10, MRR@10 and R@1 computed by BEIR's ``EvaluateRetrieval`` from rankings."""
    from beir.retrieval.evaluation import EvaluateRetrieval

    rankings = {qid: docs for qid, docs in rankings.items() if qid in qrels}
    ndcg, _map, recall, _precision = EvaluateRetrieval.evaluate(qrels, rankings, [1, 10], ignore_identical_ids=False)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, rankings, [10], metric="mrr")
    return {"ndcg_at_10": ndcg["NDCG@10"], "mrr_at_10": mrr["MRR@10"], "recall_at_1": recall["Recall@1"]}


def cross_check(task, predictions_path: Path, scores: dict[str, dict[str, list[dict]]], tolerance: float = BEIR_TOLERANCE) -> list[dict]:
    """Recompute nDCG@10/MRR@10 with BEIR from mteb's rankings; raise if they differ."""
    try:
        predictions = json.loads(Path(predictions_path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        logger.warning("Unreadable rankings %s (an interrupted write?): cross-check skipped; rerun with --overwrite always", predictions_path)
        return []
    rows = []
    for split, subset_scores in scores.items():
        for entry in subset_scores:
            subset = entry["hf_subset"]
            rankings = predictions.get(subset, {}).get(split)
            if rankings is None:
                continue
            qrels = task.dataset[subset][split]["relevant_docs"]
            beir = beir_scores(qrels, rankings)
            for metric in ("ndcg_at_10", "mrr_at_10"):
                difference = abs(beir[metric] - entry[metric])
                rows.append({"task": task.metadata.name, "subset": subset, "split": split, "metric": metric, "mteb": entry[metric], "beir": beir[metric], "difference": difference})
                if difference > tolerance:
                    raise CrossCheckError(
                        f"{task.metadata.name}/{subset}/{split}: {metric} is {entry[metric]:.6f} in mteb but {beir[metric]:.6f} in BEIR "
                        f"(difference {difference:.2e} > {tolerance}); rankings in {predictions_path}."
                    )
    return rows


# --------------------------------------------------------------------------- the evaluation


@dataclass
class EvaluationResult:
    model_name: str
    revision: str
    out: Path
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> {split -> [subset scores]}
    cross_check: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    cache_stats: dict[str, int] = field(default_factory=dict)
    truncation: dict[str, dict] = field(default_factory=dict)
    lengths: dict[str, int | None] = field(default_factory=dict)  # token limits at test time, per side

    def summary_rows(self, metrics=("ndcg_at_10", "mrr_at_10", "recall_at_1")) -> list[list]:
        rows = []
        for task, splits in self.scores.items():
            for split, entries in splits.items():
                for entry in entries:
                    rows.append([task, entry["hf_subset"], split] + [round(entry.get(m, float("nan")), 4) for m in metrics])
        return rows


def _route_input_module(model, side: str):
    from sentence_transformers.models import Router

    first = model[0]
    if isinstance(first, Router):
        route = side if side in first.sub_modules else first.default_route
        return first.sub_modules[route][0]
    return first


def truncation_counts(model, task, prompts: dict | None = None) -> dict:
    """How many queries and documents of a loaded task exceed the encoder's token limit.

    sentence-transformers truncates every input to ``max_seq_length`` tokens (the same cut
    for every model call); this records how often that cut bites, per subset and split.
    """
    prompts = prompts or {}
    counts = {}
    for side, column in (("query", "queries"), ("document", "corpus")):
        module = _route_input_module(model, side)
        tokenizer, limit = getattr(module, "tokenizer", None), getattr(module, "max_seq_length", None)
        if tokenizer is None or not limit:
            continue
        prefix = prompts.get(side, "") or ""
        for subset, splits in (task.dataset or {}).items():
            for split, data in splits.items():
                texts = [prefix + str(text) for text in data[column]["text"]]
                lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]] if texts else []
                entry = counts.setdefault(f"{subset}/{split}", {})
                entry[f"{side}_max_seq_length"] = limit
                entry[f"{column}_truncated"] = sum(length > limit for length in lengths)
                entry[f"{column}_total"] = len(lengths)
    return counts


def remove_corrupt_results(folder: Path) -> list[Path]:
    """Delete result files that do not parse (a run killed while mteb wrote them), so they are recomputed."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.glob("*.json"):
        try:
            json.loads(path.read_text(encoding="utf-8"))  # Python's json accepts mteb's bare NaN
        except (json.JSONDecodeError, UnicodeDecodeError):
            logger.warning("Removing the corrupt result file %s: it will be recomputed", path)
            path.unlink()
            removed.append(path)
    return removed


def evaluate_model(
    model,
    tasks: list,
    out: Path | str,
    *,
    name: str,
    revision: str,
    meta_kwargs: dict | None = None,
    check_beir: bool = True,
    cache_embeddings: bool = True,
    overwrite: str = "only-missing",
    batch_size: int = 64,
    show_progress_bar: bool = True,
    query_translator=None,
    scoring: str = "cosine",
    provenance: dict | None = None,
    verify_cache: int = DEFAULT_VERIFY_SAMPLE,
) -> EvaluationResult:
    """Evaluate a loaded SentenceTransformer on mteb tasks; write MTEB-layout results under ``out``.

    The model's results folder (``<out>/<org>__<model>/<revision>``) is locked for the whole
    evaluation: a second process evaluating the same model revision into the same folder
    waits, then finds the finished results. ``verify_cache`` texts of each cached document
    embedding entry are re-encoded and compared before the entry is used (0: no check).
    """
    if scoring not in ("cosine", "maxsim"):
        raise ValueError(f"Unknown scoring {scoring!r}: use cosine (pooled) or maxsim (late interaction).")
    out = Path(out)
    if scoring == "maxsim":
        revision = f"{revision}-maxsim"
    meta = build_model_meta(model, name, revision, scoring=scoring, **(meta_kwargs or {}))
    side = out / meta.model_name_as_path() / revision / "optical_bench"
    with folder_lock(side, "the results folder"):
        return _evaluate_locked(model, tasks, out, meta, revision, check_beir=check_beir, cache_embeddings=cache_embeddings,
                                overwrite=overwrite, batch_size=batch_size, show_progress_bar=show_progress_bar,
                                query_translator=query_translator, scoring=scoring, provenance=provenance,
                                verify_cache=verify_cache, side=side)


def test_time_lengths(model) -> dict[str, int | None]:
    """The token limits that cut queries and documents at test time (per route)."""
    return {side: getattr(_route_input_module(model, side), "max_seq_length", None) for side in ("query", "document")}


def _evaluate_locked(model, tasks, out: Path, meta, revision: str, *, check_beir, cache_embeddings, overwrite, batch_size,
                     show_progress_bar, query_translator, scoring, provenance, verify_cache, side: Path) -> EvaluationResult:
    import mteb

    for task in tasks:
        task.k_values = K_VALUES
        task._top_k = max(K_VALUES)
        # loaded once here: mteb then keeps the data (it unloads only what it loaded itself),
        # and the BEIR cross-check and the truncation counts below reuse it
        task.load_data()
    out.mkdir(parents=True, exist_ok=True)
    remove_corrupt_results(out / meta.model_name_as_path() / revision)
    encoder = make_encoder(model, meta, cache_embeddings=cache_embeddings, query_translator=query_translator, scoring=scoring,
                           verify_sample=verify_cache)
    prediction_folder = out / ".predictions" / meta.model_name_as_path() / revision
    started = time.perf_counter()
    result = mteb.evaluate(
        encoder,
        tasks,
        cache=_result_cache(out),
        overwrite_strategy=overwrite,
        prediction_folder=prediction_folder if check_beir else None,
        encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
        show_progress_bar=show_progress_bar,
    )
    evaluation = EvaluationResult(model_name=meta.name, revision=revision, out=out, seconds=time.perf_counter() - started)
    by_name = {task.metadata.name: task for task in tasks}
    for task_result in result.task_results:
        evaluation.scores[task_result.task_name] = {split: list(entries) for split, entries in task_result.scores.items()}
        if check_beir:
            task = by_name[task_result.task_name]
            predictions_path = prediction_folder / f"{task_result.task_name}_predictions.json"
            if predictions_path.exists():
                evaluation.cross_check.extend(cross_check(task, predictions_path, evaluation.scores[task_result.task_name]))
            else:
                logger.info("No fresh rankings for %s (results came from the cache): cross-check skipped", task_result.task_name)
    evaluation.cache_stats = dict(getattr(encoder, "stats", {}))
    truncation = {}
    for task in tasks:
        try:
            truncation[task.metadata.name] = truncation_counts(model, task, getattr(model, "prompts", None))
        except Exception as error:  # bookkeeping only: never fail an evaluation over it
            logger.warning("Could not count truncated texts of %s: %s", task.metadata.name, error)
    evaluation.truncation = truncation
    evaluation.lengths = test_time_lengths(model)
    summary = {
        "model": meta.name,
        "revision": revision,
        "seconds": round(evaluation.seconds, 2),
        "cache": evaluation.cache_stats,
        "max_seq_length": evaluation.lengths,
        "truncation": evaluation.truncation,
        "beir_cross_check": {
            "compared": len(evaluation.cross_check),
            "max_difference": max((row["difference"] for row in evaluation.cross_check), default=None),
            "tolerance": BEIR_TOLERANCE,
        },
    }
    # side files live in a subfolder: mteb reads every <model>/<revision>/*.json as a task result
    atomic_write_json(side / "summary.json", summary)
    if provenance:
        atomic_write_json(side / "provenance.json", provenance)
    return evaluation


# --------------------------------------------------------------------------- from a model spec


@dataclass
class LoadedModel:
    """A model ready for :func:`evaluate_model`: the encoder, its name, revision and metadata."""

    model: Any
    name: str
    revision: str
    meta_kwargs: dict
    query_translator: Any = None
    provenance: dict | None = None


def load_for_evaluation(spec: str, name: str | None = None, trust_remote_code: bool = False) -> LoadedModel:
    """Resolve a packaged name, a model folder (ours or any sentence-transformers one), a
    translate-test folder, or a Hugging Face id into a :class:`LoadedModel`."""
    from optical_bench.assets.models import PACKAGED_MODELS, known_model_names, resolve_model
    from optical_bench.models import read_provenance

    path = Path(resolve_model(spec))
    translator = None
    provenance = None
    meta_kwargs: dict = {}
    if path.is_dir() and (path / "translate_test.json").exists():
        config = json.loads((path / "translate_test.json").read_text(encoding="utf-8"))
        from optical_bench.translate import IBMModel1, make_translator

        translator = IBMModel1.load(path / config["translator_file"]) if config.get("translator_file") else make_translator(config["translator"])
        model = load_sentence_transformer(config["teacher"], trust_remote_code=trust_remote_code)
        revision = folder_fingerprint(path)
        name = name or f"translate-test-{Path(str(config['teacher'])).name}"
        meta_kwargs["adapted_from"] = str(config["teacher"])
        provenance = read_provenance(path)
    elif path.is_dir():
        model = load_sentence_transformer(str(path), trust_remote_code=trust_remote_code)
        revision = folder_fingerprint(path)
        packaged = str(spec).lower() if str(spec).lower() in known_model_names() else None
        provenance = None if packaged else read_provenance(path)  # packaged folders carry conversion records, not training provenance
        if provenance:
            name = name or provenance.get("name") or path.name
            teacher = provenance.get("teacher")
            meta_kwargs = {"adapted_from": str(teacher) if teacher else None}
        else:
            name = name or packaged or path.name
            meta_kwargs = PACKAGED_MODELS[packaged].mteb_meta() if packaged else {}
    else:  # a Hugging Face id
        model = load_sentence_transformer(spec, trust_remote_code=trust_remote_code)
        revision = "hub"
        name = name or spec
        meta_kwargs = {"reference": f"https://huggingface.co/{spec}"}
    return LoadedModel(model=model, name=name, revision=revision, meta_kwargs={k: v for k, v in meta_kwargs.items() if v is not None}, query_translator=translator, provenance=provenance)
