"""The distributed path: two CPU processes (gloo) train a tiny student through torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_gloo_training_runs_and_writes_one_model(tiny_model, tiny_bitext, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "optical_bench.cli",
        "train",
        "--method",
        "optical+contrastive",
        "--teacher",
        str(tiny_model),
        "--bitext",
        str(tiny_bitext),
        "--max-steps",
        "3",
        "--batch-size",
        "2",
        "--learning-rate",
        "0.001",
        "--no-dev",
        "--no-save-checkpoints",
        "--out",
        str(out),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    provenance = json.loads((out / "model" / "optical_bench_provenance.json").read_text())
    assert provenance["world_size"] == 2
    assert provenance["bitext_pairs_used"] == 12  # 3 steps x 2 per device x 2 processes
