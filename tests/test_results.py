"""The reader of MTEB results folders (optical_bench.results)."""

from __future__ import annotations

import logging

from test_robustness import DEFAULT_SCORES, write_run

from optical_bench.results import ROBUSTNESS_FILE, RUN_PROVENANCE_FILE, is_side_file, load_runs, read_run


def test_side_files_are_known_by_name_wherever_they_lie(tmp_path):
    revision = tmp_path / "org__model" / "abc"
    for path in (
        revision / ROBUSTNESS_FILE,
        revision / RUN_PROVENANCE_FILE,
        revision / "robustness.json",
        revision / "provenance.json",
        revision / "model_meta.json",
        revision / "OpticalBibleRetrieval_predictions.json",
    ):
        assert is_side_file(path), path
    assert not is_side_file(revision / "OpticalBibleRetrieval.json")


def test_our_side_files_next_to_the_task_files_are_not_read_as_task_results(tmp_path, caplog):
    """robustness.json and provenance.json next to the task files (older folders, or written with
    another filename) are skipped by name: a half-written one is no "not readable JSON" warning.
    (The names were compared with "optical_bench/robustness.json", which no file name equals.)"""
    folder = write_run(tmp_path, "optical-bench/student", "bbbb2222", DEFAULT_SCORES, provenance={"bitext_pairs_used": 250})
    (folder / "robustness.json").write_text('{"model": "optical-bench/student", "metrics": {', encoding="utf-8")
    (folder / "provenance.json").write_text('{"bitext_pairs_used": ', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="optical_bench.results"):
        (run,) = load_runs(tmp_path)
    assert not [record for record in caplog.records if "robustness.json" in record.getMessage() or "provenance.json" in record.getMessage()]
    assert sorted(run.tasks) == sorted(DEFAULT_SCORES) and run.provenance == {"bitext_pairs_used": 250}
    assert read_run(folder).task_files["OpticalBibleRetrieval"] == folder / "OpticalBibleRetrieval.json"
