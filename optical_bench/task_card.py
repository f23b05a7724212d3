"""A task card as data: :class:`TaskCard`, the error a malformed card raises, and the names every
reader of cards shares (kinds, language codes, subset keys). Finding, reading and checking cards is
:mod:`optical_bench.cards`; what each ``[source]`` type does with a card is
:mod:`optical_bench.task_sources`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("in-domain", "domain-shift", "new-languages", "oracle", "hub", "beir")
LANGUAGE_CODE = re.compile(r"^[a-z]{3}-[A-Z][a-z]{3}$")
SUBSET_KEYS = ("eval_langs", "vars")  # a subset table's keys that are not splits (the others name a split's collection)


class TaskCardError(ValueError):
    """A malformed task card; the message names the file, the key and the fix."""


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
    bibtex_citation: str | None = None
    low_resource_side: str = "query"
    oracle_of: str | None = None
    redistribute: bool = False  # whether `optical-bench submit` may export the collection (optical_bench.upstream)

    @property
    def languages(self) -> set[str]:
        return {code for subset in self.subsets.values() for code in subset["eval_langs"]}

    @property
    def named_splits(self) -> list[str]:
        """Every split a subset names a collection for (``test``, ``dev``), the evaluation splits first."""
        named = {key for spec in self.subsets.values() for key in spec if key not in SUBSET_KEYS}
        return list(self.eval_splits) + sorted(named - set(self.eval_splits))


def card_error(path: Path, key: str, problem: str, fix: str) -> TaskCardError:
    return TaskCardError(f"{path}: key {key!r}: {problem}. Fix: {fix}")
