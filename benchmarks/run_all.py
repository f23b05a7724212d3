"""Run every benchmark and write ``results/benchmarks.md``.

    python benchmarks/run_all.py            # about 15 minutes on 2 CPU cores

Absolute times on shared machines are noisy; each goal is a ratio measured side by side
in one run.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(arguments: list[str]) -> str:
    print("$", " ".join(arguments), flush=True)
    result = subprocess.run(
        [sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
    table = "\n".join(
        line for line in result.stdout.splitlines() if line.startswith("|") or line.startswith("model ") or line.startswith("Command")
    )
    print(table, flush=True)
    return table


def _training_scaling(sizes=(250, 1000, 4000)) -> str:
    """Wall time of one epoch of OPTICAL training (MiniLM, batch 32) for three bitext sizes."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from optical_bench.data.collections import build_collections
    from optical_bench.training import TrainConfig, train

    build_collections()
    lines = ["| bitext pairs | steps (1 epoch, batch 32) | wall time (s) | s/step |", "|---|---|---|---|"]
    for size in sizes:
        steps = size // 32
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig.from_dict(
                dict(
                    method="optical",
                    teacher="all-minilm-l6-v2",
                    bitext_size=size,
                    max_steps=steps,
                    batch_size=32,
                    dev=False,
                    save_checkpoints=False,
                    out=out,
                )
            )
            started = time.perf_counter()
            train(config, progress=False)
            seconds = time.perf_counter() - started
        lines.append(f"| {size} | {steps} | {seconds:.1f} | {seconds / steps:.2f} |")
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    sections = [
        (
            "Start-up: light commands and the imports of evaluating ones, against import mteb",
            ["benchmarks/bench_startup.py", "--repeats", "5"],
        ),
        ("Sinkhorn: ours vs POT (forward + backward)", ["benchmarks/bench_sinkhorn.py", "--threads", "2", "--repeats", "5"]),
        (
            "Training step: OPTICAL over MSE, multilingual-e5-small-q4",
            ["benchmarks/bench_train_step.py", "--model", "multilingual-e5-small-q4", "--steps", "10"],
        ),
        (
            "Training step: OPTICAL over MSE, all-MiniLM-L6-v2",
            ["benchmarks/bench_train_step.py", "--model", "all-minilm-l6-v2", "--steps", "16"],
        ),
        (
            "Evaluation: overhead, document cache, corpus-size scaling (all-MiniLM-L6-v2)",
            ["benchmarks/bench_evaluation.py", "--model", "all-minilm-l6-v2"],
        ),
    ]
    parts = [
        "# Benchmarks\n",
        f"Made by `python benchmarks/run_all.py` on {platform.machine()} with {os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}.",
        "Ratios are measured side by side in one run; absolute times on shared machines are noisy.\n",
    ]
    for title, arguments in sections:
        parts.append(f"## {title}\n\n`python {' '.join(arguments)}`\n\n{_run(arguments)}\n")
    parts.append("## Training time vs bitext size (one epoch, all-MiniLM-L6-v2 student, OPTICAL)\n\n" + _training_scaling() + "\n")
    parts.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s.\n")
    out = ROOT / "results" / "benchmarks.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
