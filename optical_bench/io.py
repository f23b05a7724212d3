"""Small file utilities shared by every stage: the cache folder, atomic writes, hashes.

Every file optical-bench writes goes through :func:`atomic_write_bytes` (write to a
temporary file in the same folder, ``fsync``, then ``os.replace``), so a run killed
at any instant leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV_HOME = "OPTICAL_BENCH_HOME"
ENV_HUB_DIR = "OPTICAL_BENCH_HUB_DIR"
MIRROR_HELP = (
    "a local mirror of the files optical-bench otherwise downloads: AfriQA, AfriCLIRMatrix and MAFAND-MT from GitHub "
    "(<dir>/github.com/<owner>/<repo>/...) and CIRAL from the hub (<dir>/<org>/<dataset>/...); "
    f"default: ${ENV_HUB_DIR}, else download once into the cache"
)


def home() -> Path:
    """The cache folder: ``$OPTICAL_BENCH_HOME``, else the user's cache dir."""
    if os.environ.get(ENV_HOME):
        path = Path(os.environ[ENV_HOME]).expanduser()
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("optical-bench"))
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"${ENV_HOME} is {path}, which is a file, not a folder. Fix: point ${ENV_HOME} at a folder (it is created if missing)."
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The local mirror of downloaded files: ``explicit`` (a ``hub_dir`` argument), else
    ``$OPTICAL_BENCH_HUB_DIR`` (which the command line's ``--hub-dir`` sets for the whole
    command), else ``None`` (download into the cache). The one reader of that variable."""
    if explicit not in (None, ""):
        return Path(explicit).expanduser()  # the caller's (the command line checks --hub-dir is a folder)
    value = os.environ.get(ENV_HUB_DIR) or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(
            f"${ENV_HUB_DIR} {path} is not a folder. Fix: point it at the mirror's root (it holds github.com/<owner>/<repo>/...)."
        )
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


READ_ONLY_ERRORS = (30, 13, 1)  # EROFS, EACCES, EPERM: the folder cannot be written


class ReportedError(RuntimeError):
    """A failure whose message already says what happened and the fix: the command line prints it
    as one line (subclasses: a failed cross-check, say)."""


def is_read_only_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in READ_ONLY_ERRORS


def describe_os_error(error: OSError) -> str:
    """One line for a failed read or write: the path, what the system said, and the fix."""
    import errno

    where = error.filename or "a file"
    fixes = {
        errno.ENOSPC: "free disk space (or choose --out / OPTICAL_BENCH_HOME on a larger disk) and rerun: finished work is kept",
        errno.EROFS: "choose a writable --out (or OPTICAL_BENCH_HOME, or train folder)",
        errno.EACCES: "choose a folder you may write to, or fix its permissions",
        errno.EISDIR: "that path must be a file, not a folder",
        errno.ENOTDIR: "a part of that path is a file where a folder is expected",
        errno.EEXIST: "that path exists and is not a folder: remove it or point elsewhere",
        errno.ELOOP: "that path is a loop of symbolic links: point it at the real file",
    }
    fix = fixes.get(error.errno, "check that path and rerun")
    return f"{where}: {error.strerror or error}. Fix: {fix}."


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")


class UnsafeNameError(ValueError):
    """A name from data or a config that would not stay one file or folder name."""


def check_name(name: Any, what: str, source: str | os.PathLike) -> str:
    """``name`` if it is safe as one path component (letters, digits, ``_ . + -``, at most 128
    characters, no leading dot, no ``..``), else :class:`UnsafeNameError` naming ``source``.

    Names read from task cards, BEIR ``task.toml`` files and experiment configs become file
    and folder names under ``--out`` (``<Task>.json``, ``models/<run>-<key>``): a name such
    as ``../../x`` must never write outside that folder."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise UnsafeNameError(
            f"{source}: the {what} {name!r} is not a safe name. Fix: use one word of letters, digits, '_', '.', '+' "
            "or '-' (no '/', no '..', not starting with a dot, at most 128 characters)."
        )
    return name


def check_relative_path(value: Any, what: str, source: str | os.PathLike) -> str:
    """``value`` if it is a relative path whose every part is a safe name (:func:`check_name`:
    no ``..``, no leading ``/``, no empty part), else :class:`UnsafeNameError` naming ``source``.

    Repository names (``owner/name``), revisions and file paths read from task cards join the
    cache folder or a mirror (``<home>/github/<repo>/<revision>/<file>``): each part must stay
    one folder name, so that nothing is read or written outside them."""
    parts = value.split("/") if isinstance(value, str) else [value]
    try:
        for part in parts:
            check_name(part, what, source)
    except UnsafeNameError:
        raise UnsafeNameError(
            f"{source}: the {what} {value!r} is not a safe relative path. Fix: use names of letters, digits, '_', '.', '+' "
            "or '-' separated by '/' (no '..', no leading '/', no part starting with a dot)."
        ) from None
    return value


def set_aside(path: str | os.PathLike, why: str) -> Path | None:
    """Rename an incomplete or stale file ``path`` to ``<name>.<why>-<time>`` beside it (no longer
    ``*.json``, so neither mteb nor optical-bench reads it again) and return the new path."""
    import time

    path = Path(path)
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}-{number}")
    os.replace(path, target)
    return target


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_folder(path: str | os.PathLike, exclude: tuple[str, ...] = ()) -> str:
    """Hash of a folder's files (relative names and contents, sorted)."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel in exclude or any(part.startswith(".") for part in file.relative_to(root).parts):
            continue
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def replace_folder(staging: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Move a finished ``staging`` folder to ``out`` (same filesystem).

    An existing ``out`` is first renamed aside, then deleted once the new folder is in
    place, so at every instant ``out`` is either the old complete folder or the new one.
    """
    import shutil
    import uuid

    staging, out = Path(staging), Path(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)
    return out


# --------------------------------------------------------------------------- locks

ENV_NO_WAIT = "OPTICAL_BENCH_NO_WAIT"


class LockHeldError(RuntimeError):
    """Another process holds the lock and the caller asked not to wait (``--no-wait``)."""


class StaleEmbeddingCacheError(RuntimeError):
    """A cached document embedding no longer matches what the model computes for its text
    (raised by :mod:`optical_bench.embedding_cache`; defined here so that the command line can
    catch it without importing torch)."""


_held: dict[str, tuple[int, int]] = {}  # lock path -> (file descriptor, depth) held by this process


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process"
    command = " ".join(holder.get("command", []))[:120]
    return f"pid {holder.get('pid')} on {holder.get('host')} ({command}) since {holder.get('since')}"


class folder_lock:
    """An exclusive lock on a folder (or one cache entry) across processes.

    ``with folder_lock(folder, "the results folder"):`` takes an advisory ``flock`` on the
    sibling file ``.<folder name>.lock`` (beside the folder, so that the folder itself may be
    renamed or replaced while locked), or on ``lock_file`` when given. A second
    process prints one line naming the holder (pid, host, command, start time) and waits; with
    ``OPTICAL_BENCH_NO_WAIT=1`` (``--no-wait``) it raises :class:`LockHeldError` with that line
    instead. The operating system drops the lock when its holder exits, killed or not, so a
    crash never leaves a stale lock behind. Re-entrant within one process. ``wait=False``
    raises at once too (the experiment runner uses it to take another run meanwhile).
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder", lock_file: str | os.PathLike | None = None, wait: bool = True):
        folder = Path(folder)
        self.wait = wait
        self.path = Path(lock_file) if lock_file else folder.parent / f".{folder.name}.lock"
        self.what = what

    def __enter__(self) -> folder_lock:
        import fcntl
        import socket
        import sys
        import time

        key = str(self.path.resolve())
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            if error.errno not in READ_ONLY_ERRORS:
                raise
            # nobody can write beside a read-only folder, so nothing needs excluding: reading goes on unlocked
            _held[key] = (-1, 1)
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            line = f"{self.what} {self.path.with_name(self.path.name.removeprefix('.').removesuffix('.lock'))} is in use by {_describe_holder(self.path)}"
            if not self.wait or os.environ.get(ENV_NO_WAIT) == "1":
                os.close(fd)
                raise LockHeldError(f"{line}; run again when it has finished, or leave out --no-wait to wait.") from None
            print(f"optical-bench: waiting: {line}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": [Path(sys.argv[0]).name] + sys.argv[1:],
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        _held[key] = (fd, 1)
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        key = str(self.path.resolve())
        fd, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1)
            return
        del _held[key]
        if fd < 0:  # a read-only folder: no lock was taken
            return
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
