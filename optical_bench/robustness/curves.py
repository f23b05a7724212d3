"""Learning curves: (bitext size, score) points per training configuration, from runs' provenance.

The points feed :class:`~optical_bench.robustness.measures.LearningCurveArea`
(:func:`optical_bench.robustness.write_robustness`) and the plots of :mod:`optical_bench.report`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from optical_bench.results import RunResults, load_runs

__all__ = ["CURVE_GROUP_BY", "curve_group", "learning_curve_points"]

CURVE_GROUP_BY = ("method", "augmentation")


def _as_runs(runs: Iterable[RunResults] | Path | str | Iterable[Path | str]) -> list[RunResults]:
    """Runs as given, or read from results folders."""
    items = [runs] if isinstance(runs, (str, Path)) else list(runs)
    resolved: list[RunResults] = []
    for item in items:
        resolved.extend([item] if isinstance(item, RunResults) else load_runs(item))
    return resolved


def curve_group(provenance: Mapping[str, Any], group_by: Sequence[str] = CURVE_GROUP_BY) -> str:
    """The label of a run's configuration: the values of ``group_by`` in its provenance."""
    parts = []
    for key in group_by:
        value = provenance.get(key)
        if isinstance(value, Mapping):
            value = value.get("kind", json.dumps(value, sort_keys=True))
        if value not in (None, "", "none"):
            parts.append(str(Path(str(value)).name) if key in ("teacher", "student_init") else str(value))
    return " + ".join(parts) or "default"


def learning_curve_points(
    runs: Iterable[RunResults] | Path | str | Iterable[Path | str],
    task: str,
    metric: str = "main_score",
    *,
    provenance: Mapping[str, Mapping[str, Any]] | None = None,
    group_by: Sequence[str] = CURVE_GROUP_BY,
) -> dict[str, list[tuple[int, float]]]:
    """(bitext size, score) points per configuration, for ``LearningCurveArea`` and plots.

    The bitext size and the configuration come from each run's provenance: the
    ``optical_bench/provenance.json`` of its revision folder
    (:data:`optical_bench.results.RUN_PROVENANCE_FILE`), or ``provenance`` given as
    ``{model name, short name or revision: provenance dict}``. Runs of different seeds
    at one size give several points at that size. Runs without provenance are skipped.
    """
    resolved = _as_runs(runs)
    curves: dict[str, list[tuple[int, float]]] = {}
    for run in resolved:
        prov = run.provenance
        if prov is None and provenance:
            prov = provenance.get(run.model) or provenance.get(run.short_name) or provenance.get(run.revision)
        if not prov or task not in run.tasks or prov.get("bitext_pairs_used") is None:
            continue
        curves.setdefault(curve_group(prov, group_by), []).append((int(prov["bitext_pairs_used"]), run.score(task, metric)))
    return {label: sorted(points) for label, points in sorted(curves.items())}
