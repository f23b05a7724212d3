"""Synthetic and back-translated training pairs (RQ2), mixed into the real bitext.

Three ways to make ``(low-resource, English)`` pairs beyond the bitext:

=====================  ==========================  ==========================  ==========================
kind                   low-resource side           English side                needs
=====================  ==========================  ==========================  ==========================
``back-translation``   real (monolingual text)     synthetic: MT lr -> en      ``monolingual_lr``
``forward-translation`` synthetic: MT en -> lr     real (English text)         ``english_texts``
``code-switch``        synthetic: English words    real (English text)         ``english_texts``
                       replaced by their lexicon
                       translations
=====================  ==========================  ==========================  ==========================

The offline translator is IBM Model 1 learnt from the *same* real bitext
(:class:`optical_bench.translate.IBMModel1`): ``direction="forward"`` (lr -> en) for
back-translation, ``"reverse"`` (en -> lr) for forward translation and for the
code-switching lexicon.  Any object with ``translate_batch(list[str]) -> list[str]``
(and, for provenance, ``describe()``) works too, e.g. an NLLB model through
:class:`optical_bench.translate.HFSeq2SeqTranslator`.

In the default data the monolingual Chichewa text and the English text are the two
sides of the books whose bitext is withheld (Isaiah, Jeremiah and Lamentations: the genre of the prophets task, never its test books).  They are used
*separately* -- back-translation reads only the Chichewa, forward translation and
code-switching only the English -- never paired with each other.

:func:`build_augmented_bitext` is the one entry point for training.
"""

from __future__ import annotations

import math
import random
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optical_bench.config import AUGMENTATION_KINDS, AugmentationOptions, normalize_kind
from optical_bench.data.bitext import SentencePair, read_monolingual
from optical_bench.data.sources import TextSource
from optical_bench.translate import NULL, IBMModel1, make_translator, word_regex

__all__ = [
    "KINDS",
    "normalize_kind",
    "select_texts",
    "back_translate",
    "forward_translate",
    "code_switch",
    "mix",
    "augmentation_provenance",
    "build_augmented_bitext",
    "augment_training_pairs",
]

KINDS = AUGMENTATION_KINDS
_IBM1_NAMES = ("ibm1", "ibm-1", "ibm_model_1", "ibm-model-1", "ibm_1")


def select_texts(texts: Sequence[str], n: int | str | None, seed: int = 0) -> list[str]:
    """``n`` texts from ``texts``, chosen by a seeded permutation (so the selections of one
    seed are nested: the first 1,000 are among the first 4,000).  ``n`` = ``None``,
    ``"all"`` or a negative number: all of them (in permuted order); ``0``: none."""
    texts = list(texts)
    if n is None or (isinstance(n, str) and n.strip().lower() == "all"):
        count = len(texts)
    else:
        try:
            count = int(n)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number of texts or 'all', got {n!r}") from None
        if count < 0:
            count = len(texts)
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    return [texts[i] for i in order[: min(count, len(texts))]]


def _is_ibm1(translator: Any) -> bool:
    return isinstance(translator, IBMModel1)


def _translate(translator: Any, texts: list[str]) -> list[str]:
    if not hasattr(translator, "translate_batch"):
        raise TypeError(f"{type(translator).__name__} has no translate_batch(list[str]) method")
    if not texts:
        return []
    if _is_ibm1(translator):
        # Words whose best translation is the empty word (articles going into Chichewa,
        # particles going into English) are dropped; unseen words (names, numbers) copied.
        out = translator.translate_batch(texts, drop_null=True)
    else:
        out = translator.translate_batch(texts)
    out = list(out)
    if len(out) != len(texts):
        raise ValueError(f"the translator returned {len(out)} outputs for {len(texts)} inputs")
    return out


def back_translate(monolingual_lr: Sequence[str], translator: Any, limit: int | None = None) -> list[SentencePair]:
    """Pairs whose low-resource side is real (``monolingual_lr``) and English side is
    ``translator``'s output (low-resource -> English).  The first ``limit`` texts are used;
    empty texts and empty translations are left out.  Ids ``bt-<index in the input>``."""
    texts = [(i, t.strip()) for i, t in enumerate(monolingual_lr[:limit] if limit is not None else monolingual_lr) if t and t.strip()]
    outputs = _translate(translator, [t for _, t in texts])
    return [SentencePair(lr=t, en=o.strip(), id=f"bt-{i}") for (i, t), o in zip(texts, outputs) if o and o.strip()]


def forward_translate(english: Sequence[str], translator: Any) -> list[SentencePair]:
    """Pairs whose English side is real and low-resource side is ``translator``'s output
    (English -> low-resource, e.g. ``IBMModel1(direction="reverse")`` fitted on the bitext).
    Ids ``ft-<index in the input>``."""
    texts = [(i, t.strip()) for i, t in enumerate(english) if t and t.strip()]
    outputs = _translate(translator, [t for _, t in texts])
    return [SentencePair(lr=o.strip(), en=t, id=f"ft-{i}") for (i, t), o in zip(texts, outputs) if o and o.strip()]


def _match_case(source: str, replacement: str) -> str:
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def code_switch(
    english: Sequence[str],
    lexicon: dict[str, list[tuple[str, float]]],
    rate: float = 0.5,
    seed: int = 0,
    min_prob: float = 0.0,
    *,
    sample: bool = False,
    drop_unchanged: bool = True,
    stats: dict | None = None,
) -> list[SentencePair]:
    """Code-switched pairs: English words replaced by their low-resource translations.

    Words are found as :func:`optical_bench.translate.tokenize` finds them (NFC, the same
    Unicode word regex) and looked up lower-cased, so an IBM Model 1 lexicon
    (``IBMModel1(direction="reverse").lexicon()``) matches.  A word is *replaceable* when
    the lexicon has an entry with probability ``>= min_prob``.  In each sentence,
    ``rate`` of the replaceable words are replaced (stochastic rounding of
    ``rate * n``, so the expected share is exactly ``rate``), positions drawn by a
    generator seeded with ``seed``: the output depends only on the inputs and the seed.
    The replacement is the most probable entry, or (``sample=True``) an entry drawn in
    proportion to its probability; its first letter follows the original's case.
    Everything else (other words, spacing, punctuation, casing) is kept as written.

    ``drop_unchanged``: leave out sentences in which nothing was replaced (their
    low-resource side would be plain English).  ``stats`` (a dict) receives the counts
    ``replaceable`` and ``replaced`` and ``sentences_unchanged``.  Ids ``cs-<index>``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    table: dict[str, list[tuple[str, float]]] = {}
    for word, entries in lexicon.items():
        kept = [(str(t), float(p)) for t, p in entries if float(p) >= min_prob and str(t).strip()]
        if kept:
            kept.sort(key=lambda item: -item[1])
            table[word] = kept
    rng = random.Random(seed)
    regex = word_regex()
    out: list[SentencePair] = []
    n_replaceable = n_replaced = n_unchanged = 0
    for index, sentence in enumerate(english):
        if not sentence or not sentence.strip():
            continue
        text = unicodedata.normalize("NFC", sentence.strip())
        matches = [m for m in regex.finditer(text) if m.group(0).lower() in table]
        n = len(matches)
        k = 0
        if n:
            k = min(n, int(math.floor(rate * n + rng.random())))
        chosen = sorted(rng.sample(range(n), k)) if k else []
        n_replaceable += n
        n_replaced += k
        if not chosen:
            n_unchanged += 1
            if drop_unchanged:
                continue
            out.append(SentencePair(lr=text, en=sentence.strip(), id=f"cs-{index}"))
            continue
        pieces, last = [], 0
        for position in chosen:
            match = matches[position]
            entries = table[match.group(0).lower()]
            if sample and len(entries) > 1:
                target = rng.choices([t for t, _ in entries], weights=[p for _, p in entries], k=1)[0]
            else:
                target = entries[0][0]
            pieces.append(text[last : match.start()])
            pieces.append(_match_case(match.group(0), target))
            last = match.end()
        pieces.append(text[last:])
        out.append(SentencePair(lr="".join(pieces), en=sentence.strip(), id=f"cs-{index}"))
    if stats is not None:
        stats.update(replaceable=n_replaceable, replaced=n_replaced, sentences_unchanged=n_unchanged)
    return out


def mix(real: Sequence[SentencePair], synthetic: Sequence[SentencePair], ratio: float, seed: int = 0) -> tuple[list[SentencePair], dict]:
    """Real pairs plus ``ratio`` synthetic pairs per real pair, shuffled (seeded).

    ``ratio = 0``: the real pairs only (still shuffled); ``1``: as many synthetic as real;
    ``inf``: every synthetic pair.  The synthetic count ``round(ratio * len(real))`` is
    capped by ``len(synthetic)``; which synthetic pairs are kept is a seeded sample.
    Returns ``(pairs, counts)`` with counts ``real``, ``synthetic``,
    ``synthetic_available``, ``total``, ``ratio_requested`` and ``ratio_effective``.
    """
    ratio = float(ratio)
    if math.isnan(ratio) or ratio < 0:
        raise ValueError(f"ratio must be >= 0 (synthetic pairs per real pair), got {ratio}")
    real, synthetic = list(real), list(synthetic)
    wanted = len(synthetic) if math.isinf(ratio) else int(round(ratio * len(real)))
    n_synthetic = min(wanted, len(synthetic))
    rng = random.Random(seed)
    chosen = rng.sample(synthetic, n_synthetic) if n_synthetic < len(synthetic) else list(synthetic)
    pairs = real + chosen
    rng.shuffle(pairs)
    counts = {
        "real": len(real),
        "synthetic": n_synthetic,
        "synthetic_available": len(synthetic),
        "total": len(pairs),
        "ratio_requested": ratio if not math.isinf(ratio) else "inf",
        "ratio_effective": round(n_synthetic / len(real), 6) if real else None,
    }
    return pairs, counts


def augmentation_provenance(kind: str, size: int, translator_description: dict | str | None, ratio: float, source: str | None) -> dict:
    """The model card's ``augmentation`` record: what was added, how many, made by what, from what."""
    kind = normalize_kind(kind)
    return {
        "kind": kind,
        "size": int(size),
        "ratio": None if kind == "none" else (ratio if not (isinstance(ratio, float) and math.isinf(ratio)) else "inf"),
        "translator": translator_description if kind != "none" else None,
        "source": source if kind != "none" else None,
    }


def _describe(translator: Any) -> dict | str:
    describe = getattr(translator, "describe", None)
    if callable(describe):
        return describe()
    return type(translator).__name__


def build_augmented_bitext(
    real_pairs: Sequence[SentencePair],
    options: AugmentationOptions,
    texts: Sequence[str] | None = None,
    *,
    seed: int = 0,
    ibm1_iterations: int = 10,
    translator: Any = None,
    lexicon: dict[str, list[tuple[str, float]]] | None = None,
    source: str | None = None,
    progress: bool = False,
) -> tuple[list[SentencePair], dict]:
    """The training pairs of one run: ``real_pairs`` plus synthetic pairs of ``kind``.

    Args:
        real_pairs: the real bitext (also what ``"ibm1"`` is learnt from).
        options: the run's :class:`~optical_bench.config.AugmentationOptions`: ``kind``
            (``"none"``, ``"back-translation"``, ``"forward-translation"`` or ``"code-switch"``);
            ``translator``: ``"ibm1"`` (IBM Model 1 fitted here on ``real_pairs``: forward
            direction for back-translation, reverse for forward translation and the
            code-switching lexicon) or another :func:`~optical_bench.translate.make_translator`
            spec (an HF seq2seq model id/folder, options in ``translator_options``, e.g.
            ``{"src_lang": "nya_Latn", "tgt_lang": "eng_Latn"}``); ``ratio``: synthetic pairs
            per real pair (see :func:`mix`); ``size``: at most this many source texts are
            considered (a seeded, nested selection: :func:`select_texts`; ``"all"``: all; only
            as many as the ratio needs are translated, plus a small margin for texts that give
            no pair, which matters for a slow HF translator); ``rate``, ``min_prob``:
            code-switching (share of replaceable words replaced; the lowest lexicon probability
            used: 0.2 drops the flat, unreliable distributions IBM Model 1 learns for words seen
            once or twice, whose mass spreads over a whole verse; with ``"ibm1"``, English words
            whose most probable counterpart is the empty word are not replaced either).
        texts: the source texts: low-resource sentences for back-translation, English ones
            for forward translation and code-switching.
        seed: selection, code-switching and mixing.
        translator: a translator object, instead of ``options.translator``.
        lexicon: a ready English -> low-resource lexicon for code-switching (instead of
            fitting one).
        source: a description of the monolingual/English text, for the provenance.

    Returns:
        ``(pairs, provenance)``: the shuffled mix, and the record for the model card
        (:func:`augmentation_provenance` plus counts, settings and timings).
    """
    started = time.perf_counter()
    kind = normalize_kind(options.kind)
    translator = translator if translator is not None else options.translator
    ratio, size, rate, min_prob = options.ratio, options.size, options.rate, options.min_prob
    real = list(real_pairs)
    if kind == "none":
        provenance = augmentation_provenance("none", 0, None, 0.0, None)
        provenance.update(real=len(real), synthetic=0, total=len(real))
        return real, provenance
    if not real:
        raise ValueError("build_augmented_bitext needs at least one real pair")
    pool = _source_pool(kind, texts, size, seed)
    ratio = float(ratio)
    if math.isnan(ratio) or ratio < 0:
        raise ValueError(f"ratio must be >= 0 (synthetic pairs per real pair), got {ratio}")
    wanted = len(pool) if math.isinf(ratio) else min(len(pool), int(round(ratio * len(real))))
    translator_options = dict(options.translator_options or {})
    bitext = [(p.lr, p.en) for p in real]
    extra: dict[str, Any] = {}
    if kind == "code-switch":
        generate, description, fit_seconds = _code_switch_generator(
            translator,
            lexicon,
            bitext,
            translator_options,
            ibm1_iterations=ibm1_iterations,
            rate=rate,
            min_prob=min_prob,
            seed=seed,
            progress=progress,
            extra=extra,
        )
    else:
        generate, description, fit_seconds = _translation_generator(kind, translator, bitext, translator_options, ibm1_iterations, progress)
    t1 = time.perf_counter()
    synthetic, used = _generate_until(pool, wanted, generate)
    generate_seconds = time.perf_counter() - t1
    if kind == "code-switch":
        stats = extra.pop("_stats")
        extra.update(
            rate=rate,
            min_prob=min_prob,
            lexicon_entries=extra.pop("_lexicon_entries"),
            words_replaceable=stats["replaceable"],
            words_replaced=stats["replaced"],
            replaced_share=round(stats["replaced"] / stats["replaceable"], 4) if stats["replaceable"] else None,
        )
    pairs, counts = mix(real, synthetic, ratio, seed)
    default_source = {
        "back-translation": "low-resource monolingual text",
        "forward-translation": "English text",
        "code-switch": "English text",
    }[kind]
    provenance = augmentation_provenance(kind, counts["synthetic"], description, ratio, source or default_source)
    provenance.update(counts)
    provenance.update(
        source_texts=len(pool),
        source_texts_translated=used,
        size_requested=size,
        seed=seed,
        **extra,
        seconds={"fit": round(fit_seconds, 3), "generate": round(generate_seconds, 3), "total": round(time.perf_counter() - started, 3)},
    )
    return pairs, provenance


def _source_pool(kind: str, texts: Sequence[str] | None, size, seed: int) -> list[str]:
    """The texts synthetic pairs are made from: low-resource text for back-translation, English otherwise."""
    if not texts:
        wanted = (
            "low-resource sentences (e.g. the Chichewa verses of the built collections, monolingual/nya.jsonl)"
            if kind == "back-translation"
            else "English sentences (e.g. the English verses of the built collections, monolingual/eng.jsonl)"
        )
        raise ValueError(f"{kind} needs texts: {wanted}.")
    return select_texts(texts, size, seed)


def _code_switch_lexicon(
    translator: Any, bitext, options: dict, ibm1_iterations: int, min_prob: float, progress: bool, extra: dict
) -> tuple[dict, dict | str, float]:
    """An English -> low-resource lexicon from ``translator`` (``"ibm1"``: IBM Model 1 fitted
    on the bitext in the reverse direction); returns ``(lexicon, description, fit seconds)``."""
    fit_seconds = 0.0
    if isinstance(translator, str) and translator.strip().lower() in _IBM1_NAMES:
        t0 = time.perf_counter()
        translator = IBMModel1(direction="reverse", src_lang=options.get("src_lang", "en"), tgt_lang=options.get("tgt_lang", "lr"))
        translator.fit(bitext, n_iter=ibm1_iterations, progress=progress)
        fit_seconds = time.perf_counter() - t0
    elif isinstance(translator, str):
        raise ValueError(
            f"code-switch needs a bilingual lexicon: use translator='ibm1' (learnt from the bitext) or pass lexicon=...; "
            f"{translator!r} is a sentence translator."
        )
    if not hasattr(translator, "lexicon"):
        raise ValueError(f"{type(translator).__name__} has no lexicon(); pass lexicon=... for code-switching.")
    lexicon = translator.lexicon(top_k=1, min_prob=min_prob)
    if _is_ibm1(translator) and translator.target_null:
        # English words whose most probable counterpart is the empty word ("in", "is",
        # "didn't" against Chichewa) have no lexical translation: keep them in English.
        before = len(lexicon)
        lexicon = {w: e for w, e in lexicon.items() if translator.candidates(w, 1)[0][0] != NULL}
        extra["lexicon_null_words_dropped"] = before - len(lexicon)
    return lexicon, _describe(translator), fit_seconds


def _code_switch_generator(
    translator: Any,
    lexicon,
    bitext,
    options: dict,
    *,
    ibm1_iterations: int,
    rate: float,
    min_prob: float,
    seed: int,
    progress: bool,
    extra: dict,
):
    """``(generate, description, fit seconds)`` for code-switching; the replacement counts
    accumulate in ``extra["_stats"]``."""
    if lexicon is None:
        lexicon, description, fit_seconds = _code_switch_lexicon(translator, bitext, options, ibm1_iterations, min_prob, progress, extra)
    else:
        description, fit_seconds = {"kind": "lexicon", "entries": len(lexicon)}, 0.0
    stats = extra["_stats"] = {"replaceable": 0, "replaced": 0}
    extra["_lexicon_entries"] = len(lexicon)

    def generate(texts: list[str], chunk: int) -> list[SentencePair]:
        counts: dict[str, int] = {}
        out = code_switch(texts, lexicon, rate=rate, seed=seed + chunk, min_prob=min_prob, stats=counts)
        stats["replaceable"] += counts["replaceable"]
        stats["replaced"] += counts["replaced"]
        return out

    return generate, description, fit_seconds


def _translation_generator(kind: str, translator: Any, bitext, options: dict, ibm1_iterations: int, progress: bool):
    """``(generate, description, fit seconds)`` for back- or forward translation."""
    fit_seconds = 0.0
    if isinstance(translator, str):
        t0 = time.perf_counter()
        if translator.strip().lower() in _IBM1_NAMES:
            direction = "forward" if kind == "back-translation" else "reverse"
            languages = ("lr", "en") if direction == "forward" else ("en", "lr")
            options.setdefault("src_lang", languages[0])
            options.setdefault("tgt_lang", languages[1])
            translator = make_translator("ibm1", bitext=bitext, direction=direction, n_iter=ibm1_iterations, progress=progress, **options)
        else:
            translator = make_translator(translator, **options)
        fit_seconds = time.perf_counter() - t0

    def generate(texts: list[str], chunk: int) -> list[SentencePair]:
        if kind == "back-translation":
            return back_translate(texts, translator)
        return forward_translate(texts, translator)

    return generate, _describe(translator), fit_seconds


def _generate_until(pool: list[str], wanted: int, generate) -> tuple[list[SentencePair], int]:
    """Translate only what the mix can use: the pool in order, in chunks, until ``wanted``
    pairs exist (a text can yield nothing: an empty translation, no word replaced).
    Returns the synthetic pairs and how many texts of the pool were used."""
    synthetic: list[SentencePair] = []
    used = chunk = 0
    while used < len(pool) and len(synthetic) < wanted:
        missing = wanted - len(synthetic)
        take = min(len(pool) - used, missing + max(8, missing // 10))
        for pair in generate(pool[used : used + take], chunk):
            prefix, _, index = pair.id.rpartition("-")
            synthetic.append(SentencePair(pair.lr, pair.en, f"{prefix}-{used + int(index)}"))
        used += take
        chunk += 1
    return synthetic, used


# --------------------------------------------------------------------------- training integration


def augment_training_pairs(
    options: AugmentationOptions,
    pairs: Sequence[SentencePair],
    texts: TextSource | None = None,
    *,
    seed: int = 42,
    ibm1_iterations: int = 10,
    progress: bool = False,
) -> tuple[list[SentencePair], dict]:
    """:func:`build_augmented_bitext` driven by a run's augmentation options
    (:class:`~optical_bench.config.AugmentationOptions`).

    ``texts`` are the monolingual texts the run's data gives this kind
    (:class:`~optical_bench.data.sources.TrainingData`: low-resource sentences for back-translation,
    English ones never paired with the bitext for forward translation and code-switching); without
    them, the file the options name.  Returns ``(pairs, provenance)``."""
    kind = normalize_kind(options.kind)
    if kind == "none":
        return build_augmented_bitext(pairs, options)
    path = options.monolingual if kind == "back-translation" else options.english
    if texts is None:
        texts = TextSource(Path(path) if path else None, str(path) if path else "no texts were given")
    if texts.path is None:
        flag = "--augmentation-monolingual" if kind == "back-translation" else "--augmentation-english"
        raise ValueError(f"{kind} needs monolingual texts: {texts.description}. Fix: pass {flag} FILE.")
    return build_augmented_bitext(
        pairs,
        options,
        read_monolingual(texts.path),
        seed=int(seed),
        ibm1_iterations=int(ibm1_iterations),
        source=texts.description,
        progress=progress,
    )
