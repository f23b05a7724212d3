"""mteb's own entry points on what optical-bench writes: ``ResultCache(out).load_results()``,
``experiment_kwargs`` selecting study runs, an ``mteb.Benchmark`` through ``mteb.evaluate``,
and ``TaskResult.validate_and_filter_scores`` with our task objects."""

from __future__ import annotations

import mteb
import pytest
from mteb.results import TaskResult
from sentence_transformers import SentenceTransformer

from optical_bench.evaluate import EvaluationOptions, evaluate_model, result_folder
from optical_bench.results import load_runs
from optical_bench.tasks import beir_task


@pytest.fixture
def model(tiny_model):
    return SentenceTransformer(str(tiny_model), device="cpu")


def test_result_cache_of_mteb_loads_what_evaluate_wrote(model, tiny_beir, tmp_path):
    task = beir_task(tiny_beir)
    result = evaluate_model(
        model, [task], tmp_path / "out", name="tiny", revision="r1", options=EvaluationOptions(progress=False, cache_embeddings=False)
    )
    assert result.folder == tmp_path / "out" / "results" / "optical-bench__tiny" / "r1"

    loaded = mteb.ResultCache(tmp_path / "out").load_results(include_remote=False)
    [model_result] = loaded.model_results
    assert model_result.model_name == "optical-bench/tiny" and model_result.model_revision == "r1"
    [task_result] = model_result.task_results
    assert task_result.task_name == task.metadata.name
    assert task_result.get_score() == pytest.approx(result.scores[task.metadata.name]["test"][0]["main_score"])
    # validation against our task object (mteb's registry does not know it)
    validated = mteb.ResultCache(tmp_path / "out").load_results(tasks=[task], include_remote=False, validate_and_filter=True)
    assert [r.task_name for r in validated.model_results[0].task_results] == [task.metadata.name]
    assert TaskResult.from_disk(result.folder / f"{task.metadata.name}.json").validate_and_filter_scores(task=task).scores["test"]


def test_experiment_kwargs_put_study_runs_in_mteb_experiment_folders_and_select_them(model, tiny_beir, tmp_path):
    out = tmp_path / "out"
    runs = {
        "a": {"method": "optical+contrastive", "bitext_size": 250, "seed": 42},
        "b": {"method": "optical+contrastive", "bitext_size": 4000, "seed": 42},
    }
    for name, kwargs in runs.items():
        evaluate_model(
            model,
            [beir_task(tiny_beir)],
            out,
            name=f"run-{name}",
            revision="r",
            meta_kwargs={"experiment_kwargs": kwargs},
            options=EvaluationOptions(progress=False, cache_embeddings=False),
        )
    from mteb.models.model_meta import ModelMeta

    folder = result_folder(out, ModelMeta.model_construct(name="optical-bench/run-a", revision="r", experiment_kwargs=runs["a"]))
    assert folder.parent.name == "experiments" and (folder / "model_meta.json").exists()

    cache = mteb.ResultCache(out)
    selected = cache.load_results(include_remote=False, experiment_kwargs=runs["b"])
    assert [r.model_name for r in selected.model_results] == ["optical-bench/run-b"]
    both = cache.load_results(include_remote=False, experiment_kwargs=list(runs.values()))
    assert sorted(r.model_name for r in both.model_results) == ["optical-bench/run-a", "optical-bench/run-b"]
    assert cache.load_results(include_remote=False, load_experiments="match_name").model_results

    # our reader finds the experiment folders, their options and their rankings
    read = {run.model: run for run in load_runs(out)}
    assert set(read) == {"optical-bench/run-a", "optical-bench/run-b"}
    assert read["optical-bench/run-a"].experiment_kwargs == runs["a"]
    assert all(run.predictions for run in read.values())


def test_an_mteb_benchmark_of_our_tasks_runs_through_mteb_evaluate(model, tiny_beir, tmp_path):
    from mteb.benchmarks.benchmark import Benchmark

    benchmark = Benchmark(name="OpticalTiny", tasks=[beir_task(tiny_beir)])
    results = mteb.evaluate(model, benchmark, cache=mteb.ResultCache(tmp_path), show_progress_bar=False)
    assert [r.task_name for r in results.task_results] == [benchmark.tasks[0].metadata.name]


def test_get_benchmark_refuses_an_empty_selection():
    from optical_bench import get_benchmark

    with pytest.raises(ValueError, match="No task matches"):
        get_benchmark(kinds=["beir"])


def test_an_exported_collection_loads_through_its_generated_mteb_definition(tiny_beir, tmp_path):
    import dataclasses

    from optical_bench.cards import load_cards
    from optical_bench.upstream import export_dataset, may_export, task_definition

    (tiny_beir / "task.toml").write_text(
        'eval_langs = ["nya-Latn", "eng-Latn"]\nlow_resource_side = "query"\nlicense = "cc-by-4.0"\nredistribute = true\n'
        'bibtex_citation = "@misc{tiny, title = {A tiny collection}}"\n',
        encoding="utf-8",
    )
    task = beir_task(tiny_beir, name="TinyExportRetrieval")
    assert task.metadata.eval_langs == {"default": ["nya-Latn", "eng-Latn"]} and task.low_resource_side == "query"
    files = export_dataset(task, tmp_path / "dataset")
    assert (tmp_path / "dataset" / "README.md") in files and "config_name: corpus" in (tmp_path / "dataset" / "README.md").read_text()

    namespace: dict = {}
    exec(task_definition(task.card, str(tmp_path / "dataset")), namespace)
    upstream = namespace["TinyExportRetrieval"]()
    upstream.load_data()
    ours, theirs = task.dataset["default"]["test"], upstream.dataset["default"]["test"]
    assert sorted(theirs["corpus"]["id"]) == sorted(ours["corpus"]["id"])
    assert dict(zip(theirs["queries"]["id"], theirs["queries"]["text"])) == dict(zip(ours["queries"]["id"], ours["queries"]["text"]))
    assert theirs["relevant_docs"] == ours["relevant_docs"]

    # the Chichewa Bible is never exported, whatever its card says
    bible = dataclasses.replace(load_cards()["OpticalBibleRetrieval"], redistribute=True)
    allowed, why = may_export(bible)
    assert not allowed and "never redistributed" in why
    assert may_export(load_cards()["OpticalUDHRRetrieval"])[0]


def test_a_beir_sidecar_with_a_typo_names_the_file_and_the_key(tiny_beir):
    from optical_bench.cards import TaskCardError

    (tiny_beir / "task.toml").write_text('eval_lang = ["nya-Latn", "eng-Latn"]\n', encoding="utf-8")
    with pytest.raises(TaskCardError, match=r"task.toml: unknown key 'eval_lang' \(did you mean 'eval_langs'\?\)"):
        beir_task(tiny_beir)
    (tiny_beir / "task.toml").write_text('eval_langs = ["ny-Latn"]\n', encoding="utf-8")
    with pytest.raises(TaskCardError, match="ISO 639-3"):
        beir_task(tiny_beir)
