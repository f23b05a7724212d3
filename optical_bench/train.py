"""Training a student (and building the training-free baselines) into one model folder.

Every method writes a sentence-transformers folder that ``SentenceTransformer(path)``
loads anywhere, with its provenance in the model card:

=====================  =====================================================================
method                 what it is
=====================  =====================================================================
``optical``            OT distillation of token embeddings (OPTICAL), :class:`OptimalTransportLoss`
``optical+mse``        OT + sentence-level MSE
``optical+contrastive`` OT + in-batch InfoNCE against teacher targets
``mse``                sentence-transformers' own ``MSELoss`` on teacher embeddings (Reimers & Gurevych 2020)
``contrastive``        in-batch InfoNCE against teacher targets only
``zero-shot``          the teacher on both sides (no training)
``centering``          zero-shot + language-mean centring of the student side (no training)
``translate-test``     queries translated to English (IBM Model 1 from the bitext, or an HF MT model), then the teacher
=====================  =====================================================================

Training goes through :class:`~sentence_transformers.SentenceTransformerTrainer`, so
``torchrun``/``accelerate`` data parallelism works unchanged. The dev split (held-out
Bible books) selects the checkpoint; test sets are never read here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optical_bench.io import atomic_write_json, folder_lock, replace_folder

logger = logging.getLogger(__name__)

# 2: the teacher route keeps the teacher's token limit and the student route its initial
# encoder's (format 1 saved the training length, 64, into both); the Router has no default route
MODEL_FORMAT = 2

TRAINED_METHODS = ("optical", "optical+mse", "optical+contrastive", "mse", "contrastive")
FREE_METHODS = ("zero-shot", "centering", "translate-test")
METHODS = TRAINED_METHODS + FREE_METHODS
_WEIGHTS = {
    "optical": (1.0, 0.0, 0.0),
    "optical+mse": (1.0, 1.0, 0.0),
    "optical+contrastive": (1.0, 0.0, 1.0),
    "mse": (0.0, 1.0, 0.0),
    "contrastive": (0.0, 0.0, 1.0),
}


@dataclass
class TrainConfig:
    """Every choice of a training run; all of it goes into the model card."""

    method: str = "optical+contrastive"
    teacher: str = "multilingual-e5-small-q4"
    student_init: str | None = None
    out: str = "runs/student"
    bitext: str | None = None  # a bitext file; default: the built Bible bitext of size bitext_size
    bitext_size: int = 4000
    student_side: str = "query"
    max_steps: int = 60
    batch_size: int = 32
    learning_rate: float = 5e-6
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 42
    max_seq_length: int = 64  # training batches are cut at this many tokens (test time uses the encoders' own limits)
    student_max_seq_length: int | None = None  # the student's limit at test time (None: that of the encoder it starts from)
    # loss weights (None: the method's defaults)
    ot_weight: float | None = None
    mse_weight: float | None = None
    contrastive_weight: float | None = None
    anchor_weight: float = 0.0
    temperature: float = 0.05
    # optimal transport
    ot_cost: str = "cosine"
    ot_epsilon: float = 0.05
    ot_iters: int = 50
    ot_tol: float | None = None
    ot_grad: str = "envelope"
    ot_drop_special_tokens: bool = False
    ot_idf: bool = False
    # student construction
    truncate_layers: int | None = None
    prune_vocabulary: bool = False
    freeze_embeddings: bool = True
    # vocabulary transfer (for students that have never seen the language, e.g. an English
    # teacher): add the bitext's frequent low-resource words as whole-word pieces, each
    # initialised from its IBM-1 English translations (optical_bench.vocabulary)
    vocabulary_transfer: bool = False
    vocabulary_transfer_words: int | None = None  # at most this many words (None: all)
    vocabulary_transfer_min_count: int = 2
    vocabulary_transfer_top_k: int = 3
    # checkpoint selection on the dev split
    dev: bool = True
    dev_collection: str | None = None  # a BEIR folder with qrels/dev.tsv; default: the built bible-dev
    eval_steps: int | None = None
    save_checkpoints: bool = True
    keep_checkpoints: bool = False
    # translate-test
    translator: str = "ibm1"
    ibm1_iterations: int = 10
    # centring
    centering_texts: int = 2000
    center_student: bool = False  # start a trained student from the language-mean-centred teacher
    # monolingual pre-training augmentation (RQ1): continued MLM of the student's encoder
    mlm_texts: int | str = 0  # 0: none; N or "all" Chichewa texts (default: the withheld books)
    mlm_corpus: str | None = None  # a monolingual file instead of the built Chichewa text
    mlm_steps: int | None = None
    mlm_epochs: float = 1.0
    mlm_batch_size: int = 16
    mlm_learning_rate: float = 5e-5
    mlm_mask_probability: float = 0.15
    mlm_max_seq_length: int | None = None
    mlm_head: str = "fresh"
    mlm_vocabulary: str = "corpus"
    mlm_head_warmup_steps: int = 100  # train the (fresh) MLM head alone first, encoder frozen (0: off)
    mlm_head_learning_rate: float = 1e-3
    # synthetic / back-translated pairs (RQ2)
    augmentation_kind: str = "none"  # none | back-translation | forward-translation | code-switch
    augmentation_ratio: float = 1.0  # synthetic pairs per real pair
    augmentation_translator: str = "ibm1"  # or any Hugging Face seq2seq MT model id
    augmentation_translator_options: dict = field(default_factory=dict)
    augmentation_size: int | str = "all"
    augmentation_rate: float = 0.5  # code-switch: fraction of dictionary words replaced
    augmentation_min_prob: float = 0.2
    augmentation_monolingual: str | None = None
    augmentation_english: str | None = None

    def validate(self) -> None:
        if self.method not in METHODS:
            import difflib

            close = difflib.get_close_matches(self.method, METHODS, n=1)
            raise ValueError(f"Unknown method {self.method!r}" + (f" (did you mean {close[0]!r}?)" if close else "") + f"; choose one of {', '.join(METHODS)}.")
        if self.student_side not in ("query", "document"):
            raise ValueError(f"--student-side {self.student_side!r}: use query or document.")
        if self.max_steps < 1 and self.method in TRAINED_METHODS:
            raise ValueError("--max-steps must be at least 1.")
        if self.batch_size < 2 and self.method in ("contrastive", "optical+contrastive"):
            raise ValueError("In-batch contrastive training needs --batch-size >= 2.")
        if self.ot_grad not in ("envelope", "autodiff"):
            raise ValueError(f"--ot-grad {self.ot_grad!r}: use envelope or autodiff.")
        from optical_bench.augment.mlm import HEADS, VOCABULARIES
        from optical_bench.augment.pairs import normalize_kind

        self.augmentation_kind = normalize_kind(self.augmentation_kind)
        if self.mlm_head not in HEADS:
            raise ValueError(f"--mlm-head {self.mlm_head!r}: use one of {', '.join(HEADS)}.")
        if self.mlm_vocabulary not in VOCABULARIES:
            raise ValueError(f"--mlm-vocabulary {self.mlm_vocabulary!r}: use one of {', '.join(VOCABULARIES)}.")
        if self.vocabulary_transfer_min_count < 1 or self.vocabulary_transfer_top_k < 1:
            raise ValueError("--vocabulary-transfer-min-count and --vocabulary-transfer-top-k must be >= 1.")
        if self.vocabulary_transfer and self.method == "translate-test":
            raise ValueError("--vocabulary-transfer changes the student's encoder; translate-test has none (it translates queries).")
        if self.augmentation_ratio < 0:
            raise ValueError("--augmentation-ratio must be >= 0 (synthetic pairs per real pair).")

    def weights(self) -> tuple[float, float, float]:
        ot, mse, contrastive = _WEIGHTS.get(self.method, (0.0, 0.0, 0.0))
        return (
            ot if self.ot_weight is None else self.ot_weight,
            mse if self.mse_weight is None else self.mse_weight,
            contrastive if self.contrastive_weight is None else self.contrastive_weight,
        )

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown training option(s) {unknown}; known: {sorted(known)}.")
        return cls(**data)


def config_defaults(prefix: str) -> dict[str, Any]:
    """TrainConfig's defaults of the options whose names start with ``prefix``."""
    return {k: v for k, v in asdict(TrainConfig()).items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- data


def load_training_pairs(config: TrainConfig):
    """The bitext pairs for this run (seeded shuffle, cut to the step budget)."""
    from optical_bench.data.bitext import read_bitext

    if config.bitext:
        pairs = read_bitext(config.bitext)
        source = str(config.bitext)
    else:
        from optical_bench.data.collections import build_collections

        build = build_collections()
        path = build.bitext(config.bitext_size)
        if not path.exists():
            sizes = build.config.train_sizes
            raise ValueError(f"No built bitext of size {config.bitext_size}: choose --bitext-size from {list(sizes)} or pass --bitext FILE.")
        pairs = read_bitext(path)
        source = f"Chichewa Bible / World English Bible, training books (optical-bench build {build.config.build_id}), {config.bitext_size} pairs"
    return pairs, source


class DevRetrievalEvaluator:
    """Checkpoint selection on the dev collection: MRR@10 and R@1 by pytrec_eval.

    The documents go through the frozen document route once (cached); each call encodes
    only the dev queries with the current student.
    """

    def __init__(self, folder: Path, split: str = "dev", name: str = "dev", batch_size: int = 64):
        from optical_bench.data.beir import read_beir_folder

        collection = read_beir_folder(folder, splits=(split,))
        self.qrels = collection.qrels[split]
        self.query_ids = list(self.qrels)
        self.queries = [collection.queries[qid] for qid in self.query_ids]
        self.doc_ids = list(collection.corpus)
        self.documents = [collection.corpus[did]["text"] for did in self.doc_ids]
        self.name = name
        self.batch_size = batch_size
        self.doc_embeddings = None

    def scores(self, model) -> dict[str, float]:
        import pytrec_eval

        if self.doc_embeddings is None:
            self.doc_embeddings = model.encode_document(self.documents, batch_size=self.batch_size, convert_to_tensor=True, normalize_embeddings=True)
        queries = model.encode_query(self.queries, batch_size=self.batch_size, convert_to_tensor=True, normalize_embeddings=True)
        similarity = queries @ self.doc_embeddings.T
        top = torch.topk(similarity, k=min(10, similarity.shape[1]), dim=1)
        run = {
            qid: {self.doc_ids[j]: float(s) for j, s in zip(top.indices[i].tolist(), top.values[i].tolist())}
            for i, qid in enumerate(self.query_ids)
        }
        evaluator = pytrec_eval.RelevanceEvaluator(self.qrels, {"recip_rank", "success"})
        per_query = evaluator.evaluate(run)
        return {
            "mrr@10": float(np.mean([m["recip_rank"] for m in per_query.values()])),
            "r@1": float(np.mean([m["success_1"] for m in per_query.values()])),
        }


def _st_dev_evaluator(dev: DevRetrievalEvaluator, lengths: dict):
    """The dev evaluator for the Trainer; it scores at the test-time ``lengths`` (training cuts shorter)."""
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    from optical_bench.models import cut_at

    class _Evaluator(BaseEvaluator):
        def __init__(self):
            super().__init__()
            self.primary_metric = "mrr@10"
            self.name = dev.name

        def __call__(self, model, output_path=None, epoch=-1, steps=-1):
            with cut_at(model, lengths):
                metrics = dev.scores(model)
            logger.info("dev at step %s: %s", steps, metrics)
            metrics = self.prefix_name_to_metrics(metrics, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
            return metrics

    return _Evaluator()


# --------------------------------------------------------------------------- the methods


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    from transformers import set_seed

    set_seed(seed)


def _query_prompt(model) -> str:
    return (getattr(model, "prompts", None) or {}).get("query", "") or ""


def _mean_embedding(model, texts: list[str], side: str) -> torch.Tensor:
    encode = model.encode_query if side == "query" else model.encode_document
    embeddings = encode(texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=True)
    return embeddings.mean(dim=0)


def _provenance(config: TrainConfig, bitext_source: str, pairs_used: int, extra: dict | None = None) -> dict:
    from optical_bench import __version__

    ot, mse, contrastive = config.weights()
    provenance = {
        "name": f"{config.method}-{Path(config.teacher).name}",
        "optical_bench_version": __version__,
        "method": config.method,
        "teacher": config.teacher,
        "student_init": config.student_init or config.teacher,
        "student_side": config.student_side,
        "bitext_source": bitext_source,
        "bitext_pairs_used": pairs_used,
        "steps": config.max_steps if config.method in TRAINED_METHODS else 0,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "model_format": MODEL_FORMAT,
        "training_max_seq_length": config.max_seq_length,
        "loss_weights": {"ot": ot, "mse": mse, "contrastive": contrastive, "anchor": config.anchor_weight},
        "augmentation": {"kind": "none"},  # replaced by the augmentation actually applied
        "loss_citation": "Huang, Yu & Allan. Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal Transport Distillation. WSDM 2023. arXiv:2301.12566",
        "config": asdict(config),
    }
    if ot:
        provenance["ot"] = {
            "cost": config.ot_cost, "epsilon": config.ot_epsilon, "iterations": config.ot_iters, "tolerance": config.ot_tol,
            "gradient": config.ot_grad, "drop_special_tokens": config.ot_drop_special_tokens, "marginals": "idf" if config.ot_idf else "uniform",
        }
    provenance.update(extra or {})
    return provenance


def _save_model(model, out: Path, provenance: dict) -> Path:
    """Save atomically: into a sibling temp folder, then rename over ``out/model``."""
    from optical_bench.models import route_lengths, write_provenance

    provenance = {**provenance, "test_time_max_seq_length": route_lengths(model)}
    final = out / "model"
    staging = out / ".model.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    model.save(str(staging))
    write_provenance(staging, provenance)
    return replace_folder(staging, final)


ENGLISH_STUDENT_RECIPE = "--vocabulary-transfer --learning-rate 2e-4 --no-freeze-embeddings"


def _warn_if_english_only_student(config: TrainConfig) -> None:
    """A packaged English-only encoder as the student cannot read the low-resource side: its
    sub-word pieces carry no meaning there, and no loss moves it within a CPU budget
    (README, "An English teacher").  Say so, and name the recipe that works."""
    from optical_bench.assets.models import PACKAGED_MODELS

    packaged = PACKAGED_MODELS.get(str(config.student_init or config.teacher))
    if packaged is None or config.vocabulary_transfer or config.method == "translate-test":
        return
    if tuple(packaged.languages) == ("eng-Latn",):
        logger.warning(
            "The student starts from %s, which knows English only: without vocabulary transfer it scores ~0 on "
            "the low-resource side. Fix: add %s (the English-teacher recipe in the README).", packaged.name, ENGLISH_STUDENT_RECIPE,
        )


# options a resumed run may change: train longer, keep or drop checkpoints, evaluate more often
RESUME_MAY_CHANGE = frozenset({"max_steps", "keep_checkpoints", "save_checkpoints", "eval_steps"})


def options_changed_since(folder: Path, config) -> dict[str, tuple]:
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
    now = json.loads(json.dumps(asdict(config)))  # tuples -> lists, as recorded
    return {key: (recorded[key], value) for key, value in now.items() if key != "out" and key in recorded and recorded[key] != value}


def describe_changes(changed: dict[str, tuple]) -> str:
    """``{option: (recorded, now)}`` as ``"option old -> new, ..."``."""
    return ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in sorted(changed.items()))


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Run one method; return the folder of the resulting sentence-transformers model.

    The run folder is locked for the whole run: a second process training into it waits
    (or stops, with ``--no-wait``) and then resumes or retrains, never writes beside it.
    """
    config.validate()
    out = Path(config.out)
    if int(os.environ.get("RANK", "0")) != 0:  # one data-parallel job: its rank 0 holds the lock for all ranks
        return _train_locked(config, out, progress)
    with folder_lock(out, "the model folder"):
        return _train_locked(config, out, progress)


def _train_locked(config: TrainConfig, out: Path, progress: bool) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    changed = {key: values for key, values in options_changed_since(out, config).items() if key not in RESUME_MAY_CHANGE}
    if changed:
        raise ValueError(
            f"{out} holds a run started with other options ({describe_changes(changed)}); resuming it would mix the two. "
            f"Fix: choose another --out, or delete {out} to start over."
        )
    atomic_write_json(out / "train_config.json", asdict(config))
    _seed_everything(config.seed)
    started = time.perf_counter()

    if config.method == "translate-test":
        return _translate_test(config, out)
    _warn_if_english_only_student(config)

    from optical_bench.models import add_centering, build_distillation_model, student_modules

    real_pairs, bitext_source = load_training_pairs(config)
    from optical_bench.augment import augment_training_pairs, mlm_student_init

    pairs, augmentation = real_pairs, None
    if config.method in TRAINED_METHODS:
        pairs, augmentation = augment_training_pairs(config, real_pairs, progress=progress)
    student_init, mlm_record = mlm_student_init(config, progress=progress)
    augmented = {"augmentation": augmentation or {"kind": "none"}, "mlm_pretraining": mlm_record or {"texts": 0}}
    prune_texts = [p.lr for p in pairs] if config.prune_vocabulary else None
    model = build_distillation_model(
        config.teacher, student_init, student_side=config.student_side,
        truncate_student_layers=config.truncate_layers, prune_vocabulary_texts=prune_texts,
        student_max_seq_length=config.student_max_seq_length,
    )

    if config.vocabulary_transfer:
        from optical_bench.vocabulary import transfer_vocabulary

        # the real bitext only: a lexicon learnt from synthetic pairs would learn the translator
        augmented["vocabulary_transfer"] = transfer_vocabulary(
            student_modules(model, config.student_side)[0], [(p.lr, p.en) for p in real_pairs], max_words=config.vocabulary_transfer_words,
            min_count=config.vocabulary_transfer_min_count, top_k=config.vocabulary_transfer_top_k,
            ibm1_iterations=config.ibm1_iterations, progress=progress,
        )
    extra = {}
    if config.method == "centering" or config.center_student:
        rng = random.Random(config.seed)
        texts = [p.lr for p in rng.sample(pairs, min(config.centering_texts, len(pairs)))]
        mean = _mean_embedding(model, texts, config.student_side)
        add_centering(model, mean, side=config.student_side)
        extra = {"centering": {"texts": len(texts), "source": "low-resource side of the training bitext", "mean_norm": float(mean.norm())}}
        augmented.update(extra)
    if config.method in ("zero-shot", "centering"):
        provenance = _provenance(config, bitext_source, len(pairs) if config.method == "centering" else 0, {**augmented, **extra})
        provenance["seconds"] = round(time.perf_counter() - started, 1)
        return _save_model(model, out, provenance)

    return _train_student(config, model, pairs, bitext_source, out, started, progress, augmented)


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint that was written completely; incomplete ones are removed.

    The Trainer writes a checkpoint file by file, so a run killed mid-save leaves a
    ``checkpoint-N`` folder without its ``trainer_state.json`` (written last) or its
    optimizer state; resuming from it would fail or silently restart the optimiser.
    """
    if not folder.exists():
        return None
    candidates = sorted((p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for candidate in candidates:
        complete = (candidate / "trainer_state.json").exists() and any(candidate.glob("optimizer.*")) and any(candidate.rglob("*.safetensors"))
        if complete:
            try:
                json.loads((candidate / "trainer_state.json").read_text(encoding="utf-8"))
                return str(candidate)
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass
        logger.warning("Removing the incomplete checkpoint %s (a run was interrupted while saving it)", candidate)
        shutil.rmtree(candidate, ignore_errors=True)
    return None


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message says at which batch and what to change."""


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


def _train_student(config: TrainConfig, model, pairs, bitext_source: str, out: Path, started: float, progress: bool, augmented: dict | None = None) -> Path:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MSELoss

    from optical_bench.losses import OptimalTransportLoss
    from optical_bench.models import cut_at, other_side, route_lengths, student_modules, training_lengths

    world = int(os.environ.get("WORLD_SIZE", "1"))
    budget = config.max_steps * config.batch_size * world
    rng = random.Random(config.seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    chosen = [pairs[i] for i in order[: min(budget, len(pairs))]]
    prompt = _query_prompt(model)
    ot_weight, mse_weight, contrastive_weight = config.weights()
    student_side, teacher_side = config.student_side, other_side(config.student_side)

    if config.freeze_embeddings:
        embeddings = student_modules(model, student_side)[0].auto_model.get_input_embeddings()
        embeddings.weight.requires_grad_(False)

    test_lengths = route_lengths(model)
    # training batches are cut at the training length; the saved model keeps the encoders' own limits
    with cut_at(model, training_lengths(model, config.max_seq_length)):
        if config.method == "mse":
            teacher_encode = model.encode_document if teacher_side == "document" else model.encode_query
            labels = teacher_encode([p.en for p in chosen], prompt=prompt, batch_size=64, convert_to_numpy=True, show_progress_bar=progress)
            dataset = Dataset.from_dict({"lr": [p.lr for p in chosen], "label": [row.tolist() for row in labels]})
            loss = MSELoss(model)
            router_mapping = {"lr": student_side}
            prompts = {"lr": prompt} if prompt else None
        else:
            dataset = Dataset.from_dict({"lr": [p.lr for p in chosen], "en": [p.en for p in chosen]})
            idf = {}
            if config.ot_idf:
                from optical_bench.ot import compute_idf

                for side, texts in ((student_side, [p.lr for p in pairs]), (teacher_side, [p.en for p in pairs])):
                    tokenizer = model[0].sub_modules[side][0].tokenizer
                    idf[side] = compute_idf(tokenizer(texts[:20000], add_special_tokens=True)["input_ids"], len(tokenizer))
            loss = OptimalTransportLoss(
                model, ot_weight=ot_weight, mse_weight=mse_weight, contrastive_weight=contrastive_weight, anchor_weight=config.anchor_weight,
                cost=config.ot_cost, epsilon=config.ot_epsilon, n_iters=config.ot_iters, tol=config.ot_tol, grad=config.ot_grad,
                drop_special_tokens=config.ot_drop_special_tokens, student_idf=idf.get(student_side), teacher_idf=idf.get(teacher_side),
                temperature=config.temperature, student_route=student_side, teacher_route=teacher_side,
            )
            router_mapping = {"lr": student_side, "en": teacher_side}
            prompts = {"lr": prompt, "en": prompt} if prompt else None

        guard_finite_loss(loss, config.batch_size)
        evaluator = None
        eval_steps = config.eval_steps or max(1, config.max_steps // 3)
        if config.dev and config.student_side == "query":
            if config.dev_collection:
                dev = DevRetrievalEvaluator(Path(config.dev_collection))
            else:
                from optical_bench.data.collections import build_collections

                dev = DevRetrievalEvaluator(build_collections().folder("bible-dev"))
            evaluator = _st_dev_evaluator(dev, test_lengths)
        checkpoints = out / "checkpoints"
        use_best = evaluator is not None and config.save_checkpoints
        args = SentenceTransformerTrainingArguments(
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
            eval_strategy="steps" if evaluator is not None else "no",
            eval_steps=eval_steps if evaluator is not None else None,
            save_strategy="steps" if config.save_checkpoints else "no",
            save_steps=eval_steps,
            save_total_limit=2,
            save_only_model=False,
            load_best_model_at_end=use_best,
            metric_for_best_model="eval_dev_mrr@10" if use_best else None,
            greater_is_better=True,
            router_mapping=router_mapping,
            prompts=prompts,
            report_to=[],
            disable_tqdm=not progress,
            dataloader_drop_last=True,
            use_cpu=not torch.cuda.is_available(),
            ddp_backend="gloo" if not torch.cuda.is_available() and world > 1 else None,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator)
        resume_from = last_complete_checkpoint(checkpoints)
        if resume_from:
            print(f"Resuming from {resume_from}", flush=True)
        trainer.train(resume_from_checkpoint=resume_from)
    history = [row for row in trainer.state.log_history]
    dev_history = [{"step": row["step"], "mrr@10": row.get("eval_dev_mrr@10"), "r@1": row.get("eval_dev_r@1")} for row in history if "eval_dev_mrr@10" in row]
    losses = [row["loss"] for row in history if "loss" in row]
    for value in losses:
        if not math.isfinite(value):
            raise FloatingPointError(f"The training loss became {value}; lower --learning-rate or raise --ot-epsilon and rerun.")
    if not trainer.is_world_process_zero():
        return out / "model"
    extra = {
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_loss_first_last": [losses[0], losses[-1]] if losses else None,
        "dev_history": dev_history,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "world_size": world,
        "resumed_from": Path(resume_from).name if resume_from else None,
        "synthetic_pairs_used": sum(1 for p in chosen if str(p.id).startswith(("bt-", "ft-", "cs-"))),
        **(augmented or {}),
    }
    provenance = _provenance(config, bitext_source, len(chosen), extra)
    folder = _save_model(trainer.model, out, provenance)
    if config.save_checkpoints and not config.keep_checkpoints and checkpoints.exists():
        shutil.rmtree(checkpoints, ignore_errors=True)
    return folder


def _translate_test(config: TrainConfig, out: Path) -> Path:
    """Fit (or name) a translator; the model folder holds the teacher plus ``translator.json``."""
    from optical_bench.translate import make_translator

    pairs, bitext_source = load_training_pairs(config)
    started = time.perf_counter()
    translator = make_translator(config.translator, bitext=[(p.lr, p.en) for p in pairs], n_iter=config.ibm1_iterations) if config.translator == "ibm1" else make_translator(config.translator)
    folder = out / "model"
    staging = out / ".model.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    if config.translator == "ibm1":
        translator.save(staging / "ibm1.json")
    spec = {"format": "optical-bench/translate-test", "teacher": config.teacher, "translator": config.translator, "side": config.student_side,
            "translator_file": "ibm1.json" if config.translator == "ibm1" else None, "describe": translator.describe()}
    atomic_write_json(staging / "translate_test.json", spec)
    provenance = _provenance(config, bitext_source, len(pairs), {"translator": translator.describe(), "seconds": round(time.perf_counter() - started, 1)})
    atomic_write_json(staging / "optical_bench_provenance.json", provenance)
    return replace_folder(staging, folder)
