"""The training loop of continued masked-LM pre-training (:mod:`optical_bench.augment.mlm`).

A plain torch loop: masked positions only, AdamW (no decay on biases and LayerNorm) with
linear warm-up then linear decay, the head warmed up alone first, the loss on a fixed,
seeded masking before and after. torch is imported when training runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from optical_bench.augment.mlm_head import build_head, transformer_folder
from optical_bench.config import MLMOptions

_NOT_SETTINGS = ("texts", "corpus")  # which texts: the cache key hashes the texts themselves
_OPTIMISER_DEFAULTS = {"warmup_ratio": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0}


@dataclass
class MLMSettings(MLMOptions):
    """Every setting of one MLM pre-training: a run's MLM options (its fields and defaults are
    :class:`~optical_bench.config.MLMOptions`', declared there once) with the token limit and the
    seed resolved, and the optimiser's fixed settings. The cache key, the record and the training
    loop all read this one object."""

    max_seq_length: int = 64  # resolved: the MLM token limit, else the training length
    seed: int = 42
    warmup_ratio: float = _OPTIMISER_DEFAULTS["warmup_ratio"]
    weight_decay: float = _OPTIMISER_DEFAULTS["weight_decay"]
    max_grad_norm: float = _OPTIMISER_DEFAULTS["max_grad_norm"]

    @classmethod
    def from_options(cls, options: MLMOptions | None = None, *, seed: int = 42, max_seq_length: int = 64, **changes) -> MLMSettings:
        """The settings of ``options`` (default: the MLM defaults); ``options.max_seq_length`` falls
        back to ``max_seq_length`` (the training length); ``changes`` override single fields."""
        options = options or MLMOptions()
        given = {item.name: getattr(options, item.name) for item in fields(MLMOptions)}
        given["max_seq_length"] = options.max_seq_length or max_seq_length
        return replace(cls(**given, seed=int(seed)), **changes)

    def cache_options(self) -> dict:
        """The settings as the cache key hashes them: the run's options but the texts' choice, and the
        optimiser's fixed settings only where they differ from their defaults (so keys made before them still hold)."""
        values = {key: value for key, value in asdict(self).items() if key not in _NOT_SETTINGS}
        return {key: value for key, value in values.items() if key not in _OPTIMISER_DEFAULTS or value != _OPTIMISER_DEFAULTS[key]}


def compact_embeddings(full, tokenizer, encodings: list[dict], config):
    """An embedding over the pieces ``encodings`` use (plus every special token and every
    id up to the pad id, so that ``pad`` keeps its id: XLM-R derives positions from it).

    Returns ``(keep_ids, table, compact)``: the kept ids (ascending), a full-id -> compact-id
    lookup (ids outside the corpus, which only the collator's 10% random replacement can
    produce, are folded onto kept ids), and the new ``nn.Embedding`` (rows copied)."""
    import torch
    from torch import nn

    n_vocab = int(full.weight.shape[0])
    used = {int(i) for row in encodings for i in row["input_ids"]}
    used.update(int(i) for i in tokenizer.all_special_ids if i is not None and 0 <= int(i) < n_vocab)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else getattr(config, "pad_token_id", None)
    if pad is not None:
        used.update(range(0, int(pad) + 1))
    keep = torch.tensor(sorted(i for i in used if 0 <= i < n_vocab), dtype=torch.long)
    table = torch.full((n_vocab,), -1, dtype=torch.long)
    table[keep] = torch.arange(len(keep))
    missing = table < 0  # out-of-corpus ids: folded onto compact ids (random replacements only)
    table[missing] = torch.arange(n_vocab, dtype=torch.long)[missing] % len(keep)
    padding_idx = int(table[pad]) if pad is not None and full.padding_idx is not None else None
    compact = nn.Embedding(len(keep), full.weight.shape[1], padding_idx=padding_idx, dtype=full.weight.dtype)
    with torch.no_grad():
        compact.weight.copy_(full.weight.detach()[keep.to(full.weight.device)].cpu())
    return keep, table, compact


def _collate(collator, rows: list[dict], table, device) -> dict:
    """Mask a batch (HF collator, full-vocabulary ids), then map ids into the training vocabulary."""
    import torch

    batch = collator(rows)
    if table is not None:
        batch["input_ids"] = table[batch["input_ids"]]
        labels = batch["labels"]
        batch["labels"] = torch.where(labels != -100, table[labels.clamp(min=0)], labels)
    return {k: v.to(device) for k, v in batch.items()}


def _forward_kwargs(auto_model, batch: dict) -> dict:
    import inspect

    accepted = set(inspect.signature(auto_model.forward).parameters)
    return {k: v for k, v in batch.items() if k in accepted and k not in ("labels", "special_tokens_mask")}


def _masked_loss(auto_model, head_module, batch: dict):
    import torch.nn.functional as F

    labels = batch["labels"]
    selected = labels != -100
    n_masked = int(selected.sum())
    if n_masked == 0:
        return None, 0
    hidden = auto_model(**_forward_kwargs(auto_model, batch)).last_hidden_state
    logits = head_module(hidden[selected])
    return F.cross_entropy(logits.float(), labels[selected]), n_masked


def _warm_up_head(auto_model, head_module, collator, stream, table, device, settings: MLMSettings, progress: bool) -> dict | None:
    """Train the head's own parameters alone for ``steps`` batches (see ``head_warmup_steps``).

    The encoder runs in eval mode under ``no_grad`` (its hidden states are fixed features),
    and a decoder weight tied to the input embeddings is left out: it *is* the encoder's
    embedding matrix.  So the warm-up learns the ``H x H`` transform, its LayerNorm and the
    per-piece bias (plus an untied decoder), and costs a forward pass per step."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    steps, learning_rate, max_grad_norm = settings.head_warmup_steps, settings.head_learning_rate, settings.max_grad_norm
    if not steps:
        return None
    embedding_ids = {id(p) for p in auto_model.parameters()}
    own = [p for p in head_module.parameters() if id(p) not in embedding_ids]
    optimizer = torch.optim.AdamW(own, lr=learning_rate, weight_decay=settings.weight_decay)
    auto_model.eval()
    head_module.train()
    history: list[float] = []
    started = time.perf_counter()
    bar = tqdm(total=steps, desc="MLM head warm-up", unit="step", disable=not progress)
    while len(history) < steps:
        batch = _collate(collator, next(stream), table, device)
        selected = batch["labels"] != -100
        if not bool(selected.any()):
            continue
        with torch.no_grad():
            hidden = auto_model(**_forward_kwargs(auto_model, batch)).last_hidden_state[selected]
        loss = F.cross_entropy(head_module(hidden).float(), batch["labels"][selected])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The MLM head warm-up loss became {float(loss)} at step {len(history)}; lower head_learning_rate.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(own, max_grad_norm)
        optimizer.step()
        history.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    bar.close()
    return {
        "steps": steps,
        "learning_rate": learning_rate,
        "trained_parameters": int(sum(p.numel() for p in own)),
        "loss_first_last": [history[0], history[-1]],
        "seconds": round(time.perf_counter() - started, 3),
    }


def _evaluate(
    auto_model,
    head_module,
    collator_cls,
    tokenizer,
    encodings: list[dict],
    mask_probability: float,
    seed: int,
    batch_size: int,
    device,
    table=None,
) -> float | None:
    """Mean MLM loss (per masked token) over ``encodings`` with a fixed, seeded masking."""
    import torch

    if not encodings:
        return None
    collator = collator_cls(tokenizer=tokenizer, mlm_probability=mask_probability, seed=seed)
    was_training = auto_model.training
    auto_model.eval()
    head_module.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(encodings), batch_size):
            batch = _collate(collator, encodings[start : start + batch_size], table, device)
            loss, n = _masked_loss(auto_model, head_module, batch)
            if loss is not None:
                total += float(loss) * n
                count += n
    auto_model.train(was_training)
    head_module.train(was_training)
    return total / count if count else None


def _load_encoder(resolved: str, device, SentenceTransformer):
    """The sentence-transformers model, its HF encoder and tokenizer; refuse what MLM cannot train."""
    from sentence_transformers.models import Transformer

    model = SentenceTransformer(resolved, device=str(device))
    first = model[0]
    if not isinstance(first, Transformer) or not hasattr(first, "auto_model"):
        raise ValueError(
            f"{resolved}: its first module is {type(first).__name__}, not a Transformer. Fix: MLM pre-training takes a plain "
            "encoder folder (Transformer -> Pooling ...), not a distilled Router model."
        )
    tokenizer = first.tokenizer
    if getattr(tokenizer, "mask_token", None) is None or tokenizer.mask_token_id is None:
        raise ValueError(f"{resolved}: the tokenizer has no mask token. Fix: MLM pre-training needs a tokenizer with [MASK]/<mask>.")
    return model, first.auto_model, tokenizer


def _encodings(tokenizer, texts, max_seq_length: int) -> list[dict]:
    """The tokenized texts that hold at least one token that can be masked."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_seq_length, return_special_tokens_mask=True)
    keys = [k for k in encoded.keys() if k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")]
    encodings = []
    for i in range(len(texts)):
        row = {k: encoded[k][i] for k in keys}
        if sum(1 for s in row["special_tokens_mask"] if not s) > 0:  # skip texts with no content token
            encodings.append(row)
    if not encodings:
        raise ValueError("None of the texts has a token to mask.")
    return encodings


def _optimizer(auto_model, head_module, *, learning_rate: float, weight_decay: float, warmup_ratio: float, total_steps: int):
    """AdamW over the encoder and the head (a tied decoder weight appears once; no decay on
    biases and LayerNorm), and its schedule: linear warm-up over ``ceil(warmup_ratio * T)``
    steps, :math:`\\eta_t = \\eta (t + 1) / (w + 1)`, then linear decay
    :math:`\\eta_t = \\eta (T - t) / (T - w)`. Returns ``(params, optimizer, scheduler)``."""
    import torch

    params, seen = [], set()
    for module in (auto_model, head_module):
        for name, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append((name, p))
    no_decay = [p for n, p in params if p.ndim < 2 or "LayerNorm" in n or "layer_norm" in n or n.endswith("bias")]
    decay = [p for n, p in params if not (p.ndim < 2 or "LayerNorm" in n or "layer_norm" in n or n.endswith("bias"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate
    )
    warmup = int(math.ceil(warmup_ratio * total_steps))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return params, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _batch_stream(encodings: list[dict], batch_size: int, seed: int):
    """Endless batches: passes over the texts, each in a fresh seeded permutation."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(encodings), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            yield [encodings[i] for i in order[start : start + batch_size]]


def _run_steps(
    auto_model, head_module, collator, stream, table, device, optimization: tuple, *, total_steps: int, max_grad_norm: float, progress: bool
) -> tuple[list[float], int, float]:
    """The MLM steps (``optimization``: the parameters, the optimiser and the scheduler); returns
    the loss history, the masked tokens seen and the seconds."""
    import torch
    from tqdm.auto import tqdm

    params, optimizer, scheduler = optimization
    auto_model.train()
    head_module.train()
    history: list[float] = []
    masked_total = 0
    bar = tqdm(total=total_steps, desc="MLM pre-training", unit="step", disable=not progress)
    loop_started = time.perf_counter()
    step = 0
    empty_in_a_row = 0
    while step < total_steps:
        batch = _collate(collator, next(stream), table, device)
        loss, n_masked = _masked_loss(auto_model, head_module, batch)
        if loss is None:  # no token drawn for masking in this batch: draw another one
            empty_in_a_row += 1
            if empty_in_a_row > 1000:  # pragma: no cover - needs a pathological mask_probability
                raise RuntimeError("No token was ever selected for masking; raise mask_probability.")
            continue
        empty_in_a_row = 0
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The MLM loss became {float(loss)} at step {step}; lower the learning rate.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_([p for _, p in params], max_grad_norm)
        optimizer.step()
        scheduler.step()
        history.append(float(loss.detach()))
        masked_total += n_masked
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    bar.close()
    return history, masked_total, round(time.perf_counter() - loop_started, 3)


def _write_back(auto_model, full_embeddings, keep) -> None:
    """The trained rows of the corpus vocabulary back into the full embedding matrix."""
    import torch

    trained = auto_model.get_input_embeddings()
    with torch.no_grad():
        full_embeddings.weight[torch.as_tensor(keep, device=full_embeddings.weight.device)] = trained.weight.detach().to(
            full_embeddings.weight
        )
    auto_model.set_input_embeddings(full_embeddings)


def _save_encoder(model, auto_model, full_embeddings, keep, staging) -> None:
    """Save the trained encoder (the sentence-transformers modules; the MLM head is dropped),
    its corpus-vocabulary rows written back into the full embedding matrix first."""
    auto_model.eval()
    if keep is not None:
        _write_back(auto_model, full_embeddings, keep)
    model.to("cpu")
    model.save(str(staging))


def train_mlm(resolved, texts, staging, base_provenance, settings: MLMSettings, *, device, total_steps, eval_texts, progress) -> dict:
    """Continue MLM training of ``resolved`` on ``texts``; save the encoder into ``staging``
    and return the provenance record (see :func:`optical_bench.augment.mlm.mlm_pretrain`)."""
    from sentence_transformers import SentenceTransformer
    from transformers import DataCollatorForLanguageModeling as collator_cls

    s = settings
    batch_size, mask_probability, seed, head, vocabulary = s.batch_size, s.mask_probability, s.seed, s.head, s.vocabulary
    model, auto_model, tokenizer = _load_encoder(resolved, device, SentenceTransformer)
    encodings = _encodings(tokenizer, texts, s.max_seq_length)
    n_tokens = sum(len(e["input_ids"]) for e in encodings)
    full_embeddings = auto_model.get_input_embeddings()
    n_vocab = int(full_embeddings.weight.shape[0])
    table = keep = None
    if vocabulary == "corpus":
        keep, table, compact = compact_embeddings(full_embeddings, tokenizer, encodings, auto_model.config)
        auto_model.set_input_embeddings(compact.to(device))
    checkpoint = transformer_folder(Path(resolved)) if Path(resolved).is_dir() else None
    head_module, head_info = build_head(auto_model, head, checkpoint, keep_ids=keep)
    head_module.to(device)
    head_info.update(vocabulary=vocabulary, vocabulary_size=int(len(keep)) if keep is not None else n_vocab, full_vocabulary_size=n_vocab)

    collator = collator_cls(tokenizer=tokenizer, mlm_probability=mask_probability, seed=seed)
    eval_set = encodings[: max(0, int(eval_texts))]

    def eval_loss():
        return _evaluate(auto_model, head_module, collator_cls, tokenizer, eval_set, mask_probability, seed + 1, batch_size, device, table)

    loss_before = eval_loss()
    optimization = _optimizer(
        auto_model,
        head_module,
        learning_rate=s.learning_rate,
        weight_decay=s.weight_decay,
        warmup_ratio=s.warmup_ratio,
        total_steps=total_steps,
    )
    stream = _batch_stream(encodings, batch_size, seed)
    head_record = _warm_up_head(auto_model, head_module, collator, stream, table, device, s, progress)
    loss_after_head = eval_loss() if s.head_warmup_steps else None
    history, masked_total, seconds = _run_steps(
        auto_model,
        head_module,
        collator,
        stream,
        table,
        device,
        optimization,
        total_steps=total_steps,
        max_grad_norm=s.max_grad_norm,
        progress=progress,
    )
    loss_after = eval_loss()
    _save_encoder(model, auto_model, full_embeddings, keep, staging)
    k = max(1, len(history) // 10)
    return {
        **base_provenance,
        **head_info,
        "copied": False,
        "steps": total_steps,
        "epochs": round(total_steps * batch_size / len(encodings), 3),
        "texts_used": len(encodings),
        "tokens_per_pass": n_tokens,
        "masked_tokens_seen": masked_total,
        "loss_first_last": [history[0], history[-1]],
        "loss_mean_first_last_10pct": [sum(history[:k]) / k, sum(history[-k:]) / k],
        "loss_history": [round(x, 5) for x in history],
        "eval_texts": len(eval_set),
        "eval_loss_before": loss_before,
        "eval_loss_after_head_warmup": loss_after_head,
        "eval_loss_after": loss_after,
        "head_warmup": head_record,
        "train_seconds": seconds,
        "steps_per_second": round(total_steps / seconds, 3) if seconds else None,
        "device": str(device),
    }
