"""AfriQA's train questions and their English translations as a named bitext: nothing of dev is
trained on, a fixed tenth is held out for checkpoint choice, sizes are nested prefixes."""

from __future__ import annotations

import pytest
from conftest import mirror_root

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import read_bitext
from optical_bench.data.sources import resolve_training_data


@pytest.fixture()
def mirror(monkeypatch):
    root = mirror_root("masakhane-io/afriqa")
    if root is None:
        pytest.skip("no mirror of masakhane-io/afriqa")
    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(root))
    return root


def test_question_bitext_never_holds_a_dev_question_and_sizes_are_nested(mirror):
    from optical_bench.data.afriqa_bitext import question_pairs
    from optical_bench.data.beir import read_beir_folder

    pooled = resolve_training_data(TrainConfig.from_dict({"bitext": "afriqa-bitext", "bitext_size": 1000}))
    small = read_bitext(pooled.bitext.path)
    everything = read_bitext(resolve_training_data(TrainConfig.from_dict({"bitext": "afriqa-bitext", "bitext_size": 10**9})).bitext.path)
    assert len(small) == 1000 and small == everything[:1000]
    assert {pair.id.split("-")[0] for pair in small[:8]} == {"bem", "hau", "ibo", "kin", "swa", "twi", "yor", "zul"}
    dev = {pair.lr for code in ("hau", "zul") for pair in question_pairs(code, "dev", mirror)}
    assert not dev & {pair.lr for pair in everything}
    held = read_beir_folder(pooled.dev_collection, splits=("dev",))
    assert len(held.queries) >= 8 * 20 and not set(held.queries.values()) & {pair.lr for pair in everything}
    hausa = resolve_training_data(TrainConfig.from_dict({"bitext": "afriqa-hau-bitext"}))
    assert hausa.languages == ("hau", "eng") and "held out for dev" in hausa.bitext.description


def test_an_unknown_question_language_names_the_known_ones():
    with pytest.raises(ValueError, match="no English-pivot questions in 'fon'. Fix: use afriqa-bitext"):
        resolve_training_data(TrainConfig.from_dict({"bitext": "afriqa-fon-bitext"}))
