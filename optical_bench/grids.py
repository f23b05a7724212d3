"""Declared grids: the ``[[runs]]`` of an experiment config as axes, and the stages of one file.

A ``[[runs]]`` table declares axes instead of repeating itself (:func:`expand_runs`); a file with
``[stages.<stage>]`` holds several configs that share their header and defaults, such as a tuning
study on dev and its final grid on test (:func:`select_stage`): ``studies/method_comparison_dev`` is
the stage ``dev`` of ``studies/method_comparison.toml``.
"""

from __future__ import annotations

import difflib
import itertools
from pathlib import Path

from optical_bench.config import read_toml

GRID_KEYS = ("seeds", "axes")  # a [[runs]] table's declared axes, expanded by :func:`expand_runs`
STAGE_KEYS = ("experiment", "defaults")


def expand_runs(path: Path, declared: dict) -> list[dict]:
    """The runs of one ``[[runs]]`` table: itself, or the product of its declared axes.

    ``seeds = [42, 43, 44]`` is the axis ``seed``; ``axes.<option> = [v1, v2]`` sets the option to
    each value; ``axes.<axis> = { label = value, ... }`` sets the option ``<axis>`` to each value, or,
    where a value is a table, the options of that table. The name is a template of the axes
    (``name = "e5-{method}-hau-s{seed}"``: a table axis by its label), so each run keeps the name and
    the options, hence the run key, it would have if written out. Axes vary left to right, the seed
    last (fastest). Each run records its axis values under ``_axes`` (``{"seed": 42, ...}``) and its
    template under ``_grid``; ``experiment.study_options`` records every axis in the run's
    ``experiment_kwargs``."""
    if not any(key in declared for key in GRID_KEYS):
        return [declared]
    where = f"{path} [[runs]] {declared.get('name')!r}"
    seeds = declared.get("seeds", [])
    axes = dict(declared.get("axes", {}))
    if not isinstance(axes, dict) or not all(isinstance(values, (list, dict)) and values for values in axes.values()):
        raise ValueError(f'{where}: axes must be a table of lists or tables. Fix: axes.bitext = ["mafand-hau", "mafand-ibo"].')
    if seeds:
        if not isinstance(seeds, list) or not all(isinstance(seed, int) for seed in seeds):
            raise ValueError(f"{where}: seeds must be a list of integers. Fix: seeds = [42, 43, 44].")
        axes["seed"] = seeds
    template = str(declared.get("name", ""))
    for axis in axes:
        if "{" + axis + "}" not in template:
            raise ValueError(f"{where}: the name does not name the axis {axis!r}. Fix: put {{{axis}}} in the name, e.g. run-{{{axis}}}.")
    common = {key: value for key, value in declared.items() if key not in (*GRID_KEYS, "name")}
    choices = [
        [(axis, label, value) for label, value in (values.items() if isinstance(values, dict) else ((v, v) for v in values))]
        for axis, values in axes.items()
    ]
    runs = []
    for combination in itertools.product(*choices):
        run = dict(common)
        labels = {}
        for axis, label, value in combination:
            run.update(value if isinstance(value, dict) else {axis: value})
            labels[axis] = label
        for option, value in run.items():  # another run's model, named by the same axes: "run:e5-{arm}-s{seed}"
            if isinstance(value, str) and value.startswith("run:"):
                run[option] = _format(where, value, labels, axes)
        name = _format(where, template, labels, axes)
        runs.append({"name": name, **run, "_axes": labels, "_grid": template})
    return runs


def _format(where: str, template: str, labels: dict, axes: dict) -> str:
    """A run's name (or a ``run:`` reference) with its axis labels in the braces."""
    try:
        return template.format(**labels)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"{where}: {template!r} names no axis {error}. Fix: name only {', '.join(axes)} in braces.") from None


def stage_names(path: Path) -> list[str]:
    """The stages a config file declares (``[stages.dev]``, ``[stages.test]``); none for most."""
    try:
        return list(read_toml(path).get("stages", {}))
    except ValueError:
        return []


def listed_names(path: Path, name: str) -> list[str]:
    """The config names a file gives: its own, and ``<name>_<stage>`` for each stage."""
    try:
        config = read_toml(path)
    except ValueError:
        return [name]
    stages = list(config.get("stages", {}))
    return ([name] if not stages or has_base(config) else []) + [f"{name}_{stage}" for stage in stages]


def select_stage(path: Path, config: dict, stage: str | None) -> dict:
    """One stage of a file with ``[stages]``: its ``experiment`` and ``defaults`` tables laid over the
    file's, and the runs whose ``stages`` name it, with the runs without ``stages`` unless the stage
    says ``shared_runs = false``. Without a stage, a file whose ``[experiment]`` has a name is the
    config of its runs without ``stages`` (a study and, as stages, its GPU scale or a later arm).
    The ``[[comparisons]]`` of a file are chosen the same way, by their ``stages``."""
    stages = config.pop("stages", None)
    if not stages:
        if stage is not None:
            raise ValueError(f"{path}: no [stages] to choose {stage!r} from.")
        return config
    runs = [run for run in config.get("runs", []) if isinstance(run, dict)]
    if stage is None:
        if not has_base(config):
            names = ", ".join(f"{path.stem}_{name}" for name in stages)
            raise ValueError(f"{path}: a file of stages. Fix: name one of them ({names}).")
        comparisons = [item for item in config.get("comparisons", []) if isinstance(item, dict) and "stages" not in item]
        return {**config, "runs": [run for run in runs if "stages" not in run], "comparisons": comparisons}
    if stage not in stages:
        raise ValueError(f"{path}: no stage {stage!r}. Fix: use one of {', '.join(stages)}.")
    chosen = stages[stage]
    for key in chosen:
        if key not in (*STAGE_KEYS, "shared_runs"):
            raise ValueError(f"{path} [stages.{stage}]: unknown key {key!r}. Fix: use {', '.join(STAGE_KEYS)} or shared_runs.")
    selected = {**config}
    for key in STAGE_KEYS:
        selected[key] = {**config.get(key, {}), **chosen.get(key, {})}
    shared = chosen.get("shared_runs", True)
    for table in ("runs", "comparisons"):  # a comparison belongs to the stages it names, as a run does
        selected[table] = [
            {key: value for key, value in item.items() if key != "stages"}
            for item in config.get(table, [])
            if isinstance(item, dict) and stage in item.get("stages", [stage] if shared else [])
        ]
    return selected


def has_base(config: dict) -> bool:
    """Whether a file of stages is also a config of its own (its ``[experiment]`` names it): then
    its runs without ``stages`` are that config's."""
    return "name" in config.get("experiment", {})


def refuse_unknown(where: str, table: dict, known: tuple[str, ...], what: str) -> None:
    """A misspelt table or key (``[default]``, ``task =``) is refused, never ignored: the message names
    ``where`` (the file, and the table), the key, the closest known one and the known ones."""
    for key in table:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            raise ValueError(
                f"{where}: unknown {what} {key!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}. Fix: use {', '.join(known)}."
            )
