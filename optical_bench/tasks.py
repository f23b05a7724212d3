"""MTEB retrieval tasks built from declarative task cards (``optical_bench/task_cards/*.toml``).

A task card is data, never code: name, kind, description, languages (one subset per
language pair, ISO 639-3 + script), domains, licence, citation, main score, and a
``[source]`` that says where the data comes from:

- ``builtin``: a collection built by ``optical-bench build`` (offline, the embedded
  default). The dataset revision is the content hash of the built folders.
- ``hub-files``: TREC-style query/qrels files in a Hugging Face dataset repository
  (``repo``) or a GitHub repository (``github_repo``: AfriCLIRMatrix), and a corpus, raw
  JSONL files downloaded with ``hf_hub_download`` (``corpus = "..."``: CIRAL and
  AfriCLIRMatrix, whose repositories' loading scripts ``datasets`` refuses) or a dataset
  loaded with ``datasets`` (``corpus_config``). With ``hub_dir`` (``--hub-dir``) the same
  files are read from a local mirror laid out as ``<hub_dir>/<repo>/<file>`` for the hub
  and ``<hub_dir>/github.com/<github_repo>/<file>`` (a clone) for GitHub.

Any BEIR folder becomes an ad-hoc task with :func:`beir_task`. Adding a collection
means adding one card; :func:`get_tasks` selects tasks by name, language or kind and
suggests close names for a typo, like ``mteb.get_tasks``.
"""

from __future__ import annotations

import difflib
import gzip
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from optical_bench.data.beir import BeirCollection, read_beir_folder
from optical_bench.io import atomic_write_bytes, home, sha256_folder

logger = logging.getLogger(__name__)

KINDS = ("in-domain", "domain-shift", "new-languages", "oracle", "hub", "beir")
DEFAULT_TASKS = (
    "OpticalBibleRetrieval",
    "OpticalUDHRRetrieval",
    "OpticalUDHRNewLanguagesRetrieval",
    "OpticalBibleOracleRetrieval",
    "OpticalUDHROracleRetrieval",
)
_REQUIRED = ("name", "kind", "description", "main_score", "source", "subsets")
_LANGUAGE = re.compile(r"^[a-z]{3}-[A-Z][a-z]{3}$")


class TaskCardError(ValueError):
    """A malformed task card; the message names the file, the key and the fix."""


ENV_TASKS = "OPTICAL_BENCH_TASKS"


def cards_dir() -> Path:
    """Folder of the bundled task cards (``optical_bench/task_cards/``: inside the package,
    so that a wheel ships them)."""
    return Path(__file__).resolve().parent / "task_cards"


def card_folders() -> list[Path]:
    """The bundled cards, then every folder named in ``$OPTICAL_BENCH_TASKS`` (separated by
    ``os.pathsep``, ``:`` on Linux): a user's own cards sit beside ours."""
    extra = [Path(part).expanduser() for part in os.environ.get(ENV_TASKS, "").split(os.pathsep) if part]
    for folder in extra:
        if not folder.is_dir():
            raise TaskCardError(f"${ENV_TASKS} names {folder}, which is not a folder. Fix: point it at a folder of task cards (*.toml).")
    return [cards_dir(), *extra]


@dataclass
class TaskCard:
    name: str
    kind: str
    description: str
    main_score: str
    source: dict[str, Any]
    subsets: dict[str, dict[str, Any]]
    path: Path
    reference: str | None = None
    eval_splits: list[str] = field(default_factory=lambda: ["test"])
    domains: list[str] | None = None
    license: str | None = None
    annotations_creators: str | None = None
    sample_creation: str | None = None
    date: tuple[str, str] | None = None
    citation: str | None = None
    low_resource_side: str = "query"
    oracle_of: str | None = None

    @property
    def languages(self) -> set[str]:
        return {code for subset in self.subsets.values() for code in subset["languages"]}


def _card_error(path: Path, key: str, problem: str, fix: str) -> TaskCardError:
    return TaskCardError(f"{path}: key {key!r}: {problem}. Fix: {fix}")


def load_card(path: Path | str) -> TaskCard:
    """Parse and validate one task card (TOML)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise TaskCardError(f"{path}: not UTF-8 (byte {error.start}). Fix: save the card as UTF-8.") from None
    except tomllib.TOMLDecodeError as error:
        raise TaskCardError(f"{path}: not valid TOML ({error}). Fix: correct the syntax at that line.") from None
    for key in _REQUIRED:
        if key not in raw:
            raise _card_error(path, key, "missing", f"add `{key} = ...` (see optical_bench/task_cards/OpticalBibleRetrieval.toml)")
    if raw["kind"] not in KINDS:
        raise _card_error(path, "kind", f"{raw['kind']!r} is not a known kind", f"use one of {', '.join(KINDS)}")
    if raw.get("low_resource_side", "query") not in ("query", "document", "none"):
        raise _card_error(path, "low_resource_side", f"{raw['low_resource_side']!r}", "use query, document or none")
    source_type = raw["source"].get("type")
    if source_type not in ("builtin", "hub-files", "beir"):
        raise _card_error(path, "source.type", f"{source_type!r} is unknown", "use builtin, hub-files or beir")
    if not raw["subsets"]:
        raise _card_error(path, "subsets", "empty", "add at least one [subsets.<pair>] table")
    for subset, spec in raw["subsets"].items():
        languages = spec.get("languages")
        if not isinstance(languages, list) or not languages:
            raise _card_error(path, f"subsets.{subset}.languages", "missing", 'give a list such as ["nya-Latn", "eng-Latn"]')
        for code in languages:
            if not isinstance(code, str) or not _LANGUAGE.match(code):
                raise _card_error(path, f"subsets.{subset}.languages", f"{code!r} is not ISO 639-3 + script", 'write codes like "nya-Latn" or "amh-Ethi"')
        if source_type == "builtin":
            for split in raw.get("eval_splits", ["test"]):
                folder = spec.get(split)
                if not isinstance(folder, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", folder) or ".." in folder:
                    raise _card_error(path, f"subsets.{subset}.{split}", f"{folder!r} is not a collection name", "name a folder of the build, e.g. bible-test (no paths)")
    fields = {k: raw[k] for k in TaskCard.__dataclass_fields__ if k in raw and k != "path"}
    if "date" in fields:
        fields["date"] = tuple(fields["date"])
    return TaskCard(path=path, **fields)


def load_cards(folder: Path | None = None) -> dict[str, TaskCard]:
    """Every task card of ``folder`` (default: :func:`card_folders`); none at all is an error."""
    folders = [Path(folder)] if folder else card_folders()
    cards = {}
    for place in folders:
        for path in sorted(place.glob("*.toml")):
            card = load_card(path)
            if card.name in cards:
                raise TaskCardError(f"{path}: the task name {card.name!r} is also used by {cards[card.name].path}. Fix: rename one.")
            cards[card.name] = card
    if not cards:
        raise TaskCardError(
            f"No task cards (*.toml) in {', '.join(str(p) for p in folders)}. Fix: reinstall optical-bench (its wheel ships "
            f"optical_bench/task_cards/), or point ${ENV_TASKS} at a folder of cards."
        )
    return cards


# --------------------------------------------------------------------------- data loading


def _collection_to_split(collection: BeirCollection, split: str) -> dict[str, Any]:
    """A BEIR collection as mteb's ``RetrievalSplitData`` (datasets.Dataset columns id/text/title)."""
    from datasets import Dataset

    qrels = collection.qrels[split]
    corpus = Dataset.from_dict(
        {
            "id": list(collection.corpus),
            "text": [doc["text"] for doc in collection.corpus.values()],
            "title": [doc.get("title", "") for doc in collection.corpus.values()],
        }
    )
    query_ids = [qid for qid in collection.queries if qid in qrels]
    queries = Dataset.from_dict({"id": query_ids, "text": [collection.queries[qid] for qid in query_ids]})
    return {"corpus": corpus, "queries": queries, "relevant_docs": qrels, "top_ranked": None}


def _read_trec_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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
        qrels.setdefault(qid, {})[did] = int(rel)
    return qrels


def _read_topics(path: Path) -> dict[str, str]:
    topics = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < 2:
            raise TaskCardError(f"{path}, line {number}: no tab. Fix: write `qid<TAB>query` per line.")
        topics[cells[0]] = cells[1].strip()
    return topics


def _hub_file(repo: str, filename: str, revision: str, hub_dir: Path | None) -> Path:
    """One file of the Hugging Face dataset repository ``repo``: ``<hub_dir>/<repo>/<filename>``
    in a local mirror, else downloaded (and cached) by ``hf_hub_download``."""
    if hub_dir is not None:
        path = Path(hub_dir) / repo / filename
        if not path.exists():
            raise FileNotFoundError(f"{path}: not in the local hub mirror. Fix: copy {filename} of the dataset {repo} there, or drop --hub-dir to use the hub.")
        return path
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(huggingface_hub.hf_hub_download(repo_id=repo, filename=filename, repo_type="dataset", revision=revision))
    except LocalEntryNotFoundError as error:
        raise FileNotFoundError(
            f"https://huggingface.co/datasets/{repo}/blob/{revision}/{filename}: not in the hub cache and the hub cannot be "
            f"reached ({error}). Fix: go online (OPTICAL_BENCH_ONLINE=1 with optical-bench), or give --hub-dir a mirror "
            f"holding {repo}/{filename}."
        ) from error
    except EntryNotFoundError as error:
        raise FileNotFoundError(
            f"https://huggingface.co/datasets/{repo}/blob/{revision}/{filename}: no such file in the dataset repository. "
            f"Fix: correct the path in the task card's [source]."
        ) from error


GITHUB_RAW = "https://raw.githubusercontent.com"
_TRUE = ("1", "on", "yes", "true")


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
    clone_fix = f"git clone https://github.com/{repo} <hub_dir>/github.com/{repo}"
    if hub_dir is not None:
        path = Path(hub_dir) / "github.com" / repo / filename
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: not in the local hub mirror. Fix: `{clone_fix.replace('<hub_dir>', str(hub_dir))}` "
                f"(checkout {revision}), or drop --hub-dir to download it."
            )
        return path
    path = home() / "github" / repo / revision / filename
    if path.exists():
        return path
    url = f"{GITHUB_RAW}/{repo}/{revision}/{filename}"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        raise FileNotFoundError(
            f"{url}: not downloaded yet, and downloads are off (HF_HUB_OFFLINE=1). Fix: go online "
            f"(OPTICAL_BENCH_ONLINE=1 with optical-bench, or unset HF_HUB_OFFLINE), or clone the repository "
            f"(`{clone_fix}`) and pass --hub-dir."
        )
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except urllib.error.HTTPError as error:
        raise FileNotFoundError(f"{url}: HTTP {error.code}. Fix: correct github_repo, github_revision or the path in the task card's [source].") from error
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
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                raise TaskCardError(f"{path}, line {number}: empty line. Fix: delete it (JSON lines: one JSON object per line), or re-download the file.")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskCardError(
                    f"{path}, line {number}: not JSON ({error.msg}, column {error.colno}). Fix: re-download the file "
                    f"(a cut download?) or mend that line."
                ) from None
            if not isinstance(record, dict):
                raise TaskCardError(f"{path}, line {number}: a JSON {type(record).__name__}, not an object. Fix: write one JSON object per line.")
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
        if did in corpus:
            raise TaskCardError(f"{where}, line {number}: document id {did!r} was already read. Fix: give each document its own id.")
        corpus[did] = {"title": str(record.get(title_field, "") or "") if title_field else "", "text": str(record[text_field])}
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
        logger.warning("%s %s/%s: %d of %d judgements in %s name a query missing from %s or a document missing from the corpus; "
                       "they are left out.", card.name, subset, split, judged - kept, judged, qrels_path, queries_path)
    return BeirCollection(corpus, queries, {split: qrels})


# --------------------------------------------------------------------------- task classes


def _metadata(card: TaskCard, revision: str, eval_splits: list[str] | None = None):
    from mteb.abstasks.task_metadata import TaskMetadata

    eval_langs = {subset: spec["languages"] for subset, spec in card.subsets.items()}
    return TaskMetadata(
        name=card.name,
        description=card.description,
        reference=card.reference,
        dataset={"path": f"optical-bench/{card.name}", "revision": revision},
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=eval_splits or card.eval_splits,
        eval_langs=eval_langs,
        main_score=card.main_score,
        date=card.date,
        domains=card.domains,
        task_subtypes=[],
        license=card.license,
        annotations_creators=card.annotations_creators,
        dialect=[],
        sample_creation=card.sample_creation,
        bibtex_citation=card.citation or "",
    )


def _task_class(card: TaskCard, revision: str, loader, extra: dict[str, Any] | None = None, eval_splits: list[str] | None = None):
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    def load_data(self, num_proc=None, *, timer=None, **kwargs):
        if self.data_loaded:
            return
        self.dataset = {}
        for subset in self.hf_subsets:
            self.dataset[subset] = {}
            for split in self.eval_splits:
                collection = loader(subset, split)
                self.dataset[subset][split] = _collection_to_split(collection, split)
        self.data_loaded = True

    attributes = {
        "metadata": _metadata(card, revision, eval_splits),
        "load_data": load_data,
        "card": card,
        "kind": card.kind,
        "low_resource_side": card.low_resource_side,
        "__module__": __name__,
        **(extra or {}),
    }
    return type(card.name, (AbsTaskRetrieval,), attributes)


def _builtin_loader(card: TaskCard, build_root: Path):
    def loader(subset: str, split: str) -> BeirCollection:
        folder_name = card.subsets[subset].get(split)
        if not folder_name:
            raise ValueError(f"{card.path}: subset {subset!r} has no {split!r} collection. Fix: add `{split} = \"<folder>\"` to [subsets.{subset}].")
        folder = build_root / folder_name
        return read_beir_folder(folder, splits=(split,))

    return loader


def _builtin_revision(card: TaskCard, build_root: Path) -> str:
    info_path = build_root / "build.json"
    hashes = json.loads(info_path.read_text(encoding="utf-8"))["content_hash"] if info_path.exists() else {}
    parts = []
    for subset in sorted(card.subsets):
        for split, folder in sorted(card.subsets[subset].items()):
            if split in ("languages", "vars"):
                continue
            parts.append(hashes.get(folder) or sha256_folder(build_root / folder)[:16])
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def make_task(card: TaskCard, build_root: Path | None = None, hub_dir: Path | None = None, eval_splits: list[str] | None = None):
    """Instantiate the mteb task of a card (building the default collections if needed)."""
    if card.source["type"] == "builtin":
        if build_root is None:
            from optical_bench.data.collections import build_collections

            build_root = build_collections().root
        revision = _builtin_revision(card, build_root)
        cls = _task_class(card, revision, _builtin_loader(card, build_root), eval_splits=eval_splits)
    elif card.source["type"] == "hub-files":
        revision = card.source.get("revision", "main")
        cls = _task_class(card, revision, lambda subset, split: load_hub_subset(card, subset, split, hub_dir), eval_splits=eval_splits)
    else:
        raise TaskCardError(f"{card.path}: source type {card.source['type']!r} cannot be instantiated from a card; use optical_bench.tasks.beir_task(folder).")
    return cls()


def beir_task(folder: Path | str, name: str | None = None, languages: list[str] | None = None, split: str = "test", low_resource_side: str = "query"):
    """An ad-hoc mteb task for any BEIR folder (validated before anything else runs)."""
    folder = Path(folder)
    read_beir_folder(folder, splits=(split,))  # fail fast, with file/line/fix
    name = name or "BEIR_" + re.sub(r"[^A-Za-z0-9]+", "_", folder.resolve().name).strip("_")
    card = TaskCard(
        name=name,
        kind="beir",
        description=f"Ad-hoc retrieval task read from the BEIR folder {folder}.",
        main_score="ndcg_at_10",
        source={"type": "beir", "path": str(folder)},
        subsets={"default": {"languages": languages or ["eng-Latn"]}},
        path=folder,
        eval_splits=[split],
        low_resource_side=low_resource_side,
        license="not specified",
        annotations_creators="derived",
        sample_creation="found",
        domains=["Written"],
    )
    revision = sha256_folder(folder)[:16]
    cls = _task_class(card, revision, lambda subset, split_: read_beir_folder(folder, splits=(split_,)))
    cls.metadata = _metadata(card, revision)
    task = cls()
    return task


def get_tasks(
    names: list[str] | str | None = None,
    languages: list[str] | None = None,
    kinds: list[str] | None = None,
    *,
    build_root: Path | None = None,
    hub_dir: Path | None = None,
    eval_splits: list[str] | None = None,
    cards_folder: Path | None = None,
    include_hub: bool = False,
):
    """Select optical-bench tasks and return mteb task instances.

    Args:
        names: task names (default: the offline default tasks); a typo raises a
            ``KeyError`` that suggests the closest names.
        languages: keep tasks with any of these ISO 639-3 codes (``"nya"`` or ``"nya-Latn"``).
        kinds: keep tasks of these kinds (in-domain, domain-shift, new-languages, oracle, hub).
        build_root: folder of a build (default: build or reuse the default build).
        hub_dir: local mirror of hub datasets for ``hub-files`` cards.
        eval_splits: override the cards' splits (e.g. ``["dev"]`` for tuning).
        include_hub: with no names, also return the hub-backed tasks.
    """
    cards = load_cards(cards_folder)
    if isinstance(names, str):
        names = [names]
    if names:
        unknown = [name for name in names if name not in cards]
        if unknown:
            hints = {name: difflib.get_close_matches(name, list(cards), n=3, cutoff=0.4) for name in unknown}
            message = "; ".join(f"{name!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for name, h in hints.items())
            raise KeyError(f"Unknown task {message}. Known tasks: {', '.join(sorted(cards))}.")
        selected = [cards[name] for name in names]
    else:
        order = {name: index for index, name in enumerate(DEFAULT_TASKS)}
        selected = sorted(
            (card for card in cards.values() if include_hub or card.kind != "hub"),
            key=lambda card: (order.get(card.name, len(order)), card.name),
        )
    if kinds:
        bad = [kind for kind in kinds if kind not in KINDS]
        if bad:
            raise ValueError(f"Unknown task kind(s) {bad}; use {', '.join(KINDS)}.")
        selected = [card for card in selected if card.kind in kinds]
    if languages:
        wanted = {code.split("-")[0] for code in languages}
        known = {code.split("-")[0] for card in cards.values() for code in card.languages}
        unknown_codes = sorted(wanted - known)
        if unknown_codes:
            hints = {code: difflib.get_close_matches(code, sorted(known), n=2) for code in unknown_codes}
            raise ValueError(
                "No task has the language(s) "
                + ", ".join(f"{code!r}" + (f" (did you mean {', '.join(h)}?)" if h else "") for code, h in hints.items())
                + f". Use ISO 639-3 codes; the task cards know: {', '.join(sorted(known))}."
            )
        selected = [card for card in selected if {code.split("-")[0] for code in card.languages} & wanted]
    if not selected:
        raise ValueError("No task matches this selection (names/kinds/languages); `optical-bench tasks` lists them.")
    return [make_task(card, build_root=build_root, hub_dir=hub_dir, eval_splits=eval_splits) for card in selected]
