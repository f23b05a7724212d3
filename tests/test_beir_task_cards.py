"""A user's own task card over a BEIR folder (`[source] type = "beir"`): listed, then evaluated."""

from __future__ import annotations

import json

import pytest

from optical_bench.cards import ENV_TASKS, TaskCardError, load_cards
from optical_bench.cli import main
from optical_bench.tasks import get_tasks

CARD = """name = "MyBeirRetrieval"
kind = "domain-shift"
description = "Chichewa sentences against their English translations, from a BEIR folder of my own."
main_score = "ndcg_at_10"
license = "cc-by-4.0"

[source]
type = "beir"
path = "{path}"

[subsets.nya-eng]
eval_langs = ["nya-Latn", "eng-Latn"]
"""


def test_a_beir_card_is_listed_and_evaluated(tiny_beir, tiny_model, tmp_path, monkeypatch, capsys):
    cards = tmp_path / "my-cards"
    cards.mkdir()
    (cards / "MyBeirRetrieval.toml").write_text(CARD.format(path="../tiny-beir"), encoding="utf-8")
    monkeypatch.setenv(ENV_TASKS, str(cards))
    assert main(["tasks"]) == 0
    assert "MyBeirRetrieval" in capsys.readouterr().out
    (task,) = get_tasks(["MyBeirRetrieval"])
    task.load_data()
    assert len(task.dataset["nya-eng"]["test"]["queries"]) == 12 and task.metadata.eval_langs == {"nya-eng": ["nya-Latn", "eng-Latn"]}
    out = tmp_path / "runs"
    assert main(["evaluate", "--model", str(tiny_model), "--name", "tiny", "--tasks", "MyBeirRetrieval", "--out", str(out), "--quiet"]) == 0
    (result,) = out.glob("results/*/*/MyBeirRetrieval.json")
    scores = json.loads(result.read_text())["scores"]["test"][0]
    assert scores["hf_subset"] == "nya-eng" and 0.0 <= scores["main_score"] <= 1.0


def test_a_beir_card_without_its_folder_is_refused_when_read(tmp_path, monkeypatch):
    cards = tmp_path / "my-cards"
    cards.mkdir()
    (cards / "MyBeirRetrieval.toml").write_text(CARD.format(path="nowhere"), encoding="utf-8")
    monkeypatch.setenv(ENV_TASKS, str(cards))
    with pytest.raises(TaskCardError, match=r"MyBeirRetrieval.toml: key 'source.path': 'nowhere' is not a folder. Fix: write path ="):
        load_cards()
