"""Teacher/student Router models, baselines and training on tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, LOW_RESOURCE, write_beir
from sentence_transformers import SentenceTransformer

from optical_bench.models import add_centering, build_distillation_model, truncate_layers
from optical_bench.models.vocabulary import prune_vocabulary
from optical_bench.training import TrainConfig, train


def _state(model: SentenceTransformer, route: str) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model[0].sub_modules[route].state_dict().items()}


def test_router_sends_queries_to_the_student_and_documents_to_the_teacher(tiny_model, tiny_model_other, tmp_path):
    model = build_distillation_model(str(tiny_model), str(tiny_model_other))
    teacher = SentenceTransformer(str(tiny_model), device="cpu")
    student = SentenceTransformer(str(tiny_model_other), device="cpu")
    texts = LOW_RESOURCE[:3]
    np.testing.assert_allclose(model.encode_query(texts), student.encode(texts), atol=1e-5)
    np.testing.assert_allclose(model.encode_document(texts), teacher.encode(texts), atol=1e-5)
    assert not np.allclose(model.encode_query(texts), model.encode_document(texts), atol=1e-3)
    model.save(str(tmp_path / "router"))
    reloaded = SentenceTransformer(str(tmp_path / "router"), device="cpu")
    np.testing.assert_allclose(reloaded.encode_query(texts), student.encode(texts), atol=1e-5)
    np.testing.assert_allclose(reloaded.encode_document(texts), teacher.encode(texts), atol=1e-5)


def test_student_side_can_be_the_documents(tiny_model, tiny_model_other):
    model = build_distillation_model(str(tiny_model), str(tiny_model_other), student_side="document")
    student = SentenceTransformer(str(tiny_model_other), device="cpu")
    np.testing.assert_allclose(model.encode_document(ENGLISH[:2]), student.encode(ENGLISH[:2]), atol=1e-5)
    assert not any(p.requires_grad for p in model[0].sub_modules["query"].parameters())


def test_teacher_is_frozen_and_student_is_a_copy(tiny_model):
    model = build_distillation_model(str(tiny_model))
    assert not any(p.requires_grad for p in model[0].sub_modules["document"].parameters())
    assert all(p.requires_grad for p in model[0].sub_modules["query"].parameters())
    np.testing.assert_allclose(model.encode_query(ENGLISH[:2]), model.encode_document(ENGLISH[:2]), atol=1e-6)


def test_student_of_another_width_is_refused(tiny_model, tmp_path):
    import conftest
    from conftest import save_tiny_sentence_transformer

    old = conftest.HIDDEN
    conftest.HIDDEN = 48
    try:
        wide = save_tiny_sentence_transformer(tmp_path / "wide", seed=3)
    finally:
        conftest.HIDDEN = old
    with pytest.raises(ValueError, match="same width"):
        build_distillation_model(str(tiny_model), str(wide))


def test_centering_is_a_standard_dense_layer_that_reloads_anywhere(tiny_model, tmp_path):
    model = build_distillation_model(str(tiny_model))
    before = model.encode_query(LOW_RESOURCE, convert_to_tensor=True)
    mean = before.mean(dim=0)
    add_centering(model, mean)
    after = model.encode_query(LOW_RESOURCE, convert_to_tensor=True)
    expected = torch.nn.functional.normalize(before - mean, dim=-1)
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(
        model.encode_document(ENGLISH[:2]), SentenceTransformer(str(tiny_model), device="cpu").encode(ENGLISH[:2]), atol=1e-5
    )
    model.save(str(tmp_path / "centred"))
    modules = json.loads((tmp_path / "centred" / "router_config.json").read_text())
    assert "Dense" in json.dumps(modules)
    reloaded = SentenceTransformer(str(tmp_path / "centred"), device="cpu")
    torch.testing.assert_close(reloaded.encode_query(LOW_RESOURCE, convert_to_tensor=True), expected, atol=1e-5, rtol=1e-4)


def test_truncate_layers(tiny_model_other):
    model = SentenceTransformer(str(tiny_model_other), device="cpu")
    truncate_layers(model[0], 1)
    assert len(model[0].auto_model.encoder.layer) == 1 and model[0].auto_model.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="choose 1..1"):
        truncate_layers(model[0], 5)


def test_vocabulary_pruning_keeps_the_embeddings_of_the_texts_it_was_pruned_for(tiny_model):
    model = SentenceTransformer(str(tiny_model), device="cpu")
    before = model.encode(LOW_RESOURCE)
    stats = prune_vocabulary(model[0], LOW_RESOURCE)
    assert stats["after"] < stats["before"]
    assert model[0].auto_model.get_input_embeddings().weight.shape[0] == stats["after"]
    np.testing.assert_allclose(model.encode(LOW_RESOURCE), before, atol=1e-5)


def _dev_folder(tmp_path: Path) -> Path:
    queries = {f"q{i}": text for i, text in enumerate(LOW_RESOURCE)}
    corpus = {f"d{i}": text for i, text in enumerate(ENGLISH)}
    return write_beir(tmp_path / "dev", queries, corpus, {f"q{i}": {f"d{i}": 1} for i in range(len(corpus))}, split="dev")


@pytest.mark.parametrize("method", ["optical", "mse", "contrastive", "optical+mse", "optical+contrastive"])
def test_each_trained_method_yields_a_loadable_student_with_provenance(method, tiny_model, tiny_bitext, tmp_path):
    config = TrainConfig.from_dict(
        dict(
            method=method,
            teacher=str(tiny_model),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "run"),
            max_steps=3,
            batch_size=4,
            learning_rate=1e-3,
            dev_collection=str(_dev_folder(tmp_path)),
            eval_steps=3,
            seed=1,
        )
    )
    folder = train(config, progress=False)
    model = SentenceTransformer(str(folder), device="cpu")
    teacher = SentenceTransformer(str(tiny_model), device="cpu")
    np.testing.assert_allclose(model.encode_document(ENGLISH[:3]), teacher.encode(ENGLISH[:3]), atol=1e-5)
    assert not np.allclose(model.encode_query(LOW_RESOURCE[:3]), teacher.encode(LOW_RESOURCE[:3]), atol=1e-4)
    provenance = json.loads((folder / "optical_bench_provenance.json").read_text())
    assert provenance["method"] == method and provenance["seed"] == 1 and provenance["bitext_pairs_used"] == 12
    assert provenance["dev_history"] and provenance["dev_history"][-1]["mrr@10"] is not None
    card = (folder / "README.md").read_text()
    assert "optical-bench provenance" in card and "huang2023optical" in card  # the BibTeX block cites OPTICAL on every card
    if "optical" in method:
        assert provenance["ot"]["epsilon"] == 0.05
    assert not (tmp_path / "run" / "checkpoints").exists()


def _tiny_config(tiny_model, tiny_bitext, out: Path, **options) -> TrainConfig:
    """A few steps on the tiny model and bitext, batches of 4, lr 1e-3, and ``options``."""
    return TrainConfig.from_dict(
        dict(teacher=str(tiny_model), bitext=str(tiny_bitext), out=str(out), batch_size=4, learning_rate=1e-3, **options)
    )


def test_same_seed_gives_identical_students(tiny_model, tiny_bitext, tmp_path):
    outputs = []
    for name in ("a", "b"):
        config = _tiny_config(
            tiny_model, tiny_bitext, tmp_path / name, method="optical", max_steps=2, dev=False, save_checkpoints=False, seed=7
        )
        outputs.append(SentenceTransformer(str(train(config, progress=False)), device="cpu").encode_query(LOW_RESOURCE))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_training_resumes_from_the_last_checkpoint(tiny_model, tiny_bitext, tmp_path):
    common = dict(
        method="optical",
        teacher=str(tiny_model),
        bitext=str(tiny_bitext),
        out=str(tmp_path / "run"),
        batch_size=4,
        learning_rate=1e-3,
        dev_collection=str(_dev_folder(tmp_path)),
        eval_steps=2,
        keep_checkpoints=True,
    )
    train(TrainConfig.from_dict(dict(max_steps=2, **common)), progress=False)
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-2").exists()
    folder = train(TrainConfig.from_dict(dict(max_steps=4, **{**common, "keep_checkpoints": False})), progress=False)
    provenance = json.loads((folder / "optical_bench_provenance.json").read_text())
    assert provenance["resumed_from"] == "checkpoint-2"


@pytest.mark.parametrize("method", ["zero-shot", "centering", "translate-test"])
def test_training_free_baselines(method, tiny_model, tiny_bitext, tmp_path):
    config = TrainConfig(method=method, teacher=str(tiny_model), bitext=str(tiny_bitext), out=str(tmp_path / method), ibm1_iterations=3)
    folder = train(config, progress=False)
    provenance = json.loads((folder / "optical_bench_provenance.json").read_text())
    assert provenance["method"] == method and provenance["steps"] == 0
    from optical_bench.model_specs import load_for_evaluation

    loaded = load_for_evaluation(str(folder))
    if method == "translate-test":
        assert loaded.query_translator.translate_batch(["galu akuthamanga"])[0].split()[0] in {"the", "dog", "runs"}
    else:
        assert loaded.model.encode_query(LOW_RESOURCE[:1]).shape == (1, 32)


def test_unknown_method_and_options_are_refused():
    with pytest.raises(ValueError, match="did you mean 'optical'"):
        TrainConfig(method="opticall").validate()
    with pytest.raises(ValueError, match="(?i)unknown training option"):
        TrainConfig.from_dict({"method": "mse", "learning_rat": 1.0})


def test_a_non_finite_loss_stops_training_with_the_batch_and_the_fix(tiny_model, tiny_bitext, tmp_path, monkeypatch):
    from optical_bench.losses import DistillationLoss
    from optical_bench.training import NonFiniteLossError

    original = DistillationLoss.forward
    calls = {"n": 0}

    def poisoned(self, features, labels=None):
        calls["n"] += 1
        value = original(self, features, labels)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(DistillationLoss, "forward", poisoned)
    config = TrainConfig.from_dict(
        dict(
            method="optical",
            teacher=str(tiny_model),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "nan"),
            max_steps=3,
            batch_size=4,
            dev=False,
            save_checkpoints=False,
        )
    )
    with pytest.raises(NonFiniteLossError, match=r"at batch 2 \(pairs 4-7.*Fix: lower --learning-rate"):
        train(config, progress=False)


def test_an_incomplete_checkpoint_is_skipped_on_resume(tmp_path):
    from optical_bench.training import last_complete_checkpoint

    good = tmp_path / "checkpoint-2"
    (good / "sub").mkdir(parents=True)
    (good / "trainer_state.json").write_text("{}")
    (good / "optimizer.pt").write_bytes(b"x")
    (good / "sub" / "model.safetensors").write_bytes(b"x")
    partial = tmp_path / "checkpoint-4"
    partial.mkdir()
    (partial / "optimizer.pt").write_bytes(b"x")  # killed before trainer_state.json
    assert last_complete_checkpoint(tmp_path) == str(good)
    assert not partial.exists()


@pytest.mark.parametrize("verbose", [False, True])
def test_training_prints_no_raw_trainer_dicts_unless_verbose(verbose, tiny_model, tiny_bitext, tmp_path, capsys, monkeypatch):
    import logging

    monkeypatch.setattr(logging.getLogger(), "level", logging.INFO if verbose else logging.WARNING)
    config = TrainConfig.from_dict(
        dict(
            method="optical",
            teacher=str(tiny_model),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "run"),
            max_steps=2,
            batch_size=4,
            dev=False,
            save_checkpoints=False,
        )
    )
    train(config, progress=True)
    captured = capsys.readouterr()
    printed = "'loss':" in captured.out + captured.err
    assert printed == verbose


def test_train_prints_the_chosen_checkpoint_its_dev_score_and_the_start_it_beat_or_not(tiny_model, tiny_bitext, tmp_path, capsys):
    from optical_bench.cli import main

    command = ["train", "--method", "mse", "--teacher", str(tiny_model), "--bitext", str(tiny_bitext), "--out", str(tmp_path / "run")]
    command += ["--max-steps", "4", "--batch-size", "4", "--dev-collection", str(_dev_folder(tmp_path)), "--eval-steps", "2", "--quiet"]
    assert main(command) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("chosen checkpoint"))
    assert "dev MRR@10" in line and "before training (step 0) dev MRR@10" in line and ("beats it" in line or "does not beat it" in line)
    history = json.loads((tmp_path / "run" / "model" / "optical_bench_provenance.json").read_text())["dev_history"]
    assert history[0]["step"] == 0 and history[-1]["step"] == 4


def test_the_dev_selection_line_says_when_training_did_not_beat_the_start():
    from optical_bench.training.dev import describe_dev_selection

    provenance = {
        "dev_history": [
            {"step": 0, "mrr@10": 0.5, "r@1": 0.4},
            {"step": 30, "mrr@10": 0.45, "r@1": 0.35},
            {"step": 60, "mrr@10": 0.48, "r@1": 0.4},
        ],
        "best_checkpoint": "../checkpoints/checkpoint-60",
    }
    line = describe_dev_selection(provenance)
    assert line.startswith("chosen checkpoint: step 60 (checkpoint-60), dev MRR@10 0.4800")
    assert "does not beat it (-0.0200)" in line
    assert describe_dev_selection({"dev_history": []}).startswith("dev: not evaluated")


def test_the_dev_score_before_training_changes_nothing_that_training_does(tiny_model, tiny_bitext, tmp_path):
    """Scoring dev at step 0 (for the line above) must not move the batches or the dropout masks: the
    losses of a run with dev scoring are those of the same run without it, step by step. (With the
    Trainer's eval_on_start they were not, and every trained score moved.)"""
    losses = {}
    for name, dev in (("with-dev", True), ("without-dev", False)):
        config = _tiny_config(
            tiny_model,
            tiny_bitext,
            tmp_path / name,
            method="optical+contrastive",
            max_steps=4,
            dev=dev,
            dev_collection=str(_dev_folder(tmp_path)),
            eval_steps=4,
            seed=3,
        )
        provenance = json.loads((train(config, progress=False) / "optical_bench_provenance.json").read_text())
        losses[name] = provenance["train_loss_first_last"]
        if dev:
            assert provenance["dev_history"][0]["step"] == 0
    assert losses["with-dev"] == losses["without-dev"]
