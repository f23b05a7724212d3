"""Model cards: the hub's YAML header, hub-valid names, relative paths, no training text."""

from __future__ import annotations

import pytest
from huggingface_hub.utils import validate_repo_id

from optical_bench.data.bitext import read_bitext
from optical_bench.models.card import hub_model_name, model_card
from optical_bench.training import TrainConfig, train


@pytest.mark.parametrize("name", ["optical+contrastive-multilingual-e5-small-q4", "a b/c", "x..y--z", "+" * 120])
def test_default_names_are_valid_hub_ids(name):
    validate_repo_id(f"optical-bench/{hub_model_name(name)}")
    assert hub_model_name("optical+contrastive-all-minilm-l6-v2") == "optical-contrastive-all-minilm-l6-v2"


def test_a_packaged_teacher_gives_base_model_and_license():
    card = model_card({"name": "s", "method": "mse", "teacher": "all-minilm-l6-v2", "config": {"bitext": None, "out": "/home/u/run"}})
    header = card.split("---")[1]
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in header and "license: apache-2.0" in header
    assert '- "ny"' in header and '- "en"' in header and "widget:" in header
    assert "/home/u/run" not in card and ".../u/run" in card


def test_a_trained_students_card_quotes_no_training_text(tiny_model, tiny_bitext, tmp_path):
    config = TrainConfig.from_dict(
        dict(
            method="mse",
            teacher=str(tiny_model),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "run"),
            max_steps=2,
            batch_size=4,
            dev=False,
            save_checkpoints=False,
        )
    )
    folder = train(config, progress=False)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlanguage:\n") and "license: other" in card  # a local folder: no hub licence to name
    assert "# mse-" in card and "library_name: sentence-transformers" in card
    assert not [text for pair in read_bitext(tiny_bitext) for text in (pair.lr, pair.en) if text in card]
    assert str(tmp_path) not in card
