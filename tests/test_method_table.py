"""The method table (optical_bench/methods.py) decides each trained method's loss weights, and
validate(), the record and the model card read it."""

from __future__ import annotations

import pytest

from optical_bench.config import METHOD_WEIGHTS, TrainConfig
from optical_bench.methods import LABELLED_MSE, TERMS, TRAINED, TRAINED_METHODS, LossWeights
from optical_bench.models.card import citations


def _config(**options) -> TrainConfig:
    return TrainConfig.from_dict(options)


def test_each_trained_method_has_a_row_with_its_default_weights():
    assert TRAINED_METHODS == ("optical", "optical+mse", "optical+contrastive", "mse", "contrastive")
    assert {name: row.weights.as_dict() for name, row in TRAINED.items()} == {
        "optical": {"ot": 1.0, "mse": 0.0, "contrastive": 0.0, "anchor": 0.0},
        "optical+mse": {"ot": 1.0, "mse": 1.0, "contrastive": 0.0, "anchor": 0.0},
        "optical+contrastive": {"ot": 1.0, "mse": 0.0, "contrastive": 1.0, "anchor": 0.0},
        "mse": {"ot": 0.0, "mse": 1.0, "contrastive": 0.0, "anchor": 0.0},
        "contrastive": {"ot": 0.0, "mse": 0.0, "contrastive": 1.0, "anchor": 0.0},
    }
    assert tuple(LossWeights().as_dict()) == TERMS
    assert METHOD_WEIGHTS["optical+contrastive"] == (1.0, 0.0, 1.0)  # the older view of the same rows
    assert [name for name, row in TRAINED.items() if row.loss == LABELLED_MSE] == ["mse"]


def test_given_weights_override_the_row_and_keep_their_value():
    weights = _config(method="optical+contrastive", ot_weight=0.1, anchor_weight=2).loss_weights()
    assert weights.as_dict() == {"ot": 0.1, "mse": 0.0, "contrastive": 1.0, "anchor": 2}


@pytest.mark.parametrize(
    "options",
    [
        {"method": "contrastive", "batch_size": 1},
        {"method": "optical+contrastive", "batch_size": 1},
        {"method": "optical", "contrastive_weight": 1.0, "batch_size": 1},
    ],
)
def test_a_contrastive_weight_needs_two_pairs_per_batch(options):
    with pytest.raises(ValueError, match="needs --batch-size >= 2"):
        _config(**options).validate()


def test_a_batch_of_one_is_fine_where_the_contrastive_weight_is_zero():
    _config(method="optical", batch_size=1).validate()
    _config(method="optical+contrastive", contrastive_weight=0.0, batch_size=1).validate()
    _config(method="zero-shot", batch_size=1).validate()


@pytest.mark.parametrize("flag", ["ot_weight", "contrastive_weight", "anchor_weight"])
def test_mse_refuses_a_weight_of_a_term_its_loss_has_not(flag):
    with pytest.raises(ValueError, match=rf"--{flag.replace('_', '-')} needs a distillation method: .*--method optical\+mse"):
        _config(method="mse", **{flag: 1.0}).validate()


def test_mse_refuses_another_mse_weight_and_takes_its_own():
    with pytest.raises(ValueError, match="--mse-weight: --method mse trains sentence-transformers' MSELoss alone, at weight 1"):
        _config(method="mse", mse_weight=2.0).validate()
    config = _config(method="mse", mse_weight=1.0, ot_weight=0.0)
    config.validate()
    assert config.loss_weights() == LossWeights(mse=1.0)


def test_the_card_cites_make_multilingual_where_the_row_has_a_sentence_mse_term():
    for method, row in TRAINED.items():
        assert ("reimers-2020-multilingual-sentence-bert" in citations({"method": method})) == bool(row.weights.mse), method
    assert "reimers-2020-multilingual-sentence-bert" not in citations({"method": "zero-shot"})


@pytest.mark.parametrize(
    "method, options, cited",
    [
        ("optical+contrastive", {}, True),
        ("optical", {}, True),
        ("contrastive", {}, False),
        ("mse", {}, False),
        ("zero-shot", {}, False),
        ("centering", {"ot_weight": 1.0}, False),
        ("contrastive", {"ot_weight": 0.5}, True),
    ],
)
def test_the_record_cites_optical_only_for_a_loss_with_its_ot_term(method, options, cited):
    from optical_bench.citation import OPTICAL_REFERENCE
    from optical_bench.training.record import provenance

    record = provenance(_config(method=method, **options), "bitext", 10)
    assert record["loss_citation"] == (OPTICAL_REFERENCE if cited else None)
