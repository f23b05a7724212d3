"""The MLM head of continued masked-LM pre-training (:mod:`optical_bench.augment.mlm`).

``fresh`` (the architecture's standard head, newly initialised, decoder tied to the input
embeddings), ``tied`` (its transform and bias loaded from the checkpoint when it ships
them) or ``untied`` (a decoder initialised as a copy of the input embeddings, trained
separately). torch and transformers are imported when a head is built.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def transformer_folder(root: Path) -> Path | None:
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
                        state[key[len(prefix) :]] = handle.get_tensor(key)
    elif (folder / "pytorch_model.bin").exists():
        import torch

        raw = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        state = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    return state


def build_head(auto_model, head: str, checkpoint_folder: Path | None, keep_ids=None):
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
    decoder = head_decoder(module)
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


def head_decoder(head_module):
    from torch import nn

    decoder = None
    for name, sub in head_module.named_modules():
        if name.split(".")[-1] == "decoder" and isinstance(sub, nn.Linear):
            decoder = sub
    if decoder is None:
        raise ValueError(f"{type(head_module).__name__} has no 'decoder' Linear layer.")
    return decoder
