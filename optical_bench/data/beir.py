"""BEIR folders: writing, strict validation, reading.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}`` per line),
``queries.jsonl`` (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (a header line
``query-id<TAB>corpus-id<TAB>score`` then one judgement per line). This is the layout
``beir.datasets.data_loader.GenericDataLoader`` reads.

:func:`read_beir_folder` checks every line before any long work starts and raises
:class:`BeirFormatError`, whose message names the file, the line and the fix. It
catches what BEIR and mteb would otherwise turn into a traceback or, worse, a silent
mistake (BEIR silently drops a document whose id equals its query's id).
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from optical_bench.io import atomic_write_jsonl, atomic_write_text

logger = logging.getLogger(__name__)


class BeirFormatError(ValueError):
    """A malformed BEIR folder; the message names the file, the line and the fix."""

    def __init__(self, path: Path | str, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {problem}. Fix: {fix}")
        self.path, self.line, self.problem, self.fix = str(path), line, problem, fix


@dataclass
class BeirCollection:
    """An in-memory BEIR collection: ids -> texts, and qrels per split."""

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # split -> qid -> did -> rel

    def split(self, name: str = "test") -> dict[str, dict[str, int]]:
        return self.qrels[name]


def write_beir_folder(folder: Path, collection: BeirCollection) -> Path:
    """Write a BEIR folder atomically, file by file (corpus, queries, qrels)."""
    folder = Path(folder)
    atomic_write_jsonl(
        folder / "corpus.jsonl",
        ({"_id": did, "title": doc.get("title", ""), "text": doc["text"]} for did, doc in collection.corpus.items()),
    )
    atomic_write_jsonl(folder / "queries.jsonl", ({"_id": qid, "text": text} for qid, text in collection.queries.items()))
    for split, qrels in collection.qrels.items():
        lines = ["query-id\tcorpus-id\tscore"]
        for qid, docs in qrels.items():
            for did, rel in docs.items():
                lines.append(f"{qid}\t{did}\t{int(rel)}")
        atomic_write_text(folder / "qrels" / f"{split}.tsv", "\n".join(lines) + "\n")
    return folder


def known_item_collection(pairs, split: str = "dev") -> BeirCollection:
    """Each pair's low-resource sentence a query (``pair.lr``), its English translation
    (``pair.en``) the one relevant document; English sentences that occur twice are one document,
    relevant to both queries."""
    documents: dict[str, str] = {}
    corpus: dict[str, dict[str, str]] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for index, pair in enumerate(pairs):
        did = documents.setdefault(pair.en, f"d{len(documents)}")
        corpus[did] = {"title": "", "text": pair.en}
        queries[f"q{index}"] = pair.lr
        qrels[f"q{index}"] = {did: 1}
    return BeirCollection(corpus=corpus, queries=queries, qrels={split: qrels})


MAX_TEXT_CHARS = 100_000  # longer texts are cut when read: every encoder truncates far below this


def _check_file(path: Path, kind: str, fix: str) -> None:
    """A readable regular file, or one line naming what ``path`` is instead."""
    try:
        path.stat()
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise BeirFormatError(path, None, f"the {kind} file is a loop of symbolic links", "point the link at the real file") from None
        if path.is_symlink():
            raise BeirFormatError(
                path, None, f"the {kind} file is a symbolic link to {os.readlink(path)!r}, which does not exist", fix
            ) from None
        raise BeirFormatError(path, None, f"the {kind} file is missing", fix) from None
    if path.is_dir():
        raise BeirFormatError(path, None, f"the {kind} file is a folder", f"{fix} (a file, not a folder)")


def _cut(text: str, path: Path, number: int, rid: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    logger.warning(
        "%s, line %d: the text of %r has %d characters; cut to its first %d (every encoder truncates far below that).",
        path,
        number,
        rid,
        len(text),
        MAX_TEXT_CHARS,
    )
    return text[:MAX_TEXT_CHARS]


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a UTF-16 surrogate without its pair (a JSON escape such as ``\\ud800``), which no UTF-8 encoder writes."""
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _read_jsonl(path: Path, required: tuple[str, ...], kind: str) -> dict[str, dict]:
    _check_file(path, kind, f"create {path.name} with one JSON object per line, keys {', '.join(required)}")
    rows: dict[str, dict] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a BOM (Windows editors) is accepted
            except UnicodeDecodeError as error:
                raise BeirFormatError(
                    path, number, f"bytes that are not UTF-8 ({error.reason} at byte {error.start})", "re-encode the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise BeirFormatError(
                    path,
                    number,
                    f"not valid JSON ({error.msg}, column {error.colno})",
                    "write one complete JSON object per line (a truncated line or a stray comma)",
                ) from None
            if not isinstance(row, dict):
                raise BeirFormatError(
                    path, number, f"a JSON {type(row).__name__}, not an object", 'write an object such as {"_id": "d1", "text": "..."}'
                )
            for key in required:
                if key not in row:
                    raise BeirFormatError(path, number, f"the field {key!r} is missing", f"add {key!r} to every line")
            rid = row["_id"]
            if not isinstance(rid, (str, int)) or str(rid).strip() == "":
                raise BeirFormatError(path, number, f"the _id {rid!r} is empty or not a string", "give every line a non-empty string _id")
            rid = str(rid)
            text = row.get("text")
            if not isinstance(text, str):
                raise BeirFormatError(path, number, f"the text of {rid!r} is not a string", "make 'text' a string")
            title = row.get("title", "")
            if title is not None and not isinstance(title, str):
                raise BeirFormatError(
                    path,
                    number,
                    f"the title of {rid!r} is a {type(title).__name__}, not a string",
                    'make "title" a string (or leave it out)',
                )
            if not text.strip() and not (title or "").strip():
                raise BeirFormatError(
                    path, number, f"the text of {rid!r} is empty or only whitespace", f"remove the line or give {rid!r} a text"
                )
            if rid in rows:
                raise BeirFormatError(path, number, f"the _id {rid!r} appears twice", "give every line a unique _id")
            if any(isinstance(value, str) and has_lone_surrogate(value) for value in (rid, text, title)):
                raise BeirFormatError(
                    path,
                    number,
                    f"{rid!r} holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), which no tokenizer reads",
                    "mend that escape or write the character itself",
                )
            row["text"] = _cut(text, path, number, rid)
            rows[rid] = row
    if not rows:
        raise BeirFormatError(path, None, f"the {kind} file has no entries", f"add at least one {kind} line")
    return rows


QRELS_HEADER = ("query-id", "corpus-id", "score")


def _qrels_cells(line: str, path: Path, number: int) -> list[str]:
    """The fields of one qrels line, read as BEIR's loader reads them (``csv``, tab-separated)."""
    try:
        cells = next(csv.reader([line], delimiter="\t"))
    except csv.Error as error:
        raise BeirFormatError(path, number, f"not a tab-separated line ({error})", "write `query-id<TAB>corpus-id<TAB>score`") from None
    if len(cells) != 3:
        quote = ' (a stray double quote " joins the fields after it: BEIR reads quotes as CSV quoting)' if '"' in line else ""
        raise BeirFormatError(
            path,
            number,
            f"{len(cells)} tab-separated fields instead of 3{quote}",
            "write `query-id<TAB>corpus-id<TAB>score`" + (" and remove the quote" if quote else " (the first line may be that header)"),
        )
    return cells


def _read_qrels(path: Path, queries: dict, corpus: dict, only_split: bool = True) -> dict[str, dict[str, int]]:
    _check_file(path, "qrels", "write `query-id<TAB>corpus-id<TAB>score` lines, after that header line")
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    with open(path, "rb") as handle:
        raw_lines = handle.read().splitlines()  # \n, \r\n and a lone \r (old Mac editors) all end a line
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a BOM is accepted
        except UnicodeDecodeError:
            raise BeirFormatError(path, number, "bytes that are not UTF-8", "re-encode the file as UTF-8") from None
        if not line.strip():
            continue
        cells = _qrels_cells(line, path, number)
        if number == 1 and tuple(cells) == QRELS_HEADER:
            continue
        if number == 1:
            logger.warning(
                "%s, line 1: a judgement, not the header `query-id<TAB>corpus-id<TAB>score`; read here as a judgement, "
                "while BEIR's GenericDataLoader skips the first line as the header. Fix: add the header line.",
                path,
            )
        qid, did, score = cells
        if not re.fullmatch(r"-?[0-9]+", score.strip()):
            raise BeirFormatError(
                path, number, f"the score {score!r} is not an integer", "use integer relevance grades such as 0, 1, 2"
            ) from None
        rel = int(score)
        if (qid, did) in first_line:
            if qrels[qid][did] != rel:
                raise BeirFormatError(
                    path,
                    number,
                    f"({qid}, {did}) is judged {rel} here but {qrels[qid][did]} on line {first_line[(qid, did)]}",
                    "keep one judgement per query-document pair",
                )
            continue
        first_line[(qid, did)] = number
        if qid == did:
            raise BeirFormatError(
                path,
                number,
                f"query id and document id are both {qid!r}; BEIR would silently drop this judgement",
                "prefix ids (q..., d...) so queries and documents never share one",
            )
        if qid not in queries:
            raise BeirFormatError(path, number, f"the query id {qid!r} is not in queries.jsonl", "remove the judgement or add the query")
        if did not in corpus:
            raise BeirFormatError(
                path, number, f"the document id {did!r} is not in corpus.jsonl", "remove the judgement or add the document"
            )
        qrels.setdefault(qid, {})[did] = rel
    if not qrels:
        raise BeirFormatError(path, None, "no judgements", "add at least one `query-id<TAB>corpus-id<TAB>score` line")
    _check_judged(path, qrels, queries if only_split else {qid: None for qid in qrels})
    return qrels


def _check_judged(path: Path, qrels: dict[str, dict[str, int]], queries: dict) -> None:
    """No positive judgement at all is an error (every score would be 0); queries that cannot be
    scored (no judgement, or none above 0) are named in a warning: mteb leaves them out. With
    several qrels files, ``queries`` holds the judged ones only (the others belong to other splits)."""
    positive = {qid for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())}
    if not positive:
        raise BeirFormatError(
            path, None, "no judgement has a score above 0, so no query has a relevant document", "grade relevant documents 1 or more"
        )
    unscored = [qid for qid in queries if qid not in positive]
    if unscored:
        logger.warning(
            "%s: %d of %d queries have no judgement above 0 (e.g. %s) and are not scored; the scores are over the other %d.",
            path,
            len(unscored),
            len(queries),
            ", ".join(repr(qid) for qid in unscored[:3]),
            len(queries) - len(unscored),
        )


def read_beir_folder(folder: Path | str, splits: tuple[str, ...] | None = None) -> BeirCollection:
    """Read and validate a BEIR folder; raise :class:`BeirFormatError` on the first problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BeirFormatError(folder, None, "not a folder", "pass a BEIR folder holding corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    corpus_rows = _read_jsonl(folder / "corpus.jsonl", ("_id", "text"), "corpus")
    query_rows = _read_jsonl(folder / "queries.jsonl", ("_id", "text"), "queries")
    overlap = set(corpus_rows) & set(query_rows)
    if overlap:
        example = sorted(overlap)[0]
        raise BeirFormatError(
            folder / "queries.jsonl",
            None,
            f"{len(overlap)} ids (e.g. {example!r}) are both a query and a document id; BEIR drops such documents",
            "prefix ids (q..., d...)",
        )
    qrels_dir = folder / "qrels"
    available = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
    wanted = list(splits) if splits else available
    if not wanted:
        raise BeirFormatError(qrels_dir, None, "no qrels file", "add qrels/test.tsv with `query-id<TAB>corpus-id<TAB>score` lines")
    corpus = {did: {"title": str(row.get("title", "") or ""), "text": row["text"]} for did, row in corpus_rows.items()}
    queries = {qid: row["text"] for qid, row in query_rows.items()}
    qrels = {}
    for split in wanted:
        path = qrels_dir / f"{split}.tsv"
        if not path.exists():
            raise BeirFormatError(
                path,
                None,
                f"no qrels for split {split!r} (found: {', '.join(available) or 'none'})",
                f"add {path.name} or choose one of the available splits",
            )
        qrels[split] = _read_qrels(path, queries, corpus, only_split=len(available) == 1)
    return BeirCollection(corpus=corpus, queries=queries, qrels=qrels)
