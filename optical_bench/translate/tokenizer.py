"""The words the translators see: a Unicode-aware word regex, and the empty word ``NULL``."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

__all__ = ["NULL", "tokenize", "word_regex"]

#: The empty word. ``\w``-based tokenisation can never produce it, so it cannot
#: collide with a real word.
NULL = "<NULL>"


@functools.lru_cache(maxsize=1)
def word_regex() -> re.Pattern[str]:
    """The compiled word pattern of :func:`tokenize` (built once, then cached)."""
    # Python's ``\w`` does not match combining marks (category M*): Devanagari vowel
    # signs, or the tone marks of Yoruba written in decomposed form, would split
    # words.  Add every M* code point to the word class (built once, ~0.2 s).
    ranges: list[str] = []
    start = None
    for cp in range(sys.maxunicode + 1):
        is_mark = unicodedata.category(chr(cp))[0] == "M"
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
            start = None
    if start is not None:  # pragma: no cover - no mark at U+10FFFF
        ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(sys.maxunicode))}")
    char = "[\\w" + "".join(ranges) + "]"
    # Apostrophes (ASCII and U+2019) are kept *inside* a word: "don't", "n'gona".
    return re.compile(f"{char}+(?:['\u2019]{char}+)*", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text``: NFC, then a Unicode ``\\w`` regex (combining
    marks included, apostrophes kept inside words, all other punctuation dropped)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    return word_regex().findall(unicodedata.normalize("NFC", text).lower())
