"""A model folder's provenance: ``optical_bench_provenance.json``, and the same record in the model
card's YAML header, which is what sentence-transformers' ``save`` and ``push_to_hub`` keep of a
loaded model (they drop files they do not know).

Paths in it are relative: a path inside the run folder is written relative to the model folder
(``..``, ``../checkpoints/checkpoint-60``), a path in the cache home as
``$OPTICAL_BENCH_HOME/...``, any other absolute path relative to the model folder; none names the
machine that trained the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from optical_bench.io import atomic_write_json, atomic_write_text, home
from optical_bench.models.card import model_card, provenance_from_card

PROVENANCE_FILE = "optical_bench_provenance.json"
HOME_VARIABLE = "$OPTICAL_BENCH_HOME"


def relative_paths(value: Any, folder: Path | str) -> Any:
    """``value`` (a provenance record) with every absolute path made relative to ``folder`` (the
    model folder), or to the cache home as ``$OPTICAL_BENCH_HOME/...``."""
    if isinstance(value, dict):
        return {key: relative_paths(item, folder) for key, item in value.items()}
    if isinstance(value, list):
        return [relative_paths(item, folder) for item in value]
    if not (isinstance(value, str) and value.startswith("/") and "\n" not in value):
        return value
    cache = os.path.realpath(home())
    real = os.path.realpath(value)
    if real == cache or real.startswith(cache + os.sep):
        return HOME_VARIABLE + real[len(cache) :]
    return os.path.relpath(real, os.path.realpath(folder))


def write_provenance(folder: Path, provenance: dict, widget: bool = True) -> dict:
    """Record provenance (its paths made relative, :func:`relative_paths`) in
    ``optical_bench_provenance.json`` and in the model card (README.md,
    :func:`optical_bench.models.card.model_card`), in place of the card sentence-transformers
    generated (whose widget and samples quote the training text). ``widget``: whether the card
    may declare one (a plain ``encode`` works). Returns the record written."""
    folder = Path(folder)
    record = relative_paths(provenance, folder)
    atomic_write_json(folder / PROVENANCE_FILE, record)
    atomic_write_text(folder / "README.md", model_card(record, widget=widget))
    return record


def read_provenance(folder: Path | str) -> dict | None:
    """The provenance of a model folder: its ``optical_bench_provenance.json``, else the record in
    its model card (a folder sentence-transformers saved or pushed again)."""
    path = Path(folder) / PROVENANCE_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    card = Path(folder) / "README.md"
    if card.is_file():
        return provenance_from_card(card.read_text(encoding="utf-8"))
    return None
