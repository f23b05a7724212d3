"""AfriQA as CLIR tasks: every mirrored split loads; the corpus pools and merges passages; bad input
is one line naming the file, the line and the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import mirror_root

from optical_bench.cards import TaskCardError, load_card
from optical_bench.data.afriqa import passage_id
from optical_bench.tasks import cards_dir, get_tasks, make_task

REPO = "masakhane-io/afriqa"


@pytest.fixture(scope="module")
def mirrors() -> Path:
    root = mirror_root(REPO)
    if root is None:
        pytest.skip(f"no mirror of {REPO}: set OPTICAL_BENCH_MIRRORS to the shared mirrors folder (layout github.com/{REPO}/data/...)")
    return root


def _mirrored_pairs(mirrors: Path) -> list[tuple[str, str]]:
    """(language, split) of every English-pivot gold-passage file in the mirror."""
    pairs = []
    for path in sorted((mirrors / "github.com" / REPO / "data" / "gold_passages").glob("*/*.en.*.json")):
        match = re.fullmatch(r"gold_span_passages\.afriqa\.(\w+)\.en\.(\w+)\.json", path.name)
        pairs.append((match.group(1), match.group(2)))
    return pairs


@pytest.mark.parametrize("split", ["dev", "train"])
def test_every_mirrored_afriqa_split_loads_with_one_gold_passage_per_question(mirrors, split):
    pairs = [code for code, pair_split in _mirrored_pairs(mirrors) if pair_split == split]
    assert pairs, "the mirror holds no gold passages for this split"
    [task] = get_tasks(["AfriQARetrieval"], hub_dir=mirrors, eval_splits=[split])
    [oracle] = get_tasks(["AfriQAOracleRetrieval"], hub_dir=mirrors, eval_splits=[split])
    assert sorted(task.hf_subsets) == sorted(f"{code}-eng" for code in pairs)
    task.load_data()
    oracle.load_data()
    corpus_ids = None
    for subset in task.hf_subsets:
        code = subset.split("-")[0]
        data, oracle_data = task.dataset[subset][split], oracle.dataset[subset][split]
        gold = mirrors / "github.com" / REPO / "data" / "gold_passages" / code / f"gold_span_passages.afriqa.{code}.en.{split}.json"
        with_passage = [record for record in map(json.loads, gold.read_text(encoding="utf-8").splitlines()) if record["context"]]
        assert len(data["queries"]) == len(with_passage) > 100
        assert all(len(docs) == 1 for docs in data["relevant_docs"].values())
        ids = list(data["corpus"]["id"])
        assert len(set(ids)) == len(ids) and len(set(data["corpus"]["text"])) == len(ids)  # merged by text
        assert corpus_ids in (None, ids)  # one pooled corpus for every language of the split
        corpus_ids = ids
        assert {did for docs in data["relevant_docs"].values() for did in docs} <= set(ids)
        # the oracle: the same judgements, English questions
        assert oracle_data["relevant_docs"] == data["relevant_docs"]
        assert list(oracle_data["queries"]["text"]) != list(data["queries"]["text"])


def _write_afriqa(root: Path, code: str, split: str, questions: list[dict], passages: list) -> None:
    base = root / "github.com" / REPO / "data"
    (base / "queries" / code).mkdir(parents=True, exist_ok=True)
    (base / "gold_passages" / code).mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"question": q["q"], "translated_question": q["en"], "lang": code, "id": i}) for i, q in enumerate(questions)]
    (base / "queries" / code / f"queries.afriqa.{code}.en.{split}.json").write_text("\n".join(lines), encoding="utf-8")
    gold = [line if isinstance(line, str) else json.dumps(line) for line in passages]
    (base / "gold_passages" / code / f"gold_span_passages.afriqa.{code}.en.{split}.json").write_text("\n".join(gold), encoding="utf-8")


def _card(tmp_path: Path) -> Path:
    """The shipped card with its corpus pooled over hau and zul only (a tiny synthetic mirror)."""
    text = (cards_dir() / "AfriQARetrieval.toml").read_text(encoding="utf-8")
    text = re.sub(r"corpus_languages = \[.*?\]", 'corpus_languages = ["hau", "zul"]', text)
    text = re.sub(r"no_gold_passages = \[.*?\]", "no_gold_passages = []", text)
    text = (
        text.split("[subsets.bem-eng]")[0]
        + '[subsets.hau-eng]\neval_langs = ["hau-Latn", "eng-Latn"]\nvars = { code = "hau", pivot = "en" }\n'
    )
    path = tmp_path / "cards" / "AfriQARetrieval.toml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return path


def _tiny(tmp_path: Path, hau_passages=None) -> Path:
    hub = tmp_path / "hub"
    questions = [{"q": "Yaushe aka kafa Kano?", "en": "When was Kano founded?"}, {"q": "Ina Abuja?", "en": "Where is Abuja?"}]
    shared = "Abuja is the capital city of Nigeria."
    default = [{"id": "0", "context": "Kano was founded around 999.", "title": "Kano"}, {"id": "1", "context": shared, "title": "Abuja"}]
    _write_afriqa(hub, "hau", "dev", questions, default if hau_passages is None else hau_passages)
    _write_afriqa(
        hub, "zul", "dev", [{"q": "Iphi inhloko-dolobha yeNigeria?", "en": "Capital of Nigeria?"}], [{"id": "0", "context": shared}]
    )
    return hub


def test_passages_shared_by_two_languages_are_one_document(tmp_path):
    card = load_card(_card(tmp_path))
    task = make_task(card, hub_dir=_tiny(tmp_path), eval_splits=["dev"])
    task.load_data()
    data = task.dataset["hau-eng"]["dev"]
    assert len(data["corpus"]) == 2  # three gold passages, two texts
    assert data["relevant_docs"] == {
        "hau-0": {passage_id("Kano was founded around 999."): 1},
        "hau-1": {passage_id("Abuja is the capital city of Nigeria."): 1},
    }
    assert dict(zip(data["corpus"]["id"], data["corpus"]["title"]))[passage_id("Abuja is the capital city of Nigeria.")] == "Abuja"


def test_a_question_whose_gold_passage_is_null_is_left_out(tmp_path):
    card = load_card(_card(tmp_path))
    task = make_task(card, hub_dir=_tiny(tmp_path, [{"id": "0", "context": None}, {"id": "1", "context": "Abuja."}]), eval_splits=["dev"])
    task.load_data()
    assert list(task.dataset["hau-eng"]["dev"]["queries"]["id"]) == ["hau-1"]


@pytest.mark.parametrize(
    ("passages", "message"),
    [
        (
            ['{"id": "0", "context": "Kano."}', '{"id": "1", "context": '],
            r"gold_span_passages\.afriqa\.hau\.en\.dev\.json, line 2: not JSON",
        ),
        (
            [{"id": "7", "context": "Kano."}],
            r"line 1: gold passage of question id '7', which .*queries\.afriqa\.hau\.en\.dev\.json does not hold",
        ),
        ([{"id": "0", "context": "Kano.", "lang": "yor"}], r"line 1: language 'yor' in a file of 'hau'"),
    ],
)
def test_bad_afriqa_lines_name_the_file_the_line_and_the_fix(tmp_path, passages, message):
    card = load_card(_card(tmp_path))
    task = make_task(card, hub_dir=_tiny(tmp_path, passages), eval_splits=["dev"])
    with pytest.raises(TaskCardError, match=message) as error:
        task.load_data()
    assert "Fix:" in str(error.value) and "\n" not in str(error.value)


def test_a_missing_mirror_file_and_the_test_split_say_what_to_do(tmp_path):
    card = load_card(_card(tmp_path))
    hub = _tiny(tmp_path)
    (hub / "github.com" / REPO / "data" / "queries" / "hau" / "queries.afriqa.hau.en.dev.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"queries\.afriqa\.hau\.en\.dev\.json: not in the local hub mirror\. Fix: `git clone"):
        make_task(card, hub_dir=hub, eval_splits=["dev"]).load_data()
    with pytest.raises(
        FileNotFoundError, match=r"the test split is not in the mirror, on purpose: it is read by the users, once per final"
    ):
        make_task(card, hub_dir=hub, eval_splits=["test"]).load_data()


def test_without_a_mirror_offline_nothing_is_written_to_the_cache(tmp_path, monkeypatch, cache_home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    card = load_card(_card(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"raw\.githubusercontent\.com/masakhane-io/afriqa/main/data/queries/hau/.*downloads are off"
    ):
        make_task(card, eval_splits=["dev"]).load_data()
    assert not list((cache_home / "github").glob(f"{REPO}/**/*.json"))


def test_an_unknown_language_code_suggests_the_known_ones():
    with pytest.raises(ValueError, match=r"No task has the language\(s\) 'hauu' \(did you mean hau"):
        get_tasks(["AfriQARetrieval"], languages=["hauu"], eval_splits=["dev"])


def test_languages_select_subsets_and_the_oracle_follows(mirrors):
    tasks = get_tasks(["AfriQARetrieval", "AfriQAOracleRetrieval"], languages=["hau", "zul"], hub_dir=mirrors, eval_splits=["dev"])
    assert [sorted(task.hf_subsets) for task in tasks] == [["hau-eng", "zul-eng"], ["hau-eng", "zul-eng"]]


def test_optical_bench_tasks_lists_afriqa_and_its_oracle(capsys):
    from optical_bench.cli import main

    assert main(["tasks"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"AfriQARetrieval\s*\|\s*hub\s*\|.*hau-eng.*\|\s*afriqa", listing)
    assert re.search(r"AfriQAOracleRetrieval\s*\|\s*oracle\s*\|", listing)


def test_the_french_pivot_is_one_card_read_by_the_same_loader(mirrors):
    from optical_bench.cards import load_cards

    card = load_cards()["AfriQAFrenchPivotRetrieval"]
    task = make_task(card, hub_dir=mirrors, eval_splits=["dev"])
    task.load_data()
    data = task.dataset["fon-fra"]["dev"]
    assert len(data["queries"]) == 271 and len(data["corpus"]) == 258
    assert all(len(docs) == 1 for docs in data["relevant_docs"].values())
    assert task.metadata.eval_langs == {"fon-fra": ["fon-Latn", "fra-Latn"]}


def test_bm25_can_pin_the_documents_language():
    from optical_bench.specs import SpecError, parse_bm25_options

    assert parse_bm25_options("bm25,stopwords=fr,stemmer=french")[0] == {"stopwords": "fr", "stemmer_language": "french"}
    with pytest.raises(SpecError, match="stopwords=en|de"):
        parse_bm25_options("bm25,stopwords=xx")
