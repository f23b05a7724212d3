"""Start-up: how long a command takes before it does any work, measured side by side in one run.

Goals: ``--help``, ``tasks`` and a refused task or model name under 2 s on 2 cores (they import
neither mteb nor torch); the modules every evaluating command loads
(``import optical_bench.evaluate``) at most 3x ``python -c "import mteb"``: mteb is a third of
it, sentence-transformers the rest (its import loads transformers' model loading, which pulls
torch.distributed, torch._dynamo and sympy), and a dense model cannot be evaluated without it. Each figure is the median wall time of ``--repeats`` fresh interpreters, the commands
taken in turn so that drift of a shared machine hits all of them alike.

    python benchmarks/bench_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIGHT_GOAL_S = 2.0
MTEB_RATIO_GOAL = 3.0

COMMANDS = {
    "optical-bench --help": ["-m", "optical_bench.cli", "--help"],
    "optical-bench tasks": ["-m", "optical_bench.cli", "tasks"],
    "optical-bench evaluate (mistyped task)": ["-m", "optical_bench.cli", "evaluate", "--model", "bm25", "--tasks", "OpticalUDHRRetrievl"],
    "optical-bench evaluate (mistyped model)": [
        "-m",
        "optical_bench.cli",
        "evaluate",
        "--model",
        "all-minilm-l6",
        "--tasks",
        "OpticalUDHRRetrieval",
    ],
    'python -c "import mteb"': ["-c", "import mteb"],
    'python -c "import optical_bench.evaluate"': ["-c", "import optical_bench.evaluate"],
}
LIGHT = list(COMMANDS)[:4]


def _wall(arguments: list[str]) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for arguments in COMMANDS.values():  # warm the file cache
        _wall(arguments)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, arguments in COMMANDS.items():
            times[name].append(_wall(arguments))
    median = {name: statistics.median(values) for name, values in times.items()}
    mteb = median['python -c "import mteb"']
    print(f"| command | median wall (s) of {args.repeats} | / import mteb | goal |")
    print("|---|---|---|---|")
    for name in COMMANDS:
        goal = f"< {LIGHT_GOAL_S:.0f} s" if name in LIGHT else (f"<= {MTEB_RATIO_GOAL}x" if 'evaluate"' in name else "")
        print(f"| {name} | {median[name]:.2f} | {median[name] / mteb:.2f} | {goal} |")
    light_ok = all(median[name] < LIGHT_GOAL_S for name in LIGHT)
    ratio = median['python -c "import optical_bench.evaluate"'] / mteb
    print(
        f"\nlight commands under {LIGHT_GOAL_S:.0f} s: {'yes' if light_ok else 'NO'}; evaluating commands' imports / import mteb = {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
