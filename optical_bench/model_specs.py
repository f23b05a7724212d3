"""A model as mteb sees it: a dense spec (a packaged name, a model folder of ours or any
sentence-transformers folder, a translate-test folder, or a Hugging Face id; parsed by
:func:`optical_bench.specs.parse_model_spec`) loaded into a :class:`LoadedModel`, its full,
validated :class:`mteb.ModelMeta`, and the :class:`EvaluableModel` that every evaluation runs
(:func:`dense_evaluable` for an encoder; BM25 and fusions: :mod:`optical_bench.search_models`).

A trained student's ModelMeta is filled from its provenance (:func:`trained_model_meta`):
``adapted_from`` its base model's hub id, its licence, languages and training datasets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mteb
from mteb.models.model_meta import ModelMeta

from optical_bench.assets.models import PACKAGED_MODELS, resolve_model
from optical_bench.models import folder_fingerprint, load_sentence_transformer, read_provenance
from optical_bench.models.card import base_model, card_license
from optical_bench.specs import FUSE, HUB, PACKAGED, TRANSLATE_TEST, TRANSLATE_TEST_FILE, ModelSpec, SpecError, parse_model_spec
from optical_bench.translate import IBMModel1, make_translator

MODEL_META_FIELDS = ("languages", "reference", "adapted_from", "license", "training_datasets", "citation", "experiment_kwargs")


def build_model_meta(model, name: str, revision: str, fields: Mapping[str, Any] | None = None, *, scoring: str = "cosine"):
    """A complete :class:`mteb.ModelMeta` (``create_empty`` skips validation and then fails).
    ``fields``: what is known about the model beyond its weights (:data:`MODEL_META_FIELDS`, the
    ``meta_kwargs`` of :class:`LoadedModel`)."""
    fields = dict(fields or {})
    unknown = set(fields) - set(MODEL_META_FIELDS)
    if unknown:
        raise ValueError(f"Unknown ModelMeta fields {sorted(unknown)}: use {', '.join(MODEL_META_FIELDS)}.")
    n_parameters = sum(p.numel() for p in model.parameters())
    prompts = getattr(model, "prompts", {}) or {}
    return ModelMeta(
        loader=None,
        name=name if "/" in name else f"optical-bench/{name}",
        revision=revision,
        release_date=time.strftime("%Y-%m-%d"),
        languages=fields.get("languages"),
        n_parameters=n_parameters,
        memory_usage_mb=round(n_parameters * 4 / 2**20, 1),
        max_tokens=model.max_seq_length,
        embed_dim=model.get_embedding_dimension(),
        license=fields.get("license"),
        open_weights=True,
        public_training_code=None,  # no public page holds the training code of a user's run
        public_training_data=None,
        framework=["Sentence Transformers", "PyTorch"],
        reference=fields.get("reference"),
        similarity_fn_name="MaxSim" if scoring == "maxsim" else "cosine",
        model_type=["late-interaction"] if scoring == "maxsim" else ["dense"],
        use_instructions=bool(prompts.get("query") or prompts.get("document")),
        training_datasets=fields.get("training_datasets") or set(),
        adapted_from=fields.get("adapted_from"),
        citation=fields.get("citation"),
        experiment_kwargs=fields.get("experiment_kwargs"),
    )


@dataclass
class LoadedModel:
    """A dense model as loaded (:func:`load_for_evaluation`): the SentenceTransformer, its name,
    revision and metadata; :func:`dense_evaluable` makes it an :class:`EvaluableModel`."""

    model: Any
    name: str
    revision: str
    meta_kwargs: dict
    query_translator: Any = None
    provenance: dict | None = None


BIBLE_TASKS = ("OpticalBibleRetrieval", "OpticalBibleOracleRetrieval")  # the default bitext's source


def registry_meta(hub_id: str | None):
    """mteb's registry entry of a hub model (offline: the registry is part of the package), or None."""
    if not hub_id:
        return None
    try:
        return mteb.get_model_meta(hub_id, fetch_from_hf=False)
    except Exception:
        return None


SCRIPTS = {"amh": "Ethi"}  # MAFAND-MT languages not written in Latin script


def bitext_languages(bitext: str | None) -> list[str]:
    """The languages (ISO 639-3 + script) of a run's bitext: the Bible's (the default), a named
    source's (``mafand-hau``: Hausa and English; ``afriqa-bitext``: its eight languages; sources
    joined with ``+``: all of theirs), or none known (a file of the user's)."""
    if not bitext:
        return ["nya-Latn", "eng-Latn"]
    name = str(bitext)
    if "/" in name or Path(name).suffix:
        return []
    from optical_bench.data.sources import afriqa_bitext_languages

    languages = []
    for part in name.split("+"):  # named sources joined with + (mafand-hau+afriqa-bitext)
        if afriqa_bitext_languages(part):
            languages += [f"{code}-Latn" for code in afriqa_bitext_languages(part)]
        elif part.startswith("mafand-"):
            code = part[len("mafand-") :]
            languages.append(f"{code}-{SCRIPTS.get(code, 'Latn')}")
        else:
            return []
    return list(dict.fromkeys(languages)) + ["eng-Latn"]


def trained_model_meta(provenance: dict) -> dict:
    """ModelMeta fields of a trained student from its provenance: ``adapted_from`` the base
    model's hub id (its packaged original, or the hub id it was given), its ``license``, the
    ``languages`` of the base plus the bitext's (:func:`bitext_languages`), and ``training_datasets``: the base model's (as
    mteb's registry lists them) plus the Bible tasks when the default bitext (the Bible) was
    used, so that mteb does not count the student zero-shot on them."""
    base = base_model(provenance)
    registry = registry_meta(base)
    packaged = PACKAGED_MODELS.get(str(provenance.get("student_init") or provenance.get("teacher")))
    languages = list(packaged.mteb_meta()["languages"] or []) if packaged else list(getattr(registry, "languages", None) or [])
    bitext = (provenance.get("config") or {}).get("bitext")
    default_bitext = not bitext
    for code in bitext_languages(bitext):
        if code not in languages:
            languages.append(code)
    training = set(getattr(registry, "training_datasets", None) or ()) | (set(BIBLE_TASKS) if default_bitext else set())
    licence = card_license(provenance)
    return {
        "adapted_from": base,
        "license": licence if licence != "other" else None,
        "languages": languages or None,
        "training_datasets": training,
    }


def hub_snapshot(model_id: str) -> Path:
    """The local snapshot of the hub model ``model_id`` at the commit its main branch names now
    (downloaded once; offline, the cached one): its folder name is that commit, the revision its
    results are filed under, so a new hub commit never reuses old results. Offline without a
    cached snapshot: a one-line error with the fix."""
    import os

    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes", "true")
    try:
        return Path(huggingface_hub.snapshot_download(repo_id=model_id, local_files_only=offline))
    except LocalEntryNotFoundError:
        raise FileNotFoundError(
            f"{model_id}: not a packaged name or a folder here, and no copy of that hub model is cached while downloads are "
            "off. Fix: run once online (OPTICAL_BENCH_ONLINE=1 optical-bench evaluate ...), or download the model folder and "
            "pass its path."
        ) from None


def load_for_evaluation(spec: str | ModelSpec, name: str | None = None, trust_remote_code: bool = False) -> LoadedModel:
    """Load a dense spec (:func:`optical_bench.specs.parse_model_spec`: a packaged name, a model
    folder, ours or any sentence-transformers one, a translate-test folder, or a Hugging Face id)
    into a :class:`LoadedModel`."""
    spec = parse_model_spec(spec)
    if spec.is_search:
        raise SpecError(
            f"{spec.text!r}: a {'fusion' if spec.kind == FUSE else 'BM25'} spec, searched rather than encoded. "
            "Fix: load it with optical_bench.search_models.load_evaluable (or evaluate it with optical_bench.evaluate.evaluate_one)."
        )
    translator = None
    provenance = None
    meta_kwargs: dict = {}
    if spec.kind == HUB:  # evaluated at the commit its name resolves to now (recorded as the revision)
        snapshot = hub_snapshot(spec.text)
        model = load_sentence_transformer(str(snapshot), trust_remote_code=trust_remote_code)
        revision = snapshot.name
        name = name or spec.text
        meta_kwargs = {"reference": f"https://huggingface.co/{spec.text}"}
    elif spec.kind == TRANSLATE_TEST:
        path = Path(spec.text).expanduser()
        config = json.loads((path / TRANSLATE_TEST_FILE).read_text(encoding="utf-8"))
        translator = (
            IBMModel1.load(path / config["translator_file"]) if config.get("translator_file") else make_translator(config["translator"])
        )
        model = load_sentence_transformer(config["teacher"], trust_remote_code=trust_remote_code)
        revision = folder_fingerprint(path)
        name = name or f"translate-test-{Path(str(config['teacher'])).name}"
        meta_kwargs["adapted_from"] = str(config["teacher"])
        provenance = read_provenance(path)
    else:  # a packaged name (its built folder) or a model folder
        path = Path(resolve_model(spec.text) if spec.kind == PACKAGED else spec.text).expanduser()
        model = load_sentence_transformer(str(path), trust_remote_code=trust_remote_code)
        revision = folder_fingerprint(path)
        packaged = spec.text.strip().lower() if spec.kind == PACKAGED else None
        provenance = None if packaged else read_provenance(path)  # packaged folders carry conversion records, not training provenance
        if provenance:
            name = name or provenance.get("name") or path.name
            meta_kwargs = trained_model_meta(provenance)
        else:
            name = name or packaged or path.name
            meta_kwargs = PACKAGED_MODELS[packaged].mteb_meta() if packaged else {}
            registry = registry_meta(meta_kwargs.get("adapted_from"))
            if registry is not None and registry.training_datasets:
                meta_kwargs["training_datasets"] = set(registry.training_datasets)
    return LoadedModel(
        model=model,
        name=name,
        revision=revision,
        meta_kwargs={k: v for k, v in meta_kwargs.items() if v is not None},
        query_translator=translator,
        provenance=provenance,
    )


@dataclass
class EvaluableModel:
    """Whatever a spec names, as an evaluation runs it (:func:`optical_bench.evaluate.evaluate_evaluable`):

    - ``model``: what ``mteb.evaluate`` runs (an encoder, BM25 or a fusion), with its complete
      ``mteb_model_meta`` (:attr:`meta`: the results' name and revision);
    - ``provenance``: what ``provenance.json`` records (None: no such side file);
    - ``encoders``: the dense encoders in it, whose document-cache counts and token limits the
      summary reports (none for BM25);
    - ``dense_model``: the SentenceTransformer of a dense model evaluated alone: its truncated texts
      are counted, and ``--devices`` spread its documents over a multi-process pool.
    """

    model: Any
    provenance: dict | None = None
    encoders: list = field(default_factory=list)
    dense_model: Any = None

    @property
    def meta(self):
        return self.model.mteb_model_meta


def dense_evaluable(loaded: LoadedModel, encoder_options: Mapping[str, Any] | None = None) -> EvaluableModel:
    """A loaded dense model as an :class:`EvaluableModel`: its ModelMeta and its cached-document
    encoder (``encoder_options``: :func:`optical_bench.encoders.make_encoder`'s ``cache_embeddings``,
    ``scoring``, ``verify_sample``). The one place a revision gets its scoring: MaxSim results are
    filed under ``<revision>-maxsim``, beside the pooled ones."""
    from optical_bench.encoders import make_encoder

    options = dict(encoder_options or {})
    scoring = options.get("scoring", "cosine")
    revision = f"{loaded.revision}-maxsim" if scoring == "maxsim" else loaded.revision
    meta = build_model_meta(loaded.model, loaded.name, revision, loaded.meta_kwargs, scoring=scoring)
    encoder = make_encoder(loaded.model, meta, query_translator=loaded.query_translator, **options)
    return EvaluableModel(model=encoder, provenance=loaded.provenance, encoders=[encoder], dense_model=loaded.model)
