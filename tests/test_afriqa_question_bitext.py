"""AfriQA's train questions and their English translations as a named bitext: nothing of dev is
trained on, a fixed tenth is held out for checkpoint choice, sizes are nested prefixes."""

from __future__ import annotations

import pytest
from conftest import mirror_root

from optical_bench.config import TrainConfig
from optical_bench.data.bitext import read_bitext
from optical_bench.data.sources import DataOptions, resolve_training_data


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

    pooled = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-bitext", "bitext_size": 1000})))
    small = read_bitext(pooled.bitext.path)
    everything = read_bitext(
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-bitext", "bitext_size": 10**9}))).bitext.path
    )
    assert len(small) == 1000 and small == everything[:1000]
    assert {pair.id.split("-")[0] for pair in small[:8]} == {"bem", "hau", "ibo", "kin", "swa", "twi", "yor", "zul"}
    dev = {pair.lr for code in ("hau", "zul") for pair in question_pairs(code, "dev", mirror)}
    assert not dev & {pair.lr for pair in everything}
    held = read_beir_folder(pooled.dev_collection, splits=("dev",))
    assert len(held.queries) >= 8 * 20 and not set(held.queries.values()) & {pair.lr for pair in everything}
    hausa = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-hau-bitext"})))
    assert hausa.languages == ("hau", "eng") and "held out for dev" in hausa.bitext.description


def test_an_unknown_question_language_names_the_known_ones():
    with pytest.raises(ValueError, match="no English-pivot question/translation pairs in 'fon'. Fix: use afriqa-bitext"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-fon-bitext"})))
    with pytest.raises(ValueError, match="no English-pivot question/gold-passage pairs in 'swa'. Fix: use afriqa-gold-passages"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-swa-gold-passages"})))


def test_gold_passages_pair_train_questions_with_their_passages_read_as_documents(mirror, tiny_model):
    from optical_bench.data.afriqa_bitext import question_pairs
    from optical_bench.data.beir import read_beir_folder
    from optical_bench.tasks import get_tasks
    from optical_bench.training.objective import build_objective

    data = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-hau-gold-passages", "bitext_size": 10**9})))
    assert data.english_side == "document" and "gold English passages" in data.bitext.description
    pairs = read_bitext(data.bitext.path)
    (task,) = get_tasks(["AfriQARetrieval"], languages=["hau"], eval_splits=["train"], hub_dir=mirror)
    task.load_data()
    train = task.dataset["hau-eng"]["train"]
    passages = {(doc["title"] + " " + doc["text"]).strip() for doc in train["corpus"]}
    questions = set(train["queries"]["text"])
    assert pairs and all(pair.en in passages and pair.lr in questions for pair in pairs)
    held = read_beir_folder(data.dev_collection, splits=("dev",))
    assert len(pairs) + len(held.queries) <= len(questions)  # a question without a gold passage is left out
    dev = {pair.lr for pair in question_pairs("hau", "dev", mirror)}
    assert not dev & ({pair.lr for pair in pairs} | set(held.queries.values()))
    from optical_bench.models.building import build_distillation_model

    model = build_distillation_model(str(tiny_model))
    model.prompts = {"query": "query: ", "document": "passage: "}
    config = TrainConfig.from_dict({"method": "contrastive"})
    assert build_objective(config, model, pairs[:4], pairs, progress=False, english_side="document").prompts == {
        "lr": "query: ",
        "en": "passage: ",
    }
    assert build_objective(config, model, pairs[:4], pairs, progress=False).prompts == {"lr": "query: ", "en": "query: "}


def test_named_sources_joined_with_plus_take_one_pair_of_each_in_turn(mirror):
    if mirror_root("masakhane-io/lafand-mt") is None:
        pytest.skip("no mirror of masakhane-io/lafand-mt")
    news = read_bitext(
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau", "bitext_size": 10**9}))).bitext.path
    )
    questions = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-hau-bitext", "bitext_size": 10**9})))
    both = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau+afriqa-hau-bitext", "bitext_size": 100})))
    pairs = read_bitext(both.bitext.path)
    question_pairs = read_bitext(questions.bitext.path)
    assert [(p.lr, p.en) for p in pairs[:4]] == [(p.lr, p.en) for p in (news[0], question_pairs[0], news[1], question_pairs[1])]
    assert len(pairs) == 100 and both.dev_collection == questions.dev_collection and both.languages == ("hau", "eng")
    assert "MAFAND-MT en-hau" in both.bitext.description and "AfriQA" in both.bitext.description
    with pytest.raises(ValueError, match="translations and passages cannot be pooled"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "afriqa-hau-bitext+afriqa-hau-gold-passages"})))
    with pytest.raises(ValueError, match="mafand-xyz is not a named source|MAFAND-MT has no English-xyz"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-xyz+afriqa-hau-bitext"})))


def test_a_joined_source_s_model_meta_names_every_language():
    from optical_bench.model_specs import bitext_languages

    assert bitext_languages("mafand-hau+afriqa-hau-bitext") == ["hau-Latn", "eng-Latn"]
    assert bitext_languages("mafand-zul+afriqa-hau-gold-passages") == ["zul-Latn", "hau-Latn", "eng-Latn"]
    assert bitext_languages("my+file.jsonl") == []
