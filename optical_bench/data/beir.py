"""BEIR folders: writing, strict validation, reading.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}`` per line),
``queries.jsonl`` (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (a header line
``query-id<TAB>corpus-id<TAB>score`` then one judgement per line). This is the layout
``beir.datasets.data_loader.GenericDataLoader`` reads.

:func:`validate_beir_folder` checks every line before any long work starts and raises
:class:`BeirFormatError`, whose message names the file, the line and the fix. It
catches what BEIR and mteb would otherwise turn into a traceback or, worse, a silent
mistake (BEIR silently drops a document whose id equals its query's id).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from optical_bench.io import atomic_write_jsonl, atomic_write_text


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


def _read_jsonl(path: Path, required: tuple[str, ...], kind: str) -> dict[str, dict]:
    if not path.exists():
        raise BeirFormatError(
            path, None, f"the {kind} file is missing", f"create {path.name} with one JSON object per line, keys {', '.join(required)}"
        )
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
            if not text.strip() and not str(row.get("title", "")).strip():
                raise BeirFormatError(
                    path, number, f"the text of {rid!r} is empty or only whitespace", f"remove the line or give {rid!r} a text"
                )
            if rid in rows:
                raise BeirFormatError(path, number, f"the _id {rid!r} appears twice", "give every line a unique _id")
            rows[rid] = row
    if not rows:
        raise BeirFormatError(path, None, f"the {kind} file has no entries", f"add at least one {kind} line")
    return rows


def _read_qrels(path: Path, queries: dict, corpus: dict) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, "rb") as handle:
        raw_lines = handle.read().split(b"\n")
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r")  # a BOM is accepted
        except UnicodeDecodeError:
            raise BeirFormatError(path, number, "bytes that are not UTF-8", "re-encode the file as UTF-8") from None
        if not line.strip():
            continue
        cells = next(csv.reader([line], delimiter="\t"))
        if number == 1 and cells and cells[0] == "query-id":
            continue
        if len(cells) != 3:
            raise BeirFormatError(
                path,
                number,
                f"{len(cells)} tab-separated fields instead of 3",
                "write `query-id<TAB>corpus-id<TAB>score` (the first line may be that header)",
            )
        qid, did, score = cells
        try:
            rel = int(score)
        except ValueError:
            raise BeirFormatError(
                path, number, f"the score {score!r} is not an integer", "use integer relevance grades such as 0, 1, 2"
            ) from None
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
    return qrels


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
        qrels[split] = _read_qrels(path, queries, corpus)
    return BeirCollection(corpus=corpus, queries=queries, qrels=qrels)


def validate_beir_folder(folder: Path | str, splits: tuple[str, ...] | None = None) -> BeirCollection:
    """Alias of :func:`read_beir_folder` for call sites that only want the check."""
    return read_beir_folder(folder, splits)
