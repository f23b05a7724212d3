"""A training run checks its options once: where the command line or the experiment runner
finishes them, or in train() when it is called without the run's data."""

from __future__ import annotations

from optical_bench.cli import main
from optical_bench.config import TrainConfig
from optical_bench.training import train


def _count_checks(monkeypatch) -> list[int]:
    calls = []
    check = TrainConfig.validate

    def counted(self):
        calls.append(1)
        return check(self)

    monkeypatch.setattr(TrainConfig, "validate", counted)
    return calls


def test_a_command_line_run_is_checked_once(tiny_model, tiny_bitext, tmp_path, monkeypatch):
    calls = _count_checks(monkeypatch)
    argv = ["train", "--method", "zero-shot", "--teacher", str(tiny_model), "--bitext", str(tiny_bitext), "--no-dev"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert len(calls) == 1


def test_a_run_through_the_api_is_checked_once(tiny_model, tiny_bitext, tmp_path, monkeypatch):
    calls = _count_checks(monkeypatch)
    config = TrainConfig.from_dict({"method": "zero-shot", "teacher": str(tiny_model), "bitext": str(tiny_bitext), "dev": False})
    config.out = str(tmp_path / "run")
    train(config, progress=False)
    assert len(calls) == 1
