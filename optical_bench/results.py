"""The tolerant reader of MTEB results folders.

A results folder has MTEB's layout, ``<root>/<org>__<model>/<revision>/<Task>.json`` next
to ``model_meta.json`` (a study run's in mteb's ``<revision>/experiments/<name>/``), with the
rankings under ``<root>/.predictions/<the same relative path>`` and
optical-bench's side files in a ``optical_bench/`` subfolder of each revision folder
(mteb reads every ``*/*/*.json`` as a task result). :func:`load_runs` reads ours, other
models', an mteb cache or a clone of the public results repository into
:class:`RunResults`, one per model revision; :mod:`optical_bench.robustness`,
:mod:`optical_bench.report`, :mod:`optical_bench.submit` and :mod:`optical_bench.seeds` use it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ROBUSTNESS_FILE",
    "RUN_PROVENANCE_FILE",
    "RunResults",
    "finite_mean",
    "is_side_file",
    "is_task_result",
    "load_runs",
    "merge_runs",
    "pick_split",
    "read_run",
    "subset_scores",
]

SIDE_FOLDER = "optical_bench"  # a subfolder: mteb reads every */*/*.json as a task result
ROBUSTNESS_FILE = f"{SIDE_FOLDER}/robustness.json"
# a run's provenance, in its revision folder (a model folder's is models.PROVENANCE_FILE)
RUN_PROVENANCE_FILE = f"{SIDE_FOLDER}/provenance.json"
# names of files that are never task results, wherever they lie in a revision folder
# (our side files also sit next to the task files in older folders or with another filename)
NOT_TASK_FILES = frozenset({"model_meta.json", Path(ROBUSTNESS_FILE).name, Path(RUN_PROVENANCE_FILE).name})
PREDICTIONS_SUFFIX = "_predictions.json"
QRELS_SUFFIX = "_qrels.json"  # beside the rankings: the judgements they were scored with
EXPERIMENTS_FOLDER = "experiments"  # mteb's folder of a revision's study runs (ModelMeta experiment_kwargs)
# {task: {"subset/split": sha256 of the qrels}}: the judgements the rankings beside it were scored with
QRELS_FINGERPRINTS_FILE = f"{SIDE_FOLDER}/qrels_fingerprints.json"


def qrels_fingerprint(qrels: Mapping[str, Mapping[str, Any]]) -> str:
    """SHA-256 of judgements ``{qid: {docid: relevance}}``: every (qid, docid, relevance), sorted."""
    import hashlib

    digest = hashlib.sha256()
    for qid in sorted(qrels, key=str):
        for did, relevance in sorted(qrels[qid].items(), key=lambda item: str(item[0])):
            digest.update(f"{qid}\0{did}\0{float(relevance):g}\n".encode())
    return digest.hexdigest()


def finite_mean(values: Iterable[float]) -> float:
    """Mean of the values (NaN for none; NaN values make it NaN)."""
    values = [float(v) for v in values]
    return float(np.mean(values)) if values else math.nan


def subset_scores(value: Any, metric: str) -> dict[str, float]:
    """{subset: score} from {subset: score} or {subset: {metric: score}} (NaN when missing)."""
    out = {}
    for subset, entry in (value or {}).items():
        if isinstance(entry, Mapping):
            entry = entry.get(metric)
        try:
            out[subset] = float(entry) if entry is not None else math.nan
        except (TypeError, ValueError):
            out[subset] = math.nan
    return out


def _read_json(path: Path) -> Any:
    """JSON that may hold bare ``NaN``/``Infinity`` (as mteb writes them)."""
    return json.loads(path.read_text(encoding="utf-8"))


def is_task_result(data: Any) -> bool:
    return isinstance(data, dict) and "task_name" in data and isinstance(data.get("scores"), dict)


def is_side_file(path: Path | str) -> bool:
    """Whether ``path`` is a file of a revision folder that is never a task result:
    ``model_meta.json``, rankings (``*_predictions.json``), our robustness and provenance files."""
    name = Path(path).name
    return name in NOT_TASK_FILES or name.endswith((PREDICTIONS_SUFFIX, QRELS_SUFFIX))


def pick_split(splits: Iterable[str], preferred: Sequence[str] = ("test",)) -> str | None:
    """The split to report: the first of ``preferred`` present, else the first in sorted order."""
    splits = list(splits)
    for name in preferred:
        if name in splits:
            return name
    return sorted(splits)[0] if splits else None


@dataclass
class RunResults:
    """The results of one model revision, read from ``<org>__<model>/<revision>/``."""

    model: str
    revision: str
    path: Path
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> TaskResult JSON
    task_files: dict[str, Path] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)  # task -> <Task>_predictions.json
    qrels_files: dict[str, Path] = field(default_factory=dict)  # task -> <Task>_qrels.json beside the rankings
    meta: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    merged_from: list[Path] = field(default_factory=list)  # other folders of the same model@revision merged in

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two folders one run: model, revision and a study run's ``experiment_kwargs``."""
        return (self.model, self.revision, json.dumps(self.experiment_kwargs, sort_keys=True, default=str))

    @property
    def experiment_kwargs(self) -> dict[str, Any]:
        """The ModelMeta ``experiment_kwargs`` of a study run (empty for a plain evaluation)."""
        return dict(self.meta.get("experiment_kwargs") or {})

    @property
    def short_name(self) -> str:
        return self.model.split("/", 1)[-1]

    def split(self, task: str, preferred: Sequence[str] = ("test",)) -> str | None:
        return pick_split(self.tasks.get(task, {}).get("scores", {}), preferred)

    def subset_entries(self, task: str, split: str | None = None) -> dict[str, dict[str, Any]]:
        """{subset: score dict} of ``task`` in ``split`` (default: :func:`pick_split`)."""
        data = self.tasks.get(task)
        if not data:
            return {}
        split = split or self.split(task)
        entries = data["scores"].get(split) or []
        return {str(entry.get("hf_subset", "default")): entry for entry in entries if isinstance(entry, dict)}

    def scores(self, task: str, metric: str = "main_score", split: str | None = None) -> dict[str, float]:
        """{subset: metric} (NaN where a value is missing or not a number)."""
        return subset_scores(self.subset_entries(task, split), metric)

    def score(self, task: str, metric: str = "main_score", split: str | None = None) -> float:
        """Mean of ``metric`` over the subsets (mteb's ``get_score`` convention)."""
        scores = self.scores(task, metric, split)
        return finite_mean(scores.values()) if scores else math.nan

    def results_by_task(self, metric: str = "main_score") -> dict[str, dict[str, float]]:
        return {task: self.scores(task, metric) for task in self.tasks}

    def qrels_changed(self, task: str, subset: str, split: str, qrels: Mapping[str, Mapping[str, Any]]) -> str | None:
        """Why ``qrels`` are not the judgements this run's rankings of ``task`` were scored with
        (their fingerprint, recorded at evaluation, differs), or ``None`` (the same, or no record:
        results of an earlier release)."""
        expected = (self._qrels_fingerprints.get(task) or {}).get(f"{subset}/{split}")
        now = qrels_fingerprint(qrels) if expected else None
        if expected == now:
            return None
        return (
            f"{self.path}: the qrels of {task} {subset}/{split} here are not the ones its rankings were scored with "
            f"(fingerprint {expected[:12]}, now {now[:12]}). Fix: evaluate the model again on these "
            "qrels, or restore the collection it was scored on"
        )

    @functools.cached_property
    def _qrels_fingerprints(self) -> dict[str, dict[str, str]]:
        """``{task: {"subset/split": sha256}}`` recorded at evaluation (empty for an earlier release's results)."""
        recorded = _read_json_or_none(self.path / QRELS_FINGERPRINTS_FILE)
        return recorded if isinstance(recorded, dict) else {}

    def stored_qrels(self, task: str) -> dict[str, dict[str, Any]] | None:
        """``{subset: {split: qrels}}`` that the evaluation stored beside the rankings of ``task``
        (every source type: BEIR folders, cards, mirrors), or ``None`` (results of an earlier release)."""
        path = self.qrels_files.get(task)
        stored = _read_json_or_none(path) if path else None
        return stored if isinstance(stored, dict) and stored else None

    def main_metric(self, task: str) -> str | None:
        """The metric behind ``main_score``: the card's, else the key with the same value."""
        card_metric = _card_main_scores().get(task)
        if card_metric:
            return card_metric
        for entry in self.subset_entries(task).values():
            main = entry.get("main_score")
            for key in ("ndcg_at_10", "ndcg_at_20", "mrr_at_10", "recall_at_1", "map_at_10", "recall_at_100"):
                if isinstance(main, (int, float)) and isinstance(entry.get(key), (int, float)) and abs(entry[key] - main) < 1e-9:
                    return key
            break
        return None


@functools.lru_cache(maxsize=1)
def _card_main_scores() -> dict[str, str]:
    try:
        from optical_bench.cards import load_cards

        return {name: card.main_score for name, card in load_cards().items()}
    except Exception:  # no cards: fall back to matching values
        return {}


def _holds_results(folder: Path, children: list[Path]) -> bool:
    return any(p.is_file() and p.suffix == ".json" and p.name != "model_meta.json" for p in children) and (
        (folder / "model_meta.json").exists() or any(_looks_like_task_file(p) for p in children if p.suffix == ".json")
    )


def _revision_folders(root: Path, max_depth: int = 4) -> list[Path]:
    """Folders under ``root`` (itself included) that hold MTEB task result files, with mteb's
    experiment folders (``<revision>/experiments/<name>/``) of each revision."""
    found = []

    def visit(folder: Path, depth: int) -> None:
        try:
            children = sorted(folder.iterdir())
        except OSError:
            return
        holds = _holds_results(folder, children)
        if holds:
            found.append(folder)
        experiments = folder / EXPERIMENTS_FOLDER
        if experiments.is_dir():
            found.extend(
                child for child in sorted(experiments.iterdir()) if child.is_dir() and _holds_results(child, sorted(child.iterdir()))
            )
        if holds or experiments.is_dir() or depth >= max_depth:
            return
        for child in children:
            if child.is_dir() and not child.name.startswith(".") and child.name not in (EXPERIMENTS_FOLDER, SIDE_FOLDER):
                visit(child, depth + 1)

    visit(root, 0)
    return found


def _looks_like_task_file(path: Path) -> bool:
    if not path.is_file() or is_side_file(path):
        return False
    try:
        return is_task_result(_read_json(path))
    except (OSError, ValueError):
        return False


def _predictions_folder(result_folder: Path) -> list[Path]:
    """Where the rankings of a result folder may be: ``<ancestor>/.predictions/<the relative path>``
    for any ancestor (``<root>/.predictions/<org>__<model>/<revision>[/experiments/<name>]``),
    or inside the folder itself."""
    candidates = []
    for ancestor in list(result_folder.parents)[:6]:
        candidates.append(ancestor / ".predictions" / result_folder.relative_to(ancestor))
    candidates += [result_folder / ".predictions", result_folder]
    return [c for c in candidates if c.is_dir()]


def _read_json_or_none(path: Path) -> Any:
    try:
        return _read_json(path)
    except (OSError, ValueError):
        return None


def _read_meta(folder: Path) -> dict[str, Any]:
    if not (folder / "model_meta.json").exists():
        return {}
    try:
        meta = _read_json(folder / "model_meta.json")
    except (OSError, ValueError) as error:
        logger.warning("%s: unreadable model_meta.json (%s); using the folder names.", folder, error)
        return {}
    if not isinstance(meta, dict):
        logger.warning(
            "%s: model_meta.json holds a JSON %s, not an object (mteb's ModelMeta); using the folder names. "
            "Fix: evaluate again to rewrite it.",
            folder,
            type(meta).__name__,
        )
        return {}
    return meta


def _read_task_files(run: RunResults) -> None:
    for path in sorted(run.path.glob("*.json")):
        if is_side_file(path):
            continue
        try:
            data = _read_json(path)
        except (OSError, ValueError) as error:
            logger.warning("%s: not readable JSON (%s); skipped.", path, error)
            continue
        if not is_task_result(data):
            continue
        run.tasks[str(data["task_name"])] = data
        run.task_files[str(data["task_name"])] = path


def _read_predictions(run: RunResults) -> None:
    for predictions in _predictions_folder(run.path):
        for path in predictions.glob(f"*{PREDICTIONS_SUFFIX}"):
            task = path.name[: -len(PREDICTIONS_SUFFIX)]
            if task in run.tasks:
                run.predictions.setdefault(task, path)
        for path in predictions.glob(f"*{QRELS_SUFFIX}"):
            task = path.name[: -len(QRELS_SUFFIX)]
            if task in run.tasks:
                run.qrels_files.setdefault(task, path)


def read_run(revision_folder: Path | str) -> RunResults | None:
    """Read one revision folder; files that are not task results are skipped (with a note)."""
    folder = Path(revision_folder)
    meta = _read_meta(folder)
    revision_folder = folder.parents[1] if folder.parent.name == EXPERIMENTS_FOLDER else folder
    model = meta.get("name") or revision_folder.parent.name.replace("__", "/")
    revision = meta.get("revision") or revision_folder.name
    run = RunResults(model=str(model), revision=str(revision), path=folder, meta=meta)
    _read_task_files(run)
    _read_predictions(run)
    if (folder / RUN_PROVENANCE_FILE).exists():
        try:
            run.provenance = _read_json(folder / RUN_PROVENANCE_FILE)
        except (OSError, ValueError):
            run.provenance = None
    return run if run.tasks else None


def load_runs(paths: Path | str | Iterable[Path | str]) -> list[RunResults]:
    """Every model revision under the given folders.

    Accepts a results root (``<root>/<org>__<model>/<revision>/``), an mteb cache or a clone
    of the public results repository (``<root>/results/...``), a model folder or a revision
    folder. Task files of tasks optical-bench does not know are read too; bare ``NaN`` is
    fine; files that are not task results (``robustness.json``, summaries) are skipped.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    runs: list[RunResults] = []
    seen: set[Path] = set()
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(
                f"{root}: no such results folder. Fix: pass the --out folder of `optical-bench evaluate` (MTEB layout)."
            )
        for folder in _revision_folders(root):
            if folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            run = read_run(folder)
            if run is not None:
                runs.append(run)
    return merge_runs(runs)


def merge_runs(runs: Iterable[RunResults]) -> list[RunResults]:
    """One :class:`RunResults` per model@revision (and study run): the tasks of the same model
    revision read from several results folders (say, AfriQA in one and UDHR in another) become
    one run, in the order first seen. A task found in two folders keeps the first folder's
    result (a warning names both files)."""
    merged: dict[tuple[str, str, str], RunResults] = {}
    for run in runs:
        first = merged.setdefault(run.key, run)
        if first is run:
            continue
        first.merged_from.append(run.path)
        for task, data in run.tasks.items():
            if task in first.tasks:
                if first.tasks[task].get("scores") != data.get("scores"):
                    logger.warning(
                        "%s@%s: %s is in %s and in %s with different scores; the report uses the first.",
                        run.model,
                        run.revision,
                        task,
                        first.task_files[task],
                        run.task_files[task],
                    )
                continue
            first.tasks[task] = data
            first.task_files[task] = run.task_files[task]
            if task in run.predictions:
                first.predictions[task] = run.predictions[task]
        first.provenance = first.provenance or run.provenance
        first.meta = first.meta or run.meta
    return list(merged.values())
