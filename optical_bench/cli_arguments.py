"""The arguments of the ``optical-bench`` commands (:mod:`optical_bench.cli` parses and runs them).

The ``train`` flags are derived from :mod:`optical_bench.config`'s option groups: one flag per
option, its help with its default and choices, in the group's argparse section.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING

from optical_bench.config import option_groups
from optical_bench.recipes import RECIPES


def _whole_number(text: str, minimum: int, fix: str) -> int:
    """``text`` as a whole number of at least ``minimum``, else argparse's one-line error with ``fix``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} {fix}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    return _whole_number(text, 0, "is negative: give 0 (off) or more")


def bootstrap_samples(text: str) -> int:
    """An argparse type: a number of bootstrap or randomization samples, 100 or more."""
    return _whole_number(text, 100, "samples give no usable interval: give 100 or more (1000-10000 is usual)")


def mirror_folder(text: str) -> str:
    """An argparse type: an existing folder (a local mirror of GitHub and hub files)."""
    from pathlib import Path

    path = Path(text).expanduser()
    if not path.is_dir():
        what = "a file" if path.exists() else "not there"
        raise argparse.ArgumentTypeError(
            f"{text} is {what}, not a folder. Fix: give the mirror's root folder (it holds github.com/<owner>/<repo>/...)"
        )
    return text


def add_mirror_argument(parser: argparse.ArgumentParser) -> None:
    """``--hub-dir``, the same on every command that reads tasks or named sources."""
    from optical_bench.io import MIRROR_HELP

    parser.add_argument("--hub-dir", type=mirror_folder, help=MIRROR_HELP)


def device_name(text: str) -> str:
    """An argparse type: a torch device that this machine has (``cpu``, ``cuda:1``, ``mps``)."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:0, mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(
                f"{text}: this machine has no CUDA device (torch {torch.__version__}); leave --devices out or give cpu"
            )
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this machine has no MPS device; leave --devices out or give cpu")
    return text


def _caster(annotation: str):
    """The argparse ``type`` of a config field from its annotation (a string, as
    ``from __future__ import annotations`` leaves it)."""
    kinds = {part.strip() for part in annotation.split("|")} - {"None"}
    if kinds == {"int", "str"}:
        return lambda value: int(value) if value.isdigit() else value  # N or "all"
    if kinds == {"int"}:
        return int
    if kinds == {"float"}:
        return float
    return str


def _help(item) -> str:
    """The field's help text with its default (unless the text already says what none means)."""
    default = None if item.default is MISSING else item.default
    text = item.metadata.get("help", "")
    if default is None and "(none:" in text:
        return text.replace("%", "%%")
    default_text = "none" if default is None else ("on" if default is True else "off" if default is False else str(default))
    return f"{text} (default: {default_text})".replace("%", "%%")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per option of :class:`~optical_bench.config.TrainConfig`, in its groups."""
    parser.add_argument("--config", help="a TOML file whose [train] table holds training options (flags override it)")
    add_mirror_argument(parser)
    recipes = "; ".join(f"{name}: {recipe.summary}" for name, recipe in RECIPES.items())
    parser.add_argument("--recipe", choices=list(RECIPES), help=f"a named set of options that other flags override ({recipes})")
    for title, items in option_groups():
        group = parser.add_argument_group(title)
        for key, item in items:
            if key == "augmentation_translator_options":
                continue  # a table: TOML only
            flag = "--" + key.replace("_", "-")
            choices = item.metadata.get("choices")
            if item.type == "bool":
                group.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=_help(item))
            else:
                group.add_argument(
                    flag,
                    dest=key,
                    type=_caster(item.type),
                    default=None,
                    choices=choices,
                    metavar=None if choices else key.split("_")[-1].upper(),
                    help=_help(item),
                )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    add_mirror_argument(parser)
    from optical_bench.report.tables import FORMATS, REPORT_METRICS

    parser.add_argument("results", nargs="+", help="MTEB results folders (<org>__<model>/<revision>/<Task>.json); several are merged")
    parser.add_argument(
        "--format",
        dest="fmt",
        default="github",
        choices=[*FORMATS, "csv"],
        help="table format; csv: every score as one tidy table for pandas (a row per model, task, split, subset and metric) "
        "(default: %(default)s)",
    )
    parser.add_argument("--baseline", help="model to test the others against (name, short name or NAME@REVISION; default: none)")
    parser.add_argument("--out", help="write the report to this file (default: print it)")
    parser.add_argument("--metrics", nargs="*", default=list(REPORT_METRICS), help="metrics after the main score (default: %(default)s)")
    parser.add_argument(
        "--ci", action="store_true", help="add ± half-widths of 95%% bootstrap intervals (needs rankings and qrels; default: off)"
    )
    parser.add_argument("--test", default="randomization", choices=["randomization", "t-test"], help="paired test (default: %(default)s)")
    parser.add_argument("--samples", type=bootstrap_samples, default=10_000, help="randomization/bootstrap samples (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the randomization and bootstrap (default: %(default)s)")
    parser.add_argument("--build-root", help="build folder holding the qrels (default: any existing build in the cache)")
    parser.add_argument(
        "--write-robustness",
        action="store_true",
        help="also write robustness.json and the robustness_* entries into each results folder (default: off)",
    )
    parser.add_argument("--plots", help="folder for PNG plots: domain-shift bars, learning curves where provenance allows (default: none)")


def add_evaluate_arguments(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument(
        "--model",
        nargs="+",
        required=True,
        help="packaged name, model folder (translate-test too), Hugging Face id, bm25[,options] or "
        "fuse[,options]:<spec>+<spec> (several allowed)",
    )
    evaluate.add_argument("--name", help="model name in the results (default: from the model)")
    evaluate.add_argument("--tasks", nargs="*", help="task names (default: the offline default tasks)")
    evaluate.add_argument("--languages", nargs="*", help="keep tasks with these ISO 639-3 codes (default: all)")
    evaluate.add_argument("--kinds", nargs="*", help="keep tasks of these kinds (default: all)")
    evaluate.add_argument(
        "--beir",
        nargs="*",
        help="BEIR folders to evaluate as ad-hoc tasks; a folder's task.toml may declare eval_langs and low_resource_side (default: none)",
    )
    evaluate.add_argument(
        "--beir-langs",
        nargs="+",
        metavar="LANG",
        help="languages of the --beir folders, queries' first (e.g. nya-Latn eng-Latn; default: their task.toml, else eng-Latn)",
    )
    evaluate.add_argument(
        "--beir-low-resource-side",
        choices=("query", "document", "none"),
        help="the low-resource side of the --beir folders (default: their task.toml, else query)",
    )
    evaluate.add_argument("--split", help="evaluation split (default: the tasks' own; dev for tuning)")
    add_mirror_argument(evaluate)
    evaluate.add_argument(
        "--check-beir", action=argparse.BooleanOptionalAction, default=True, help="recompute nDCG@10/MRR@10 with BEIR (default: on)"
    )
    evaluate.add_argument(
        "--overwrite",
        default="only-missing",
        choices=["only-missing", "always", "never", "only-cache"],
        help="mteb overwrite strategy (default: %(default)s)",
    )
    evaluate.add_argument("--batch-size", type=int, default=64, help="encoding batch size (default: %(default)s)")
    evaluate.add_argument(
        "--scoring",
        default="cosine",
        choices=["cosine", "maxsim"],
        help="pooled cosine or token-level late interaction, MaxSim (default: %(default)s)",
    )
    evaluate.add_argument(
        "--verify-cache",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="re-encode N texts of each cached document-embedding entry (the longest and some at random) and refuse "
        "an entry that disagrees (default: 4; 0: no check)",
    )
    evaluate.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="cache document embeddings in $OPTICAL_BENCH_HOME/embeddings (default: on)",
    )
    evaluate.add_argument(
        "--devices",
        type=device_name,
        nargs="+",
        metavar="DEVICE",
        help="encode documents with sentence-transformers' multi-process pool, one process per device "
        "(e.g. cuda:0 cuda:1, or cpu cpu; default: one process)",
    )
    evaluate.add_argument(
        "--out",
        default="runs/evaluate",
        help="an mteb result cache: results go to OUT/results/<org>__<model>/<revision>/, which mteb.ResultCache(OUT) "
        "loads (default: %(default)s)",
    )
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    add_mirror_argument(parser)
    parser.add_argument("--results", required=True, help="MTEB results folder (e.g. the --out of `optical-bench evaluate`)")
    parser.add_argument("--out", required=True, help="folder to create results/<org>__<model>/<revision>/ in")
    parser.add_argument("--model", help="model to submit: name, short name or NAME@REVISION (default: every model)")
    parser.add_argument("--revision", help="only this revision of the model (default: every revision)")
    parser.add_argument("--name", help="submit the model under this hub id, org/model (default: its local name)")
    parser.add_argument("--dataset-org", help="hub organisation for the exported task datasets (default: --name's org)")
    parser.add_argument(
        "--datasets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="export the collections of tasks mteb lacks where their licence allows (never the Chichewa Bible; default: on)",
    )
    parser.add_argument(
        "--strip-robustness", action="store_true", help="drop the robustness_* entries from the copied task files (default: off)"
    )


def add_seeds_arguments(parser: argparse.ArgumentParser) -> None:
    add_mirror_argument(parser)
    parser.add_argument("results", nargs="+", help="MTEB results folders whose runs are named <configuration>-s<seed>")
    parser.add_argument("--metric", default="recall_at_1", help="metric (default: %(default)s)")
    parser.add_argument("--reference", help="configuration the differences are taken against (default: none)")
    parser.add_argument("--tasks", nargs="*", help="tasks to compare (default: all)")
    parser.add_argument(
        "--subsets", nargs="*", help="the queries of these subsets only, e.g. a task's languages: --subsets hau (default: all)"
    )
    parser.add_argument(
        "--drop",
        nargs=2,
        metavar=("IN_TASK", "SHIFTED_TASK"),
        help="also the domain-shift drop (mean on IN_TASK minus mean on SHIFTED_TASK) of each configuration and its "
        "difference to the reference's, seeds drawn once for both tasks",
    )
    parser.add_argument("--samples", type=bootstrap_samples, default=5000, help="bootstrap samples (default: %(default)s)")


def add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    add_mirror_argument(parser)
    parser.add_argument("study", nargs="?", help="a study (default, real_clir_baselines, ...); none: list the studies with expected scores")
    parser.add_argument("--rows", nargs="*", help="globs over the study's run names, e.g. 'bm25*' (default: every row)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a row is not within its tolerance")
    parser.add_argument("--list", action="store_true", help="print the rows (command, seconds, expected scores); run nothing")
    parser.add_argument("--out", help="where runs are trained and evaluated, resuming (default: <cache>/reproduce/<study>)")
    parser.add_argument("--expected", help="another expected.toml (default: the one in the study's results folder)")
    parser.add_argument("--write-expected", action="store_true", help="write expected.toml from the study's committed result files")
    parser.add_argument(
        "--write-tables", action="store_true", help="write tables.md (per subset, seed means ± intervals) from the same files"
    )
    parser.add_argument(
        "--write-comparisons",
        action="store_true",
        help="make (resuming in --out) the runs the study's [[comparisons]] need and write their pooled tables "
        "(optical-bench seeds) to comparisons.md in its results folder",
    )
    parser.add_argument(
        "--record-seconds", action="store_true", help="write the seconds each rerun took into expected.toml (rerun into a fresh --out)"
    )
    parser.add_argument("--write-page", metavar="FILE", help="write the page of every study's rows (docs/reproduce.md) and stop")
