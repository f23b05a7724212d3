"""Training a student: its objective (:mod:`.objective`) under the Trainer's arguments, the run
(resuming from the last complete checkpoint), and the record of what happened.

Training goes through :class:`~sentence_transformers.SentenceTransformerTrainer`, so
``torchrun``/``accelerate`` data parallelism works unchanged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import SentencePair
from optical_bench.io import set_aside
from optical_bench.models import cut_at, route_lengths, student_modules, training_lengths
from optical_bench.models.card import card_widget
from optical_bench.training.dev import dev_evaluator
from optical_bench.training.objective import Objective, build_objective
from optical_bench.training.pairs import step_budget_pairs
from optical_bench.training.record import provenance, save_model
from optical_bench.training.terminal import quiet_trainer_output

logger = logging.getLogger(__name__)

SYNTHETIC_ID_PREFIXES = ("bt-", "ft-", "cs-")


@dataclass
class StudentSetup:
    """A student ready to train: the model, its pairs, and what its run has recorded so far."""

    model: Any
    pairs: list[SentencePair]
    bitext_source: str
    augmented: dict
    started: float  # time.perf_counter() at the start of the run
    dev_collection: Path | None = None  # a BEIR folder for checkpoint selection (the run's data)
    english_side: str = "query"  # the pairs' English side: a translation ("query") or a passage ("document")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message says at which batch and what to change."""


def train_student(config: TrainConfig, setup: StudentSetup, progress: bool) -> Path:
    """Train the student of ``setup`` on a seeded sample of its pairs; return the saved model folder."""
    model = setup.model
    world = int(os.environ.get("WORLD_SIZE", "1"))
    chosen = step_budget_pairs(setup.pairs, config.seed, config.max_steps * config.batch_size * world)
    if config.freeze_embeddings:
        embeddings = student_modules(model, config.student_side)[0].auto_model.get_input_embeddings()
        embeddings.weight.requires_grad_(False)
    checkpoints = Path(config.out) / "checkpoints"
    test_lengths = route_lengths(model)
    # training batches are cut at the training length; the saved model keeps the encoders' own limits
    with cut_at(model, training_lengths(model, config.max_seq_length)):
        objective = build_objective(config, model, chosen, setup.pairs, progress, setup.english_side)
        guard_finite_loss(objective.loss, config.batch_size)
        evaluator = dev_evaluator(config, test_lengths, setup.dev_collection)
        # the start's dev score (step 0), what the chosen checkpoint has to beat: scored here, not by the
        # Trainer's eval_on_start, which changes the batches drawn and the checkpoint chosen
        start = evaluator.start_row(model) if evaluator is not None else None
        args = training_arguments(config, checkpoints, objective, evaluator is not None, progress, world)
        # the project's own widget: sentence-transformers then samples none from the training pairs (nor shows a progress bar)
        model.model_card_data.widget = card_widget()
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=objective.dataset, loss=objective.loss, evaluator=evaluator
        )
        quiet_trainer_output(trainer)
        resume_from = last_complete_checkpoint(checkpoints)
        if resume_from:
            print(f"Resuming from {resume_from}", flush=True)
        resume_or_set_aside(trainer, resume_from)
    return _record_and_save(config, trainer, setup, chosen, resume_from, world, start)


# --------------------------------------------------------------------------- the loss


def guard_finite_loss(loss_module, batch_size: int) -> None:
    """Stop training at the first NaN/inf loss, naming the batch and the fix.

    A forward hook on the loss module checks every batch's value (the Trainer would
    otherwise silently filter non-finite losses out of its logs and keep going).
    """
    state = {"batch": 0}

    def check(module, inputs, output):
        state["batch"] += 1
        values = output.values() if isinstance(output, dict) else [output]
        for value in values:
            if not torch.isfinite(value).all():
                raise NonFiniteLossError(
                    f"The training loss became {float(value.detach().float().mean())} at batch {state['batch']} "
                    f"(pairs {(state['batch'] - 1) * batch_size}-{state['batch'] * batch_size - 1} of this process's shuffled data). "
                    "Fix: lower --learning-rate, raise --ot-epsilon, or check that bitext line for empty/garbled text; "
                    "the last checkpoint (if any) is kept, so rerunning resumes from it."
                )

    loss_module.register_forward_hook(check)


# --------------------------------------------------------------------------- the Trainer


def training_arguments(
    config: TrainConfig, checkpoints: Path, objective: Objective, evaluate: bool, progress: bool, world: int
) -> SentenceTransformerTrainingArguments:
    """The Trainer's arguments: linear warm-up and decay, dev evaluation and checkpoints every ``eval_steps``,
    the best dev checkpoint loaded at the end (when there is a dev split and checkpoints are saved)."""
    eval_steps = config.checkpoints.eval_steps or max(1, config.max_steps // 3)
    save = config.checkpoints.save
    use_best = evaluate and save
    cpu = not torch.cuda.is_available()
    return SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=max(0, math.ceil(config.warmup_ratio * config.max_steps)),
        lr_scheduler_type="linear",
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=max(1, config.max_steps // 20),
        eval_strategy="steps" if evaluate else "no",
        eval_steps=eval_steps if evaluate else None,
        save_strategy="steps" if save else "no",
        save_steps=eval_steps,
        save_total_limit=2,
        save_only_model=False,
        load_best_model_at_end=use_best,
        metric_for_best_model="eval_dev_mrr@10" if use_best else None,
        greater_is_better=True,
        router_mapping=objective.router_mapping,
        prompts=objective.prompts,
        report_to=[],
        disable_tqdm=not progress,
        dataloader_drop_last=True,
        use_cpu=cpu,
        ddp_backend="gloo" if cpu and world > 1 else None,
    )


def resume_or_set_aside(trainer, resume_from: str | None) -> None:
    """``trainer.train`` from ``resume_from``; a checkpoint whose files cannot be read (weights cut
    short, pickled data that ``weights_only`` refuses) is set aside as ``<name>.unreadable-<time>``
    and the run stops with one line: rerun it to resume from the checkpoint before."""
    import pickle

    from safetensors import SafetensorError

    try:
        trainer.train(resume_from_checkpoint=resume_from)
    except (pickle.UnpicklingError, SafetensorError) as error:
        if resume_from is None:
            raise
        moved = set_aside(resume_from, "unreadable")
        raise ValueError(
            f"{resume_from}: a file of this checkpoint cannot be read ({str(error).splitlines()[0]}); set aside as {moved}. "
            "Fix: rerun the same command: it resumes from the checkpoint before (or starts afresh)."
        ) from None


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint that was written completely; incomplete ones are removed.

    The Trainer writes a checkpoint file by file, so a run killed mid-save leaves a
    ``checkpoint-N`` folder without its ``trainer_state.json`` (written last) or its
    optimizer state; resuming from it would fail or silently restart the optimiser.
    """
    if not folder.exists():
        return None
    candidates = sorted(
        (p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()), key=lambda p: int(p.name.split("-")[-1]), reverse=True
    )
    for candidate in candidates:
        complete = (
            (candidate / "trainer_state.json").exists() and any(candidate.glob("optimizer.*")) and any(candidate.rglob("*.safetensors"))
        )
        if complete:
            try:
                json.loads((candidate / "trainer_state.json").read_text(encoding="utf-8"))
                return str(candidate)
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass
        logger.warning("Removing the incomplete checkpoint %s (a run was interrupted while saving it)", candidate)
        shutil.rmtree(candidate, ignore_errors=True)
    return None


# --------------------------------------------------------------------------- the record


def _record_and_save(
    config: TrainConfig,
    trainer,
    setup: StudentSetup,
    chosen: list[SentencePair],
    resume_from: str | None,
    world: int,
    start: dict | None = None,
) -> Path:
    """Check the logged losses, save the trained model with its provenance (rank 0), drop the checkpoints."""
    out = Path(config.out)
    history = list(trainer.state.log_history)
    dev_history = [start] if start else []
    dev_history += [
        {"step": row["step"], "mrr@10": row.get("eval_dev_mrr@10"), "r@1": row.get("eval_dev_r@1")}
        for row in history
        if "eval_dev_mrr@10" in row
    ]
    losses = [row["loss"] for row in history if "loss" in row]
    for value in losses:
        if not math.isfinite(value):
            raise FloatingPointError(f"The training loss became {value}; lower --learning-rate or raise --ot-epsilon and rerun.")
    if not trainer.is_world_process_zero():
        return out / "model"
    extra = {
        "train_seconds": round(time.perf_counter() - setup.started, 1),
        "train_loss_first_last": [losses[0], losses[-1]] if losses else None,
        "dev_history": dev_history,
        # absolute here, so that the saved record has it relative to the model folder whatever the working folder
        "best_checkpoint": str(Path(trainer.state.best_model_checkpoint).resolve()) if trainer.state.best_model_checkpoint else None,
        "world_size": world,
        "resumed_from": Path(resume_from).name if resume_from else None,
        "synthetic_pairs_used": sum(1 for p in chosen if str(p.id).startswith(SYNTHETIC_ID_PREFIXES)),
        **(setup.augmented or {}),
    }
    folder = save_model(trainer.model, out, provenance(config, setup.bitext_source, len(chosen), extra))
    checkpoints = out / "checkpoints"
    if config.checkpoints.save and not config.checkpoints.keep and checkpoints.exists():
        shutil.rmtree(checkpoints, ignore_errors=True)
    return folder
