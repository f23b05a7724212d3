"""Documents encoded by sentence-transformers' multi-process pool (one process per device)
give the scores of one process; tested with two CPU processes."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from optical_bench.evaluate import EvaluationOptions, evaluate_model
from optical_bench.models import build_distillation_model
from optical_bench.tasks import beir_task


@pytest.mark.parametrize("cache_embeddings", [False, True])
def test_two_cpu_processes_give_the_scores_of_one(tiny_model, tiny_beir, tmp_path, monkeypatch, cache_embeddings):
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    started = []
    real_start = SentenceTransformer.start_multi_process_pool

    def start(self, devices, *args, **kwargs):
        started.append(list(devices))
        return real_start(self, devices, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "start_multi_process_pool", start)
    model = build_distillation_model(str(tiny_model))  # a Router: documents take the teacher route
    one = evaluate_model(
        model,
        [beir_task(tiny_beir)],
        tmp_path / "one",
        name="tiny",
        revision="r1",
        options=EvaluationOptions(progress=False, cache_embeddings=False),
    )
    two = evaluate_model(
        model,
        [beir_task(tiny_beir)],
        tmp_path / "two",
        name="tiny",
        revision="r2",
        options=EvaluationOptions(progress=False, cache_embeddings=cache_embeddings, devices=["cpu", "cpu"]),
    )
    assert started == [["cpu", "cpu"]]
    task = next(iter(one.scores))
    for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_1"):
        assert two.scores[task]["test"][0][metric] == pytest.approx(one.scores[task]["test"][0][metric], abs=1e-6)
    if cache_embeddings:
        assert two.cache_stats["document_misses"] == 1
