r"""Comparison tables and plots from MTEB results folders (``optical-bench report``).

Any MTEB results folder can be read: ours, other models', a clone of the public results
repository; task files of tasks optical-bench does not know are shown (without
robustness roles) and bare ``NaN`` in JSON is fine.

- :mod:`optical_bench.report.tables`: tasks x models, languages x models and robustness x
  models tables (``md``, ``github``, ``latex``) with significance marks against a
  baseline, and :func:`build_report`, the whole text;
- :mod:`optical_bench.report.plots`: :func:`plot_learning_curves`, :func:`plot_domain_shift`;
- :mod:`optical_bench.report.alignment`: :func:`plot_alignment_heatmap` with
  :func:`alignment_for_pair`, which runs the student route of a Router model on the
  low-resource text and the teacher route on the English text and aligns their sub-word
  tokens by entropic OT;
- :mod:`optical_bench.report.context`: the runs, labels, qrels and per-query scores the
  tables share.

:func:`write_report` is the whole ``optical-bench report`` as a Python call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optical_bench.io import atomic_write_text
from optical_bench.report.alignment import PairAlignment, alignment_for_pair, plot_alignment_heatmap
from optical_bench.report.context import QrelsLoader, ReportContext, default_qrels_loader, task_order
from optical_bench.report.plots import KIND_ORDER, domain_shift_scores, plot_domain_shift, plot_learning_curves
from optical_bench.report.tables import (
    DAGGER,
    FORMATS,
    METRIC_LABELS,
    REPORT_METRICS,
    ReportOptions,
    build_report,
    languages_table,
    main_table,
    robustness_table,
)
from optical_bench.results import load_runs
from optical_bench.robustness.curves import learning_curve_points
from optical_bench.robustness.summary import write_robustness as write_robustness_files

__all__ = [
    "ReportOptions",
    "DAGGER",
    "FORMATS",
    "KIND_ORDER",
    "METRIC_LABELS",
    "PairAlignment",
    "QrelsLoader",
    "REPORT_METRICS",
    "ReportContext",
    "WrittenReport",
    "alignment_for_pair",
    "build_report",
    "default_qrels_loader",
    "domain_shift_scores",
    "languages_table",
    "main_table",
    "plot_alignment_heatmap",
    "plot_domain_shift",
    "plot_learning_curves",
    "robustness_table",
    "write_report",
]


@dataclass
class WrittenReport:
    """What :func:`write_report` made: the report's text, its file and the plots."""

    text: str
    out: Path | None = None
    plots: list[Path] = field(default_factory=list)


def _write_plots(results_dirs: list[Path | str], folder: Path, report: WrittenReport, echo: Callable[[str], Any]) -> None:
    """The domain-shift bars, and a learning curve per task where provenance gives two or more
    bitext sizes; says why where there is nothing to plot."""
    why = []
    try:
        report.plots.append(plot_domain_shift(results_dirs, folder / "domain_shift.png"))
        echo(f"plot: {report.plots[-1]}")
    except ValueError:
        why.append("no domain-shift bars (no in-domain, domain-shift or new-languages task in the results)")
    runs = load_runs(results_dirs)
    curves = 0
    for task in task_order({t for run in runs for t in run.tasks}):
        points = learning_curve_points(runs, task)
        if any(len({size for size, _ in p}) >= 2 for p in points.values()):
            report.plots.append(plot_learning_curves(points, folder / f"learning_curve_{task}.png", title=task))
            echo(f"plot: {report.plots[-1]}")
            curves += 1
    if not curves:
        why.append("no learning curve (no task has runs of one method at two or more bitext sizes in their provenance)")
    if not report.plots:
        echo(f"--plots: nothing to plot, nothing written to {folder}: {'; '.join(why)}.")


def write_report(
    results_dirs: Iterable[Path | str] | Path | str,
    out: Path | str | None = None,
    options: ReportOptions | None = None,
    *,
    build_root: Path | str | None = None,
    qrels: QrelsLoader | Mapping[str, Any] | None = None,
    write_robustness: bool = False,
    plots: Path | str | None = None,
    echo: Callable[[str], Any] | None = None,
) -> WrittenReport:
    """The report of MTEB results folders (:func:`build_report`), written to ``out`` if given.

    Args:
        results_dirs: MTEB results folders (several are merged).
        out: the file to write the report to (default: none; the text is returned).
        options, build_root, qrels: as for :func:`build_report` (:class:`ReportOptions`).
        write_robustness: first write ``robustness.json`` and the ``robustness_*`` entries
            into each results folder (:func:`optical_bench.robustness.write_robustness`).
        plots: a folder for PNG plots (domain-shift bars; learning curves where the runs'
            provenance gives two or more bitext sizes).
        echo: called with a line per plot written (``print`` for the command line).
    """
    folders = [results_dirs] if isinstance(results_dirs, (str, Path)) else list(results_dirs)
    echo = echo or (lambda line: None)
    if write_robustness:
        for folder in folders:
            write_robustness_files(folder)
    text = build_report(folders, options, qrels=qrels, build_root=build_root)
    report = WrittenReport(text=text)
    if plots:
        _write_plots(folders, Path(plots), report, echo)
    if out:
        atomic_write_text(out, text)
        report.out = Path(out)
    return report
