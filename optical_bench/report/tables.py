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
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optical_bench.power import DetectableEffect
from optical_bench.report.context import QrelsLoader, ReportContext
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

FORMATS = {"github": "github", "md": "pipe", "markdown": "pipe", "latex": "latex_raw"}  # markdown: md
REPORT_METRICS = ("mrr_at_10", "recall_at_1")  # the tables after the main score
DAGGER = "†"
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


# =========================================================================== cells


def _escape_latex(text: str) -> str:
    replacements = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(replacements.get(ch, ch) for ch in str(text))


def _text(text: str, fmt: str) -> str:
    return _escape_latex(text) if fmt == "latex" else str(text)


def _number(value: float | None, fmt: str, mark: bool = False, half_width: float | None = None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    text = f"{value:.{digits}f}"
    if mark:
        text += r"$^\dagger$" if fmt == "latex" else DAGGER
    if half_width is not None and not math.isnan(half_width):
        text += (r" $\pm$" if fmt == "latex" else " ±") + f"{half_width:.{digits}f}"
    return text


def _table(
    rows: list[list[str]],
    headers: list[str],
    fmt: str,
    *,
    title: str = "",
    better: Sequence[bool | None] | bool | None = True,
    label_columns: int = 1,
) -> str:
    """A table in ``fmt``. LaTeX tables are booktabs tables with a caption (``title``) and a
    label, the label columns left-aligned and the numbers right-aligned, and the best value
    of each row in bold (``better``: per row, True where higher is better, False where lower
    is, None for no mark)."""
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "latex":
        headers = [h if h.startswith("\\") or "$" in h else _escape_latex(h) for h in headers]
        return _latex_table(rows, headers, title, better, label_columns)
    return tabulate(rows, headers=headers, tablefmt=FORMATS[fmt], disable_numparse=True)


_LEADING_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?")


def _bold_best(row: list[str], higher: bool | None, label_columns: int) -> list[str]:
    """``row`` with its best value (``higher``: the largest, else the smallest) in bold."""
    values = {i: float(m.group()) for i, cell in enumerate(row) if i >= label_columns and (m := _LEADING_NUMBER.match(cell))}
    if higher is None or len(values) < 2:
        return row
    best = (max if higher else min)(values.values())
    return [rf"\textbf{{{cell}}}" if values.get(i) == best else cell for i, cell in enumerate(row)]


LATEX_HEADER_LIMIT = 12  # longer column headers (model names) become A, B, ... with a legend under the table


def _short_headers(headers: list[str], label_columns: int) -> tuple[list[str], list[str]]:
    """Headers a page can hold: each header past the label columns longer than
    :data:`LATEX_HEADER_LIMIT` characters becomes a letter; returns them and the legend entries."""
    if all(len(h) <= LATEX_HEADER_LIMIT for h in headers[label_columns:]):
        return headers, []
    short = list(headers[:label_columns])
    legend = []
    for index, header in enumerate(headers[label_columns:]):
        letter = chr(ord("A") + index) if index < 26 else f"M{index + 1}"
        short.append(letter)
        legend.append(f"{letter}: {header}")
    return short, legend


def _latex_table(rows: list[list[str]], headers: list[str], title: str, better, label_columns: int) -> str:
    per_row = better if isinstance(better, (list, tuple)) else [better] * len(rows)
    body = [" & ".join(_bold_best(row, higher, label_columns)) + r" \\" for row, higher in zip(rows, per_row)]
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "results"
    headers, legend = _short_headers(headers, label_columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_escape_latex(title)}}}",
        rf"\label{{tab:{slug}}}",
        r"% needs \usepackage{booktabs,graphicx}; shrinks to the line width only when wider",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\begin{tabular}{" + "l" * label_columns + "r" * (len(headers) - label_columns) + "}",
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}}",
    ]
    if legend:
        lines.append(r"\par\smallskip{\footnotesize " + "; ".join(legend) + ".}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def _heading(title: str, fmt: str) -> str:
    return f"% {title}" if fmt == "latex" else f"### {title}"


def _note(text: str, fmt: str) -> str:
    if fmt == "latex":
        body = _escape_latex(text).replace(DAGGER, r"$^\dagger$").replace("±", r"$\pm$").replace("<", "$<$").replace(">", "$>$")
        return "\\smallskip\\noindent{\\footnotesize " + body + "}"
    return text


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
    return _note(
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
    return _note(" ".join(parts), fmt) if parts else ""


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
    rows = []
    for task in tasks:
        row = [_text(task, fmt)]
        for i, run in enumerate(ctx.runs):
            value = run.score(task, metric) if task in run.tasks else None
            row.append(_number(value, fmt, marks.get((i, task, None), False), half.get((i, task, None))))
        rows.append(row)
    headers = ["task"] + [label + (" (baseline)" if i == base else "") for i, label in enumerate(ctx.labels)]
    caption = f"Tasks: {metric_label(metric)}"
    parts = [_heading(caption, fmt)] if title else []
    parts.append(_table(rows, headers, fmt, title=caption))
    note = _significance_note(ctx, base if significance else None, family, ci, fmt)
    if note:
        parts.append(note)
    power = _detectable_effect_note(ctx, tasks, metric, base, fmt) if significance else ""
    if power:
        parts.append(power)
    return "\n\n".join(parts)


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
        row = [_text(subset, fmt)]
        for i, run in enumerate(ctx.runs):
            value = run.scores(task, metric).get(subset) if task in run.tasks else None
            row.append(_number(value, fmt, marks.get((i, task, subset), False), half.get((i, task, subset))))
        rows.append(row)
    for label, reduce in (("mean", np.mean), ("worst", np.min)):
        row = [_text(label, fmt)]
        for run in ctx.runs:
            values = list(run.scores(task, metric).values()) if task in run.tasks else []
            row.append(_number(float(reduce(values)) if values else None, fmt))
        rows.append(row)
    headers = ["language"] + [label + (" (baseline)" if i == base else "") for i, label in enumerate(ctx.labels)]
    caption = f"Languages of {task}: {metric_label(metric)}"
    parts = [_heading(caption, fmt), _table(rows, headers, fmt, title=caption)]
    note = _significance_note(ctx, base if significance else None, family, ci, fmt)
    if note:
        parts.append(note.replace(" (stratified by subset)", ""))
    return "\n\n".join(parts)


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
                _heading(f"Robustness: {metric_label(metric)}", fmt),
                _note(
                    "No robustness measure applies: the results hold no in-domain/domain-shift pair, oracle or multi-language task.", fmt
                ),
            ]
        )
    rows = []
    for key in keys:
        measure, task = key.split("/", 1)
        arrow = ("↑" if directions[key] else "↓") if fmt != "latex" else (r"$\uparrow$" if directions[key] else r"$\downarrow$")
        row = [f"{_text(measure, fmt)} {arrow}", _text(task, fmt)]
        for summary in summaries:
            row.append(_number(summary["values"].get(key), fmt))
        rows.append(row)
    headers = ["measure", "task"] + list(ctx.labels)
    caption = f"Robustness: {metric_label(metric)}"
    table = _table(rows, headers, fmt, title=caption, better=[directions[key] for key in keys], label_columns=2)
    return "\n\n".join(
        [
            _heading(caption, fmt),
            table,
            _note("↑ higher is better, ↓ lower is better; definitions in optical_bench.robustness.", fmt)
            .replace("↑", r"$\uparrow$" if fmt == "latex" else "↑")
            .replace("↓", r"$\downarrow$" if fmt == "latex" else "↓"),
        ]
    )


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
        _heading("optical-bench report", fmt).replace("###", "##"),
        _note(f"Models: {', '.join(ctx.labels)}. Scores are means over each task's subsets (mteb's convention).", fmt),
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
