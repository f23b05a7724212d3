"""Reproductions: rerun a study's rows and check them against the scores its results folder states.

A study is an experiment config (``default``, ``studies/real_clir_baselines``, or the bare study
name) whose ``[experiment]`` names its results folder (``results = "results/<study>"``). That folder
holds ``expected.toml``: per run, the command that reruns it, the seconds it took on 2 CPU cores
where a run recorded them, and one entry per task x split x metric with the committed value and a
tolerance (for a task of several subsets, also one per subset: ``task/split/subset/ndcg_at_10``)::

    [runs."bm25"]
    command = "optical-bench reproduce real_clir_baselines --rows 'bm25'"
    seconds = 12.4
    [runs."bm25".expected]
    "AfriQARetrieval/dev/ndcg_at_10" = { value = 0.48712, tolerance = 0.0001 }

A grid run with a seed axis also gets a mean row, named by its seeds (``e5-optical-hau-s{42,43,44}``),
with ``runs`` (its members) and, per entry, the mean over the seeds with the seed interval as its
tolerance: the half-width of the 95% t-interval of the mean (:func:`seed_mean_rows`). A rerun of a
mean row reruns its members and checks their mean.

The values are read from the committed MTEB result files (:func:`expected_from_results`, written by
``optical-bench reproduce STUDY --write-expected``), never typed. :func:`reproduce` trains or builds
(resuming) and evaluates what the selected rows need, from the study's declared grid, and returns a
row per expected entry with what it got; ``--check`` turns a FAIL into a non-zero exit.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from optical_bench.config import read_toml
from optical_bench.experiment import (
    _run_config,
    _train_and_evaluate,
    experiment_tasks,
    load_experiment,
    packaged_configs,
    study_options,
    variant_evaluations,
)
from optical_bench.io import atomic_write_text
from optical_bench.results import finite_mean, load_runs

EXPECTED_FILE = "expected.toml"
METRICS = ("ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_100")
SUBSET_METRIC = "ndcg_at_10"  # the one metric kept per subset of a multi-subset task (key task/split/subset/metric)
DETERMINISTIC_TOLERANCE = 1e-4


def repository_root() -> Path:
    """The checkout the package runs from (results folders are not in the wheel)."""
    return Path(__file__).resolve().parents[1]


def study_config(study: str) -> str:
    """A shipped config's name for a study: ``default``, ``studies/real_clir_baselines`` or ``real_clir_baselines``."""
    for name in (study, f"studies/{study}"):
        if name in packaged_configs():  # a file, or a stage of one (studies/method_comparison_test)
            return name
    if Path(study).exists():
        return study
    raise FileNotFoundError(f"{study}: no such study. Fix: name a shipped config ({', '.join(packaged_configs())}).")


def studies() -> list[str]:
    """The shipped configs that name a results folder holding an ``expected.toml``."""
    return [
        name
        for name in packaged_configs()
        if load_experiment(name)["experiment"].get("results") and expected_path(load_experiment(name)).exists()
    ]


def results_folder(experiment: dict) -> Path:
    folder = experiment.get("experiment", {}).get("results")
    if not folder:
        raise ValueError(f'{experiment["_path"]}: [experiment] names no results folder. Fix: results = "results/<study>".')
    return repository_root() / folder


@functools.cache
def _configs_by_folder() -> dict[str, list[str]]:
    """``{results folder: the shipped configs that name it}`` (stages of one file, or several files of one study)."""
    found: dict[str, list[str]] = {}
    for name in packaged_configs():
        folder = load_experiment(name)["experiment"].get("results")
        if folder:
            found.setdefault(folder, []).append(name)
    return found


def expected_path(experiment: dict) -> Path:
    """``<results>/expected.toml``; where several configs share the folder (a dev and a test stage,
    a study's second grid), ``<results>/expected_<config>.toml`` for each."""
    return study_file(experiment, EXPECTED_FILE)


def study_file(experiment: dict, file_name: str) -> Path:
    """``<results>/<file_name>`` of a study (``expected.toml``, ``comparisons.md``); where several
    configs share the folder, ``<results>/<stem>_<config><suffix>`` for each."""
    folder = experiment["experiment"].get("results")
    sharing = _configs_by_folder().get(folder, []) if folder else []
    if len(sharing) > 1 and experiment.get("_name") in sharing:
        stem, suffix = Path(file_name).stem, Path(file_name).suffix
        return results_folder(experiment) / f"{stem}_{experiment['_name'].removeprefix('studies/')}{suffix}"
    return results_folder(experiment) / file_name


def default_out(name: str) -> Path:
    """Where ``optical-bench reproduce STUDY`` trains and evaluates without ``--out``: ``<cache>/reproduce/<study>``."""
    from optical_bench.io import home

    return home() / "reproduce" / name.replace("/", "__")


def _command(name: str, run: str) -> str:
    short = name.removeprefix("studies/")
    return f"optical-bench reproduce {short} --rows '{run}'"


def _evaluations(experiment: dict) -> dict[str, dict]:
    """``{evaluation name: its run}``: each run, and each of its variants (``<run>+<variant>``)."""
    found = {}
    for run in experiment["runs"]:
        found[run["name"]] = run
        for variant, _spec, _scoring in variant_evaluations(experiment, run["name"], "{model}"):
            found[variant] = run
    return found


def _committed_seconds(folder: Path) -> dict[str, float]:
    """Seconds per run (train or build, then evaluate) from a committed ``summary.md``'s timings."""
    import json

    seconds = {}
    for summary in sorted(folder.glob("*summary.md")):
        match = re.search(r"Timings \(s\): `(\{.*\})`", summary.read_text(encoding="utf-8"))
        if match:
            for run, stages in json.loads(match.group(1)).items():
                seconds[run] = round(sum(stages.values()), 1)
    return seconds


RECORDED_SINCE = ("bitext_pairs", "mlm_corpus", "dev_selection", "max_steps")  # study options that older result files do not record


def same_options(recorded: dict, today: dict) -> bool:
    """Whether a result file's ``experiment_kwargs`` are a run's study options today (an option
    recorded only since, :data:`RECORDED_SINCE`, may be missing from older files)."""
    return recorded == {key: value for key, value in today.items() if key in recorded or key not in RECORDED_SINCE}


def expected_from_results(name: str, results: Path | None = None) -> dict[str, dict]:
    """``{run: {"command", "seconds"?, "expected": {"task/split/metric": {"value", "tolerance"}}}}``
    from the committed MTEB result files of a study: the runs of its grid whose recorded
    ``experiment_kwargs`` are the run's study options today (a result of other options is left out)."""
    experiment = load_experiment(name)
    folder = results_folder(experiment)
    evaluations = _evaluations(experiment)
    seconds = _committed_seconds(folder)
    found: dict[str, dict] = {}
    for result in current_results(experiment, results or folder / "results"):
        entry = found.setdefault(result.short_name, {"command": _command(name, evaluations[result.short_name]["name"]), "expected": {}})
        if result.short_name in seconds:
            entry["seconds"] = seconds[result.short_name]
        for task, data in sorted(result.tasks.items()):
            for split in sorted(data.get("scores", {})):
                scores = {f"{task}/{split}/{metric}": result.score(task, metric, split) for metric in METRICS}
                subsets = result.subset_entries(task, split)
                if len(subsets) > 1:  # each subset's main score too (a question language, a language pair)
                    scores |= {
                        f"{task}/{split}/{subset}/{SUBSET_METRIC}": result.scores(task, SUBSET_METRIC, split)[subset] for subset in subsets
                    }
                for key, value in scores.items():
                    if not math.isnan(value):
                        entry["expected"][key] = {"value": round(value, 6), "tolerance": DETERMINISTIC_TOLERANCE}
    order = list(evaluations)
    found = dict(sorted(found.items(), key=lambda item: order.index(item[0])))
    return {**found, **seed_mean_rows(name, experiment, found)}


def current_results(experiment: dict, folder: Path) -> list:
    """The MTEB results (:class:`optical_bench.results.RunResults`) in ``folder`` of the study's runs
    and their variants whose recorded ``experiment_kwargs`` are the run's study options today, by name."""
    evaluations = _evaluations(experiment)
    scratch = Path("/nonexistent")
    options = {}
    found = []
    for result in sorted(load_runs([folder]), key=lambda r: r.short_name):
        run = evaluations.get(result.short_name)
        if run is None:
            continue
        if run["name"] not in options:
            options[run["name"]] = study_options(_run_config(experiment, run, scratch))
        if same_options(result.experiment_kwargs, options[run["name"]]):
            found.append(result)
    return found


def _mean_row_name(run: dict, seeds: list) -> str:
    """``e5-{arm}-s{seed}`` over seeds 42, 43, 44 -> ``e5-optical-s{42,43,44}``."""
    labels = {**run["_axes"], "seed": "{" + ",".join(str(seed) for seed in seeds) + "}"}
    return run["_grid"].format(**labels)


def seed_interval(values: list[float]) -> tuple[float, float]:
    r"""(mean, half-width of its 95% t-interval) of one score over seeds:
    :math:`\bar x \pm t_{0.975,\,n-1}\, s / \sqrt{n}`, ``s`` the sample standard deviation of the
    ``n`` values (half-width 0 for one value)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)


def seed_mean_rows(name: str, experiment: dict, found: dict[str, dict]) -> dict[str, dict]:
    r"""A mean row per grid run that varies only by its seed, where every seed has a committed result
    (variants ``<run>+<variant>`` too): each entry's mean over the seeds, its tolerance the half-width
    of the 95% t-interval of that mean, :math:`t_{0.975,\,n-1}\, s / \sqrt{n}` (``s`` the sample
    standard deviation over the ``n`` seeds; :func:`seed_interval`), at least :data:`DETERMINISTIC_TOLERANCE`."""
    evaluations = _evaluations(experiment)
    groups: dict[tuple, list[tuple[int, str]]] = {}
    for run in experiment["runs"]:
        if "seed" not in run.get("_axes", {}):
            continue
        others = tuple(sorted((axis, str(label)) for axis, label in run["_axes"].items() if axis != "seed"))
        for evaluation, member in evaluations.items():
            if member is run and evaluation in found:
                groups.setdefault((run["_grid"], others, evaluation.removeprefix(run["name"])), []).append(
                    (run["_axes"]["seed"], evaluation)
                )
    rows = {}
    for (_grid, _others, variant), members in groups.items():
        if len(members) < 2:
            continue
        seeds = [seed for seed, _ in members]
        first = next(run for run in experiment["runs"] if run["name"] + variant == members[0][1])
        row = _mean_row_name(first, seeds) + variant
        keys = set.intersection(*(set(found[evaluation]["expected"]) for _, evaluation in members))
        expected = {}
        for key in sorted(keys, key=list(found[members[0][1]]["expected"]).index):
            mean, half = seed_interval([found[evaluation]["expected"][key]["value"] for _, evaluation in members])
            expected[key] = {"value": round(mean, 6), "tolerance": round(max(half, DETERMINISTIC_TOLERANCE), 6)}
        members_names = [evaluation for _, evaluation in members]
        rows[row] = {"command": _command(name, row), "runs": members_names, "expected": expected}
        seconds = [found[m].get("seconds") for m in members_names]
        if all(value is not None for value in seconds):
            rows[row]["seconds"] = round(sum(seconds), 1)
    return rows


def format_expected(name: str, rows: dict[str, dict]) -> str:
    lines = [
        f"# Expected scores of {name}: the committed MTEB result files in results/, one entry per",
        "# run x task x split x metric (the mean over the task's subsets), with the largest difference a",
        f"# rerun may show. Written by `optical-bench reproduce {name.removeprefix('studies/')} --write-expected`;",
        f"# checked by `optical-bench reproduce {name.removeprefix('studies/')} --check`.",
    ]
    for run, entry in rows.items():
        lines += ["", f'[runs."{run}"]', f'command = "{entry["command"]}"']
        if "runs" in entry:
            lines.append("runs = [" + ", ".join(f'"{member}"' for member in entry["runs"]) + "]")
        if "seconds" in entry:
            lines.append(f"seconds = {entry['seconds']}")
        lines.append(f'[runs."{run}".expected]')
        lines += [f'"{key}" = {{ value = {e["value"]}, tolerance = {e["tolerance"]} }}' for key, e in entry["expected"].items()]
    return "\n".join(lines) + "\n"


def write_expected(name: str) -> Path:
    experiment = load_experiment(name)
    rows = expected_from_results(name)
    if not rows:
        raise ValueError(f"{name}: no committed result of its runs in {results_folder(experiment)}/results.")
    path = expected_path(experiment)
    if path.exists():  # keep the seconds a rerun recorded (--record-seconds) where no summary gives them
        for run, entry in read_expected(experiment, path).items():
            if run in rows and "seconds" in entry:
                rows[run].setdefault("seconds", entry["seconds"])
    atomic_write_text(path, format_expected(name, rows))
    return path


def read_expected(experiment: dict, path: Path | None = None) -> dict[str, dict]:
    path = path or expected_path(experiment)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no expected scores. Fix: optical-bench reproduce STUDY --write-expected.")
    return read_toml(path).get("runs", {})


def select(expected: dict[str, dict], patterns: list[str] | None) -> dict[str, dict]:
    """The runs whose name matches one of the globs (all without any)."""
    chosen = {run: entry for run, entry in expected.items() if not patterns or any(fnmatch.fnmatchcase(run, p) for p in patterns)}
    if not chosen:
        raise ValueError(f"no row matches {patterns}. Fix: one of {', '.join(expected)}.")
    return chosen


@dataclass
class Row:
    run: str
    key: str
    expected: float
    tolerance: float
    got: float | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.got is not None and not math.isnan(self.got) and abs(self.got - self.expected) <= self.tolerance + 1e-12


def _scores(result) -> dict[str, float]:
    """``{"task/split/metric": mean over subsets}`` of an mteb evaluation."""
    scores = {}
    for task, splits in result.scores.items():
        for split, entries in splits.items():
            for metric in METRICS:
                scores[f"{task}/{split}/{metric}"] = finite_mean(entry.get(metric, math.nan) for entry in entries)  # as RunResults.score
            if len(entries) > 1:
                for entry in entries:
                    scores[f"{task}/{split}/{entry.get('hf_subset', 'default')}/{SUBSET_METRIC}"] = entry.get(SUBSET_METRIC, math.nan)
    return scores


def reproduce(name: str, out: Path, patterns: list[str] | None = None, expected_file: Path | None = None, echo=print) -> list[Row]:
    """Train or build (resuming in ``out``) and evaluate the runs the selected rows need; a row per
    expected entry, with what this run got and the seconds its run took."""
    experiment = load_experiment(name)
    chosen = select(read_expected(experiment, expected_file), patterns)
    evaluations = _evaluations(experiment)
    members = {run: entry.get("runs", [run]) for run, entry in chosen.items()}
    missing = [member for run in chosen for member in members[run] if member not in evaluations]
    if missing:
        raise ValueError(f"{name}: expected.toml names runs the config does not declare: {', '.join(missing)}.")
    tasks = experiment_tasks(experiment)
    got: dict[str, tuple[dict[str, float], float]] = {}
    for run in dict.fromkeys(evaluations[member]["name"] for row in chosen for member in members[row]):
        results, seconds = make_run(experiment, evaluations[run], out, tasks, echo)
        for evaluation, result in results:
            got[evaluation] = (_scores(result), seconds)
    rows = []
    for run, entry in chosen.items():
        parts = [got.get(member, ({}, None)) for member in members[run]]
        seconds = None if any(part[1] is None for part in parts) else round(sum(part[1] for part in parts), 1)
        for key, value in entry.get("expected", {}).items():
            values = [part[0].get(key) for part in parts]
            mean = None if None in values else sum(values) / len(values)  # one run: its own score
            rows.append(Row(run, key, value["value"], value["tolerance"], mean, seconds))
    return rows


def make_run(experiment: dict, run: dict, out: Path, tasks: list, echo=print) -> tuple[list, float]:
    """Train or build (resuming in ``out``) and evaluate one run of a study: its evaluations
    (``(name, mteb result)``, variants too) and the seconds it took. A line says which run starts."""
    config = _run_config(experiment, run, out)
    echo(f"{run['name']}: {config.method} (teacher {config.teacher})")
    started = time.perf_counter()
    results, _timing = _train_and_evaluate(config, run["name"], tasks, out, progress=False, wait=True, experiment=experiment)
    return results, round(time.perf_counter() - started, 1)


def format_rows(rows: list[Row]) -> str:
    from tabulate import tabulate

    body = [
        [
            f"{row.run}/{row.key}",
            f"{row.expected:.4f}",
            "-" if row.got is None else f"{row.got:.4f}",
            "OK" if row.ok else "FAIL",
            "" if row.seconds is None else f"{row.seconds:.1f}",
        ]
        for row in rows
    ]
    return tabulate(body, headers=["row", "expected", "got", "check", "seconds"], tablefmt="github", disable_numparse=True)


def format_matrix(name: str, expected: dict[str, dict]) -> str:
    """The rows of a study, a line per run x task x split: the expected scores, the seconds the run
    took on 2 cores (where recorded) and the command that reruns it."""
    from tabulate import tabulate

    body = []
    for run, entry in expected.items():
        by_column: dict[tuple[str, str], dict[str, float]] = {}
        for key, value in entry.get("expected", {}).items():
            if key.count("/") > 2:
                continue  # a subset's score: in expected.toml and tables.md, not in the matrix
            task, split, metric = key.rsplit("/", 2)
            by_column.setdefault((task, split), {})[metric] = value["value"]
        seconds = entry.get("seconds")
        for index, ((task, split), metrics) in enumerate(by_column.items()):
            first = index == 0
            body.append(
                [run if first else "", task, split]
                + [f"{metrics[m]:.3f}" if m in metrics else "" for m in METRICS]
                + ["" if seconds is None or not first else f"{seconds:.0f}", f"`{entry['command']}`" if first else ""]
            )
    headers = ["run", "task", "split", "nDCG@10", "MRR@10", "R@1", "R@100", "seconds (2 cores)", "command"]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def record_seconds(experiment: dict, rows: list[Row], path: Path | None = None) -> Path:
    """Write the seconds each rerun took into ``expected.toml`` (measure on a fresh ``--out``: a
    resumed run takes the seconds of reading its results)."""
    path = path or expected_path(experiment)
    expected = read_expected(experiment, path)
    for row in rows:
        if row.seconds is not None and row.run in expected:
            expected[row.run]["seconds"] = row.seconds
    atomic_write_text(path, format_expected(study_config(experiment["_name"]), expected))
    return path


def reproduce_page() -> str:
    """``docs/reproduce.md``: every study's rows with their commands and expected scores."""
    parts = [
        "# Reproductions",
        "",
        "Generated by `optical-bench reproduce --write-page docs/reproduce.md` from each study's `expected.toml`",
        "(values from the committed MTEB result files). `optical-bench reproduce STUDY --rows GLOB --check` reruns rows",
        "(training or building what they need, resuming) and prints expected, got, OK or FAIL and the seconds each run",
        "took; it exits 1 when a row fails. Seconds are those of the committed run on 2 CPU cores, where it recorded them.",
        "A study whose config declares `[[comparisons]]` (pooled `optical-bench seeds` tables: a reference, rows, subsets,",
        "`for` values, runs of another study `with` it) gets them from `optical-bench reproduce STUDY --write-comparisons",
        "[--out DIR]`: it makes (resuming) the runs they need, then writes `comparisons.md` into the study's results folder.",
    ]
    for name in studies():
        experiment = load_experiment(name)
        folder = experiment["experiment"]["results"]
        parts += ["", f"## {name.removeprefix('studies/')}", "", f"Config `{name}`, results [`{folder}`](../{folder}).", ""]
        parts.append(format_matrix(name, read_expected(experiment)))
    return "\n".join(parts) + "\n"
