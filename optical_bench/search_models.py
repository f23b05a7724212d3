"""Any parsed model spec loaded into an :class:`~optical_bench.model_specs.EvaluableModel`
(:func:`load_evaluable`), and the lexical and fused ones built here: mteb's own BM25 searcher
and hybrid search, as ordinary specs (parsed by :func:`optical_bench.specs.parse_model_spec`).

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

import time
from collections.abc import Mapping
from dataclasses import asdict
from importlib import metadata
from typing import Any

from optical_bench.specs import BM25, FUSE, ModelSpec, parse_model_spec

__all__ = ["load_bm25", "load_evaluable", "load_fusion", "load_model"]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


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


def load_evaluable(spec: str | ModelSpec, name: str | None = None, encoder_options: Mapping[str, Any] | None = None):
    """Any model spec (:func:`optical_bench.specs.parse_model_spec`) as the
    :class:`~optical_bench.model_specs.EvaluableModel` an evaluation runs: BM25
    (:func:`load_bm25`), a fusion (:func:`load_fusion`) or a dense model
    (:func:`~optical_bench.model_specs.load_for_evaluation`, then
    :func:`~optical_bench.model_specs.dense_evaluable`). ``encoder_options``:
    :func:`optical_bench.encoders.make_encoder`'s (cache, scoring, verification)."""
    from optical_bench.model_specs import dense_evaluable, load_for_evaluation

    spec = parse_model_spec(spec)
    if spec.kind == BM25:
        return load_bm25(spec, name=name)
    if spec.kind == FUSE:
        return load_fusion(spec, name=name, encoder_options=encoder_options)
    return dense_evaluable(load_for_evaluation(spec, name=name), encoder_options)


def load_model(spec: str | ModelSpec, name: str | None = None, encoder_options: Mapping[str, Any] | None = None):
    """Any model spec (a packaged name, a model folder, a hub id, ``bm25...``, ``fuse:...``) as the
    mteb model ``optical-bench evaluate`` runs, with its full ``mteb_model_meta``: what to pass to
    ``mteb.evaluate`` (a plain ``SentenceTransformer(path)`` is filed by mteb under
    ``no_model_name_available``). ``encoder_options``: :func:`optical_bench.encoders.make_encoder`'s."""
    return load_evaluable(spec, name=name, encoder_options=encoder_options).model


def load_bm25(spec: str | ModelSpec = BM25, name: str | None = None):
    """mteb's BM25 searcher for ``spec`` (``bm25[,k1=..][,b=..][,translator=..]``), its revision the
    hash of its settings."""
    import mteb

    from optical_bench.io import sha256_json
    from optical_bench.model_specs import EvaluableModel
    from optical_bench.translate import make_translator

    spec = parse_model_spec(spec)
    if spec.kind != BM25:
        raise ValueError(f"{spec.text!r}: not a BM25 spec. Fix: load it with load_evaluable.")
    searcher = mteb.get_model("mteb/baseline-bm25s", **spec.bm25_options)
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
    if spec.translator:
        translator = make_translator(spec.translator)
        settings["query_translator"] = translator.describe()
        searcher = TranslatedQuerySearch(searcher, translator)
    revision = sha256_json(settings)[:16]
    default = "optical-bench/bm25-translated-queries" if spec.translator else searcher.mteb_model_meta.name
    searcher.mteb_model_meta = searcher.mteb_model_meta.model_copy(
        update={"revision": revision, "name": _full_name(name) if name else default, "release_date": time.strftime("%Y-%m-%d")}
    )
    return EvaluableModel(model=searcher, provenance={"spec": spec.text, "bm25": settings})


def _full_name(name: str) -> str:
    return name if "/" in name else f"optical-bench/{name}"


def _member(spec: ModelSpec, encoder_options: Mapping[str, Any] | None):
    """One fusion member: its evaluable model, its provenance the spec, name and revision."""
    member = load_evaluable(spec, encoder_options=encoder_options)
    if not spec.is_search:
        member.provenance = {"spec": spec.text, "name": member.meta.name, "revision": member.meta.revision}
    return member


def load_fusion(spec: str | ModelSpec, name: str | None = None, encoder_options: Mapping[str, Any] | None = None):
    """mteb's :class:`HybridSearch` over the two members of ``spec`` (:func:`optical_bench.specs.parse_fusion_spec`).
    ``encoder_options``: :func:`optical_bench.encoders.make_encoder`'s (cache, scoring, verification)."""
    from mteb.models.hybrid_wrappers import HybridSearch
    from mteb.models.model_meta import ModelMeta

    from optical_bench.io import sha256_json
    from optical_bench.model_specs import EvaluableModel

    spec = parse_model_spec(spec)
    if spec.kind != FUSE:
        raise ValueError(f"{spec.text!r}: not a fusion spec. Fix: write fuse:<spec>+<spec>, or load it with load_evaluable.")
    fusion = spec.fusion
    members = [_member(member, encoder_options) for member in spec.members]
    hybrid = HybridSearch(
        models=[member.model for member in members],
        weights=list(fusion.weights) if fusion.weights else None,
        sub_model_top_k=fusion.depth,
        fusion_strategy=fusion.strategy,
        rrf_k=fusion.rrf_k,
    )
    metas = [member.meta for member in members]
    provenance = {
        "spec": spec.text,
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
    return EvaluableModel(model=hybrid, provenance=provenance, encoders=[e for member in members for e in member.encoders])
