"""Minimal detectable effects on 60 queries: never below what the metric or the data can show."""

from __future__ import annotations

import math

import numpy as np
from test_robustness import metrics, write_run

from optical_bench.power import detectable_effect
from optical_bench.report import main_table
from optical_bench.seeds import summarise
from optical_bench.significance import minimal_detectable_effect

N = 60
QRELS = {f"q{i:02d}": {f"d{i:02d}": 1} for i in range(N)}
TASK = "OpticalUDHRRetrieval"


def _ranking(second: set[int]) -> dict[str, dict[str, float]]:
    """The relevant document first, or second for the queries in ``second``."""
    run = {}
    for i in range(N):
        order = [f"d{j:02d}" for j in range(N) if j != i]
        order.insert(1 if i in second else 0, f"d{i:02d}")
        run[f"q{i:02d}"] = {did: 1.0 - r / 100 for r, did in enumerate(order)}
    return run


def test_two_nearly_identical_models_on_60_queries_get_no_power_statement(tmp_path):
    root = tmp_path / "results"
    write_run(root, "optical-bench/a", "aaaa", {TASK: {"nya-eng": metrics(0.99)}}, {TASK: {"nya-eng": _ranking(set())}})
    write_run(root, "optical-bench/b", "bbbb", {TASK: {"nya-eng": metrics(0.98)}}, {TASK: {"nya-eng": _ranking({3, 7})}})
    qrels = {TASK: {"nya-eng": {"test": QRELS}}}
    for metric in ("recall_at_1", "ndcg_at_10"):
        table = main_table([root], metric, baseline="a", qrels=qrels)
        note = next(line for line in table.splitlines() if line.startswith("Minimal detectable effect"))
        assert f"{TASK} not estimable (2 of 60 queries differ) (60 queries)" in note, note
        assert "0.000" not in note and "0.001" not in note


def test_seeds_on_60_queries_say_not_estimable_instead_of_zero():
    queries = [f"q{i:02d}" for i in range(N)]
    reference = {str(seed): {q: 1.0 for q in queries} for seed in (1, 2, 3)}
    nearly = {seed: dict(scores) for seed, scores in reference.items()}
    nearly["1"]["q05"] = 0.0
    rows = summarise({TASK: {"ref": reference, "nearly": nearly}}, reference="ref", samples=300)
    row = next(r for r in rows if r[1] == "nearly")
    assert row[5] == "not estimable (1 of 60 queries differ)"


def test_an_effect_below_one_step_of_the_metric_is_floored():
    shift = np.full(N, 0.004)  # every query moves by the same small amount: no variance, a raw effect of 0
    effect = detectable_effect(minimal_detectable_effect(shift), shift)
    assert effect.floored and effect.value == effect.floor == 0.004 / N
    assert str(effect) == f"{0.004 / N:.3f} (floored to the metric's step on 60 queries)"
    flips = np.zeros(N)
    flips[:10] = 1.0  # ten R@1 flips: a real power statement, never below 1/60
    effect = detectable_effect(minimal_detectable_effect(flips), flips)
    assert effect.estimable and not effect.floored and effect.value >= 1 / N
    assert math.isnan(detectable_effect(0.0, np.zeros(N)).value)
