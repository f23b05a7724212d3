"""Reading the hub collections (CIRAL, AfriCLIRMatrix) from their real file layouts.

Queries and qrels are TREC-style files in a Hugging Face dataset repository (``repo``) or a
GitHub repository (``github_repo``: AfriCLIRMatrix); corpora are raw JSONL files fetched with
``hf_hub_download`` (the repositories' loading scripts, which ``datasets`` refuses, are never
run) or a dataset loaded with ``datasets`` (``corpus_config``). With ``hub_dir``
(``--hub-dir``) the same files come from a local mirror laid out as
``<hub_dir>/<repo>/<file>`` for the hub and ``<hub_dir>/github.com/<github_repo>/<file>`` for
GitHub. Corpora are read streaming, one line at a time; a bad line is an error that names
the file and the line.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

from optical_bench.data.beir import BeirCollection, _cut, has_lone_surrogate
from optical_bench.io import UnsafeNameError, atomic_write_bytes, check_relative_path, home
from optical_bench.task_card import TaskCard, TaskCardError

logger = logging.getLogger(__name__)


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file; bytes that are not UTF-8 are an error naming the line."""
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TaskCardError(
                f"{path}, line {number}: not UTF-8 (byte {error.start + 1} of the line). Fix: re-download the file, or save it as UTF-8."
            ) from None


def _read_trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in _text_lines(path):
        cells = line.split()
        if not cells:
            continue
        if len(cells) == 4:
            qid, _, did, rel = cells
        elif len(cells) == 3:
            qid, did, rel = cells
        else:
            raise TaskCardError(f"{path}, line {number}: {len(cells)} fields. Fix: write TREC qrels `qid Q0 docid relevance`.")
        if qid == "query-id":
            continue
        try:
            grade = int(rel)
        except ValueError:
            raise TaskCardError(
                f"{path}, line {number}: relevance {rel!r} is not a whole number. Fix: write a grade such as 0, 1 or 2."
            ) from None
        if qrels.get(qid, {}).get(did, grade) != grade:
            raise TaskCardError(
                f"{path}, line {number}: {qid} {did} is judged again with grade {grade} (before: {qrels[qid][did]}). "
                "Fix: keep one judgement per query and document."
            )
        qrels.setdefault(qid, {})[did] = grade
    return qrels


def _read_topics(path: Path) -> dict[str, str]:
    topics = {}
    for number, line in _text_lines(path):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < 2:
            raise TaskCardError(f"{path}, line {number}: no tab. Fix: write `qid<TAB>query` per line.")
        topics[cells[0]] = cells[1].strip()
    return topics


def _hub_file(repo: str, filename: str, revision: str, hub_dir: Path | None) -> Path:
    """One file of the Hugging Face dataset repository ``repo``: ``<hub_dir>/<repo>/<filename>``
    in a local mirror, else downloaded (and cached) by ``hf_hub_download``. The names come from a
    task card: each must stay inside the mirror (:func:`optical_bench.io.check_relative_path`)."""
    _check_source_names(repo, filename, revision)
    if hub_dir is not None:
        path = Path(hub_dir) / repo / filename
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: not in the local hub mirror. Fix: copy {filename} of the dataset {repo} there "
                f"(`hf download {repo} {filename} --repo-type dataset --local-dir {Path(hub_dir) / repo}`), "
                f"or drop --hub-dir and {go_online_fix()} to read it from the hub."
            )
        return path
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(huggingface_hub.hf_hub_download(repo_id=repo, filename=filename, repo_type="dataset", revision=revision))
    except LocalEntryNotFoundError as error:
        raise FileNotFoundError(
            f"https://huggingface.co/datasets/{repo}/blob/{revision}/{filename}: not in the hub cache and the hub cannot be "
            f"reached ({error}). Fix: {go_online_fix()}, or give --hub-dir a mirror holding {repo}/{filename}."
        ) from error
    except EntryNotFoundError as error:
        raise FileNotFoundError(
            f"https://huggingface.co/datasets/{repo}/blob/{revision}/{filename}: no such file in the dataset repository. "
            f"Fix: correct the path in the task card's [source]."
        ) from error


def _check_source_names(repo: str, filename: str, revision: str) -> None:
    """The repository (``owner/name``), file path and revision of a card's [source] are parts of
    paths in the cache folder and the mirror: refuse any that would leave them."""
    where = "the task card's [source]"
    if not isinstance(repo, str) or repo.count("/") != 1:
        raise UnsafeNameError(f"{where}: the repository {repo!r} is not owner/name. Fix: write the repository as owner/name.")
    check_relative_path(repo, "repository", where)
    check_relative_path(filename, "file path", where)
    check_relative_path(revision, "revision", where)


GITHUB_RAW = "https://raw.githubusercontent.com"
_TRUE = ("1", "on", "yes", "true")
# set by the command line when it turned HF_HUB_OFFLINE on itself (the user did not)
ENV_OFFLINE_BY_DEFAULT = "OPTICAL_BENCH_OFFLINE_BY_DEFAULT"


def downloads_off() -> bool:
    """Whether the hub's offline switch (``HF_HUB_OFFLINE``) is on."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def go_online_fix() -> str:
    """How to let this command download, in words that work when followed: with the switch the
    command line set, ``OPTICAL_BENCH_ONLINE=1`` before the command; with one the user set,
    unset it as well."""
    if not downloads_off():
        return "run it again with the network reachable"
    if os.environ.get(ENV_OFFLINE_BY_DEFAULT) == "1":
        return "put OPTICAL_BENCH_ONLINE=1 before the command (optical-bench works offline unless told so)"
    return "unset HF_HUB_OFFLINE (set in your environment) and put OPTICAL_BENCH_ONLINE=1 before the command"


def _github_file(repo: str, filename: str, revision: str, hub_dir: Path | None) -> Path:
    """One file of the GitHub repository ``repo`` (files that are not on the Hugging Face hub,
    such as AfriCLIRMatrix's queries and qrels).

    With ``hub_dir`` it is read from a clone there, ``<hub_dir>/github.com/<repo>/<filename>``.
    Otherwise it is downloaded once from ``raw.githubusercontent.com`` into the optical-bench
    cache folder (``<home>/github/<repo>/<revision>/<filename>``, an atomic write) and read
    from there afterwards. Downloads obey the hub's offline switch (``HF_HUB_OFFLINE``, which
    ``optical-bench`` sets unless ``OPTICAL_BENCH_ONLINE=1``). Either way the caller reads a
    local file, with the same readers.
    """
    _check_source_names(repo, filename, revision)
    clone_fix = f"git clone https://github.com/{repo} <hub_dir>/github.com/{repo}"
    if hub_dir is not None:
        path = Path(hub_dir) / "github.com" / repo / filename
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: not in the local hub mirror. Fix: `{clone_fix.replace('<hub_dir>', str(hub_dir))}` "
                f"(checkout {revision}), or drop --hub-dir and {go_online_fix()} to download it."
            )
        return path
    path = home() / "github" / repo / revision / filename
    if path.exists():
        return path
    url = f"{GITHUB_RAW}/{repo}/{revision}/{filename}"
    if downloads_off():
        by_default = os.environ.get(ENV_OFFLINE_BY_DEFAULT) == "1"
        raise FileNotFoundError(
            f"{url}: not downloaded yet, and downloads are off "
            f"({'optical-bench runs offline by default' if by_default else 'HF_HUB_OFFLINE=1 in your environment'}). "
            f"Fix: {go_online_fix()}, or clone the repository (`{clone_fix}`) and pass --hub-dir <hub_dir>."
        )
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except urllib.error.HTTPError as error:
        raise FileNotFoundError(
            f"{url}: HTTP {error.code}. Fix: correct github_repo, github_revision or the path in the task card's [source]."
        ) from error
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(
            f"{url}: cannot be downloaded ({getattr(error, 'reason', error)}). Fix: check the network, or clone the repository "
            f"(`{clone_fix}`) and pass --hub-dir."
        ) from error
    return atomic_write_bytes(path, data)


def _corpus_file_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) for each line of a JSONL file (``.jsonl`` or ``.jsonl.gz``) or each
    row of a parquet file, read as a stream. Nothing is skipped: an empty or malformed line is an
    error that names the file and the line."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(path).iter_batches():
            for record in batch.to_pylist():
                number += 1
                yield number, record
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TaskCardError(
                    f"{path}, line {number}: not UTF-8 (byte {error.start + 1} of the line). Fix: re-download the file, or save it as UTF-8."
                ) from None
            if not line.strip():
                raise TaskCardError(
                    f"{path}, line {number}: empty line. Fix: delete it (JSON lines: one JSON object per line), or re-download the file."
                )
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskCardError(
                    f"{path}, line {number}: not JSON ({error.msg}, column {error.colno}). Fix: re-download the file "
                    f"(a cut download?) or mend that line."
                ) from None
            if not isinstance(record, dict):
                raise TaskCardError(
                    f"{path}, line {number}: a JSON {type(record).__name__}, not an object. Fix: write one JSON object per line."
                )
            yield number, record


def _read_corpus(numbered_records: Iterable[tuple[str, int, dict]], fields: dict[str, str]) -> dict[str, dict[str, str]]:
    """The corpus ``{docid: {"title", "text"}}`` from ``(where, number, record)`` triples, with the
    card's ``corpus_fields`` (``id``, ``text``, optional ``title``). A record without the id or text
    field, or with an id already read, is an error naming ``where`` and the line."""
    id_field, text_field, title_field = fields["id"], fields["text"], fields.get("title") or ""
    corpus: dict[str, dict[str, str]] = {}
    for where, number, record in numbered_records:
        missing = [name for name in (id_field, text_field) if name not in record]
        if missing:
            raise TaskCardError(
                f"{where}, line {number}: no field {', '.join(map(repr, missing))} (fields: {', '.join(sorted(record))}). "
                f"Fix: set corpus_fields in the task card's [source] to this file's field names."
            )
        did = str(record[id_field])
        for value in (did, record[text_field], record.get(title_field, "") if title_field else ""):
            if isinstance(value, str) and has_lone_surrogate(value):
                raise TaskCardError(
                    f"{where}, line {number}: document {did!r} holds a lone UTF-16 surrogate (an escape such as \\ud800 "
                    "without its pair), which no tokenizer can read. Fix: re-download the file, or mend that escape."
                )
        if did in corpus:
            raise TaskCardError(f"{where}, line {number}: document id {did!r} was already read. Fix: give each document its own id.")
        text = _cut(str(record[text_field]), Path(str(where)), number, did)  # as BEIR folders: over 100,000 characters, cut and warned
        corpus[did] = {"title": str(record.get(title_field, "") or "") if title_field else "", "text": text}
    return corpus


def load_hub_subset(card: TaskCard, subset: str, split: str, hub_dir: Path | None = None) -> BeirCollection:
    """Load one subset/split of a ``hub-files`` card (from the hub, or a local mirror).

    Queries and qrels are files of the hub dataset ``repo`` or, when the card names a
    ``github_repo``, of that GitHub repository (:func:`_github_file`); the corpus is raw
    files of ``corpus_repo`` (:func:`_hub_file`, the ``corpus`` paths) or a ``datasets``
    dataset (``corpus_config``). Every file is read by the same functions wherever it came from.
    """
    source = card.source
    variables = dict(card.subsets[subset].get("vars", {}))
    variables["split_file"] = source.get("split_files", {}).get(split, split)
    variables["split"] = split
    revision = source.get("revision", "main")
    if source.get("github_repo"):
        github_revision = source.get("github_revision", "main")
        queries_path = _github_file(source["github_repo"], source["queries"].format(**variables), github_revision, hub_dir)
        qrels_path = _github_file(source["github_repo"], source["qrels"].format(**variables), github_revision, hub_dir)
    else:
        queries_path = _hub_file(source["repo"], source["queries"].format(**variables), revision, hub_dir)
        qrels_path = _hub_file(source["repo"], source["qrels"].format(**variables), revision, hub_dir)
    queries = _read_topics(queries_path)
    qrels = _read_trec_qrels(qrels_path)
    fields = source.get("corpus_fields", {"id": "docid", "title": "title", "text": "text"})
    config = source.get("corpus_config", "").format(**variables) or None
    if source.get("corpus"):  # raw files in the corpus repository: the same path for the hub and a mirror
        names = [source["corpus"]] if isinstance(source["corpus"], str) else list(source["corpus"])
        paths = [_hub_file(source["corpus_repo"], name.format(**variables), revision, hub_dir) for name in names]
    elif hub_dir is not None:
        folder = Path(hub_dir) / source["corpus_repo"] / (config or "")
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and re.search(r"\.(jsonl|jsonl\.gz|parquet)$", p.name))
        if not paths:
            raise FileNotFoundError(f"{folder}: no corpus files (*.jsonl, *.jsonl.gz, *.parquet) in the local hub mirror.")
    else:
        paths = None
    if paths is not None:
        corpus = _read_corpus(((str(path), number, record) for path in paths for number, record in _corpus_file_records(path)), fields)
    else:
        from datasets import load_dataset

        dataset = load_dataset(source["corpus_repo"], config, split=source.get("corpus_split", "train"))
        where = f"dataset {source['corpus_repo']} ({config}), row"
        corpus = _read_corpus(((where, number, record) for number, record in enumerate(dataset, start=1)), fields)
    judged = sum(len(docs) for docs in qrels.values())
    qrels = {qid: {did: rel for did, rel in docs.items() if did in corpus} for qid, docs in qrels.items() if qid in queries}
    qrels = {qid: docs for qid, docs in qrels.items() if docs}
    kept = sum(len(docs) for docs in qrels.values())
    if kept < judged:
        logger.warning(
            "%s %s/%s: %d of %d judgements in %s name a query missing from %s or a document missing from the corpus; they are left out.",
            card.name,
            subset,
            split,
            judged - kept,
            judged,
            qrels_path,
            queries_path,
        )
    return BeirCollection(corpus, queries, {split: qrels})
