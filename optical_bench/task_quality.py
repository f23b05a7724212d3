"""The checks mteb's own repository runs on every task it ships, applied to ours.

mteb tests each task's metadata (valid and filled) and, on the statistics that
``task.calculate_descriptive_statistics()`` gives, the quality of its data: no empty split, no
very short texts, no duplicate texts or pairs beyond 1%, no more unique texts than rows, every
query with a relevant document, no relevant document outside the corpus, no train/test overlap
(``tests/test_tasks/test_task_quality.py``, with a ``KNOWN_ISSUES`` table of accepted findings).
Those tests are not in mteb's wheel; this module states the same rules for retrieval tasks, so
that a task we generate passes them as a contribution to mteb would have to.

:func:`task_findings` computes the statistics per split and per subset without writing them into
mteb's package folder (``calculate_descriptive_statistics`` would), and returns
``(check, message)`` pairs; :data:`KNOWN_ISSUES` lists the findings we accept, each with its
reason, as mteb's table does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DUPLICATE_TOLERANCE", "KNOWN_ISSUES", "WARNING_CHECKS", "metadata_findings", "split_findings", "task_findings"]

DUPLICATE_TOLERANCE = 0.01  # duplicates are a finding once they are more than 1% of the rows
SHORTEST_TEXT = 3  # texts of this many characters or fewer are "extremely short"
LONG_TEXT_RATIO = 50  # a text 50 times the average length: a warning (a concatenation bug?)
WARNING_CHECKS = {"long_text"}  # reported, never a failure

# check -> {task: why we accept it}; a check is "kind" or "kind:field"
KNOWN_ISSUES: dict[str, dict[str, str]] = {
    "duplicate_text": {
        "AfriQARetrieval": "the corpus of a split is the gold passages pooled over every language, the same corpus in every "
        "subset (as in the AfriQA paper's shared Wikipedia), so the task-level statistics count each passage once per subset; "
        "and twi dev holds 4 question texts twice upstream (348 questions, 344 texts), kept as upstream has them",
        "AfriQAOracleRetrieval": "the same shared corpus; and in twi dev the English translations of those repeated questions repeat too",
        "OpticalUDHRNewLanguagesRetrieval": "the English declaration is the corpus of every language pair",
    }
}


def _duplicated(rows: int, unique: int) -> bool:
    return unique < rows * (1 - DUPLICATE_TOLERANCE)


def _text_findings(where: str, field: str, stats: Mapping[str, Any], rows: int | None) -> list[tuple[str, str]]:
    found = []
    if stats["min_text_length"] <= SHORTEST_TEXT:
        found.append((f"short_text:{field}", f"{where}: a text of {stats['min_text_length']} characters in {field}"))
    average, longest = stats.get("average_text_length"), stats.get("max_text_length")
    if average and longest and longest > average * LONG_TEXT_RATIO:
        found.append((f"long_text:{field}", f"{where}: a text of {longest} characters in {field}, average {average:.0f}"))
    unique = stats["unique_texts"]
    if rows is not None and _duplicated(rows, unique):
        found.append((f"duplicate_text:{field}", f"{where}: {rows - unique} duplicate texts in {field} ({rows} rows, {unique} unique)"))
    elif rows is not None and unique > rows:
        found.append((f"impossible_unique_count:{field}", f"{where}: {unique} unique texts in {field} but {rows} rows"))
    return found


def split_findings(where: str, stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    """mteb's checks on one split's (or one subset's) descriptive statistics of a retrieval task."""
    found = []
    if stats.get("num_samples") == 0:
        found.append(("empty_split", f"{where}: no samples"))
    rows = {"documents": stats.get("num_documents"), "queries": stats.get("num_queries")}
    for field, value in stats.items():
        if field == "hf_subset_descriptive_stats" or not isinstance(value, Mapping):
            continue
        if "unique_texts" in value:
            found += _text_findings(where, field, value, rows.get(field.split("_", 1)[0], stats.get("num_samples")))
        elif value.get("min_relevant_docs_per_query") == 0:
            found.append((f"zero_relevant_docs:{field}", f"{where}: queries without a relevant document"))
        elif value.get("min_top_ranked_per_query") == 0:
            found.append((f"zero_top_ranked:{field}", f"{where}: queries without top-ranked candidates"))
    relevant = stats.get("relevant_docs_statistics") or {}
    if relevant.get("unique_relevant_docs") is not None and stats.get("num_documents") is not None:
        if relevant["unique_relevant_docs"] > stats["num_documents"]:
            found.append(("relevant_docs_exceed_corpus", f"{where}: qrels name documents outside the corpus"))
    if stats.get("samples_in_train"):
        found.append(("train_test_leakage", f"{where}: {stats['samples_in_train']} samples also in train"))
    return found


def metadata_findings(task) -> list[tuple[str, str]]:
    """mteb's metadata checks: valid language codes, every field filled, no remote code."""
    metadata = task.metadata
    found = []
    try:
        metadata._validate_metadata()
    except Exception as error:  # mteb raises ValueError or its own errors
        found.append(("invalid_metadata", f"{metadata.name}: {error}"))
    if not metadata.is_filled():
        optional = ("prompt", "adapted_from", "contributed_by", "superseded_by")
        empty = [name for name in type(metadata).model_fields if name not in optional and getattr(metadata, name) is None]
        found.append(("metadata_not_filled", f"{metadata.name}: empty fields {', '.join(empty)}"))
    if (metadata.dataset or {}).get("trust_remote_code"):
        found.append(("trust_remote_code", f"{metadata.name}: needs remote code"))
    return found


def task_findings(task, splits: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every finding of mteb's checks on ``task`` (metadata, then each split and each subset),
    from statistics computed here (nothing is written into mteb's package)."""
    name = task.metadata.name
    found = metadata_findings(task)
    if not task.data_loaded:
        task.load_data()
    subsets = list(task.metadata.hf_subsets) if task.metadata.is_multilingual else []
    for split in splits or task.metadata.eval_splits:
        found += split_findings(f"{name} ({split})", task._calculate_descriptive_statistics_from_split(split, compute_overall=True))
        failing: dict[str, list[str]] = {}
        for subset in subsets:
            stats = task._calculate_descriptive_statistics_from_split(split, hf_subset=subset)
            for check, _ in split_findings(f"{name} [{subset}] ({split})", stats):
                failing.setdefault(check, []).append(subset)
        found += [(check, f"{name} ({split}) fails {check!r} in subsets {', '.join(names)}") for check, names in failing.items()]
    return found


def unexpected(task_name: str, findings: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The findings :data:`KNOWN_ISSUES` does not accept (warnings left out), and the known issues
    of ``task_name`` that no longer occur (stale entries, to be removed)."""
    accepted = {check for check, tasks in KNOWN_ISSUES.items() if task_name in tasks}
    seen, errors = set(), []
    for check, message in findings:
        kind = check.split(":", 1)[0]
        seen.add(kind)
        if kind not in WARNING_CHECKS and kind not in accepted and check not in accepted:
            errors.append(message)
    return errors, sorted(accepted - seen)
