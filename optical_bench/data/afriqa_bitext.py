"""AfriQA's train questions and their human English translations as bitext in the questions' own domain.

``afriqa-<lang>-bitext`` (one language) and ``afriqa-bitext`` (every English-pivot language,
pooled) read ``data/queries/<lang>/queries.afriqa.<lang>.en.train.json`` of
``masakhane-io/afriqa`` (the same files as :mod:`optical_bench.data.afriqa`, from the cache or the
mirror) and pair each ``question`` with its ``translated_question``. Per language:

- pairs with an empty side are dropped, a question asked twice upstream is kept once, and every
  pair whose question (or translation) also occurs in AfriQA's dev split is dropped (counted,
  logged): nothing a run trains on is evaluated, nothing held out is trained on;
- the pairs are put in a fixed order (seed 0) and the last tenth (at least 20) is held out as the
  dev collection: each held-out question against every held-out English translation, one relevant
  (known-item, like MAFAND-MT's dev for news), for checkpoint selection away from AfriQA dev;
- the rest, interleaved over languages in that order, is the bitext; ``bitext_size`` N takes its
  first N pairs (nested: 250 lie within 1,000).

The gold passages are not read: a question whose gold passage is null upstream is still a
question with its translation.

``afriqa-<lang>-gold-passages`` and ``afriqa-gold-passages`` are the supervised source: each train
question paired with its gold English passage (``title text``, joined as mteb joins a document),
the same split into train and a held-out tenth (questions against their passages), the same dev
questions never taken. A question whose gold passage is null upstream is left out (counted,
logged). Its English side is a passage, so the teacher reads it as a document (e5: ``passage: ``).
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from optical_bench.data.beir import known_item_collection, write_beir_folder
from optical_bench.data.bitext import SentencePair, interleave, write_bitext
from optical_bench.io import atomic_write_text, home

logger = logging.getLogger(__name__)

__all__ = ["QuestionBitext", "afriqa_question_bitext", "gold_passage_pairs", "question_pairs"]

HELD_OUT_SHARE, HELD_OUT_AT_LEAST = 10, 20  # a tenth of each language's pairs, at least 20, for the dev collection
_ORDER_SEED = 0
WHERE = "AfriQA train questions and their human English translations (github.com/masakhane-io/afriqa, CC BY 4.0)"


def question_pairs(language: str, split: str, hub_dir) -> list[SentencePair]:
    """(question, English translation) of one language and split, in file order; empty sides dropped."""
    from optical_bench.cards import load_cards
    from optical_bench.data.afriqa import _read_lines, afriqa_file

    card = load_cards()["AfriQARetrieval"]
    path = afriqa_file(card, "queries", language, "en", split, Path(hub_dir) if hub_dir else None)
    pairs = []
    for number, record in _read_lines(path, language):
        question, english = str(record.get("question") or "").strip(), str(record.get("translated_question") or "").strip()
        if question and english:
            pairs.append(SentencePair(question, english, f"{language}-{split}-{record['id']}-line{number}"))
    return pairs


def gold_passage_pairs(language: str, split: str, hub_dir) -> list[SentencePair]:
    """(question, its gold English passage) of one language and split, in file order; a question
    whose gold passage is null upstream is left out (:func:`optical_bench.data.afriqa.load_afriqa_subset`)."""
    from optical_bench.cards import load_cards
    from optical_bench.data.afriqa import load_afriqa_subset

    card = load_cards()["AfriQARetrieval"]
    subset = f"{language}-eng"
    collection = load_afriqa_subset(card, subset, split, Path(hub_dir) if hub_dir else None)
    pairs = []
    for qid, relevant in collection.qrels[split].items():
        for doc_id in (doc for doc, grade in relevant.items() if grade > 0):
            doc = collection.corpus[doc_id]
            passage = (str(doc.get("title") or "") + " " + str(doc.get("text") or "")).strip()
            pairs.append(SentencePair(collection.queries[qid].strip(), passage, f"{language}-{split}-{qid}-{doc_id}"))
    asked = len(question_pairs(language, split, hub_dir))
    if asked > len(pairs):
        logger.info(
            "afriqa-%s-gold-passages: %d of %d %s questions have no gold passage upstream; left out.",
            language,
            asked - len(pairs),
            asked,
            split,
        )
    return pairs


def _split_language(language: str, hub_dir, pairs_of=question_pairs) -> tuple[list[SentencePair], list[SentencePair], int]:
    """(train pairs in their fixed order, held-out pairs, pairs dropped because dev holds them)."""
    dev_texts = {text for pair in question_pairs(language, "dev", hub_dir) for text in (pair.lr, pair.en)}
    pairs = pairs_of(language, "train", hub_dir)
    kept = [pair for pair in pairs if pair.lr not in dev_texts and pair.en not in dev_texts]
    order = list({pair.lr: pair for pair in reversed(kept)}.values())[::-1]  # a question asked twice upstream: once

    random.Random(_ORDER_SEED).shuffle(order)
    held = max(HELD_OUT_AT_LEAST, len(order) // HELD_OUT_SHARE)
    return order[:-held], order[-held:], len(pairs) - len(kept)


@dataclass
class QuestionBitext:
    """The files of a question bitext of ``taken`` pairs (of ``total``) and its held-out dev collection."""

    bitext: Path
    taken: int
    total: int
    held_out: int
    dev_collection: Path
    english_pool: Path | None  # the English of the pairs beyond the ones taken (None: every pair taken)


def afriqa_question_bitext(name: str, languages: tuple[str, ...], size: int, hub_dir, passages: bool = False) -> QuestionBitext:
    """``size`` question pairs of ``afriqa-<lang>-bitext`` or ``afriqa-bitext`` (all where ``size``
    exceeds them), the held-out pairs as the dev collection; derived files written once into the
    cache, keyed by the content they come from. ``passages``: each question with its gold passage
    (``afriqa-<lang>-gold-passages``), not its translation."""
    trains, helds, dropped = [], [], 0
    for language in languages:
        train, held, leaked = _split_language(language, hub_dir, gold_passage_pairs if passages else question_pairs)
        trains.append(train)
        helds += held
        dropped += leaked
    order = interleave(trains)
    if dropped:
        logger.info("%s: %d train pairs left out because AfriQA dev holds their question or translation.", name, dropped)
    digest = hashlib.sha256("\0".join(f"{p.lr}\t{p.en}" for p in order + helds).encode("utf-8")).hexdigest()[:12]
    folder = home() / "sources" / f"{name}-{digest}"
    taken = order[:size]
    bitext = folder / f"train-{len(taken)}.jsonl"
    if not bitext.exists():
        write_bitext(bitext, taken)
    dev_folder = folder / "dev"
    if not (dev_folder / "qrels" / "dev.tsv").exists():
        write_beir_folder(dev_folder, known_item_collection(helds))
    if not (dev_folder / "task.toml").exists():  # its name and languages when evaluated as a --beir task
        task = ("AfriQAGoldPassagesHeldOut_" if passages else "AfriQAQuestionsHeldOut_") + ("all" if len(languages) > 1 else languages[0])
        langs = f'"{languages[0]}-Latn"' if len(languages) == 1 else '"mul-Latn"'
        atomic_write_text(
            dev_folder / "task.toml",
            f'name = "{task}"\neval_langs = [{langs}, "eng-Latn"]\nlow_resource_side = "query"\nlicense = "cc-by-4.0"\n'
            f'description = "Held-out AfriQA train questions against their {"gold English passages" if passages else "English translations"} (known-item)."\n',
        )
    beyond = list(dict.fromkeys(pair.en for pair in order[len(taken) :]))
    pool = folder / f"english-beyond-{len(taken)}.txt"
    if beyond and not pool.exists():
        atomic_write_text(pool, "".join(text + "\n" for text in beyond))
    return QuestionBitext(bitext, len(taken), len(order), len(helds), dev_folder, pool if beyond else None)
