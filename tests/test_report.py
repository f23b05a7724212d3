"""Report tables (md, github, latex) with significance marks, plots, and the MTEB submission folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_robustness import DEFAULT_SCORES, metrics, write_run

from optical_bench.cli import main
from optical_bench.report import (
    ReportOptions,
    alignment_for_pair,
    build_report,
    languages_table,
    main_table,
    plot_alignment_heatmap,
    plot_domain_shift,
    plot_learning_curves,
    robustness_table,
)
from optical_bench.robustness import load_runs, write_robustness
from optical_bench.significance import per_query_scores
from optical_bench.submit import build_submission

PNG = b"\x89PNG\r\n\x1a\n"
N_QUERIES = 30
QRELS = {f"q{i:02d}": {f"d{i:02d}": 1} for i in range(N_QUERIES)}


def _ranking(rank_of_relevant) -> dict[str, dict[str, float]]:
    """{qid: {docid: score}} with the relevant document at rank ``rank_of_relevant(i)``."""
    run = {}
    for i in range(N_QUERIES):
        others = [f"d{j:02d}" for j in range(N_QUERIES) if j != i]
        order = others[: rank_of_relevant(i) - 1] + [f"d{i:02d}"] + others[rank_of_relevant(i) - 1 :]
        run[f"q{i:02d}"] = {did: 1.0 - r / 100 for r, did in enumerate(order)}
    return run


def _file_metrics(run) -> dict[str, float]:
    return {m: float(np.mean(list(per_query_scores(QRELS, run, m).values()))) for m in ("ndcg_at_10", "mrr_at_10", "recall_at_1")}


@pytest.fixture
def two_models(tmp_path) -> Path:
    """Two models in one results folder: a baseline and a clearly better student, with rankings
    for the Bible task; plus a task nobody knows (with a NaN score for the student) and a task
    only the baseline has."""
    root = tmp_path / "results"
    weak = _ranking(lambda i: 2 + i % 4)
    strong = _ranking(lambda i: 1 if i % 10 else 2)
    baseline_scores = {
        **DEFAULT_SCORES,
        "OpticalBibleRetrieval": {"nya-eng": _file_metrics(weak)},
        "SomeUnknownTask": {"default": metrics(0.42)},
    }
    student_scores = {k: v for k, v in DEFAULT_SCORES.items() if k != "OpticalUDHROracleRetrieval"}
    student_scores.update(
        {
            "OpticalBibleRetrieval": {"nya-eng": _file_metrics(strong)},
            "OpticalUDHRRetrieval": {"nya-eng": metrics(0.7)},
            "SomeUnknownTask": {"default": metrics(float("nan"))},
        }
    )
    write_run(root, "optical-bench/baseline", "aaaa1111", baseline_scores, {"OpticalBibleRetrieval": {"nya-eng": weak}})
    write_run(root, "optical-bench/student", "bbbb2222", student_scores, {"OpticalBibleRetrieval": {"nya-eng": strong}})
    return root


QRELS_BY_TASK = {"OpticalBibleRetrieval": {"nya-eng": {"test": QRELS}}}


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize("fmt", ["md", "github", "latex"])
def test_report_tables_in_every_format(two_models, fmt):
    text = build_report([two_models], ReportOptions(fmt=fmt, n_samples=500), qrels=QRELS_BY_TASK)
    for name in ("baseline", "student", "OpticalUDHRNewLanguagesRetrieval", "amh-eng"):
        assert name in text
    assert "NaN" in text  # the student's NaN on the unknown task
    assert "0.420" in text  # the unknown task is shown
    if fmt == "latex":
        assert "\\begin{tabular}" in text and "SomeUnknownTask" in text and "domain\\_shift\\_drop" in text
        assert "|" not in text.replace("\\textbar", "")
    else:
        assert "| SomeUnknownTask" in text and "domain_shift_drop" in text
        assert ("|---" in text) if fmt == "github" else (":---" in text or "|:-" in text or "---|" in text)


def test_main_table_shows_each_metric_and_missing_tasks(two_models):
    table = main_table([two_models], "mrr_at_10", qrels=QRELS_BY_TASK)
    assert "MRR@10" in table
    oracle_row = next(line for line in table.splitlines() if "OpticalUDHROracleRetrieval" in line)
    assert oracle_row.rstrip(" |").endswith("-")  # the student has no result for it
    udhr = next(line for line in main_table([two_models]).splitlines() if line.startswith("| OpticalUDHRRetrieval"))
    assert "0.600" in udhr and "0.700" in udhr


def test_significance_marks_against_the_baseline(two_models):
    table = main_table([two_models], baseline="baseline", qrels=QRELS_BY_TASK)
    bible = next(line for line in table.splitlines() if line.startswith("| OpticalBibleRetrieval"))
    cells = [cell.strip() for cell in bible.strip("|").split("|")]
    assert "†" not in cells[1] and cells[2].endswith("†")
    assert "Holm-corrected over the 1 comparison of this table" in table
    udhr = next(line for line in table.splitlines() if line.startswith("| OpticalUDHRRetrieval"))
    assert "†" not in udhr  # no rankings for that task: no mark, never a guess
    assert "(baseline)" in table
    latex = main_table([two_models], baseline="optical-bench/baseline", qrels=QRELS_BY_TASK, fmt="latex")
    assert "$^\\dagger$" in latex
    t_test = build_report([two_models], ReportOptions(baseline="baseline", test="t-test", metrics=[]), qrels=QRELS_BY_TASK)
    assert "paired t-test" in t_test and "†" in t_test


def test_no_marks_without_rankings_and_ci_with_them(two_models):
    shutil.rmtree(two_models / ".predictions")
    table = main_table([two_models], baseline="baseline", qrels=QRELS_BY_TASK)
    assert "†" not in table.split("\n\n")[1] and "No significance marks" in table
    assert "±" not in main_table([two_models], ci=True, qrels=QRELS_BY_TASK).split("\n\n")[1]


def test_bootstrap_intervals_in_cells(two_models):
    table = main_table([two_models], ci=True, qrels=QRELS_BY_TASK, title=False)
    bible = next(line for line in table.splitlines() if line.startswith("| OpticalBibleRetrieval"))
    assert bible.count("±") == 2
    half_width = float(bible.split("±")[1].split()[0].strip("|"))
    assert 0.0 < half_width < 0.3


def test_languages_and_robustness_tables(two_models):
    languages = languages_table([two_models], "OpticalUDHRNewLanguagesRetrieval")
    rows = [line for line in languages.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["amh-eng", "hau-eng", "swh-eng", "mean", "worst"]
    robustness = robustness_table([two_models])
    drop = next(line for line in robustness.splitlines() if "domain_shift_drop ↓" in line)
    for run in load_runs(two_models):  # in-domain (from the rankings) minus domain shift (0.6 and 0.7)
        expected = run.score("OpticalBibleRetrieval") - run.score("OpticalUDHRRetrieval")
        assert f"{expected:.3f}" in drop
    assert "worst_language ↑" in robustness and "transfer_ratio ↑" in robustness


def test_unknown_baseline_is_an_error(two_models):
    with pytest.raises(KeyError, match="models: baseline, student"):
        build_report([two_models], ReportOptions(baseline="basline"))
    with pytest.raises(ValueError, match="format"):
        build_report([two_models], ReportOptions(fmt="html"))


def test_report_command_line(two_models, tmp_path, capsys):
    out = tmp_path / "report.md"
    assert (
        main(
            [
                "report",
                str(two_models),
                "--format",
                "md",
                "--baseline",
                "baseline",
                "--out",
                str(out),
                "--samples",
                "300",
                "--write-robustness",
                "--plots",
                str(tmp_path / "plots"),
            ]
        )
        == 0
    )
    assert "| OpticalBibleRetrieval" in out.read_text()
    assert (two_models / "optical-bench__student" / "bbbb2222" / "optical_bench" / "robustness.json").exists()
    assert (tmp_path / "plots" / "domain_shift.png").read_bytes().startswith(PNG)


# --------------------------------------------------------------------------- plots


def test_learning_curve_plot_with_ci_bands(tmp_path):
    points = [
        {"label": "optical", "bitext_size": n, "score": s, "low": s - 0.05, "high": s + 0.05}
        for n, s in ((250, 0.3), (1000, 0.5), (4000, 0.6), (16000, 0.65))
    ]
    points += [{"label": "mse", "bitext_size": n, "score": s} for n, s in ((250, 0.2), (1000, 0.4), (4000, 0.55))]
    path = plot_learning_curves(points, tmp_path / "curves.png")
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 1000
    mapping = plot_learning_curves(
        {"optical": [(250, 0.3), (1000, 0.5)], "mse": [(250, 0.2, 0.1, 0.3), (1000, 0.4, 0.3, 0.5)]}, tmp_path / "curves2.png"
    )
    assert mapping.read_bytes().startswith(PNG)


def test_domain_shift_plot_from_scores_and_from_folders(tmp_path, two_models):
    path = plot_domain_shift(
        {"teacher": {"in-domain": 0.8, "domain-shift": 0.6, "new-languages": 0.4}, "optical": {"in-domain": 0.9, "domain-shift": 0.7}},
        tmp_path / "bars.png",
    )
    assert path.read_bytes().startswith(PNG)
    assert plot_domain_shift([two_models], tmp_path / "bars2.png").stat().st_size > 1000


def test_alignment_heatmap_of_a_router_model(tmp_path, tiny_model):
    from optical_bench.models import build_distillation_model, write_provenance

    model = build_distillation_model(str(tiny_model))
    folder = tmp_path / "student"
    model.save(str(folder))
    write_provenance(
        folder, {"name": "tiny", "student_side": "query", "ot": {"epsilon": 0.1, "iterations": 30, "drop_special_tokens": True}}
    )
    alignment = alignment_for_pair(folder, "mphaka wakhala pa mphasa", "the cat sat on the mat")
    assert alignment.plan.shape == (len(alignment.source_tokens), len(alignment.target_tokens))
    assert "[CLS]" not in alignment.source_tokens and "mphaka" in "".join(alignment.source_tokens).replace("##", "")
    assert alignment.plan.sum() == pytest.approx(1.0, abs=1e-4) and alignment.settings["epsilon"] == 0.1
    path = plot_alignment_heatmap(alignment.plan, alignment.source_tokens, alignment.target_tokens, tmp_path / "ot.png", "tiny")
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 1000
    kept = alignment_for_pair(model, "moni", "hello", drop_special_tokens=False)
    assert kept.source_tokens[0] == "[CLS]" and kept.plan.shape == (len(kept.source_tokens), len(kept.target_tokens))
    with pytest.raises(ValueError, match="fit"):
        plot_alignment_heatmap(np.ones((2, 2)), ["a"], ["b", "c"], tmp_path / "bad.png")


# --------------------------------------------------------------------------- submission


def test_submission_layout_and_loading_with_mteb(two_models, tmp_path):
    from mteb import ResultCache
    from mteb.results import TaskResult

    write_robustness(two_models)
    out = tmp_path / "submission"
    submission = build_submission(two_models, out, model="student", name="my-org/student", export_datasets=False)
    folder = out / "results" / "my-org__student" / "bbbb2222"
    assert submission.folders == [folder]
    names = sorted(p.name for p in folder.iterdir())
    assert "model_meta.json" in names and "OpticalBibleRetrieval.json" in names and "SomeUnknownTask.json" in names
    assert "optical_bench" not in names and "robustness.json" not in names  # our side files stay behind
    assert {p.name for p, _ in submission.skipped} >= {"optical_bench"}
    for path in folder.glob("*.json"):
        if path.name != "model_meta.json":
            TaskResult.from_disk(path)
    loaded = ResultCache(cache_path=out).load_results(include_remote=False)
    assert [m.model_name for m in loaded.model_results] == ["my-org/student"]
    assert submission.loaded["my-org/student"] == sorted(p.stem for p in folder.glob("*.json") if p.name != "model_meta.json")
    # robustness entries travel with the task files, unless stripped
    assert "robustness_domain_shift_drop" in json.loads((folder / "OpticalUDHRRetrieval.json").read_text())["scores"]["test"][0]
    stripped = build_submission(
        two_models, tmp_path / "stripped", model="student", name="my-org/student", strip_robustness=True, export_datasets=False
    )
    assert "robustness_domain_shift_drop" not in (stripped.folders[0] / "OpticalUDHRRetrieval.json").read_text()
    # the steps and a ModelMeta template that mteb accepts
    text = submission.instructions()
    assert "embeddings-benchmark/results" in text and "SomeUnknownTask" in submission.steps[2]
    namespace: dict = {}
    exec(submission.model_meta_code["my-org/student"], namespace)
    meta = namespace["student"]
    assert meta.name == "my-org/student" and meta.revision == "bbbb2222" and meta.loader is not None


def test_submission_errors_and_command_line(two_models, tmp_path, capsys):
    with pytest.raises(KeyError, match="available"):
        build_submission(two_models, tmp_path / "x", model="nobody")
    # models of the optical-bench/ organisation need a hub id of their owner
    assert main(["submit", "--results", str(two_models), "--out", str(tmp_path / "sub"), "--no-datasets"]) == 2
    assert "--name <your-org>/<model>" in capsys.readouterr().err
    for model in ("student", "baseline"):
        argv = ["submit", "--results", str(two_models), "--out", str(tmp_path / "sub"), "--no-datasets", "--model", model]
        assert main([*argv, "--name", f"my-org/{model}"]) == 0
    assert len(list((tmp_path / "sub" / "results").iterdir())) == 2
    assert "ModelMeta template" in capsys.readouterr().out
    assert main(["submit", "--results", str(two_models), "--out", str(tmp_path / "y"), "--model", "nobody"]) == 2
    assert len(load_runs(two_models)) == 2


def test_submit_under_a_hub_name_with_task_definitions_and_no_bible_export(two_models, tmp_path):
    from mteb import ResultCache

    from optical_bench.cards import load_cards

    with pytest.raises(ValueError, match="org/model"):
        build_submission(two_models, tmp_path / "x", model="student", name="student")
    with pytest.raises(ValueError, match="not a valid hub id"):
        build_submission(two_models, tmp_path / "x", model="student", name="my-org/optical+contrastive")
    out = tmp_path / "named"
    submission = build_submission(two_models, out, model="student", name="my-org/chichewa-student", export_datasets=False)
    folder = out / "results" / "my-org__chichewa-student" / "bbbb2222"
    assert submission.folders == [folder]
    assert json.loads((folder / "model_meta.json").read_text())["name"] == "my-org/chichewa-student"
    assert [m.model_name for m in ResultCache(out).load_results(include_remote=False).model_results] == ["my-org/chichewa-student"]
    # mteb task definitions generated from our cards, which mteb's TaskMetadata accepts
    definition = submission.task_definitions["OpticalUDHRRetrieval"]
    namespace: dict = {}
    exec(definition.read_text(), namespace)
    metadata = namespace["OpticalUDHRRetrieval"].metadata
    assert metadata.dataset["path"] == "my-org/OpticalUDHRRetrieval" and "nya-eng" in metadata.eval_langs
    assert metadata.description.startswith(load_cards()["OpticalUDHRRetrieval"].description.split()[0])
    assert "never redistributed" in submission.not_exported["OpticalBibleRetrieval"]
    assert not (out / "datasets").exists()


def test_latex_tables_are_booktabs_with_caption_label_and_the_best_value_in_bold(two_models):
    latex = main_table([two_models], "mrr_at_10", qrels=QRELS_BY_TASK, fmt="latex")
    for piece in (
        "\\toprule",
        "\\midrule",
        "\\bottomrule",
        "\\caption{Tasks: MRR@10}",
        "\\label{tab:tasks-mrr-10}",
        "\\begin{tabular}{lrr}",
    ):
        assert piece in latex, piece
    assert "\\hline" not in latex
    udhr = next(line for line in main_table([two_models], fmt="latex").splitlines() if line.startswith("OpticalUDHRRetrieval"))
    assert "\\textbf{0.700}" in udhr and "\\textbf{0.600}" not in udhr  # higher is better: the student's 0.700
    robustness = robustness_table([two_models], fmt="latex")
    drop = next(line for line in robustness.splitlines() if line.startswith("domain\\_shift\\_drop"))
    assert drop.count("\\textbf{") == 1 and "\\begin{tabular}{llrr}" in robustness


def test_csv_gives_pandas_one_tidy_row_per_score(two_models, tmp_path):
    import pandas as pd

    out = tmp_path / "scores.csv"
    assert main(["report", str(two_models), "--format", "csv", "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns[:8]) == ["model", "revision", "task", "split", "subset", "languages", "metric", "value"]
    runs = {run.model: run for run in load_runs(two_models)}
    for model, run in runs.items():
        for task in run.tasks:
            rows = scores[(scores.model == model) & (scores.task == task) & (scores.metric == "main_score")]
            finite = rows.value.dropna()
            if len(finite) == len(rows):
                assert finite.mean() == pytest.approx(run.score(task))
    pivot = scores[scores.metric == "ndcg_at_10"].pivot_table(index="model", columns="task", values="value")
    assert set(pivot.index) == set(runs)


def test_qrels_of_a_beir_folder_built_in_the_cache_are_found_by_task_name_and_content_hash(tmp_path, monkeypatch):
    from optical_bench.data.beir import BeirCollection, write_beir_folder
    from optical_bench.report import default_qrels_loader
    from optical_bench.tasks import beir_task

    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    folder = tmp_path / "home" / "sources" / "news-abc" / "dev"
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    collection = BeirCollection(
        corpus={"d1": {"title": "", "text": "one"}, "d2": {"title": "", "text": "two"}}, queries={"q1": "a", "q2": "b"}
    )
    collection.qrels = {"dev": qrels}
    write_beir_folder(folder, collection)
    (folder / "task.toml").write_text('name = "NewsDev_xyz"\n', encoding="utf-8")
    revision = beir_task(folder, split="dev").metadata.revision

    assert default_qrels_loader()("NewsDev_xyz", revision) == {"default": {"dev": qrels}}
    assert default_qrels_loader()("NewsDev_xyz", "0" * 16) is None  # edited since: not the qrels it was scored with
    assert default_qrels_loader()("OtherTask", revision) is None
