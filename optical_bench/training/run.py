"""One training run, start to end: the folder lock, the resume checks, and the order of the steps.

The run folder is locked for the whole run. Its ``train_config.json`` records the options
(:meth:`TrainConfig.to_dict`); a later run into the same folder resumes it only when the
options match, except those in :data:`RESUME_MAY_CHANGE`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from transformers import set_seed

from optical_bench.assets.models import PACKAGED_MODELS
from optical_bench.augment import augment_training_pairs, mlm_student_init
from optical_bench.config import TRAINED_METHODS, TrainConfig, normalize_kind
from optical_bench.data.bitext import SentencePair
from optical_bench.data.sources import DataOptions, TextSource, TrainingData, resolve_training_data
from optical_bench.io import atomic_write_json, folder_lock
from optical_bench.models import build_distillation_model, student_modules
from optical_bench.models.linear_map import warm_start_linear_map
from optical_bench.models.vocabulary import transfer_vocabulary
from optical_bench.recipes import RECIPES
from optical_bench.training.baselines import center_student_side, translate_test
from optical_bench.training.pairs import english_for_linear_map
from optical_bench.training.record import provenance, save_model
from optical_bench.training.student import StudentSetup, train_student

logger = logging.getLogger(__name__)

# options a resumed run may change: train longer, keep or drop checkpoints, evaluate more often
RESUME_MAY_CHANGE = frozenset({"max_steps", "keep_checkpoints", "save_checkpoints", "eval_steps"})


def train(config: TrainConfig, progress: bool = True, data: TrainingData | None = None) -> Path:
    """Run one method; return the folder of the resulting sentence-transformers model.

    ``data`` holds every text the run reads (:func:`~optical_bench.data.sources.resolve_training_data`).
    The command line and the experiment runner check ``config`` (:meth:`TrainConfig.validate`) where
    they finish it, then resolve its data and pass it; without ``data``, ``config`` is checked and
    its data resolved here, so that every run is checked once.
    The run folder is locked for the whole run: a second process training into it waits
    (or stops, with ``--no-wait``) and then resumes or retrains, never writes beside it.
    """
    if data is None:
        config.validate()
        data = resolve_training_data(DataOptions.of_run(config))
    out = Path(config.out)
    if int(os.environ.get("RANK", "0")) != 0:  # one data-parallel job: its rank 0 holds the lock for all ranks
        return _train_locked(config, data, out, progress)
    with folder_lock(out, "the model folder"):
        return _train_locked(config, data, out, progress)


def _train_locked(config: TrainConfig, data: TrainingData, out: Path, progress: bool) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    changed = {key: values for key, values in options_changed_since(out, config).items() if key not in RESUME_MAY_CHANGE}
    if changed:
        raise ValueError(
            f"{out} holds a run started with other options ({describe_changes(changed)}); resuming it would mix the two. "
            f"Fix: choose another --out, or delete {out} to start over."
        )
    atomic_write_json(out / "train_config.json", config.to_dict())
    seed_everything(config.seed)
    started = time.perf_counter()

    if config.method == "translate-test":
        return translate_test(config, out, data)
    warn_if_english_only_student(config)

    real_pairs, bitext_source = data.pairs(), data.bitext.description
    pairs, augmentation = real_pairs, None
    if config.method in TRAINED_METHODS:
        texts = data.augmentation_lr if normalize_kind(config.augmentation.kind) == "back-translation" else data.augmentation_en
        pairs, augmentation = augment_training_pairs(
            config.augmentation, real_pairs, texts, seed=config.seed, ibm1_iterations=config.ibm1_iterations, progress=progress
        )
    student_init, mlm_record = mlm_student_init(
        config.mlm,
        config.student_init,
        config.teacher,
        data.mlm_texts,
        seed=config.seed,
        max_seq_length=config.max_seq_length,
        progress=progress,
    )
    augmented = {"augmentation": augmentation or {"kind": "none"}, "mlm_pretraining": mlm_record or {"texts": 0}}
    if data.dataset_id:  # a named source: its hub dataset and languages, for the model card
        augmented.update(bitext_dataset=data.dataset_id, languages=list(data.languages or ()))
    model = _build_student(config, student_init, pairs, real_pairs, augmented, english_pool=data.english_pool, progress=progress)
    if config.method == "centering" or config.center_student:
        augmented["centering"] = center_student_side(model, pairs, config)
    if config.method in ("zero-shot", "centering"):
        record = provenance(config, bitext_source, len(pairs) if config.method == "centering" else 0, augmented)
        record["seconds"] = round(time.perf_counter() - started, 1)
        return save_model(model, out, record)
    return train_student(
        config, StudentSetup(model, pairs, bitext_source, augmented, started, data.dev_collection, data.english_side), progress
    )


def _build_student(
    config: TrainConfig,
    student_init: str | None,
    pairs: list[SentencePair],
    real_pairs: list[SentencePair],
    augmented: dict,
    *,
    english_pool: TextSource,
    progress: bool,
):
    """The teacher/student Router, the student's vocabulary transferred when asked (recorded in ``augmented``)."""
    prune_texts = [p.lr for p in pairs] if config.prune_vocabulary else None
    model = build_distillation_model(
        config.teacher,
        student_init,
        student_side=config.student_side,
        truncate_student_layers=config.truncate_layers,
        prune_vocabulary_texts=prune_texts,
        student_max_seq_length=config.student_max_seq_length,
    )
    vocabulary = config.vocabulary
    if vocabulary.enabled:
        # the real bitext only: a lexicon learnt from synthetic pairs would learn the translator
        augmented["vocabulary_transfer"] = transfer_vocabulary(
            student_modules(model, config.student_side)[0],
            [(p.lr, p.en) for p in real_pairs],
            max_words=vocabulary.words,
            min_count=vocabulary.min_count,
            top_k=vocabulary.top_k,
            ibm1_iterations=config.ibm1_iterations,
            progress=progress,
        )
    if config.linear_map != "none":
        # fitted on a seeded sample of the real pairs (synthetic pairs would fit the translator), kept
        # in bitext order: the fit does not depend on the order, and the seeds that draw the same
        # pairs (all of them, when the bitext is no larger) share their cached embeddings
        drawn = random.Random(config.seed).sample(range(len(real_pairs)), min(config.linear_map_texts, len(real_pairs)))
        sample = [real_pairs[i] for i in sorted(drawn)]
        augmented["linear_map"] = warm_start_linear_map(
            model,
            [(p.lr, p.en) for p in sample],
            source=config.linear_map,
            side=config.student_side,
            ridge=config.linear_map_ridge,
            english=english_for_linear_map(config, real_pairs, english_pool),
            progress=progress,
        )
    return model


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's, torch's and transformers' random number generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_seed(seed)


def warn_if_english_only_student(config: TrainConfig) -> None:
    """A packaged English-only encoder as the student cannot read the low-resource side: its
    sub-word pieces carry no meaning there, and no loss moves it within a CPU budget
    (README, "Distil a student").  Say so, and name the recipe that works."""
    packaged = PACKAGED_MODELS.get(str(config.student_init or config.teacher))
    if packaged is None or config.vocabulary.enabled or config.method == "translate-test":
        return
    if tuple(packaged.languages) == ("eng-Latn",):
        logger.warning(
            "The student starts from %s, which knows English only: without vocabulary transfer it scores ~0 on "
            'the low-resource side. Fix: add --recipe english-teacher (that is: %s; README, "Distil a student").',
            packaged.name,
            RECIPES["english-teacher"].as_flags(),
        )


def options_changed_since(folder: Path, config: TrainConfig) -> dict[str, tuple]:
    """Options whose value in ``folder``'s recorded ``train_config.json`` differs from
    ``config`` now, as ``{option: (recorded, now)}``.

    :func:`train` refuses to resume a folder started with other options, and the experiment
    runner (whose run keys hash only the options that differ from the defaults) sets aside
    a folder trained under a default that has since changed. Options the record lacks
    (added after it was written) are not compared; neither is ``out``.
    """
    path = Path(folder) / "train_config.json"
    if not path.exists():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"train_config.json": ("unreadable", "")}
    now = json.loads(json.dumps(config.to_dict()))  # tuples -> lists, as recorded
    return {key: (recorded[key], value) for key, value in now.items() if key != "out" and key in recorded and recorded[key] != value}


def describe_changes(changed: dict[str, tuple]) -> str:
    """``{option: (recorded, now)}`` as ``"option old -> new, ..."``."""
    return ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in sorted(changed.items()))
