"""The training-free baselines' own steps: language-mean centring and translate-test."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import SentencePair
from optical_bench.data.sources import TrainingData
from optical_bench.io import atomic_write_json, replace_folder
from optical_bench.models import add_centering
from optical_bench.training.pairs import centering_sample
from optical_bench.training.record import provenance
from optical_bench.translate import make_translator


def _mean_embedding(model, texts: list[str], side: str) -> torch.Tensor:
    encode = model.encode_query if side == "query" else model.encode_document
    embeddings = encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=True)
    return embeddings.mean(dim=0)


def center_student_side(model, pairs: list[SentencePair], config: TrainConfig) -> dict:
    """Subtract the language mean of the student side (a seeded sample of ``pairs``' low-resource
    texts) inside the model; return the record of it."""
    texts = centering_sample(pairs, config.seed, config.centering_texts)
    mean = _mean_embedding(model, texts, config.student_side)
    add_centering(model, mean, side=config.student_side)
    return {"texts": len(texts), "source": "low-resource side of the training bitext", "mean_norm": float(mean.norm())}


def translate_test(config: TrainConfig, out: Path, data: TrainingData) -> Path:
    """Fit (or name) a translator on the run's bitext; the model folder holds the teacher plus ``translator.json``."""
    pairs, bitext_source = data.pairs(), data.bitext.description
    started = time.perf_counter()
    if config.translator == "ibm1":
        translator = make_translator(config.translator, bitext=[(p.lr, p.en) for p in pairs], n_iter=config.ibm1_iterations)
    else:
        translator = make_translator(config.translator)
    folder = out / "model"
    staging = out / ".model.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    if config.translator == "ibm1":
        translator.save(staging / "ibm1.json")
    spec = {
        "format": "optical-bench/translate-test",
        "teacher": config.teacher,
        "translator": config.translator,
        "side": config.student_side,
        "translator_file": "ibm1.json" if config.translator == "ibm1" else None,
        "describe": translator.describe(),
    }
    atomic_write_json(staging / "translate_test.json", spec)
    record = provenance(
        config, bitext_source, len(pairs), {"translator": translator.describe(), "seconds": round(time.perf_counter() - started, 1)}
    )
    atomic_write_json(staging / "optical_bench_provenance.json", record)
    return replace_folder(staging, folder)
