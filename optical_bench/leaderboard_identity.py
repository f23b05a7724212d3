"""Who a model is on the MTEB leaderboard (``optical-bench submit``).

A model mteb's registry knows keeps that identity (name, hub revision, release date): the packaged
copies of registry models, and BM25 run with mteb's own settings (``mteb/baseline-bm25s``). A model
optical-bench trained gets the hub id its owner gives (``--name org/model``), checked with
huggingface_hub's validator; what no hub repository can hold (a fusion, a translated-query
pipeline, BM25 with settings of its own, the 4-bit packaged e5) is refused with the reason.
"""

from __future__ import annotations

from optical_bench.model_specs import registry_meta
from optical_bench.results import RunResults

__all__ = ["check_hub_name", "identity"]


def _suggest_hub_id(name: str) -> str | None:
    """A valid hub id close to ``name`` (each part cleaned like a model name), or None."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from optical_bench.models.card import hub_model_name

    parts = [part for part in name.split("/") if part.strip()]
    if not parts:
        return None
    org = hub_model_name(parts[0]) if len(parts) > 1 else "my-org"
    suggestion = f"{org}/{hub_model_name(parts[-1])}"
    try:
        validate_repo_id(suggestion)
    except HFValidationError:
        return None
    return suggestion


def check_hub_name(name: str) -> str:
    """``name`` if it is a valid hub model id ``org/model``; else a ValueError with the fix
    (a suggestion only where it is itself a valid id)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    suggestion = _suggest_hub_id(name)
    fix = f"Fix: e.g. --name {suggestion}." if suggestion else "Fix: use letters, digits, '-', '_' and '.' in both parts."
    if name.count("/") != 1:
        raise ValueError(f"--name {name!r}: give the hub id as org/model. {fix}")
    try:
        validate_repo_id(name)
    except HFValidationError as error:
        raise ValueError(f"--name {name!r} is not a valid hub id ({error}). {fix}") from None
    return name


def _packaged_copy(run: RunResults):
    """The packaged model (:mod:`optical_bench.assets.models`) a run evaluated unchanged, or None:
    no training provenance, ``adapted_from`` its original, and its own name (or a zero-shot study
    run whose student and teacher are that packaged model)."""
    from optical_bench.assets.models import PACKAGED_MODELS

    if run.provenance:
        return None
    short = str(run.meta.get("name") or run.model).split("/")[-1]
    options = run.meta.get("experiment_kwargs") or {}
    for packaged in PACKAGED_MODELS.values():
        if run.meta.get("adapted_from") != packaged.original:
            continue
        zero_shot = options.get("method") == "zero-shot" and options.get("teacher") == options.get("student") == packaged.name
        if short == packaged.name or zero_shot:
            return packaged
    return None


def identity(run: RunResults, name: str | None) -> tuple[dict, bool]:
    """The ``model_meta.json`` a run is submitted with, and whether mteb's registry already knows
    the model. A model optical-bench did not train keeps its identity in mteb's registry (name,
    hub revision, release date, languages, licence, training data) or is refused; a trained one
    gets ``name`` (never the name of a model the registry knows)."""
    if _is_search_run(run):
        return _search_identity(run, name)
    packaged = _packaged_copy(run)
    where = run.path / "model_meta.json"
    if packaged is not None and not packaged.weights_are_original:
        raise ValueError(
            f"{where}: {run.model} is the packaged {packaged.name} ({packaged.note}), not {packaged.original}: its scores "
            f"are not that model's and no hub model holds these weights. Fix: leave it out of the submission (--model NAME)."
        )
    original = packaged.original if packaged is not None else (run.model if not run.provenance else None)
    registry = registry_meta(original)
    if registry is not None:
        if name and name != registry.name:
            raise ValueError(
                f"--name {name!r}: {run.model} is {registry.name}, which mteb's registry knows (revision {registry.revision}, "
                f"released {registry.release_date}); its results keep that name. Fix: drop --name."
            )
        meta = registry.to_dict()
        meta["loader"] = None
        return meta, True
    if packaged is not None:
        raise ValueError(
            f"{where}: {run.model} is the packaged {packaged.name}, a copy of {packaged.original}, which mteb's registry "
            "does not know. Fix: register it in mteb first, or leave it out (--model NAME)."
        )
    if not name and (run.provenance or run.model.split("/")[0] == "optical-bench"):
        suggestion = _suggest_hub_id(f"my-org/{run.short_name}")
        raise ValueError(
            f"{run.path}: {run.model} has no hub id of yours ('optical-bench/' is not your organisation), and the "
            f"leaderboard shows a model under the hub id it is published at. Fix: --name <your-org>/<model>"
            f"{f', e.g. --name {suggestion}' if suggestion else ''}."
        )
    taken = registry_meta(name)
    if taken is not None:
        suggestion = _suggest_hub_id(f"my-org/{run.short_name}")
        raise ValueError(
            f"--name {name!r} is mteb's registry model {taken.name} (released {taken.release_date}), not {run.model}. "
            f"Fix: submit it under a hub id of your own{f', e.g. --name {suggestion}' if suggestion else ''}."
        )
    return _renamed_meta(run, name), False


BM25_REGISTRY = "mteb/baseline-bm25s"  # mteb's BM25, which `--model bm25` runs with its default settings


def _is_search_run(run: RunResults) -> bool:
    """A BM25 or fused run (``--model bm25``, ``fuse:...``): its provenance names the search spec."""
    return isinstance(run.provenance, dict) and ("bm25" in run.provenance or "fusion" in run.provenance)


def _search_identity(run: RunResults, name: str | None) -> tuple[dict, bool]:
    """BM25 with mteb's default settings keeps its registry identity (``mteb/baseline-bm25s``, the
    registry's revision); a fusion, a BM25 with other settings or with translated queries is no
    model a hub repository holds, and is refused with the reason."""
    spec = str(run.provenance.get("spec", run.model))
    if "fusion" in run.provenance:
        members = " and ".join(str(member.get("name")) for member in run.provenance.get("members", []))
        raise ValueError(
            f"{run.path}: {spec} fuses the rankings of {members} at search time; no hub model holds a fusion, so the "
            "leaderboard has no place for it. Fix: leave it out (--model NAME), submit its members, and show the fusion "
            "in your own tables (optical-bench report)."
        )
    settings = run.provenance.get("bm25") or {}
    if settings.get("query_translator"):
        raise ValueError(
            f"{run.path}: {spec} searches translated queries (a pipeline of a translator and BM25), which no hub model holds. "
            "Fix: leave it out (--model NAME) and report it in your own tables (optical-bench report)."
        )
    if spec != "bm25":
        raise ValueError(
            f"{run.path}: {spec} is BM25 with settings of its own, not mteb's {BM25_REGISTRY}, and no hub model holds "
            "settings. Fix: submit the run of plain `--model bm25`, or leave it out (--model NAME)."
        )
    registry = registry_meta(BM25_REGISTRY)
    if registry is None:
        raise ValueError(f"{run.path}: this mteb's registry lacks {BM25_REGISTRY}. Fix: upgrade mteb (pip install -U mteb).")
    if name and name != registry.name:
        raise ValueError(f"--name {name!r}: BM25 is {registry.name} in mteb's registry; its results keep that name. Fix: drop --name.")
    meta = registry.to_dict()
    meta["loader"] = None
    return meta, True


PAGE_THAT_DOES_NOT_EXIST = "https://pypi.org/project/optical-bench/"  # what earlier releases wrote as public_training_code


def _renamed_meta(run: RunResults, name: str | None) -> dict:
    meta = {k: v for k, v in run.meta.items()}
    if meta.get("public_training_code") == PAGE_THAT_DOES_NOT_EXIST:
        meta["public_training_code"] = None
    if name:
        meta["name"] = name
        meta["reference"] = meta.get("reference") or f"https://huggingface.co/{name}"
    return meta
