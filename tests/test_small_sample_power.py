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


def test_the_drop_bootstrap_draws_a_seed_once_for_both_tasks_and_matches_the_analytic_error():
    import pytest

    from optical_bench.seeds import summarise_drops
    from optical_bench.significance import bootstrap_drop

    rng = np.random.default_rng(1)
    inside, shifted = rng.random((3, 400)), rng.random((3, 300)) * 0.8
    ci = bootstrap_drop(inside, shifted, n_samples=4000)
    assert ci.estimate == pytest.approx(inside.mean() - shifted.mean()) and ci.low < ci.estimate < ci.high
    # a seed that is better on both tasks by the same amount leaves its drop alone: seeds are drawn
    # once for both tasks, so seed quality shared by the two tasks adds no width
    quality = np.array([[0.0], [0.2], [-0.2]])
    assert bootstrap_drop(inside + quality, shifted + quality, n_samples=4000).half_width == pytest.approx(ci.half_width)
    # one seed: the standard error is the two tasks' query standard errors added in quadrature
    one = bootstrap_drop(inside[:1], shifted[:1], n_samples=4000)
    analytic = math.sqrt(inside[0].var() / 400 + shifted[0].var() / 300)
    assert one.standard_error == pytest.approx(analytic, rel=0.1)
    # against itself with one seed: exactly no difference
    same = bootstrap_drop(inside[:1], shifted[:1], (inside[:1], shifted[:1]), n_samples=500)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same seeds"):
        bootstrap_drop(inside, shifted[:2])

    # through `optical-bench seeds --drop`: configurations keep the seeds they have on both tasks
    def scores(matrix):
        return {str(42 + r): {f"q{i}": float(v) for i, v in enumerate(row)} for r, row in enumerate(matrix)}

    table = {
        "News": {"none": scores(inside), "augmented": scores(inside - 0.05)},
        "Questions": {"none": scores(shifted), "augmented": {**scores(shifted)}},
    }
    rows = summarise_drops(table, "News", "Questions", reference="none", samples=500)
    by_config = {row[1]: row for row in rows}
    assert by_config["augmented"][2] == 3 and by_config["augmented"][4].startswith("-0.050") and by_config["augmented"][4].endswith("*")
    with pytest.raises(ValueError, match="no scored runs of Other"):
        summarise_drops(table, "News", "Other")
