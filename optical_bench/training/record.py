"""What a model folder records about its run: the format number, the provenance, the atomic save."""

from __future__ import annotations

import shutil
from pathlib import Path

from optical_bench import __version__
from optical_bench.citation import OPTICAL_REFERENCE
from optical_bench.config import TrainConfig
from optical_bench.io import replace_folder
from optical_bench.methods import TRAINED, TRAINED_METHODS
from optical_bench.models import route_lengths, write_provenance
from optical_bench.models.card import hub_model_name, plain_encode_works

# 2: the teacher route keeps the teacher's token limit and the student route its initial
# encoder's (format 1 saved the training length, 64, into both); the Router has no default route
MODEL_FORMAT = 2


def provenance(config: TrainConfig, bitext_source: str, pairs_used: int, extra: dict | None = None) -> dict:
    """The run's provenance: its options (``config`` holds :meth:`TrainConfig.to_dict`), its data and ``extra``."""
    weights = config.loss_weights()
    record = {
        "name": hub_model_name(f"{config.method}-{Path(config.teacher).name}"),
        "optical_bench_version": __version__,
        "method": config.method,
        "teacher": config.teacher,
        "student_init": config.student_init or config.teacher,
        "student_side": config.student_side,
        "bitext_source": bitext_source,
        "bitext_pairs_used": pairs_used,
        "steps": config.max_steps if config.method in TRAINED else 0,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "model_format": MODEL_FORMAT,
        "training_max_seq_length": config.max_seq_length,
        "loss_weights": weights.as_dict(),  # every term of the method table, in its order
        "augmentation": {"kind": "none"},  # replaced by the augmentation actually applied
        "loss_citation": OPTICAL_REFERENCE if config.method in TRAINED_METHODS and weights.ot > 0 else None,  # OPTICAL's OT term
        "config": {
            **config.to_dict(),
            "out": str(Path(config.out).resolve()) if config.out else config.out,
        },  # made relative to the model folder when saved
    }
    if weights.ot:
        options = config.ot
        record["ot"] = {
            "cost": options.cost,
            "epsilon": options.epsilon,
            "iters": options.iters,  # each option under its one name (--ot-iters, OTOptions.iters)
            "tol": options.tol,
            "grad": options.grad,
            "drop_special_tokens": options.drop_special_tokens,
            "marginals": "idf" if options.idf else "uniform",
        }
    record.update(extra or {})
    return record


def save_model(model, out: Path, record: dict) -> Path:
    """Save atomically: into a sibling temp folder, then rename over ``out/model``."""
    record = {**record, "test_time_max_seq_length": route_lengths(model)}
    final = out / "model"
    staging = out / ".model.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    model.save(str(staging))
    write_provenance(staging, record, widget=plain_encode_works(model))
    return replace_folder(staging, final)
