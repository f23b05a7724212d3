"""Reports over several results folders: one column per model@revision, task means on the subsets
every model has, a word when --plots has nothing to plot, and LaTeX that compiles with its notes
inside the floats and every special character of a name escaped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_robustness import metrics, write_run

from optical_bench.cli import main
from optical_bench.report import ReportOptions, build_report, main_table
from optical_bench.results import load_runs


@pytest.fixture
def two_folders(tmp_path) -> tuple[Path, Path]:
    """The same student@revision in two results folders (AfriQA in one, UDHR in the other) and a
    six-language MiniLM beside it."""
    first, second = tmp_path / "a" / "results", tmp_path / "b" / "results"
    write_run(first, "optical-bench/student", "rev1", {"AfriQARetrieval": {"hau": metrics(0.26)}})
    write_run(second, "optical-bench/student", "rev1", {"OpticalUDHRRetrieval": {"nya-eng": metrics(0.5)}})
    languages = {"hau": 0.20, "ibo": 0.30, "kin": 0.31, "twi": 0.25, "yor": 0.40, "zul": 0.338}
    write_run(second, "sentence-transformers/all-MiniLM-L6-v2", "rev2", {"AfriQARetrieval": {k: metrics(v) for k, v in languages.items()}})
    return first, second


def test_one_model_revision_in_several_folders_is_one_column_and_a_baseline(two_folders, capsys):
    runs = load_runs(list(two_folders))
    assert [run.model for run in runs] == ["optical-bench/student", "sentence-transformers/all-MiniLM-L6-v2"]
    assert set(runs[0].tasks) == {"AfriQARetrieval", "OpticalUDHRRetrieval"} and len(runs[0].merged_from) == 1
    for name in ("student", "optical-bench/student", "student@rev1"):
        assert main(["report", *map(str, two_folders), "--baseline", name, "--samples", "100"]) == 0
        out = capsys.readouterr().out
        header = next(line for line in out.splitlines() if line.startswith("| task"))
        assert header.count("student") == 1, header


def test_task_means_over_different_languages_are_compared_on_the_shared_ones(two_folders):
    table = main_table(list(two_folders))
    row = next(line for line in table.splitlines() if line.startswith("| AfriQARetrieval"))
    assert "0.260‡" in row and "0.200‡" in row  # both on hau: the student is ahead there
    assert "0.300" not in row  # MiniLM's six-language mean is not set beside the student's Hausa score
    assert "‡ the models were evaluated on different subsets" in table and "AfriQARetrieval on hau" in table
    udhr = next(line for line in table.splitlines() if line.startswith("| OpticalUDHRRetrieval"))
    assert "‡" not in udhr


def test_plots_with_nothing_to_plot_say_so(two_folders, tmp_path, capsys):
    write_run(tmp_path / "only", "optical-bench/x", "r", {"AfriQARetrieval": {"hau": metrics(0.3)}})
    assert main(["report", str(tmp_path / "only"), "--plots", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "--plots: nothing to plot, nothing written to" in out and "no learning curve" in out
    assert not list((tmp_path / "plots").glob("*.png"))


SPECIAL = "org_x/a&b%c#d$e\\f"


def _latex_report(tmp_path) -> str:
    root = tmp_path / "results"
    write_run(root, "optical-bench/baseline", "r1", {"AfriQARetrieval": {"hau": metrics(0.3), "yor": metrics(0.4)}})
    write_run(root, SPECIAL, "r2", {"AfriQARetrieval": {"hau": metrics(0.5)}, "OpticalUDHRRetrieval": {"nya-eng": metrics(0.6)}})
    write_run(root, "short/m_1", "r3", {"OpticalUDHRRetrieval": {"nya-eng": metrics(0.7)}})
    return build_report([root], ReportOptions(fmt="latex", baseline="baseline", n_samples=100))


def test_latex_notes_sit_inside_their_floats_and_names_are_escaped(tmp_path):
    latex = _latex_report(tmp_path)
    floats = latex.split(r"\begin{table}")[1:]
    assert floats and all(r"\end{table}" in part for part in floats)
    between = [part.split(r"\end{table}", 1)[1] for part in floats]
    assert not any("footnotesize" in text for text in between[:-1])  # no note left between floats
    assert any("different subsets" in part.split(r"\end{table}")[0] for part in floats)
    assert r"a\&b\%c\#d\$e\textbackslash{}f" in latex and r"m\_1" in latex
    assert SPECIAL not in latex and "m_1" not in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (texlive-latex-base)")
def test_the_latex_report_compiles(tmp_path):
    latex = _latex_report(tmp_path)
    document = (
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs,graphicx}\n"
        f"\\begin{{document}}\n{latex}\n\\end{{document}}\n"
    )
    (tmp_path / "report.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 1000
    assert "Float too large" not in done.stdout
