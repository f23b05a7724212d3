"""Plots of MTEB results (matplotlib on an Agg canvas, no pyplot; PNG files written atomically).

:func:`plot_learning_curves` (score vs bitext size) and :func:`plot_domain_shift`
(in-domain vs domain-shift vs new-languages bars per model); :func:`new_figure` and
:func:`save_png` are shared with :mod:`optical_bench.report.alignment`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optical_bench.report.context import is_run_list, run_labels
from optical_bench.report.tables import metric_label
from optical_bench.results import load_runs

__all__ = [
    "KIND_ORDER",
    "domain_shift_figure",
    "domain_shift_scores",
    "new_figure",
    "plot_domain_shift",
    "plot_learning_curves",
    "save_png",
]


def new_figure(width: float = 6.4, height: float = 4.0):
    """A figure on an Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: Path | str) -> Path:
    """Write ``figure`` to ``path`` as a PNG (atomically)."""
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
    figure = new_figure()
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
    return save_png(figure, path)


KIND_ORDER = ("in-domain", "domain-shift", "new-languages")  # the bars of plot_domain_shift, in order


def domain_shift_scores(results, metric: str = "main_score") -> dict[str, dict[str, float]]:
    """{model label: {kind: mean score over the tasks of that kind}} from results folders or runs."""
    from optical_bench.tasks import load_cards

    runs = results if is_run_list(results) else load_runs(results)
    kinds = {name: card.kind for name, card in load_cards().items()}
    out: dict[str, dict[str, float]] = {}
    for label, run in zip(run_labels(runs), runs):
        by_kind: dict[str, list[float]] = {}
        for task in run.tasks:
            if kinds.get(task) in KIND_ORDER:
                by_kind.setdefault(kinds[task], []).append(run.score(task, metric))
        out[label] = {kind: float(np.mean(values)) for kind, values in by_kind.items()}
    return out


KIND_TITLES = {"in-domain": "in-domain", "domain-shift": "domain shift", "new-languages": "new languages"}


def _main_score_labels(results) -> list[str]:
    """The metric names of the main scores of the tasks a domain-shift plot averages (from the task cards)."""
    from optical_bench.tasks import load_cards

    if isinstance(results, Mapping):
        return []
    runs = results if is_run_list(results) else load_runs(results)
    cards = load_cards()
    tasks = {task for run in runs for task in run.tasks if task in cards and cards[task].kind in KIND_ORDER}
    return sorted({metric_label(cards[task].main_score) for task in tasks})


def domain_shift_figure(results, *, metric: str = "main_score", title: str | None = None):
    """The figure of :func:`plot_domain_shift`: its title names the kinds present, its y axis the metric,
    and its legend sits beside the axes (never over a bar)."""
    if isinstance(results, Mapping) and all(isinstance(v, Mapping) for v in results.values()):
        scores = {str(model): dict(values) for model, values in results.items()}
    else:
        scores = domain_shift_scores(results, metric)
    if not scores or not any(scores.values()):
        raise ValueError("plot_domain_shift: no scores to plot.")
    kinds = [kind for kind in KIND_ORDER if any(kind in v for v in scores.values())] or sorted({k for v in scores.values() for k in v})
    figure = new_figure(max(6.4, 1.4 * len(scores) + 3), 4.0)
    axes = figure.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(kinds))
    x = np.arange(len(scores))
    for j, kind in enumerate(kinds):
        values = [scores[model].get(kind, np.nan) for model in scores]
        axes.bar(x + (j - (len(kinds) - 1) / 2) * width, values, width, label=KIND_TITLES.get(kind, kind))
    axes.set_xticks(x)
    axes.set_xticklabels(list(scores), rotation=20, ha="right", fontsize="small")
    if metric != "main_score":
        ylabel = metric_label(metric)
    else:
        names = _main_score_labels(results)
        ylabel = f"main score ({', '.join(names)})" if names else "main score"
    axes.set_ylabel(ylabel)
    named = [KIND_TITLES.get(kind, kind) for kind in kinds]
    default_title = " vs ".join(named) if len(named) > 1 else f"{named[0]} scores"
    axes.set_title(title or default_title[0].upper() + default_title[1:])
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    axes.grid(True, axis="y", alpha=0.3)
    return figure


def plot_domain_shift(results, path: Path | str, *, metric: str = "main_score", title: str | None = None) -> Path:
    """Grouped bars per model: in-domain, domain-shift and new-languages scores (:func:`domain_shift_figure`).

    ``results`` is ``{model: {"in-domain": s, "domain-shift": s, "new-languages": s}}``, or
    results folders / runs (kinds from the task cards, scores averaged per kind).
    """
    return save_png(domain_shift_figure(results, metric=metric, title=title), path)
