"""Task cards: declarative TOML files that say what a retrieval task is and where its data lives.

A task card is data, never code: name, kind, description, ``eval_langs`` (one subset per
language pair, ISO 639-3 + script), domains, licence, ``bibtex_citation``, main score, and a
``[source]`` (``builtin``, ``hub-files``, ``afriqa`` or ``beir``; see :mod:`optical_bench.tasks`). Where
mteb's ``TaskMetadata`` has a field, the card uses its name (``eval_langs``, ``eval_splits``,
``main_score``, ``bibtex_citation``, ``domains``, ``license``, ``annotations_creators``,
``sample_creation``, ``date``, ``reference``); the older ``citation`` and per-subset
``languages`` are still read, with a warning.
The shipped cards are in ``optical_bench/task_cards/``; ``$OPTICAL_BENCH_TASKS`` adds
folders of one's own (``os.pathsep``-separated). A malformed card raises
:class:`TaskCardError` naming the file, the key and the fix.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from optical_bench.config import tomllib
from optical_bench.io import check_name, check_relative_path
from optical_bench.task_card import KINDS, LANGUAGE_CODE, TaskCard, TaskCardError, card_error
from optical_bench.task_sources import SOURCES

logger = logging.getLogger(__name__)

DEFAULT_TASKS = (
    "OpticalBibleRetrieval",
    "OpticalBibleProphetsRetrieval",
    "OpticalUDHRRetrieval",
    "OpticalUDHRNewLanguagesRetrieval",
    "OpticalBibleOracleRetrieval",
    "OpticalBibleProphetsOracleRetrieval",
    "OpticalUDHROracleRetrieval",
)
_REQUIRED = ("name", "kind", "description", "main_score", "source", "subsets")
SOURCE_TYPES = tuple(SOURCES)
DOWNLOADED_SOURCES = tuple(kind for kind, source in SOURCES.items() if source.downloaded)  # never in the offline default selection


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


def _rename_old_keys(raw: dict[str, Any], path: Path) -> None:
    """Read the card names used before mteb's (``citation``, per-subset ``languages``), with a warning."""
    renamed = []
    if "citation" in raw and "bibtex_citation" not in raw:
        raw["bibtex_citation"] = raw.pop("citation")
        renamed.append("citation -> bibtex_citation")
    for spec in (raw.get("subsets") or {}).values():
        if isinstance(spec, dict) and "languages" in spec and "eval_langs" not in spec:
            spec["eval_langs"] = spec.pop("languages")
            if "languages -> eval_langs" not in renamed:
                renamed.append("languages -> eval_langs")
    if renamed:
        logger.warning("%s: old key names (%s); rename them to mteb's names.", path, ", ".join(renamed))


def load_card(path: Path | str) -> TaskCard:
    """Parse and validate one task card (TOML)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise TaskCardError(f"{path}: not UTF-8 (byte {error.start}). Fix: save the card as UTF-8.") from None
    except tomllib.TOMLDecodeError as error:
        raise TaskCardError(f"{path}: not valid TOML ({error}). Fix: correct the syntax at that line.") from None
    _rename_old_keys(raw, path)
    for key in _REQUIRED:
        if key not in raw:
            raise card_error(path, key, "missing", f"add `{key} = ...` (see optical_bench/task_cards/OpticalBibleRetrieval.toml)")
    check_name(raw["name"], "task name", path)
    splits = raw.get("eval_splits", ["test"])
    if not isinstance(splits, list) or not splits or not all(isinstance(split, str) and split.strip() for split in splits):
        raise card_error(path, "eval_splits", f"{splits!r} is not a list of split names", 'write eval_splits = ["test"] (a list)')
    if raw["kind"] not in KINDS:
        raise card_error(path, "kind", f"{raw['kind']!r} is not a known kind", f"use one of {', '.join(KINDS)}")
    if raw.get("low_resource_side", "query") not in ("query", "document", "none"):
        raise card_error(path, "low_resource_side", f"{raw['low_resource_side']!r}", "use query, document or none")
    if not isinstance(raw.get("redistribute", False), bool):
        raise card_error(path, "redistribute", f"{raw['redistribute']!r} is not true or false", "write redistribute = true or false")
    source_type = raw["source"].get("type")
    if source_type not in SOURCE_TYPES:
        raise card_error(path, "source.type", f"{source_type!r} is unknown", f"use {', '.join(SOURCE_TYPES)}")
    if not raw["subsets"]:
        raise card_error(path, "subsets", "empty", "add at least one [subsets.<pair>] table")
    for key in ("repo", "github_repo", "corpus_repo", "revision", "github_revision"):
        if key in raw["source"]:
            check_relative_path(raw["source"][key], f"source.{key}", path)  # a part of paths in the cache and the mirror
    for subset, spec in raw["subsets"].items():
        for name, value in (spec.get("vars") or {}).items():
            check_relative_path(str(value), f"subsets.{subset}.vars.{name}", path)  # formatted into file paths
    for subset, spec in raw["subsets"].items():
        languages = spec.get("eval_langs")
        if not isinstance(languages, list) or not languages:
            raise card_error(path, f"subsets.{subset}.eval_langs", "missing", 'give a list such as eval_langs = ["nya-Latn", "eng-Latn"]')
        for code in languages:
            if not isinstance(code, str) or not LANGUAGE_CODE.match(code):
                raise card_error(
                    path, f"subsets.{subset}.eval_langs", f"{code!r} is not ISO 639-3 + script", 'write codes like "nya-Latn" or "amh-Ethi"'
                )
    SOURCES[source_type].check_card(raw, path)
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
