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
