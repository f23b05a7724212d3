"""The source registry (optical_bench.task_sources): every card dispatches through it, and reports find
the qrels of every source type through it (BEIR cards and AfriQA included), for results that have no
qrels stored beside their rankings."""

from __future__ import annotations

import json

import pytest
from conftest import mirror_root
from test_beir_task_cards import CARD

from optical_bench.cards import DOWNLOADED_SOURCES, ENV_TASKS, SOURCE_TYPES, TaskCardError, load_cards
from optical_bench.cli import main
from optical_bench.report.context import ReportContext, default_qrels_loader
from optical_bench.task_sources import SOURCES, task_source
from optical_bench.tasks import card_splits, get_tasks, make_task


def test_every_shipped_card_is_read_by_its_source_class():
    assert SOURCE_TYPES == tuple(SOURCES) == ("builtin", "hub-files", "afriqa", "beir")
    assert DOWNLOADED_SOURCES == ("hub-files", "afriqa")
    for card in load_cards().values():
        source = task_source(card)
        assert source.type == card.source["type"]
        assert card_splits(card) == source.splits(card)
    assert card_splits(load_cards()["AfriQARetrieval"]) == {"train", "dev", "test"}
    with pytest.raises(TaskCardError, match=r"source type 'ftp' is unknown. Fix: use builtin, hub-files, afriqa, beir"):
        task_source("ftp")


def _evaluated_beir_card(tiny_beir, tiny_model, tmp_path, monkeypatch):
    cards = tmp_path / "my-cards"
    cards.mkdir()
    (cards / "MyBeirRetrieval.toml").write_text(CARD.format(path="../tiny-beir"), encoding="utf-8")
    monkeypatch.setenv(ENV_TASKS, str(cards))
    out = tmp_path / "runs"
    assert main(["evaluate", "--model", str(tiny_model), "--name", "tiny", "--tasks", "MyBeirRetrieval", "--out", str(out), "--quiet"]) == 0
    return out / "results"


def test_a_beir_card_s_splits_and_qrels_come_from_its_folder(tiny_beir, tiny_model, tmp_path, monkeypatch):
    results = _evaluated_beir_card(tiny_beir, tiny_model, tmp_path, monkeypatch)
    card = load_cards()["MyBeirRetrieval"]
    assert card_splits(card) == {"test"}
    (result,) = results.glob("*/*/MyBeirRetrieval.json")
    revision = json.loads(result.read_text())["dataset_revision"]
    (task,) = get_tasks(["MyBeirRetrieval"])
    task.load_data()
    qrels = default_qrels_loader()("MyBeirRetrieval", revision)
    assert qrels == {"nya-eng": {"test": task.dataset["nya-eng"]["test"]["relevant_docs"]}}
    assert default_qrels_loader()("MyBeirRetrieval", "another-revision") is None  # never the judgements of other data


def test_report_ci_gives_intervals_on_a_beir_card_without_stored_qrels(tiny_beir, tiny_model, tmp_path, monkeypatch, capsys):
    results = _evaluated_beir_card(tiny_beir, tiny_model, tmp_path, monkeypatch)
    stored = list(results.rglob("*_qrels.json"))
    assert stored, "an evaluation stores its qrels beside the rankings"
    for path in stored:  # results of an earlier release: the report must find the qrels through the card's source
        path.unlink()
    context = ReportContext.from_dirs([results])
    scores = context.per_query(0, "MyBeirRetrieval", "ndcg_at_10")
    assert scores is not None and len(scores["nya-eng"]) == 12
    capsys.readouterr()
    assert main(["report", str(results), "--ci"]) == 0
    report = capsys.readouterr().out
    assert "MyBeirRetrieval" in report and "±" in report.split("MyBeirRetrieval", 1)[1].split("\n\n")[0]  # the half-width of its interval


def test_afriqa_qrels_come_from_the_mirror_through_its_source(monkeypatch):
    root = mirror_root("masakhane-io/afriqa")
    if root is None:
        pytest.skip("no mirror of masakhane-io/afriqa: set OPTICAL_BENCH_MIRRORS to the shared mirrors folder")
    card = load_cards()["AfriQARetrieval"]
    task = make_task(card, hub_dir=root, eval_splits=["dev"])
    task.load_data()
    qrels = task_source(card).qrels(card, task.metadata.revision, hub_dir=root)
    assert set(task.dataset) <= set(qrels)
    for subset, splits in task.dataset.items():
        assert qrels[subset]["dev"] == splits["dev"]["relevant_docs"]
    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(root))  # what `report --hub-dir` sets
    assert default_qrels_loader()("AfriQARetrieval", task.metadata.revision)["hau-eng"]["dev"] == qrels["hau-eng"]["dev"]
