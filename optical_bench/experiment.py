"""Experiment grids: train (or build) every run of a config, evaluate each, write a table.

A config (a TOML file; the shipped ones are in ``optical_bench/configs/``) is data::

    [experiment]
    name = "default"
    tasks = ["OpticalBibleRetrieval", "OpticalUDHRRetrieval", ...]

    [defaults]                      # TrainConfig options shared by every run
    teacher = "multilingual-e5-small-q4"
    max_steps = 60

    [[runs]]
    name = "e5-optical"
    method = "optical"

Each run's model folder is keyed by a hash of its training config (the options that differ
from the defaults), so a rerun skips finished runs and an interrupted run resumes (training
resumes from its last checkpoint; mteb's ``only-missing`` strategy skips evaluated tasks of
the same model revision). A folder trained under a default that has since changed is set
aside (``<folder>.superseded-N``) and the run trained afresh. ``out`` is an mteb result cache:
each run's results land in ``<out>/results/<org>__<run>/<revision>/experiments/<name>/``, its
ModelMeta carrying the run's study options (:func:`study_options`) as ``experiment_kwargs``, so
``mteb.ResultCache(out).load_results(experiment_kwargs=...)`` selects runs. Several processes can share one grid: each run is claimed by its
model-folder lock, and a process skips a run another one holds, coming back to it at the end.
"""

from __future__ import annotations

import fnmatch
import json
import time
from pathlib import Path

from tabulate import tabulate

from optical_bench.comparison_specs import expand_comparisons
from optical_bench.config import TRAINED_METHODS, TrainConfig, read_toml, resolve_layers
from optical_bench.data.sources import DataOptions, named_collection, resolve_training_data
from optical_bench.evaluate import EvaluationOptions, evaluate_one
from optical_bench.grids import expand_runs, listed_names, refuse_unknown, select_stage, stage_names
from optical_bench.io import LockHeldError, atomic_write_json, atomic_write_text, check_name, folder_lock, sha256_json
from optical_bench.models import PROVENANCE_FILE, read_provenance
from optical_bench.report import ReportOptions, write_report
from optical_bench.tasks import beir_task, get_tasks
from optical_bench.training import MODEL_FORMAT, describe_changes, options_changed_since, train


def configs_dir() -> Path:
    """The experiment configs shipped inside the package (``optical_bench/configs/``)."""
    return Path(__file__).resolve().parent / "configs"


def default_config_path() -> Path:
    return configs_dir() / "default.toml"


def packaged_configs() -> list[str]:
    """Names of the shipped configs, as ``optical-bench run NAME`` takes them (``rq1``, ``studies/...``;
    a file with ``[stages]`` by each stage, ``studies/method_comparison_dev``)."""
    names = []
    for path in configs_dir().rglob("*.toml"):
        name = path.relative_to(configs_dir()).with_suffix("").as_posix()
        names += listed_names(path, name)
    return sorted(names)


def resolve_config(spec: Path | str | None) -> Path:
    """A config path, or the name of a shipped config (``default``, ``rq1``, ``studies/ablation_dev``)."""
    return resolve_config_and_stage(spec)[0]


def resolve_config_and_stage(spec: Path | str | None) -> tuple[Path, str | None]:
    """A config path and the stage its name picks: ``studies/method_comparison_dev`` is the stage
    ``dev`` of ``studies/method_comparison.toml`` (:func:`optical_bench.grids.select_stage`)."""
    if not spec:
        return default_config_path(), None
    path = Path(spec)
    if path.exists() or path.suffix == ".toml":
        return path, None
    packaged = configs_dir() / f"{spec}.toml"
    if packaged.exists():
        return packaged, None
    parts = str(spec).split("_")
    for cut in range(len(parts) - 1, 0, -1):  # studies/paper_pairing_method_dev: the stage method_dev
        staged = configs_dir() / f"{'_'.join(parts[:cut])}.toml"
        stage = "_".join(parts[cut:])
        if staged.exists() and stage in stage_names(staged):
            return staged, stage
    return path, None


EXPERIMENT_TABLES = ("experiment", "defaults", "runs", "stages", "comparisons")
EXPERIMENT_KEYS = ("name", "tasks", "beir", "eval_splits", "baseline", "variants", "results")
VARIANT_KEYS = ("model", "scoring", "runs")


def _refuse_unknown(path: Path, table: dict, known: tuple[str, ...], what: str) -> None:
    """A misspelt table or key (``[default]``, ``task =``) is refused, never ignored."""
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [experiment] must be a table. Fix: write [experiment] with name and tasks keys.")
    refuse_unknown(str(path), table, known, what)


def load_experiment(path: Path | str | None) -> dict:
    spec = path
    path, stage = resolve_config_and_stage(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such experiment config. Fix: pass a TOML file, or the name of a shipped one ({', '.join(packaged_configs())})."
        )
    config = read_toml(path)
    _refuse_unknown(path, config, EXPERIMENT_TABLES, "table")
    config = select_stage(path, config, stage)
    _refuse_unknown(path, config.get("experiment", {}), EXPERIMENT_KEYS, "key of [experiment]")
    if not config.get("runs"):
        raise ValueError(f"{path}: no [[runs]]. Fix: add at least one [[runs]] table with a name and a method.")
    if not isinstance(config["runs"], list) or not all(isinstance(run, dict) for run in config["runs"]):
        raise ValueError(f"{path}: `runs` must be [[runs]] tables. Fix: write each run as a [[runs]] table with a name and a method.")
    config["runs"] = [run for declared in config["runs"] for run in expand_runs(path, declared)]
    config["comparisons"] = expand_comparisons(path, config.get("comparisons", []))
    names = [run.get("name") for run in config["runs"]]
    if None in names or len(set(names)) != len(names):
        raise ValueError(f"{path}: every [[runs]] needs a unique name (got {names}).")
    for name in names:
        check_name(name, "run name", f"{path} [[runs]]")
    if "name" in config.get("experiment", {}):
        check_name(config["experiment"]["name"], "experiment name", f"{path} [experiment]")
    _check_variants(path, config.get("experiment", {}).get("variants", {}))
    _check_variant_runs(path, config, names)
    config["_path"] = str(path)
    config["_name"] = str(spec) if spec else "default"
    for run in config["runs"]:
        student_run(config, run)  # a student named as another run's model: an earlier run of this config
    return config


def _check_variants(path: Path, variants) -> None:
    """``[experiment.variants]``: each a table of ``model`` (a spec with ``{model}`` for the run's
    model), ``scoring`` and ``runs`` (a glob over run names); see :func:`variant_evaluations`."""
    where = f"{path} [experiment.variants]"
    if not isinstance(variants, dict):
        raise ValueError(f"{where} must be a table of tables. Fix: write [experiment.variants.<name>] with model and/or scoring.")
    for name, variant in variants.items():
        check_name(name, "variant name", where)
        if not isinstance(variant, dict):
            raise ValueError(f'{where} {name!r} must be a table. Fix: {name} = {{ model = "fuse:bm25+{{model}}" }}.')
        _refuse_unknown(path, variant, VARIANT_KEYS, f"key of [experiment.variants.{name}]")
        if "model" not in variant and "scoring" not in variant:
            raise ValueError(f"{where} {name!r} changes nothing. Fix: give it a model spec (with {{model}}) or a scoring.")
        if "model" in variant and "{model}" not in str(variant["model"]):
            raise ValueError(
                f"{where} {name!r}: model {variant['model']!r} does not name {{model}}, the run's model. Fix: e.g. fuse:bm25+{{model}}."
            )
        runs = variant.get("runs", "*")
        if not (isinstance(runs, str) or (isinstance(runs, list) and all(isinstance(r, str) for r in runs))):
            raise ValueError(f'{where} {name!r}: runs must be a glob or a list of globs over run names. Fix: runs = ["e5-*"].')
        if variant.get("scoring", "cosine") not in ("cosine", "maxsim"):
            raise ValueError(f'{where} {name!r}: Unknown scoring {variant["scoring"]!r}. Fix: scoring = "cosine" or "maxsim".')


def _check_variant_runs(path: Path, config: dict, names: list[str]) -> None:
    """Before any run trains: each ``<run>+<variant>`` is a safe name that no run of the file takes,
    and each variant's model spec parses with the run's model in it (a fusion cannot split a model
    path holding ``+``)."""
    from optical_bench.specs import FUSE, parse_fusion_spec, search_kind

    where = f"{path} [experiment.variants]"
    for name in names:
        for variant_name, spec, _ in variant_evaluations(config, name, f"models/{name}-0123456789ab"):
            check_name(variant_name, "run name with its variant", where)
            if variant_name in names:
                raise ValueError(
                    f"{where}: the variant {variant_name.split('+', 1)[1]!r} of run {name!r} is named {variant_name!r}, the name of "
                    "another run of the file: one would hide the other in the summary. Fix: rename that run or the variant."
                )
            if search_kind(spec) == FUSE:
                if "+" in name:
                    raise ValueError(
                        f"{where}: run {name!r} holds '+', so a fusion cannot tell its model from the other member "
                        f"({spec}). Fix: rename the run without '+', or limit the variant with runs = [...]."
                    )
                try:
                    parse_fusion_spec(spec)
                except ValueError as error:
                    raise ValueError(f"{where} {variant_name.split('+', 1)[1]!r}: {error}") from None


def variant_evaluations(experiment: dict, run_name: str, model_spec: str) -> list[tuple[str, str, str]]:
    """The extra evaluations of one run: ``(name, spec, scoring)`` for each variant of
    ``[experiment.variants]`` whose ``runs`` glob (default ``*``) matches the run's name. A variant
    is the run's model fused with another (``model = "fuse:bm25+{model}"``) or scored another way
    (``scoring = "maxsim"``); its results are named ``<run>+<variant>``."""
    evaluations = []
    for name, variant in experiment.get("experiment", {}).get("variants", {}).items():
        patterns = variant.get("runs", "*")
        if any(fnmatch.fnmatchcase(run_name, pattern) for pattern in ([patterns] if isinstance(patterns, str) else patterns)):
            spec = str(variant.get("model", "{model}")).replace("{model}", model_spec)
            evaluations.append((f"{run_name}+{name}", spec, variant.get("scoring", "cosine")))
    return evaluations


def _inside(base: Path, relative: str) -> Path:
    """A path from a config, relative to the config's folder; absolute paths are taken as given."""
    path = Path(relative)
    return path if path.is_absolute() else (base / path).resolve()


RUN_REFERENCE = "run:"  # student_init = "run:<name>": start from the model another run of the config trains


def student_run(experiment: dict, run: dict) -> dict | None:
    """The run whose trained model ``run`` starts from (``student_init = "run:<name>"``, declared
    earlier in the same config, e.g. ``"run:e5-optical-questions-last-s{seed}"`` in a grid), or None."""
    path = experiment["_path"]
    options = {**experiment.get("defaults", {}), **run}
    value = options.get("student_init")
    if not (isinstance(value, str) and value.startswith(RUN_REFERENCE)):
        return None
    name = value[len(RUN_REFERENCE) :]
    names = [other["name"] for other in experiment["runs"]]
    if name not in names or names.index(name) >= names.index(run["name"]):
        raise ValueError(
            f"{path} [[runs]] {run['name']!r}: student_init = {value!r} names no run declared before it. "
            f"Fix: name an earlier run of this config (run:<name>, e.g. run:{names[0]})."
        )
    return experiment["runs"][names.index(name)]


def _run_config(experiment: dict, run: dict, out: Path) -> TrainConfig:
    """The run's TrainConfig: the experiment's [defaults] (flat keys, group tables, a recipe),
    then the run's own options; its folder is keyed by the options that differ from the defaults.
    A student that is another run's model (:func:`student_run`) is keyed by that run's folder name."""
    path = experiment["_path"]
    own = {k: v for k, v in run.items() if k != "name" and not k.startswith("_")}
    options = resolve_layers([(f"{path} [defaults]", experiment.get("defaults", {})), (f"{path} [[runs]] {run['name']!r}", own)])
    base = Path(experiment["_path"]).parent
    for key in ("bitext", "dev_collection", "teacher", "student_init"):
        value = options.get(key)
        if isinstance(value, str) and (value.startswith("./") or value.startswith("../")):
            options[key] = str(_inside(base, value))
    earlier = student_run(experiment, run)
    student_folder = None
    if earlier is not None:
        student_folder = Path(_run_config(experiment, earlier, out).out)
        options["student_init"] = RUN_REFERENCE + student_folder.name  # the key: the run's options, not where --out is
    config = TrainConfig.from_flat(options)
    config.validate()  # the one check of the run (before its key: it makes the augmentation kind canonical)
    # hash only what differs from the defaults, so adding an option later keeps old keys valid
    defaults = TrainConfig().to_dict()
    key = sha256_json({k: v for k, v in config.to_dict().items() if k != "out" and v != defaults.get(k)})[:10]
    config.out = str(out / "models" / f"{run['name']}-{key}")
    if student_folder is not None:
        config.student_init = str(student_folder / "model")
    return config


def _beir_entry(experiment: dict, entry: str):
    """A task of the ``beir`` list: a named collection (``mafand-<lang>-dev``, its ``dev`` split:
    :func:`optical_bench.data.sources.named_collection`) or a BEIR folder (its ``test`` split),
    relative to the config's folder."""
    named = named_collection(entry)
    if named is not None:
        return beir_task(named, split="dev")
    return beir_task(_inside(Path(experiment["_path"]).parent, entry))


def _short(model: str | None) -> str | None:
    """A packaged name or hub id as given; a path by its folder name (no absolute paths in results);
    another run's model (``<out>/models/<run>-<key>/model``) as ``run:<run>-<key>``."""
    if not model:
        return None
    if Path(model).name == "model" and Path(model).parent.parent.name == "models":
        return RUN_REFERENCE + Path(model).parent.name
    return Path(model).name if ("/" in model and Path(model).exists()) or model.startswith((".", "/")) else model


def study_options(config: TrainConfig) -> dict:
    """A run's options along the studies' axes, as the ModelMeta's ``experiment_kwargs``: the
    method, the teacher and student, the bitext size, the augmentation kind (RQ2), the MLM dose
    (RQ1: texts and epochs, 0 without MLM; its corpus where not the built Chichewa) and the seed. Pass the same dict (or a list of them)
    to ``mteb.ResultCache(out).load_results(experiment_kwargs=...)`` to select runs."""
    mlm = config.mlm.enabled
    options = {
        "method": config.method,
        "teacher": _short(config.teacher),
        "student": _short(config.student_init or config.teacher),
        "bitext_size": config.bitext_size if not config.bitext else Path(config.bitext).name,
        "augmentation": config.augmentation.kind,
        "mlm_texts": config.mlm.texts if mlm else 0,
        "mlm_epochs": config.mlm.epochs if mlm else 0,
        "seed": config.seed,
    }
    # recorded since declared grids, where they differ from the defaults: the pairs drawn from a
    # named bitext (its name stands in bitext_size) and the MLM texts where not the built Chichewa
    if config.bitext and config.bitext_size != TrainConfig().bitext_size:
        options["bitext_pairs"] = config.bitext_size
    if mlm and config.mlm.corpus:
        options["mlm_corpus"] = _short(config.mlm.corpus)
    if not config.checkpoints.dev and config.method in TRAINED_METHODS:
        options["dev_selection"] = False  # the last step's model, no checkpoint chosen on dev
    if config.method in TRAINED_METHODS and config.max_steps != TrainConfig().max_steps:
        options["max_steps"] = config.max_steps  # the budget, where not the default 60 steps
    return options


def _write_report(out: Path, results_dir: Path, baseline: str | None) -> None:
    """``optical-bench report`` on the grid's results: tables with significance marks,
    robustness measures written into the result files, and plots."""
    try:
        options = ReportOptions(baseline=baseline, n_samples=2000)
        write_report(results_dir, out / "report.md", options, write_robustness=True, plots=out / "plots", echo=print)
        print(f"report: {out / 'report.md'}")
    except (ValueError, KeyError) as error:  # a report problem must not lose the finished grid
        print(f"report not written: {error}")


def set_aside_if_stale(config) -> Path | None:
    """Move a run folder trained (or half-trained) under other options to
    ``<folder>.superseded-N`` so that the run is trained afresh; nothing is deleted.
    Returns the new place, or None when the folder is missing or current."""
    folder = Path(config.out)
    changed = options_changed_since(folder, config)
    provenance = read_provenance(folder / "model")
    if provenance is not None and provenance.get("model_format", 1) < MODEL_FORMAT:
        changed["model_format"] = (provenance.get("model_format", 1), MODEL_FORMAT)
    if not changed:
        return None
    number = 1
    while folder.with_name(f"{folder.name}.superseded-{number}").exists():
        number += 1
    target = folder.with_name(f"{folder.name}.superseded-{number}")
    folder.rename(target)
    print(
        f"  {folder.name} was made under other options or an older model format ({describe_changes(changed)}); "
        f"moved to {target.name}, training afresh",
        flush=True,
    )
    return target


def is_the_teacher_itself(config) -> bool:
    """A zero-shot run whose student is the unchanged teacher (no other init, no MLM
    pre-training, no vocabulary transfer, no linear map): evaluate the teacher, build nothing."""
    unchanged = not config.student_init and not config.mlm.enabled and not config.vocabulary.enabled and config.linear_map == "none"
    return config.method == "zero-shot" and unchanged


def _train_unless_trained(experiment: dict, config, name: str, out: Path, progress: bool, because: str = "") -> None:
    """Train run ``name`` into ``config.out`` unless its model is there (a folder trained under other
    options set aside first), printing ``because`` when it trains; a run that starts from an earlier
    run's model (:func:`student_run`) has that run trained first: ``reproduce`` of one row, or a
    grid resumed, trains what it needs. The caller holds the run's folder lock."""
    set_aside_if_stale(config)
    if (Path(config.out) / "model" / PROVENANCE_FILE).exists():
        return
    if because:
        print(because, flush=True)
    run = next((run for run in experiment.get("runs", []) if run["name"] == name), None)
    earlier = student_run(experiment, run) if run else None
    if earlier is not None:
        earlier_config = _run_config(experiment, earlier, out)
        with folder_lock(earlier_config.out, "the model folder"):
            why = f"  {name} starts from {earlier['name']}'s model: training that first"
            _train_unless_trained(experiment, earlier_config, earlier["name"], out, progress, because=why)
    train(config, progress=progress, data=resolve_training_data(DataOptions.of_run(config)))


def _train_and_evaluate(config, name: str, tasks, out: Path, progress: bool, wait: bool, experiment: dict | None = None):
    """Train (or build) one run unless its folder is finished, then evaluate it and its variants
    (:func:`variant_evaluations`); returns the evaluations (the run's first) and the stage times.
    With ``wait=False`` a run another process holds raises :class:`LockHeldError` at once."""
    started = time.perf_counter()
    # the run's lock claims the whole run, evaluation included (a zero-shot run too, whose
    # evaluation encodes the documents every later run reuses): another runner skips it instead
    # of waiting for its results folder
    with folder_lock(config.out, "the model folder", wait=wait):
        if is_the_teacher_itself(config):
            trained = time.perf_counter()  # no folder to build
            result = evaluate_one(
                config.teacher, tasks, out, name=name, experiment_kwargs=study_options(config), options=EvaluationOptions(progress=progress)
            )
        else:
            _train_unless_trained(experiment or {}, config, name, out, progress)
            folder = Path(config.out) / "model"
            trained = time.perf_counter()
            result = evaluate_one(
                str(folder), tasks, out, name=name, experiment_kwargs=study_options(config), options=EvaluationOptions(progress=progress)
            )
        evaluated = time.perf_counter()
        model_spec = config.teacher if is_the_teacher_itself(config) else str(Path(config.out) / "model")
        results = [(name, result)]
        for variant_name, spec, scoring in variant_evaluations(experiment or {}, name, model_spec):
            print(f"  {variant_name}: {spec if spec != model_spec else 'the same model'} ({scoring})", flush=True)
            options = EvaluationOptions(progress=progress, scoring=scoring)
            results.append(
                (variant_name, evaluate_one(spec, tasks, out, name=variant_name, experiment_kwargs=study_options(config), options=options))
            )
    timing = {"train_s": round(trained - started, 1), "evaluate_s": round(evaluated - trained, 1)}
    if len(results) > 1:
        timing["variants_s"] = round(time.perf_counter() - evaluated, 1)
    return results, timing


def _summary_rows(row_name: str, run_name: str, result) -> list[dict]:
    """One summary row per task and split of an evaluation (a run's, or one of its variants'):
    nDCG@10, MRR@10 and R@1, each the mean over the task's subsets."""
    rows = []
    for task, splits in result.scores.items():
        for split, entries in splits.items():
            scores = {key: sum(entry.get(key, float("nan")) for entry in entries) / len(entries) for key in _SUMMARY_METRICS}
            rows.append({"run": row_name, "of": run_name, "task": task, "split": split, "ndcg_at_10": scores.pop("main_score"), **scores})
    return rows


_SUMMARY_METRICS = ("main_score", "mrr_at_10", "recall_at_1")


def summary_table(rows: list[dict], task_order: list[str]) -> str:
    """The grid's table: a row per run, a column per task and split, nDCG@10 / MRR@10 / R@1."""
    table_rows: dict[str, dict[str, dict]] = {}
    for row in rows:
        table_rows.setdefault(row["run"], {})[f"{row['task']}|{row['split']}"] = row
    columns = sorted(
        {key for by_task in table_rows.values() for key in by_task}, key=lambda key: (task_order.index(key.split("|")[0]), key)
    )
    headers = ["run"] + [
        f"{key.split('|')[0].replace('Optical', '').replace('Retrieval', '')} ({key.split('|')[1]}) nDCG@10 / MRR@10 / R@1"
        for key in columns
    ]
    body = []
    for run_name, by_task in table_rows.items():
        body.append(
            [run_name]
            + [
                f"{by_task[key]['ndcg_at_10']:.3f} / {by_task[key]['mrr_at_10']:.3f} / {by_task[key]['recall_at_1']:.3f}"
                if key in by_task
                else "-"
                for key in columns
            ]
        )
    return tabulate(body, headers=headers, tablefmt="github")


def experiment_tasks(experiment: dict) -> list:
    """The mteb tasks of an experiment: its ``tasks`` (with its ``eval_splits``) and its ``beir`` entries."""
    section = experiment.get("experiment", {})
    task_names = section.get("tasks")
    beir_folders = section.get("beir", [])
    splits = section.get("eval_splits")
    return (get_tasks(task_names, eval_splits=splits) if task_names or not beir_folders else []) + [
        _beir_entry(experiment, entry) for entry in beir_folders
    ]


def run_experiment(config_path, out: Path, progress: bool = True) -> int:
    experiment = load_experiment(config_path)
    out.mkdir(parents=True, exist_ok=True)
    tasks = experiment_tasks(experiment)
    results_dir = out / "results"
    timings: dict[str, dict[str, float]] = {}
    rows = []
    total_started = time.perf_counter()
    # Several processes may run one config (on several GPUs or nodes, e.g. a SLURM array): each
    # run is claimed by its model-folder lock; a run another process holds is skipped on the first
    # pass and taken up on the second, when it is finished (or still being trained: then we wait).
    total = len(experiment["runs"])
    deferred = []
    for first_pass in (True, False):
        for index, run in list(enumerate(experiment["runs"], start=1)) if first_pass else deferred:
            config = _run_config(experiment, run, out)
            print(f"[{index}/{total}] {run['name']}: {config.method} (teacher {config.teacher})", flush=True)
            try:
                results, timing = _train_and_evaluate(config, run["name"], tasks, out, progress, wait=not first_pass, experiment=experiment)
            except LockHeldError:
                if not first_pass:
                    raise
                print(f"  {run['name']} is being trained or evaluated by another process: coming back to it", flush=True)
                deferred.append((index, run))
                continue
            timings[run["name"]] = timing
            rows += [row for row_name, result in results for row in _summary_rows(row_name, run["name"], result)]
    order = {run["name"]: index for index, run in enumerate(experiment["runs"])}
    rows.sort(key=lambda row: (order[row["of"]], row["run"] != row["of"], row["run"]))
    timings = dict(sorted(timings.items(), key=lambda item: order[item[0]]))
    table = summary_table(rows, [task.metadata.name for task in tasks])
    atomic_write_json(
        out / "summary.json",
        {
            "experiment": experiment.get("experiment", {}),
            "rows": rows,
            "timings": timings,
            "total_seconds": round(time.perf_counter() - total_started, 1),
        },
    )
    atomic_write_text(
        out / "summary.md",
        f"# {experiment.get('experiment', {}).get('name', 'experiment')}\n\n{table}\n\nTimings (s): `{json.dumps(timings)}`\n",
    )
    print(table)
    _write_report(out, results_dir, experiment.get("experiment", {}).get("baseline"))
    print("time per stage (s):")
    for name, stages in timings.items():
        variants = f"   variants {stages['variants_s']:>7.1f}" if "variants_s" in stages else ""
        print(f"  {name:<28} train/build {stages['train_s']:>7.1f}   evaluate {stages['evaluate_s']:>7.1f}{variants}")
    print(f"summary: {out / 'summary.md'} (total {time.perf_counter() - total_started:.0f} s)")
    return 0
