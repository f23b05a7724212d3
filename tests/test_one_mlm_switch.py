"""Whether a run pre-trains with MLM is MLMOptions.enabled, read by every step; MLMSettings are the
MLM options (declared once) with the token limit and the seed resolved."""

from __future__ import annotations

from dataclasses import fields

import pytest

from optical_bench.augment import MLMSettings, mlm_student_init
from optical_bench.config import MLMOptions, TrainConfig
from optical_bench.data.sources import DataOptions
from optical_bench.experiment import is_the_teacher_itself, study_options
from optical_bench.io import sha256_json

OFF = [0, "0", "none", "None", "no", "off", ""]


@pytest.mark.parametrize("texts", OFF)
def test_mlm_off_is_off_in_every_step(texts):
    config = TrainConfig.from_dict({"method": "zero-shot", "mlm_texts": texts, "mlm_corpus": "texts.txt"})
    assert not config.mlm.enabled
    assert not DataOptions.of_run(config).mlm
    assert study_options(config)["mlm_texts"] == 0 and "mlm_corpus" not in study_options(config)
    assert is_the_teacher_itself(config)
    assert mlm_student_init(config.mlm, "student", "teacher") == ("student", None)


@pytest.mark.parametrize("texts", [5, "all"])
def test_mlm_on_is_on_in_every_step(texts):
    config = TrainConfig.from_dict({"method": "zero-shot", "mlm_texts": texts})
    assert config.mlm.enabled and DataOptions.of_run(config).mlm
    assert study_options(config)["mlm_texts"] == texts and not is_the_teacher_itself(config)
    with pytest.raises(ValueError, match="MLM pre-training needs monolingual texts.*--mlm-corpus"):
        mlm_student_init(config.mlm, "student", "teacher")


def test_mlm_settings_are_the_mlm_options_with_the_length_and_seed_resolved():
    assert {item.name for item in fields(MLMOptions)} <= {item.name for item in fields(MLMSettings)}
    options = MLMOptions(texts=40, steps=2, batch_size=4, head="tied")
    settings = MLMSettings.from_options(options, seed=7, max_seq_length=32)
    assert (settings.steps, settings.batch_size, settings.head, settings.max_seq_length, settings.seed) == (2, 4, "tied", 32, 7)
    assert MLMSettings.from_options(MLMOptions(max_seq_length=48)).max_seq_length == 48
    # the cache key of the defaults is the one that pre-trained encoders were cached under
    defaults = MLMSettings.from_options().cache_options()
    assert "texts" not in defaults and "corpus" not in defaults
    assert sha256_json(defaults) == "3fa8160595e13b27a6b6ad05daffae73743d33a663b2bf539efcbf2d3dd6530b"
