r"""Comparison tables from MTEB results folders (``tabulate``; ``md``, ``github`` or ``latex``).

Models are the columns:

(a) :func:`main_table`: tasks x models, one table for the main score and one per chosen metric;
(b) :func:`languages_table`: languages x models for every task with several subsets;
(c) :func:`robustness_table`: robustness measures x models (:mod:`optical_bench.robustness`).

:func:`build_report` puts them together. Significance against a baseline model: where
mteb's rankings (``.predictions``) and the task's qrels are available, per-query scores
come from ``pytrec_eval`` (:mod:`optical_bench.significance`) and a cell gets ``†`` when
the paired randomization test (default 10,000 samples) gives a Holm-corrected p < 0.05,
the family being every comparison of that table. Without rankings or qrels: no mark
(never a guess). ``ci=True`` adds the half-width of a 95% bootstrap interval over
queries: ``0.812 ±0.031``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optical_bench.power import DetectableEffect
from optical_bench.report.context import QrelsLoader, ReportContext
from optical_bench.report.formatting import DAGGER, FORMATS, cell_text, format_note, number_cell, section_heading, table_section
from optical_bench.results import RunResults
from optical_bench.robustness.summary import RobustnessConfig, robustness_summary

__all__ = [
    "DAGGER",
    "FORMATS",
    "METRIC_LABELS",
    "REPORT_METRICS",
    "build_report",
    "languages_table",
    "main_table",
    "metric_label",
    "robustness_table",
]

REPORT_METRICS = ("mrr_at_10", "recall_at_1")  # the tables after the main score
METRIC_LABELS = {
    "main_score": "main score",
    "ndcg_at_10": "nDCG@10",
    "ndcg_at_20": "nDCG@20",
    "mrr_at_10": "MRR@10",
    "recall_at_1": "R@1",
    "recall_at_10": "R@10",
    "recall_at_100": "R@100",
    "map_at_10": "MAP@10",
    "hit_rate_at_1": "Success@1",
}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# =========================================================================== tables


def _context(results, qrels=None, build_root=None, **kwargs) -> ReportContext:
    return results if isinstance(results, ReportContext) else ReportContext.from_dirs(results, qrels=qrels, build_root=build_root, **kwargs)


Cell = tuple[int, str, "str | None"]  # (run index, task, subset or None for the whole task)


def _pooled(ctx: ReportContext, index: int, task: str, subset: str | None, metric: str) -> dict[str, float] | None:
    """{subset/qid: score} of run ``index`` on ``task`` (one subset, or all pooled); None without rankings."""
    per_query = ctx.per_query(index, task, metric)
    if per_query is None:
        return None
    subsets = [subset] if subset else list(per_query)
    if any(s not in per_query for s in subsets):
        return None
    return {f"{s}/{q}": v for s in subsets for q, v in per_query[s].items()}


def detectable_effects(ctx: ReportContext, tasks: Sequence[str], metric: str, baseline: int | None) -> dict[str, DetectableEffect]:
    """{task: minimal detectable effect} of a paired comparison at 80% power
    (:func:`optical_bench.significance.minimal_detectable_effect`), from the per-query
    differences of each run against ``baseline`` (every pair of runs without one), the median
    over the pairs; "not estimable" where too few queries differ in every pair, floored to the
    metric's step (:mod:`optical_bench.power`). Tasks without rankings and qrels are left out."""
    from optical_bench.power import detectable_effect
    from optical_bench.significance import align, minimal_detectable_effect

    out = {}
    for task in tasks:
        having = [i for i, run in enumerate(ctx.runs) if task in run.tasks]
        pairs = (
            [(i, baseline) for i in having if i != baseline] if baseline in having else [(i, j) for i in having for j in having if i < j]
        )
        effects = []
        for i, j in pairs:
            a_scores, b_scores = _pooled(ctx, i, task, None, metric), _pooled(ctx, j, task, None, metric)
            if not a_scores or not b_scores:
                continue
            a, b, _ = align(a_scores, b_scores)
            effect = minimal_detectable_effect(a - b)
            if not math.isnan(effect):
                effects.append(detectable_effect(effect, a - b))
        if effects:
            estimable = sorted((e for e in effects if e.estimable), key=lambda e: e.value)
            out[task] = estimable[(len(estimable) - 1) // 2] if estimable else effects[0]
    return out


def _detectable_effect_note(ctx: ReportContext, tasks: Sequence[str], metric: str, baseline: int | None, fmt: str) -> str:
    effects = detectable_effects(ctx, tasks, metric, baseline)
    if not effects:
        return ""
    against = f"each model against {ctx.labels[baseline]}" if baseline is not None else "every pair of models"
    listed = "; ".join(f"{task} {effect} ({effect.n} queries)" for task, effect in effects.items())
    return format_note(
        f"Minimal detectable effect on {metric_label(metric)} (paired comparison, 80% power, two-sided alpha 0.05, "
        f"from the per-query differences of {against}, median over pairs): {listed}. A smaller difference can be "
        "real and still not reach significance. Not estimable: fewer than 6 queries differ, too few for any paired "
        "test at 0.05; floored: below one step of the metric on these queries.",
        fmt,
    )


def _cells_with_significance(
    ctx: ReportContext, cells: list[Cell], metric: str, baseline: int | None, ci: bool
) -> tuple[dict[Cell, bool], dict[Cell, float], int]:
    """Holm-corrected marks (one family: every cell of the table) and CI half-widths."""
    from optical_bench.significance import align, bootstrap_ci, bootstrap_macro_ci, holm, paired_randomization_test, paired_t_test

    raw: dict[Cell, float] = {}
    if baseline is not None:
        for cell in cells:
            index, task, subset = cell
            if index == baseline:
                continue
            a_scores, b_scores = _pooled(ctx, index, task, subset, metric), _pooled(ctx, baseline, task, subset, metric)
            if not a_scores or not b_scores:
                continue
            a, b, _ = align(a_scores, b_scores)
            if a.size == 0:
                continue
            raw[cell] = (
                paired_randomization_test(a, b, n_samples=ctx.n_samples, seed=ctx.seed)
                if ctx.test == "randomization"
                else paired_t_test(a, b)
            )
    adjusted = holm(raw) if raw else {}
    marks = {cell: p < ctx.alpha for cell, p in adjusted.items()}
    half: dict[Cell, float] = {}
    if ci:
        for cell in cells:
            index, task, subset = cell
            per_query = ctx.per_query(index, task, metric)
            if not per_query:
                continue
            if subset:
                if per_query.get(subset):
                    half[cell] = bootstrap_ci(list(per_query[subset].values()), n_samples=ctx.n_samples, seed=ctx.seed).half_width
            else:
                groups = [list(v.values()) for v in per_query.values() if v]
                if groups:
                    half[cell] = bootstrap_macro_ci(groups, n_samples=ctx.n_samples, seed=ctx.seed).half_width
    return marks, half, len(raw)


def _significance_note(ctx: ReportContext, baseline: int | None, family: int, ci: bool, fmt: str) -> str:
    parts = []
    if baseline is not None:
        test = (
            f"two-sided paired randomization test, {ctx.n_samples:,} samples" if ctx.test == "randomization" else "two-sided paired t-test"
        )
        if family:
            parts.append(
                f"{DAGGER} p < {ctx.alpha} against {ctx.labels[baseline]}: {test}, on per-query scores, "
                f"Holm-corrected over the {family} comparison{'s' if family != 1 else ''} of this table."
            )
        else:
            parts.append(f"No significance marks: no rankings or qrels to compare with {ctx.labels[baseline]}.")
    if ci:
        parts.append("± half-width of the 95% bootstrap interval over queries (stratified by subset).")
    return format_note(" ".join(parts), fmt) if parts else ""


def main_table(
    results: ReportContext | Iterable[Path | str] | Sequence[RunResults],
    metric: str = "main_score",
    *,
    baseline: str | None = None,
    fmt: str = "github",
    tasks: Sequence[str] | None = None,
    ci: bool = False,
    significance: bool = True,
    qrels: QrelsLoader | Mapping[str, Any] | None = None,
    build_root: Path | str | None = None,
    title: bool = True,
) -> str:
    """Table (a): tasks (rows) x models (columns) of ``metric`` (mean over the subsets).

    ``metric="main_score"`` shows each task's own main score. With ``baseline`` (a model
    name) significant differences get ``†`` (see the module docstring).
    """
    ctx = _context(results, qrels=qrels, build_root=build_root)
    tasks = list(tasks) if tasks else ctx.tasks()
    base = ctx.index(baseline) if baseline else None
    cells: list[Cell] = [(i, task, None) for task in tasks for i in range(len(ctx.runs)) if task in ctx.runs[i].tasks]
    marks, half, family = _cells_with_significance(ctx, cells, metric, base if significance else None, ci)
    rows, restricted = [], {}
    for task in tasks:
        row = [cell_text(task, fmt)]
        shared = shared_subsets(ctx.runs, task)
        if shared is not None:
            restricted[task] = shared
        for i, run in enumerate(ctx.runs):
            value = _task_mean(run, task, metric, shared) if task in run.tasks else None
            cell = number_cell(value, fmt, marks.get((i, task, None), False), half.get((i, task, None)))
            row.append(cell + (SUBSET_MARK_LATEX if fmt == "latex" else SUBSET_MARK) if shared is not None and value is not None else cell)
        rows.append(row)
    headers = ["task"] + [label + (" (baseline)" if i == base else "") for i, label in enumerate(ctx.labels)]
    caption = f"Tasks: {metric_label(metric)}"
    notes = [
        _subset_note(restricted, fmt),
        _significance_note(ctx, base if significance else None, family, ci, fmt),
        _detectable_effect_note(ctx, tasks, metric, base, fmt) if significance else "",
    ]
    return "\n\n".join(table_section([section_heading(caption, fmt)] if title else [], rows, headers, fmt, notes, title=caption))


SUBSET_MARK = "‡"
SUBSET_MARK_LATEX = r"$^\ddagger$"


def shared_subsets(runs: Sequence[RunResults], task: str) -> list[str] | None:
    """The subsets (question languages) that every run with ``task`` has, where the runs have
    different ones (a student evaluated on Hausa only beside a model on six languages): their
    task means are then compared on these. None where every run has the same subsets."""
    having = [set(run.subset_entries(task)) for run in runs if task in run.tasks]
    if len(having) < 2 or all(subsets == having[0] for subsets in having):
        return None
    return sorted(set.intersection(*having))


def _task_mean(run: RunResults, task: str, metric: str, subsets: Sequence[str] | None) -> float | None:
    """``run``'s mean of ``metric`` on ``task``: over ``subsets`` where given (None when it has
    none of them), else over all its subsets."""
    if subsets is None:
        return run.score(task, metric)
    scores = run.scores(task, metric)
    values = [scores[s] for s in subsets if s in scores]
    return float(np.mean(values)) if values else None


def _subset_note(restricted: Mapping[str, list[str]], fmt: str) -> str:
    if not restricted:
        return ""
    parts = []
    for task, subsets in restricted.items():
        parts.append(f"{task} on {', '.join(subsets)}" if subsets else f"{task}: no subset in common, so no comparable mean (-)")
    return format_note(
        f"{SUBSET_MARK} the models were evaluated on different subsets (languages) of the task: its cells are means over "
        f"the subsets every model has ({'; '.join(parts)}); every subset's score is in the languages table.",
        fmt,
    ).replace(SUBSET_MARK, SUBSET_MARK_LATEX if fmt == "latex" else SUBSET_MARK)


def languages_table(
    results: ReportContext | Iterable[Path | str] | Sequence[RunResults],
    task: str,
    metric: str = "main_score",
    *,
    baseline: str | None = None,
    fmt: str = "github",
    ci: bool = False,
    significance: bool = True,
    qrels: QrelsLoader | Mapping[str, Any] | None = None,
    build_root: Path | str | None = None,
) -> str:
    """Table (b): subsets (languages) x models of a multi-subset task, plus mean and worst rows."""
    ctx = _context(results, qrels=qrels, build_root=build_root)
    base = ctx.index(baseline) if baseline else None
    subsets = sorted({s for run in ctx.runs if task in run.tasks for s in run.subset_entries(task)})
    cells: list[Cell] = [(i, task, subset) for subset in subsets for i, run in enumerate(ctx.runs) if subset in run.subset_entries(task)]
    marks, half, family = _cells_with_significance(ctx, cells, metric, base if significance else None, ci)
    rows = []
    for subset in subsets:
        row = [cell_text(subset, fmt)]
        for i, run in enumerate(ctx.runs):
            value = run.scores(task, metric).get(subset) if task in run.tasks else None
            row.append(number_cell(value, fmt, marks.get((i, task, subset), False), half.get((i, task, subset))))
        rows.append(row)
    for label, reduce in (("mean", np.mean), ("worst", np.min)):
        row = [cell_text(label, fmt)]
        for run in ctx.runs:
            values = list(run.scores(task, metric).values()) if task in run.tasks else []
            row.append(number_cell(float(reduce(values)) if values else None, fmt))
        rows.append(row)
    headers = ["language"] + [label + (" (baseline)" if i == base else "") for i, label in enumerate(ctx.labels)]
    caption = f"Languages of {task}: {metric_label(metric)}"
    notes = [_significance_note(ctx, base if significance else None, family, ci, fmt).replace(" (stratified by subset)", "")]
    return "\n\n".join(table_section([section_heading(caption, fmt)], rows, headers, fmt, notes, title=caption))


def robustness_table(
    results: ReportContext | Iterable[Path | str] | Sequence[RunResults],
    metric: str = "main_score",
    *,
    fmt: str = "github",
    config: RobustnessConfig | None = None,
) -> str:
    """Table (c): robustness measures (rows, ``key/task``) x models."""
    ctx = _context(results)
    summaries = [robustness_summary(run.results_by_task(metric), metric=metric, config=config) for run in ctx.runs]
    keys: list[str] = []
    directions: dict[str, bool] = {}
    for summary in summaries:
        for entry in summary["measures"]:
            key = f"{entry['key']}/{entry['task']}"
            if key not in keys:
                keys.append(key)
                directions[key] = entry["higher_is_better"]
    if not keys:
        return "\n\n".join(
            [
                section_heading(f"Robustness: {metric_label(metric)}", fmt),
                format_note(
                    "No robustness measure applies: the results hold no in-domain/domain-shift pair, oracle or multi-language task.", fmt
                ),
            ]
        )
    rows = []
    for key in keys:
        measure, task = key.split("/", 1)
        arrow = ("↑" if directions[key] else "↓") if fmt != "latex" else (r"$\uparrow$" if directions[key] else r"$\downarrow$")
        row = [f"{cell_text(measure, fmt)} {arrow}", cell_text(task, fmt)]
        for summary in summaries:
            row.append(number_cell(summary["values"].get(key), fmt))
        rows.append(row)
    headers = ["measure", "task"] + list(ctx.labels)
    caption = f"Robustness: {metric_label(metric)}"
    note = (
        format_note("↑ higher is better, ↓ lower is better; definitions in optical_bench.robustness.", fmt)
        .replace("↑", r"$\uparrow$" if fmt == "latex" else "↑")
        .replace("↓", r"$\downarrow$" if fmt == "latex" else "↓")
    )
    sections = table_section(
        [section_heading(caption, fmt)],
        rows,
        headers,
        fmt,
        [note],
        title=caption,
        better=[directions[key] for key in keys],
        label_columns=2,
    )
    return "\n\n".join(sections)


@dataclass(frozen=True)
class ReportOptions:
    """What a report shows and how it tests: the options of ``optical-bench report``.

    ``baseline``: the model the others are tested against (name, short name or NAME@REVISION);
    ``metrics``: metrics shown after the main score (one table each); ``fmt``: ``github``, ``md``
    (``markdown``) or ``latex``; ``ci``: ``±`` half-widths of 95% bootstrap intervals (needs rankings
    and qrels); ``significance``: mark significant differences with the baseline; ``test``:
    ``randomization`` or ``t-test``; ``n_samples``: randomization and bootstrap samples."""

    baseline: str | None = None
    metrics: Sequence[str] = REPORT_METRICS
    fmt: str = "github"
    ci: bool = False
    significance: bool = True
    test: str = "randomization"
    n_samples: int = 10_000
    seed: int = 0
    alpha: float = 0.05
    languages: bool = True
    robustness: bool = True
    robustness_config: RobustnessConfig | None = None


def build_report(
    results_dirs: Iterable[Path | str] | Path | str,
    options: ReportOptions | None = None,
    *,
    qrels: QrelsLoader | Mapping[str, Any] | None = None,
    build_root: Path | str | None = None,
) -> str:
    """The whole report: (a) the main score and each of ``metrics`` per task, (b) the
    languages of multi-subset tasks, (c) the robustness measures.

    Args:
        results_dirs: MTEB results folders (several are merged).
        options: :class:`ReportOptions` (default: all tables, randomization tests, no intervals).
        qrels: ``{task: {subset: {split: qrels}}}`` or ``loader(task, dataset_revision)``
            (default: :func:`default_qrels_loader`, which reads existing builds).
    """
    o = options or ReportOptions()
    baseline, fmt, ci, significance = o.baseline, o.fmt, o.ci, o.significance
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    ctx = ReportContext.from_dirs(
        list(results_dirs), qrels=qrels, build_root=build_root, test=o.test, n_samples=o.n_samples, seed=o.seed, alpha=o.alpha
    )
    if baseline:
        ctx.index(baseline)  # fail early on a typo
    sections = [
        section_heading("optical-bench report", fmt).replace("###", "##"),
        format_note(f"Models: {', '.join(ctx.labels)}. Scores are means over each task's subsets (mteb's convention).", fmt),
    ]
    for metric in dict.fromkeys(["main_score", *o.metrics]):
        sections.append(main_table(ctx, metric, baseline=baseline, fmt=fmt, ci=ci, significance=significance))
    if o.languages:
        for task in ctx.tasks():
            if max((len(run.subset_entries(task)) for run in ctx.runs), default=0) >= 2:
                sections.append(languages_table(ctx, task, "main_score", baseline=baseline, fmt=fmt, ci=ci, significance=significance))
    if o.robustness:
        sections.append(robustness_table(ctx, "main_score", fmt=fmt, config=o.robustness_config))
    return "\n\n".join(sections) + "\n"
