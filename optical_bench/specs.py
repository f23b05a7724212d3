"""What a model spec is: the one parser of ``--model`` (and of a study's ``model = "..."``).

:func:`parse_model_spec` turns a spec into a :class:`ModelSpec` of one kind:

- ``packaged``: a packaged name (``all-minilm-l6-v2``, case-insensitive; built on first use);
- ``folder``: a model folder (ours, with its provenance, or any sentence-transformers folder);
- ``translate-test``: a folder holding ``translate_test.json`` (a teacher behind a query translator);
- ``hub``: a Hugging Face id ``org/name`` that is no folder here;
- ``bm25``: ``bm25[,key=value...]`` (mteb's BM25; options below);
- ``fuse``: ``fuse[,options]:<spec>+<spec>`` (mteb's hybrid search over two specs of the kinds above).

BM25 options: ``k1``, ``b``, ``delta``, ``freq_threshold`` (numbers), ``method``, ``stopwords``
(one of bm25s' lists), ``stemmer`` (a PyStemmer language) and ``translator`` (a query
translator spec, ``ibm1:PATH`` or a seq2seq id). Fusion options: the strategy (``rrf``, ``dbsf``,
``rsf``), ``k=<int>`` (RRF's constant), ``weights=<w1>/<w2>``, ``depth=<int>``.

Parsing loads nothing: a mistyped spec answers before torch and mteb load. Every malformed spec
raises :class:`SpecError` (a missing folder: ``FileNotFoundError``), its message
``'<spec>': <what is wrong>. Fix: <what to write>.`` Loading a parsed spec is
:func:`optical_bench.search_models.load_evaluable`.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optical_bench.assets.models import PACKAGED_MODELS, known_model_names, looks_like_hf_id

PACKAGED, FOLDER, TRANSLATE_TEST, HUB, BM25, FUSE = "packaged", "folder", "translate-test", "hub", "bm25", "fuse"
SPEC_KINDS = (PACKAGED, FOLDER, TRANSLATE_TEST, HUB, BM25, FUSE)
SEARCH_KINDS = (BM25, FUSE)  # searched by mteb's own search, not encoded by a model of ours
TRANSLATE_TEST_FILE = "translate_test.json"

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


class SpecError(ValueError):
    """A malformed model spec; the message names the spec and the fix."""


@dataclass(frozen=True)
class FusionSpec:
    """The options of ``fuse[,options]:<spec>+<spec>`` and its two member specs (as written)."""

    members: tuple[str, str]
    strategy: str = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] | None = None
    depth: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: its ``kind`` (one of :data:`SPEC_KINDS`) and the parts that kind has."""

    text: str  # the spec as written: what provenance records and what a model folder resolves from
    kind: str
    bm25_options: dict[str, Any] = field(default_factory=dict)  # BM25Search keyword arguments (bm25)
    translator: str | None = None  # the query translator spec of bm25,translator=...
    fusion: FusionSpec | None = None  # fuse: its options
    members: tuple[ModelSpec, ...] = ()  # fuse: its two members, parsed

    @property
    def is_search(self) -> bool:
        """BM25 or a fusion: searched by mteb's own search rather than encoded by one model."""
        return self.kind in SEARCH_KINDS

    @property
    def dense_members(self) -> tuple[ModelSpec, ...]:
        """The specs of this spec that load a dense encoder (itself, or a fusion's dense members)."""
        if self.kind == BM25:
            return ()
        if self.kind == FUSE:
            return tuple(member for member in self.members if not member.is_search)
        return (self,)


def search_kind(spec: str | os.PathLike) -> str | None:
    """``bm25`` or ``fuse`` when ``spec`` is written as one (its syntax only: nothing is checked), else None."""
    if isinstance(spec, os.PathLike):
        return None
    text = str(spec)
    if text == BM25 or text.startswith(BM25 + ","):
        return BM25
    if text.startswith((FUSE + ":", FUSE + ",")):
        return FUSE
    return None


def is_search_spec(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names a BM25 or fused model (rather than an encoder)."""
    return search_kind(spec) is not None


def parse_model_spec(spec: str | os.PathLike | ModelSpec) -> ModelSpec:
    """The :class:`ModelSpec` of ``spec``; a malformed one raises :class:`SpecError` (a path that
    does not exist: ``FileNotFoundError``), naming the spec and the fix."""
    if isinstance(spec, ModelSpec):
        return spec
    kind = search_kind(spec)
    text = os.fspath(spec)
    if kind == BM25:
        options, translator = parse_bm25_options(text)
        return ModelSpec(text=text, kind=BM25, bm25_options=options, translator=translator)
    if kind == FUSE:
        fusion = parse_fusion_spec(text)
        return ModelSpec(text=text, kind=FUSE, fusion=fusion, members=tuple(parse_model_spec(member) for member in fusion.members))
    return ModelSpec(text=text, kind=_encoder_kind(spec))


def _encoder_kind(spec: str | os.PathLike) -> str:
    """The kind of a spec that names an encoder: the order :func:`optical_bench.assets.models.resolve_model` resolves in."""
    text = os.fspath(spec)
    if text.strip().lower() in PACKAGED_MODELS and not isinstance(spec, os.PathLike):
        return PACKAGED
    path = Path(text).expanduser()
    if path.is_dir():
        return TRANSLATE_TEST if (path / TRANSLATE_TEST_FILE).exists() else FOLDER
    if path.exists():
        raise SpecError(f"{text!r}: a file, not a model folder. Fix: pass the folder that holds the model (its config and weights).")
    if looks_like_hf_id(text):
        return HUB
    if text.strip() and ("/" in text or os.sep in text or text.startswith(("~", "."))):
        raise FileNotFoundError(
            f"{text!r}: no such model folder (and not a Hugging Face id 'org/name'). Fix: check the path, or train the model first."
        )
    close = difflib.get_close_matches(text.strip().lower(), known_model_names(), n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SpecError(
        f"{text!r}: unknown model.{hint} Fix: name a packaged model ({', '.join(known_model_names())}), a model folder, "
        "a Hugging Face id 'org/name', bm25[,options] or fuse:<spec>+<spec>."
    )


def _bm25_number(spec: str, key: str, value: str) -> float:
    try:
        number = BM25_NUMBERS[key](value)
    except ValueError:
        raise SpecError(f"{spec!r}: {key}={value!r} is not a number. Fix: write e.g. bm25,k1=0.9,b=0.4.") from None
    low, high, fix = BM25_RANGES[key]
    if not math.isfinite(number) or not low <= number <= high:
        raise SpecError(f"{spec!r}: {key}={value} is out of range. Fix: {fix}.")
    return number


def _stemmers() -> list[str]:
    import Stemmer  # PyStemmer, which mteb's BM25 uses

    return sorted(Stemmer.algorithms())


def parse_bm25_options(spec: str) -> tuple[dict[str, Any], str | None]:
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
            options[key] = _bm25_number(spec, key, value)
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
    """``fuse[,<strategy>][,k=<int>][,weights=<w1>/<w2>][,depth=<int>]:<spec>+<spec>`` (its syntax:
    the members are not looked up, see :func:`parse_model_spec`)."""
    head, colon, body = str(spec).partition(":")
    members = tuple(body.split("+"))
    if not colon or head.split(",")[0] != FUSE or len(members) != 2 or not all(members):
        raise SpecError(
            f"{spec!r}: not a fusion of two models. Fix: write fuse:<spec>+<spec>, e.g. fuse:bm25+multilingual-e5-small-q4 "
            f"(a model path holding '+' cannot be fused: link it under another name)."
        )
    values: dict[str, Any] = {}
    for part in head.split(",")[1:]:
        _fusion_option(spec, part, values)
    if "rrf_k" in values and values.get("strategy", "rrf") != "rrf":
        raise SpecError(f"{spec!r}: k is RRF's constant and means nothing under {values['strategy']}. Fix: drop k=.")
    if any(search_kind(member) == FUSE for member in members):
        raise SpecError(f"{spec!r}: a member is itself a fusion. Fix: fuse two plain specs.")
    return FusionSpec(members=members, **values)  # type: ignore[arg-type]
