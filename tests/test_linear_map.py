"""The paper's pairing: the closed-form linear warm start, OT after the map, make_multilingual MSE, the pairing recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ENGLISH, LOW_RESOURCE
from sentence_transformers import SentenceTransformer

from optical_bench.cli import build_parser, train_config_from_args
from optical_bench.config import OTOptions, TrainConfig, resolve_layers
from optical_bench.data.bitext import read_bitext
from optical_bench.experiment import is_the_teacher_itself
from optical_bench.losses import OptimalTransportLoss
from optical_bench.losses.optimal_transport import map_student_tokens
from optical_bench.models import build_distillation_model
from optical_bench.models.linear_map import add_linear_map, fit_linear_map, warm_start_linear_map
from optical_bench.recipes import PAPER_PAIRING_OPTIONS, RECIPES
from optical_bench.training import train
from optical_bench.training.objective import build_objective


def test_the_closed_form_fit_recovers_an_affine_map_and_leaves_the_bias_unpenalised():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(200, 6))
    weight, bias = rng.normal(size=(6, 4)), rng.normal(size=4)
    fitted_weight, fitted_bias = fit_linear_map(source, source @ weight + bias, ridge=0.0)
    np.testing.assert_allclose(fitted_weight, weight, atol=1e-4)
    np.testing.assert_allclose(fitted_bias, bias, atol=1e-4)
    # a huge ridge shrinks W to 0, and the unpenalised bias becomes the target mean
    shrunk_weight, shrunk_bias = fit_linear_map(source, source @ weight + bias, ridge=1e9)
    assert np.abs(shrunk_weight).max() < 1e-3
    np.testing.assert_allclose(shrunk_bias, (source @ weight + bias).mean(axis=0), atol=1e-3)
    with pytest.raises(ValueError, match="rows"):
        fit_linear_map(source, source[:10])


def test_the_warm_start_moves_the_student_towards_the_teacher_and_reloads_as_plain_sentence_transformers(
    tiny_model, tiny_model_other, tmp_path
):
    model = build_distillation_model(str(tiny_model), str(tiny_model_other))
    pairs = list(zip(LOW_RESOURCE * 3, ENGLISH * 3))
    record = warm_start_linear_map(model, pairs, source="both", ridge=1e-3)
    assert record["rows"] == 2 * len(pairs) and record["fit_cosine_after"] > record["fit_cosine_before"]
    route = [type(module).__name__ for module in model[0].sub_modules["query"]]
    assert route[-2:] == ["Dense", "Normalize"]
    model.save(str(tmp_path / "mapped"))
    reloaded = SentenceTransformer(str(tmp_path / "mapped"), device="cpu")
    np.testing.assert_allclose(reloaded.encode_query(LOW_RESOURCE), model.encode_query(LOW_RESOURCE), atol=1e-6)
    with pytest.raises(ValueError, match="english, bitext, both"):
        warm_start_linear_map(model, pairs, source="none")


def test_the_warm_start_reads_its_embeddings_through_the_cache_once_per_route_and_text(tiny_model, tiny_model_other, monkeypatch, tmp_path):
    from optical_bench.embedding_cache import encoder_key

    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))  # a cache of its own
    pairs = list(zip(LOW_RESOURCE * 3, ENGLISH * 3))
    encoded = {"query": 0, "document": 0}

    def counted(model):
        for route in encoded:
            original = getattr(model, f"encode_{route}")

            def encode(texts, *args, _route=route, _original=original, **kwargs):
                encoded[_route] += len(texts)
                return _original(texts, *args, **kwargs)

            monkeypatch.setattr(model, f"encode_{route}", encode)
        return model

    first_model = counted(build_distillation_model(str(tiny_model), str(tiny_model_other)))
    # the student's route and the teacher's are told apart by what computes them
    assert encoder_key(first_model, prompt=None, route="query")[0] != encoder_key(first_model, prompt=None, route="document")[0]
    first = warm_start_linear_map(first_model, pairs, source="both", ridge=1e-3)
    computed = dict(encoded)
    assert computed == {"query": 2 * len(pairs), "document": len(pairs)}

    encoded.update(query=0, document=0)
    second_model = counted(build_distillation_model(str(tiny_model), str(tiny_model_other)))
    second = warm_start_linear_map(second_model, pairs, source="both", ridge=1e-3)
    # a hit re-encodes only its verification sample, and fits the same map
    assert 0 < encoded["query"] < computed["query"] and 0 < encoded["document"] < computed["document"]
    assert second == first
    probe = LOW_RESOURCE[:3]
    np.testing.assert_allclose(second_model.encode_query(probe), first_model.encode_query(probe), atol=1e-6)

    encoded.update(query=0, document=0)
    warm_start_linear_map(counted(build_distillation_model(str(tiny_model), str(tiny_model_other))), pairs, cache=False)
    assert encoded == computed


def test_mapped_tokens_pool_to_the_mapped_sentence(tiny_model, tiny_model_other):
    model = build_distillation_model(str(tiny_model), str(tiny_model_other))
    rng = np.random.default_rng(1)
    add_linear_map(model, rng.normal(size=(32, 32)).astype(np.float32), rng.normal(size=32).astype(np.float32))
    route = model[0].sub_modules["query"]
    features = model.tokenize(["one two three"], task="query")
    with torch.no_grad():
        out = model({**features, "task": "query"})
        tokens = map_student_tokens(route, out["token_embeddings"])
    dense = [module for module in route if type(module).__name__ == "Dense"][0]
    manual = torch.nn.functional.normalize(dense.linear(torch.nn.functional.normalize(out["token_embeddings"], dim=-1)), dim=-1)
    torch.testing.assert_close(tokens, manual)
    # the token path applied to the pooled vector is the route's sentence embedding
    pooled = out["token_embeddings"].mean(dim=1, keepdim=True)
    torch.testing.assert_close(map_student_tokens(route, pooled)[:, 0], out["sentence_embedding"])


def test_ot_after_the_map_changes_the_cost_only_when_there_is_a_map(tiny_model, tiny_model_other):
    model = build_distillation_model(str(tiny_model), str(tiny_model_other))
    batch = [
        {**model.tokenize(LOW_RESOURCE[:4], task="query"), "task": "query"},
        {**model.tokenize(ENGLISH[:4], task="document"), "task": "document"},
    ]
    plain = OptimalTransportLoss(model, OTOptions(map_tokens=False))(batch)
    same = OptimalTransportLoss(model, OTOptions(map_tokens=True))(batch)
    torch.testing.assert_close(plain, same)  # Normalize only: the cosine cost is unchanged
    rng = np.random.default_rng(2)
    add_linear_map(model, rng.normal(size=(32, 32)).astype(np.float32), rng.normal(size=32).astype(np.float32))
    assert not torch.isclose(OptimalTransportLoss(model, OTOptions(map_tokens=True))(batch), plain)


def test_make_multilingual_mse_trains_on_both_sides_at_the_same_row_budget(tiny_model, tiny_bitext, tmp_path):
    config = TrainConfig.from_dict(dict(method="mse", teacher=str(tiny_model), bitext=str(tiny_bitext), mse_english=True))
    model = build_distillation_model(str(tiny_model))
    pairs = read_bitext(tiny_bitext)[:6]
    objective = build_objective(config, model, pairs, pairs, progress=False)
    texts = objective.dataset["lr"]
    assert sorted(texts) == sorted([p.lr for p in pairs] + [p.en for p in pairs])
    labels = {text: label for text, label in zip(texts, objective.dataset["label"])}
    for pair in pairs:
        np.testing.assert_allclose(labels[pair.lr], labels[pair.en])


def test_a_paper_pairing_student_trains_from_the_warm_start(tiny_model, tiny_model_other, tiny_bitext, tmp_path):
    config = TrainConfig.from_dict(
        dict(
            method="optical+contrastive",
            teacher=str(tiny_model),
            student_init=str(tiny_model_other),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "run"),
            max_steps=2,
            batch_size=4,
            learning_rate=1e-3,
            dev=False,
            save_checkpoints=False,
            linear_map="bitext",
            ot_map_tokens=True,
        )
    )
    folder = train(config, progress=False)
    provenance = json.loads((folder / "optical_bench_provenance.json").read_text())
    assert provenance["linear_map"]["source"] == "bitext" and provenance["linear_map"]["rows"] == len(read_bitext(tiny_bitext))
    reloaded = SentenceTransformer(str(folder), device="cpu")
    assert [type(module).__name__ for module in reloaded[0].sub_modules["query"]][-2:] == ["Dense", "Normalize"]


def test_naming_the_papers_teacher_and_student_is_enough_to_get_its_recipe():
    pairing = {"teacher": "all-minilm-l6-v2", "student_init": "multilingual-e5-small-q4"}
    assert resolve_layers([(None, pairing)]) == {**PAPER_PAIRING_OPTIONS, **pairing}
    assert resolve_layers([(None, {**pairing, "learning_rate": 1e-6})])["learning_rate"] == 1e-6
    assert resolve_layers([(None, {**pairing, "recipe": "e5-default"})]) == pairing
    assert resolve_layers([(None, {"teacher": "all-minilm-l6-v2"})]) == {"teacher": "all-minilm-l6-v2"}
    args = build_parser().parse_args(["train", "--teacher", "all-minilm-l6-v2", "--student-init", "multilingual-e5-small-q4"])
    config = train_config_from_args(args)
    assert config.linear_map == PAPER_PAIRING_OPTIONS["linear_map"] and config.ot.map_tokens
    assert config.method == "contrastive"  # chosen on dev: OT cost in this pairing
    optical = build_parser().parse_args(
        ["train", "--teacher", "all-minilm-l6-v2", "--student-init", "multilingual-e5-small-q4", "--method", "optical+contrastive"]
    )
    assert train_config_from_args(optical).method == "optical+contrastive"
    named = build_parser().parse_args(["train", "--recipe", "e5-default", "--teacher", "all-minilm-l6-v2", "--student-init", "x"])
    assert train_config_from_args(named).linear_map == "none"
    assert RECIPES["paper-pairing"].options is PAPER_PAIRING_OPTIONS


def test_a_run_that_turns_the_map_off_drops_the_recipes_english_texts_for_it(tmp_path):
    from optical_bench.experiment import _run_config, load_experiment

    pairing = ["train", "--teacher", "all-minilm-l6-v2", "--student-init", "multilingual-e5-small-q4"]
    assert PAPER_PAIRING_OPTIONS["linear_map_english_texts"] > 0
    off = train_config_from_args(build_parser().parse_args([*pairing, "--linear-map", "none"]))
    off.validate()
    assert (off.linear_map, off.linear_map_english_texts, off.learning_rate) == ("none", 0, PAPER_PAIRING_OPTIONS["learning_rate"])
    # given explicitly, the mistake is still refused
    explicit = train_config_from_args(build_parser().parse_args([*pairing, "--linear-map", "none", "--linear-map-english-texts", "8"]))
    with pytest.raises(ValueError, match="english or both"):
        explicit.validate()
    # a recipe named in an experiment's [defaults], a run that turns the map off
    config = tmp_path / "study.toml"
    config.write_text(
        '[experiment]\nname = "s"\ntasks = ["OpticalBibleRetrieval"]\n[defaults]\nrecipe = "paper-pairing"\n'
        '[[runs]]\nname = "mapped"\n[[runs]]\nname = "translate-test"\nmethod = "translate-test"\nlinear_map = "none"\n'
    )
    experiment = load_experiment(str(config))
    mapped, unmapped = (_run_config(experiment, run, tmp_path) for run in experiment["runs"])
    assert mapped.linear_map_english_texts == PAPER_PAIRING_OPTIONS["linear_map_english_texts"]
    unmapped.validate()
    assert (unmapped.linear_map, unmapped.linear_map_english_texts) == ("none", 0)


def test_a_zero_shot_run_with_a_map_is_built_not_taken_for_the_teacher():
    assert is_the_teacher_itself(TrainConfig(method="zero-shot"))
    assert not is_the_teacher_itself(TrainConfig(method="zero-shot", linear_map="both"))


def test_english_sentences_beyond_the_bitext_feed_the_maps_english_rows(tiny_model, tiny_model_other, tiny_bitext, tmp_path):
    from optical_bench.training.pairs import english_for_linear_map

    pairs = read_bitext(tiny_bitext)
    english_file = tmp_path / "english.txt"
    extra = [f"Extra English sentence number {i}." for i in range(12)]
    english_file.write_text("\n".join(extra + [pairs[0].en, ""]) + "\n", encoding="utf-8")
    config = TrainConfig(linear_map="english", linear_map_english_texts=5, linear_map_english_file=str(english_file), seed=3)
    chosen = english_for_linear_map(config, pairs)
    assert len(chosen) == 5 and set(chosen) <= set(extra), "the bitext's own English is not drawn again"
    assert chosen == english_for_linear_map(config, pairs), "a seeded sample"
    with pytest.raises(ValueError, match="holds only 12 English sentences outside the bitext"):
        english_for_linear_map(
            TrainConfig(linear_map="english", linear_map_english_texts=13, linear_map_english_file=str(english_file)), pairs
        )
    with pytest.raises(ValueError, match="--linear-map english or both"):
        TrainConfig(linear_map="bitext", linear_map_english_texts=5).validate()

    model = build_distillation_model(str(tiny_model), str(tiny_model_other))
    record = warm_start_linear_map(model, [(p.lr, p.en) for p in pairs], source="both", english=chosen, ridge=1e-3)
    assert record["rows"] == 2 * len(pairs) + 5 and record["english_texts"] == 5
    with pytest.raises(ValueError, match="use source english or both"):
        warm_start_linear_map(model, [(p.lr, p.en) for p in pairs], source="bitext", english=chosen)
