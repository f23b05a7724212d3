"""The training pairs: the bitext of a run, and the seeded samples drawn from it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import SentencePair
from optical_bench.data.sources import TextSource, TrainingData


def english_for_linear_map(config: TrainConfig, pairs: Sequence[SentencePair], pool: TextSource | None = None) -> list[str]:
    """A seeded sample of ``--linear-map-english-texts`` English sentences that are not the
    English side of ``pairs``, drawn from ``pool`` (the run's data: ``--linear-map-english-file``,
    else its source's English sentences; the Bible's: the English side of the training verses,
    whose Chichewa side is never read)."""
    wanted = config.linear_map_english_texts
    if wanted <= 0:
        return []
    if pool is None:
        given = config.linear_map_english_file
        pool = TextSource(Path(given) if given else None, str(given) if given else "no English sentences were given")
    if pool.path is None or not pool.path.is_file():
        raise FileNotFoundError(
            f"--linear-map-english-texts {wanted}: {pool.description if pool.path is None else f'{pool.path}: no such file'}. "
            "Fix: pass --linear-map-english-file, a text file, one English sentence per line."
        )
    taken = {p.en for p in pairs}
    texts = TrainingData.english_texts(pool.path)
    candidates = sorted({text for text in texts if text not in taken})
    if len(candidates) < wanted:
        raise ValueError(
            f"--linear-map-english-texts {wanted}: {pool.description} holds only {len(candidates)} English sentences outside the bitext. "
            f"Fix: ask for at most {len(candidates)}, or pass a larger --linear-map-english-file."
        )
    return random.Random(config.seed).sample(candidates, wanted)


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
