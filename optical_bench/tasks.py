"""MTEB retrieval tasks built from declarative task cards (``optical_bench/task_cards/*.toml``).

A task card is data, never code: name, kind, description, languages (one subset per
language pair, ISO 639-3 + script), domains, licence, citation, main score, and a
``[source]`` that says where the data comes from. Each source type (``builtin``, ``hub-files``,
``afriqa``, ``beir``) is one class of the registry :mod:`optical_bench.task_sources`, which opens
its data, gives its revision and its splits, and checks its cards; this module turns what it
opens into an mteb task.

Any BEIR folder becomes an ad-hoc task with :func:`beir_task`. Adding a collection
in a known layout means adding one card (docs/layout.md); :func:`get_tasks` selects tasks by name, language or kind and
suggests close names for a typo, like ``mteb.get_tasks``.

Importing this module loads neither mteb nor torch (nor ``datasets``): they load when a task is
made, so that a refused task name answers at once.
"""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path
from typing import Any

from optical_bench.cards import (
    DEFAULT_TASKS,
    DOWNLOADED_SOURCES,
    ENV_TASKS,
    KINDS,
    LANGUAGE_CODE,
    TaskCard,
    TaskCardError,
    card_folders,
    cards_dir,
    load_card,
    load_cards,
)
from optical_bench.config import tomllib
from optical_bench.data.beir import BeirCollection, read_beir_folder
from optical_bench.data.hub import load_hub_subset
from optical_bench.io import check_name, mirror_dir
from optical_bench.task_sources import beir_revision, task_source

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TASKS",
    "ENV_TASKS",
    "KINDS",
    "TaskCard",
    "TaskCardError",
    "beir_task",
    "card_folders",
    "get_benchmark",
    "cards_dir",
    "get_tasks",
    "load_card",
    "load_cards",
    "load_hub_subset",
    "make_task",
]


# --------------------------------------------------------------------------- task classes


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


def _metadata(card: TaskCard, revision: str, eval_splits: list[str] | None = None):
    from mteb.abstasks.task_metadata import TaskMetadata

    eval_langs = {subset: spec["eval_langs"] for subset, spec in card.subsets.items()}
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
        bibtex_citation=card.bibtex_citation or "",
    )


def _task_class(
    card: TaskCard,
    revision: str,
    loader,
    extra: dict[str, Any] | None = None,
    eval_splits: list[str] | None = None,
    content_revision: bool = False,
):
    """The mteb task class of ``card``. ``content_revision``: ``revision`` is a hash of the data
    itself (built collections, BEIR folders), so a result with that revision was computed on these
    data; a downloaded task's revision names a branch (``main``) whose files may change, and its old
    results are reused only where their data fingerprints were recorded
    (:func:`optical_bench.result_files.set_aside_stale_results`)."""
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

    def _save_task_predictions(self, predictions, model, prediction_folder, hf_split, hf_subset):
        from optical_bench.result_files import save_predictions

        save_predictions(self, predictions, model, prediction_folder, hf_split=hf_split, hf_subset=hf_subset)

    attributes = {
        "metadata": _metadata(card, revision, eval_splits),
        "load_data": load_data,
        "_save_task_predictions": _save_task_predictions,
        "card": card,
        "kind": card.kind,
        "low_resource_side": card.low_resource_side,
        "revision_is_content_hash": content_revision,
        "__module__": __name__,
        **(extra or {}),
    }
    return type(card.name, (AbsTaskRetrieval,), attributes)


def card_splits(card: TaskCard) -> set[str] | None:
    """The splits a card's data has, where the card says (None: not known before reading)."""
    return task_source(card).splits(card)


def tasks_with_split(split: str) -> list[str]:
    """The tasks whose data has a ``split`` (those whose cards say so)."""
    return sorted(name for name, card in load_cards().items() if split in (card_splits(card) or ()))


def _missing_split_message(card: TaskCard, subset: str, split: str) -> str:
    having = tasks_with_split(split)
    if task_source(card).type == "builtin":
        where, edit = f" (subset {subset!r})", f'add `{split} = "<built folder>"` to [subsets.{subset}]'
    else:
        where, edit = f" (its files hold {', '.join(sorted(card_splits(card) or ()))})", f"point its [source] at files that have {split!r}"
    return (
        f"{card.name} has no {split!r} split{where}. Fix: choose a task that has one "
        f"({', '.join(having) if having else 'none does'}), or give it one in a card of your own: copy {Path(card.path).name} "
        f"to a folder of yours, {edit}, rename the task, and name the folder in ${ENV_TASKS}."
    )


def make_task(card: TaskCard, build_root: Path | None = None, hub_dir: Path | None = None, eval_splits: list[str] | None = None):
    """Instantiate the mteb task of a card, its data opened by the card's source
    (:mod:`optical_bench.task_sources`; a built-in task builds the default collections if needed).
    A split the card's data does not have is refused before anything is built or loaded."""
    source = task_source(card)
    if card.source["type"] == "builtin":
        for split in eval_splits or ():
            for subset, spec in card.subsets.items():
                if not spec.get(split):
                    raise ValueError(_missing_split_message(card, subset, split))
    elif source.downloaded:
        known = source.splits(card)
        for split in eval_splits or ():
            if known is not None and split not in known:
                raise ValueError(_missing_split_message(card, sorted(card.subsets)[0], split))
    opened = source.open(card, eval_splits, build_root, hub_dir)
    cls = _task_class(opened.card, opened.revision, opened.loader, eval_splits=eval_splits, content_revision=opened.content_revision)
    return cls()


BEIR_SIDECAR = "task.toml"  # a BEIR folder's own description: languages, low-resource side, licence
_SIDECAR_KEYS = (
    "name",
    "description",
    "eval_langs",
    "low_resource_side",
    "license",
    "redistribute",
    "main_score",
    "bibtex_citation",
    "domains",
    "reference",
)


def read_beir_sidecar(folder: Path | str) -> dict[str, Any]:
    """The optional ``task.toml`` of a BEIR folder, in task-card names::

        eval_langs = ["nya-Latn", "eng-Latn"]   # the queries' language, then the documents'
        low_resource_side = "query"             # query, document or none
        license = "cc-by-4.0"

    Unknown keys and malformed values raise :class:`TaskCardError` naming the file and the key."""
    path = Path(folder) / BEIR_SIDECAR
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as error:
        raise TaskCardError(f"{path}: not valid TOML ({error}). Fix: correct the syntax at that line.") from None
    for key in raw:
        if key not in _SIDECAR_KEYS:
            hint = difflib.get_close_matches(key, _SIDECAR_KEYS, n=1)
            raise TaskCardError(
                f"{path}: unknown key {key!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}. Fix: use {', '.join(_SIDECAR_KEYS)}."
            )
    languages = raw.get("eval_langs", [])
    if not isinstance(languages, list) or not all(isinstance(code, str) and LANGUAGE_CODE.match(code) for code in languages):
        raise TaskCardError(f'{path}: key \'eval_langs\': {languages!r}. Fix: ISO 639-3 + script codes, e.g. ["nya-Latn", "eng-Latn"].')
    if raw.get("low_resource_side", "query") not in ("query", "document", "none"):
        raise TaskCardError(f"{path}: key 'low_resource_side': {raw['low_resource_side']!r}. Fix: use query, document or none.")
    return raw


def check_unique_task_names(tasks) -> list:
    """``tasks`` if no two share a name (two ``--beir`` folders both named ``tiny``, say: mteb would
    write one result file for both); else a ValueError naming the sources and the fix."""
    seen: dict[str, Any] = {}
    for task in tasks:
        name = task.metadata.name
        if name in seen:
            first, second = (getattr(getattr(t, "card", None), "path", None) or name for t in (seen[name], task))
            raise ValueError(
                f"Two tasks are named {name!r} ({first} and {second}): their results would overwrite each other. "
                f'Fix: give one folder a task.toml with name = "OtherName" (see docs/evaluate.md), or evaluate them apart.'
            )
        seen[name] = task
    return list(tasks)


def beir_task(
    folder: Path | str,
    name: str | None = None,
    languages: list[str] | None = None,
    split: str = "test",
    low_resource_side: str | None = None,
):
    """An ad-hoc mteb task for any BEIR folder (validated before anything else runs).

    Its languages and low-resource side come from ``languages``/``low_resource_side``, else
    from the folder's ``task.toml`` (:func:`read_beir_sidecar`), else English and the query
    side; they are recorded in the task's metadata (``eval_langs``, so in every mteb result
    file) and on the task (``low_resource_side``)."""
    folder = Path(folder)
    read_beir_folder(folder, splits=(split,))  # fail fast, with file/line/fix
    sidecar = read_beir_sidecar(folder)
    bad = [code for code in languages or [] if not LANGUAGE_CODE.match(code)]
    if bad:
        raise ValueError(f"{folder}: languages {bad} are not ISO 639-3 + script. Fix: write codes like nya-Latn or amh-Ethi.")
    if name is not None:
        check_name(name, "task name", folder)
    elif "name" in sidecar:
        name = check_name(sidecar["name"], "task name", folder / BEIR_SIDECAR)
    if name is None:
        stem = re.sub(r"[^A-Za-z0-9]+", "_", folder.resolve().name).strip("_")
        if not stem:
            raise ValueError(
                f"{folder}: the folder name {folder.resolve().name!r} gives no task name in letters and digits. Fix: write "
                f'name = "MyTask" into {folder / BEIR_SIDECAR} (or rename the folder).'
            )
        name = "BEIR_" + stem
    card = TaskCard(
        name=name,
        kind="beir",
        description=sidecar.get("description") or f"Ad-hoc retrieval task read from the BEIR folder {folder}.",
        main_score=sidecar.get("main_score", "ndcg_at_10"),
        source={"type": "beir", "path": str(folder)},
        subsets={"default": {"eval_langs": languages or sidecar.get("eval_langs") or ["eng-Latn"]}},
        path=folder,
        eval_splits=[split],
        low_resource_side=low_resource_side or sidecar.get("low_resource_side", "query"),
        license=sidecar.get("license", "not specified"),
        annotations_creators="derived",
        sample_creation="found",
        domains=sidecar.get("domains", ["Written"]),
        reference=sidecar.get("reference"),
        bibtex_citation=sidecar.get("bibtex_citation"),
        redistribute=bool(sidecar.get("redistribute", False)),
    )
    revision = beir_revision(folder)
    cls = _task_class(card, revision, lambda subset, split_: read_beir_folder(folder, splits=(split_,)), content_revision=True)
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
        languages: keep tasks with any of these ISO 639-3 codes (``"nya"`` or ``"nya-Latn"``), and of
            a multi-subset task only the subsets (language pairs) that have one of them.
        kinds: keep tasks of these kinds (in-domain, domain-shift, new-languages, oracle, hub).
        build_root: folder of a build (default: build or reuse the default build).
        hub_dir: local mirror of hub datasets and GitHub repositories for ``hub-files`` and ``afriqa`` cards
            (default: ``$OPTICAL_BENCH_HUB_DIR``, else the hub and GitHub).
        eval_splits: override the cards' splits (e.g. ``["dev"]`` for tuning).
        include_hub: with no names, also return the tasks whose data are downloaded (hub, GitHub).
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
            (card for card in cards.values() if include_hub or (card.kind != "hub" and card.source["type"] not in DOWNLOADED_SOURCES)),
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
        selected = [card for card in selected if _card_codes(card) & wanted]
    if not selected:
        raise ValueError("No task matches this selection (names/kinds/languages); `optical-bench tasks` lists them.")
    hub_dir = mirror_dir(hub_dir)  # the mirror named once for every command (and experiments)
    tasks = [make_task(card, build_root=build_root, hub_dir=hub_dir, eval_splits=eval_splits) for card in selected]
    return [_keep_subsets(task, languages) for task in tasks] if languages else tasks


def _subset_codes(name: str, eval_langs: list[str]) -> set[str]:
    """The language codes of a subset: its ``eval_langs`` and the parts of its name (an oracle's
    ``hau-eng`` subset is English on both sides, and still the Hausa questions)."""
    return {code.split("-")[0] for code in eval_langs} | set(name.split("-"))


def _card_codes(card: TaskCard) -> set[str]:
    return {code for name, spec in card.subsets.items() for code in _subset_codes(name, spec["eval_langs"])}


def _keep_subsets(task, languages: list[str]):
    """``task`` evaluated on the subsets that have one of ``languages``, with mteb's own subset filter."""
    wanted = {code.split("-")[0] for code in languages}
    subsets = task.metadata.eval_langs if isinstance(task.metadata.eval_langs, dict) else {}
    keep = [name for name, codes in subsets.items() if _subset_codes(name, codes) & wanted]
    if keep and len(keep) < len(subsets):
        task.filter_languages(None, hf_subsets=keep)
    return task


BENCHMARK_NAME = "OpticalBench"


def get_benchmark(names: list[str] | str | None = None, *, name: str = BENCHMARK_NAME, **selection):
    """An :class:`mteb.Benchmark` of optical-bench tasks (default: the offline default tasks),
    which ``mteb.evaluate``, ``ResultCache.load_results(tasks=...)`` and ``BenchmarkResults``
    accept wherever mteb's own benchmarks go. ``selection`` is :func:`get_tasks`'s
    (``languages``, ``kinds``, ``build_root``, ``hub_dir``, ``eval_splits``, ``include_hub``).

    mteb has no registry for outside benchmarks: ``mteb.get_benchmark("OpticalBench")`` does
    not find it; pass the object."""
    from mteb.benchmarks.benchmark import Benchmark

    from optical_bench.citation import OPTICAL_CITATION

    tasks = get_tasks(names, **selection)
    return Benchmark(
        name=name,
        tasks=tasks,
        description="Cross-lingual retrieval with low-resource-language queries: in-domain (Bible), domain shift "
        "(UDHR), languages never trained on, and oracle (monolingual) upper bounds, built offline by optical-bench.",
        reference="https://pypi.org/project/optical-bench/",
        citation=OPTICAL_CITATION,
    )
