"""Evaluation speed: harness overhead, the document-embedding cache, and scaling with corpus size.

1. Overhead: ``evaluate_model`` (mteb + BEIR cross-check, cache off) over the raw time to
   encode the same unique texts with the same model (``encode_query`` + ``encode_document``).
2. Cache: evaluating five students that share the teacher's document route, with the
   document-embedding cache, over evaluating one (documents dominate: every English verse
   of the Bible as the corpus); the same with MaxSim scoring (token rows cached).
3. Scaling: evaluation time for three corpus sizes.

    python benchmarks/bench_evaluation.py --model all-minilm-l6-v2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _collection(folder: Path, n_docs: int, n_queries: int) -> Path:
    """A known-item collection: n_queries Chichewa verses among n_docs English verses."""
    import random

    from optical_bench.assets.texts import load_bible
    from optical_bench.data.beir import BeirCollection, write_beir_folder

    pairs = load_bible()
    rng = random.Random(0)
    rng.shuffle(pairs)
    seen, chosen = set(), []
    for pair in pairs:
        if pair.eng not in seen:
            seen.add(pair.eng)
            chosen.append(pair)
        if len(chosen) == n_docs:
            break
    corpus = {f"d{p.key}": {"title": "", "text": p.eng} for p in chosen}
    queries = {f"q{p.key}": p.nya for p in chosen[:n_queries]}
    qrels = {"test": {f"q{p.key}": {f"d{p.key}": 1} for p in chosen[:n_queries]}}
    return write_beir_folder(folder, BeirCollection(corpus, queries, qrels))


def _evaluate(model, folder: Path, out: Path, name: str, cache: bool, scoring: str = "cosine") -> float:
    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.tasks import beir_task

    started = time.perf_counter()
    evaluate_model(
        model,
        [beir_task(folder)],
        out,
        name=name,
        revision=name,
        options=EvaluationOptions(progress=False, cache_embeddings=cache, scoring=scoring),
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from optical_bench.data.beir import read_beir_folder
    from optical_bench.models import add_centering, build_distillation_model, load_sentence_transformer

    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    model = load_sentence_transformer(args.model)
    from optical_bench.assets.texts import provision_bible

    provision_bible()  # texts from the usual cache; embeddings below go to a fresh one
    bible_home = os.environ.get("OPTICAL_BENCH_HOME")
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = []

    # 1. overhead, at the middle size
    folder = _collection(work / "overhead", sizes[1], args.queries)
    collection = read_beir_folder(folder)
    model.encode_query(list(collection.queries.values())[:32])  # warm up
    started = time.perf_counter()
    model.encode_query(list(collection.queries.values()), batch_size=64)
    model.encode_document([d["text"] for d in collection.corpus.values()], batch_size=64)
    raw = time.perf_counter() - started
    harness = _evaluate(model, folder, work / "out-overhead", "overhead", cache=False)
    lines.append(
        f"| evaluation overhead: harness / raw encoding ({sizes[1]} docs, {args.queries} queries) | {harness:.1f} s / {raw:.1f} s | **{harness / raw:.2f}x** | <= 1.10x |"
    )

    # 2. five students sharing the teacher, with the document cache, versus one
    students = []
    for index in range(5):
        student = build_distillation_model(args.model)
        mean = torch.zeros(student.get_embedding_dimension())
        mean[index] = 0.01 * (index + 1)
        add_centering(student, mean)
        students.append(student)
    # MaxSim scores every query token against every document token: its corpus is the smallest size
    for scoring, size in (("cosine", sizes[-1]), ("maxsim", sizes[0])):
        folder = _collection(work / f"cache-{scoring}", size, args.queries)
        one = _evaluate(students[0], folder, work / f"out-one-{scoring}", "one", cache=False, scoring=scoring)
        os.environ["OPTICAL_BENCH_HOME"] = str(work / f"fresh-cache-{scoring}")  # an empty document cache
        started = time.perf_counter()
        for index, student in enumerate(students):
            _evaluate(student, folder, work / f"out-five-{scoring}", f"s{index}-{time.time_ns()}", cache=True, scoring=scoring)
        five = time.perf_counter() - started
        lines.append(
            f"| five students with the document cache / one student, {scoring} ({size} docs, {args.queries} queries) "
            f"| {five:.1f} s / {one:.1f} s | **{five / one:.2f}x** | <= 1.5x |"
        )

    if bible_home:
        os.environ["OPTICAL_BENCH_HOME"] = bible_home
    else:
        os.environ.pop("OPTICAL_BENCH_HOME")

    # 3. scaling with corpus size
    for size in sizes:
        folder = _collection(work / f"scale-{size}", size, min(args.queries, size))
        seconds = _evaluate(model, folder, work / f"out-{size}", f"scale{size}", cache=False)
        lines.append(
            f"| evaluation time, {size} docs + {min(args.queries, size)} queries | {seconds:.1f} s | {seconds / size * 1000:.2f} ms/doc | |"
        )

    print("| measure | times | ratio | goal |\n|---|---|---|---|")
    print("\n".join(lines))
    print(f"\nmodel {args.model}, {args.threads} threads")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
