"""Commands that need neither mteb nor torch do not import them: ``--help``, ``tasks`` and a
refused task name answer in a fraction of a second (``benchmarks/bench_startup.py`` times them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "mteb", "datasets", "transformers", "sentence_transformers")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return its printed JSON and which heavy modules it loaded."""
    script = f"""
import io, json, sys, contextlib
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    result = None
{chr(10).join("    " + line for line in code.strip().splitlines())}
print(json.dumps({{"loaded": [m for m in {HEAVY!r} if m in sys.modules], "result": result, "out": out.getvalue()}}))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_command_line_and_the_tasks_module_loads_neither_mteb_nor_torch():
    found = _modules_after("import optical_bench.cli, optical_bench.tasks, optical_bench.cards\noptical_bench.cli.build_parser()")
    assert found["loaded"] == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["tasks"],
        ["evaluate", "--model", "bm25", "--tasks", "AfriQARetrievl"],
        ["evaluate", "--model", "bm25", "--tasks", "Nope", "--quiet"],
        ["evaluate", "--model", "all-minilm-l6", "--tasks", "OpticalUDHRRetrieval"],
    ],
    ids=["help", "tasks", "refused-task-name", "refused-task-name-quiet", "refused-model-name"],
)
def test_help_tasks_and_a_refused_task_name_load_neither_mteb_nor_torch(argv):
    found = _modules_after(
        f"""
from optical_bench.cli import main
try:
    result = main({argv!r})
except SystemExit as stop:
    result = stop.code
"""
    )
    assert found["loaded"] == [], f"{argv} imported {found['loaded']}"
    if argv == ["tasks"]:
        assert found["result"] == 0 and "AfriQARetrieval" in found["out"]
    elif argv[0] == "evaluate":
        assert found["result"] == 2


def test_a_listing_read_only_in_part_ends_quietly():
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        f"{sys.executable} -m optical_bench.cli tasks | head -1", shell=True, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert done.stdout.startswith("| task") and "error" not in done.stderr
