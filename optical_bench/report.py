r"""Comparison tables and plots from MTEB results folders (``optical-bench report``).

Tables (``tabulate``; ``--format md|github|latex``), models as columns:

(a) tasks x models, one table for the main score and one per chosen metric;
(b) languages x models for every task with several subsets;
(c) robustness measures x models (:mod:`optical_bench.robustness`).

Any MTEB results folder can be read: ours, other models', a clone of the public results
repository; task files of tasks optical-bench does not know are shown (without
robustness roles) and bare ``NaN`` in JSON is fine.

Significance against a baseline model (``--baseline``): where mteb's rankings
(``.predictions``) and the task's qrels are available, per-query scores come from
``pytrec_eval`` (:mod:`optical_bench.significance`) and a cell gets ``†`` when the paired
randomization test (default 10,000 samples) gives a Holm-corrected p < 0.05, the family
being every comparison of that table. Without rankings or qrels: no mark (never a guess).
``ci=True`` adds the half-width of a 95% bootstrap interval over queries: ``0.812 ±0.031``.

Plots (matplotlib, Agg canvas, PNG): :func:`plot_learning_curves`, :func:`plot_domain_shift`
and :func:`plot_alignment_heatmap` (with :func:`alignment_for_pair`, which runs the
student route of a Router model on the low-resource text and the teacher route on the
English text and aligns their sub-word tokens by entropic OT).
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from optical_bench.robustness import RobustnessConfig, RunResults, load_runs, robustness_summary

logger = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "ReportContext",
    "add_report_arguments",
    "alignment_for_pair",
    "build_report",
    "default_qrels_loader",
    "languages_table",
    "main_table",
    "plot_alignment_heatmap",
    "plot_domain_shift",
    "plot_learning_curves",
    "robustness_table",
    "run_report",
]

FORMATS = {"github": "github", "md": "pipe", "latex": "latex_raw"}
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
QrelsLoader = Callable[[str, "str | None"], "Mapping[str, Mapping[str, Any]] | None"]


# =========================================================================== qrels


def default_qrels_loader(build_root: Path | str | None = None) -> QrelsLoader:
    """Qrels of optical-bench's built-in tasks, from an existing build (never builds one).

    Looks in ``build_root``, else in every build under ``<cache>/collections/``, for the
    build whose task revision equals the results' ``dataset_revision`` (so the qrels are
    the ones the rankings were scored with). Hub-backed and unknown tasks give ``None``.
    Returns ``loader(task_name, dataset_revision) -> {subset: {split: qrels}} | None``.
    """
    cache: dict[tuple[str, str | None], Any] = {}

    def load(task_name: str, dataset_revision: str | None = None):
        key = (task_name, dataset_revision)
        if key in cache:
            return cache[key]
        cache[key] = None
        from optical_bench.io import home
        from optical_bench.tasks import load_cards, make_task

        try:
            card = load_cards().get(task_name)
        except Exception as error:
            logger.info("No task cards (%s): no qrels for %s.", error, task_name)
            return None
        if card is None or card.source.get("type") != "builtin":
            return None
        roots = [Path(build_root)] if build_root else sorted(p.parent for p in (home() / "collections").glob("*/build.json"))
        for root in roots:
            try:
                task = make_task(card, build_root=root)
                if dataset_revision and task.metadata.revision != dataset_revision:
                    continue  # another build: its qrels may differ from the ones the rankings were scored with
                task.load_data()
            except Exception as error:  # an incomplete build: try the next one
                logger.info("Build %s has no usable %s (%s).", root, task_name, error)
                continue
            cache[key] = {subset: {split: data["relevant_docs"] for split, data in splits.items()} for subset, splits in task.dataset.items()}
            break
        if cache[key] is None:
            logger.info("No build with the qrels of %s (revision %s): no significance marks for it.", task_name, dataset_revision)
        return cache[key]

    return load


def _as_loader(qrels: QrelsLoader | Mapping[str, Any] | None, build_root: Path | str | None) -> QrelsLoader:
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
            self.labels = _labels(self.runs)

    @classmethod
    def from_dirs(cls, results_dirs, qrels=None, build_root=None, **kwargs) -> "ReportContext":
        runs = [r for r in results_dirs if isinstance(r, RunResults)] if _all_runs(results_dirs) else load_runs(results_dirs)
        if not runs:
            raise FileNotFoundError(f"No MTEB results (<org>__<model>/<revision>/<Task>.json) under {results_dirs}.")
        return cls(runs=runs, qrels=_as_loader(qrels, build_root), **kwargs)

    def tasks(self) -> list[str]:
        return _task_order({task for run in self.runs for task in run.tasks})

    def index(self, name: str) -> int:
        """The run a user means by ``name``: full name, short name, label or ``name@revision``."""
        matches = [i for i, (run, label) in enumerate(zip(self.runs, self.labels))
                   if name in (run.model, run.short_name, label, f"{run.model}@{run.revision}", f"{run.short_name}@{run.revision}")]
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

        qrels = self.qrels(task, run.tasks[task].get("dataset_revision"))
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
                out[subset] = per_query_scores(subset_qrels, ranking, metric)
            self._per_query[key] = out
        except Exception as error:
            logger.warning("Per-query scores of %s on %s failed (%s): no mark.", self.labels[index], task, error)
        return self._per_query[key]


def _all_runs(items) -> bool:
    return isinstance(items, (list, tuple)) and bool(items) and all(isinstance(r, RunResults) for r in items)


def _labels(runs: Sequence[RunResults]) -> list[str]:
    shorts = [run.short_name for run in runs]
    labels = []
    for run in runs:
        label = run.short_name if shorts.count(run.short_name) == 1 else run.model
        if sum(1 for other in runs if other.model == run.model) > 1:
            label = f"{label}@{run.revision[:8]}"
        labels.append(label)
    return labels


def _task_order(tasks: Iterable[str]) -> list[str]:
    from optical_bench.tasks import DEFAULT_TASKS

    order = {name: i for i, name in enumerate(DEFAULT_TASKS)}
    return sorted(tasks, key=lambda t: (order.get(t, len(order)), t))


# =========================================================================== cells


def _escape_latex(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
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


def _table(rows: list[list[str]], headers: list[str], fmt: str) -> str:
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "latex":
        headers = [h if h.startswith("\\") or "$" in h else _escape_latex(h) for h in headers]
    return tabulate(rows, headers=headers, tablefmt=FORMATS[fmt], disable_numparse=True)


def _heading(title: str, fmt: str) -> str:
    return f"% {title}" if fmt == "latex" else f"### {title}"


def _note(text: str, fmt: str) -> str:
    if fmt == "latex":
        body = _escape_latex(text).replace(DAGGER, r"$^\dagger$").replace("±", r"$\pm$").replace("<", "$<$").replace(">", "$>$")
        return "\\smallskip\\noindent{\\footnotesize " + body + "}"
    return text


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# =========================================================================== tables


def _context(results, qrels=None, build_root=None, **kwargs) -> ReportContext:
    return results if isinstance(results, ReportContext) else ReportContext.from_dirs(results, qrels=qrels, build_root=build_root, **kwargs)


Cell = tuple[int, str, "str | None"]  # (run index, task, subset or None for the whole task)


def _cells_with_significance(
    ctx: ReportContext, cells: list[Cell], metric: str, baseline: int | None, ci: bool
) -> tuple[dict[Cell, bool], dict[Cell, float], int]:
    """Holm-corrected marks (one family: every cell of the table) and CI half-widths."""
    from optical_bench.significance import (
        align, bootstrap_ci, bootstrap_macro_ci, holm, paired_randomization_test, paired_t_test,
    )

    def pooled(index: int, task: str, subset: str | None) -> dict[str, float] | None:
        per_query = ctx.per_query(index, task, metric)
        if per_query is None:
            return None
        subsets = [subset] if subset else list(per_query)
        if any(s not in per_query for s in subsets):
            return None
        return {f"{s}/{q}": v for s in subsets for q, v in per_query[s].items()}

    raw: dict[Cell, float] = {}
    if baseline is not None:
        for cell in cells:
            index, task, subset = cell
            if index == baseline:
                continue
            a_scores, b_scores = pooled(index, task, subset), pooled(baseline, task, subset)
            if not a_scores or not b_scores:
                continue
            a, b, _ = align(a_scores, b_scores)
            if a.size == 0:
                continue
            raw[cell] = (paired_randomization_test(a, b, n_samples=ctx.n_samples, seed=ctx.seed)
                         if ctx.test == "randomization" else paired_t_test(a, b))
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
        test = f"two-sided paired randomization test, {ctx.n_samples:,} samples" if ctx.test == "randomization" else "two-sided paired t-test"
        if family:
            parts.append(f"{DAGGER} p < {ctx.alpha} against {ctx.labels[baseline]}: {test}, on per-query scores, "
                         f"Holm-corrected over the {family} comparison{'s' if family != 1 else ''} of this table.")
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
    parts = [_heading(f"Tasks: {_metric_label(metric)}", fmt)] if title else []
    parts.append(_table(rows, headers, fmt))
    note = _significance_note(ctx, base if significance else None, family, ci, fmt)
    if note:
        parts.append(note)
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
    parts = [_heading(f"Languages of {task}: {_metric_label(metric)}", fmt), _table(rows, headers, fmt)]
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
        return "\n\n".join([_heading(f"Robustness: {_metric_label(metric)}", fmt),
                            _note("No robustness measure applies: the results hold no in-domain/domain-shift pair, oracle or multi-language task.", fmt)])
    rows = []
    for key in keys:
        measure, task = key.split("/", 1)
        arrow = ("↑" if directions[key] else "↓") if fmt != "latex" else (r"$\uparrow$" if directions[key] else r"$\downarrow$")
        row = [f"{_text(measure, fmt)} {arrow}", _text(task, fmt)]
        for summary in summaries:
            row.append(_number(summary["values"].get(key), fmt))
        rows.append(row)
    headers = ["measure", "task"] + list(ctx.labels)
    return "\n\n".join([_heading(f"Robustness: {_metric_label(metric)}", fmt), _table(rows, headers, fmt),
                        _note("↑ higher is better, ↓ lower is better; definitions in optical_bench.robustness.", fmt).replace("↑", r"$\uparrow$" if fmt == "latex" else "↑").replace("↓", r"$\downarrow$" if fmt == "latex" else "↓")])


def build_report(
    results_dirs: Iterable[Path | str] | Path | str,
    baseline: str | None = None,
    metrics: Sequence[str] = ("mrr_at_10", "recall_at_1"),
    fmt: str = "github",
    *,
    ci: bool = False,
    significance: bool = True,
    test: str = "randomization",
    n_samples: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    qrels: QrelsLoader | Mapping[str, Any] | None = None,
    build_root: Path | str | None = None,
    languages: bool = True,
    robustness: bool = True,
    robustness_config: RobustnessConfig | None = None,
) -> str:
    """The whole report: (a) the main score and each of ``metrics`` per task, (b) the
    languages of multi-subset tasks, (c) the robustness measures.

    Args:
        results_dirs: MTEB results folders (several are merged).
        baseline: model the others are tested against (name, short name or NAME@REVISION).
        metrics: metrics shown after the main score (one table each).
        fmt: ``github``, ``md`` (pipe tables) or ``latex``.
        ci: add ``±`` half-widths of 95% bootstrap intervals (needs rankings and qrels).
        significance: mark significant differences with the baseline.
        test: ``randomization`` or ``t-test``.
        qrels: ``{task: {subset: {split: qrels}}}`` or ``loader(task, dataset_revision)``
            (default: :func:`default_qrels_loader`, which reads existing builds).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    ctx = ReportContext.from_dirs(list(results_dirs), qrels=qrels, build_root=build_root, test=test, n_samples=n_samples, seed=seed, alpha=alpha)
    if baseline:
        ctx.index(baseline)  # fail early on a typo
    sections = [_heading("optical-bench report", fmt).replace("###", "##"),
                _note(f"Models: {', '.join(ctx.labels)}. Scores are means over each task's subsets (mteb's convention).", fmt)]
    for metric in dict.fromkeys(["main_score", *metrics]):
        sections.append(main_table(ctx, metric, baseline=baseline, fmt=fmt, ci=ci, significance=significance))
    if languages:
        for task in ctx.tasks():
            if max((len(run.subset_entries(task)) for run in ctx.runs), default=0) >= 2:
                sections.append(languages_table(ctx, task, "main_score", baseline=baseline, fmt=fmt, ci=ci, significance=significance))
    if robustness:
        sections.append(robustness_table(ctx, "main_score", fmt=fmt, config=robustness_config))
    return "\n\n".join(sections) + "\n"


# =========================================================================== plots


def _figure(width: float = 6.4, height: float = 4.0):
    """A figure on an Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path | str) -> Path:
    import io

    from optical_bench.io import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return atomic_write_bytes(Path(path), buffer.getvalue())


def _curve_series(points) -> dict[str, list[tuple[float, float, float | None, float | None]]]:
    """{label: [(size, score, low, high)]} from a mapping of tuples or a list of dicts."""
    series: dict[str, list[tuple[float, float, float | None, float | None]]] = {}
    if isinstance(points, Mapping):
        for label, items in points.items():
            for item in items:
                size, score, *rest = item
                series.setdefault(str(label), []).append((float(size), float(score), *(rest + [None, None])[:2]))
    else:
        for item in points:
            label = str(item.get("label", item.get("method", "run")))
            size = item.get("bitext_size", item.get("size"))
            series.setdefault(label, []).append((float(size), float(item["score"]), item.get("low"), item.get("high")))
    for label in series:
        by_size: dict[float, list] = {}
        for size, score, low, high in series[label]:
            by_size.setdefault(size, []).append((score, low, high))
        merged = []
        for size in sorted(by_size):
            scores = [s for s, _, _ in by_size[size]]
            lows = [lo for _, lo, _ in by_size[size] if lo is not None]
            highs = [hi for _, _, hi in by_size[size] if hi is not None]
            merged.append((size, float(np.mean(scores)), float(np.mean(lows)) if lows else None, float(np.mean(highs)) if highs else None))
        series[label] = merged
    return series


def plot_learning_curves(
    points: Mapping[str, Iterable[Sequence[float]]] | Iterable[Mapping[str, Any]],
    path: Path | str,
    *,
    title: str = "Score vs bitext size",
    ylabel: str = "nDCG@10",
) -> Path:
    """Score vs bitext size on a log2 x axis, one line per method/augmentation.

    Args:
        points: ``{label: [(size, score) or (size, score, low, high), ...]}`` (e.g. from
            :func:`optical_bench.robustness.learning_curve_points`) or a list of dicts with
            ``label``, ``bitext_size``, ``score`` and optional ``low``/``high`` (CI band).
            Several points at one size (seeds) are averaged.
        path: the PNG to write.
    """
    series = _curve_series(points)
    if not series:
        raise ValueError("plot_learning_curves: no points to plot.")
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    for label, items in series.items():
        items = [item for item in items if item[0] > 0]
        if not items:
            continue
        x = [item[0] for item in items]
        y = [item[1] for item in items]
        line = axes.plot(x, y, marker="o", label=label)[0]
        if all(item[2] is not None and item[3] is not None for item in items):
            axes.fill_between(x, [item[2] for item in items], [item[3] for item in items], color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set_xscale("log", base=2)
    axes.set_xlabel("bitext pairs (log scale)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    return _save(figure, path)


KIND_ORDER = ("in-domain", "domain-shift", "new-languages")


def domain_shift_scores(results, metric: str = "main_score") -> dict[str, dict[str, float]]:
    """{model label: {kind: mean score over the tasks of that kind}} from results folders or runs."""
    from optical_bench.tasks import load_cards

    runs = results if _all_runs(results) else load_runs(results)
    kinds = {name: card.kind for name, card in load_cards().items()}
    out: dict[str, dict[str, float]] = {}
    for label, run in zip(_labels(runs), runs):
        by_kind: dict[str, list[float]] = {}
        for task in run.tasks:
            if kinds.get(task) in KIND_ORDER:
                by_kind.setdefault(kinds[task], []).append(run.score(task, metric))
        out[label] = {kind: float(np.mean(values)) for kind, values in by_kind.items()}
    return out


def plot_domain_shift(results, path: Path | str, *, metric: str = "main_score", title: str = "In-domain vs domain shift vs new languages") -> Path:
    """Grouped bars per model: in-domain, domain-shift and new-languages scores.

    ``results`` is ``{model: {"in-domain": s, "domain-shift": s, "new-languages": s}}``, or
    results folders / runs (kinds from the task cards, scores averaged per kind).
    """
    if isinstance(results, Mapping) and all(isinstance(v, Mapping) for v in results.values()):
        scores = {str(model): dict(values) for model, values in results.items()}
    else:
        scores = domain_shift_scores(results, metric)
    if not scores:
        raise ValueError("plot_domain_shift: no scores to plot.")
    kinds = [kind for kind in KIND_ORDER if any(kind in v for v in scores.values())] or sorted({k for v in scores.values() for k in v})
    figure = _figure(max(6.4, 1.4 * len(scores) + 2), 4.0)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(kinds))
    x = np.arange(len(scores))
    for j, kind in enumerate(kinds):
        values = [scores[model].get(kind, np.nan) for model in scores]
        axes.bar(x + (j - (len(kinds) - 1) / 2) * width, values, width, label=kind)
    axes.set_xticks(x)
    axes.set_xticklabels(list(scores), rotation=20, ha="right", fontsize="small")
    axes.set_ylabel(_metric_label(metric) if metric != "main_score" else "main score")
    axes.set_title(title)
    axes.legend(fontsize="small")
    axes.grid(True, axis="y", alpha=0.3)
    return _save(figure, path)


def plot_alignment_heatmap(
    plan: Any,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    path: Path | str,
    title: str | None = None,
    *,
    normalize_rows: bool = False,
) -> Path:
    """Heatmap of an OT plan (rows: student/low-resource sub-words, columns: teacher/English).

    Args:
        plan: ``(m, n)`` array or tensor (e.g. ``ot_alignment(...).plan``).
        source_tokens, target_tokens: the ``m`` row and ``n`` column labels.
        normalize_rows: show :math:`P_{ij} / \\sum_j P_{ij}` (where each source token's mass goes).
    """
    matrix = np.asarray(plan.detach().cpu().numpy() if hasattr(plan, "detach") else plan, dtype=float)
    if matrix.ndim != 2 or matrix.shape != (len(source_tokens), len(target_tokens)):
        raise ValueError(f"plot_alignment_heatmap: plan of shape {matrix.shape} does not fit {len(source_tokens)} source and {len(target_tokens)} target tokens.")
    if normalize_rows:
        matrix = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1e-30, None)
    m, n = matrix.shape
    figure = _figure(max(4.0, 0.35 * n + 2.0), max(3.0, 0.35 * m + 1.5))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="viridis", aspect="auto")
    axes.set_xticks(range(n))
    axes.set_xticklabels(list(target_tokens), rotation=60, ha="right", fontsize="small")
    axes.set_yticks(range(m))
    axes.set_yticklabels(list(source_tokens), fontsize="small")
    axes.set_xlabel("teacher tokens (English)")
    axes.set_ylabel("student tokens (low-resource)")
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, label="transport mass" if not normalize_rows else "share of the row's mass")
    return _save(figure, path)


@dataclass
class PairAlignment:
    """An OT alignment of one low-resource sentence with its English translation."""

    plan: np.ndarray  # (m, n), rows: source (student) tokens
    source_tokens: list[str]
    target_tokens: list[str]
    cost: float
    settings: dict[str, Any]


def _encode_tokens(module, text: str) -> tuple[Any, Any, list[str], Any]:
    import torch

    prepare = getattr(module, "preprocess", None) or module.tokenize
    features = prepare([text])
    features = {k: (v.to(next(module.parameters()).device) if hasattr(v, "to") else v) for k, v in features.items()}
    with torch.no_grad():
        out = module(features)
    ids = out["input_ids"][0]
    tokenizer = module.tokenizer
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    special = torch.tensor([int(i) in set(tokenizer.all_special_ids) for i in ids.tolist()])
    return out["token_embeddings"][0], out["attention_mask"][0], tokens, special


def alignment_for_pair(
    model_or_folder: Any,
    lr_text: str,
    en_text: str,
    *,
    student_route: str | None = None,
    epsilon: float | None = None,
    n_iters: int | None = None,
    cost: str | None = None,
    drop_special_tokens: bool | None = None,
    device: str = "cpu",
) -> PairAlignment:
    """Align the sub-words of ``lr_text`` (student route) and ``en_text`` (teacher route).

    The model is a Router model (``model[0].sub_modules["query"|"document"]``, each
    ``[Transformer, Pooling, Normalize]``) or its folder; the token embeddings are the
    Transformer module's ``token_embeddings``; the plan is
    :func:`optical_bench.ot.ot_alignment`'s. OT settings default to the model's provenance
    (``optical_bench_provenance.json`` → ``ot``; IDF marginals are not reproduced: uniform),
    else epsilon 0.05, 50 iterations, cosine cost, special tokens dropped (their rows and
    columns are then removed from the plan).

    Args:
        student_route: ``"query"`` or ``"document"`` (default: the provenance's
            ``student_side``, else ``"query"``); the other route is the teacher.
    """
    import torch
    from sentence_transformers.models import Router

    from optical_bench.ot import ot_alignment

    provenance: dict[str, Any] = {}
    if isinstance(model_or_folder, (str, Path)):
        from optical_bench.evaluate import load_sentence_transformer
        from optical_bench.models import read_provenance

        provenance = (read_provenance(Path(model_or_folder)) or {}) if Path(model_or_folder).is_dir() else {}
        model = load_sentence_transformer(str(model_or_folder), device=device)
    else:
        model = model_or_folder
    router = model[0]
    if not isinstance(router, Router):
        raise ValueError("alignment_for_pair needs a distilled Router model (student and teacher routes); "
                         "build one with optical_bench.models.build_distillation_model or train one with `optical-bench train`.")
    ot_settings = provenance.get("ot") or {}
    student_route = student_route or provenance.get("student_side") or "query"
    teacher_route = "document" if student_route == "query" else "query"
    settings = {
        "student_route": student_route,
        "epsilon": float(epsilon if epsilon is not None else ot_settings.get("epsilon") or 0.05),
        "n_iters": int(n_iters if n_iters is not None else ot_settings.get("iterations") or 50),
        "cost": cost or ot_settings.get("cost") or "cosine",
        "drop_special_tokens": bool(drop_special_tokens if drop_special_tokens is not None else ot_settings.get("drop_special_tokens", True)),
    }
    s_emb, s_mask, s_tokens, s_special = _encode_tokens(router.sub_modules[student_route][0], lr_text)
    t_emb, t_mask, t_tokens, t_special = _encode_tokens(router.sub_modules[teacher_route][0], en_text)
    with torch.no_grad():
        alignment = ot_alignment(
            s_emb.float(), t_emb.float(), s_mask, t_mask, cost=settings["cost"], epsilon=settings["epsilon"], n_iters=settings["n_iters"],
            student_special_tokens_mask=s_special.long() if settings["drop_special_tokens"] else None,
            teacher_special_tokens_mask=t_special.long() if settings["drop_special_tokens"] else None,
        )
    plan = alignment.plan.detach().cpu().numpy()
    rows = [i for i in range(len(s_tokens)) if bool(s_mask[i]) and not (settings["drop_special_tokens"] and bool(s_special[i]))]
    cols = [j for j in range(len(t_tokens)) if bool(t_mask[j]) and not (settings["drop_special_tokens"] and bool(t_special[j]))]
    if not rows or not cols:  # only special tokens: keep everything
        rows, cols = list(range(len(s_tokens))), list(range(len(t_tokens)))
    return PairAlignment(plan[np.ix_(rows, cols)], [s_tokens[i] for i in rows], [t_tokens[j] for j in cols], float(alignment.cost), settings)


# =========================================================================== command line


def add_report_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``optical-bench report RESULTS... [--format ...] [--baseline MODEL] [--out FILE]``."""
    parser.add_argument("results", nargs="+", help="MTEB results folders (<org>__<model>/<revision>/<Task>.json); several are merged")
    parser.add_argument("--format", dest="fmt", default="github", choices=list(FORMATS), help="table format (default: %(default)s)")
    parser.add_argument("--baseline", help="model to test the others against (name, short name or NAME@REVISION)")
    parser.add_argument("--out", help="write the report to this file (default: print it)")
    parser.add_argument("--metrics", nargs="*", default=["mrr_at_10", "recall_at_1"], help="metrics after the main score (default: %(default)s)")
    parser.add_argument("--ci", action="store_true", help="add ± half-widths of 95%% bootstrap intervals (needs rankings and qrels)")
    parser.add_argument("--test", default="randomization", choices=["randomization", "t-test"], help="paired test (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=10_000, help="randomization/bootstrap samples (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the randomization and bootstrap (default: %(default)s)")
    parser.add_argument("--build-root", help="build folder holding the qrels (default: any existing build in the cache)")
    parser.add_argument("--write-robustness", action="store_true", help="also write robustness.json and the robustness_* entries into each results folder")
    parser.add_argument("--plots", help="folder for PNG plots (domain shift bars; learning curves where provenance allows)")
    return parser


def run_report(args: argparse.Namespace) -> int:
    """Run ``optical-bench report`` from parsed arguments; returns the exit status."""
    from optical_bench.io import atomic_write_text

    if getattr(args, "write_robustness", False):
        from optical_bench.robustness import write_robustness

        for folder in args.results:
            write_robustness(folder)
    text = build_report(
        args.results, baseline=args.baseline, metrics=args.metrics or (), fmt=args.fmt, ci=args.ci, test=args.test,
        n_samples=args.samples, seed=args.seed, build_root=args.build_root,
    )
    if getattr(args, "plots", None):
        plots = Path(args.plots)
        try:
            print(f"plot: {plot_domain_shift(args.results, plots / 'domain_shift.png')}")
        except ValueError as error:
            print(f"no domain-shift plot: {error}")
        from optical_bench.robustness import learning_curve_points

        runs = load_runs(args.results)
        for task in _task_order({t for run in runs for t in run.tasks}):
            points = learning_curve_points(runs, task)
            if any(len({size for size, _ in p}) >= 2 for p in points.values()):
                print(f"plot: {plot_learning_curves(points, plots / f'learning_curve_{task}.png', title=task)}")
    if args.out:
        atomic_write_text(args.out, text)
        print(f"report: {args.out}")
    else:
        print(text, end="")
    return 0
