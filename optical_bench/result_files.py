"""What an evaluation writes under ``--out``, kept complete, current and recognisable.

mteb writes a task's result (``<Task>.json``), ``model_meta.json`` and its rankings
(``.predictions/.../<Task>_predictions.json``) in place, and reads the rankings back to merge
the next split into them: a run killed in the middle of either write left a truncated file
that every later run tripped over. Here

- :class:`AtomicResultCache` (mteb's :class:`~mteb.cache.ResultCache`) lets mteb write into a
  staging folder and moves each finished file into place with ``os.replace``;
- :func:`save_predictions` is the task classes' ``_save_task_predictions``: the same JSON as
  mteb's, written atomically, an unreadable old file set aside instead of read;
- :func:`set_aside_stale_results` runs before every evaluation: a result or rankings file that
  does not parse, a result computed on other data (its ``dataset_revision`` differs from the
  task's, or the content fingerprint of a subset/split differs from the one recorded when it
  was computed), and the rankings that go with either are renamed ``<name>.<why>-<time>``
  (:func:`optical_bench.io.set_aside`), so mteb recomputes them and nothing reads them again.

A data fingerprint is the SHA-256 of what a task's loader returned for one subset and split
(document ids, titles, texts; query ids and texts; judgements), so an edit of any file read,
a built collection, a BEIR folder or a local hub mirror alike, is seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mteb.cache import ResultCache

from optical_bench.io import atomic_write_json, is_read_only_error, set_aside
from optical_bench.results import QRELS_FINGERPRINTS_FILE, QRELS_SUFFIX, qrels_fingerprint

logger = logging.getLogger(__name__)

FINGERPRINTS_FILE = "optical_bench/data_fingerprints.json"  # {task: {"subset/split": sha256}}
PREDICTIONS_SUFFIX = "_predictions.json"


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or ``None`` when it is missing, empty, truncated or not UTF-8."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))  # Python's json accepts mteb's bare NaN
    except (OSError, ValueError):
        return None


class AtomicResultCache(ResultCache):
    """mteb's result cache whose writes are atomic: mteb's own :meth:`save_to_cache` writes
    ``<Task>.json``, ``model_meta.json`` and ``run_settings.jsonl`` into a staging folder beside
    ``results/``; each finished file then replaces its target with ``os.replace``."""

    def save_to_cache(self, task_result, model_name, model_revision=None, *, encode_kwargs=None) -> None:
        target = Path(self.get_task_result_path(task_result.task_name, model_name, model_revision)).parent
        staging_root = Path(self.cache_path) / f".staging-{uuid.uuid4().hex[:12]}"
        try:
            staging = ResultCache(cache_path=staging_root)
            staged = Path(staging.get_task_result_path(task_result.task_name, model_name, model_revision)).parent
            staged.mkdir(parents=True, exist_ok=True)
            if (target / "run_settings.jsonl").exists():  # mteb merges into the existing file
                shutil.copyfile(target / "run_settings.jsonl", staged / "run_settings.jsonl")
            staging.save_to_cache(task_result, model_name, model_revision, encode_kwargs=encode_kwargs)
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted(staged.iterdir()):
                if path.is_file():
                    os.replace(path, target / path.name)
        finally:
            shutil.rmtree(staging_root, ignore_errors=True)


def save_predictions(task, predictions, model, prediction_folder: Path, hf_split: str, hf_subset: str) -> None:
    """mteb's ``AbsTask._save_task_predictions`` (same file, same JSON), written atomically; an
    existing file that does not parse is set aside (its rankings are recomputed with the task)."""
    path = Path(task._predictions_path(prediction_folder))
    meta = model.mteb_model_meta
    existing = {"mteb_model_meta": {"model_name": meta.name, "revision": meta.revision}}
    if path.exists():
        previous = read_json(path)
        if isinstance(previous, dict):
            existing = previous
        else:
            moved = set_aside(path, "incomplete")
            logger.warning("%s did not parse (an interrupted write); set aside as %s.", path, moved.name if moved else path)
    existing.setdefault(hf_subset, {})[hf_split] = predictions
    atomic_write_json(path, existing, indent=None)


def data_fingerprint(split_data: Mapping[str, Any]) -> str:
    """SHA-256 of one subset/split as mteb reads it: corpus (id, title, text), queries (id, text), qrels."""
    digest = hashlib.sha256()

    def add(*values) -> None:
        for value in values:
            digest.update(str(value).encode("utf-8"))
            digest.update(b"\0")

    corpus, queries = split_data["corpus"], split_data["queries"]
    titles = corpus["title"] if "title" in corpus.column_names else [""] * len(corpus)
    add("corpus", len(corpus))
    for row in zip(corpus["id"], titles, corpus["text"]):
        add(*row)
    add("queries", len(queries))
    for row in zip(queries["id"], queries["text"]):
        add(*row)
    add("qrels")
    for qid in sorted(split_data["relevant_docs"]):
        for did, score in sorted(split_data["relevant_docs"][qid].items()):
            add(qid, did, score)
    return digest.hexdigest()


def task_fingerprints(task) -> dict[str, str]:
    """``{"subset/split": fingerprint}`` of a loaded task (what :func:`data_fingerprint` gives)."""
    fingerprints = getattr(task, "data_fingerprints", None)
    if fingerprints is None:
        fingerprints = {
            f"{subset}/{split}": data_fingerprint(data) for subset, splits in (task.dataset or {}).items() for split, data in splits.items()
        }
        task.data_fingerprints = fingerprints
    return fingerprints


def _stale_reason(task, result: Any, recorded: Mapping[str, str]) -> str | None:
    """Why a parsed result file of ``task`` must not be reused, or ``None``."""
    if not isinstance(result, dict) or "scores" not in result:
        return "incomplete"
    revision = task.metadata.revision
    if result.get("dataset_revision") not in (None, revision):
        return f"data revision {result.get('dataset_revision')} (the data now hash to {revision})"
    scored = {
        f"{entry.get('hf_subset', 'default')}/{split}"
        for split, entries in (result.get("scores") or {}).items()
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    }
    for key, fingerprint in task_fingerprints(task).items():
        if key in recorded and recorded[key] != fingerprint:
            return f"other data in {key} (fingerprint {recorded[key][:12]}, now {fingerprint[:12]})"
        if key in scored and key not in recorded and not getattr(task, "revision_is_content_hash", True):
            # a downloaded task's revision names a branch, not its content: without the fingerprint
            # recorded beside the score (results of an earlier release, a copied folder) nothing says which data it saw
            return f"data of revision {revision!r}, a branch whose files may have changed, with no record of {key}'s data"
    return None


def set_aside_stale_results(folder: Path, prediction_folder: Path, tasks: Iterable) -> list[Path]:
    """Before an evaluation: set aside every file of ``folder`` (a model revision's results) and
    ``prediction_folder`` that must not be reused, then record the data fingerprints of ``tasks``
    (and, in ``optical_bench/qrels_fingerprints.json``, their qrels' own, which ``seeds`` and
    ``report`` check before they score the rankings again).

    A ``*.json`` that does not parse is set aside as ``incomplete``; a task's result computed on
    other data (:func:`_stale_reason`) as ``stale``, with its rankings; rankings that do not parse
    as ``incomplete``, with their task's result (the two are redone together). Returns the new
    paths of the files set aside."""
    moved: list[Path] = []

    def move(path: Path, why: str, reason: str) -> None:
        target = set_aside(path, why)
        if target is not None:
            logger.warning("%s: %s; set aside as %s and recomputed.", path, reason, target.name)
            moved.append(target)

    for place in (folder, prediction_folder):  # temp files of a write that was killed (we hold the folder's lock)
        for temp in sorted(place.glob(".*.json.*.tmp")) if place.is_dir() else []:
            temp.unlink(missing_ok=True)
            logger.info("%s: the temp file of an interrupted write; removed.", temp)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if read_json(path) is None:
            move(path, "incomplete", "does not parse (an interrupted write)")
    records = read_json(folder / FINGERPRINTS_FILE)
    records = records if isinstance(records, dict) else {}
    qrels_records = read_json(folder / QRELS_FINGERPRINTS_FILE)
    qrels_records = qrels_records if isinstance(qrels_records, dict) else {}
    for task in tasks:
        name = task.metadata.name
        result_path, rankings_path = folder / f"{name}.json", prediction_folder / f"{name}{PREDICTIONS_SUFFIX}"
        fresh = False  # the task's earlier results are set aside: so are the records of their data
        if rankings_path.exists() and not isinstance(read_json(rankings_path), dict):
            move(rankings_path, "incomplete", "rankings that do not parse (an interrupted write)")
            move(result_path, "incomplete", "its rankings were incomplete")
            fresh = True
        elif result_path.exists():
            reason = _stale_reason(task, read_json(result_path), records.get(name, {}))
            if reason:
                move(result_path, "stale", f"computed on {reason}")
                move(rankings_path, "stale", f"rankings computed on {reason}")
                fresh = True
        if fresh:
            records.pop(name, None)
            qrels_records.pop(name, None)
        records[name] = {**records.get(name, {}), **task_fingerprints(task)}
        _store_qrels(prediction_folder / f"{name}{QRELS_SUFFIX}", task, fresh=fresh)
        qrels_records[name] = {
            **(qrels_records.get(name) if isinstance(qrels_records.get(name), dict) else {}),
            **{
                f"{subset}/{split}": qrels_fingerprint(data["relevant_docs"])
                for subset, splits in (task.dataset or {}).items()
                for split, data in splits.items()
            },
        }
    write_side_file(folder / FINGERPRINTS_FILE, records)
    write_side_file(folder / QRELS_FINGERPRINTS_FILE, qrels_records)
    return moved


def _store_qrels(path: Path, task, fresh: bool) -> None:
    """The judgements this evaluation scores ``task`` with, ``{subset: {split: qrels}}``, beside its
    rankings: ``report`` and ``seeds`` read them there, whatever the task's source (a BEIR folder
    given with --beir, a card, a mirror). ``fresh``: the task's earlier results were set aside, so
    are its earlier judgements."""
    stored = None if fresh else read_json(path)
    stored = stored if isinstance(stored, dict) else {}
    for subset, splits in (task.dataset or {}).items():
        stored.setdefault(subset, {}).update({split: data["relevant_docs"] for split, data in splits.items()})
    if stored:
        write_side_file(path, stored, indent=None)


def write_side_file(path: Path, data: Any, indent: int | None = 2) -> bool:
    """Write one of optical-bench's side files atomically; in a read-only results folder (finished
    results being read) say so once and go on: they only describe results that are already there."""
    try:
        atomic_write_json(path, data, indent=indent)
        return True
    except OSError as error:
        if not is_read_only_error(error):
            raise
        logger.warning(
            "%s: the results folder is read-only (%s); finished results are read, %s is not updated.",
            path.parent,
            error.strerror,
            path.name,
        )
        return False


def set_aside_failed_check(folder: Path, prediction_folder: Path, task_name: str) -> None:
    """A task whose scores failed the BEIR cross-check: its result and rankings are set aside, so
    the next run recomputes them instead of reusing them without a word."""
    for path in (folder / f"{task_name}.json", prediction_folder / f"{task_name}{PREDICTIONS_SUFFIX}"):
        set_aside(path, "failed-check")


def ensure_model_meta(folder: Path, meta) -> None:
    """Write ``model_meta.json`` where it is missing or does not parse: mteb writes it only with a
    new task result, and ``ResultCache.load_results`` skips a revision folder without it."""
    path = folder / "model_meta.json"
    if folder.is_dir() and not isinstance(read_json(path), dict):
        write_side_file(path, json.loads(json.dumps(meta.to_dict(), default=str)), indent=4)
