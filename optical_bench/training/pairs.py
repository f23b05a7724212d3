"""The training pairs: the bitext of a run, and the seeded samples drawn from it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import SentencePair, read_bitext
from optical_bench.data.collections import build_collections


def load_training_pairs(config: TrainConfig) -> tuple[list[SentencePair], str]:
    """The bitext pairs for this run and a description of their source.

    ``--bitext FILE`` when given, else the built Bible bitext of ``--bitext-size`` pairs.
    """
    if config.bitext:
        return read_bitext(config.bitext), str(config.bitext)
    build = build_collections()
    path = build.bitext(config.bitext_size)
    if not path.exists():
        sizes = build.config.train_sizes
        raise ValueError(f"No built bitext of size {config.bitext_size}: choose --bitext-size from {list(sizes)} or pass --bitext FILE.")
    source = (
        f"Chichewa Bible / World English Bible, training books (optical-bench build {build.config.build_id}), {config.bitext_size} pairs"
    )
    return read_bitext(path), source


def english_for_linear_map(config: TrainConfig, pairs: Sequence[SentencePair]) -> list[str]:
    """A seeded sample of ``--linear-map-english-texts`` English sentences that are not the
    English side of ``pairs``: lines of ``--linear-map-english-file``, or the English side of the
    built collection's training verses (their Chichewa side is never read)."""
    wanted = config.linear_map_english_texts
    if wanted <= 0:
        return []
    taken = {p.en for p in pairs}
    if config.linear_map_english_file:
        path = Path(config.linear_map_english_file)
        if not path.is_file():
            raise FileNotFoundError(
                f"--linear-map-english-file {path}: no such file. Fix: pass a text file, one English sentence per line."
            )
        pool = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        where = str(path)
    else:
        path = build_collections().bitext("all")
        pool = [p.en for p in read_bitext(path)]
        where = f"{path} (English side)"
    pool = sorted({text for text in pool if text not in taken})
    if len(pool) < wanted:
        raise ValueError(
            f"--linear-map-english-texts {wanted}: {where} holds only {len(pool)} English sentences outside the bitext. "
            f"Fix: ask for at most {len(pool)}, or pass a larger --linear-map-english-file."
        )
    return random.Random(config.seed).sample(pool, wanted)


def step_budget_pairs(pairs: Sequence[SentencePair], seed: int, budget: int) -> list[SentencePair]:
    """A seeded shuffle of ``pairs`` cut to ``budget`` (steps x batch size x processes)."""
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    return [pairs[i] for i in order[: min(budget, len(pairs))]]


def centering_sample(pairs: Sequence[SentencePair], seed: int, size: int) -> list[str]:
    """The low-resource sides of a seeded sample of at most ``size`` pairs (for the language mean)."""
    rng = random.Random(seed)
    return [p.lr for p in rng.sample(pairs, min(size, len(pairs)))]
