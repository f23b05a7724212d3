"""Prepare results for the public MTEB leaderboard (``optical-bench submit``), offline.

:func:`build_submission` copies a model's results into the layout of the public results
repository (https://github.com/embeddings-benchmark/results)::

    <out>/results/<org>__<model>/<revision>/<Task>.json
    <out>/results/<org>__<model>/<revision>/model_meta.json
    <out>/results/<org>__<model>/<revision>/run_settings.jsonl   (when present)

copying only what mteb reads (task results, ``model_meta.json``, ``run_settings.jsonl``;
not ``robustness.json``, summaries or rankings, since mteb's ``ResultCache`` reads every ``*.json``
of a revision folder as a task result), checks every file with mteb's own classes
(``TaskResult.from_disk``, ``ModelMeta``, and ``mteb.ResultCache(out).load_results``, which
works offline on a local folder with ``include_remote=False``), and returns the steps of
the pull request, with a ``ModelMeta`` template filled from ``model_meta.json`` for mteb's
model registry. ``name`` renames the model for the hub (``org/model``, checked with
huggingface_hub's own validator).

For tasks mteb does not know, it writes what a task contribution needs
(:mod:`optical_bench.upstream`): ``<out>/mteb_tasks/<Task>.py``, the mteb task definition
generated from the card, and ``<out>/datasets/<Task>/``, the collection in mteb's hub layout,
only where the card's licence allows (the Chichewa Bible: never). Nothing is sent anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optical_bench.io import atomic_write_bytes, atomic_write_text, check_name, replace_folder
from optical_bench.leaderboard_identity import check_hub_name, identity
from optical_bench.results import RunResults, load_runs
from optical_bench.robustness.summary import strip_robustness_entries

__all__ = ["Submission", "build_submission", "model_meta_template"]

RESULTS_REPO = "https://github.com/embeddings-benchmark/results"
MTEB_REPO = "https://github.com/embeddings-benchmark/mteb"


@dataclass
class Submission:
    """What :func:`build_submission` wrote and what to do next."""

    out_dir: Path
    folders: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    tasks_unknown_to_mteb: dict[str, list[str]] = field(default_factory=dict)  # model -> tasks
    model_meta_code: dict[str, str] = field(default_factory=dict)  # model -> python (models mteb's registry lacks)
    registered: dict[str, str] = field(default_factory=dict)  # model in mteb's registry -> its registry identity
    loaded: dict[str, list[str]] = field(default_factory=dict)  # model -> tasks mteb's ResultCache loaded
    task_definitions: dict[str, Path] = field(default_factory=dict)  # task -> generated mteb task module
    datasets: dict[str, Path] = field(default_factory=dict)  # task -> exported collection (mteb's hub layout)
    not_exported: dict[str, str] = field(default_factory=dict)  # task -> why its collection stays here
    steps: list[str] = field(default_factory=list)

    def instructions(self) -> str:
        lines = [f"Submission folder: {self.out_dir / 'results'}", ""]
        for folder in self.folders:
            lines.append(f"  {folder.relative_to(self.out_dir)}")
        if self.skipped:
            lines += ["", "Not copied (mteb would not read them):"] + [f"  {path.name}: {why}" for path, why in self.skipped]
        if self.task_definitions:
            lines += ["", "mteb task definitions (generated from the task cards):"]
            lines += [f"  {path.relative_to(self.out_dir)}" for path in self.task_definitions.values()]
        if self.datasets:
            lines += ["", "Collections in mteb's hub layout (their licences allow it):"]
            lines += [f"  {path.relative_to(self.out_dir)}" for path in self.datasets.values()]
        lines += ["", "Steps:"]
        number = 0
        for step in self.steps:
            if step.startswith("  "):
                lines.append(f"   - {step.strip()}")
            else:
                number += 1
                lines.append(f"{number}. {step}")
        for model, code in self.model_meta_code.items():
            lines += ["", f"ModelMeta template for {model} (mteb/models/model_implementations/<your_file>.py):", "", code]
        return "\n".join(lines)


def _model_name_as_path(name: str) -> str:
    return name.replace("/", "__").replace(" ", "_")


def _select(runs: list[RunResults], model: str | None, revision: str | None) -> list[RunResults]:
    chosen = [
        run
        for run in runs
        if model is None
        or model in (run.model, run.short_name, f"{run.model}@{run.revision}", f"{run.short_name}@{run.revision}")
        or model == (run.provenance or {}).get("spec")  # the evaluate spec: bm25, fuse:...
    ]
    if revision:
        chosen = [run for run in chosen if run.revision == revision]
    if not chosen:
        available = ", ".join(f"{run.model}@{run.revision}" for run in runs) or "none"
        raise KeyError(f"No results of {model or 'any model'}{'@' + revision if revision else ''}; available: {available}.")
    return chosen


def model_meta_template(meta: dict[str, Any], provenance: dict[str, Any] | None = None) -> str:
    """Python source of a ``ModelMeta`` for mteb's model registry, filled from ``model_meta.json``.

    The loader is mteb's ``SentenceTransformerEncoderWrapper`` (it calls ``encode_query`` and
    ``encode_document``, so a Router model sends each side to its own encoder). Fields that
    only the author can fill (reference, licence, release date on the hub) are flagged TODO.
    """
    from mteb.models.model_meta import ModelMeta

    data = dict(meta)
    data.pop("is_cross_encoder", None)
    model = ModelMeta.model_validate_json_resolved(json.dumps(data))
    code = model.to_python().replace("loader=None,", "loader=SentenceTransformerEncoderWrapper,")
    todo = {
        "reference=None,": "reference=None,  # TODO: https://huggingface.co/<org>/<model>",
        "license=None,": "license=None,  # TODO: the model's licence (e.g. 'mit', 'apache-2.0')",
        "languages=None,": "languages=None,  # TODO: e.g. ['nya-Latn', 'eng-Latn']",
    }
    for old, new in todo.items():
        code = code.replace(old, new)
    variable = "".join(ch if ch.isalnum() else "_" for ch in (model.name or "model").split("/")[-1]).strip("_").lower() or "model"
    if variable[0].isdigit():
        variable = "m_" + variable
    header = [
        "from mteb.models.model_meta import ModelMeta, ScoringFunction",
        "from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper",
        "",
    ]
    if provenance and provenance.get("method"):
        header.append(
            f"# Trained by optical-bench: method={provenance.get('method')}, teacher={provenance.get('teacher')}, "
            f"bitext_pairs_used={provenance.get('bitext_pairs_used')}, seed={provenance.get('seed')}"
        )
    return "\n".join(header + [f"{variable} = {code}"])


def _tasks_unknown_to_mteb(tasks: list[str]) -> list[str]:
    import mteb

    unknown = []
    for task in tasks:
        try:
            mteb.get_task(task)
        except Exception:
            unknown.append(task)
    return unknown


def _model_meta(run: RunResults, meta_json: dict | None = None):
    """The run's ``model_meta.json`` (or ``meta_json``) as mteb's ``ModelMeta`` (a ValueError names what is wrong)."""
    from mteb.models.model_meta import ModelMeta

    if not run.meta:
        raise ValueError(
            f"{run.path}: no model_meta.json. Fix: evaluate with `optical-bench evaluate` (or mteb), which writes it; "
            "the results repository needs it to identify the model."
        )
    try:
        data = meta_json if meta_json is not None else run.meta
        return ModelMeta.model_validate_json_resolved(json.dumps({k: v for k, v in data.items() if k != "is_cross_encoder"}))
    except Exception as error:
        raise ValueError(f"{run.path / 'model_meta.json'}: mteb's ModelMeta rejects it ({error}).") from error


def _copy_task_files(run: RunResults, dest: Path, strip_robustness: bool, submission: Submission) -> None:
    """Copy the run's task files (each checked with mteb's ``TaskResult`` first)."""
    from mteb.results import TaskResult

    for task, source in sorted(run.task_files.items()):
        try:
            TaskResult.from_disk(source)
        except Exception as error:
            raise ValueError(f"{source}: mteb's TaskResult cannot load it ({error}). Fix: re-run the evaluation of {task}.") from error
        if strip_robustness:
            data = strip_robustness_entries(json.loads(source.read_text(encoding="utf-8")))
            payload = (json.dumps(data, indent=2) + "\n").encode("utf-8")
        else:
            payload = source.read_bytes()
        submission.files.append(atomic_write_bytes(dest / source.name, payload))


def _copy_run(run: RunResults, dest: Path, strip_robustness: bool, submission: Submission, meta_json: dict) -> None:
    """Copy what mteb reads of one revision folder to ``dest`` (a new folder inside the staging
    folder), note what stays behind, check the copies."""
    from mteb.results import TaskResult

    dest.mkdir(parents=True)
    _copy_task_files(run, dest, strip_robustness, submission)
    payload = (json.dumps(meta_json, indent=4, default=str) + "\n").encode("utf-8")
    submission.files.append(atomic_write_bytes(dest / "model_meta.json", payload))
    if (run.path / "run_settings.jsonl").exists():
        submission.files.append(atomic_write_bytes(dest / "run_settings.jsonl", (run.path / "run_settings.jsonl").read_bytes()))
    for path in sorted(run.path.iterdir()):
        if path.is_dir():
            submission.skipped.append((path, "optical-bench side files (summary, provenance, robustness)"))
        elif not (dest / path.name).exists():
            submission.skipped.append((path, "not an mteb task result" if path.suffix == ".json" else "not part of mteb's layout"))
    for path in dest.glob("*.json"):
        if path.name != "model_meta.json":
            TaskResult.from_disk(path)


def _check_with_result_cache(out: Path, names: list[str], submission: Submission) -> None:
    """Load the submission folder with mteb's ``ResultCache`` (offline); every copied task must load."""
    from mteb import ResultCache

    cache = ResultCache(cache_path=out)
    loaded = cache.load_results(
        models=names, include_remote=False, require_model_meta=True, validate_and_filter=False, load_experiments="match_name"
    )
    for model_result in loaded.model_results:
        submission.loaded[model_result.model_name] = sorted(r.task_name for r in model_result.task_results)
    for folder in submission.folders:
        expected = {p.stem for p in folder.glob("*.json") if p.name != "model_meta.json"}
        got = {task for tasks in submission.loaded.values() for task in tasks}
        if not expected <= got:
            raise ValueError(f"{folder}: mteb's ResultCache did not load {sorted(expected - got)}.")


def _missing_evaluation_splits(run: RunResults) -> list[str]:
    """``Task: split`` for every task whose evaluation split (the card's, or mteb's for its own tasks) the run lacks."""
    import mteb

    from optical_bench.cards import load_cards

    cards = load_cards()
    missing = []
    for task, data in sorted(run.tasks.items()):
        if task in cards:
            wanted = list(cards[task].eval_splits)
        else:
            try:
                wanted = list(mteb.get_task(task).metadata.eval_splits)
            except Exception:
                continue
        have = set((data.get("scores") or {}).keys())
        missing += [f"{task}: {split!r} (the file has {', '.join(sorted(have)) or 'no split'})" for split in wanted if split not in have]
    return missing


def _upstream_tasks(out: Path, submission: Submission, dataset_org: str, export: bool) -> None:
    """mteb task definitions (and, where licences allow, the collections) of the tasks mteb lacks."""
    from optical_bench.cards import load_cards
    from optical_bench.tasks import make_task
    from optical_bench.upstream import export_dataset, may_export, task_definition

    cards = load_cards()
    for task in sorted({task for tasks in submission.tasks_unknown_to_mteb.values() for task in tasks}):
        card = cards.get(task)
        if card is None:
            submission.not_exported[task] = "no task card (an ad-hoc --beir task): write its definition by hand"
            continue
        dataset = f"{dataset_org}/{task}"
        try:
            definition = task_definition(card, dataset, cards=cards)
        except ValueError as error:  # no citation to give mteb: no definition, and the step says why
            submission.not_exported[task] = f"no task definition: {error}"
            continue
        submission.task_definitions[task] = atomic_write_text(out / "mteb_tasks" / f"{task}.py", definition)
        allowed, why = may_export(card)
        if not allowed or not export:
            submission.not_exported[task] = why if not allowed else "--no-datasets"
            continue
        export_dataset(make_task(card), out / "datasets" / task)
        submission.datasets[task] = out / "datasets" / task


def build_submission(
    results_dir: Path | str,
    out_dir: Path | str,
    model: str | None = None,
    *,
    revision: str | None = None,
    strip_robustness: bool = False,
    name: str | None = None,
    dataset_org: str | None = None,
    export_datasets: bool = True,
    verbose: bool = False,
) -> Submission:
    """Copy results into the public results repository's layout and check them with mteb.

    Args:
        results_dir: an MTEB results folder (e.g. ``optical-bench evaluate --out``).
        out_dir: where to create ``results/<org>__<model>/<revision>/``.
        model: the model to submit (full name, short name or NAME@REVISION; default: all).
        revision: only this revision.
        strip_robustness: drop the ``robustness_*`` entries from the copied task files
            (mteb reads them either way).
        name: the hub id (``org/model``) to submit one model under, instead of its local name.
        dataset_org: the hub organisation of the exported task datasets (default: ``name``'s).
        export_datasets: write the collections that licences allow to ``<out>/datasets/``.
        verbose: print the instructions.

    Raises:
        ValueError: a file that mteb cannot load (named, with the error); an invalid ``name``.
        KeyError: no results of ``model``.
    """
    out = Path(out_dir)
    runs = _select(load_runs(results_dir), model, revision)
    if name:
        check_hub_name(name)
        if len({run.model for run in runs}) > 1:
            raise ValueError(f"--name {name!r} names one model, but {len(runs)} are selected. Fix: add --model.")
    submission = Submission(out_dir=out)
    names = []
    identities = [identity(run, name) for run in runs]  # every refusal before anything is written
    for run in runs:
        missing = _missing_evaluation_splits(run)
        if missing:
            raise ValueError(
                f"{run.path}: no scores on the evaluation split the leaderboard reads, {'; '.join(missing)}. Fix: evaluate "
                f"those tasks on that split (optical-bench evaluate --model MODEL --tasks TASK --split SPLIT), or leave them out."
            )
    metas = [_model_meta(run, meta_json) for run, (meta_json, _) in zip(runs, identities)]
    places = [_bundle_place(run, meta) for run, meta in zip(runs, metas)]  # every name checked before anything is written
    if dataset_org is not None:
        check_name(dataset_org, "dataset organisation", "--dataset-org")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".submit-staging-", dir=out))
    try:
        for run, (meta_json, known), meta, place in zip(runs, identities, metas, places):
            dest = staging / place
            _copy_run(run, dest, strip_robustness, submission, meta_json)
            submission.folders.append(dest)
            names.append(meta.name)
            submission.tasks_unknown_to_mteb[meta.name] = _tasks_unknown_to_mteb(sorted(run.task_files))
            if known:
                submission.registered[meta.name] = f"revision {meta.revision}, released {meta.release_date}"
            else:
                submission.model_meta_code[meta.name] = model_meta_template(meta_json, run.provenance)
        _check_with_result_cache(staging, names, submission)
        org = dataset_org or (name.split("/")[0] if name else "<your-org>")
        _upstream_tasks(staging, submission, org, export_datasets)
        _publish(staging, out, submission)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    submission.steps = _steps(submission)
    if verbose:
        print(submission.instructions())
    return submission


def _bundle_place(run: RunResults, meta) -> Path:
    """``results/<org>__<model>/<revision>[/experiments/<name>]``, relative to ``--out``.

    The name, revision and experiment name come from the run's ``model_meta.json``, a file
    anyone can edit: each goes through :func:`optical_bench.io.check_name` (one path
    component, no ``/``, no ``..``) before it joins a path, so a bundle never lands outside
    ``--out``."""
    where = run.path / "model_meta.json"
    place = Path("results") / check_name(_model_name_as_path(meta.name or run.model), "model name", where)
    place = place / check_name(str(meta.revision or run.revision), "revision", where)
    if meta.experiment_kwargs:
        place = place / "experiments" / check_name(str(meta.experiment_name), "experiment name", where)
    return place


def _publish(staging: Path, out: Path, submission: Submission) -> None:
    """Move the finished bundle from ``staging`` into ``out``, one folder (or file) at a time,
    each replacing its old copy only now that the new one is complete and checked; then point
    the submission's paths at ``out``."""

    def moved(path: Path) -> Path:
        return out / path.relative_to(staging)

    # deepest first: a study run's folder (<revision>/experiments/<name>) before its revision's own
    for folder in sorted(submission.folders + list(submission.datasets.values()), key=lambda f: -len(f.parts)):
        target = moved(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        experiments = folder / "experiments"
        if experiments.is_dir() and not any(experiments.iterdir()):
            experiments.rmdir()  # its study runs are already in place
        if (target / "experiments").is_dir() and not experiments.exists():
            os.replace(target / "experiments", experiments)  # a revision's study runs stay with it
        replace_folder(folder, target)
    for definition in submission.task_definitions.values():
        target = moved(definition)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(definition, target)
    submission.folders = [moved(folder) for folder in submission.folders]
    submission.files = [moved(file) for file in submission.files]
    submission.datasets = {task: moved(folder) for task, folder in submission.datasets.items()}
    submission.task_definitions = {task: moved(path) for task, path in submission.task_definitions.items()}


def _steps(submission: Submission) -> list[str]:
    names = list(submission.model_meta_code)
    folders = " ".join(str(folder.parent) for folder in submission.folders)
    steps = [
        f"{model} is in mteb's model registry ({identity}): its results carry that identity; no ModelMeta to add."
        for model, identity in submission.registered.items()
    ]
    if names:
        steps += [
            f"Publish each model ({', '.join(names)}) on the Hugging Face hub under that exact name (org/model). The revision "
            "folder must equal the ModelMeta revision: optical-bench's revision is the content hash of the model folder; "
            "register that, or evaluate the published hub model again so that the revision is the hub commit.",
            f"Register the model in mteb's model registry: fork {MTEB_REPO}, add the ModelMeta below to a file in "
            "mteb/models/model_implementations/, run `make test` (or pytest tests/test_models), open a pull request.",
        ]
    unknown = sorted({task for tasks in submission.tasks_unknown_to_mteb.values() for task in tasks})
    if unknown:
        steps.append(
            f"These tasks are not in mteb's task registry, so the leaderboard cannot show them yet: {', '.join(unknown)}. "
            "Contribute each first, or leave its files out of the results pull request:"
        )
        for task in unknown:
            if task in submission.datasets:
                folder = submission.datasets[task]
                steps.append(
                    f"  {task}: upload the collection: hf upload <org>/{task} {folder} --repo-type dataset; put the "
                    f"dataset's commit into dataset.revision of {submission.task_definitions[task]}, copy that file into "
                    "mteb/tasks/retrieval/multilingual/ and open a pull request to mteb."
                )
            elif task in submission.task_definitions:
                steps.append(
                    f"  {task}: the definition is {submission.task_definitions[task]}; its collection is not exported "
                    f"({submission.not_exported.get(task)}). Only its rights holder can publish it."
                )
            else:
                steps.append(f"  {task}: {submission.not_exported.get(task, 'not exported')}.")
    steps += [
        f"Fork {RESULTS_REPO} and clone your fork: gh repo fork embeddings-benchmark/results --clone",
        f"Copy the model folders into its results/ folder: cp -r {folders} <your clone>/results/",
        "Commit and push a branch: git checkout -b add-<model>-results && git add results && git commit -m 'Add results for <model>' && git push -u origin HEAD",
        "Open the pull request against embeddings-benchmark/results (gh pr create --repo embeddings-benchmark/results) and complete "
        "its checklist (reference implementation, public model, no training on the evaluation data).",
        "With network access, `mteb.ResultCache().submit_results(...)` automates the fork/branch/PR steps for results in mteb's cache.",
    ]
    return steps
