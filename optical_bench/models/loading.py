"""Loading a model safely, and the content hash that is its revision."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

from sentence_transformers import SentenceTransformer

from optical_bench.assets.models import resolve_model


def load_sentence_transformer(
    spec: str | os.PathLike, device: str | None = None, trust_remote_code: bool = False, allow_pickled_weights: bool = False
):
    """Load a model by packaged name, local folder or Hugging Face id.

    Safe by default: weights load through safetensors only (a pickled ``pytorch_model.bin``
    can run code when unpickled; pass ``allow_pickled_weights=True`` to accept one), and
    ``trust_remote_code`` stays off unless asked for.
    """
    path = resolve_model(str(spec))
    model_kwargs = {} if allow_pickled_weights else {"use_safetensors": True}
    if Path(path).is_dir():
        check_weight_files(Path(path))
    try:
        return SentenceTransformer(path, device=device or "cpu", trust_remote_code=trust_remote_code, model_kwargs=model_kwargs)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"The model {spec!r} ({path}) holds pickled data that is not plain tensors ({str(error).splitlines()[0]}); it was "
            "refused because unpickling can run code. Fix: load weights from safetensors files only (convert it, or retrain)."
        ) from None
    except OSError as error:
        if not allow_pickled_weights and "safetensors" in str(error).lower():
            raise FileNotFoundError(
                f"The model {spec!r} ({path}) has no safetensors weights. Pickled weights can run code when loaded; "
                "if you trust the source, load it with allow_pickled_weights=True (or convert it to safetensors)."
            ) from error
        raise FileNotFoundError(
            f"Could not load the model {spec!r} ({path}): {error}. Fix: pass a packaged name "
            f"(all-minilm-l6-v2, multilingual-e5-small-q4), a sentence-transformers folder, or a "
            f"Hugging Face id (which needs the hub)."
        ) from error


def check_weight_files(folder: Path) -> None:
    """Every ``*.safetensors`` file of a model folder has a complete header and covers its data,
    else a ``ValueError`` naming the file (a copy or a save cut short: a full disk, a kill)."""
    from safetensors import SafetensorError, safe_open

    for weights in sorted(folder.rglob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as error:
            raise ValueError(
                f"{weights}: the weights file is damaged ({error}), a save or a copy cut short (a full disk, a killed run). "
                "Fix: copy the folder again, or rerun `optical-bench train` with the same options (it resumes from the last "
                "complete checkpoint)."
            ) from None


# library version stamps that sentence-transformers and transformers write into a saved
# model's configs; they say which release wrote the folder, not what the model computes
VERSION_STAMPS = ("__version__", "transformers_version")


def folder_fingerprint(path: str | os.PathLike) -> str:
    """Content hash of a model folder's weights and configs (16 hex digits): the MTEB
    revision of a local model. Model cards and ``optical_bench_provenance.json`` are left
    out (they hold timings and absolute paths), and JSON configs are hashed without the
    library version stamps (:data:`VERSION_STAMPS`) and with sorted keys, so one model has
    one revision on every machine and under every sentence-transformers/transformers release."""
    root = Path(path)
    digest = hashlib.sha256()
    # a .cache folder *inside* the model folder is skipped; the folder itself may well live
    # under ~/.cache (the default OPTICAL_BENCH_HOME), so only the relative path is checked
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in (".safetensors", ".json", ".bin", ".model", ".txt")
        and ".cache" not in p.relative_to(root).parts
        and p.name not in ("README.md", "optical_bench_provenance.json")
    )
    if not files:
        raise ValueError(f"{root} holds no model files (*.safetensors, *.json, *.bin, *.model, *.txt) to fingerprint.")
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode())
        if file.suffix == ".json":
            digest.update(_canonical_json(file))
            continue
        with open(file, "rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()[:16]


def _canonical_json(file: Path) -> bytes:
    """A JSON file's bytes for hashing: parsed, version stamps dropped at the top level,
    keys sorted; the raw bytes when the file is not JSON."""
    raw = file.read_bytes()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return raw
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key not in VERSION_STAMPS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
