"""The file format of a saved :class:`~optical_bench.translate.IBMModel1`: reading and validation.

A model file is one JSON object (written by :meth:`IBMModel1.save
<optical_bench.translate.IBMModel1.save>`): ``format`` and ``format_version``, the
``direction`` and ``target_null`` options, the language labels, both vocabularies (the
empty word first), the sparse table ``t`` as three parallel columns ``src``, ``tgt``,
``prob``, and the ``training`` statistics.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from optical_bench.translate.tokenizer import NULL

__all__ = ["DIRECTIONS", "FORMAT_NAME", "FORMAT_VERSION", "SavedModel", "TranslatorFormatError", "read_model_file"]

FORMAT_NAME = "optical-bench/ibm-model-1"
FORMAT_VERSION = 1
#: The values of IBMModel1's ``direction``.
DIRECTIONS = ("forward", "reverse")


class TranslatorFormatError(ValueError):
    """A saved translation model is missing, unreadable, corrupt or of an unknown version."""


class SavedModel(NamedTuple):
    """The validated content of a model file."""

    direction: str
    target_null: bool
    src_lang: Any
    tgt_lang: Any
    src_vocab: list[str]
    tgt_vocab: list[str]
    t_src: np.ndarray
    t_tgt: np.ndarray
    t_prob: np.ndarray
    training: Any


def read_model_file(path: str | os.PathLike) -> SavedModel:
    """Read and validate a model file; raises :class:`TranslatorFormatError` (naming the
    file) when it is missing, not JSON, or fails validation."""
    path = Path(path)
    saved = _parse(path, _read_document(path))
    _check_vocabularies(path, saved)
    _check_table(path, saved)
    return saved


def _invalid(path: Path, why: str) -> TranslatorFormatError:
    return TranslatorFormatError(f"{path}: not a valid IBM Model 1 file ({why})")


def _read_document(path: Path) -> dict:
    """The file's JSON object, of a known format and version."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TranslatorFormatError(f"{path}: no such IBM Model 1 file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(path, f"unreadable JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _invalid(path, "top level is not an object")
    if doc.get("format") != FORMAT_NAME:
        raise _invalid(path, f"format is {doc.get('format')!r}, expected {FORMAT_NAME!r}")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise _invalid(path, f"format_version {version!r} is not supported (this code reads {FORMAT_VERSION})")
    return doc


def _parse(path: Path, doc: dict) -> SavedModel:
    """The fields of ``doc``, the table as arrays; checks that none is missing."""
    try:
        direction = doc["direction"]
        target_null = doc["target_null"]
        src_vocab, tgt_vocab = doc["src_vocab"], doc["tgt_vocab"]
        table = doc["t"]
        t_src = np.asarray(table["src"], dtype=np.int64)
        t_tgt = np.asarray(table["tgt"], dtype=np.int64)
        t_prob = np.asarray(table["prob"], dtype=np.float64)
        training = doc.get("training", {})
    except KeyError as exc:
        raise _invalid(path, f"missing field {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise _invalid(path, f"malformed table: {exc}") from exc
    if direction not in DIRECTIONS or not isinstance(target_null, bool):
        raise _invalid(path, "bad direction or target_null")
    return SavedModel(
        direction, target_null, doc.get("src_lang"), doc.get("tgt_lang"), src_vocab, tgt_vocab, t_src, t_tgt, t_prob, training
    )


def _check_vocabularies(path: Path, saved: SavedModel) -> None:
    for name, vocab in (("src_vocab", saved.src_vocab), ("tgt_vocab", saved.tgt_vocab)):
        if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
            raise _invalid(path, f"{name} is not a list of strings")
        if len(set(vocab)) != len(vocab):
            raise _invalid(path, f"{name} has duplicate words")
    src_vocab, tgt_vocab = saved.src_vocab, saved.tgt_vocab
    if not src_vocab or src_vocab[0] != NULL or (saved.target_null and (not tgt_vocab or tgt_vocab[0] != NULL)):
        raise _invalid(path, "vocabularies do not start with the NULL word")


def _check_table(path: Path, saved: SavedModel) -> None:
    t_src, t_tgt, t_prob = saved.t_src, saved.t_tgt, saved.t_prob
    n_src, n_tgt = len(saved.src_vocab), len(saved.tgt_vocab)
    if not (t_src.ndim == t_tgt.ndim == t_prob.ndim == 1 and len(t_src) == len(t_tgt) == len(t_prob)):
        raise _invalid(path, "table columns differ in length")
    if len(t_src) and (t_src.min() < 0 or t_src.max() >= n_src or t_tgt.min() < 0 or t_tgt.max() >= n_tgt):
        raise _invalid(path, "word index out of range")
    if not np.all(np.isfinite(t_prob)) or np.any(t_prob < 0) or np.any(t_prob > 1 + 1e-9):
        raise _invalid(path, "probabilities outside [0, 1]")
    if len(t_src) > 1:
        keys = t_src * n_tgt + t_tgt
        if len(np.unique(keys)) != len(keys):
            raise _invalid(path, "duplicate table entries")
    if len(t_src):
        sums = np.bincount(t_src, weights=t_prob, minlength=n_src)
        if np.any(sums > 1 + 1e-6):
            raise _invalid(path, "some t(.|f) sums to more than 1")
