r"""Cells and tables in the report's formats: ``github`` and ``md`` (``markdown``) through
``tabulate``, and ``latex``: booktabs tables in a float, with a caption, a label, the best value
of each row in bold, long model names as letters with a legend, and the notes inside the float.
Every label is escaped for LaTeX (``_ & % # $ \\ { } ~ ^``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = [
    "DAGGER",
    "FORMATS",
    "LATEX_HEADER_LIMIT",
    "cell_text",
    "format_note",
    "format_table",
    "latex_escape",
    "number_cell",
    "section_heading",
    "table_section",
]

FORMATS = {"github": "github", "md": "pipe", "markdown": "pipe", "latex": "latex_raw"}  # markdown: md
DAGGER = "†"


def latex_escape(text: str) -> str:
    replacements = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(replacements.get(ch, ch) for ch in str(text))


def cell_text(text: str, fmt: str) -> str:
    return latex_escape(text) if fmt == "latex" else str(text)


def number_cell(value: float | None, fmt: str, mark: bool = False, half_width: float | None = None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    text = f"{value:.{digits}f}"
    if mark:
        text += r"$^\dagger$" if fmt == "latex" else DAGGER
    if half_width is not None and not math.isnan(half_width):
        text += (r" $\pm$" if fmt == "latex" else " ±") + f"{half_width:.{digits}f}"
    return text


def format_table(
    rows: list[list[str]],
    headers: list[str],
    fmt: str,
    *,
    title: str = "",
    better: Sequence[bool | None] | bool | None = True,
    label_columns: int = 1,
    notes: Sequence[str] = (),
) -> str:
    """A table in ``fmt``. LaTeX tables are booktabs tables with a caption (``title``) and a
    label, the label columns left-aligned and the numbers right-aligned, and the best value
    of each row in bold (``better``: per row, True where higher is better, False where lower
    is, None for no mark). ``notes`` (already formatted by :func:`format_note`) go inside a LaTeX
    table's float, under the tabular, so that they stay with their table; the caller prints
    them after the other formats' tables (:func:`table_section`)."""
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "latex":  # headers are plain labels (model names, "task"): every special character escaped
        return _latex_table(rows, [latex_escape(h) for h in headers], title, better, label_columns, notes)
    return tabulate(rows, headers=headers, tablefmt=FORMATS[fmt], disable_numparse=True)


_LEADING_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?")


def _bold_best(row: list[str], higher: bool | None, label_columns: int) -> list[str]:
    """``row`` with its best value (``higher``: the largest, else the smallest) in bold."""
    values = {i: float(m.group()) for i, cell in enumerate(row) if i >= label_columns and (m := _LEADING_NUMBER.match(cell))}
    if higher is None or len(values) < 2:
        return row
    best = (max if higher else min)(values.values())
    return [rf"\textbf{{{cell}}}" if values.get(i) == best else cell for i, cell in enumerate(row)]


LATEX_HEADER_LIMIT = 12  # longer column headers (model names) become A, B, ... with a legend under the table


def _short_headers(headers: list[str], label_columns: int) -> tuple[list[str], list[str]]:
    """Headers a page can hold: each header past the label columns longer than
    :data:`LATEX_HEADER_LIMIT` characters becomes a letter; returns them and the legend entries."""
    if all(len(h) <= LATEX_HEADER_LIMIT for h in headers[label_columns:]):
        return headers, []
    short = list(headers[:label_columns])
    legend = []
    for index, header in enumerate(headers[label_columns:]):
        letter = chr(ord("A") + index) if index < 26 else f"M{index + 1}"
        short.append(letter)
        legend.append(f"{letter}: {header}")
    return short, legend


def _latex_table(rows: list[list[str]], headers: list[str], title: str, better, label_columns: int, notes: Sequence[str] = ()) -> str:
    per_row = better if isinstance(better, (list, tuple)) else [better] * len(rows)
    body = [" & ".join(_bold_best(row, higher, label_columns)) + r" \\" for row, higher in zip(rows, per_row)]
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "results"
    headers, legend = _short_headers(headers, label_columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(title)}}}",
        rf"\label{{tab:{slug}}}",
        r"% needs \usepackage{booktabs,graphicx}; shrinks to the line width only when wider",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\begin{tabular}{" + "l" * label_columns + "r" * (len(headers) - label_columns) + "}",
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}}",
    ]
    if legend:
        lines.append(r"\par\smallskip{\footnotesize " + "; ".join(legend) + r".\par}")
    lines.extend(note for note in notes if note)
    lines.append(r"\end{table}")
    return "\n".join(lines)


def section_heading(title: str, fmt: str) -> str:
    return f"% {title}" if fmt == "latex" else f"### {title}"


def format_note(text: str, fmt: str) -> str:
    if fmt == "latex":
        body = latex_escape(text).replace(DAGGER, r"$^\dagger$").replace("±", r"$\pm$").replace("<", "$<$").replace(">", "$>$")
        return "\\par\\smallskip{\\footnotesize " + body + "\\par}"
    return text


def table_section(heading: list[str], rows: list[list[str]], headers: list[str], fmt: str, notes: Sequence[str], **table) -> list[str]:
    """The parts of a table section: the heading, the table, and its notes (inside a LaTeX
    table's float; after the table elsewhere)."""
    notes = [note for note in notes if note]
    if fmt == "latex":
        return [*heading, format_table(rows, headers, fmt, notes=notes, **table)]
    return [*heading, format_table(rows, headers, fmt, **table), *notes]
