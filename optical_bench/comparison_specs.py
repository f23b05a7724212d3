"""Declared pooled comparisons: the ``[[comparisons]]`` of a study config, checked and expanded.

A comparison is one table of ``optical-bench seeds`` (two-level bootstrap over seeds and queries)
that a study's page shows, declared beside the runs it needs::

    [[comparisons]]
    title = "{lang} questions only, against BM25 on IBM-1 query translation"
    reference = "bm25-qt-{lang}"          # a configuration: a run's name less its -s<seed>
    subsets = ["{lang}"]                  # optional, as seeds --subsets; tasks likewise
    rows = ["e5-optical-*", "bm25*"]      # globs over configurations to keep (default: all); the reference stays
    with = ["real_clir_baselines:bm25-qt-{lang}"]   # runs of another shipped study that join the table
    for.lang = ["hau", "ibo"]             # once per value, {lang} replaced in every string
    # drop = ["MafandNewsDev_hau", "AfriQARetrieval"]   as seeds --drop; metric = "ndcg_at_10" (the default)
    # stages = ["dev"]                    in a file of stages: the stages it belongs to, as for a run

``optical-bench reproduce STUDY --write-comparisons`` makes the runs and writes the tables
(:mod:`optical_bench.comparisons`).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from optical_bench.grids import refuse_unknown

COMPARISON_KEYS = ("title", "reference", "tasks", "subsets", "drop", "rows", "metric", "for", "with", "stages")
DEFAULT_METRIC = "ndcg_at_10"
_LISTS = ("tasks", "subsets", "rows", "with")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_comparisons(path: Path, declared) -> list[dict]:
    """The comparisons of a config, each checked and repeated once per value of its ``for`` axes
    (their product, left to right), ``{<name>}`` replaced in every string; ``metric`` and ``rows``
    filled in (``ndcg_at_10``, ``["*"]``)."""
    if not isinstance(declared, list) or not all(isinstance(item, dict) for item in declared):
        raise ValueError(f"{path}: `comparisons` must be [[comparisons]] tables. Fix: [[comparisons]] with title and reference.")
    expanded = []
    for item in declared:
        where = f"{path} [[comparisons]] {item.get('title')!r}"
        refuse_unknown(where, item, COMPARISON_KEYS, "key")
        _check_types(where, item)
        axes = item.get("for", {})
        for values in itertools.product(*axes.values()):
            labels = dict(zip(axes, map(str, values)))
            comparison = {key: _substitute(where, value, labels) for key, value in item.items() if key not in ("for", "stages")}
            comparison.setdefault("metric", DEFAULT_METRIC)
            comparison.setdefault("rows", ["*"])
            expanded.append(comparison)
    return expanded


def _check_types(where: str, item: dict) -> None:
    for key in ("title", "reference"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise ValueError(f'{where}: no {key}. Fix: {key} = "..." ({"a section title" if key == "title" else "a configuration name"}).')
    for key in _LISTS:
        if key in item and not (isinstance(item[key], list) and all(isinstance(v, str) for v in item[key])):
            raise ValueError(f'{where}: {key} must be a list of strings. Fix: {key} = ["..."].')
    if "drop" in item and not (isinstance(item["drop"], list) and len(item["drop"]) == 2):
        raise ValueError(f'{where}: drop must name two tasks. Fix: drop = ["MafandNewsDev_hau", "AfriQARetrieval"].')
    if not isinstance(item.get("metric", DEFAULT_METRIC), str):
        raise ValueError(f'{where}: metric must be a string. Fix: metric = "{DEFAULT_METRIC}".')
    axes = item.get("for", {})
    if not isinstance(axes, dict) or not all(isinstance(values, list) and values for values in axes.values()):
        raise ValueError(f'{where}: for must be a table of lists. Fix: for.lang = ["hau", "ibo"].')
    for other in item.get("with", []):
        if other.count(":") != 1 or not all(other.split(":")):
            raise ValueError(f'{where}: with names {other!r}. Fix: "<study>:<run>", e.g. "real_clir_baselines:bm25".')


def _substitute(where: str, value, labels: dict[str, str]):
    if isinstance(value, list):
        return [_substitute(where, v, labels) for v in value]
    if not isinstance(value, str):
        return value
    for name, label in labels.items():
        value = value.replace("{" + name + "}", label)
    left = _PLACEHOLDER.search(value)
    if left:
        raise ValueError(f'{where}: {value!r} names {{{left[1]}}}, no for axis. Fix: for.{left[1]} = ["..."], or drop the braces.')
    return value
