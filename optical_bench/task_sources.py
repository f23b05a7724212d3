"""The source registry: one class per ``[source] type`` of a task card, with what every caller needs.

A task card says what a task is; its ``[source]`` says where the data lives. Each type is one class
here, and every caller dispatches through :func:`task_source` instead of testing the type itself:

====================  ==========================================================================
``builtin``           a collection built by ``optical-bench build`` (offline, the embedded default);
                      the revision is the content hash of the built folders
``hub-files``         TREC-style files of a Hugging Face dataset or a GitHub repository, and a corpus
                      (:mod:`optical_bench.data.hub`: CIRAL, AfriCLIRMatrix); revision: the card's
``afriqa``            AfriQA's question and gold-passage files on GitHub (:mod:`optical_bench.data.afriqa`),
                      English or French passages; a language without gold passages for a split sits out
``beir``              a BEIR folder beside the card (``path``); the revision is the folder's content hash
====================  ==========================================================================

For each type the class answers:

- :meth:`TaskSource.check_card`: the checks of its ``[source]`` and subset keys (called by
  :func:`optical_bench.cards.load_card`, so a malformed card fails when it is read);
- :meth:`TaskSource.splits`: the splits its data has, where the card says (``None``: not known
  before reading);
- :meth:`TaskSource.open`: the task's data for some splits: the card as evaluated, the revision, a
  ``loader(subset, split) -> BeirCollection``, and whether the revision is a content hash;
- :meth:`TaskSource.qrels`: the judgements of every split it can read, for reports on results that
  have no qrels stored beside their rankings (results written before they were);
- ``downloaded``: whether its data come from the hub or GitHub (never in the offline default selection).

The training texts a source offers (bitext, monolingual text, dev collections) are the named
sources of :mod:`optical_bench.data.sources`. Adding a dataset: docs/layout.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from optical_bench.data.beir import BeirCollection, read_beir_folder
from optical_bench.io import mirror_dir, sha256_folder
from optical_bench.task_card import SUBSET_KEYS, TaskCard, TaskCardError, card_error

logger = logging.getLogger(__name__)

__all__ = ["SOURCES", "SourceTask", "TaskSource", "beir_card_folder", "beir_revision", "task_source"]


@dataclass(frozen=True)
class SourceTask:
    """A task's data as one source opens it for some splits."""

    card: TaskCard  # the card as evaluated (AfriQA: the languages without gold passages left out)
    revision: str  # the results' dataset_revision
    loader: Callable[[str, str], BeirCollection]  # (subset, split) -> the collection
    content_revision: bool  # the revision is a hash of the data themselves (else a branch, such as main)


class TaskSource:
    """One ``[source] type``: see the module's docstring."""

    type: ClassVar[str]
    downloaded: ClassVar[bool] = False

    def check_card(self, raw: dict[str, Any], path: Path) -> None:
        """Raise :class:`TaskCardError` (file, key, fix) where the card's source or subsets are wrong for this type."""

    def splits(self, card: TaskCard) -> set[str] | None:
        """The splits the card's data has, where the card says; ``None`` when only reading tells."""
        return None

    def open(self, card: TaskCard, eval_splits: list[str] | None, build_root: Path | None, hub_dir: Path | None) -> SourceTask:
        raise NotImplementedError

    def qrels_places(self, build_root: Path | None, hub_dir: Path | None) -> list[tuple[Path | None, Path | None]]:
        """Where to look for qrels, as (build_root, hub_dir) pairs, first found first."""
        return [(build_root, mirror_dir(hub_dir))]

    def qrels_splits(self, card: TaskCard) -> list[str]:
        return list(dict.fromkeys([*card.named_splits, *sorted(self.splits(card) or ())]))

    def qrels(
        self, card: TaskCard, dataset_revision: str | None, build_root: Path | None = None, hub_dir: Path | None = None
    ) -> dict[str, dict[str, Any]] | None:
        """``{subset: {split: qrels}}`` of every split that can be read where the data already are
        (nothing is built or downloaded for it), from the place whose revision is ``dataset_revision``
        (so the judgements are those the rankings were scored with); ``None`` when there is none."""
        for root, mirror in self.qrels_places(build_root, hub_dir):
            found: dict[str, dict[str, Any]] = {}
            for split in self.qrels_splits(card):
                try:
                    opened = self.open(card, [split], root, mirror)
                    if dataset_revision and opened.revision != dataset_revision:
                        break  # another build or other files: not the judgements these rankings were scored with
                    for subset in opened.card.subsets:
                        found.setdefault(subset, {})[split] = opened.loader(subset, split).qrels[split]
                except Exception as error:  # a split these files do not hold (a mirror's test split, say)
                    logger.info("No %s %s qrels in %s (%s).", card.name, split, root or mirror or "the cache", error)
            if found:
                return found
        return None


class BuiltSource(TaskSource):
    """``builtin``: each subset names, per split, a folder of the build (``test = "bible-test"``)."""

    type = "builtin"

    def check_card(self, raw, path):
        for subset, spec in raw["subsets"].items():
            for split in raw.get("eval_splits", ["test"]):
                folder = spec.get(split)
                if not isinstance(folder, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", folder) or ".." in folder:
                    raise card_error(
                        path,
                        f"subsets.{subset}.{split}",
                        f"{folder!r} is not a collection name",
                        "name a folder of the build, e.g. bible-test (no paths)",
                    )

    def splits(self, card):
        return set(card.eval_splits) | {
            key
            for spec in card.subsets.values()
            for key in spec
            if key not in SUBSET_KEYS and all(s.get(key) for s in card.subsets.values())
        }

    def open(self, card, eval_splits, build_root, hub_dir):
        if build_root is None:
            from optical_bench.data.collections import built_collections_root

            build_root = built_collections_root()
        parts = [
            _folder_hash(build_root / folder)
            for subset in sorted(card.subsets)
            for split, folder in sorted(card.subsets[subset].items())
            if split not in SUBSET_KEYS
        ]
        revision = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

        def loader(subset: str, split: str) -> BeirCollection:
            folder_name = card.subsets[subset].get(split)
            if not folder_name:
                raise ValueError(
                    f'{card.path}: {card.name} has no {split!r} split (subset {subset!r}). Fix: add `{split} = "<built folder>"` to [subsets.{subset}].'
                )
            folder = build_root / folder_name
            missing = [name for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv") if not (folder / name).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{folder / missing[0]}: a file of the built collection {folder_name} is gone. Fix: `optical-bench build` "
                    "(it builds again what changed)."
                )
            return read_beir_folder(folder, splits=(split,))

        return SourceTask(card, revision, loader, content_revision=True)

    def qrels_places(self, build_root, hub_dir):
        from optical_bench.io import home

        roots = [Path(build_root)] if build_root else sorted(p.parent for p in (home() / "collections").glob("*/build.json"))
        return [(root, None) for root in roots]  # never builds one: a report reads what exists


class HubFilesSource(TaskSource):
    """``hub-files``: queries and qrels files of a hub dataset (``repo``) or GitHub repository
    (``github_repo``), and a corpus (:func:`optical_bench.data.hub.load_hub_subset`)."""

    type = "hub-files"
    downloaded = True

    def splits(self, card):
        source = card.source
        if source.get("split_files"):
            return set(source["split_files"])
        if not any("{split" in str(source.get(key, "")) for key in ("queries", "qrels")):
            return set(card.eval_splits)  # fixed file names: the card's own split only
        return None

    def open(self, card, eval_splits, build_root, hub_dir):
        from optical_bench.data.hub import load_hub_subset

        loader = lambda subset, split: load_hub_subset(card, subset, split, hub_dir)  # noqa: E731
        return SourceTask(card, card.source.get("revision", "main"), loader, content_revision=False)

    def qrels_splits(self, card):
        return list(dict.fromkeys([*card.eval_splits, *sorted(self.splits(card) or {"dev", "train"})]))


class AfriQASource(TaskSource):
    """``afriqa``: AfriQA's questions (``queries``) and gold passages (``gold_passages``) per
    language and split, against the pooled passages of the split (:mod:`optical_bench.data.afriqa`)."""

    type = "afriqa"
    downloaded = True
    REQUIRED = ("github_repo", "queries", "gold_passages", "corpus_pivot", "corpus_languages")

    def check_card(self, raw, path):
        for key in self.REQUIRED:
            if key not in raw["source"]:
                raise card_error(path, f"source.{key}", "missing", "see optical_bench/task_cards/AfriQARetrieval.toml")
        for subset, spec in raw["subsets"].items():
            if not {"code", "pivot"} <= set(spec.get("vars", {})):
                raise card_error(path, f"subsets.{subset}.vars", "needs code and pivot", 'write vars = { code = "hau", pivot = "en" }')

    def splits(self, card):
        return {"train", "dev", "test"}  # AfriQA's splits upstream (a language without gold passages sits one out)

    def open(self, card, eval_splits, build_root, hub_dir):
        from optical_bench.data.afriqa import load_afriqa_subset, subsets_for_splits

        card = replace(card, subsets=subsets_for_splits(card, eval_splits or card.eval_splits))
        loader = lambda subset, split: load_afriqa_subset(card, subset, split, hub_dir)  # noqa: E731
        return SourceTask(card, card.source.get("github_revision", "main"), loader, content_revision=False)

    def qrels_splits(self, card):
        return list(dict.fromkeys([*card.eval_splits, "dev", "train"]))


class BeirFolderSource(TaskSource):
    """``beir``: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) named by
    ``path``, relative to the card."""

    type = "beir"

    def check_card(self, raw, path):
        where = raw["source"].get("path")
        if not isinstance(where, str) or not (path.parent / where).expanduser().is_dir():
            raise card_error(
                path, "source.path", f"{where!r} is not a folder", 'write path = "<BEIR folder>" (relative to the card) under [source]'
            )

    def splits(self, card):
        qrels = beir_card_folder(card) / "qrels"
        return {file.stem for file in qrels.glob("*.tsv")} or None

    def open(self, card, eval_splits, build_root, hub_dir):
        folder = beir_card_folder(card)
        loader = lambda subset, split: read_beir_folder(folder, splits=(split,))  # noqa: E731
        return SourceTask(card, beir_revision(folder), loader, content_revision=True)

    def qrels_places(self, build_root, hub_dir):
        return [(None, None)]


SOURCES: dict[str, TaskSource] = {source.type: source for source in (BuiltSource(), HubFilesSource(), AfriQASource(), BeirFolderSource())}


def task_source(card_or_type: TaskCard | str) -> TaskSource:
    """The registry's class for a card's ``[source] type`` (or a type name); an unknown type names the known ones."""
    kind = card_or_type if isinstance(card_or_type, str) else card_or_type.source.get("type")
    if kind not in SOURCES:
        where = "" if isinstance(card_or_type, str) else f"{card_or_type.path}: "
        raise TaskCardError(f"{where}source type {kind!r} is unknown. Fix: use {', '.join(SOURCES)}.")
    return SOURCES[kind]


def beir_card_folder(card: TaskCard) -> Path:
    """The BEIR folder of a ``[source] type = "beir"`` card: ``path``, relative to the card's folder."""
    folder = Path(card.path).parent / Path(str(card.source.get("path", ""))).expanduser()
    if not card.source.get("path") or not folder.is_dir():
        raise TaskCardError(
            f"{card.path}: key 'source.path': {card.source.get('path')!r} is not a BEIR folder. "
            'Fix: write path = "<folder with corpus.jsonl, queries.jsonl, qrels/>" (relative to the card) under [source].'
        )
    return folder


def beir_revision(folder: Path | str) -> str:
    """The dataset revision of a BEIR-folder task: the content hash of the folder (its results'
    ``dataset_revision``)."""
    return _folder_hash(Path(folder))


_folder_hashes: dict[tuple, str] = {}  # (folder, its files' sizes and mtimes) -> content hash, for this process


def _folder_hash(folder: Path) -> str:
    """``sha256_folder(folder)[:16]``, remembered in this process while no file's size or mtime changes.
    An edit of a built collection changes it (``build.json``'s hashes are those of the build and would not)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    key = (str(folder.resolve()), tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _folder_hashes:
        _folder_hashes[key] = sha256_folder(folder)[:16]
    return _folder_hashes[key]
