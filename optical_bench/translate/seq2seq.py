"""The online translator: any Hugging Face seq2seq MT model (NLLB, M2M100, mBART-50, opus-mt).

``torch`` and ``transformers`` are imported only when a model is built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

__all__ = ["HFSeq2SeqTranslator"]

logger = logging.getLogger(__name__)


class HFSeq2SeqTranslator:
    """Any Hugging Face seq2seq MT model (``AutoTokenizer`` + ``AutoModelForSeq2SeqLM``).

    * NLLB / M2M100 / mBART-50 style (the tokenizer has a ``src_lang`` attribute):
      ``src_lang`` is set on the tokenizer, and ``tgt_lang`` becomes
      ``forced_bos_token_id`` (NLLB codes such as ``"nya_Latn"``/``"eng_Latn"``,
      M2M100 codes such as ``"en"``, mBART codes such as ``"en_XX"``).  ``tgt_lang`` is
      required for them.
    * Multi-target opus-mt (Marian) models: when the vocabulary has ``>>tgt_lang<<``,
      that token is put in front of every input.  Single-pair opus-mt models need
      no language at all.

    Inputs are sorted by length before batching (less padding) and the outputs
    returned in input order.  ``max_length`` truncates inputs and caps the number
    of generated tokens.  ``load_kwargs`` (``revision``, ``torch_dtype``) go to
    ``from_pretrained``; extra ``generation_kwargs`` go to ``generate``.
    """

    kind = "hf-seq2seq"

    def __init__(
        self,
        model_id_or_path: str | os.PathLike,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        batch_size: int = 16,
        max_length: int = 256,
        device: str | None = None,
        num_beams: int = 1,
        progress: bool = True,
        load_kwargs: dict[str, Any] | None = None,
        generation_kwargs: dict[str, Any] | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if batch_size < 1 or max_length < 1 or num_beams < 1:
            raise ValueError("batch_size, max_length and num_beams must be >= 1")
        self.model_id = str(model_id_or_path)
        self.src_lang = src_lang
        self.tgt_lang = tgt_lang
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.num_beams = int(num_beams)
        self.progress = progress
        load_kwargs = dict(load_kwargs or {})
        revision, torch_dtype = load_kwargs.get("revision"), load_kwargs.get("torch_dtype")
        self.revision = revision
        self.generation_kwargs = dict(generation_kwargs or {})
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        load_kw: dict[str, Any] = {}
        if revision is not None:
            load_kw["revision"] = revision
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, **load_kw)
        model_kw = dict(load_kw)
        if torch_dtype is not None:
            model_kw["dtype"] = torch_dtype
        self.model = AutoModelForSeq2SeqLM.from_pretrained(self.model_id, **model_kw).to(self.device).eval()
        self.model_type = getattr(self.model.config, "model_type", None)
        self.forced_bos_token_id: int | None = None
        self.prefix = ""
        self._setup_languages()

    def _token_id(self, token: str) -> int | None:
        tok = self.tokenizer
        try:
            idx = tok.convert_tokens_to_ids(token)
        except (KeyError, ValueError, TypeError):
            return None
        if idx is None or (tok.unk_token_id is not None and idx == tok.unk_token_id and token != tok.unk_token):
            return None
        return int(idx)

    def _setup_languages(self) -> None:
        tok = self.tokenizer
        multilingual = hasattr(tok, "src_lang") or hasattr(tok, "get_lang_id")
        if self.src_lang is not None:
            if hasattr(tok, "src_lang"):
                tok.src_lang = self.src_lang
            else:
                logger.info("%s: tokenizer has no src_lang; src_lang=%r ignored", self.model_id, self.src_lang)
        if self.tgt_lang is None:
            if multilingual:
                raise ValueError(f"{self.model_id} is a multilingual model: give tgt_lang (e.g. 'eng_Latn' for NLLB, 'en' for M2M100)")
            return
        if multilingual:
            idx = None
            if hasattr(tok, "get_lang_id"):
                try:
                    idx = int(tok.get_lang_id(self.tgt_lang))
                except (KeyError, ValueError, AttributeError):
                    idx = None
            if idx is None:
                idx = self._token_id(self.tgt_lang)
            if idx is None:
                raise ValueError(f"{self.model_id}: unknown target language code {self.tgt_lang!r}")
            self.forced_bos_token_id = idx
            return
        marker = f">>{self.tgt_lang}<<"
        if self._token_id(marker) is not None:
            self.prefix = marker + " "
        else:
            logger.info("%s: no %s token; assuming a single-target model, tgt_lang ignored", self.model_id, marker)

    def translate(self, text: str) -> str:
        return self.translate_batch([text], progress=False)[0]

    def translate_batch(self, texts: Sequence[str], progress: bool | None = None) -> list[str]:
        """Translate ``texts``; one string per input, in input order."""
        import torch

        if isinstance(texts, str):
            raise TypeError("translate_batch expects a list of strings, not one string")
        texts = list(texts)
        if not texts:
            return []
        show = self.progress if progress is None else progress
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[str | None] = [None] * len(texts)
        gen_kw: dict[str, Any] = {"max_new_tokens": self.max_length, "num_beams": self.num_beams}
        if self.forced_bos_token_id is not None:
            gen_kw["forced_bos_token_id"] = self.forced_bos_token_id
        gen_kw.update(self.generation_kwargs)
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc=f"translate ({self.model_id})", unit="batch", disable=not show):
            idx = order[start : start + self.batch_size]
            batch = [self.prefix + texts[i] for i in idx]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                generated = self.model.generate(**enc, **gen_kw)
            decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, s in zip(idx, decoded):
                out[i] = s.strip()
        return out  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model_id": self.model_id,
            "model_type": self.model_type,
            "revision": self.revision or getattr(self.model.config, "_commit_hash", None),
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
            "training_pairs": None,
            "iterations": None,
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "num_beams": self.num_beams,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
        }

    def __repr__(self) -> str:
        return f"HFSeq2SeqTranslator({self.model_id!r}, src_lang={self.src_lang!r}, tgt_lang={self.tgt_lang!r})"
