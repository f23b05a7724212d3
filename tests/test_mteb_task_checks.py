"""mteb's own task checks (metadata filled and valid; no empty split, short or duplicate texts,
relevant documents outside the corpus, leakage) on the tasks we ship and generate; accepted
findings are listed with their reason in ``optical_bench.task_quality.KNOWN_ISSUES``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import ENGLISH, LOW_RESOURCE, write_beir

from optical_bench.cards import load_cards
from optical_bench.task_quality import KNOWN_ISSUES, metadata_findings, split_findings, task_findings, unexpected
from optical_bench.tasks import _metadata, beir_task

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirrors"
MIRROR = MIRROR if MIRROR.is_dir() else Path("/work/shared/mirrors")


@pytest.mark.parametrize("name", sorted(load_cards()))
def test_every_shipped_card_gives_mteb_valid_and_filled_metadata(name):
    card = load_cards()[name]

    class Task:
        metadata = _metadata(card, "0" * 16)

    assert metadata_findings(Task) == []


def test_a_beir_folder_task_passes_the_data_checks_and_says_which_metadata_it_lacks(tmp_path):
    folder = write_beir(
        tmp_path / "beir",
        {f"q{i}": t for i, t in enumerate(LOW_RESOURCE)},
        {f"d{i}": t for i, t in enumerate(ENGLISH)},
        {f"q{i}": {f"d{i}": 1} for i in range(12)},
    )
    findings = task_findings(beir_task(folder))
    assert [check for check, _ in findings] == ["metadata_not_filled"]  # a folder has no reference or date (task.toml may add a reference)
    assert "reference" in findings[0][1]


def test_the_rules_catch_what_mteb_catches():
    stats = {
        "num_samples": 110,
        "num_queries": 10,
        "num_documents": 100,
        "documents_text_statistics": {"min_text_length": 2, "average_text_length": 10, "max_text_length": 900, "unique_texts": 90},
        "queries_text_statistics": {"min_text_length": 20, "average_text_length": 30, "max_text_length": 40, "unique_texts": 11},
        "relevant_docs_statistics": {"min_relevant_docs_per_query": 0, "unique_relevant_docs": 101},
    }
    checks = {check for check, _ in split_findings("T (test)", stats)}
    assert checks == {
        "short_text:documents_text_statistics",
        "long_text:documents_text_statistics",
        "duplicate_text:documents_text_statistics",
        "impossible_unique_count:queries_text_statistics",
        "zero_relevant_docs:relevant_docs_statistics",
        "relevant_docs_exceed_corpus",
    }


@pytest.mark.skipif(not (MIRROR / "github.com" / "masakhane-io" / "afriqa").is_dir(), reason="no AfriQA mirror")
@pytest.mark.parametrize("name", ["AfriQARetrieval", "AfriQAOracleRetrieval"])
def test_afriqa_tasks_pass_mteb_checks_but_for_their_known_issues(name):
    from optical_bench.tasks import get_tasks

    [task] = get_tasks([name], eval_splits=["dev"], hub_dir=MIRROR)
    findings = task_findings(task)
    errors, stale = unexpected(name, findings)
    assert errors == [] and stale == []
    duplicate = [message for check, message in findings if check == "duplicate_text:documents_text_statistics"]
    assert duplicate and "(dev)" in duplicate[0]  # the pooled corpus, in every subset: task level only
    assert not any("documents" in check and "subsets" in message for check, message in findings)


@pytest.mark.real
def test_built_tasks_pass_mteb_checks_but_for_their_known_issues():
    from optical_bench.tasks import get_tasks

    for task in get_tasks():
        errors, stale = unexpected(task.metadata.name, task_findings(task))
        assert errors == [], errors
        if task.metadata.name in KNOWN_ISSUES["duplicate_text"]:
            assert stale == []


def test_known_issues_name_tasks_that_exist():
    cards = load_cards()
    assert all(name in cards for tasks in KNOWN_ISSUES.values() for name in tasks)
    assert dataclasses.is_dataclass(cards["AfriQARetrieval"])
