"""The texts a training run reads, decided once, at the top: :func:`resolve_training_data`.

The command line and the experiment runner call :func:`resolve_training_data` on a run's data
options (:class:`DataOptions`, taken from its ``TrainConfig`` by :meth:`DataOptions.of_run`) and
pass the :class:`TrainingData` it returns down to training; nothing below decides on its own
where a text comes from. The options read here are the run's data:

======================================  ===========================================================
``bitext``                              a named source (below), a ``.jsonl``/``.tsv`` file, or none:
                                        the Chichewa Bible bitext built by ``optical-bench build``
``bitext_size``                         pairs taken: a nested prefix, so 250 of a source lie within its 1,000
``dev_collection``                      a BEIR folder for checkpoint selection (default: the source's dev)
``linear_map_english_file``             English sentences for the linear map (default: the source's)
``mlm_corpus``, ``augmentation_*``      monolingual texts (default: the source's)
``dev``, ``mlm_texts``, ``linear_map``  whether the run reads a dev split, MLM texts, English for the map
======================================  ===========================================================

Named bitext sources:

- ``mafand-<lang>``: the MAFAND-MT news bitext (Adelani et al., NAACL 2022; data CC BY-NC 4.0),
  ``data/text_files/en-<lang>/train.{en,<lang>}`` of the GitHub repository
  ``masakhane-io/lafand-mt``, its ``dev`` split as the dev collection (news sentences against
  their English translations, known-item) and the English side of its train split beyond the
  pairs taken as the linear map's English pool. Downloaded once into the cache, or read from a
  clone under ``--hub-dir`` / ``$OPTICAL_BENCH_HUB_DIR`` (``<hub_dir>/github.com/masakhane-io/lafand-mt``).
  MAFAND-MT has no monolingual side: MLM and augmentation need ``mlm_corpus`` /
  ``augmentation_monolingual`` / ``augmentation_english`` files or named texts with it.

- ``afriqa-<lang>-bitext`` and ``afriqa-bitext`` (every English-pivot language pooled): AfriQA's
  train questions paired with their human English translations (``question``,
  ``translated_question``; CC BY 4.0), bitext of the questions' own domain
  (:mod:`optical_bench.data.afriqa_bitext`): a fixed tenth of each language's pairs is held out as
  the dev collection (questions against their translations, known-item), and a question that also
  occurs in AfriQA's dev split is never taken.

Named monolingual texts (for ``mlm_corpus``, ``augmentation_monolingual``, ``augmentation_english``),
from train splits only, so that nothing a run reads is ever evaluated:

- ``afriqa-<lang>-questions``: the questions of AfriQA's train split in that language (the
  ``question`` field of ``data/queries/<lang>/queries.afriqa.<lang>.en.train.json`` of
  ``masakhane-io/afriqa``), unlabelled: text of the target domain, never paired;
- ``afriqa-<lang>-questions-en``: the human English translations of the same train questions
  (``translated_question``): English of the target domain, for forward translation and
  code-switching;
- ``mafand-<lang>-beyond``: the ``<lang>`` side of the MAFAND-MT train pairs that the bitext does
  not take (``bitext = "mafand-<lang>"`` with ``bitext_size`` N: the pairs after the first N of
  the fixed shuffle): news text of the bitext's domain, never paired.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from optical_bench.config import normalize_kind
from optical_bench.data.beir import known_item_collection, write_beir_folder
from optical_bench.data.bitext import SentencePair, interleave, read_bitext, write_bitext
from optical_bench.io import ENV_HUB_DIR, atomic_write_text, home, mirror_dir

if TYPE_CHECKING:
    from optical_bench.config import TrainConfig

__all__ = [
    "ENV_HUB_DIR",
    "MAFAND",
    "DataOptions",
    "TextSource",
    "TrainingData",
    "named_collection",
    "named_source",
    "named_texts",
    "resolve_training_data",
]

MAFAND = {
    "repo": "masakhane-io/lafand-mt",
    "revision": "main",
    "dataset": "masakhane/mafand",  # the hub copy, for model cards
    "citation": "Adelani et al., A Few Thousand Translations Go a Long Way! (NAACL 2022); data CC BY-NC 4.0",
    # language -> pairs in train (0: dev only); the English-pivot folders en-<lang>
    "train_pairs": {"hau": 3098, "ibo": 6998, "swa": 30782, "yor": 6644, "zul": 3500, "twi": 3337, "nya": 0, "kin": 0},
}
_SHUFFLE_SEED = 0  # the order of a named source's pairs: fixed, so smaller sizes are prefixes of larger ones

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextSource:
    """A file of texts and what it is, for provenance and the model card."""

    path: Path | None
    description: str


@dataclass(frozen=True)
class DataOptions:
    """The options of a run that choose its texts (the table above); every text beyond the bitext
    is off unless asked for. :meth:`of_run` takes them from a ``TrainConfig``."""

    bitext: str | None  # a named source, a file, or None: the built Bible
    bitext_size: int
    dev: bool = False  # whether checkpoints are chosen on a dev split
    dev_collection: str | None = None
    linear_map_english_texts: int = 0  # English sentences a linear map adds to its fit (0: none, or no map)
    linear_map_english_file: str = ""
    mlm: bool = False  # whether the run pre-trains with MLM (MLMOptions.enabled)
    mlm_corpus: str | None = None
    augmentation_kind: str = "none"  # canonical (normalize_kind)
    augmentation_monolingual: str | None = None
    augmentation_english: str | None = None

    @classmethod
    def of_run(cls, config: TrainConfig) -> DataOptions:
        """The data options of the run ``config``."""
        return cls(
            bitext=config.bitext,
            bitext_size=config.bitext_size,
            dev=config.checkpoints.dev,
            dev_collection=config.checkpoints.dev_collection,
            linear_map_english_texts=config.linear_map_english_texts if config.linear_map != "none" else 0,
            linear_map_english_file=config.linear_map_english_file,
            mlm=config.mlm.enabled,
            mlm_corpus=config.mlm.corpus,
            augmentation_kind=normalize_kind(config.augmentation.kind),
            augmentation_monolingual=config.augmentation.monolingual,
            augmentation_english=config.augmentation.english,
        )


@dataclass(frozen=True)
class TrainingData:
    """Every text a run reads, resolved from its options (:func:`resolve_training_data`); a
    :class:`TextSource` without a path says why there is none (shown if a step asks for it)."""

    bitext: TextSource  # a .jsonl/.tsv bitext, already cut to the run's size
    dataset_id: str | None  # a hub dataset id for the model card's ``datasets`` (None: the file's name)
    languages: tuple[str, ...] | None  # ISO 639-3 codes of the bitext's two sides, for the card (None: Chichewa and English)
    dev_collection: Path | None  # a BEIR folder for checkpoint selection
    english_pool: TextSource  # English sentences outside the bitext for the linear map (a bitext: its English side)
    mlm_texts: TextSource  # low-resource sentences for MLM pre-training
    augmentation_lr: TextSource  # low-resource sentences for back-translation
    augmentation_en: TextSource  # English sentences never paired with the bitext (forward translation, code-switching)
    english_side: str = "query"  # how the teacher reads a pair's English side: "query" (a translation) or "document" (a passage)

    def pairs(self) -> list[SentencePair]:
        """The run's bitext pairs (a one-line error where its source has none)."""
        if self.bitext.path is None:
            raise ValueError(f"{self.bitext.description}.")
        return read_bitext(self.bitext.path)

    @staticmethod
    def english_texts(path: Path) -> list[str]:
        """English sentences of a file: a bitext's English side, or one sentence per line."""
        if path.suffix in (".jsonl", ".tsv"):
            return [pair.en for pair in read_bitext(path)]
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def resolve_training_data(options: DataOptions, hub_dir: Path | str | None = None) -> TrainingData:
    """The texts of a run with these data ``options``: its bitext (a named source, a file, or the built Bible),
    then for each other text the file its option names, else the source's own; the Bible's
    collections are built only when a step of this run needs one of them."""
    hub_dir = mirror_dir(hub_dir)
    if options.bitext and "+" in options.bitext and not Path(options.bitext).is_file():
        source = _combined(options.bitext, options.bitext_size, hub_dir)
    elif options.bitext and _is_named(options.bitext):
        source = _named_bitext(options.bitext, options.bitext_size, hub_dir)
    elif options.bitext:
        if not Path(options.bitext).is_file():
            known = ", ".join(f"mafand-{k}" for k, v in sorted(MAFAND["train_pairs"].items()) if v)
            raise FileNotFoundError(
                f"--bitext {options.bitext}: no such file, and not a named source. Fix: pass a .jsonl/.tsv bitext, or one of {known}."
            )
        bible = _bible_data(options.bitext_size) if _needs_bible_texts(options) else None
        source = TrainingData(
            TextSource(Path(options.bitext), str(options.bitext)),
            None,
            None,
            *(
                (bible.dev_collection, bible.english_pool, bible.mlm_texts, bible.augmentation_lr, bible.augmentation_en)
                if bible
                else (None,) + (TextSource(None, "not needed by this run"),) * 4
            ),
        )
    else:
        source = _bible_data(options.bitext_size)
    return TrainingData(
        bitext=source.bitext,
        dataset_id=source.dataset_id,
        languages=source.languages,
        dev_collection=Path(options.dev_collection) if options.dev_collection else source.dev_collection,
        english_pool=_given(options.linear_map_english_file) or source.english_pool,
        mlm_texts=_given(options.mlm_corpus, options, hub_dir) or source.mlm_texts,
        augmentation_lr=_given(options.augmentation_monolingual, options, hub_dir) or source.augmentation_lr,
        augmentation_en=_given(options.augmentation_english, options, hub_dir) or source.augmentation_en,
        english_side=source.english_side,
    )


def _is_named(bitext: str) -> bool:
    return bool(afriqa_bitext_languages(bitext) or named_source(bitext))


def _named_bitext(name: str, size: int, hub_dir) -> TrainingData:
    if afriqa_bitext_languages(name):
        return _afriqa_questions(name, size, hub_dir)
    return _mafand(named_source(name), size, hub_dir)


def _combined(names: str, size: int, hub_dir) -> TrainingData:
    """``<source>+<source>``: the named sources' pairs, one of each in turn (a prefix of N spreads
    over them), ``size`` of them; the dev collection and English pool of the last source (the one
    added), the languages of all. Sources whose English sides differ (translations and passages) are refused."""
    parts = names.split("+")
    unknown = [part for part in parts if not _is_named(part)]
    if unknown or len(parts) != len(set(parts)):
        raise ValueError(
            f"--bitext {names}: {', '.join(unknown) or 'a source named twice'} is not a named source. Fix: join distinct named "
            "sources with +, e.g. mafand-hau+afriqa-bitext."
        )
    sources = [_named_bitext(part, ALL_PAIRS, hub_dir) for part in parts]
    if len({source.english_side for source in sources}) > 1:
        raise ValueError(f"--bitext {names}: translations and passages cannot be pooled. Fix: train on one, then the other (student_init).")
    pairs = [read_bitext(source.bitext.path) for source in sources]
    order = interleave(pairs)
    _check_size(names, size, len(order))
    taken = order[:size]
    digest = hashlib.sha256("\0".join(f"{p.lr}\t{p.en}" for p in order).encode("utf-8")).hexdigest()[:12]
    bitext = home() / "sources" / f"{names}-{digest}" / f"train-{len(taken)}.jsonl"
    if not bitext.exists():
        write_bitext(bitext, taken)
    last = sources[-1]
    languages = tuple(dict.fromkeys(code for source in sources for code in (source.languages or ("nya", "eng"))))
    described = "; ".join(source.bitext.description for source in sources)
    return replace(
        last, bitext=TextSource(bitext, f"{len(taken)} pairs, one of each in turn, of: {described}"), dataset_id=None, languages=languages
    )


def _given(value: str | None, options: DataOptions | None = None, hub_dir=None) -> TextSource | None:
    """A text file an option names, or a named text (:func:`named_texts`)."""
    if not value:
        return None
    named = named_texts(str(value), options, hub_dir) if options is not None else None
    return named or TextSource(Path(value), str(value))


_AFRIQA_TEXTS = {"-questions": "question", "-questions-en": "translated_question"}


def named_texts(value: str, options: DataOptions, hub_dir=None) -> TextSource | None:
    """The texts of a name (``afriqa-<lang>-questions``, ``afriqa-<lang>-questions-en``,
    ``mafand-<lang>-beyond``; see the module's docstring), written once into the cache; ``None``
    for anything else (a file path). An unknown language is refused with the known ones."""
    if value.startswith("afriqa-"):
        for suffix, field in sorted(_AFRIQA_TEXTS.items(), key=lambda item: -len(item[0])):
            if value.endswith(suffix):
                return _afriqa_train_texts(value, value[len("afriqa-") : -len(suffix)], field, hub_dir)
        return None
    if value.startswith("mafand-") and value.endswith("-beyond"):
        language = value[len("mafand-") : -len("-beyond")]
        if named_source(options.bitext or "") != language:
            raise ValueError(
                f'{value}: the news beyond a bitext needs that bitext. Fix: set bitext = "mafand-{language}" in the same run '
                f"(bitext is {options.bitext!r})."
            )
        return _mafand_beyond(language, options.bitext_size, hub_dir)
    return None


def named_collection(name: str, hub_dir=None) -> Path | None:
    """The BEIR folder of a named evaluation collection, ``mafand-<lang>-dev``: MAFAND-MT's dev
    split of that language as known-item retrieval (news sentences against their English
    translations, split ``dev``; the dev collection of a ``mafand-<lang>`` run), for an
    experiment's ``beir`` list; ``None`` for anything else (a folder path)."""
    if not (name.startswith("mafand-") and name.endswith("-dev")):
        return None
    language = name[len("mafand-") : -len("-dev")]
    if language not in MAFAND["train_pairs"]:
        known = ", ".join(f"mafand-{code}-dev" for code in sorted(MAFAND["train_pairs"]))
        raise ValueError(f"beir = [{name!r}]: MAFAND-MT has no English-{language} folder. Fix: name one of {known}, or a BEIR folder.")
    language = named_source(f"mafand-{language}")  # a language with train pairs (its dev collection comes with them)
    return _mafand(language, ALL_PAIRS, mirror_dir(hub_dir)).dev_collection


def _shuffled(pairs: list[SentencePair]) -> list[SentencePair]:
    """A named source's pairs in its fixed order: a prefix of N is its bitext of size N."""
    order = list(pairs)
    random.Random(_SHUFFLE_SEED).shuffle(order)
    return order


def _texts_file(name: str, texts: list[str]) -> Path:
    """``texts`` one per line in the cache, ``<name>-<digest>.txt``: written once, keyed by its content."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:12]
    out = home() / "sources" / f"{name}-{digest}.txt"
    if not out.exists():
        atomic_write_text(out, "".join(text + "\n" for text in texts))
    return out


def _afriqa_train_texts(value: str, language: str, field: str, hub_dir) -> TextSource:
    from optical_bench.cards import load_cards
    from optical_bench.data.afriqa import _read_lines, afriqa_file

    card = load_cards()["AfriQARetrieval"]
    known = sorted({subset["vars"]["code"] for subset in card.subsets.values() if subset["vars"].get("pivot") == "en"})
    if language not in known:
        raise ValueError(f"{value}: AfriQA has no English-pivot questions in {language!r}. Fix: use one of {', '.join(known)}.")
    path = afriqa_file(card, "queries", language, "en", "train", Path(hub_dir) if hub_dir else None)
    texts = list(
        dict.fromkeys(str(record[field]).strip() for _, record in _read_lines(path, language) if str(record.get(field) or "").strip())
    )
    out = _texts_file(value, texts)
    what = "questions" if field == "question" else "English translations of the questions"
    return TextSource(out, f"AfriQA {language} train split, {len(texts)} {what} (github.com/masakhane-io/afriqa, CC BY 4.0), unlabelled")


def _mafand_beyond(language: str, size: int, hub_dir) -> TextSource:
    order = _shuffled(_mafand_split(language, "train", hub_dir))
    taken = {pair.lr for pair in order[:size]}
    texts = list(dict.fromkeys(pair.lr for pair in order[size:] if pair.lr not in taken))
    out = _texts_file(f"mafand-{language}-beyond-{size}", texts)
    return TextSource(out, f"MAFAND-MT en-{language} train split, the {len(texts)} {language} news sentences beyond the {size} pairs taken")


def _needs_bible_texts(options: DataOptions) -> bool:
    """Whether a run on a bitext file reads a default that only the built Bible has (as before
    named sources: its dev books, its English pool, its withheld books)."""
    return bool(
        (options.dev and not options.dev_collection)
        or (options.linear_map_english_texts > 0 and not options.linear_map_english_file)
        or (options.mlm and not options.mlm_corpus)
        or (options.augmentation_kind != "none" and not (options.augmentation_monolingual and options.augmentation_english))
    )


# --------------------------------------------------------------------------- the Chichewa Bible


def _bible_data(size: int) -> TrainingData:
    from optical_bench.data.collections import build_collections

    build = build_collections()
    path = build.bitext(size)
    withheld = f"of the books whose bitext is withheld (optical-bench build {build.config.build_id})"
    chichewa = build.monolingual("nya")
    return TrainingData(
        bitext=TextSource(
            path if path.exists() else None,
            f"Chichewa Bible / World English Bible, training books (optical-bench build {build.config.build_id}), {size} pairs"
            if path.exists()
            else f"No built bitext of size {size}: choose --bitext-size from {list(build.config.train_sizes)} or pass --bitext FILE",
        ),
        dataset_id=None,
        languages=None,
        dev_collection=build.folder("bible-dev"),
        english_pool=TextSource(build.bitext("all"), f"{build.bitext('all')} (English side)"),
        mlm_texts=TextSource(
            chichewa, f"Chichewa Bible verses of the books whose English side is withheld (optical-bench build {build.config.build_id})"
        ),
        augmentation_lr=TextSource(chichewa, f"low-resource (Chichewa) verses {withheld}"),
        augmentation_en=TextSource(build.monolingual("eng"), f"English (World English Bible) verses {withheld}"),
    )


# --------------------------------------------------------------------------- MAFAND-MT


AFRIQA_ENGLISH_PIVOT = ("bem", "hau", "ibo", "kin", "swa", "twi", "yor", "zul")  # AfriQA's questions with English translations


AFRIQA_NO_TRAIN_GOLD = ("swa",)  # English-pivot languages without gold passages in AfriQA's train split upstream
_AFRIQA_KINDS = {"bitext": "question/translation pairs", "gold-passages": "question/gold-passage pairs"}


def afriqa_bitext_languages(bitext: str) -> tuple[str, ...] | None:
    """The languages of a named AfriQA source: ``afriqa-<lang>-bitext`` / ``afriqa-<lang>-gold-passages``
    one language, ``afriqa-bitext`` / ``afriqa-gold-passages`` every English-pivot language pooled
    (the gold passages: those with train gold passages); ``None`` for any other name."""
    kind = next(
        (kind for kind in _AFRIQA_KINDS if bitext.startswith("afriqa-") and bitext.endswith("-" + kind) or bitext == f"afriqa-{kind}"), None
    )
    if kind is None:
        return None
    known = tuple(code for code in AFRIQA_ENGLISH_PIVOT if kind == "bitext" or code not in AFRIQA_NO_TRAIN_GOLD)
    if bitext == f"afriqa-{kind}":
        return known
    language = bitext[len("afriqa-") : -len("-" + kind)]
    if language not in known:
        raise ValueError(
            f"--bitext {bitext}: AfriQA has no English-pivot {_AFRIQA_KINDS[kind]} in {language!r}. Fix: use afriqa-{kind} (pooled) or one of "
            + ", ".join(f"afriqa-{code}-{kind}" for code in known)
            + "."
        )
    return (language,)


def _check_size(source: str, size: int, available: int | None = None) -> None:
    """A named source's ``bitext_size``: at least 1 (refused, before anything is written); beyond the
    ``available`` pairs, all are used (said)."""
    if size < 1:
        raise ValueError(f"--bitext-size {size}: at least 1 pair. Fix: give a size from 1 to {available or 'the pairs it has'}.")
    if available is not None and available < size < ALL_PAIRS:
        logger.warning("--bitext-size %d: %s has %d train pairs; all %d are used.", size, source, available, available)


def _afriqa_questions(name: str, size: int, hub_dir) -> TrainingData:
    """``afriqa-<lang>-bitext`` / ``afriqa-bitext`` and ``afriqa-<lang>-gold-passages`` /
    ``afriqa-gold-passages`` (:mod:`optical_bench.data.afriqa_bitext`)."""
    from optical_bench.data.afriqa_bitext import WHERE, afriqa_question_bitext

    _check_size(name, size)
    languages = afriqa_bitext_languages(name)
    passages = name.endswith("gold-passages")
    made = afriqa_question_bitext(name, languages, size, hub_dir, passages=passages)
    _check_size(name, size, made.total)
    where = WHERE.replace("their human English translations", "their gold English passages") if passages else WHERE
    no_lr = TextSource(None, f"{where}: no monolingual text beyond the pairs (use afriqa-<lang>-questions)")
    return TrainingData(
        bitext=TextSource(
            made.bitext, f"{where}, {', '.join(languages)}: {made.taken} of {made.total} pairs ({made.held_out} held out for dev)"
        ),
        dataset_id=None,
        languages=(*languages, "eng"),
        dev_collection=made.dev_collection,
        english_pool=TextSource(made.english_pool, f"{where}: the English of the pairs beyond the {made.taken} taken"),
        mlm_texts=no_lr,
        augmentation_lr=no_lr,
        augmentation_en=TextSource(None, f"{where}: no English text outside its pairs"),
        english_side="document" if passages else "query",
    )


def named_source(bitext: str) -> str | None:
    """The language of a named source ``mafand-<lang>``, else ``None`` (a file)."""
    prefix = "mafand-"
    if not bitext.startswith(prefix) or "/" in bitext or Path(bitext).suffix:
        return None
    language = bitext[len(prefix) :]
    known = MAFAND["train_pairs"]
    if language not in known:
        raise ValueError(
            f"--bitext {bitext}: MAFAND-MT has no English-{language} folder. Fix: use one of "
            + ", ".join(f"mafand-{k}" for k in sorted(known) if known[k])
            + "."
        )
    if not known[language]:
        raise ValueError(
            f"--bitext {bitext}: MAFAND-MT has only a dev split for {language} (no train pairs). Fix: choose a language with train pairs, or pass the dev files as a --bitext file."
        )
    return language


def _mafand_split(language: str, split: str, hub_dir) -> list[SentencePair]:
    from optical_bench.data.hub import _github_file

    folder = f"data/text_files/en-{language}"
    files = [
        _github_file(MAFAND["repo"], f"{folder}/{split}.{side}", MAFAND["revision"], Path(hub_dir) if hub_dir else None)
        for side in (language, "en")
    ]
    return read_bitext(files)


ALL_PAIRS = 10**9  # the bitext size that takes every pair of a named source (a translator's training data)


def _mafand(language: str, size: int, hub_dir) -> TrainingData:
    """MAFAND-MT en-<language>: ``size`` train pairs (a prefix of a fixed shuffle), its dev split
    as a known-item BEIR folder, the rest of its train English as the English pool; derived files
    are written once into the cache, keyed by the content they come from."""
    train = _mafand_split(language, "train", hub_dir)
    dev = _mafand_split(language, "dev", hub_dir)
    digest = hashlib.sha256("\0".join(f"{p.lr}\t{p.en}" for p in train + dev).encode("utf-8")).hexdigest()[:12]
    folder = home() / "sources" / f"mafand-{language}-{digest}"
    _check_size(f"MAFAND-MT en-{language}", size, len(train))
    order = _shuffled(train)
    taken = order[:size]
    bitext = folder / f"train-{len(taken)}.jsonl"
    if not bitext.exists():
        write_bitext(bitext, [SentencePair(p.lr, p.en, f"train-{p.id}") for p in taken])
    pool = folder / f"english-beyond-{len(taken)}.txt"
    if not pool.exists():
        taken_english = {pair.en for pair in taken}
        beyond = dict.fromkeys(pair.en for pair in order[len(taken) :] if pair.en not in taken_english)
        atomic_write_text(pool, "".join(text + "\n" for text in beyond))
    dev_folder = folder / "dev"
    if not (dev_folder / "qrels" / "dev.tsv").exists():
        write_beir_folder(dev_folder, known_item_collection(dev))
    if not (dev_folder / "task.toml").exists():  # its name and languages when evaluated as a --beir task
        atomic_write_text(
            dev_folder / "task.toml",
            f'name = "MafandNewsDev_{language}"\neval_langs = ["{language}-Latn", "eng-Latn"]\nlow_resource_side = "query"\n'
            f'license = "cc-by-nc-4.0"\ndescription = "MAFAND-MT en-{language} dev: news sentences against their English '
            'translations (known-item)."\n',
        )
    where = f"MAFAND-MT en-{language} (github.com/{MAFAND['repo']}, {MAFAND['citation']})"
    no_lr = TextSource(None, f"{where} has no monolingual {language} text")
    return TrainingData(
        bitext=TextSource(bitext, f"{where}, news, train split: {len(taken)} of {len(train)} pairs"),
        dataset_id=MAFAND["dataset"],
        languages=(language, "eng"),
        dev_collection=dev_folder,
        english_pool=TextSource(
            pool if len(taken) < len(train) else None, f"{where}: every English sentence of its train split is in the bitext"
        ),
        mlm_texts=no_lr,
        augmentation_lr=no_lr,
        augmentation_en=TextSource(None, f"{where} has no English text outside its pairs"),
    )
