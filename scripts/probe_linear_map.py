"""Diagnostic for the paper's pairing (English teacher, multilingual student): how far does the
closed-form linear warm start (:mod:`optical_bench.models.linear_map`) carry the student's
space onto the teacher's before any distillation, for each source of fitting rows and ridge?

The map is fitted on training pairs only (the 4,000-pair Bible bitext by default) and scored on
the dev split (never a test set): Chichewa dev verses through the student route and the map,
against the teacher's English dev verses; R@1 and MRR@10 next to the student's own space and
the teacher itself. Embeddings are computed once; every variant is a numpy fit.
``--english-texts`` adds English sentences from outside the bitext to the English rows (what
``--linear-map-english-texts`` does in training): the tiny-bitext case.

    python scripts/probe_linear_map.py --teacher all-minilm-l6-v2 --student multilingual-e5-small-q4 --json out.json
    python scripts/probe_linear_map.py --bitext-size 250 --english-texts 0,2000,8000 --ridges 0.01
"""

from __future__ import annotations

import argparse
import json
import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np


def scores(queries: np.ndarray, documents: np.ndarray, gold: list[int]) -> dict[str, float]:
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    documents = documents / np.linalg.norm(documents, axis=1, keepdims=True)
    similarity = queries @ documents.T
    ranks = np.array([int((row > row[g]).sum()) + 1 for row, g in zip(similarity, gold)])
    return {"recall_at_1": float((ranks == 1).mean()), "mrr_at_10": float(np.where(ranks <= 10, 1.0 / ranks, 0.0).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="all-minilm-l6-v2")
    parser.add_argument("--student", default="multilingual-e5-small-q4")
    parser.add_argument("--bitext-size", type=int, default=4000)
    parser.add_argument("--ridges", default="0.001,0.01,0.1,1")
    parser.add_argument("--english-texts", default="0", help="comma-separated counts of English sentences beyond the bitext")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    from optical_bench.data.beir import read_beir_folder
    from optical_bench.data.bitext import read_bitext
    from optical_bench.data.collections import build_collections
    from optical_bench.models import build_distillation_model
    from optical_bench.models.linear_map import fit_linear_map

    build = build_collections()
    model = build_distillation_model(args.teacher, args.student)
    pairs = read_bitext(build.bitext(args.bitext_size))
    options = {"batch_size": 64, "convert_to_numpy": True, "show_progress_bar": True}
    student_en = model.encode_query([p.en for p in pairs], **options)
    student_lr = model.encode_query([p.lr for p in pairs], **options)
    teacher_en = model.encode_document([p.en for p in pairs], **options)
    extra_counts = [int(n) for n in args.english_texts.split(",")]
    taken = {p.en for p in pairs}
    # the same seeded draw as optical_bench.training.pairs.english_for_linear_map (seed 42)
    pool = sorted({p.en for p in read_bitext(build.bitext("all"))} - taken)
    extra = random.Random(42).sample(pool, max(extra_counts)) if max(extra_counts) else []
    student_extra = model.encode_query(extra, **options) if extra else np.zeros((0, student_en.shape[1]))
    teacher_extra = model.encode_document(extra, **options) if extra else np.zeros((0, teacher_en.shape[1]))

    dev = read_beir_folder(build.folder("bible-dev"), splits=("dev",))
    doc_ids = list(dev.corpus)
    query_ids = list(dev.qrels["dev"])
    gold = [doc_ids.index(next(iter(dev.qrels["dev"][qid]))) for qid in query_ids]
    queries = model.encode_query([dev.queries[qid] for qid in query_ids], **options)
    documents = model.encode_document([dev.corpus[did]["text"] for did in doc_ids], **options)

    rows = {"student route, no map": scores(queries, documents, gold)}
    sources = {"bitext": (student_lr, teacher_en)}
    for n in extra_counts:
        suffix = f" + {n} English" if n else ""
        english_s, english_t = np.vstack([student_en, student_extra[:n]]), np.vstack([teacher_en, teacher_extra[:n]])
        sources["english" + suffix] = (english_s, english_t)
        sources["both" + suffix] = (np.vstack([english_s, student_lr]), np.vstack([english_t, teacher_en]))
    for ridge in [float(r) for r in args.ridges.split(",")]:
        for name, (source, target) in sources.items():
            weight, bias = fit_linear_map(source, target, ridge)
            rows[f"map from {name}, ridge {ridge:g}"] = scores(queries @ weight + bias, documents, gold)
    print(f"bible-dev ({len(query_ids)} queries, {len(doc_ids)} documents), map fitted on {len(pairs)} training pairs:")
    for name, row in rows.items():
        print(f"  {name:<46} R@1 {row['recall_at_1']:.3f}  MRR@10 {row['mrr_at_10']:.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"args": vars(args), "dev": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
