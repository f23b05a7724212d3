"""What every table of a report shares: the runs, their labels, qrels and cached per-query scores.

:class:`ReportContext` holds the runs read from MTEB results folders
(:func:`optical_bench.results.load_runs`), a label per run, and the per-query scores that
:mod:`optical_bench.significance` computes from mteb's rankings (``.predictions``) and the
task's qrels (:func:`default_qrels_loader`), so that each is computed once per report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optical_bench.results import RunResults, load_runs

logger = logging.getLogger(__name__)

__all__ = ["QrelsLoader", "ReportContext", "as_qrels_loader", "default_qrels_loader", "is_run_list", "run_labels", "task_order"]

QrelsLoader = Callable[[str, "str | None"], "Mapping[str, Mapping[str, Any]] | None"]


# =========================================================================== qrels


def default_qrels_loader(build_root: Path | str | None = None) -> QrelsLoader:
    """Qrels of optical-bench's tasks for results that have none stored beside their rankings,
    read where the data already are (nothing is built or downloaded for a report).

    A task with a card asks its source (:meth:`optical_bench.task_sources.TaskSource.qrels`): a
    built-in task looks in ``build_root``, else in every build under ``<cache>/collections/``; a
    downloaded one (AfriQA, AfriCLIRMatrix, CIRAL) in the mirror (``--hub-dir``) or the cache of
    earlier downloads; a ``beir`` card in its folder. Each gives the qrels only from the place whose
    revision equals the results' ``dataset_revision`` (so the qrels are the ones the rankings were
    scored with). A task without a card is a BEIR folder of the cache (:func:`_cached_beir_qrels`).
    Returns ``loader(task_name, dataset_revision) -> {subset: {split: qrels}} | None``.
    """
    cache: dict[tuple[str, str | None], Any] = {}

    def load(task_name: str, dataset_revision: str | None = None):
        key = (task_name, dataset_revision)
        if key not in cache:
            cache[key] = _task_qrels(task_name, dataset_revision, build_root)
        return cache[key]

    return load


def _task_qrels(task_name: str, dataset_revision: str | None, build_root) -> dict[str, dict[str, Any]] | None:
    from optical_bench.cards import load_cards
    from optical_bench.task_sources import task_source

    try:
        card = load_cards().get(task_name)
    except Exception as error:
        logger.info("No task cards (%s): no qrels for %s.", error, task_name)
        return None
    if card is None:
        return _cached_beir_qrels(task_name, dataset_revision)
    qrels = task_source(card).qrels(card, dataset_revision, Path(build_root) if build_root else None)
    if qrels is None:
        logger.info("No data of %s (revision %s) here: no significance marks for it.", task_name, dataset_revision)
    return qrels


def _cached_beir_qrels(task_name: str, dataset_revision: str | None) -> dict[str, dict[str, Any]] | None:
    """Qrels of a BEIR-folder task that optical-bench built in its cache (a named collection such as
    ``mafand-hau-dev``, task ``MafandNewsDev_hau``): the folder whose ``task.toml`` names the task and
    whose content hash is the results' ``dataset_revision`` (:func:`optical_bench.tasks.beir_task`),
    so the qrels are the ones the rankings were scored with. ``None`` when no such folder is there."""
    from optical_bench.data.beir import read_beir_folder
    from optical_bench.io import home
    from optical_bench.tasks import beir_revision, read_beir_sidecar

    for sidecar in sorted(home().glob("*/*/*/task.toml")):
        folder = sidecar.parent
        try:
            if read_beir_sidecar(folder).get("name") != task_name:
                continue
            if dataset_revision and beir_revision(folder) != dataset_revision:
                continue
            return {"default": read_beir_folder(folder).qrels}
        except Exception as error:  # a folder being written, or not a BEIR folder: try the next
            logger.info("Cached folder %s gives no qrels for %s (%s).", folder, task_name, error)
    return None


def as_qrels_loader(qrels: QrelsLoader | Mapping[str, Any] | None, build_root: Path | str | None) -> QrelsLoader:
    if qrels is None:
        return default_qrels_loader(build_root)
    if callable(qrels):
        return qrels
    return lambda task, revision=None: qrels.get(task)


# =========================================================================== shared state


@dataclass
class ReportContext:
    """The runs of a report, their labels, and cached per-query scores."""

    runs: list[RunResults]
    qrels: QrelsLoader
    test: str = "randomization"
    n_samples: int = 10_000
    seed: int = 0
    alpha: float = 0.05
    labels: list[str] = field(default_factory=list)
    _per_query: dict[tuple[int, str, str], dict[str, dict[str, float]] | None] = field(default_factory=dict)
    _predictions: dict[tuple[int, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = run_labels(self.runs)

    @classmethod
    def from_dirs(cls, results_dirs, qrels=None, build_root=None, **kwargs) -> ReportContext:
        runs = [r for r in results_dirs if isinstance(r, RunResults)] if is_run_list(results_dirs) else load_runs(results_dirs)
        if not runs:
            raise FileNotFoundError(f"No MTEB results (<org>__<model>/<revision>/<Task>.json) under {results_dirs}.")
        return cls(runs=runs, qrels=as_qrels_loader(qrels, build_root), **kwargs)

    def tasks(self) -> list[str]:
        return task_order({task for run in self.runs for task in run.tasks})

    def index(self, name: str) -> int:
        """The run a user means by ``name``: full name, short name, label or ``name@revision``."""
        matches = [
            i
            for i, (run, label) in enumerate(zip(self.runs, self.labels))
            if name in (run.model, run.short_name, label, f"{run.model}@{run.revision}", f"{run.short_name}@{run.revision}")
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise KeyError(f"No model {name!r} in the results; models: {', '.join(self.labels)}.")
        raise KeyError(f"{name!r} matches several runs ({', '.join(self.labels[i] for i in matches)}); name one as MODEL@REVISION.")

    def per_query(self, index: int, task: str, metric: str) -> dict[str, dict[str, float]] | None:
        """{subset: {qid: score}} of run ``index`` on ``task`` (None without rankings or qrels)."""
        key = (index, task, metric)
        if key in self._per_query:
            return self._per_query[key]
        self._per_query[key] = None
        run = self.runs[index]
        if metric in (None, "main_score"):
            metric = run.main_metric(task)
        if not metric or task not in run.predictions:
            return None
        from optical_bench.significance import load_predictions, per_query_scores

        stored = run.stored_qrels(task)  # the judgements the rankings were scored with: nothing to check
        qrels = stored or self.qrels(task, run.tasks[task].get("dataset_revision"))
        if not qrels:
            return None
        try:
            if (index, task) not in self._predictions:
                self._predictions[(index, task)] = load_predictions(run.predictions[task])
            predictions = self._predictions[(index, task)]
            split = run.split(task)
            out = {}
            for subset in run.subset_entries(task):
                subset_qrels = qrels.get(subset)
                if subset_qrels and split in subset_qrels and isinstance(next(iter(subset_qrels[split].values()), None), Mapping):
                    subset_qrels = subset_qrels[split]
                ranking = (predictions.get(subset) or {}).get(split)
                if not subset_qrels or ranking is None:
                    return None
                changed = None if stored else run.qrels_changed(task, subset, split, subset_qrels)
                if changed:
                    logger.warning("%s; no per-query scores (marks, intervals) for %s on it.", changed, self.labels[index])
                    return None
                out[subset] = per_query_scores(subset_qrels, ranking, metric)
            self._per_query[key] = out
        except Exception as error:
            logger.warning("Per-query scores of %s on %s failed (%s): no mark.", self.labels[index], task, error)
        return self._per_query[key]


def is_run_list(items) -> bool:
    """Whether ``items`` is a non-empty list of :class:`RunResults` (not folders to read)."""
    return isinstance(items, (list, tuple)) and bool(items) and all(isinstance(r, RunResults) for r in items)


def run_labels(runs: Sequence[RunResults]) -> list[str]:
    """A column label per run: the short name, the full name where short names clash, ``@revision`` where a model has several."""
    shorts = [run.short_name for run in runs]
    labels = []
    for run in runs:
        label = run.short_name if shorts.count(run.short_name) == 1 else run.model
        if sum(1 for other in runs if other.model == run.model) > 1:
            label = f"{label}@{run.revision[:8]}"
        labels.append(label)
    return labels


def task_order(tasks: Iterable[str]) -> list[str]:
    """Tasks in the order of optical-bench's default tasks, then by name."""
    from optical_bench.tasks import DEFAULT_TASKS

    order = {name: i for i, name in enumerate(DEFAULT_TASKS)}
    return sorted(tasks, key=lambda t: (order.get(t, len(order)), t))
