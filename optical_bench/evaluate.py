"""Evaluation through ``mteb`` (scores) with a ``beir`` cross-check, and a document-embedding cache.

Every model takes one path: :func:`evaluate_one` parses a spec
(:func:`optical_bench.specs.parse_model_spec`), loads it as an
:class:`~optical_bench.model_specs.EvaluableModel` (a dense model, BM25 or a fusion;
:func:`evaluate_model` for a SentenceTransformer already loaded) and :func:`evaluate_evaluable`
runs ``mteb.evaluate`` with

- a named, fully specified :class:`mteb.ModelMeta` whose revision is the content hash
  of the model folder (each checkpoint gets its own revision, so mteb's
  ``only-missing`` strategy never returns another checkpoint's scores);
- mteb's own :class:`mteb.ResultCache` rooted at ``out``, so ``mteb.ResultCache(out).load_results()``
  reads what was written: ``<out>/results/<org>__<model>/<revision>/<Task>.json`` plus
  ``model_meta.json``; a model whose ModelMeta carries ``experiment_kwargs`` (a study run)
  lands in mteb's experiment folder ``<revision>/experiments/<name>/``;
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
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mteb
from beir.retrieval.evaluation import EvaluateRetrieval
from mteb.cache import ResultCache
from sentence_transformers.models import Router

from optical_bench.embedding_cache import DEFAULT_VERIFY_SAMPLE, tokenizer_fingerprint
from optical_bench.io import ReportedError, folder_lock
from optical_bench.model_specs import EvaluableModel, LoadedModel, dense_evaluable
from optical_bench.result_files import (
    AtomicResultCache,
    ensure_model_meta,
    set_aside_failed_check,
    set_aside_stale_results,
    write_side_file,
)
from optical_bench.search_models import load_evaluable
from optical_bench.specs import BM25, ModelSpec, parse_model_spec

logger = logging.getLogger(__name__)

BEIR_TOLERANCE = 1e-4
K_VALUES = [1, 3, 5, 10, 20, 100]


class CrossCheckError(ReportedError):
    """mteb and BEIR disagree on a metric computed from the same rankings (the task's result and
    rankings are set aside: the next run recomputes them)."""


def result_folder(out: Path | str, meta) -> Path:
    """The folder where mteb's ``ResultCache(out)`` writes the task results of ``meta``:
    ``<out>/results/<org>__<model>/<revision>`` (``.../experiments/<name>`` for a study run)."""
    return ResultCache(cache_path=out).get_task_result_path("Task", meta).parent


def predictions_folder(out: Path | str, meta) -> Path:
    """Where mteb's rankings of ``meta`` go: ``<out>/results/.predictions/<the same relative path>``
    (mteb reads only ``results/*/*/*.json`` and ``.../experiments/*/*.json`` as task results)."""
    results = Path(out) / "results"
    return results / ".predictions" / result_folder(out, meta).relative_to(results)


# --------------------------------------------------------------------------- BEIR cross-check


def beir_scores(qrels: dict[str, dict[str, int]], rankings: dict[str, dict[str, float]]) -> dict[str, float]:
    """nDCG@10, MRR@10 and R@1 computed by BEIR's ``EvaluateRetrieval`` from rankings."""

    # ties in the order pytrec_eval and mteb break them (score, then document id, both descending):
    # BEIR's MRR sorts by score alone, so tied documents would keep the file's order
    rankings = {
        qid: dict(sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)) for qid, docs in rankings.items() if qid in qrels
    }
    ndcg, _map, recall, _precision = EvaluateRetrieval.evaluate(qrels, rankings, [1, 10], ignore_identical_ids=False)
    mrr = EvaluateRetrieval.evaluate_custom(qrels, rankings, [10], metric="mrr")
    return {"ndcg_at_10": ndcg["NDCG@10"], "mrr_at_10": mrr["MRR@10"], "recall_at_1": recall["Recall@1"]}


def cross_check(task, predictions_path: Path, scores: dict[str, dict[str, list[dict]]], tolerance: float = BEIR_TOLERANCE) -> list[dict]:
    """Recompute nDCG@10/MRR@10 with BEIR from mteb's rankings; raise if they differ."""
    try:
        predictions = json.loads(Path(predictions_path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        logger.warning(
            "Unreadable rankings %s (an interrupted write?): cross-check skipped; rerun with --overwrite always", predictions_path
        )
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
                rows.append(
                    {
                        "task": task.metadata.name,
                        "subset": subset,
                        "split": split,
                        "metric": metric,
                        "mteb": entry[metric],
                        "beir": beir[metric],
                        "difference": difference,
                    }
                )
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
    out: Path  # the result cache root
    folder: Path | None = None  # where the task results are (:func:`result_folder`)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> {split -> [subset scores]}
    cross_check: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    cache_stats: dict[str, int] = field(default_factory=dict)
    truncation: dict[str, dict] = field(default_factory=dict)
    lengths: dict[str, int | None] = field(default_factory=dict)  # token limits at test time, per side
    evaluated: list[str] = field(default_factory=list)  # tasks whose results this call computed (the rest were reused)

    def summary_rows(self, metrics=("ndcg_at_10", "mrr_at_10", "recall_at_1")) -> list[list]:
        rows = []
        for task, splits in self.scores.items():
            for split, entries in splits.items():
                for entry in entries:
                    rows.append([task, entry["hf_subset"], split] + [round(entry.get(m, float("nan")), 4) for m in metrics])
        return rows


@dataclass(frozen=True)
class EvaluationOptions:
    """How an evaluation runs, whatever it evaluates: the options of ``optical-bench evaluate``.

    ``verify_cache`` texts of each cached document-embedding entry are re-encoded and compared
    before the entry is used (0: no check). ``devices`` (two or more, e.g. ``("cuda:0", "cuda:1")``)
    encode the documents with sentence-transformers' multi-process pool, one process per device;
    queries stay in this process. ``scoring``: ``cosine`` (pooled) or ``maxsim`` (late interaction)."""

    check_beir: bool = True
    cache_embeddings: bool = True
    overwrite: str = "only-missing"
    batch_size: int = 64
    progress: bool = True
    scoring: str = "cosine"
    verify_cache: int | None = DEFAULT_VERIFY_SAMPLE
    devices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.verify_cache is None:  # not given: the default sample
            object.__setattr__(self, "verify_cache", DEFAULT_VERIFY_SAMPLE)
        if self.scoring not in ("cosine", "maxsim"):
            raise ValueError(f"Unknown scoring {self.scoring!r}: use cosine (pooled) or maxsim (late interaction).")
        if self.devices is not None:
            object.__setattr__(self, "devices", tuple(self.devices))


def _route_input_module(model, side: str):

    first = model[0]
    if isinstance(first, Router):
        route = side if side in first.sub_modules else first.default_route
        return first.sub_modules[route][0]
    return first


TRUNCATION_CHUNK = 8192  # texts tokenized at a time: memory stays bounded on a million-passage corpus
_truncation_memo: dict[str, int] = {}  # fingerprint of (tokenizer, limit, texts) -> truncated count


def count_truncated(tokenizer, texts: Sequence[str], limit: int) -> int:
    """How many of ``texts`` have more than ``limit`` tokens (special tokens included).

    Tokenized :data:`TRUNCATION_CHUNK` texts at a time, and remembered for this process by a
    fingerprint of the tokenizer's content, the limit and the texts: the students of one
    teacher share its document route, so their corpora are counted once.
    """
    digest = hashlib.sha256(f"{tokenizer_fingerprint(tokenizer)}\0{limit}".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    key = digest.hexdigest()
    if key not in _truncation_memo:
        truncated = 0
        for start in range(0, len(texts), TRUNCATION_CHUNK):
            # verbose=False: no "indexing errors" warning, since these texts are only counted, never fed to the model
            ids = tokenizer(list(texts[start : start + TRUNCATION_CHUNK]), add_special_tokens=True, verbose=False)["input_ids"]
            truncated += sum(len(row) > limit for row in ids)
        _truncation_memo[key] = truncated
    return _truncation_memo[key]


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
                entry = counts.setdefault(f"{subset}/{split}", {})
                entry[f"{side}_max_seq_length"] = limit
                entry[f"{column}_truncated"] = count_truncated(tokenizer, texts, limit) if texts else 0
                entry[f"{column}_total"] = len(texts)
    return counts


def evaluate_model(
    model,
    tasks: list,
    out: Path | str,
    *,
    name: str,
    revision: str,
    meta_kwargs: dict | None = None,
    options: EvaluationOptions | None = None,
    query_translator=None,
    provenance: dict | None = None,
) -> EvaluationResult:
    """Evaluate a loaded SentenceTransformer on mteb tasks, as ``options`` say (default:
    :class:`EvaluationOptions`): :func:`evaluate_evaluable` of its
    :func:`~optical_bench.model_specs.dense_evaluable` (``name``, ``revision`` and ``meta_kwargs``
    make its ModelMeta; ``query_translator``: translate-test)."""
    options = options or EvaluationOptions()
    loaded = LoadedModel(model, name, revision, dict(meta_kwargs or {}), query_translator=query_translator, provenance=provenance)
    return evaluate_evaluable(dense_evaluable(loaded, encoder_options(options)), tasks, out, options=options)


def encoder_options(options: EvaluationOptions) -> dict[str, Any]:
    """The options of :func:`optical_bench.encoders.make_encoder` that an evaluation's options set."""
    return {"cache_embeddings": options.cache_embeddings, "scoring": options.scoring, "verify_sample": options.verify_cache}


def _cross_check_fresh(task, scores: dict, folder: Path, prediction_folder: Path) -> list[dict]:
    """:func:`cross_check` on the rankings this evaluation wrote; a task that fails it has its result
    and rankings set aside (so the next run recomputes them instead of reusing them)."""
    name = task.metadata.name
    predictions_path = prediction_folder / f"{name}_predictions.json"
    if not predictions_path.exists():
        logger.info("No fresh rankings for %s (results came from the cache): cross-check skipped", name)
        return []
    try:
        return cross_check(task, predictions_path, scores)
    except CrossCheckError as error:
        set_aside_failed_check(folder, prediction_folder, name)
        raise CrossCheckError(
            f"{error} Its result and rankings were set aside (*.failed-check-*), so the next run recomputes them. "
            "Fix: rerun; if it fails again, report it with those files, or pass --no-check-beir."
        ) from None


def test_time_lengths(model) -> dict[str, int | None]:
    """The token limits that cut queries and documents at test time (per route)."""
    return {side: getattr(_route_input_module(model, side), "max_seq_length", None) for side in ("query", "document")}


def tightest_lengths(encoders: list) -> dict[str, int | None]:
    """The token limits of an evaluated model per side: the tightest of its dense encoders' (BM25
    reads whole texts: None when no encoder cuts)."""
    limits: dict[str, int | None] = {"query": None, "document": None}
    for encoder in encoders:
        for side, limit in test_time_lengths(encoder.model).items():
            if limit is not None:
                limits[side] = limit if limits[side] is None else min(limits[side], limit)
    return limits


def _prepare(tasks, out: Path, meta, side: Path) -> Path:
    """Load every task once (mteb then keeps the data; the BEIR cross-check and the truncation
    counts reuse it), set aside what must not be reused; returns the rankings folder."""
    for task in tasks:
        task.k_values = K_VALUES
        task._top_k = max(K_VALUES)
        task.load_data()
    out.mkdir(parents=True, exist_ok=True)
    prediction_folder = predictions_folder(out, meta)
    set_aside_stale_results(side.parent, prediction_folder, tasks)
    return prediction_folder


def _result_stamps(folder: Path, tasks) -> dict[str, tuple[int, int] | None]:
    """Each task's result file as (inode, modification time), None where there is none yet. Result
    files are replaced atomically, so a stamp that changed over an evaluation marks a result it
    computed, and one that stayed marks a result it reused."""
    stamps = {}
    for task in tasks:
        path = folder / f"{task.metadata.name}.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            stamps[task.metadata.name] = None
        else:
            stamps[task.metadata.name] = (stat.st_ino, stat.st_mtime_ns)
    return stamps


def _run_mteb(mteb_model, tasks, out: Path, meta, options: EvaluationOptions, side: Path, prediction_folder: Path) -> EvaluationResult:
    """``mteb.evaluate`` of an encoder or a search model, then the BEIR cross-check of its fresh rankings."""
    before = _result_stamps(side.parent, tasks)
    started = time.perf_counter()
    result = mteb.evaluate(
        mteb_model,
        tasks,
        cache=AtomicResultCache(cache_path=out),
        overwrite_strategy=options.overwrite,
        prediction_folder=prediction_folder if options.check_beir else None,
        encode_kwargs={"batch_size": options.batch_size, "show_progress_bar": options.progress},
        show_progress_bar=options.progress,
    )
    evaluation = EvaluationResult(
        model_name=meta.name, revision=meta.revision, out=out, folder=side.parent, seconds=time.perf_counter() - started
    )
    after = _result_stamps(side.parent, tasks)
    evaluation.evaluated = [name for name, stamp in after.items() if stamp != before[name]]
    by_name = {task.metadata.name: task for task in tasks}
    for task_result in result.task_results:
        evaluation.scores[task_result.task_name] = {split: list(entries) for split, entries in task_result.scores.items()}
        if options.check_beir:
            task = by_name[task_result.task_name]
            evaluation.cross_check.extend(
                _cross_check_fresh(task, evaluation.scores[task_result.task_name], side.parent, prediction_folder)
            )
    ensure_model_meta(side.parent, meta)
    return evaluation


def _write_summary(evaluation: EvaluationResult, tasks, side: Path, provenance: dict | None) -> None:
    """The side files of an evaluation. When every result was reused from an earlier evaluation
    (a resumed run), that evaluation's summary (its time, cache use and cross-check) stays as it is."""
    if provenance:
        write_side_file(side / "provenance.json", provenance)
    if not evaluation.evaluated and (side / "summary.json").exists():
        logger.info("Every result in %s was reused: its summary.json is kept as it was", side.parent)
        return
    summary = {
        "model": evaluation.model_name,
        "revision": evaluation.revision,
        "seconds": round(evaluation.seconds, 2),
        "evaluated_tasks": evaluation.evaluated,
        "cache": evaluation.cache_stats,
        "max_seq_length": evaluation.lengths,
        "truncation": evaluation.truncation,
        "tasks": {
            task.metadata.name: {"eval_langs": task.metadata.eval_langs, "low_resource_side": getattr(task, "low_resource_side", None)}
            for task in tasks
        },
        "beir_cross_check": {
            "compared": len(evaluation.cross_check),
            "max_difference": max((row["difference"] for row in evaluation.cross_check), default=None),
            "tolerance": BEIR_TOLERANCE,
        },
    }
    # side files live in a subfolder: mteb reads every <model>/<revision>/*.json as a task result
    write_side_file(side / "summary.json", summary)


@contextmanager
def _document_pool(evaluable: EvaluableModel, devices: tuple[str, ...] | None):
    """With two or more ``devices``, a dense model evaluated alone encodes its documents with
    sentence-transformers' multi-process pool (one process per device) while the block runs."""
    if evaluable.dense_model is None or not devices or len(devices) < 2:
        yield
        return
    pool = evaluable.dense_model.start_multi_process_pool(list(devices))
    for encoder in evaluable.encoders:
        encoder.pool = pool
    try:
        yield
    finally:
        for encoder in evaluable.encoders:
            encoder.pool = None
        evaluable.dense_model.stop_multi_process_pool(pool)


def _truncation(dense_model, tasks) -> dict[str, dict]:
    """How many texts of each task the dense model's token limit cuts (none counted for BM25 or a fusion)."""
    truncation: dict[str, dict] = {}
    if dense_model is None:
        return truncation
    for task in tasks:
        try:
            truncation[task.metadata.name] = truncation_counts(dense_model, task, getattr(dense_model, "prompts", None))
        except Exception as error:  # bookkeeping only: never fail an evaluation over it
            logger.warning("Could not count truncated texts of %s: %s", task.metadata.name, error)
    return truncation


def evaluate_evaluable(
    evaluable: EvaluableModel, tasks: list, out: Path | str, *, options: EvaluationOptions | None = None
) -> EvaluationResult:
    """Evaluate any model (:class:`~optical_bench.model_specs.EvaluableModel`: dense, BM25 or a
    fusion) on mteb tasks: mteb's scores and rankings in the result cache rooted at ``out``
    (:func:`result_folder`), the BEIR cross-check, and the side files (``summary.json``: time,
    document-cache counts, token limits, truncated texts; ``provenance.json``).

    The model's results folder (``<out>/results/<org>__<model>/<revision>``) is locked for the whole
    evaluation: a second process evaluating the same model revision into the same folder
    waits, then finds the finished results.
    """
    options = options or EvaluationOptions()
    out = Path(out)
    meta = evaluable.meta
    side = result_folder(out, meta) / "optical_bench"
    with folder_lock(side, "the results folder"):
        prediction_folder = _prepare(tasks, out, meta, side)
        with _document_pool(evaluable, options.devices):
            evaluation = _run_mteb(evaluable.model, tasks, out, meta, options, side, prediction_folder)
        stats: dict[str, int] = {}
        for encoder in evaluable.encoders:
            for key, value in getattr(encoder, "stats", {}).items():
                stats[key] = stats.get(key, 0) + value
        evaluation.cache_stats = stats
        evaluation.truncation = _truncation(evaluable.dense_model, tasks)
        evaluation.lengths = tightest_lengths(evaluable.encoders)
        _write_summary(evaluation, tasks, side, evaluable.provenance)
    return evaluation


evaluate_searcher = evaluate_evaluable  # BM25 and fusions (:mod:`optical_bench.search_models`) take the same path


def check_spec_options(spec: ModelSpec, options: EvaluationOptions) -> None:
    """Refuse, before anything loads, the options that mean nothing for ``spec``: several
    ``--devices`` for anything but one dense model, and ``--scoring`` for BM25."""
    if options.devices and len(options.devices) > 1 and spec.is_search:
        raise ValueError(
            f"--devices {' '.join(options.devices)}: {spec.text!r} is searched in one process (BM25, and a fusion's members one "
            "after the other), so several devices would go unused. Fix: drop --devices; to spread a dense model over "
            "devices, evaluate it alone (--model MODEL --devices ...)."
        )
    if spec.kind == BM25 and options.scoring != "cosine":
        raise ValueError(f"--scoring {options.scoring} applies to encoders, not to {spec.text!r}. Fix: drop --scoring.")


def evaluate_one(
    spec: str | ModelSpec,
    tasks,
    out: Path,
    *,
    name: str | None = None,
    options: EvaluationOptions | None = None,
    experiment_kwargs: dict | None = None,
) -> EvaluationResult:
    """Parse and load ``spec`` (:func:`optical_bench.specs.parse_model_spec`,
    :func:`optical_bench.search_models.load_evaluable`: a dense model, ``bm25...`` or
    ``fuse:<spec>+<spec>``) and evaluate it on ``tasks`` into the mteb result cache rooted at
    ``out`` (:func:`evaluate_evaluable`): ``optical-bench evaluate`` for one model.
    ``experiment_kwargs`` (a study run's options) become the ModelMeta's, so that
    ``mteb.ResultCache(out).load_results(experiment_kwargs=...)`` selects the run."""
    options = options or EvaluationOptions()
    spec = parse_model_spec(spec)
    check_spec_options(spec, options)
    evaluable = load_evaluable(spec, name=name, encoder_options=encoder_options(options))
    if experiment_kwargs:
        evaluable.model.mteb_model_meta = evaluable.meta.model_copy(update={"experiment_kwargs": dict(experiment_kwargs)})
    return evaluate_evaluable(evaluable, tasks, out, options=options)
