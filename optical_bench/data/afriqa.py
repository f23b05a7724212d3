"""AfriQA (Ogundepo et al., 2023) as cross-lingual question-to-passage retrieval.

The files are those of the GitHub repository ``masakhane-io/afriqa`` (JSON lines), fetched by
:func:`optical_bench.data.hub._github_file` (downloaded once into the cache, or read from a
local mirror ``<hub_dir>/github.com/masakhane-io/afriqa/<path>``):

- ``data/queries/<lang>/queries.afriqa.<lang>.<pivot>.<split>.json``: ``id``, ``question`` (in
  the African language), ``translated_question`` (a human translation into the pivot
  language), ``answers``, ``lang``, ``split``;
- ``data/gold_passages/<lang>/gold_span_passages.afriqa.<lang>.<pivot>.<split>.json``: ``id``
  (the question's), ``context`` (a Wikipedia passage in the pivot language, ``null`` where the
  annotators found none), ``title``, ``question_lang``, ``answer_pivot``.

One split of one language is a :class:`~optical_bench.data.beir.BeirCollection`:

- **queries**: the questions of that language (the card's ``query_field``: ``question``, or
  ``translated_question`` for the oracle) that have a gold passage, ids ``<lang>-<id>``;
  questions whose ``context`` is ``null`` are left out (logged once per file);
- **corpus**: the gold passages of that split pooled over every language of the card's
  ``corpus_languages`` (the same corpus for every language of a split), merged by text: one
  document per distinct ``context``, id ``afriqa-`` + the first 16 hex digits of its SHA-256,
  title from the first record that has it (languages in card order, then file order);
- **qrels**: each question's one gold passage, relevance 1.

``no_gold_passages`` in the card lists ``<lang>/<split>`` pairs upstream has no gold passages
for; they are neither read nor pooled, and :func:`subsets_for_splits` leaves such a language
out of a task run on that split. A malformed line, a gold passage that names no question, a
record of another language: one error naming the file, the line and the fix.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from optical_bench.data.beir import BeirCollection
from optical_bench.data.hub import _corpus_file_records, _github_file
from optical_bench.task_card import TaskCard, TaskCardError

logger = logging.getLogger(__name__)

__all__ = ["SPLITS", "afriqa_file", "load_afriqa_subset", "pooled_corpus", "subsets_for_splits"]

SPLITS = ("train", "dev", "test")


def _missing(card: TaskCard) -> set[str]:
    return set(card.source.get("no_gold_passages", []))


def subsets_for_splits(card: TaskCard, splits: list[str]) -> dict[str, dict[str, Any]]:
    """The card's subsets whose language has gold passages in every split of ``splits``."""
    missing = _missing(card)
    kept = {name: spec for name, spec in card.subsets.items() if not any(f"{spec['vars']['code']}/{split}" in missing for split in splits)}
    left_out = sorted(set(card.subsets) - set(kept))
    if left_out:
        logger.info("%s on %s: %s left out (no gold passages upstream for that split).", card.name, "/".join(splits), ", ".join(left_out))
    if not kept:
        raise TaskCardError(
            f"{card.path}: no language of {card.name} has gold passages for split(s) {', '.join(splits)}. Fix: use --split dev or train."
        )
    return kept


def afriqa_file(card: TaskCard, kind: str, code: str, pivot: str, split: str, hub_dir: Path | None) -> Path:
    """The local path of one AfriQA file (``kind``: ``queries`` or ``gold_passages``, the card's
    path templates), downloaded once into the cache or read from the mirror ``hub_dir``."""
    if split not in SPLITS:
        raise TaskCardError(f"{card.path}: split {split!r} is unknown. Fix: use one of {', '.join(SPLITS)}.")
    source = card.source
    filename = source[kind].format(code=code, pivot=pivot, split=split)
    try:
        return _github_file(source["github_repo"], filename, source.get("github_revision", "main"), hub_dir)
    except FileNotFoundError as error:
        if split == "test" and hub_dir is not None:
            raise FileNotFoundError(
                f"{Path(hub_dir) / 'github.com' / source['github_repo'] / filename}: the test split is not in the mirror, on purpose: "
                f"it is read by the users, once per final configuration. Fix: tune on --split dev; for the final run, drop "
                f"--hub-dir and set OPTICAL_BENCH_ONLINE=1 to download it from GitHub."
            ) from None
        raise error from None


def _read_lines(path: Path, code: str) -> list[tuple[int, dict]]:
    """(line number, record) of a JSON-lines file; every record needs an ``id`` and, where it has a
    ``lang``, the file's language."""
    records = []
    for number, record in _corpus_file_records(path):
        if "id" not in record:
            raise TaskCardError(f"{path}, line {number}: no field 'id'. Fix: re-download the file (AfriQA records carry the question id).")
        lang = record.get("lang")
        if lang is not None and lang != code:
            raise TaskCardError(
                f"{path}, line {number}: language {lang!r} in a file of {code!r}. Fix: put the record in the file of its language."
            )
        records.append((number, record))
    return records


def _gold_passages(card: TaskCard, code: str, pivot: str, split: str, hub_dir: Path | None, report: bool = True):
    """The path and the gold-passage records of one language and split that hold a passage
    (``context`` not null); ``report``: say how many are left out."""
    path = afriqa_file(card, "gold_passages", code, pivot, split, hub_dir)
    records = _read_lines(path, code)
    for number, record in records:
        if record.get("context") is not None and not isinstance(record["context"], str):
            raise TaskCardError(
                f"{path}, line {number}: context is a JSON {type(record['context']).__name__}, not a passage text or null. "
                "Fix: re-download the file (AfriQA's gold passages are one text per question, or null)."
            )
    kept = [(number, record) for number, record in records if isinstance(record.get("context"), str) and record["context"].strip()]
    if report and len(kept) < len(records):
        logger.info(
            "%s: %d of %d questions have no gold passage (context null); they are left out.", path, len(records) - len(kept), len(records)
        )
    return path, kept


def passage_id(text: str) -> str:
    """The document id of a passage: ``afriqa-`` + the first 16 hex digits of the SHA-256 of its text."""
    return "afriqa-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def pooled_corpus(card: TaskCard, split: str, hub_dir: Path | None) -> dict[str, dict[str, str]]:
    """The gold passages of ``split`` over the card's ``corpus_languages``, one document per text."""
    missing = _missing(card)
    pivot = card.source["corpus_pivot"]
    corpus: dict[str, dict[str, str]] = {}
    for code in card.source["corpus_languages"]:
        if f"{code}/{split}" in missing:
            continue
        _, records = _gold_passages(card, code, pivot, split, hub_dir, report=False)
        for _, record in records:
            text = record["context"].strip()
            doc = corpus.setdefault(passage_id(text), {"title": "", "text": text})
            if not doc["title"] and isinstance(record.get("title"), str):
                doc["title"] = record["title"].strip()
    return corpus


def load_afriqa_subset(card: TaskCard, subset: str, split: str, hub_dir: Path | None = None) -> BeirCollection:
    """One language (``subset``) and split of an AfriQA card: its questions with a gold passage,
    the pooled corpus of the split (:func:`pooled_corpus`) and one judgement per question."""
    code, pivot = card.subsets[subset]["vars"]["code"], card.subsets[subset]["vars"]["pivot"]
    field = card.source.get("query_field", "question")
    if f"{code}/{split}" in _missing(card):
        raise TaskCardError(f"{card.path}: {code} has no gold passages for {split} upstream (no_gold_passages). Fix: use another split.")
    queries_path = afriqa_file(card, "queries", code, pivot, split, hub_dir)
    questions: dict[str, tuple[int, dict]] = {}
    for number, record in _read_lines(queries_path, code):
        if str(record["id"]) in questions:
            raise TaskCardError(f"{queries_path}, line {number}: question id {record['id']!r} was already read. Fix: re-download the file.")
        questions[str(record["id"])] = (number, record)
    gold_path, gold = _gold_passages(card, code, pivot, split, hub_dir)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for number, record in gold:
        qid = str(record["id"])
        if qid not in questions:
            raise TaskCardError(
                f"{gold_path}, line {number}: gold passage of question id {qid!r}, which {queries_path} does not hold. "
                f"Fix: take both files from the same checkout of {card.source['github_repo']}."
            )
        line, question = questions[qid]
        text = question.get(field)
        if not isinstance(text, str) or not text.strip():
            raise TaskCardError(
                f"{queries_path}, line {line}: question {qid!r} has a gold passage but no {field!r} text. "
                f"Fix: fill in {field!r} on that line, or drop its gold passage."
            )
        queries[f"{code}-{qid}"] = text.strip()
        qrels[f"{code}-{qid}"] = {passage_id(record["context"].strip()): 1}
    if not qrels:
        records = _read_lines(gold_path, code)
        if not records:
            raise TaskCardError(f"{gold_path}: the file is empty. Fix: re-download it (a cut download?) from {card.source['github_repo']}.")
        if not any("context" in record for _, record in records):
            raise TaskCardError(
                f"{gold_path}: no line has a 'context' field, so this is not a gold-passage file (a queries file in its place?). "
                f"Fix: put data/gold_passages/{code}/{gold_path.name} of {card.source['github_repo']} there."
            )
        raise TaskCardError(f"{gold_path}: no question of {code}/{split} has a gold passage. Fix: add {code}/{split} to no_gold_passages.")
    return BeirCollection(pooled_corpus(card, split, hub_dir), queries, {split: qrels})
