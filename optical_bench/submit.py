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
model registry. Nothing is sent anywhere.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optical_bench.io import atomic_write_bytes
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
    model_meta_code: dict[str, str] = field(default_factory=dict)  # model -> python
    loaded: dict[str, list[str]] = field(default_factory=dict)  # model -> tasks mteb's ResultCache loaded
    steps: list[str] = field(default_factory=list)

    def instructions(self) -> str:
        lines = [f"Submission folder: {self.out_dir / 'results'}", ""]
        for folder in self.folders:
            lines.append(f"  {folder.relative_to(self.out_dir)}")
        if self.skipped:
            lines += ["", "Not copied (mteb would not read them):"] + [f"  {path.name}: {why}" for path, why in self.skipped]
        lines += ["", "Steps:"] + [f"{i}. {step}" for i, step in enumerate(self.steps, start=1)]
        for model, code in self.model_meta_code.items():
            lines += ["", f"ModelMeta template for {model} (mteb/models/model_implementations/<your_file>.py):", "", code]
        return "\n".join(lines)


def _model_name_as_path(name: str) -> str:
    return name.replace("/", "__").replace(" ", "_")


def _select(runs: list[RunResults], model: str | None, revision: str | None) -> list[RunResults]:
    chosen = [
        run
        for run in runs
        if model is None or model in (run.model, run.short_name, f"{run.model}@{run.revision}", f"{run.short_name}@{run.revision}")
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
    if provenance:
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


def _model_meta(run: RunResults):
    """The run's ``model_meta.json`` as mteb's ``ModelMeta`` (a ValueError names what is wrong)."""
    from mteb.models.model_meta import ModelMeta

    if not run.meta:
        raise ValueError(
            f"{run.path}: no model_meta.json. Fix: evaluate with `optical-bench evaluate` (or mteb), which writes it; "
            "the results repository needs it to identify the model."
        )
    try:
        return ModelMeta.model_validate_json_resolved(json.dumps({k: v for k, v in run.meta.items() if k != "is_cross_encoder"}))
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


def _copy_run(run: RunResults, dest: Path, strip_robustness: bool, submission: Submission) -> None:
    """Copy what mteb reads of one revision folder to ``dest``, note what stays behind, check the copies."""
    from mteb.results import TaskResult

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _copy_task_files(run, dest, strip_robustness, submission)
    submission.files.append(atomic_write_bytes(dest / "model_meta.json", (run.path / "model_meta.json").read_bytes()))
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


def _check_with_result_cache(out: Path, runs: list[RunResults], submission: Submission) -> None:
    """Load the submission folder with mteb's ``ResultCache`` (offline); every copied task must load."""
    from mteb import ResultCache

    cache = ResultCache(cache_path=out)
    loaded = cache.load_results(
        models=[run.model for run in runs], include_remote=False, require_model_meta=True, validate_and_filter=False
    )
    for model_result in loaded.model_results:
        submission.loaded[model_result.model_name] = sorted(r.task_name for r in model_result.task_results)
    for folder in submission.folders:
        expected = {p.stem for p in folder.glob("*.json") if p.name != "model_meta.json"}
        got = {task for tasks in submission.loaded.values() for task in tasks}
        if not expected <= got:
            raise ValueError(f"{folder}: mteb's ResultCache did not load {sorted(expected - got)}.")


def build_submission(
    results_dir: Path | str,
    out_dir: Path | str,
    model: str | None = None,
    *,
    revision: str | None = None,
    strip_robustness: bool = False,
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
        verbose: print the instructions.

    Raises:
        ValueError: a file that mteb cannot load (named, with the error).
        KeyError: no results of ``model``.
    """
    out = Path(out_dir)
    runs = _select(load_runs(results_dir), model, revision)
    submission = Submission(out_dir=out)
    for run in runs:
        meta = _model_meta(run)
        dest = out / "results" / _model_name_as_path(meta.name or run.model) / str(meta.revision or run.revision)
        _copy_run(run, dest, strip_robustness, submission)
        submission.folders.append(dest)
        submission.tasks_unknown_to_mteb[meta.name] = _tasks_unknown_to_mteb(sorted(run.task_files))
        submission.model_meta_code[meta.name] = model_meta_template(run.meta, run.provenance)
    _check_with_result_cache(out, runs, submission)
    submission.steps = _steps(submission)
    if verbose:
        print(submission.instructions())
    return submission


def _steps(submission: Submission) -> list[str]:
    names = list(submission.model_meta_code)
    folders = " ".join(str(folder.parent) for folder in submission.folders)
    steps = [
        f"Publish each model ({', '.join(names)}) on the Hugging Face hub under that exact name (org/model). The revision folder "
        "must equal the ModelMeta revision: optical-bench's revision is the content hash of the model folder; register that, "
        "or evaluate the published hub model again so that the revision is the hub commit.",
        f"Register the model in mteb's model registry: fork {MTEB_REPO}, add the ModelMeta below to a file in "
        "mteb/models/model_implementations/, run `make test` (or pytest tests/test_models), open a pull request.",
    ]
    unknown = sorted({task for tasks in submission.tasks_unknown_to_mteb.values() for task in tasks})
    if unknown:
        steps.append(
            f"These tasks are not in mteb's task registry, so the leaderboard cannot show them: {', '.join(unknown)}. Either "
            "contribute them to mteb first (dataset on the hub + task class; optical-bench's task cards hold the metadata), "
            "or leave their files out of the results pull request."
        )
    steps += [
        f"Fork {RESULTS_REPO} and clone your fork: gh repo fork embeddings-benchmark/results --clone",
        f"Copy the model folders into its results/ folder: cp -r {folders} <your clone>/results/",
        "Commit and push a branch: git checkout -b add-<model>-results && git add results && git commit -m 'Add results for <model>' && git push -u origin HEAD",
        "Open the pull request against embeddings-benchmark/results (gh pr create --repo embeddings-benchmark/results) and complete "
        "its checklist (reference implementation, public model, no training on the evaluation data).",
        "With network access, `mteb.ResultCache().submit_results(...)` automates the fork/branch/PR steps for results in mteb's cache.",
    ]
    return steps
