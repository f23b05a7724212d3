"""Lexical and fused model specs: mteb's own BM25 searcher and hybrid search, as ordinary specs.

``optical-bench evaluate --model`` (and :func:`optical_bench.evaluate.evaluate_one`) takes, beside
model folders and names:

- ``bm25``: mteb's ``mteb/baseline-bm25s`` (:class:`mteb.models.model_implementations.bm25.BM25Search`,
  built on ``bm25s``: Lucene BM25, k1 1.5, b 0.75; stop words and a Snowball stemmer from the
  language of a one-language subset, English for a cross-lingual one). Options follow commas:
  ``bm25,k1=0.9,b=0.4`` (``k1``, ``b``, ``delta``, ``method``, ``freq_threshold``; ``stopwords=fr`` and
  ``stemmer=french`` pin the documents' language, e.g. for French passages) and
  ``bm25,translator=<spec>``: BM25 on translated queries, ``<spec>`` as for
  :func:`optical_bench.translate.make_translator` (``ibm1:PATH`` for a saved IBM Model 1, or a
  Hugging Face seq2seq id);
- ``fuse:<spec>+<spec>``: the fusion of any two specs (``fuse:bm25+multilingual-e5-small-q4``)
  by mteb's :class:`~mteb.models.hybrid_wrappers.HybridSearch`; reciprocal rank fusion with k=60
  and equal weights by default. Options between ``fuse`` and the colon, comma-separated:
  ``fuse,dbsf:...`` (the strategy: ``rrf``, ``dbsf`` or ``rsf``), ``k=20`` (RRF's constant),
  ``weights=0.3/0.7`` (one per member, in order), ``depth=200`` (documents each member returns
  before fusion; mteb's default: max(top-k, 100)). No quoting is needed in a shell.

Each result lands in the MTEB layout under the model's name (``mteb/baseline-bm25s``, or
``optical-bench/fuse-<strategy>-<member>-<member>``) and a revision that is the hash of every
setting that changes a score (BM25's parameters and the bm25s and PyStemmer versions; the
fusion's options and its members' names and revisions), recorded in the side file
``provenance.json``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

BM25_SPEC = "bm25"
FUSE_SPEC = "fuse"
STRATEGIES = ("rrf", "dbsf", "rsf")
BM25_NUMBERS = {"k1": float, "b": float, "delta": float, "freq_threshold": float}
BM25_METHODS = ("robertson", "lucene", "atire", "bm25l", "bm25+")
BM25_STOPWORDS = ("en", "de", "nl", "fr", "es", "pt", "it", "ru", "sv", "no", "zh")  # bm25s' stop-word lists
# the range of each number: (lowest, highest, what the fix says); every value must be finite
BM25_RANGES = {
    "k1": (0.0, 100.0, "k1 between 0 and 100 (Lucene's default 1.2-1.5)"),
    "b": (0.0, 1.0, "b between 0 and 1 (0.75 by default)"),
    "delta": (0.0, 100.0, "delta between 0 and 100 (BM25L/BM25+ only; 0.5 by default)"),
    "freq_threshold": (0.0, 1e9, "freq_threshold of 0 or more"),
}

__all__ = ["BM25_SPEC", "FUSE_SPEC", "FusionSpec", "SearchModel", "is_search_spec", "load_bm25", "load_fusion", "parse_fusion_spec"]


class SpecError(ValueError):
    """A malformed bm25 or fuse spec; the message names the spec and the fix."""


@dataclass
class SearchModel:
    """An mteb search model (``index``/``search``, with a complete ``mteb_model_meta``), ready for
    :func:`optical_bench.evaluate.evaluate_searcher`."""

    model: Any
    provenance: dict
    encoders: list = field(default_factory=list)  # dense members' encoders (their document-cache counts)

    @property
    def meta(self):
        return self.model.mteb_model_meta


def is_search_spec(spec: str) -> bool:
    """Whether ``spec`` names a BM25 or fused model (rather than an encoder)."""
    spec = str(spec)
    return spec == BM25_SPEC or spec.startswith((BM25_SPEC + ",", FUSE_SPEC + ":", FUSE_SPEC + ","))


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _stemmers() -> list[str]:
    import Stemmer  # PyStemmer, which mteb's BM25 uses

    return sorted(Stemmer.algorithms())


def _bm25_options(spec: str) -> tuple[dict[str, Any], str | None]:
    """BM25Search keyword arguments and the translator spec of ``bm25[,key=value...]``."""
    options: dict[str, Any] = {}
    translator = None
    seen: set[str] = set()
    for part in spec.split(",")[1:] if "," in spec else []:
        key, _, value = part.partition("=")
        if key in seen:
            raise SpecError(f"{spec!r}: {key} is given twice. Fix: give each option once.")
        seen.add(key)
        if key == "translator" and value:
            translator = value
        elif key in BM25_NUMBERS and value:
            try:
                number = BM25_NUMBERS[key](value)
            except ValueError:
                raise SpecError(f"{spec!r}: {key}={value!r} is not a number. Fix: write e.g. bm25,k1=0.9,b=0.4.") from None
            low, high, fix = BM25_RANGES[key]
            if not math.isfinite(number) or not low <= number <= high:
                raise SpecError(f"{spec!r}: {key}={value} is out of range. Fix: {fix}.")
            options[key] = number
        elif key == "stopwords" and value in BM25_STOPWORDS:
            options["stopwords"] = value
        elif key == "stemmer" and value in _stemmers():
            options["stemmer_language"] = value
        elif key == "method" and value in BM25_METHODS:
            options[key] = value
        else:
            raise SpecError(
                f"{spec!r}: option {part!r} is unknown. Fix: use {', '.join(BM25_NUMBERS)}=<number>, "
                f"method={'|'.join(BM25_METHODS)}, stopwords={'|'.join(BM25_STOPWORDS)}, stemmer=<a PyStemmer language such as "
                "french> or translator=<ibm1:PATH or a seq2seq id>."
            )
    return options, translator


class TranslatedQuerySearch:
    """A search model whose queries are translated before they are searched (translate-test for
    a lexical model): ``translator.translate_batch`` on the query texts, then ``searcher``."""

    def __init__(self, searcher, translator) -> None:
        self.searcher, self.translator = searcher, translator
        self.mteb_model_meta = searcher.mteb_model_meta

    def index(self, corpus, **kwargs) -> None:
        self.searcher.index(corpus, **kwargs)

    def search(self, queries, **kwargs):
        translated = self.translator.translate_batch([str(text) for text in queries["text"]])
        return self.searcher.search(queries.remove_columns("text").add_column("text", translated), **kwargs)


def load_bm25(spec: str = BM25_SPEC, name: str | None = None) -> SearchModel:
    """mteb's BM25 searcher for ``spec`` (``bm25[,k1=..][,b=..][,translator=..]``), its revision the
    hash of its settings."""
    import mteb

    from optical_bench.io import sha256_json
    from optical_bench.translate import make_translator

    options, translator_spec = _bm25_options(spec)
    searcher = mteb.get_model("mteb/baseline-bm25s", **options)
    settings = {
        "searcher": "mteb/baseline-bm25s (mteb BM25Search)",
        "k1": searcher.k1,
        "b": searcher.b,
        "delta": searcher.delta,
        "method": searcher.method,
        "freq_threshold": searcher._freq_threshold,
        "stopwords": searcher._stopwords_cfg or "from the subset's language (English for a cross-lingual subset)",
        "stemmer": searcher._stemmer_cfg or "from the subset's language (English for a cross-lingual subset)",
        "bm25s": _version("bm25s"),
        "PyStemmer": _version("PyStemmer"),
    }
    if translator_spec:
        translator = make_translator(translator_spec)
        settings["query_translator"] = translator.describe()
        searcher = TranslatedQuerySearch(searcher, translator)
    revision = sha256_json(settings)[:16]
    default = "optical-bench/bm25-translated-queries" if translator_spec else searcher.mteb_model_meta.name
    searcher.mteb_model_meta = searcher.mteb_model_meta.model_copy(
        update={"revision": revision, "name": _full_name(name) if name else default, "release_date": time.strftime("%Y-%m-%d")}
    )
    return SearchModel(model=searcher, provenance={"spec": spec, "bm25": settings})


def _full_name(name: str) -> str:
    return name if "/" in name else f"optical-bench/{name}"


@dataclass(frozen=True)
class FusionSpec:
    """The parsed ``fuse[,options]:<spec>+<spec>``."""

    members: tuple[str, str]
    strategy: str = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] | None = None
    depth: int | None = None


def _fusion_option(spec: str, part: str, values: dict[str, Any]) -> None:
    key, _, value = part.partition("=")
    slot = {"k": "rrf_k", "depth": "depth", "weights": "weights"}.get(key, "strategy" if part in STRATEGIES else None)
    if slot in values:
        what = "a fusion strategy" if slot == "strategy" else key
        raise SpecError(f"{spec!r}: {what} is given twice. Fix: give each option once (one of {', '.join(STRATEGIES)}).")
    try:
        if part in STRATEGIES:
            values["strategy"] = part
        elif key in ("k", "depth"):
            number = int(value)
            if number < 1:
                fix = "k=60 (RRF's constant: 1 or more)" if key == "k" else "depth=100 (documents each member returns: 1 or more)"
                raise SpecError(f"{spec!r}: {key}={value} is out of range. Fix: {fix}.")
            values[slot] = number
        elif key == "weights":
            weights = tuple(float(w) for w in value.split("/"))
            if len(weights) != 2:
                raise ValueError
            if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
                raise SpecError(
                    f"{spec!r}: weights={value} must be two finite numbers of 0 or more, not both 0. Fix: e.g. weights=0.3/0.7."
                )
            values["weights"] = weights
        else:
            raise SpecError(
                f"{spec!r}: option {part!r} is unknown. Fix: use {'|'.join(STRATEGIES)}, k=<int>, weights=<w1>/<w2>, depth=<int>."
            )
    except ValueError as error:
        if isinstance(error, SpecError):
            raise
        raise SpecError(f"{spec!r}: {part!r} is malformed. Fix: write k=60, depth=100 or weights=0.5/0.5 (two numbers).") from None


def parse_fusion_spec(spec: str) -> FusionSpec:
    """``fuse[,<strategy>][,k=<int>][,weights=<w1>/<w2>][,depth=<int>]:<spec>+<spec>``."""
    head, colon, body = str(spec).partition(":")
    members = tuple(body.split("+"))
    if not colon or head.split(",")[0] != FUSE_SPEC or len(members) != 2 or not all(members):
        raise SpecError(
            f"{spec!r}: not a fusion of two models. Fix: write fuse:<spec>+<spec>, e.g. fuse:bm25+multilingual-e5-small-q4 "
            f"(a model path holding '+' cannot be fused: link it under another name)."
        )
    values: dict[str, Any] = {}
    for part in head.split(",")[1:]:
        _fusion_option(spec, part, values)
    if "rrf_k" in values and values.get("strategy", "rrf") != "rrf":
        raise SpecError(f"{spec!r}: k is RRF's constant and means nothing under {values['strategy']}. Fix: drop k=.")
    if any(is_search_spec(member) and member.startswith(FUSE_SPEC) for member in members):
        raise SpecError(f"{spec!r}: a member is itself a fusion. Fix: fuse two plain specs.")
    return FusionSpec(members=members, **values)  # type: ignore[arg-type]


def _member(spec: str, encoder_options: dict[str, Any], name: str | None = None):
    """One fusion member as an mteb model: BM25, or an encoder spec through our cached encoder."""
    if is_search_spec(spec):
        return load_bm25(spec, name=name)
    from optical_bench.encoders import make_encoder
    from optical_bench.model_specs import build_model_meta, load_for_evaluation

    loaded = load_for_evaluation(spec, name=name)
    scoring = encoder_options.get("scoring", "cosine")
    revision = f"{loaded.revision}-maxsim" if scoring == "maxsim" else loaded.revision
    meta = build_model_meta(loaded.model, loaded.name, revision, loaded.meta_kwargs, scoring=scoring)
    encoder = make_encoder(loaded.model, meta, query_translator=loaded.query_translator, **encoder_options)
    return SearchModel(model=encoder, provenance={"spec": spec, "name": meta.name, "revision": revision}, encoders=[encoder])


def load_model(spec: str, name: str | None = None, encoder_options: dict[str, Any] | None = None):
    """Any model spec (a packaged name, a model folder, a hub id, ``bm25...``, ``fuse:...``) as the
    mteb model ``optical-bench evaluate`` runs, with its full ``mteb_model_meta``: what to pass to
    ``mteb.evaluate`` (a plain ``SentenceTransformer(path)`` is filed by mteb under
    ``no_model_name_available``). ``encoder_options``: :func:`optical_bench.encoders.make_encoder`'s."""
    if str(spec).startswith(FUSE_SPEC):
        return load_fusion(spec, name=name, encoder_options=encoder_options).model
    return _member(str(spec), dict(encoder_options or {}), name=name).model


def load_fusion(spec: str, name: str | None = None, encoder_options: dict[str, Any] | None = None) -> SearchModel:
    """mteb's :class:`HybridSearch` over the two members of ``spec`` (:func:`parse_fusion_spec`).
    ``encoder_options``: :func:`optical_bench.encoders.make_encoder`'s (cache, scoring, verification)."""
    from mteb.models.hybrid_wrappers import HybridSearch
    from mteb.models.model_meta import ModelMeta

    from optical_bench.io import sha256_json

    fusion = parse_fusion_spec(spec)
    members = [_member(member, dict(encoder_options or {})) for member in fusion.members]
    hybrid = HybridSearch(
        models=[member.model for member in members],
        weights=list(fusion.weights) if fusion.weights else None,
        sub_model_top_k=fusion.depth,
        fusion_strategy=fusion.strategy,
        rrf_k=fusion.rrf_k,
    )
    metas = [member.meta for member in members]
    provenance = {
        "spec": spec,
        "fusion": {key: value for key, value in asdict(fusion).items() if key != "members"},
        "members": [{"name": meta.name, "revision": meta.revision, **member.provenance} for meta, member in zip(metas, members)],
    }
    short = "-".join(meta.name.rsplit("/", 1)[-1] for meta in metas)
    languages = sorted({code for meta in metas for code in meta.languages or []}) or None
    hybrid.mteb_model_meta = ModelMeta(
        loader=None,
        name=_full_name(name) if name else f"optical-bench/fuse-{fusion.strategy}-{short}",
        revision=sha256_json({"fusion": provenance["fusion"], "members": [[m.name, m.revision] for m in metas]})[:16],
        release_date=time.strftime("%Y-%m-%d"),
        languages=languages,
        n_parameters=sum(meta.n_parameters or 0 for meta in metas),
        memory_usage_mb=sum(meta.memory_usage_mb or 0 for meta in metas),
        max_tokens=None,
        embed_dim=None,
        license=None,
        open_weights=True,
        public_training_code=None,  # no public page holds the training code of a user's run
        public_training_data=None,
        framework=[],
        reference=None,
        similarity_fn_name=None,
        model_type=["hybrid"],
        use_instructions=False,
        training_datasets=set().union(*(set(meta.training_datasets or ()) for meta in metas)),
    )
    return SearchModel(model=hybrid, provenance=provenance, encoders=[e for member in members for e in member.encoders])
