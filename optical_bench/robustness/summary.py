r"""The robustness summary of a model, and its place in MTEB result files.

:func:`robustness_summary` computes every measure of
:mod:`optical_bench.robustness.measures` that the available tasks allow.
:func:`write_robustness` writes, for every ``<org>__<model>/<revision>`` folder of a
results folder (MTEB's layout), a ``robustness.json`` in the revision folder's
``optical_bench/`` subfolder and adds the measures as ``robustness_<key>`` entries to the
per-subset score dicts of the MTEB result files, so anyone reading them with
``mteb.results.TaskResult.from_disk`` sees them next to ``main_score``::

    result = TaskResult.from_disk(path)
    result.get_score(getter=lambda scores: scores["robustness_domain_shift_drop"])
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optical_bench.io import atomic_write_json, atomic_write_text
from optical_bench.results import ROBUSTNESS_FILE, RunResults, finite_mean, load_runs, subset_scores
from optical_bench.robustness.curves import CURVE_GROUP_BY, curve_group, learning_curve_points
from optical_bench.robustness.measures import (
    DomainShiftDrop,
    LanguageSpread,
    LearningCurveArea,
    OracleGap,
    RobustnessMeasure,
    TransferRatio,
    WorstLanguage,
    compute_measure,
    default_measures,
    learning_curve_area,
    parse_measure,
    worst_language,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_METRICS",
    "LEARNING_CURVES_FILE",
    "MTEB_KEY_PREFIX",
    "RobustnessConfig",
    "robustness_summary",
    "strip_robustness_entries",
    "write_robustness",
]

LEARNING_CURVES_FILE = "learning_curves.json"
MTEB_KEY_PREFIX = "robustness_"
DEFAULT_METRICS = ("ndcg_at_10", "mrr_at_10", "recall_at_1")


@dataclass
class RobustnessConfig:
    """Which measures to compute and how tasks play their roles.

    Args:
        measures: measures or their names (default: :func:`default_measures`).
        task_kinds: task -> kind, overriding/adding to the task cards (e.g. for tasks
            of other benchmarks: ``{"MyInDomain": "in-domain"}``).
        oracle_of: oracle task -> cross-lingual task, overriding/adding to the cards.
        min_languages: a task needs this many subsets to count as multi-language.
        cards_folder: folder of task cards (default: the bundled cards and ``$OPTICAL_BENCH_TASKS``).
    """

    measures: Sequence[RobustnessMeasure | str] | None = None
    task_kinds: Mapping[str, str] = field(default_factory=dict)
    oracle_of: Mapping[str, str] = field(default_factory=dict)
    min_languages: int = 2
    cards_folder: Path | None = None

    def resolved_measures(self) -> list[RobustnessMeasure]:
        return [parse_measure(m) for m in (self.measures or default_measures())]

    def roles(self) -> tuple[dict[str, str], dict[str, str]]:
        """(task -> kind, oracle task -> cross-lingual task) from the cards plus overrides."""
        kinds: dict[str, str] = {}
        oracles: dict[str, str] = {}
        try:
            from optical_bench.tasks import load_cards

            for name, card in load_cards(self.cards_folder).items():
                kinds[name] = card.kind
                if card.oracle_of:
                    oracles[name] = card.oracle_of
        except Exception as error:  # cards are optional: overrides still work
            logger.warning("Could not read the task cards (%s); using only the given task kinds.", error)
        kinds.update(self.task_kinds)
        oracles.update(self.oracle_of)
        for name in oracles:
            kinds.setdefault(name, "oracle")
        return kinds, oracles


def _json_number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _strict_json(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` (strict JSON for our own files)."""
    if isinstance(obj, float):
        return _json_number(obj)
    if isinstance(obj, Mapping):
        return {key: _strict_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(value) for value in obj]
    return obj


# =========================================================================== the summary


@dataclass
class _Summary:
    """The scores of one model and the measure values computed from them so far."""

    per_task: dict[str, dict[str, float]]  # task -> {subset: score}
    task_scores: dict[str, float]  # task -> mean over its subsets
    entries: list[dict[str, Any]] = field(default_factory=list)
    per_subset: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def add(self, measure: RobustnessMeasure, task: str, value: float, inputs: dict[str, Any]) -> None:
        self.entries.append(
            {
                "name": str(measure),
                "key": measure.key,
                "task": task,
                "value": _json_number(value),
                "higher_is_better": measure.HIGHER_IS_BETTER,
                "inputs": inputs,
                "description": measure.description,
            }
        )

    def put(self, task: str, subset: str, key: str, value: float) -> None:
        if value is not None and math.isfinite(value):
            self.per_subset.setdefault(task, {}).setdefault(subset, {})[MTEB_KEY_PREFIX + key] = round(float(value), 6)


def _domain_shift(summary: _Summary, measures: Sequence[RobustnessMeasure], kinds: Mapping[str, str]) -> None:
    """DomainShiftDrop of every domain-shift task against the mean of the in-domain tasks."""
    per_task, task_scores = summary.per_task, summary.task_scores
    in_domain = sorted(t for t in per_task if kinds.get(t) == "in-domain")
    shifted = sorted(t for t in per_task if kinds.get(t) == "domain-shift")
    if not in_domain:
        return
    for measure in (m for m in measures if isinstance(m, DomainShiftDrop)):
        s_in = finite_mean(task_scores[t] for t in in_domain)
        for task in shifted:
            value = compute_measure(measure, in_domain=s_in, domain_shift=task_scores[task])
            summary.add(
                measure, task, value, {"in_domain": {t: task_scores[t] for t in in_domain}, "domain_shift": {task: task_scores[task]}}
            )
            for subset, score in per_task[task].items():
                summary.put(task, subset, measure.key, compute_measure(measure, in_domain=s_in, domain_shift=score))
            suffix = "" if len(shifted) == 1 else f"_{task}"
            for t in in_domain:
                for subset in per_task[t]:
                    summary.put(t, subset, measure.key + suffix, value)


def _oracle(summary: _Summary, measures: Sequence[RobustnessMeasure], oracles: Mapping[str, str]) -> None:
    """OracleGap and TransferRatio of every cross-lingual task that has its oracle task."""
    per_task, task_scores = summary.per_task, summary.task_scores
    for oracle_task, xl_task in sorted(oracles.items()):
        if oracle_task not in per_task or xl_task not in per_task:
            continue
        s_oracle, s_xl = task_scores[oracle_task], task_scores[xl_task]
        for measure in (m for m in measures if isinstance(m, (OracleGap, TransferRatio))):
            value = compute_measure(measure, oracle=s_oracle, cross_lingual=s_xl)
            summary.add(measure, xl_task, value, {"oracle": {oracle_task: s_oracle}, "cross_lingual": {xl_task: s_xl}})
            for subset, score in per_task[xl_task].items():
                summary.put(xl_task, subset, measure.key, compute_measure(measure, oracle=s_oracle, cross_lingual=score))


def _languages(summary: _Summary, measures: Sequence[RobustnessMeasure], kinds: Mapping[str, str], min_languages: int) -> None:
    """WorstLanguage and LanguageSpread of every multi-language task (oracles excluded)."""
    for task, scores in sorted(summary.per_task.items()):
        if kinds.get(task) == "oracle" or len(scores) < min_languages:
            continue
        for measure in (m for m in measures if isinstance(m, (WorstLanguage, LanguageSpread))):
            value = compute_measure(measure, scores=scores)
            inputs: dict[str, Any] = {"scores": {k: _json_number(v) for k, v in scores.items()}}
            if isinstance(measure, WorstLanguage):
                inputs["subset"] = worst_language(scores)[0]
            summary.add(measure, task, value, inputs)
            for subset in scores:
                summary.put(task, subset, measure.key, value)


def robustness_summary(
    results_by_task: Mapping[str, Mapping[str, Any]], metric: str = "ndcg_at_10", config: RobustnessConfig | None = None
) -> dict[str, Any]:
    """Compute every measure that the available tasks allow.

    Args:
        results_by_task: ``{task: {subset: score}}`` (or ``{task: {subset: {metric: score}}}``)
            for one model.
        metric: the metric the scores are (or which to pick from per-subset dicts).
        config: measures and task roles (default: all measures, roles from the task cards).

    Returns:
        ``{"metric", "task_scores", "measures", "values", "per_subset"}``:

        - ``measures``: one entry per computed value: ``name`` (``DomainShiftDrop(relative)``),
          ``key``, ``task`` (the task the value is about), ``value``, ``inputs``, ``description``;
        - ``values``: flat ``{"<key>/<task>": value}`` for tables;
        - ``per_subset``: ``{task: {subset: {"robustness_<key>": value}}}``, what
          :func:`write_robustness` adds to the MTEB result files (per subset where a measure
          has a per-subset form, e.g. the drop of each language of a domain-shift task).
    """
    config = config or RobustnessConfig()
    measures = config.resolved_measures()
    kinds, oracles = config.roles()
    per_task = {task: subset_scores(value, metric) for task, value in results_by_task.items()}
    per_task = {task: scores for task, scores in per_task.items() if scores}
    summary = _Summary(per_task, {task: finite_mean(scores.values()) for task, scores in per_task.items()})
    _domain_shift(summary, measures, kinds)
    _oracle(summary, measures, oracles)
    _languages(summary, measures, kinds, config.min_languages)
    return {
        "metric": metric,
        "task_scores": {task: _json_number(score) for task, score in summary.task_scores.items()},
        "task_kinds": {task: kinds.get(task) for task in per_task},
        "measures": summary.entries,
        "values": {f"{entry['key']}/{entry['task']}": entry["value"] for entry in summary.entries},
        "per_subset": summary.per_subset,
    }


# =========================================================================== writing


def strip_robustness_entries(data: dict[str, Any]) -> dict[str, Any]:
    """Remove every ``robustness_*`` entry from a TaskResult JSON's score dicts (in place)."""
    for entries in data.get("scores", {}).values():
        for entry in entries:
            for key in [k for k in entry if k.startswith(MTEB_KEY_PREFIX)]:
                del entry[key]
    return data


def _inject(data: dict[str, Any], split: str, per_subset: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """A copy of a TaskResult JSON with stale ``robustness_*`` keys removed and new ones added."""
    data = strip_robustness_entries(json.loads(json.dumps(data)))
    for entry in data["scores"].get(split, []):
        entry.update(per_subset.get(str(entry.get("hf_subset", "default")), {}))
    return data


def _write_task_result(path: Path, data: dict[str, Any]) -> None:
    """Write a TaskResult JSON atomically after checking that mteb loads it."""
    from mteb.results import TaskResult

    text = json.dumps(data, indent=2) + "\n"
    try:
        TaskResult.model_validate_json(text)
    except Exception as error:  # never leave a file mteb cannot read
        raise ValueError(
            f"{path}: adding robustness measures would make the file unreadable for mteb ({error}); left unchanged."
        ) from error
    atomic_write_text(path, text)


Curves = dict[str, dict[str, dict[str, Any]]]  # task -> configuration -> {"points", "learning_curve_area"}


def _learning_curves(runs: list[RunResults], metric: str, provenance: Mapping[str, Mapping[str, Any]] | None) -> Curves:
    """The learning curves (and their areas) of every configuration with two or more bitext sizes."""
    curves: Curves = {}
    for task in sorted({task for run in runs for task in run.tasks}):
        for label, points in learning_curve_points(runs, task, metric, provenance=provenance).items():
            if len({size for size, _ in points if size > 0}) >= 2:
                curves.setdefault(task, {})[label] = {"points": points, LearningCurveArea.KEY: _json_number(learning_curve_area(points))}
    return curves


def _run_robustness(
    run: RunResults,
    metrics: Sequence[str],
    mteb_metric: str,
    config: RobustnessConfig,
    curves: Curves,
    provenance: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The content of one revision folder's ``robustness.json``."""
    content: dict[str, Any] = {"model": run.model, "revision": run.revision, "metrics": {}}
    for metric in metrics:
        summary = robustness_summary(run.results_by_task(metric), metric=metric, config=config)
        content["metrics"][metric] = {k: v for k, v in summary.items() if k != "per_subset"}
    prov = run.provenance or (provenance or {}).get(run.model) or (provenance or {}).get(run.short_name)
    if prov:
        label = curve_group(prov, CURVE_GROUP_BY)
        areas = {task: groups[label][LearningCurveArea.KEY] for task, groups in curves.items() if label in groups}
        if areas:
            content["learning_curve"] = {"group": label, "metric": mteb_metric, "area": areas}
    return content


def _inject_run(run: RunResults, mteb_metric: str, config: RobustnessConfig) -> None:
    """Put the ``robustness_*`` entries into the run's task files (only those that change)."""
    summary = robustness_summary(run.results_by_task(mteb_metric), metric=mteb_metric, config=config)
    for task, data in run.tasks.items():
        new = _inject(data, run.split(task), summary["per_subset"].get(task, {}))
        if json.dumps(new, sort_keys=True) != json.dumps(data, sort_keys=True):
            _write_task_result(run.task_files[task], new)
            run.tasks[task] = new


def write_robustness(
    results_folder: Path | str,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    mteb_metric: str = "main_score",
    config: RobustnessConfig | None = None,
    inject: bool = True,
    provenance: Mapping[str, Mapping[str, Any]] | None = None,
    filename: str = ROBUSTNESS_FILE,
) -> dict[Path, dict[str, Any]]:
    """Write ``robustness.json`` per model revision and add the measures to the MTEB files.

    For every ``<org>__<model>/<revision>`` folder under ``results_folder``:

    1. ``optical_bench/robustness.json`` (atomic) with one :func:`robustness_summary` per
       metric of ``metrics`` and of ``mteb_metric``, plus the learning-curve areas of the
       run's configuration when several bitext sizes of it are present (see
       :func:`~optical_bench.robustness.learning_curve_points`; those also go to
       ``learning_curves.json`` at the top of ``results_folder``);
    2. with ``inject``: ``robustness_<key>`` entries, computed on ``mteb_metric`` (default:
       each task's ``main_score``), in the per-subset score dicts of the task files of the
       split reported (``test`` if present). Each file is checked with mteb's
       ``TaskResult`` before it replaces the old one; rerunning replaces old entries.

    Note: mteb's ``ResultCache.load_results`` reads *every* ``*.json`` of a revision folder
    as a task result, so it cannot read a folder holding ``robustness.json`` (nor
    ``optical_bench_summary.json``) next to the task files; hence the subfolder, and
    :func:`optical_bench.submit.build_submission` copies only the files mteb reads.
    ``filename`` names the file differently (e.g. ``robustness.optical.txt``) where a
    folder must stay readable by ``ResultCache``.

    Returns:
        ``{revision folder: robustness.json content}``.
    """
    config = config or RobustnessConfig()
    root = Path(results_folder)
    runs = load_runs(root)
    all_metrics = list(dict.fromkeys([mteb_metric, *metrics]))
    curves = _learning_curves(runs, mteb_metric, provenance)
    written: dict[Path, dict[str, Any]] = {}
    for run in runs:
        content = _run_robustness(run, all_metrics, mteb_metric, config, curves, provenance)
        atomic_write_json(run.path / filename, _strict_json(content))
        written[run.path] = content
        if inject:
            _inject_run(run, mteb_metric, config)
    if curves:
        atomic_write_json(root / LEARNING_CURVES_FILE, _strict_json({"metric": mteb_metric, "curves": curves}))
    return written
