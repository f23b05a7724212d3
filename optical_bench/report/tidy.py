"""Scores as one tidy table, a row per (model, revision, task, split, subset, metric), for
pandas users (``optical-bench report --format csv``)::

    import pandas as pd
    scores = pd.read_csv("scores.csv")
    scores.query("metric == 'recall_at_1' and split == 'test'").pivot_table(index="model", columns="task", values="value")

A study run's ``experiment_kwargs`` (method, bitext size, augmentation, MLM dose, seed) are
columns too, so a grid groups by its own axes.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from optical_bench.results import RunResults, load_runs

__all__ = ["TIDY_COLUMNS", "tidy_csv", "tidy_rows"]

TIDY_COLUMNS = ("model", "revision", "task", "split", "subset", "languages", "metric", "value")


def tidy_rows(runs: Iterable[RunResults], metrics: Sequence[str] | None = None) -> list[dict]:
    """One dict per score: every numeric metric of every subset (``metrics``: only these,
    ``main_score`` always), with the run's experiment kwargs as extra keys."""
    rows = []
    for run in runs:
        extra = {key: value for key, value in sorted(run.experiment_kwargs.items())}
        for task, data in sorted(run.tasks.items()):
            for split, entries in sorted(data.get("scores", {}).items()):
                for entry in entries:
                    if not isinstance(entry, dict):
                        continue
                    common = {
                        "model": run.model,
                        "revision": run.revision,
                        "task": task,
                        "split": split,
                        "subset": entry.get("hf_subset", "default"),
                        "languages": " ".join(entry.get("languages") or []),
                    }
                    for metric, value in entry.items():
                        if metrics and metric not in metrics and metric != "main_score":
                            continue
                        if isinstance(value, bool) or not isinstance(value, (int, float)):
                            continue
                        rows.append({**common, "metric": metric, "value": "" if math.isnan(value) else value, **extra})
    return rows


def tidy_csv(results_dirs: Iterable[Path | str] | Path | str, metrics: Sequence[str] | None = None) -> str:
    """The CSV text of :func:`tidy_rows` over MTEB results folders (experiment-kwargs columns last)."""
    rows = tidy_rows(load_runs(results_dirs), metrics)
    extra = sorted({key for row in rows for key in row} - set(TIDY_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*TIDY_COLUMNS, *extra], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
