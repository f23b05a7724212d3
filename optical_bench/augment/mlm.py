"""Continued masked-LM pre-training of an encoder on target-language text (RQ1).

:func:`mlm_pretrain` takes a sentence-transformers encoder (a packaged name such as
``multilingual-e5-small-q4``, a local folder, or a plain Hugging Face encoder folder),
continues masked-language-model training of its transformer on monolingual
low-resource text (the Chichewa verses of the books whose English side is withheld),
and writes a sentence-transformers folder with the *same modules and prompts* whose
encoder weights are the MLM-trained ones.  The MLM head is a training-time device
only: it is never part of the output, so the folder is a drop-in ``student_init`` for
distillation (:func:`optical_bench.models.build_distillation_model`).

Design
------
* **A plain torch loop**, not the HF ``Trainer``: on a 2-core CPU it is simpler, has no
  hidden state to resume, and lets the loss be computed on the *masked positions only*
  (the MLM head is applied to ``hidden[labels != -100]``).  With the 250k-piece XLM-R
  vocabulary of multilingual-e5-small that is ~7x less work and memory than the HF
  ``*ForMaskedLM`` forward, which scores every position.
* **Vocabulary** (``vocabulary=``, default ``"corpus"``): training runs over the
  sub-word pieces the texts actually use (plus the special tokens), not the whole
  vocabulary: the encoder's embedding matrix is swapped for the matching rows during
  training and the rows are written back afterwards, and the MLM softmax normalises
  over those pieces.  Rows of pieces absent from the texts (other languages' pieces:
  the bulk of XLM-R's 250k) stay *exactly* as they were -- no output-side gradient,
  no weight decay, no optimiser state -- which is what adapting a multilingual encoder
  to one language should do, and it makes a CPU step several times cheaper
  (multilingual-e5-small on 1,000 Chichewa verses: ~9k pieces instead of 250k).
  ``"full"`` is the textbook objective (softmax over every piece; AdamW touches every row).
* **Masking**: Hugging Face's :class:`~transformers.DataCollatorForLanguageModeling`
  with the model's own tokenizer (WordPiece ``[MASK]`` or Unigram ``<mask>``; a tokenizer
  without a mask token is an error), BERT's 80/10/10 replacement, special tokens never
  masked, its own seeded generator.
* **Head** (``head=``):

  - ``"fresh"`` (default): the architecture's standard MLM head
    (``AutoModelForMaskedLM``'s: dense + activation + LayerNorm transform, then a decoder
    with a per-piece bias), **newly initialised**, with the decoder weight *tied* to the
    encoder's input embeddings.  Why the default: our encoders are retrieval models
    (e5, MiniLM) fine-tuned contrastively after their original MLM pre-training; their
    sentence-transformers folders carry no MLM head, and any head that shipped with the
    pre-fine-tuning checkpoint no longer matches the encoder.  Tying keeps the new
    parameters to one ``H x H`` transform and a bias, and sends the output-side gradient
    into the embedding rows of the target-language pieces -- exactly the rows MLM
    adaptation is meant to move.
  - ``"tied"``: the same tied head, but its transform and bias are *loaded* from the
    encoder's checkpoint when the checkpoint ships them (a Hugging Face
    ``BertForMaskedLM``/``XLMRobertaForMaskedLM`` folder: ``cls.predictions.*`` or
    ``lm_head.*`` tensors); otherwise (both packaged encoders) it falls back to a fresh
    head and says so in the provenance (``head_init``).
  - ``"untied"``: a fresh transform and a decoder *initialised as a copy* of the input
    embeddings but trained separately (the input embeddings then learn only through the
    encoder).  Costs a second ``V x H`` matrix (96M parameters for XLM-R's vocabulary).

* **Head warm-up** (``head_warmup_steps``, default 100): the head's own parameters are
  trained alone first, on the frozen encoder's features ("linear probing, then
  fine-tuning", Kumar et al., ICLR 2022).  A fresh head is random; without the warm-up its
  first gradients are noise that wrecks the retrieval geometry distillation starts from.

* **Provenance**: ``optical_bench_mlm.json`` in the output folder (number and hash of the
  texts, steps, head, masking, optimiser, the loss curve, and the MLM loss on a fixed,
  seeded masking of the training texts before and after training).

:func:`mlm_pretrain_cached` wraps it with a content-addressed cache under
``optical_bench.io.home() / "mlm"`` so a grid (RQ1: bitext size x monolingual size)
pre-trains each (encoder, texts, settings) once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from optical_bench.io import replace_folder, atomic_write_json, home, sha256_folder, sha256_json

__all__ = [
    "HEADS",
    "VOCABULARIES",
    "MLM_PROVENANCE_FILE",
    "mlm_pretrain",
    "mlm_pretrain_cached",
    "mlm_options",
    "mlm_student_init",
    "texts_fingerprint",
]

logger = logging.getLogger(__name__)

HEADS = ("fresh", "tied", "untied")
VOCABULARIES = ("corpus", "full")
MLM_PROVENANCE_FILE = "optical_bench_mlm.json"
FORMAT_NAME = "optical-bench/mlm-pretrain"
FORMAT_VERSION = 2  # 2: corpus-vocabulary id mapping fixed (invalidates cached MLM folders of version 1)


def texts_fingerprint(texts: Sequence[str]) -> str:
    """SHA-256 of a list of texts (order matters)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- helpers


def _resolve(encoder: str | os.PathLike) -> str:
    from optical_bench.assets.models import resolve_model

    return resolve_model(encoder if isinstance(encoder, os.PathLike) else str(encoder))


def _transformer_folder(root: Path) -> Path | None:
    """The folder holding the HF weights of a sentence-transformers folder's Transformer module."""
    modules = root / "modules.json"
    if not modules.exists():
        return root if (root / "config.json").exists() else None
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for entry in entries:
        if str(entry.get("type", "")).endswith("Transformer"):
            return root / entry.get("path", "")
    return None


def _checkpoint_head_state(folder: Path | None, head_name: str) -> dict[str, Any]:
    """Tensors of the MLM head stored in a HF checkpoint (``{head_name}.*``), keyed relative to the head."""
    if folder is None:
        return {}
    state: dict[str, Any] = {}
    prefix = head_name + "."
    files = sorted(folder.glob("*.safetensors"))
    if files:
        from safetensors import safe_open

        for file in files:
            with safe_open(str(file), framework="pt") as handle:
                for key in handle.keys():
                    if key.startswith(prefix):
                        state[key[len(prefix):]] = handle.get_tensor(key)
    elif (folder / "pytorch_model.bin").exists():
        import torch

        raw = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        state = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
    return state


def _build_head(auto_model, head: str, checkpoint_folder: Path | None, keep_ids=None):
    """The MLM head for ``auto_model`` (see the module docstring); returns ``(head_module, info)``.

    ``keep_ids``: restrict the head's output vocabulary to these piece ids (its per-piece
    bias is sliced; the decoder is tied to / copied from ``auto_model``'s current input
    embeddings, which must then hold exactly those rows)."""
    import copy

    from torch import nn
    from transformers import AutoModelForMaskedLM

    config = copy.deepcopy(auto_model.config)
    config.tie_word_embeddings = head != "untied"
    try:
        mlm = AutoModelForMaskedLM.from_config(config)
    except ValueError as error:
        raise ValueError(
            f"No masked-LM head for model type {config.model_type!r} ({error}). Fix: MLM pre-training needs a "
            "BERT/XLM-R-like encoder (AutoModelForMaskedLM must support its config)."
        ) from None
    base_name = mlm.base_model_prefix
    heads = [(name, module) for name, module in mlm.named_children() if name != base_name]
    if len(heads) != 1:
        raise ValueError(f"Cannot find the MLM head of {type(mlm).__name__} (children {[n for n, _ in mlm.named_children()]}).")
    head_name, module = heads[0]
    del mlm  # drop the freshly built duplicate encoder
    info: dict[str, Any] = {"head": head, "head_class": type(module).__name__, "head_init": "fresh", "head_loaded_tensors": 0}
    if head == "tied":
        state = _checkpoint_head_state(checkpoint_folder, head_name)
        decoder_keys = {k for k in state if k.startswith("decoder.") or k.endswith("decoder.weight")}
        state = {k: v for k, v in state.items() if k not in decoder_keys}
        if state:
            missing, unexpected = module.load_state_dict(state, strict=False)
            loaded = len(state) - len(unexpected)
            if loaded:
                info.update(head_init="checkpoint", head_loaded_tensors=loaded)
        if info["head_init"] == "fresh":
            logger.info("head='tied': the checkpoint has no MLM head weights; using a freshly initialised head")
    decoder = _decoder(module)
    if keep_ids is not None:
        # Slice every per-piece vector (the bias, tied between the head and its decoder).
        replaced: dict[int, nn.Parameter] = {}
        vocab = int(config.vocab_size)
        for sub in module.modules():
            for name, param in list(sub.named_parameters(recurse=False)):
                if param.ndim == 1 and param.shape[0] == vocab:
                    if id(param) not in replaced:
                        replaced[id(param)] = nn.Parameter(param.detach()[keep_ids].clone())
                    setattr(sub, name, replaced[id(param)])
        decoder.out_features = int(len(keep_ids))
    embeddings = auto_model.get_input_embeddings()
    if head == "untied":
        decoder.weight = nn.Parameter(embeddings.weight.detach().clone())
    else:
        decoder.weight = embeddings.weight  # tie: the very same Parameter
    info["decoder_tied"] = decoder.weight is embeddings.weight
    if decoder.weight.shape[0] != embeddings.weight.shape[0]:  # pragma: no cover - config/vocab mismatch
        raise ValueError("The encoder's embedding matrix does not match its config's vocab_size.")
    module.to(embeddings.weight.device)
    return module, info


def _decoder(head_module):
    from torch import nn

    decoder = None
    for name, sub in head_module.named_modules():
        if name.split(".")[-1] == "decoder" and isinstance(sub, nn.Linear):
            decoder = sub
    if decoder is None:
        raise ValueError(f"{type(head_module).__name__} has no 'decoder' Linear layer.")
    return decoder


def _compact_embeddings(full, tokenizer, encodings: list[dict], config):
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


def _warm_up_head(auto_model, head_module, collator, stream, table, device, *, steps: int, learning_rate: float,
                  weight_decay: float, max_grad_norm: float, tqdm, progress: bool) -> dict | None:
    """Train the head's own parameters alone for ``steps`` batches (see ``head_warmup_steps``).

    The encoder runs in eval mode under ``no_grad`` (its hidden states are fixed features),
    and a decoder weight tied to the input embeddings is left out: it *is* the encoder's
    embedding matrix.  So the warm-up learns the ``H x H`` transform, its LayerNorm and the
    per-piece bias (plus an untied decoder), and costs a forward pass per step."""
    import torch
    import torch.nn.functional as F

    if not steps:
        return None
    embedding_ids = {id(p) for p in auto_model.parameters()}
    own = [p for p in head_module.parameters() if id(p) not in embedding_ids]
    optimizer = torch.optim.AdamW(own, lr=learning_rate, weight_decay=weight_decay)
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
    return {"steps": steps, "learning_rate": learning_rate, "trained_parameters": int(sum(p.numel() for p in own)),
            "loss_first_last": [history[0], history[-1]], "seconds": round(time.perf_counter() - started, 3)}


def _evaluate(auto_model, head_module, collator_cls, tokenizer, encodings: list[dict], mask_probability: float, seed: int, batch_size: int, device, table=None) -> float | None:
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


def _publish(staging: Path, out: Path) -> None:
    staging.chmod(0o755)
    for p in staging.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    replace_folder(staging, out)


def _source_provenance(resolved: str) -> dict | None:
    path = Path(resolved) / "optical_bench_provenance.json"
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
    return None


# --------------------------------------------------------------------------- main entry point


def mlm_pretrain(
    encoder: str | os.PathLike,
    texts: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    steps: int | None = None,
    epochs: float = 1.0,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    mask_probability: float = 0.15,
    max_seq_length: int = 64,
    seed: int = 42,
    head: str = "fresh",
    vocabulary: str = "corpus",
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    head_warmup_steps: int = 100,
    head_learning_rate: float = 1e-3,
    eval_texts: int = 64,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Continue masked-LM training of ``encoder`` on ``texts``; write a sentence-transformers folder.

    Args:
        encoder: packaged model name, sentence-transformers folder, or HF encoder folder/id.
            Its first module must be a ``Transformer`` (BERT, XLM-R, ... with an MLM head class).
        texts: monolingual target-language sentences; empty ones are skipped.  With no
            usable text the encoder is copied unchanged (the "0 texts" point of RQ1).
        out_dir: the output folder (replaced atomically if it exists).
        steps: optimiser steps; ``None``: ``ceil(epochs * len(texts) / batch_size)``
            (``epochs`` may be fractional: 0.25 sees each text once in four).  Batches cycle
            over the texts, reshuffled (seeded) every pass.
        batch_size, learning_rate, weight_decay, max_grad_norm: AdamW (no decay on biases
            and LayerNorm), linear warm-up over ``warmup_ratio`` of the steps then linear decay.
        mask_probability: share of non-special tokens selected for prediction (BERT 80/10/10).
        max_seq_length: texts are truncated to this many tokens for MLM only; the output's
            ``Transformer.max_seq_length`` is left as it was.
        seed: seeds the head initialisation, the shuffling, the masking and dropout (the
            global torch RNG is restored afterwards).
        head: ``"fresh"`` (default), ``"tied"`` or ``"untied"``: see the module docstring.
        head_warmup_steps, head_learning_rate: before the ``steps``, train the head's own
            parameters alone for this many steps (encoder and embeddings frozen, AdamW at
            ``head_learning_rate``, constant): "linear probing, then fine-tuning" (Kumar et
            al., ICLR 2022).  A fresh head is random, so without it the first steps send
            noise gradients into an encoder whose sentence embeddings are what
            distillation starts from (measured: 34 MLM steps at lr 5e-5 take
            multilingual-e5-small's Bible dev R@1 from 0.85 to 0.15 without warm-up, to 0.80
            after 100 warm-up steps).  Default 100; 0: no warm-up.
        vocabulary: ``"corpus"`` (default): train over the pieces the texts use only (see
            the module docstring); ``"full"``: the textbook MLM over the whole vocabulary.
        eval_texts: the MLM loss on (up to) this many training texts, with a fixed masking,
            is recorded before and after training (0: skip).
        device: ``None``: CUDA when available, else CPU.

    Returns:
        ``Path(out_dir)``, a folder that ``SentenceTransformer(out_dir)`` loads, holding
        ``optical_bench_mlm.json``.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from tqdm.auto import tqdm
    from transformers import DataCollatorForLanguageModeling

    if head not in HEADS:
        raise ValueError(f"head={head!r}: choose one of {', '.join(HEADS)}.")
    if vocabulary not in VOCABULARIES:
        raise ValueError(f"vocabulary={vocabulary!r}: choose one of {', '.join(VOCABULARIES)}.")
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    if not 0.0 < mask_probability < 1.0:
        raise ValueError(f"mask_probability must be in (0, 1), got {mask_probability}")
    if steps is not None and int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if int(head_warmup_steps) < 0 or not float(head_learning_rate) > 0:
        raise ValueError(f"head_warmup_steps must be >= 0 and head_learning_rate > 0, got {head_warmup_steps}, {head_learning_rate}")
    if not float(epochs) >= 0 or int(batch_size) < 1 or int(max_seq_length) < 4:
        raise ValueError("epochs must be >= 0, batch_size >= 1 and max_seq_length >= 4")
    started = time.perf_counter()
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    resolved = _resolve(encoder)
    texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    base_provenance: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "encoder": str(encoder),
        "encoder_resolved": str(resolved),
        "texts": len(texts),
        "texts_sha256": texts_fingerprint(texts),
        "head": head,
        "vocabulary": vocabulary,
        "mask_probability": mask_probability,
        "max_seq_length": max_seq_length,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "max_grad_norm": max_grad_norm,
        "head_warmup_steps": int(head_warmup_steps),
        "head_learning_rate": head_learning_rate if head_warmup_steps else None,
        "seed": seed,
        "source_provenance": _source_provenance(resolved),
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        total_steps = 0
        if texts:
            total_steps = int(steps) if steps is not None else int(math.ceil(float(epochs) * len(texts) / batch_size - 1e-9))
        if total_steps == 0:
            # Nothing to learn from: an exact copy of the encoder (or a re-save of a hub model).
            if Path(resolved).is_dir():
                shutil.rmtree(staging)
                shutil.copytree(resolved, staging, ignore=shutil.ignore_patterns(".*", MLM_PROVENANCE_FILE))
            else:
                SentenceTransformer(resolved, device="cpu").save(str(staging))
            provenance = {**base_provenance, "steps": 0, "epochs": 0.0, "copied": True, "head_init": None,
                          "seconds": round(time.perf_counter() - started, 2)}
            atomic_write_json(staging / MLM_PROVENANCE_FILE, provenance)
            _publish(staging, out)
            return out

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            provenance = _train(
                resolved, texts, staging, base_provenance, device=device, total_steps=total_steps, batch_size=batch_size,
                learning_rate=learning_rate, mask_probability=mask_probability, max_seq_length=max_seq_length, seed=seed,
                head=head, vocabulary=vocabulary, warmup_ratio=warmup_ratio, weight_decay=weight_decay, max_grad_norm=max_grad_norm,
                head_warmup_steps=int(head_warmup_steps), head_learning_rate=float(head_learning_rate), eval_texts=eval_texts, progress=progress, SentenceTransformer=SentenceTransformer, tqdm=tqdm,
                collator_cls=DataCollatorForLanguageModeling,
            )
        provenance["seconds"] = round(time.perf_counter() - started, 2)
        atomic_write_json(staging / MLM_PROVENANCE_FILE, provenance)
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _train(resolved, texts, staging, base_provenance, *, device, total_steps, batch_size, learning_rate, mask_probability,
           max_seq_length, seed, head, vocabulary, warmup_ratio, weight_decay, max_grad_norm, head_warmup_steps,
           head_learning_rate, eval_texts, progress, SentenceTransformer, tqdm, collator_cls) -> dict:
    import torch
    from sentence_transformers.models import Transformer

    model = SentenceTransformer(resolved, device=str(device))
    first = model[0]
    if not isinstance(first, Transformer) or not hasattr(first, "auto_model"):
        raise ValueError(
            f"{resolved}: its first module is {type(first).__name__}, not a Transformer. Fix: MLM pre-training takes a plain "
            "encoder folder (Transformer -> Pooling ...), not a distilled Router model."
        )
    auto_model = first.auto_model
    tokenizer = first.tokenizer
    if getattr(tokenizer, "mask_token", None) is None or tokenizer.mask_token_id is None:
        raise ValueError(f"{resolved}: the tokenizer has no mask token. Fix: MLM pre-training needs a tokenizer with [MASK]/<mask>.")
    encoded = tokenizer(list(texts), truncation=True, max_length=max_seq_length, return_special_tokens_mask=True)
    keys = [k for k in encoded.keys() if k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")]
    encodings = []
    for i in range(len(texts)):
        row = {k: encoded[k][i] for k in keys}
        if sum(1 for s in row["special_tokens_mask"] if not s) > 0:  # skip texts with no content token
            encodings.append(row)
    if not encodings:
        raise ValueError("None of the texts has a token to mask.")
    n_tokens = sum(len(e["input_ids"]) for e in encodings)

    full_embeddings = auto_model.get_input_embeddings()
    n_vocab = int(full_embeddings.weight.shape[0])
    table = keep = None
    if vocabulary == "corpus":
        keep, table, compact = _compact_embeddings(full_embeddings, tokenizer, encodings, auto_model.config)
        auto_model.set_input_embeddings(compact.to(device))
    checkpoint = _transformer_folder(Path(resolved)) if Path(resolved).is_dir() else None
    head_module, head_info = _build_head(auto_model, head, checkpoint, keep_ids=keep)
    head_module.to(device)
    head_info.update(vocabulary=vocabulary, vocabulary_size=int(len(keep)) if keep is not None else n_vocab, full_vocabulary_size=n_vocab)

    collator = collator_cls(tokenizer=tokenizer, mlm_probability=mask_probability, seed=seed)
    eval_set = encodings[: max(0, int(eval_texts))]
    loss_before = _evaluate(auto_model, head_module, collator_cls, tokenizer, eval_set, mask_probability, seed + 1, batch_size, device, table)

    # Optimiser: the encoder and the head (a tied decoder weight appears once).
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

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(seed)

    def batches():
        while True:
            order = torch.randperm(len(encodings), generator=generator).tolist()
            for start in range(0, len(order), batch_size):
                yield [encodings[i] for i in order[start : start + batch_size]]

    stream = batches()
    head_record = _warm_up_head(
        auto_model, head_module, collator, stream, table, device, steps=head_warmup_steps, learning_rate=head_learning_rate,
        weight_decay=weight_decay, max_grad_norm=max_grad_norm, tqdm=tqdm, progress=progress,
    )
    loss_after_head = (
        _evaluate(auto_model, head_module, collator_cls, tokenizer, eval_set, mask_probability, seed + 1, batch_size, device, table)
        if head_warmup_steps else None
    )

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
    seconds = round(time.perf_counter() - loop_started, 3)

    loss_after = _evaluate(auto_model, head_module, collator_cls, tokenizer, eval_set, mask_probability, seed + 1, batch_size, device, table)
    auto_model.eval()
    if vocabulary == "corpus":  # write the trained rows back into the full matrix
        trained = auto_model.get_input_embeddings()
        with torch.no_grad():
            full_embeddings.weight[torch.as_tensor(keep, device=full_embeddings.weight.device)] = trained.weight.detach().to(full_embeddings.weight)
        auto_model.set_input_embeddings(full_embeddings)
        del trained
    # The head is dropped here: only the encoder (the sentence-transformers modules) is saved.
    model.to("cpu")
    model.save(str(staging))
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


# --------------------------------------------------------------------------- cache


def mlm_pretrain_cached(encoder: str | os.PathLike, texts: Sequence[str], *, cache_root: str | os.PathLike | None = None, **kw: Any) -> Path:
    """:func:`mlm_pretrain` into ``home()/mlm/<key>`` unless that folder is already there.

    ``key`` hashes the encoder's content (its resolved folder; the id for a hub model), the
    texts and every option (``progress`` and ``device`` excepted), so a grid pre-trains each
    combination once and an interrupted pre-training is redone (the folder appears only
    when complete).  Under data parallelism, call it on the main process first (e.g.
    ``accelerate``'s ``main_process_first``) so the other ranks find the folder ready.
    """
    resolved = _resolve(encoder)
    encoder_key = sha256_folder(resolved, exclude=(MLM_PROVENANCE_FILE, "README.md")) if Path(resolved).is_dir() else str(resolved)
    options = {k: v for k, v in kw.items() if k not in ("progress", "device")}
    cleaned = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    key = sha256_json({"format": FORMAT_VERSION, "encoder": encoder_key, "texts": texts_fingerprint(cleaned), "options": options})[:16]
    root = Path(cache_root) if cache_root is not None else home() / "mlm"
    out = root / f"{Path(str(encoder)).name}-{len(cleaned)}-{key}"
    if (out / MLM_PROVENANCE_FILE).exists():
        return out
    # Train into a private folder, then rename: two processes (e.g. torchrun ranks) that
    # race produce identical folders; the first rename wins, the other is discarded.
    private = root / f".{out.name}.{uuid.uuid4().hex[:8]}"
    mlm_pretrain(encoder, cleaned, private, **kw)
    try:
        os.rename(private, out)
    except OSError:
        if not (out / MLM_PROVENANCE_FILE).exists():
            shutil.rmtree(private, ignore_errors=True)
            raise
        shutil.rmtree(private, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- training integration


def mlm_options(config: Any) -> dict[str, Any]:
    """The ``mlm_*`` options of a training config (``TrainConfig`` or a dict); missing keys
    take :class:`~optical_bench.train.TrainConfig`'s defaults."""
    from optical_bench.train import config_defaults

    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    options = {k: get(k, v) for k, v in config_defaults("mlm_").items()}
    if options["mlm_max_seq_length"] is None:
        options["mlm_max_seq_length"] = get("max_seq_length", 64) or 64
    return options


def _wants_mlm(n: Any) -> bool:
    if n is None:
        return False
    if isinstance(n, str):
        return n.strip().lower() not in ("", "0", "none", "no")
    return int(n) != 0


def mlm_student_init(config: Any, progress: bool = True) -> tuple[str | None, dict | None]:
    """The student's initial encoder for a run: ``config.student_init`` (or the teacher)
    after MLM pre-training on ``mlm_texts`` monolingual texts, or unchanged when
    ``mlm_texts`` is 0.  Cached (:func:`mlm_pretrain_cached`), so the runs of a grid that
    share (encoder, texts, MLM options) pre-train once.

    Returns ``(student_init, provenance)``: ``student_init`` to pass to
    ``build_distillation_model`` (``config.student_init`` itself when there is no MLM), and
    the MLM record for the model card (``None`` without MLM)."""
    from optical_bench.augment.pairs import select_texts
    from optical_bench.data.bitext import read_monolingual

    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    options = mlm_options(config)
    student_init = get("student_init")
    if not _wants_mlm(options["mlm_texts"]):
        return student_init, None
    corpus = options["mlm_corpus"]
    if corpus:
        source = str(corpus)
        texts = read_monolingual(corpus)
    else:
        from optical_bench.data.collections import build_collections

        build = build_collections()
        source = f"Chichewa Bible verses of the books whose English side is withheld (optical-bench build {build.config.build_id})"
        texts = read_monolingual(build.monolingual("nya"))
    seed = int(get("seed", 42))
    chosen = select_texts(texts, options["mlm_texts"], seed=seed)
    base = student_init or get("teacher")
    folder = mlm_pretrain_cached(
        base, chosen, steps=options["mlm_steps"], epochs=options["mlm_epochs"], batch_size=options["mlm_batch_size"],
        learning_rate=options["mlm_learning_rate"], mask_probability=options["mlm_mask_probability"],
        max_seq_length=options["mlm_max_seq_length"], seed=seed, head=options["mlm_head"],
        vocabulary=options["mlm_vocabulary"], head_warmup_steps=options["mlm_head_warmup_steps"],
        head_learning_rate=options["mlm_head_learning_rate"], progress=progress,
    )
    record = json.loads((folder / MLM_PROVENANCE_FILE).read_text(encoding="utf-8"))
    record.pop("loss_history", None)
    record.pop("source_provenance", None)
    record.update(source=source, texts_available=len(texts), folder=str(folder))
    return str(folder), record
