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
    someone = write_run(tmp_path / "other", "someone/model", "cccc3333", UDHR)  # a model of its own org, no --name needed
    _edit_meta(someone, name="../../escape")
    with pytest.raises(UnsafeNameError, match="model_meta.json: the model name '..__..__escape' is not a safe name"):
        build_submission(tmp_path / "other", tmp_path / "out", export_datasets=False)
    assert not (tmp_path / "out").exists()
    _student(results)
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


# --------------------------------------------------------------------------- task cards join paths


@pytest.mark.parametrize(
    ("key", "value"),
    [("github_revision", "../../../outside"), ("github_repo", "../../x/y"), ("github_revision", "/tmp/abs"), ("github_repo", "a/../b")],
)
def test_a_task_card_cannot_name_paths_outside_the_cache_or_the_mirror(tmp_path, key, value):
    import re

    from test_afriqa_tasks import _card

    from optical_bench.cards import load_card

    path = _card(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = re.sub(rf'^{key} = ".*"$', f"{key} = {json.dumps(value)}", text, flags=re.M)
    if key not in text:
        text = text.replace("[source]\n", f"[source]\n{key} = {json.dumps(value)}\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UnsafeNameError, match=rf"AfriQARetrieval.toml: the source.{key} .* is not a safe relative path"):
        load_card(path)


def test_a_card_s_vars_cannot_climb_out_of_the_mirror(tmp_path):
    from test_afriqa_tasks import _card

    from optical_bench.cards import load_card

    path = _card(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace('code = "hau"', 'code = "../../../hau"'), encoding="utf-8")
    with pytest.raises(UnsafeNameError, match=r"subsets.hau-eng.vars.code '../../../hau' is not a safe relative path"):
        load_card(path)


def test_the_file_readers_refuse_names_that_leave_the_cache_even_without_a_card(tmp_path, monkeypatch):
    from optical_bench.data.hub import _github_file, _hub_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for call in (
        lambda: _github_file("owner/repo", "data/x.json", "../../../escape", None),
        lambda: _github_file("../escape", "data/x.json", "main", None),
        lambda: _hub_file("owner/repo", "../../x.json", "main", tmp_path),
    ):
        with pytest.raises(UnsafeNameError):
            call()


# --------------------------------------------------------------------------- downloaded tasks and old scores


def _afriqa_result(task, score: float) -> dict:
    return {
        "dataset_revision": task.metadata.revision,
        "task_name": task.metadata.name,
        "mteb_version": "2.26.24",
        "scores": {"dev": [{"hf_subset": "hau-eng", "main_score": score, "ndcg_at_10": score, "languages": ["hau-Latn"]}]},
        "evaluation_time": 1.0,
    }


def test_a_downloaded_task_s_old_score_without_its_data_record_is_recomputed(tmp_path):
    from test_afriqa_tasks import _card, _tiny

    from optical_bench.cards import load_card
    from optical_bench.result_files import FINGERPRINTS_FILE, set_aside_stale_results
    from optical_bench.tasks import make_task

    task = make_task(load_card(_card(tmp_path)), hub_dir=_tiny(tmp_path), eval_splits=["dev"])
    task.load_data()
    assert task.metadata.revision == "main" and task.revision_is_content_hash is False
    folder = tmp_path / "out" / "model" / "rev"
    folder.mkdir(parents=True)
    (folder / "AfriQARetrieval.json").write_text(json.dumps(_afriqa_result(task, 0.4113)))  # an earlier release's file, no record
    moved = set_aside_stale_results(folder, tmp_path / "predictions", [task])
    assert [path.name.split(".stale-")[0] for path in moved] == ["AfriQARetrieval.json"]
    assert not (folder / "AfriQARetrieval.json").exists()
    # computed now, its data recorded: kept on the next run
    (folder / "AfriQARetrieval.json").write_text(json.dumps(_afriqa_result(task, 0.5)))
    assert "hau-eng/dev" in json.loads((folder / FINGERPRINTS_FILE).read_text())["AfriQARetrieval"]
    assert set_aside_stale_results(folder, tmp_path / "predictions", [task]) == []


def test_a_built_task_s_revision_is_its_content_so_its_old_scores_stay(tmp_path, tiny_beir):
    from optical_bench.result_files import set_aside_stale_results
    from optical_bench.tasks import beir_task

    task = beir_task(tiny_beir, name="TinyBeir")
    task.load_data()
    assert task.revision_is_content_hash is True
    folder = tmp_path / "out"
    folder.mkdir()
    result = _afriqa_result(task, 0.3)
    result["scores"] = {"test": [{"hf_subset": "default", "main_score": 0.3, "ndcg_at_10": 0.3, "languages": ["eng-Latn"]}]}
    (folder / "TinyBeir.json").write_text(json.dumps(result))
    assert set_aside_stale_results(folder, tmp_path / "predictions", [task]) == []


# --------------------------------------------------------------------------- rankings and the qrels they were scored with


def test_seeds_and_report_refuse_to_score_rankings_against_edited_qrels(tiny_model, tiny_beir, tmp_path, monkeypatch, caplog):
    from sentence_transformers import SentenceTransformer

    from optical_bench import seeds
    from optical_bench.data.beir import read_beir_folder
    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.report.context import ReportContext
    from optical_bench.tasks import beir_task

    task = beir_task(tiny_beir, name="TinyNews")
    model = SentenceTransformer(str(tiny_model), device="cpu")
    evaluate_model(model, [task], tmp_path / "out", name="tiny-s1", revision="r", options=EvaluationOptions(progress=False))
    results = tmp_path / "out" / "results"
    for stored in results.rglob("*_qrels.json"):
        stored.unlink()  # the qrels beside the rankings win; without them (an earlier release's results) the loader's are checked
    qrels = read_beir_folder(tiny_beir).qrels["test"]
    edited = {qid: {("d0" if qid == "q5" else did): rel for did, rel in docs.items()} for qid, docs in qrels.items()}

    def loader_of(judgements):
        return lambda name, revision=None: {"default": {"test": judgements}} if name == "TinyNews" else None

    same = ReportContext.from_dirs([results], qrels=loader_of(qrels))
    assert len(same.per_query(0, "TinyNews", "ndcg_at_10")["default"]) == len(qrels)
    changed = ReportContext.from_dirs([results], qrels=loader_of(edited))
    assert changed.per_query(0, "TinyNews", "ndcg_at_10") is None
    assert "are not the ones its rankings were scored with" in caplog.text

    monkeypatch.setattr(seeds, "default_qrels_loader", lambda: loader_of(qrels))
    assert seeds.collect([str(results)], "ndcg_at_10")["TinyNews"]["tiny"]["1"]
    monkeypatch.setattr(seeds, "default_qrels_loader", lambda: loader_of(edited))
    with pytest.raises(ValueError, match=r"qrels of TinyNews default/test here are not the ones its rankings were scored with.*Fix"):
        seeds.collect([str(results)], "ndcg_at_10")


# --------------------------------------------------------------------------- numbers in range, options once


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bm25,k1=-1", "k1=-1 is out of range"),
        ("bm25,k1=nan", "k1=nan is out of range"),
        ("bm25,k1=inf", "k1=inf is out of range"),
        ("bm25,b=5", "b=5 is out of range.*between 0 and 1"),
        ("bm25,k1=1,k1=2", "k1 is given twice"),
    ],
)
def test_bm25_numbers_out_of_range_or_repeated_are_refused(spec, message):
    from optical_bench.specs import SpecError, parse_bm25_options

    with pytest.raises(SpecError, match=message):
        parse_bm25_options(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fuse,weights=-1/2:bm25+bm25,b=0.5", "weights=-1/2 must be two finite numbers of 0 or more"),
        ("fuse,weights=0/0:bm25+bm25,b=0.5", "not both 0"),
        ("fuse,weights=nan/1:bm25+bm25,b=0.5", "finite"),
        ("fuse,rrf,dbsf:bm25+bm25,b=0.5", "a fusion strategy is given twice"),
        ("fuse,dbsf,k=20:bm25+bm25,b=0.5", "k is RRF's constant and means nothing under dbsf"),
        ("fuse,k=-1:bm25+bm25,b=0.5", r"k=-1 is out of range. Fix: k=60"),
        ("fuse,depth=0:bm25+bm25,b=0.5", r"depth=0 is out of range. Fix: depth=100"),
    ],
)
def test_fusion_options_out_of_range_repeated_or_meaningless_are_refused(spec, message):
    from optical_bench.specs import SpecError, parse_fusion_spec

    with pytest.raises(SpecError, match=message):
        parse_fusion_spec(spec)
    assert parse_fusion_spec("fuse,k=20,weights=0.3/0.7,depth=200:bm25+multilingual-e5-small-q4").rrf_k == 20


@pytest.mark.parametrize("size", [0, -5])
def test_a_bitext_size_below_one_is_refused_before_work_starts(size):
    from optical_bench.config import TrainConfig

    with pytest.raises(ValueError, match=rf"--bitext-size \({size}\) and --max-steps \(60\) must be whole numbers, at least 1"):
        TrainConfig.from_dict({"bitext_size": size}).validate()


@pytest.mark.parametrize("samples", ["0", "-5", "10"])
def test_too_few_bootstrap_samples_are_one_line(samples, tmp_path, capsys):
    for command in (["seeds", str(tmp_path)], ["report", str(tmp_path), "--ci"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--samples", samples])
        assert exit_.value.code == 2 and "give 100 or more" in capsys.readouterr().err


def test_seeds_refuses_an_empty_folder_and_an_unknown_reference_or_subset(tiny_model, tiny_beir, tmp_path, monkeypatch, capsys):
    from sentence_transformers import SentenceTransformer

    from optical_bench import seeds
    from optical_bench.data.beir import read_beir_folder
    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.tasks import beir_task

    (tmp_path / "empty").mkdir()
    assert main(["seeds", str(tmp_path / "empty")]) == 2
    assert "no MTEB results" in capsys.readouterr().err
    task = beir_task(tiny_beir, name="TinyNews")
    model = SentenceTransformer(str(tiny_model), device="cpu")
    evaluate_model(model, [task], tmp_path / "out", name="tiny-s1", revision="r", options=EvaluationOptions(progress=False))
    qrels = read_beir_folder(tiny_beir).qrels["test"]
    monkeypatch.setattr(seeds, "default_qrels_loader", lambda: lambda name, revision=None: {"default": {"test": qrels}})
    results = str(tmp_path / "out" / "results")
    assert main(["seeds", results, "--reference", "nosuch"]) == 2
    assert "--reference 'nosuch' is not a configuration here. Fix: choose one of tiny" in capsys.readouterr().err
    assert main(["seeds", results, "--subsets", "nosuch"]) == 2
    assert "no scored runs for --subsets nosuch. Fix: choose from TinyNews: default" in capsys.readouterr().err


# --------------------------------------------------------------------------- names that would hide each other


def _experiment(tmp_path, runs: list[str], variants: str) -> str:
    text = '[experiment]\nname = "x"\ntasks = ["OpticalUDHRRetrieval"]\n' + variants
    text += "".join(f'\n[[runs]]\nname = "{name}"\nmethod = "zero-shot"\n' for name in runs)
    path = tmp_path / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("runs", "variants", "message"),
    [
        (["z", "z+v"], '[experiment.variants.v]\nscoring = "maxsim"\n', "named 'z\\+v', the name of another run"),
        (["a+b"], '[experiment.variants.fused]\nmodel = "fuse:bm25+{model}"\n', "run 'a\\+b' holds '\\+', so a fusion cannot"),
        (["z"], '[experiment.variants.fused]\nmodel = "fuse,rrf,dbsf:bm25+{model}"\n', "'fused': .*strategy is given twice"),
        (["r" * 100], "[experiment.variants." + "v" * 60 + ']\nscoring = "maxsim"\n', "run name with its variant .* not a safe name"),
    ],
)
def test_variants_that_would_collide_fail_or_be_too_long_are_refused_before_training(tmp_path, runs, variants, message):
    from optical_bench.experiment import load_experiment

    with pytest.raises(ValueError, match=message):
        load_experiment(_experiment(tmp_path, runs, variants))


def test_two_beir_folders_of_one_name_or_a_name_without_letters_are_refused(tiny_beir, tmp_path, capsys):
    import shutil

    other = shutil.copytree(tiny_beir, tmp_path / "b" / tiny_beir.name)
    assert main(["evaluate", "--model", "bm25", "--beir", str(tiny_beir), str(other), "--out", str(tmp_path / "o")]) == 2
    assert "Two tasks are named 'BEIR_tiny_beir'" in capsys.readouterr().err
    greek = shutil.copytree(tiny_beir, tmp_path / "συλλογή")
    assert main(["evaluate", "--model", "bm25", "--beir", str(greek), "--out", str(tmp_path / "o")]) == 2
    assert "gives no task name in letters and digits. Fix: write name = " in capsys.readouterr().err


# --------------------------------------------------------------------------- bad lines in downloaded files


def test_an_afriqa_context_that_is_a_list_names_the_file_and_line(tmp_path):
    from test_afriqa_tasks import _card, _tiny

    from optical_bench.cards import TaskCardError, load_card
    from optical_bench.tasks import make_task

    hub = _tiny(tmp_path, [{"id": "0", "context": ["Kano."]}, {"id": "1", "context": "Abuja."}])
    task = make_task(load_card(_card(tmp_path)), hub_dir=hub, eval_splits=["dev"])
    with pytest.raises(TaskCardError, match=r"gold_span_passages.afriqa.hau.en.dev.json, line 1: context is a JSON list"):
        task.load_data()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"q1 0 d1 high\n", r"line 1: relevance 'high' is not a whole number"),
        (b"q1 0 d1 1\nq1 0 d1 2\n", r"line 2: q1 d1 is judged again with grade 2 \(before: 1\)"),
        (b"q1 0 d1 1\nq\xff 0 d1 1\n", r"line 2: not UTF-8"),
    ],
)
def test_bad_trec_qrels_lines_name_the_file_and_the_line(tmp_path, content, message):
    from optical_bench.cards import TaskCardError
    from optical_bench.data.hub import _read_trec_qrels

    path = tmp_path / "qrels.txt"
    path.write_bytes(content)
    with pytest.raises(TaskCardError, match=rf"qrels.txt, {message}"):
        _read_trec_qrels(path)


def test_a_killed_write_s_temp_file_is_removed_by_the_next_evaluation(tmp_path):
    from optical_bench.result_files import set_aside_stale_results

    folder, predictions = tmp_path / "rev", tmp_path / "predictions"
    predictions.mkdir(parents=True)
    folder.mkdir()
    temp = predictions / ".Task_predictions.json.abc123.tmp"
    temp.write_bytes(b"x" * 100)
    kept = predictions / "notes.tmp"
    kept.write_text("mine")
    set_aside_stale_results(folder, predictions, [])
    assert not temp.exists() and kept.exists()


def test_unhelpful_errors_now_name_the_file_and_the_fix(tmp_path, tiny_beir, capsys):
    import re
    import shutil

    from test_afriqa_tasks import _card, _tiny, _write_afriqa

    from optical_bench.cards import TaskCardError, load_card
    from optical_bench.data.beir import BeirFormatError, read_beir_folder
    from optical_bench.data.hub import _corpus_file_records
    from optical_bench.data.sources import named_collection
    from optical_bench.tasks import make_task

    # non-UTF-8 bytes in a mirror's JSON lines
    bad = tmp_path / "corpus.jsonl"
    bad.write_bytes(b'{"id": 1}\n{"id": "\xff"}\n')
    with pytest.raises(TaskCardError, match=r"corpus.jsonl, line 2: not UTF-8"):
        list(_corpus_file_records(bad))
    # a lone surrogate in a BEIR corpus text
    folder = shutil.copytree(tiny_beir, tmp_path / "surrogate")
    (folder / "corpus.jsonl").write_text('{"_id": "d0", "text": "bad \\ud800 text"}\n', encoding="utf-8")
    with pytest.raises(BeirFormatError, match=r"corpus.jsonl.*line 1.*lone UTF-16 surrogate"):
        read_beir_folder(folder)
    # an empty and a swapped AfriQA gold-passage file
    card = load_card(_card(tmp_path))
    hub = _tiny(tmp_path)
    gold = hub / "github.com/masakhane-io/afriqa/data/gold_passages/hau/gold_span_passages.afriqa.hau.en.dev.json"
    gold.write_text("", encoding="utf-8")
    with pytest.raises(TaskCardError, match=r"the file is empty. Fix: re-download it"):
        make_task(card, hub_dir=hub, eval_splits=["dev"]).load_data()
    _write_afriqa(hub, "hau", "dev", [{"q": "Ina Abuja?", "en": "Where is Abuja?"}], [{"id": "0", "question": "Ina Abuja?"}])
    with pytest.raises(TaskCardError, match=r"no line has a 'context' field.*a queries file in its place"):
        make_task(card, hub_dir=hub, eval_splits=["dev"]).load_data()
    # eval_splits written as a string
    cards = tmp_path / "cards" / "AfriQARetrieval.toml"
    cards.write_text(re.sub(r"^eval_splits = .*$", 'eval_splits = "test"', cards.read_text(encoding="utf-8"), flags=re.M), encoding="utf-8")
    with pytest.raises(TaskCardError, match=r"eval_splits.*'test' is not a list of split names.*eval_splits = \[\"test\"\]"):
        load_card(cards)
    # a named collection that does not exist is answered as a collection, not as --bitext
    with pytest.raises(ValueError, match=r"beir = \['mafand-xyz-dev'\]: MAFAND-MT has no English-xyz folder"):
        named_collection("mafand-xyz-dev")
    # --hub-dir pointing at a file
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "bm25", "--hub-dir", str(tmp_path / "file"), "--out", str(tmp_path / "o")])
    assert "is a file, not a folder. Fix: give the mirror's root folder" in capsys.readouterr().err


def test_a_full_disk_during_the_embedding_cache_write_keeps_the_evaluation_going(tmp_path, monkeypatch, caplog):
    import errno

    import numpy as np

    from optical_bench import embedding_cache

    cache = embedding_cache.EmbeddingCache.__new__(embedding_cache.EmbeddingCache)
    cache.record, cache.route = {}, "document"
    cache.folder, cache.verify_sample = tmp_path / "entry", 0
    cache.stats = {"document_hits": 0, "document_misses": 0, "document_verified": 0}

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(embedding_cache, "atomic_write_bytes", full)
    array = cache.get_or_compute(["a", "b"], lambda texts: np.ones((len(texts), 3)))
    assert array.shape == (2, 3) and "the embedding cache entry was not written (No space left on device)" in caplog.text


# --------------------------------------------------------------------------- the mirror, named once


def test_the_mirror_is_read_in_one_place_and_hub_dir_is_on_every_command_that_reads_tasks(tmp_path, monkeypatch):
    import subprocess
    from pathlib import Path

    from optical_bench.cli import build_parser
    from optical_bench.io import ENV_HUB_DIR, mirror_dir

    package = Path(__file__).resolve().parents[1] / "optical_bench"
    readers = subprocess.run(
        ["grep", "-rln", "os.environ.get(ENV_HUB_DIR)\\|environ\\[ENV_HUB_DIR\\]", str(package)], capture_output=True, text=True
    )
    assert sorted(Path(line).name for line in readers.stdout.split()) == ["cli.py", "io.py"]  # cli.py only sets it
    parser = build_parser()
    arguments = {"report": ["r"], "seeds": ["r"], "submit": ["--results", "r", "--out", "o"], "evaluate": ["--model", "bm25"]}
    for command in ("train", "evaluate", "run", "report", "seeds", "submit"):
        assert parser.parse_args([command, *arguments.get(command, []), "--hub-dir", str(tmp_path)]).hub_dir == str(tmp_path)
    monkeypatch.delenv(ENV_HUB_DIR, raising=False)
    assert mirror_dir() is None and mirror_dir(tmp_path) == tmp_path
    monkeypatch.setenv(ENV_HUB_DIR, str(tmp_path / "nosuch"))
    with pytest.raises(ValueError, match=r"\$OPTICAL_BENCH_HUB_DIR .*nosuch is not a folder"):
        mirror_dir()


def test_report_and_seeds_score_a_beir_folder_with_the_qrels_stored_beside_its_rankings(tiny_model, tiny_beir, tmp_path, capsys):
    from sentence_transformers import SentenceTransformer

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.report.context import ReportContext
    from optical_bench.results import load_runs
    from optical_bench.seeds import collect
    from optical_bench.tasks import beir_task

    model = SentenceTransformer(str(tiny_model), device="cpu")
    for seed in ("1", "2"):
        task = beir_task(tiny_beir, name="MyOwnFolder")  # no card, not in the cache: only the evaluation had its qrels
        evaluate_model(model, [task], tmp_path / "out", name=f"tiny-s{seed}", revision="r", options=EvaluationOptions(progress=False))
    results = tmp_path / "out" / "results"
    [run, _] = load_runs(results)
    assert set(run.stored_qrels("MyOwnFolder")["default"]) == {"test"}
    context = ReportContext.from_dirs([results])
    assert len(context.per_query(0, "MyOwnFolder", "ndcg_at_10")["default"]) == len(run.stored_qrels("MyOwnFolder")["default"]["test"])
    assert set(collect([str(results)], "ndcg_at_10")["MyOwnFolder"]["tiny"]) == {"1", "2"}
    assert main(["report", str(results), "--ci", "--samples", "200"]) == 0
    assert "±" in capsys.readouterr().out


def test_devices_with_bm25_or_a_fusion_are_refused_not_dropped(tiny_beir, tmp_path, capsys):
    argv = ["evaluate", "--model", "fuse:bm25+multilingual-e5-small-q4", "--beir", str(tiny_beir), "--out", str(tmp_path)]
    assert main([*argv, "--devices", "cpu", "cpu"]) == 2
    assert "is searched in one process" in capsys.readouterr().err


def test_a_hub_id_is_evaluated_at_its_commit_and_refused_offline_without_a_copy(tiny_model, tmp_path, monkeypatch):
    import shutil

    from optical_bench.model_specs import load_for_evaluation

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--my-org--tiny"
    shutil.copytree(tiny_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_for_evaluation("my-org/tiny")
    assert loaded.revision == commit and loaded.name == "my-org/tiny"
    with pytest.raises(FileNotFoundError, match="my-org/other: not a packaged name or a folder here, and no copy of that hub model"):
        load_for_evaluation("my-org/other")
