"""A model folder's provenance: ``optical_bench_provenance.json`` and the model card's table."""

from __future__ import annotations

import json
from pathlib import Path

from optical_bench.io import atomic_write_json, atomic_write_text
from optical_bench.models.card import model_card

PROVENANCE_FILE = "optical_bench_provenance.json"


def write_provenance(folder: Path, provenance: dict) -> None:
    """Record provenance in ``optical_bench_provenance.json`` and write the model card
    (README.md, :func:`optical_bench.models.card.model_card`) in place of the one
    sentence-transformers generated (whose widget and samples quote the training text)."""
    folder = Path(folder)
    atomic_write_json(folder / PROVENANCE_FILE, provenance)
    atomic_write_text(folder / "README.md", model_card(provenance))


def read_provenance(folder: Path | str) -> dict | None:
    path = Path(folder) / PROVENANCE_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return None
