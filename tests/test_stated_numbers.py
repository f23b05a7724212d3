"""The scores README.md and docs/studies.md state for the studies with expected scores are the
values of an ``expected.toml`` (within rounding to three decimals), so a change that moves a
committed number, or a page that drifts from it, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from optical_bench.config import read_toml

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\d.])-?\d?\.\d{3}(?!\d)")
# columns that are measures derived from several scores (report's robustness fields), not scores
DERIVED = ("worst language", "drop")
# rows that are not runs of a study with expected scores: an `optical-bench evaluate` outside the
# default grid, and per-language scores of the query-translation runs (a subset, not the task's mean)
NOT_STUDY_ROWS = ("`--model bm25`", "BM25 on IBM-1 query translation")


def expected_values() -> set[str]:
    values = set()
    for path in [*ROOT.glob("results/*/expected*.toml"), *ROOT.glob("results/*/*/expected*.toml")]:
        for entry in read_toml(path)["runs"].values():
            for score in entry["expected"].values():
                text = f"{score['value']:.3f}"
                values |= {text, text.removeprefix("0")}
    return values


def stated_tables(page: Path, headings: tuple[str, ...]) -> list[tuple[list[str], list[str]]]:
    """``(header cells, row cells)`` of the first table under each heading."""
    text = page.read_text(encoding="utf-8")
    rows = []
    for heading in headings:
        section = text[text.index(heading) :]
        table = []
        for line in section.splitlines()[1:]:
            if line.startswith("|"):
                table.append(line)
            elif table:
                break
        assert table, f"{page.name}: no table under {heading!r}"
        header = [cell.strip() for cell in table[0].strip("|").split("|")]
        rows += [(header, [cell.strip() for cell in line.strip("|").split("|")]) for line in table[2:]]
    return rows


PAGES = {"README.md": ("## Reference results",), "docs/studies.md": ("## The default experiment", "## Real CLIR on AfriQA dev")}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_stated_score_is_an_expected_value(page):
    values = expected_values()
    missing = []
    for header, cells in stated_tables(ROOT / page, PAGES[page]):
        if any(marker in cells[0] for marker in NOT_STUDY_ROWS):
            continue
        for column, cell in zip(header[1:], cells[1:]):
            if any(word in column for word in DERIVED):
                continue
            for number in NUMBER.findall(re.sub(r"\([^)]*\)", "", cell.replace("*", ""))):
                if number not in values:
                    missing.append(f"{cells[0]} | {column}: {number}")
    assert not missing, f"{page} states scores no expected.toml holds: " + "; ".join(missing)
