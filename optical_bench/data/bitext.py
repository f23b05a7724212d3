"""Bitext (parallel sentence pairs) and monolingual text files.

Formats read by :func:`read_bitext`:

- ``*.jsonl``: one ``{"lr": "...", "en": "..."}`` object per line (what
  ``optical-bench build`` writes; extra keys such as ``id`` are kept);
- ``*.tsv``: ``low-resource<TAB>english`` per line;
- two line-aligned plain-text files (Moses style, e.g. ``train.nya`` and
  ``train.eng``), given as a pair of paths: they must have the same number of lines.

Every problem raises :class:`BitextFormatError` naming the file, the line and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optical_bench.io import atomic_write_jsonl


class BitextFormatError(ValueError):
    def __init__(self, path: Path | str, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {problem}. Fix: {fix}")
        self.path, self.line = str(path), line


@dataclass(frozen=True)
class SentencePair:
    lr: str
    en: str
    id: str = ""


def _decoded_lines(path: Path) -> list[str]:
    if not path.exists():
        raise BitextFormatError(
            path, None, "the file does not exist", "check the path, or run `optical-bench build` to create the default bitext"
        )
    lines = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                lines.append(raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n"))  # a BOM is accepted
            except UnicodeDecodeError as error:
                raise BitextFormatError(
                    path, number, f"bytes that are not UTF-8 (at byte {error.start})", "re-encode the file as UTF-8"
                ) from None
    return lines


def _check_text(path: Path, number: int, text: object, side: str) -> str:
    if not isinstance(text, str):
        raise BitextFormatError(path, number, f"the {side} side is not a string", f"make {side!r} a string")
    if not text.strip():
        raise BitextFormatError(path, number, f"the {side} side is empty or only whitespace", "remove the pair or fill in both sides")
    return text.strip()


def read_bitext(source: str | Path | Sequence[str | Path], limit: int | None = None) -> list[SentencePair]:
    """Read a bitext from a ``.jsonl``/``.tsv`` file or a pair of line-aligned files."""
    if isinstance(source, (list, tuple)):
        if len(source) != 2:
            raise BitextFormatError(str(source), None, "expected two line-aligned files", "pass (low_resource_file, english_file)")
        lr_path, en_path = Path(source[0]), Path(source[1])
        lr_lines, en_lines = _decoded_lines(lr_path), _decoded_lines(en_path)
        if len(lr_lines) != len(en_lines):
            shorter = lr_path if len(lr_lines) < len(en_lines) else en_path
            raise BitextFormatError(
                shorter,
                min(len(lr_lines), len(en_lines)) + 1,
                f"{lr_path.name} has {len(lr_lines)} lines but {en_path.name} has {len(en_lines)}: the files are not line-aligned",
                "make both files hold one sentence per line, pair i on line i of each",
            )
        pairs = [
            SentencePair(_check_text(lr_path, n, lr, "low-resource"), _check_text(en_path, n, en, "English"), str(n))
            for n, (lr, en) in enumerate(zip(lr_lines, en_lines), start=1)
        ]
        return pairs[:limit] if limit else pairs
    path = Path(source)
    lines = _decoded_lines(path)
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise BitextFormatError(
                    path, number, f"not valid JSON ({error.msg})", 'write one {"lr": ..., "en": ...} object per line'
                ) from None
            if not isinstance(row, dict) or "lr" not in row or "en" not in row:
                raise BitextFormatError(
                    path,
                    number,
                    "the fields 'lr' and 'en' are missing",
                    'write {"lr": "<low-resource sentence>", "en": "<English sentence>"}',
                )
            pairs.append(
                SentencePair(
                    _check_text(path, number, row["lr"], "lr"), _check_text(path, number, row["en"], "en"), str(row.get("id", number))
                )
            )
        else:
            cells = line.split("\t")
            if len(cells) != 2:
                raise BitextFormatError(
                    path,
                    number,
                    f"{len(cells)} tab-separated fields instead of 2",
                    "write `low-resource<TAB>English` per line (or use .jsonl)",
                )
            pairs.append(
                SentencePair(
                    _check_text(path, number, cells[0], "low-resource"), _check_text(path, number, cells[1], "English"), str(number)
                )
            )
        if limit and len(pairs) >= limit:
            break
    if not pairs:
        raise BitextFormatError(path, None, "no sentence pairs", "add at least one pair")
    return pairs


def write_bitext(path: Path, pairs: Sequence[SentencePair]) -> Path:
    return atomic_write_jsonl(path, ({"id": p.id, "lr": p.lr, "en": p.en} for p in pairs))


def read_monolingual(path: str | Path, limit: int | None = None) -> list[str]:
    """One sentence per line (``.txt``) or ``{"text": ...}`` per line (``.jsonl``)."""
    path = Path(path)
    texts = []
    for number, line in enumerate(_decoded_lines(path), start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                texts.append(_check_text(path, number, json.loads(line).get("text"), "text"))
            except (json.JSONDecodeError, AttributeError):
                raise BitextFormatError(path, number, "not a JSON object with a 'text' field", 'write {"text": "..."} per line') from None
        else:
            texts.append(line.strip())
        if limit and len(texts) >= limit:
            break
    return texts


def interleave(lists: list[list[SentencePair]]) -> list[SentencePair]:
    """One pair of each list in turn (languages, sources): a prefix of N spreads over all of them."""
    out = []
    for index in range(max((len(items) for items in lists), default=0)):
        out += [items[index] for items in lists if index < len(items)]
    return out
