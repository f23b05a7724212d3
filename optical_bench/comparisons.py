"""A study's pooled comparisons, declared as ``[[comparisons]]`` in its config, written to
``comparisons.md`` by ``optical-bench reproduce STUDY --write-comparisons``.

Each comparison (:mod:`optical_bench.comparison_specs`) is a table of ``optical-bench seeds``:
the runs of the study whose configuration (its name less ``-s<seed>``) the comparison keeps, with
the runs it names from another shipped study (``with = ["real_clir_baselines:bm25"]``), scored per
query from their rankings (:func:`optical_bench.seeds.collect_runs`), each configuration's mean and its
difference to the reference with two-level bootstrap intervals over seeds and queries
(:func:`optical_bench.seeds.summarise`, and :func:`optical_bench.seeds.summarise_drops` with a
``drop``). The rankings stay out of git, so the runs are made first: those of the study in ``out``
(the ``--out`` of ``reproduce``), those of another study in that study's default reproduce folder,
each resuming (:func:`optical_bench.reproduce.make_run`); a run whose results with today's options
and its rankings are there is read, not touched.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from pathlib import Path

from optical_bench.experiment import experiment_tasks, load_experiment
from optical_bench.reproduce import _evaluations, _run_config, current_results, default_out, make_run, study_config, study_file
from optical_bench.seeds import collect_runs, configuration_and_seed, legend, summarise, summarise_drops, table_headers
from optical_bench.study_tables import GENERATED, refuse_not_generated, write_generated

COMPARISONS_FILE = "comparisons.md"
FLAG = "--write-comparisons"
SAMPLES = 5000


@dataclass
class Study:
    """A study whose runs a comparison reads: its config, the folder its runs are made in, and
    ``{evaluation: configuration}`` of its runs and their variants."""

    name: str
    experiment: dict
    out: Path
    configurations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str, out: Path) -> Study:
        experiment = load_experiment(name)
        scratch = Path("/nonexistent")
        seeds = {run["name"]: _run_config(experiment, run, scratch).seed for run in experiment["runs"]}
        configurations = {
            evaluation: configuration_and_seed(evaluation, {"seed": seeds[run["name"]]})[0]
            for evaluation, run in _evaluations(experiment).items()
        }
        return cls(name, experiment, out, configurations)

    @functools.cached_property
    def tasks(self) -> list[str]:
        """The names of the study's tasks (its ``tasks`` and ``beir`` entries)."""
        return [task.metadata.name for task in experiment_tasks(self.experiment)]


def _needs(study: Study, comparison: dict, studies: dict[str, Study]) -> list[tuple[Study, str]]:
    """``(study, evaluation)`` that one comparison reads; its reference and ``rows`` checked first,
    so that nothing is made for a comparison that cannot be written."""
    where = f"{study.experiment['_path']} [[comparisons]] {comparison['title']!r}"
    needs = [
        (study, evaluation)
        for evaluation, configuration in study.configurations.items()
        if configuration == comparison["reference"] or any(fnmatch.fnmatchcase(configuration, g) for g in comparison["rows"])
    ]
    for named in comparison.get("with", []):
        other_name, evaluation = named.split(":")
        config = study_config(other_name)
        if config not in studies:
            studies[config] = Study.load(config, default_out(config))
        other = studies[config]
        if evaluation not in other.configurations:
            raise ValueError(f"{where}: {other_name} has no run {evaluation!r}. Fix: one of {', '.join(other.configurations)}.")
        if other.configurations[evaluation] in study.configurations.values():
            raise ValueError(f"{where}: {named} is also a configuration of this study. Fix: leave it out of with.")
        needs.append((other, evaluation))
    read = {other.configurations[evaluation] for other, evaluation in needs}
    known = sorted(read | set(study.configurations.values()))
    if comparison["reference"] not in read:
        raise ValueError(f"{where}: reference {comparison['reference']!r} is no configuration here. Fix: one of {', '.join(known)}.")
    for glob in comparison["rows"]:
        if not any(fnmatch.fnmatchcase(configuration, glob) for configuration in known):
            raise ValueError(f"{where}: rows {glob!r} matches no configuration. Fix: globs over {', '.join(known)}.")
    return needs


def _present(study: Study) -> dict:
    """``{evaluation: its RunResults}`` in ``<out>/results`` with today's options and a ranking of every task."""
    folder = study.out / "results"
    if not folder.exists():
        return {}
    tasks = study.tasks
    found = {}
    for result in current_results(study.experiment, folder):
        if all(task in result.predictions for task in tasks):
            found.setdefault(result.short_name, result)
    return found


def make_needed_runs(needs: list[tuple[Study, str]], echo=print) -> dict[tuple[str, str], object]:
    """Make (resuming) the runs of ``needs`` whose results or rankings are not there yet; ``{(study, evaluation): RunResults}``."""
    by_study: dict[str, tuple[Study, list[str]]] = {}
    for study, evaluation in needs:
        by_study.setdefault(study.name, (study, []))[1].append(evaluation)
    found = {}
    for study, evaluations in by_study.values():
        present = _present(study)
        evaluations = list(dict.fromkeys(evaluations))
        runs = _evaluations(study.experiment)
        missing = list(dict.fromkeys(runs[e]["name"] for e in evaluations if e not in present))
        short = study.name.removeprefix("studies/")
        there = len(evaluations) - sum(e not in present for e in evaluations)
        echo(f"{short}: {there} of {len(evaluations)} evaluations there in {study.out}, {len(missing)} runs to make")
        if missing:
            tasks = experiment_tasks(study.experiment)
            for index, run in enumerate(missing, 1):
                echo(f"[{index}/{len(missing)}] making {run} in {study.out}")
                make_run(study.experiment, next(r for r in study.experiment["runs"] if r["name"] == run), study.out, tasks, echo)
            present = _present(study)
        lost = [e for e in evaluations if e not in present]
        if lost:
            raise ValueError(f"{short}: no results with rankings of {', '.join(lost)} in {study.out}/results after making them.")
        found |= {(study.name, e): present[e] for e in evaluations}
    return found


def comparison_rows(comparison: dict, results: list, tasks: list[str]) -> list[list]:
    """The rows of ``optical-bench seeds`` for one comparison over these runs' results, those of
    the configurations its ``rows`` keep (and the reference), on its ``tasks`` (default: ``tasks``,
    the study's: a run shared with another stage may hold that stage's tasks too)."""
    where = ", ".join(sorted({str(result.path.parent) for result in results}))
    table = collect_runs(results, comparison["metric"], comparison.get("tasks") or tasks, comparison.get("subsets"), where=where)
    rows = summarise(table, comparison["reference"], SAMPLES)
    if comparison.get("drop"):
        rows += summarise_drops(table, *comparison["drop"], reference=comparison["reference"], samples=SAMPLES)
    keep = comparison["rows"]
    return [row for row in rows if row[1] == comparison["reference"] or any(fnmatch.fnmatchcase(row[1], g) for g in keep)]


def study_comparisons(name: str, out: Path, echo=print) -> str:
    """The ``comparisons.md`` of study ``name``: its runs made (resuming) where needed, then one
    section per declared comparison."""
    from tabulate import tabulate

    study = Study.load(name, out)
    comparisons = study.experiment.get("comparisons", [])
    short = name.removeprefix("studies/")
    if not comparisons:
        raise ValueError(f"{study.experiment['_path']}: no [[comparisons]]. Fix: declare one (title, reference), see docs/reproduce.md.")
    studies = {name: study}
    needs = [_needs(study, comparison, studies) for comparison in comparisons]
    found = make_needed_runs([need for each in needs for need in each], echo)
    parts = [
        f"# Pooled comparisons of {short}",
        "",
        f"{GENERATED} {short} {FLAG}`",
        "from the rankings of its runs (and of the runs of other studies a comparison names), as its config's",
        "`[[comparisons]]` declare them (do not edit). Each table is `optical-bench seeds` over those runs: per",
        f"configuration (a run's name less `-s<seed>`) the mean over seeds and queries, {SAMPLES} bootstrap samples.",
        "",
        legend(comparisons[0]["reference"]),
    ]
    for comparison, each in zip(comparisons, needs):
        echo(f"comparing: {comparison['title']}")
        rows = comparison_rows(comparison, [found[(other.name, evaluation)] for other, evaluation in each], study.tasks)
        table = tabulate(rows, headers=table_headers(comparison["metric"], comparison["reference"]), tablefmt="github", floatfmt=".4f")
        parts += ["", f"## {comparison['title']}", "", table]
    return "\n".join(parts) + "\n"


def write_comparisons(name: str, out: Path, echo=print) -> Path:
    """``comparisons.md`` (``comparisons_<config>.md`` where configs share the folder) in the study's
    results folder; one this command did not write is refused, not overwritten."""
    path = study_file(load_experiment(name), COMPARISONS_FILE)
    refuse_not_generated(path, FLAG)  # before any run is made
    return write_generated(path, study_comparisons(name, out, echo), FLAG)
