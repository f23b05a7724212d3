"""Input that arrives through files (``model_meta.json``, task cards, rankings' qrels) is checked
like input on the command line: nothing is written or removed outside the folder it belongs to,
a failed command leaves the previous output whole, and stale data is never scored silently."""

from __future__ import annotations

import json

import pytest
from test_robustness import DEFAULT_SCORES, write_run

from optical_bench.cli import main
from optical_bench.io import UnsafeNameError
from optical_bench.submit import build_submission

UDHR = {"OpticalUDHRRetrieval": DEFAULT_SCORES["OpticalUDHRRetrieval"]}
TRAINED = {"method": "mse", "teacher": "all-minilm-l6-v2"}


def _student(root, revision: str = "bbbb2222"):
    return write_run(root, "optical-bench/student", revision, UDHR, provenance=TRAINED)


def _edit_meta(folder, **changes):
    meta = json.loads((folder / "model_meta.json").read_text())
    meta.update(changes)
    (folder / "model_meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("revision", ["ABSOLUTE", "../../../victim", "..", "a/b"])
def test_submit_never_writes_or_deletes_outside_out(tmp_path, revision):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    results = tmp_path / "results"
    folder = _student(results)
    _edit_meta(folder, revision=str(victim) if revision == "ABSOLUTE" else revision)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(UnsafeNameError, match=r"model_meta.json: the revision .* is not a safe name"):
        build_submission(results, out, name="my-org/student", export_datasets=False)
    assert (victim / "precious.txt").read_text() == "keep me" and sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert not out.exists()
    assert main(["submit", "--results", str(results), "--out", str(out), "--name", "my-org/student"]) == 2


def test_submit_refuses_an_unsafe_model_name_and_dataset_org_from_files_and_flags(tmp_path):
    results = tmp_path / "results"
    folder = _student(results)
    _edit_meta(folder, name="../../escape")
    with pytest.raises(ValueError, match="model_meta.json"):
        build_submission(results, tmp_path / "out", export_datasets=False)
    _edit_meta(folder, name="optical-bench/student")
    with pytest.raises(UnsafeNameError, match="--dataset-org: the dataset organisation '../../../x'"):
        build_submission(results, tmp_path / "out", name="my-org/student", dataset_org="../../../x", export_datasets=False)
    assert not (tmp_path / "out").exists()


def test_a_failed_submit_keeps_the_previous_bundle_whole(tmp_path):
    results = tmp_path / "results"
    folder = _student(results)
    out = tmp_path / "out"
    first = build_submission(results, out, name="my-org/student", export_datasets=False)
    [bundle] = first.folders
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    assert "OpticalUDHRRetrieval.json" in before and bundle.is_relative_to(out)
    # the same run again, now with a task file that mteb cannot load: refused, the old bundle untouched
    (folder / "OpticalUDHRRetrieval.json").write_text(json.dumps({"task_name": "OpticalUDHRRetrieval", "scores": {"test": "x"}}))
    with pytest.raises(ValueError, match="OpticalUDHRRetrieval.json: mteb's TaskResult cannot load it"):
        build_submission(results, out, name="my-org/student", export_datasets=False)
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_a_second_submit_replaces_the_bundle_and_keeps_the_revision_s_study_runs(tmp_path):
    results = tmp_path / "results"
    folder = _student(results)
    out = tmp_path / "out"
    [bundle] = build_submission(results, out, name="my-org/student", export_datasets=False).folders
    study = bundle / "experiments" / "seed_42"
    study.mkdir(parents=True)
    (study / "kept.json").write_text("{}")
    (bundle / "OldTask.json").write_text("{}")  # a task the run no longer has
    (folder / "model_meta.json").write_text((folder / "model_meta.json").read_text())
    again = build_submission(results, out, name="my-org/student", export_datasets=False)
    assert again.folders == [bundle]
    assert not (bundle / "OldTask.json").exists() and (study / "kept.json").exists()


def test_a_model_meta_that_is_a_json_list_is_one_warning_not_a_traceback(tmp_path, caplog):
    from optical_bench.results import load_runs

    results = tmp_path / "results"
    folder = _student(results)
    (folder / "model_meta.json").write_text("[1, 2]")
    [run] = load_runs(results)
    assert run.model == "optical-bench/student" and run.meta == {}
    assert "holds a JSON list, not an object" in caplog.text
