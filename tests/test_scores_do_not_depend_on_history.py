"""A score is a pure function of (model, task, settings): the cache key, test-time lengths,
routing, the BEIR adapter, and concurrent processes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, LOW_RESOURCE, lock_held_by_another_process, write_beir
from sentence_transformers import SentenceTransformer

from optical_bench.embedding_cache import EmbeddingCache, StaleEmbeddingCacheError, encoder_key, verification_sample
from optical_bench.evaluate import EvaluationOptions, evaluate_model
from optical_bench.models import build_distillation_model, cut_at, route_lengths, training_lengths
from optical_bench.tasks import beir_task
from optical_bench.training import TrainConfig, train

LONG_DOCUMENTS = {f"d{i}": " ".join([text] * 4) for i, text in enumerate(ENGLISH)}  # ~20 tokens: cut at 8, whole at 32


@pytest.fixture
def long_beir(tmp_path) -> Path:
    queries = {f"q{i}": text for i, text in enumerate(LOW_RESOURCE)}
    return write_beir(tmp_path / "long-beir", queries, LONG_DOCUMENTS, {f"q{i}": {f"d{i}": 1} for i in range(len(queries))})


def _ndcg(result) -> float:
    return next(iter(result.scores.values()))["test"][0]["ndcg_at_10"]


# --------------------------------------------------------------------------- the key


def _key(model, prompt=None, scoring="cosine"):
    return encoder_key(model, prompt=prompt, scoring=scoring)[0]


def test_the_cache_key_changes_with_each_thing_that_changes_an_embedding(tiny_model):
    from sentence_transformers.models import Pooling

    base = SentenceTransformer(str(tiny_model), device="cpu")
    variants = {}

    weights = copy.deepcopy(base)
    with torch.no_grad():
        next(weights[0].parameters()).add_(1e-3)
    variants["a weight"] = weights

    tokenizer = copy.deepcopy(base)
    tokenizer[0].tokenizer.add_tokens(["zikomokwambiri"])
    variants["the tokenizer"] = tokenizer

    length = copy.deepcopy(base)
    length.max_seq_length = 16
    variants["max_seq_length"] = length

    pooling = copy.deepcopy(base)
    pooling._modules["1"] = Pooling(pooling[1].get_embedding_dimension(), pooling_mode="cls")
    variants["pooling"] = pooling

    no_normalize = SentenceTransformer(modules=[copy.deepcopy(base[0]), copy.deepcopy(base[1])], device="cpu")
    variants["normalisation"] = no_normalize

    keys = {name: _key(model) for name, model in variants.items()}
    keys["the prompt"] = _key(base, prompt="passage: ")
    keys["the scoring mode"] = _key(base, scoring="maxsim")
    keys["nothing"] = _key(copy.deepcopy(base))
    assert keys.pop("nothing") == _key(base)
    assert _key(base) not in keys.values(), {name: key for name, key in keys.items() if key == _key(base)}
    assert len(set(keys.values())) == len(keys)


def test_the_applied_prompt_is_what_encode_document_uses(tiny_model):
    base = SentenceTransformer(str(tiny_model), device="cpu")
    with_prompt = SentenceTransformer(str(tiny_model), device="cpu", prompts={"query": "query: ", "document": "passage: "})
    # mteb passes no prompt: sentence-transformers applies the model's document prompt itself
    assert encoder_key(with_prompt, prompt=None)[1]["prompt"] == "passage: "
    assert _key(with_prompt, prompt=None) == _key(base, prompt="passage: ")  # the same weights, the same applied prompt
    assert encoder_key(with_prompt, prompt=None)[0] != encoder_key(base, prompt=None)[0]


@pytest.mark.parametrize("kind", ["router student", "plain model"])
def test_a_shared_cache_gives_the_scores_of_fresh_caches_whichever_model_ran_first(kind, tiny_model, long_beir, tmp_path, monkeypatch):
    teacher = SentenceTransformer(str(tiny_model), device="cpu")
    if kind == "router student":
        other = build_distillation_model(str(tiny_model))
        with torch.no_grad():  # a trained student: its query route moved
            for parameter in other[0].sub_modules["query"].parameters():
                parameter.add_(0.01 * torch.randn_like(parameter))
        other[0].sub_modules["document"][0].max_seq_length = 8  # the teacher route of a student saved at the training length
    else:
        other = SentenceTransformer(str(tiny_model), device="cpu")
        other.max_seq_length = 8  # the same weights, another token limit

    def evaluate(model, home: str, name: str):
        monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / home))
        return evaluate_model(
            model,
            [beir_task(long_beir)],
            tmp_path / f"out-{home}-{name}",
            name=name,
            revision="r",
            options=EvaluationOptions(progress=False),
        )

    fresh = {"teacher": _ndcg(evaluate(teacher, "fresh-teacher", "teacher")), "other": _ndcg(evaluate(other, "fresh-other", "other"))}
    assert fresh["teacher"] != fresh["other"], "the test needs two models whose document embeddings differ"
    first_teacher = {"teacher": _ndcg(evaluate(teacher, "shared-1", "teacher")), "other": _ndcg(evaluate(other, "shared-1", "other"))}
    first_other = {"other": _ndcg(evaluate(other, "shared-2", "other")), "teacher": _ndcg(evaluate(teacher, "shared-2", "teacher"))}
    assert first_teacher == fresh and first_other == fresh


def test_a_student_with_the_teachers_document_route_shares_its_cache_entries(tiny_model, tiny_beir, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    teacher = SentenceTransformer(str(tiny_model), device="cpu")
    student = build_distillation_model(str(tiny_model))
    evaluate_model(teacher, [beir_task(tiny_beir)], tmp_path / "a", name="teacher", revision="r", options=EvaluationOptions(progress=False))
    second = evaluate_model(
        student, [beir_task(tiny_beir)], tmp_path / "b", name="student", revision="r", options=EvaluationOptions(progress=False)
    )
    assert second.cache_stats["document_hits"] == 1 and second.cache_stats["document_verified"] > 0


# --------------------------------------------------------------------------- verification and old entries


def test_a_stale_cache_entry_is_refused_with_its_path_and_the_fix(tiny_model, long_beir, tmp_path, monkeypatch):
    import hashlib

    home = tmp_path / "home"
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(home))
    model = SentenceTransformer(str(tiny_model), device="cpu")
    evaluate_model(model, [beir_task(long_beir)], tmp_path / "a", name="tiny", revision="s1", options=EvaluationOptions(progress=False))
    (entry,) = (home / "embeddings" / "v2").rglob("*.npy")
    stored = np.load(entry)
    stale = np.roll(stored, 1, axis=0)  # a well-formed entry, checksum and all, holding other embeddings
    import io

    buffer = io.BytesIO()
    np.save(buffer, stale, allow_pickle=False)
    entry.write_bytes(buffer.getvalue())
    entry.with_suffix(".sha256").write_text(hashlib.sha256(buffer.getvalue()).hexdigest())
    with pytest.raises(StaleEmbeddingCacheError, match=r"do not match this model.*Fix: delete"):
        evaluate_model(model, [beir_task(long_beir)], tmp_path / "b", name="tiny", revision="s2", options=EvaluationOptions(progress=False))
    # with the check off the entry is used as it is (the user's explicit choice)
    unchecked = evaluate_model(
        model, [beir_task(long_beir)], tmp_path / "c", name="tiny", revision="s3", options=EvaluationOptions(progress=False, verify_cache=0)
    )
    assert unchecked.cache_stats["document_hits"] == 1


def test_entries_written_before_the_key_covered_lengths_are_never_read(tiny_model, tiny_beir, tmp_path, monkeypatch, caplog):
    import optical_bench.embedding_cache as embedding_cache

    home = tmp_path / "home"
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(home))
    monkeypatch.setattr(embedding_cache, "_warned_old", False)
    old = home / "embeddings" / "0123456789abcdef"
    old.mkdir(parents=True)
    (old / "0123456789abcdef01234567.npy").write_bytes(b"old")
    model = SentenceTransformer(str(tiny_model), device="cpu")
    with caplog.at_level("WARNING"):
        result = evaluate_model(
            model, [beir_task(tiny_beir)], tmp_path / "a", name="tiny", revision="o1", options=EvaluationOptions(progress=False)
        )
    assert result.cache_stats["document_misses"] == 1
    assert "older optical-bench" in caplog.text


def test_the_verification_sample_holds_the_longest_texts():
    texts = ["a", "bbbbbbbbbb", "cc", "ddddd", "e", "ffffffffffffffff"]
    sample = verification_sample(texts, 4)
    assert len(sample) == 4 and {1, 5} <= set(sample)
    assert verification_sample(texts, 0) == [] and len(verification_sample(texts, 99)) == len(texts)


def test_the_cache_recomputes_nothing_it_has_and_counts_verified_texts(tiny_model, tmp_path):
    model = SentenceTransformer(str(tiny_model), device="cpu")
    cache = EmbeddingCache(model, prompt=None, root=tmp_path / "cache", verify_sample=2)
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return model.encode_document(texts, convert_to_numpy=True)

    first = cache.get_or_compute(ENGLISH, encode)
    second = cache.get_or_compute(ENGLISH, encode)
    np.testing.assert_array_equal(first, second)
    assert calls == [len(ENGLISH), 2] and cache.stats == {"document_hits": 1, "document_misses": 1, "document_verified": 2}
    record = json.loads(next((tmp_path / "cache").rglob("*.json")).read_text())
    assert record["modules"][0]["max_seq_length"] == 32 and record["texts"] == len(ENGLISH)


# --------------------------------------------------------------------------- lengths and routing


def test_training_cuts_batches_but_the_saved_student_keeps_each_encoders_length(tiny_model, tiny_bitext, tmp_path):
    seen = []
    from sentence_transformers.models import Transformer

    original = Transformer.preprocess

    def spy(self, *args, **kwargs):
        seen.append(self.max_seq_length)
        return original(self, *args, **kwargs)

    Transformer.preprocess = spy
    try:
        config = TrainConfig.from_dict(
            dict(
                method="optical+contrastive",
                teacher=str(tiny_model),
                bitext=str(tiny_bitext),
                out=str(tmp_path / "run"),
                max_steps=2,
                batch_size=4,
                learning_rate=1e-3,
                dev=False,
                save_checkpoints=False,
                max_seq_length=8,
                student_max_seq_length=16,
            )
        )
        folder = train(config, progress=False)
    finally:
        Transformer.preprocess = original
    assert 8 in seen, "training batches are cut at the training length"
    model = SentenceTransformer(str(folder), device="cpu")
    assert route_lengths(model) == {"query": 16, "document": 32}
    provenance = json.loads((folder / "optical_bench_provenance.json").read_text())
    assert provenance["test_time_max_seq_length"] == {"query": 16, "document": 32}
    assert provenance["training_max_seq_length"] == 8 and provenance["model_format"] == 2
    card = (folder / "README.md").read_text()
    assert "encode_query" in card and "RoutedBEIRModel" in card and "query 16, document 32" in card
    default = TrainConfig.from_dict(
        dict(
            method="mse",
            teacher=str(tiny_model),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "default"),
            max_steps=1,
            batch_size=4,
            dev=False,
            save_checkpoints=False,
            max_seq_length=8,
        )
    )
    assert route_lengths(SentenceTransformer(str(train(default, progress=False)), device="cpu")) == {"query": 32, "document": 32}


def test_cut_at_restores_the_lengths_even_when_the_block_fails(tiny_model):
    model = build_distillation_model(str(tiny_model))
    assert training_lengths(model, 8) == {"query": 8, "document": 8}
    assert training_lengths(model, 64) == {"query": 32, "document": 32}  # never longer than the encoder's own limit
    with pytest.raises(RuntimeError):
        with cut_at(model, {"query": 4, "document": 5}):
            assert route_lengths(model) == {"query": 4, "document": 5}
            raise RuntimeError("boom")
    assert route_lengths(model) == {"query": 32, "document": 32}


def test_plain_encode_on_a_student_raises_instead_of_using_the_teacher(tiny_model, tmp_path):
    model = build_distillation_model(str(tiny_model))
    model.save(str(tmp_path / "student"))
    reloaded = SentenceTransformer(str(tmp_path / "student"), device="cpu")
    with pytest.raises(ValueError, match="route"):
        reloaded.encode(["moni bwanji"])
    assert reloaded.encode_query(["moni bwanji"]).shape == (1, 32)


def test_beir_exact_search_with_the_adapter_gives_mtebs_scores(tiny_model, tiny_model_other, tiny_beir, tmp_path):
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch

    from optical_bench.beir_model import RoutedBEIRModel

    student = build_distillation_model(str(tiny_model), str(tiny_model_other))  # the routes differ
    student.save(str(tmp_path / "student"))
    result = evaluate_model(
        student,
        [beir_task(tiny_beir)],
        tmp_path / "out",
        name="student",
        revision="b1",
        options=EvaluationOptions(progress=False, cache_embeddings=False),
    )
    mteb_scores = next(iter(result.scores.values()))["test"][0]
    corpus, queries, qrels = GenericDataLoader(str(tiny_beir)).load(split="test")
    retriever = EvaluateRetrieval(
        DenseRetrievalExactSearch(RoutedBEIRModel(str(tmp_path / "student")), batch_size=16), score_function="cos_sim"
    )
    ndcg, _map, recall, _precision = retriever.evaluate(qrels, retriever.retrieve(corpus, queries), [1, 10])
    assert ndcg["NDCG@10"] == pytest.approx(mteb_scores["ndcg_at_10"], abs=1e-5)
    assert recall["Recall@1"] == pytest.approx(mteb_scores["recall_at_1"], abs=1e-5)


# --------------------------------------------------------------------------- concurrent processes


def _cli(*arguments, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optical_bench.cli", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_two_evaluations_into_one_folder_write_one_complete_result(tiny_model, tiny_beir, tmp_path):
    env = {**os.environ, "OPTICAL_BENCH_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    arguments = ("evaluate", "--model", str(tiny_model), "--beir", str(tiny_beir), "--out", str(tmp_path / "shared"), "--quiet")
    processes = [_cli(*arguments, env=env) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    (result_file,) = [
        p
        for p in (tmp_path / "shared").rglob("*.json")
        if not {"optical_bench", ".predictions"} & set(p.parts) and p.name != "model_meta.json"
    ]
    shared = json.loads(result_file.read_text())["scores"]["test"][0]["ndcg_at_10"]
    alone = evaluate_model(
        SentenceTransformer(str(tiny_model), device="cpu"),
        [beir_task(tiny_beir)],
        tmp_path / "alone",
        name="tiny",
        revision="x",
        options=EvaluationOptions(progress=False, cache_embeddings=False),
    )
    assert shared == pytest.approx(_ndcg(alone), abs=1e-6)
    assert len(list((tmp_path / "home" / "embeddings" / "v2").rglob("*.npy"))) == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_two_trainings_into_one_folder_give_one_complete_model(tiny_model, tiny_bitext, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    arguments = (
        "train",
        "--method",
        "mse",
        "--teacher",
        str(tiny_model),
        "--bitext",
        str(tiny_bitext),
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--no-dev",
        "--no-save-checkpoints",
        "--out",
        str(tmp_path / "run"),
        "--quiet",
    )
    processes = [_cli(*arguments, env=env) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    model = SentenceTransformer(str(tmp_path / "run" / "model"), device="cpu")
    assert model.encode_query(LOW_RESOURCE[:2]).shape == (2, 32)
    json.loads((tmp_path / "run" / "model" / "optical_bench_provenance.json").read_text())
    assert not (tmp_path / "run" / ".model.tmp").exists()


def test_a_held_lock_names_its_holder_and_no_wait_stops(tmp_path, monkeypatch):
    from optical_bench.io import ENV_NO_WAIT, LockHeldError, folder_lock

    with lock_held_by_another_process(tmp_path / "folder", "the results folder") as pid:
        monkeypatch.setenv(ENV_NO_WAIT, "1")
        with pytest.raises(LockHeldError, match=rf"the results folder .*folder is in use by pid {pid} "):
            with folder_lock(tmp_path / "folder", "the results folder"):
                pass
    monkeypatch.delenv(ENV_NO_WAIT)
    with folder_lock(tmp_path / "folder", "the results folder"):  # released when its holder died
        with folder_lock(tmp_path / "folder", "the results folder"):  # re-entrant within a process
            pass


def test_the_key_does_not_depend_on_where_a_model_was_loaded_from(tiny_model, tmp_path):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "elsewhere")
    here = SentenceTransformer(str(tiny_model), device="cpu")
    there = SentenceTransformer(str(tmp_path / "elsewhere"), device="cpu")
    assert _key(here) == _key(there)
    student = build_distillation_model(str(tiny_model))
    student.save(str(tmp_path / "student"))
    assert _key(SentenceTransformer(str(tmp_path / "student"), device="cpu")) == _key(here)  # the saved teacher route
