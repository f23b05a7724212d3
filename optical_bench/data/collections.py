"""Build the embedded default collections (deterministic) as BEIR folders.

Layout under ``<home>/collections/<build-id>/``::

    bible-test/            nya verse queries -> English verses of the test books (qrels/test.tsv)
    bible-test-oracle/     the same with the English twin of each query
    bible-dev/             same construction on the dev books (qrels/dev.tsv)
    bible-prophets/        genre shift: nya verses of prophetic books (Ezekiel to Malachi) -> their
                           English verses; no prophetic book is in the bitext (qrels/test.tsv)
    bible-prophets-oracle/ the same with the English twin of each query
    udhr-<lang>/           UDHR paragraphs in <lang> -> English paragraphs (qrels/test.tsv)
    udhr-eng-oracle/       English paragraphs as queries (oracle)
    bitext/train-<N>.jsonl nested training sizes (each a prefix of the next)
    bitext/train-all.jsonl every training pair (shuffled)
    monolingual/nya.jsonl  Chichewa verses of the monolingual books (Isaiah, Jeremiah, Lamentations:
                           the prophets' genre, never the test verses; English withheld)
    monolingual/eng.jsonl  English verses of the same books (for synthetic data only)
    build.json             sizes, book lists, seed, content hash of every folder

Splits are by book, so no verse of a test or dev book is ever seen in training.
Known-item retrieval: each query has exactly one relevant document, its translation.

**A powered genre shift.** The 60 UDHR queries give a 95% interval of about +-0.10 R@1: too
few to see any plausible effect. The prophetic books are a shift in register and vocabulary
(oracles, visions, poetry) away from the bitext's narrative, law, wisdom, gospels and
letters, with thousands of verses: ``bible-prophets`` takes 2,000 queries from Ezekiel to
Malachi, and the monolingual text for pre-training (RQ1) and synthetic pairs (RQ2) comes
from the other prophetic books (Isaiah to Lamentations), so augmentation sees the shifted
domain but never a test verse.

**UDHR granularity: paragraphs.** Articles give only 31 documents (chance 1/31), too
few to separate systems; paragraphs give 60 English documents and, for each
language, the paragraphs of every article whose paragraph count equals English's
(so the alignment is exact). Headings ("Article 5") are stripped so numbers cannot
leak.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from optical_bench.assets.texts import BIBLE_BOOKS, VersePair, load_bible, load_udhr
from optical_bench.data.beir import BeirCollection, write_beir_folder
from optical_bench.data.bitext import SentencePair, write_bitext
from optical_bench.io import atomic_write_json, atomic_write_jsonl, home, sha256_folder, sha256_json

logger = logging.getLogger(__name__)

BUILD_FORMAT = 1


def _books(*names: str) -> tuple[int, ...]:
    return tuple(BIBLE_BOOKS.index(name) + 1 for name in names)


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines the built collections; its hash names the build."""

    test_books: tuple[int, ...] = _books("Mark", "Acts", "Romans", "Galatians", "Ephesians", "Hebrews", "James", "1 Peter", "1 John")
    dev_books: tuple[int, ...] = _books(
        "Philippians", "Colossians", "1 Thessalonians", "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon"
    )
    #: Chichewa text of these books is monolingual data (the English side is withheld).
    monolingual_books: tuple[int, ...] = _books("Isaiah", "Jeremiah", "Lamentations")
    #: the genre-shift test books: the rest of the prophets
    genre_books: tuple[int, ...] = tuple(range(_books("Ezekiel")[0], _books("Malachi")[0] + 1))
    test_queries: int = 500
    genre_queries: int = 2000
    dev_queries: int = 200
    train_sizes: tuple[int, ...] = (250, 1000, 4000, 16000)
    udhr_languages: tuple[str, ...] = ("nya", "swh", "som", "hau", "yor", "amh", "tgl", "ibo", "zul", "kin")
    seed: int = 13

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()} | {"format": BUILD_FORMAT}

    @property
    def build_id(self) -> str:
        return sha256_json(self.to_dict())[:12]


@dataclass
class BuildResult:
    root: Path
    config: BuildConfig
    info: dict = field(default_factory=dict)

    def folder(self, name: str) -> Path:
        return self.root / name

    def bitext(self, size: int | str = "all") -> Path:
        return self.root / "bitext" / f"train-{size}.jsonl"

    def monolingual(self, language: str = "nya") -> Path:
        return self.root / "monolingual" / f"{language}.jsonl"


def _verse_collection(pairs: list[VersePair], n_queries: int, seed: int, split: str, forbidden_en: set[str], forbidden_lr: set[str]):
    """Documents: every English verse of ``pairs`` (verbatim duplicates removed).

    Queries: ``n_queries`` Chichewa verses sampled (seeded) among verses whose English
    text is unique in the pool and unseen in training.
    """
    by_text: dict[str, list[VersePair]] = {}
    for pair in pairs:
        by_text.setdefault(pair.eng, []).append(pair)
    corpus = {}
    candidates = []
    for text, group in by_text.items():
        first = group[0]
        corpus[f"d{first.key}"] = {"title": "", "text": text}
        if len(group) == 1 and text not in forbidden_en and first.nya not in forbidden_lr:
            candidates.append(first)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(candidates, min(n_queries, len(candidates))), key=lambda p: p.key)
    queries = {f"q{p.key}": p.nya for p in chosen}
    twins = {f"q{p.key}": p.eng for p in chosen}
    qrels = {split: {f"q{p.key}": {f"d{p.key}": 1} for p in chosen}}
    return BeirCollection(corpus, queries, qrels), BeirCollection(corpus, twins, qrels)


def _udhr_collections(languages: tuple[str, ...], root: Path | None) -> tuple[dict[str, BeirCollection], BeirCollection, dict]:
    english = load_udhr("eng", root)
    corpus = {}
    for article, paragraphs in sorted(english.items()):
        for index, text in enumerate(paragraphs, start=1):
            corpus[f"d{article:02d}p{index:02d}"] = {"title": "", "text": text}
    collections: dict[str, BeirCollection] = {}
    stats = {}
    for language in languages:
        paragraphs_by_article = load_udhr(language, root)
        queries, qrels, skipped = {}, {}, 0
        for article, paragraphs in sorted(paragraphs_by_article.items()):
            english_paragraphs = english.get(article, [])
            if len(paragraphs) != len(english_paragraphs):
                skipped += len(paragraphs)
                continue
            for index, text in enumerate(paragraphs, start=1):
                qid, did = f"q{language}{article:02d}p{index:02d}", f"d{article:02d}p{index:02d}"
                queries[qid] = text
                qrels[qid] = {did: 1}
        collections[language] = BeirCollection(corpus, queries, {"test": qrels})
        stats[language] = {"queries": len(queries), "skipped_paragraphs": skipped}
    oracle_queries = {f"qeng{did[1:]}": doc["text"] for did, doc in corpus.items()}
    oracle = BeirCollection(corpus, oracle_queries, {"test": {f"qeng{did[1:]}": {did: 1} for did in corpus}})
    return collections, oracle, stats


def changed_folders(base: Path, info: dict) -> list[str]:
    """The folders of a build whose files no longer hash to what ``build.json`` recorded (edited,
    deleted or missing)."""
    recorded = info.get("content_hash") or {}
    return [name for name, digest in sorted(recorded.items()) if not (base / name).is_dir() or sha256_folder(base / name)[:16] != digest]


def build_collections(
    config: BuildConfig | None = None, root: Path | None = None, out: Path | None = None, force: bool = False, verify: bool = False
) -> BuildResult:
    """Build (or reuse) every default collection; idempotent and deterministic. ``verify``: reuse
    a build only if its files still hash to what ``build.json`` recorded, else build it again
    (``optical-bench build`` does; loading a task checks its own folders' hashes instead)."""
    config = config or BuildConfig()
    base = out or (root or home()) / "collections" / config.build_id
    info_path = base / "build.json"
    if info_path.exists() and not force:
        import json

        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("config") == config.to_dict():
            changed = changed_folders(base, info) if verify else []
            if not changed:
                return BuildResult(base, config, info)
            logger.warning("%s: %s changed since the build (edited or deleted files); building again.", base, ", ".join(changed))
    splits = (config.test_books, config.dev_books, config.monolingual_books, config.genre_books)
    overlap = {book for i, a in enumerate(splits) for b in splits[i + 1 :] for book in set(a) & set(b)}
    if overlap:
        raise ValueError(f"Books {sorted(overlap)} are in more than one of test/dev/monolingual/genre: the splits must be disjoint.")

    pairs = load_bible(root)
    held_out = set(config.test_books) | set(config.dev_books) | set(config.monolingual_books) | set(config.genre_books)
    train = [p for p in pairs if p.book not in held_out]
    train_en = {p.eng for p in train}
    train_lr = {p.nya for p in train}

    test, test_oracle = _verse_collection(
        [p for p in pairs if p.book in config.test_books], config.test_queries, config.seed, "test", train_en, train_lr
    )
    dev, dev_oracle = _verse_collection(
        [p for p in pairs if p.book in config.dev_books], config.dev_queries, config.seed + 1, "dev", train_en, train_lr
    )
    write_beir_folder(base / "bible-test", test)
    write_beir_folder(base / "bible-test-oracle", test_oracle)
    write_beir_folder(base / "bible-dev", dev)
    write_beir_folder(base / "bible-dev-oracle", dev_oracle)
    genre, genre_oracle = _verse_collection(
        [p for p in pairs if p.book in config.genre_books], config.genre_queries, config.seed + 2, "test", train_en, train_lr
    )
    write_beir_folder(base / "bible-prophets", genre)
    write_beir_folder(base / "bible-prophets-oracle", genre_oracle)

    udhr, udhr_oracle, udhr_stats = _udhr_collections(config.udhr_languages, root)
    for language, collection in udhr.items():
        write_beir_folder(base / f"udhr-{language}", collection)
    write_beir_folder(base / "udhr-eng-oracle", udhr_oracle)

    rng = random.Random(config.seed)
    shuffled = train[:]
    rng.shuffle(shuffled)
    train_pairs = [SentencePair(p.nya, p.eng, p.key) for p in shuffled]
    if max(config.train_sizes) > len(train_pairs):
        raise ValueError(f"The largest train size {max(config.train_sizes)} exceeds the {len(train_pairs)} training pairs.")
    write_bitext(base / "bitext" / "train-all.jsonl", train_pairs)
    for size in config.train_sizes:
        write_bitext(base / "bitext" / f"train-{size}.jsonl", train_pairs[:size])
    mono = [p for p in pairs if p.book in config.monolingual_books]
    atomic_write_jsonl(base / "monolingual" / "nya.jsonl", ({"id": p.key, "text": p.nya} for p in mono))
    atomic_write_jsonl(base / "monolingual" / "eng.jsonl", ({"id": p.key, "text": p.eng} for p in mono))

    folders = sorted(p.name for p in base.iterdir() if p.is_dir())
    info = {
        "config": config.to_dict(),
        "build_id": config.build_id,
        "books": {
            "test": [BIBLE_BOOKS[b - 1] for b in config.test_books],
            "dev": [BIBLE_BOOKS[b - 1] for b in config.dev_books],
            "monolingual": [BIBLE_BOOKS[b - 1] for b in config.monolingual_books],
            "genre": [BIBLE_BOOKS[b - 1] for b in config.genre_books],
            "train": sorted({BIBLE_BOOKS[p.book - 1] for p in train}, key=BIBLE_BOOKS.index),
        },
        "sizes": {
            "bible-test": {"queries": len(test.queries), "documents": len(test.corpus)},
            "bible-dev": {"queries": len(dev.queries), "documents": len(dev.corpus)},
            "bible-prophets": {"queries": len(genre.queries), "documents": len(genre.corpus)},
            "udhr": {"documents": len(udhr_oracle.corpus), **{k: v for k, v in udhr_stats.items()}},
            "bitext": {"train-all": len(train_pairs), **{f"train-{s}": s for s in config.train_sizes}},
            "monolingual": {"nya": len(mono)},
        },
        "content_hash": {name: sha256_folder(base / name)[:16] for name in folders},
    }
    atomic_write_json(info_path, info)
    return BuildResult(base, config, info)


def built_collections_root() -> Path:
    """The folder of the default build (built on first use): where the built-in tasks read their collections."""
    return build_collections().root
