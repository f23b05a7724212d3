"""The process environment of every ``optical-bench`` command: the hub's offline switch, the
warnings of one dependency about another, and ``--quiet`` for libraries whose progress bars no
option of their callers turns off. Light to import: the libraries load only when asked."""

from __future__ import annotations

import os


def offline_defaults() -> None:
    """Never wait on the hub when it is unreachable: users with the hub unset these."""
    if os.environ.get("OPTICAL_BENCH_ONLINE") != "1":
        if "HF_HUB_OFFLINE" not in os.environ:  # ours, not the user's: messages say how to turn it off
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["OPTICAL_BENCH_OFFLINE_BY_DEFAULT"] = "1"
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# warnings of one dependency about another that no user of optical-bench can act on
DEPENDENCY_WARNINGS = (
    # mteb 2.26 calls sentence-transformers' renamed get_sentence_embedding_dimension
    (FutureWarning, r"The `get_sentence_embedding_dimension` method has been renamed"),
)


def silence_dependency_warnings() -> None:
    """None of the warnings in :data:`DEPENDENCY_WARNINGS` (``-v`` shows them)."""
    import warnings

    for category, message in DEPENDENCY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


# modules whose progress bars no option of their callers turns off: bm25s (mteb's BM25 calls it
# without a progress option) and mteb's hybrid search ("Indexing sub-models")
SILENCED_PROGRESS_MODULES = ("bm25s", "bm25s.tokenization", "bm25s.scoring", "mteb.models.hybrid_wrappers")


def quiet_libraries() -> None:
    """No progress bars from datasets/transformers, nor from :data:`SILENCED_PROGRESS_MODULES`
    (their ``tqdm`` is wrapped to stay off); ours stay off with --quiet too."""
    import importlib

    import datasets
    import transformers

    for name in SILENCED_PROGRESS_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "tqdm") and not getattr(module.tqdm, "quiet", False):
            module.tqdm = _silent(module.tqdm)

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def quiet_if_asked(args) -> None:
    """`quiet_libraries` under ``--quiet``, called by a command once its arguments are
    checked: the libraries it imports take seconds, which a refused argument should not wait for."""
    if getattr(args, "quiet", False):
        quiet_libraries()


def _silent(progress_bar):
    """``progress_bar`` (a tqdm class) with ``disable=True`` whatever its caller asks."""

    def silent(*args, **kwargs):
        return progress_bar(*args, **{**kwargs, "disable": True})

    silent.quiet = True
    return silent
