"""What a reader sees: plot titles and axes that match the data, LaTeX tables that fit a page,
the format names people type."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from test_report import QRELS_BY_TASK, two_models  # noqa: F401 (a fixture)
from test_robustness import metrics, write_run

from optical_bench.cli import main
from optical_bench.report import main_table
from optical_bench.report.plots import domain_shift_figure

LONG = ("optical-bench/e5-optical-contrastive-seed-42", "optical-bench/multilingual-e5-small-q4-zero-shot")


def test_a_domain_shift_only_plot_is_titled_by_its_kinds_names_the_metric_and_keeps_bars_visible(tmp_path):
    root = tmp_path / "results"
    for name, score in zip(LONG, (0.95, 0.9)):
        write_run(root, name, "r1", {"OpticalUDHRRetrieval": {"nya-eng": metrics(score)}})
    axes = domain_shift_figure([root]).axes[0]
    assert axes.get_title() == "Domain shift scores"
    assert axes.get_ylabel() == "main score (nDCG@10)"
    with_both = tmp_path / "both"
    write_run(
        with_both, LONG[0], "r1", {"OpticalUDHRRetrieval": {"nya-eng": metrics(0.9)}, "OpticalBibleRetrieval": {"nya-eng": metrics(0.8)}}
    )
    both = domain_shift_figure([with_both], metric="recall_at_1")
    assert both.axes[0].get_title() == "In-domain vs domain shift" and both.axes[0].get_ylabel() == "R@1"
    figure = axes.figure
    renderer = figure.canvas.get_renderer()
    legend = axes.get_legend().get_window_extent(renderer)
    bars = [patch.get_window_extent(renderer) for patch in axes.patches]
    assert bars and not [bar for bar in bars if bar.overlaps(legend)]


def test_latex_tables_with_long_model_names_use_short_headers_a_legend_and_resizebox(tmp_path):
    root = tmp_path / "results"
    for name, score in zip(LONG, (0.95, 0.9)):
        write_run(root, name, "r1", {"OpticalUDHRRetrieval": {"nya-eng": metrics(score)}})
    latex = main_table([root], fmt="latex")
    header = next(line for line in latex.splitlines() if line.startswith("task &") or line.startswith("Task &"))
    assert header.replace(" ", "").endswith("&A&B\\\\"), header
    assert "A: e5-optical-contrastive-seed-42; B: multilingual-e5-small-q4-zero-shot." in latex
    assert "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%" in latex and "\\end{tabular}}" in latex
    engine = shutil.which("pdflatex")
    if engine:  # compile where a TeX engine is installed: no overfull box
        document = "\\documentclass{article}\\usepackage{booktabs,graphicx}\\begin{document}\n" + latex + "\n\\end{document}\n"
        (tmp_path / "t.tex").write_text(document)
        log = subprocess.run([engine, "-interaction=nonstopmode", "t.tex"], cwd=tmp_path, capture_output=True, text=True).stdout
        assert "Overfull \\hbox" not in log and "Error" not in log


def test_short_model_names_keep_their_headers(two_models):  # noqa: F811
    latex = main_table([two_models], "mrr_at_10", qrels=QRELS_BY_TASK, fmt="latex")
    assert " & baseline & student \\\\" in latex and "A: " not in latex


def test_report_accepts_markdown_as_the_name_of_md(two_models, capsys):  # noqa: F811
    assert main(["report", str(two_models), "--format", "markdown", "--samples", "100"]) == 0
    markdown = capsys.readouterr().out
    assert main(["report", str(two_models), "--format", "md", "--samples", "100"]) == 0
    assert markdown == capsys.readouterr().out
    assert "|:-" in markdown or "---|" in markdown


@pytest.mark.parametrize("fmt", ["markdown"])
def test_the_api_takes_the_same_names(two_models, fmt):  # noqa: F811
    assert main_table([two_models], fmt=fmt) == main_table([two_models], fmt="md")
