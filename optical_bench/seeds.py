r"""Multi-seed comparisons: configurations trained with several seeds, scored per query.

Runs are grouped by configuration: a run's seed is the ``seed`` its results record in
``experiment_kwargs`` (every run of ``optical-bench run`` records it, e.g. the ``seeds = [42, 43, 44]``
grids of ``optical_bench/configs/studies/``), and its configuration is its name less that seed's
``-s<seed>``. Results that record no seed (a plain ``optical-bench evaluate``) fall back to the name:
``<configuration>-s<seed>``. For each task and metric the per-query scores (pytrec_eval,
from mteb's rankings) form an ``R x n`` matrix (seeds x queries); the mean gets a 95%
interval from a two-level bootstrap over seeds and queries
(:func:`optical_bench.significance.bootstrap_seeds_queries`), and so does each
configuration's difference to a reference configuration, with the smallest difference this
design (these seeds, these queries) detects at 80% power:
:math:`2.80\,\widehat{\mathrm{se}}`, the bootstrap standard error of the difference
(:meth:`optical_bench.significance.ConfidenceInterval.detectable_effect`), so "no difference"
comes with "at this size we could have seen X": "not estimable" where fewer than 6 queries differ
(their mean over seeds), floored to one step of the metric (:mod:`optical_bench.power`).

    optical-bench seeds RESULTS... --reference contrastive --metric recall_at_1

With ``--drop IN_TASK SHIFTED_TASK`` it also gives each configuration's domain-shift drop (its
mean on the in-domain task minus its mean on the shifted one, the robustness measure of the RQ1
and RQ2 studies) and the difference of drops to the reference, from a bootstrap that draws a
seed once for both tasks (:func:`optical_bench.significance.bootstrap_drop`).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from optical_bench.power import detectable_effect
from optical_bench.report.context import default_qrels_loader
from optical_bench.results import load_runs
from optical_bench.significance import bootstrap_drop, bootstrap_seeds_queries, per_query_from_predictions

logger = logging.getLogger(__name__)

# results without a recorded seed: <configuration>-s<seed>, and a variant's <configuration>-s<seed>+<variant>
_SEED = re.compile(r"^(?P<config>.+?)-s(?P<seed>\d+)(?P<variant>\+[^+]+)?$")


def collect(
    results_dirs: list[str], metric: str, tasks: list[str] | None = None, subsets: list[str] | None = None
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``{task: {configuration: {seed: {query: score}}}}`` from MTEB results folders; a variant
    ``<configuration>-s<seed>+<variant>`` is the configuration ``<configuration>+<variant>``.
    ``subsets``: the queries of these subsets only (a task's languages, e.g. ``hau``)."""
    return collect_runs(load_runs([Path(d) for d in results_dirs]), metric, tasks, subsets, where=", ".join(map(str, results_dirs)))


def collect_runs(
    runs: list, metric: str, tasks: list[str] | None = None, subsets: list[str] | None = None, where: str = "these runs"
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """:func:`collect` over runs already loaded (:func:`optical_bench.results.load_runs`); ``where``
    names them in errors."""
    qrels_loader = default_qrels_loader()
    table: dict[str, dict[str, dict[str, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    unscored: dict[str, str | None] = {}  # task -> revision whose qrels are not here
    stale: list[str] = []  # runs whose rankings were scored with other qrels than the ones here
    for run in runs:
        name = run.model.split("/")[-1]
        config, seed = configuration_and_seed(name, run.experiment_kwargs)
        for task, predictions in run.predictions.items():
            if tasks and task not in tasks:
                continue
            revision = run.tasks[task].get("dataset_revision")
            stored = run.stored_qrels(task)  # the judgements the rankings were scored with: nothing to check
            qrels = stored or qrels_loader(task, revision)
            if qrels is None:
                unscored[task] = revision
                continue
            split = next(iter(run.tasks[task]["scores"]))
            by_subset = {subset: splits[split] for subset, splits in qrels.items() if split in splits and _chosen(subset, subsets)}
            if not by_subset:
                continue
            changed = [] if stored else [r for subset, judged in by_subset.items() if (r := run.qrels_changed(task, subset, split, judged))]
            if changed:
                stale.append(changed[0])
                continue
            table[task][config][seed] = per_query_from_predictions(predictions, by_subset, metric=metric, split=split)
    for reason in stale:
        logger.warning("%s. Left out of the table.", reason)
    if stale and not table:
        raise ValueError(f"{stale[0]}.")
    if not table and not unscored:
        if not runs:
            raise ValueError(f"{where}: no MTEB results (<org>__<model>/<revision>/<Task>.json). Fix: pass the --out of a study.")
        if not any(run.predictions for run in runs):
            raise ValueError(f"{where}: no rankings (.predictions) beside the results, so no query can be scored. Fix: evaluate again.")
        asked = " ".join(
            option
            for option in (f"--tasks {' '.join(tasks)}" if tasks else "", f"--subsets {' '.join(subsets)}" if subsets else "")
            if option
        )
        known = sorted({f"{task}: {', '.join(sorted(run.subset_entries(task)))}" for run in runs for task in run.predictions})
        raise ValueError(f"{where}: no scored runs for {asked or 'these folders'}. Fix: choose from {'; '.join(known)}.")
    if unscored:
        missing = ", ".join(f"{task} (revision {revision})" for task, revision in sorted(unscored.items()))
        message = (
            f"No qrels here for {missing}, so its rankings in {where} cannot be scored. "
            "Fix: for a downloaded task (AfriQA, AfriCLIRMatrix, CIRAL) pass --hub-dir <its mirror> or run "
            "online once; for a built collection, keep the build the runs were scored on (`optical-bench build`)."
        )
        if not table:
            raise ValueError(message)
        logger.warning("%s Left out of the table.", message)
    return table


def configuration_and_seed(name: str, experiment_kwargs: dict | None = None) -> tuple[str, str]:
    """``(configuration, seed)`` of a run: the seed its ``experiment_kwargs`` record, the configuration
    its name less ``-s<seed>`` (``e5-optical-hau-s42+bm25-fused`` with seed 42 is seed 42 of
    ``e5-optical-hau+bm25-fused``; a name that does not carry its seed is its own configuration).
    Without a recorded seed, the name is read: ``-s<digits>`` before any ``+<variant>``, else seed ``-``."""
    seed = (experiment_kwargs or {}).get("seed")
    if seed is None:
        match = _SEED.match(name)
        return (match["config"] + (match["variant"] or ""), match["seed"]) if match else (name, "-")
    match = re.match(rf"^(?P<config>.+?)-s{int(seed)}(?P<variant>\+[^+]+)?$", name)
    return (match["config"] + (match["variant"] or "") if match else name), str(seed)


def _chosen(subset: str, subsets: list[str] | None) -> bool:
    """Whether a subset is asked for: by its name (``hau-eng``) or its first language (``hau``)."""
    return not subsets or subset in subsets or subset.split("-")[0] in subsets


def _matrices(task: str, configs: dict, seeds_of: dict | None = None) -> dict[str, np.ndarray]:
    """``{configuration: seeds x queries}`` over the queries every run scores (rows: ``seeds_of[configuration]``,
    else every seed of the configuration, sorted)."""
    queries = sorted(set.intersection(*(set(scores) for seeds in configs.values() for scores in seeds.values())))
    if not queries:
        raise ValueError(
            f"{task}: no query is scored in every run ({', '.join(sorted(configs))}): their rankings do not meet the "
            "qrels of the build (another split or build?). Rebuild the collections the runs were scored on "
            "(`optical-bench build`), or pass the runs of one split."
        )
    return {
        config: np.array([[seeds[s][q] for q in queries] for s in (seeds_of[config] if seeds_of else sorted(seeds))])
        for config, seeds in configs.items()
        if not seeds_of or config in seeds_of
    }


def summarise(table, reference: str | None = None, samples: int = 5000) -> list[list]:
    configurations = sorted({config for configs in table.values() for config in configs})
    if reference and reference not in configurations:
        raise ValueError(f"--reference {reference!r} is not a configuration here. Fix: choose one of {', '.join(configurations)}.")
    rows = []
    for task, configs in table.items():
        matrices = _matrices(task, configs)
        for config, matrix in sorted(matrices.items()):
            ci = bootstrap_seeds_queries(matrix, n_samples=samples)
            row = [task, config, matrix.shape[0], f"{ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]"]
            if reference and reference in matrices and config != reference:
                diff = bootstrap_seeds_queries(matrix, matrices[reference], n_samples=samples)
                mark = " *" if diff.low > 0 or diff.high < 0 else ""
                row.append(f"{diff.estimate:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]{mark}")
                per_query = matrix.mean(axis=0) - matrices[reference].mean(axis=0)
                row.append(str(detectable_effect(diff.detectable_effect(), per_query)))
            else:
                row.extend(["", ""])
            rows.append(row)
    return rows


def summarise_drops(table, in_task: str, shifted_task: str, reference: str | None = None, samples: int = 5000) -> list[list]:
    """Rows of each configuration's drop from ``in_task`` to ``shifted_task`` (mean [95% CI]) and,
    beside it, its difference to the reference's drop with the detectable difference, over the
    seeds a configuration has on both tasks."""
    for task in (in_task, shifted_task):
        if task not in table:
            raise ValueError(f"--drop: no scored runs of {task} here (tasks: {', '.join(sorted(table)) or 'none'}). Fix: name two of them.")
    both = {config: sorted(set(seeds) & set(table[shifted_task].get(config, {}))) for config, seeds in table[in_task].items()}
    seeds_of = {config: seeds for config, seeds in both.items() if seeds}
    inside, shifted = _matrices(in_task, table[in_task], seeds_of), _matrices(shifted_task, table[shifted_task], seeds_of)
    rows = []
    for config in sorted(seeds_of):
        ci = bootstrap_drop(inside[config], shifted[config], n_samples=samples)
        row = [f"drop {in_task} -> {shifted_task}", config, len(seeds_of[config]), f"{ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]"]
        if reference and reference in seeds_of and config != reference:
            diff = bootstrap_drop(inside[config], shifted[config], (inside[reference], shifted[reference]), n_samples=samples)
            mark = " *" if diff.low > 0 or diff.high < 0 else ""
            row.append(f"{diff.estimate:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]{mark}")
            per_query = np.concatenate(
                [
                    inside[config].mean(axis=0) - inside[reference].mean(axis=0),
                    shifted[reference].mean(axis=0) - shifted[config].mean(axis=0),
                ]
            )
            row.append(str(detectable_effect(diff.detectable_effect(), per_query)))
        else:
            row.extend(["", ""])
        rows.append(row)
    return rows


def table_headers(metric: str, reference: str | None) -> list[str]:
    """The columns of the rows of :func:`summarise` and :func:`summarise_drops`."""
    return [
        "task",
        "configuration",
        "seeds",
        f"{metric} mean [95% CI]",
        f"difference to {reference} [95% CI]" if reference else "",
        "detectable difference" if reference else "",
    ]


def legend(reference: str | None = None) -> str:
    """What the intervals and (with a reference) the detectable difference of those rows are."""
    lines = ["Intervals: two-level bootstrap over seeds and queries; * the difference interval excludes 0."]
    if reference:
        lines.append(
            "Detectable difference: the smallest true difference this design (seeds x queries) detects with 80% power "
            "at two-sided alpha 0.05, 2.80 bootstrap standard errors of the difference; floored to the metric's step "
            "(1/queries for R@1) and 'not estimable' where fewer than 6 queries differ (no paired test reaches p < 0.05)."
        )
    return "\n".join(lines)
