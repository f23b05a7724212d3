"""OPTICAL training-step overhead: step time with the OT term over step time without it.

Both variants run the same model, the same batches and the same optimiser; the only
difference is the loss: sentence-level MSE against the teacher computed on the fly
(``DistillationLoss`` with the ``SentenceMSE`` term alone, so the frozen teacher's forward is
paid in both) versus OT + the same MSE. Steps are interleaved (A, B, A, B, ...) so that
load on a shared machine hits both alike (the order alternates every step); the ratio of
medians is reported.

    python benchmarks/bench_train_step.py --model multilingual-e5-small-q4 --steps 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="multilingual-e5-small-q4")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prune-vocabulary", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from optical_bench.data.bitext import read_bitext
    from optical_bench.data.collections import build_collections
    from optical_bench.losses import DistillationLoss, SentenceMSE, TokenOT
    from optical_bench.models import build_distillation_model, training_lengths

    pairs = read_bitext(build_collections().bitext(4000))
    model = build_distillation_model(args.model, prune_vocabulary_texts=[p.lr for p in pairs] if args.prune_vocabulary else None)
    for route, length in training_lengths(model, args.max_seq_length).items():  # training batches, cut as train() cuts them
        model[0].sub_modules[route][0].max_seq_length = length
    prompt = (model.prompts or {}).get("query", "")
    variants = {
        "mse (teacher on the fly)": DistillationLoss(model, {"mse": (1.0, SentenceMSE())}),
        "optical + mse": DistillationLoss(model, {"ot": (1.0, TokenOT()), "mse": (1.0, SentenceMSE())}),
    }
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def features(batch):
        lr = model.preprocess([prompt + p.lr for p in batch], task="query")
        en = model.preprocess([prompt + p.en for p in batch], task="document")
        lr["task"], en["task"] = "query", "document"
        return [lr, en]

    times = {name: [] for name in variants}
    for step in range(args.steps + 1):
        batch = pairs[step * args.batch_size : (step + 1) * args.batch_size]
        order = list(variants.items())
        if step % 2:
            order.reverse()  # alternate which variant runs first, so drift in load hits both alike
        for name, loss in order:
            feats = features(batch)
            started = time.perf_counter()
            value = loss(feats, None)
            value.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step:  # the first step warms up
                times[name].append(time.perf_counter() - started)
    base = statistics.median(times["mse (teacher on the fly)"])
    print("| variant | median step (s) | ratio |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / base:.3f} |")
    print(
        f"\nmodel {args.model}, batch {args.batch_size} x {args.max_seq_length} tokens, {args.steps} steps, {args.threads} threads"
        f"{', pruned vocabulary' if args.prune_vocabulary else ''}"
    )


if __name__ == "__main__":
    main()
