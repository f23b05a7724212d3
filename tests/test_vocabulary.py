"""Vocabulary transfer: whole low-resource words initialised from their English translations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ENGLISH, LOW_RESOURCE, save_tiny_sentence_transformer, train_unigram, train_wordpiece
from sentence_transformers import SentenceTransformer

from optical_bench.models.vocabulary import transfer_vocabulary, whole_word_piece
from optical_bench.training import TrainConfig, train
from optical_bench.translate import IBMModel1

PAIRS = list(zip(LOW_RESOURCE * 3, ENGLISH * 3))


@pytest.fixture(scope="module", params=["wordpiece", "unigram"])
def english_only_model(request, tmp_path_factory):
    """A tiny student whose tokenizer was trained on English alone (like all-MiniLM-L6-v2)."""
    tokenizer = train_wordpiece(ENGLISH, vocab_size=200) if request.param == "wordpiece" else train_unigram(ENGLISH, vocab_size=120)
    return save_tiny_sentence_transformer(tmp_path_factory.mktemp(f"english-{request.param}") / "model", seed=4, tokenizer=tokenizer)


def test_transferred_words_become_one_piece_initialised_from_their_lexicon_translations(english_only_model, tmp_path):
    model = SentenceTransformer(str(english_only_model), device="cpu")
    module = model[0]
    old_tokenizer = module.tokenizer
    old_matrix = module.auto_model.get_input_embeddings().weight.detach().clone()
    english_before = model.encode(ENGLISH)
    pieces_before = [len(old_tokenizer(text, add_special_tokens=False)["input_ids"]) for text in LOW_RESOURCE]

    record = transfer_vocabulary(module, PAIRS, min_count=2, top_k=3, min_prob=0.05)

    assert record["words_added"] > 5
    assert record["vocabulary_after"] == record["vocabulary_before"] + record["words_added"]
    new_tokenizer = module.tokenizer
    matrix = module.auto_model.get_input_embeddings().weight.detach()
    assert matrix.shape[0] == record["vocabulary_after"] == module.auto_model.config.vocab_size
    torch.testing.assert_close(matrix[: old_matrix.shape[0]], old_matrix)  # old pieces keep their ids and rows
    if type(new_tokenizer.backend_tokenizer.model).__name__ == "WordPiece":
        # a word that is one piece stays that piece (longest match first), so English is read as before
        np.testing.assert_allclose(model.encode(ENGLISH), english_before, atol=1e-6)
    pieces_after = [len(new_tokenizer(text, add_special_tokens=False)["input_ids"]) for text in LOW_RESOURCE]
    assert sum(pieces_after) < sum(pieces_before)
    assert record["pieces_per_text_after"] < record["pieces_per_text_before"]

    # every added word is one new piece whose row is the t(e|f)-weighted mean of its translations' rows
    lexicon = IBMModel1(direction="forward").fit(PAIRS, progress=False).lexicon(top_k=3, min_prob=0.05)
    checked = 0
    for word, glosses in record["examples"].items():
        (piece_id,) = new_tokenizer(word, add_special_tokens=False)["input_ids"]
        assert piece_id >= old_matrix.shape[0]
        assert glosses == [english for english, _ in lexicon[word]]
        vectors, weights = [], []
        for english, prob in lexicon[word]:
            ids = old_tokenizer(english, add_special_tokens=False)["input_ids"]
            if ids and old_tokenizer.unk_token_id not in ids:
                vectors.append(old_matrix[ids].mean(dim=0))
                weights.append(prob)
        expected = sum(w * v for w, v in zip(weights, vectors)) / sum(weights)
        torch.testing.assert_close(matrix[piece_id], expected)
        checked += 1
    assert checked >= 5

    # the result is a plain sentence-transformers folder
    model.save(str(tmp_path / "saved"))
    reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    np.testing.assert_allclose(reloaded.encode(LOW_RESOURCE), model.encode(LOW_RESOURCE), atol=1e-6)


def test_words_the_pre_tokenizer_splits_are_not_added(english_only_model):
    model = SentenceTransformer(str(english_only_model), device="cpu")
    backend = model[0].tokenizer.backend_tokenizer
    assert whole_word_piece(backend, "mkazi") in ("mkazi", "\u2581mkazi")
    if model[0].tokenizer.backend_tokenizer.model.__class__.__name__ == "WordPiece":
        assert whole_word_piece(backend, "n'gona") is None  # BERT splits at the apostrophe


def test_max_words_and_min_count_limit_the_transfer(english_only_model):
    model = SentenceTransformer(str(english_only_model), device="cpu")
    assert transfer_vocabulary(model[0], PAIRS, max_words=3)["words_added"] <= 3
    model = SentenceTransformer(str(english_only_model), device="cpu")
    assert transfer_vocabulary(model[0], PAIRS[:12], min_count=4)["words_added"] == 0  # no word occurs 4 times
    with pytest.raises(ValueError, match="needs a bitext"):
        transfer_vocabulary(model[0], [])


@pytest.mark.parametrize("method", ["zero-shot", "optical+contrastive"])
def test_train_applies_the_transfer_to_the_student_only_and_records_it(method, english_only_model, tiny_bitext, tmp_path):
    config = TrainConfig.from_dict(
        dict(
            method=method,
            teacher=str(english_only_model),
            bitext=str(tiny_bitext),
            out=str(tmp_path / "run"),
            vocabulary_transfer=True,
            freeze_embeddings=False,
            max_steps=2,
            batch_size=4,
            learning_rate=1e-3,
            dev=False,
            save_checkpoints=False,
        )
    )
    folder = train(config, progress=False)
    provenance = json.loads((folder / "optical_bench_provenance.json").read_text(encoding="utf-8"))
    assert provenance["vocabulary_transfer"]["words_added"] > 0
    model = SentenceTransformer(str(folder), device="cpu")
    router = model[0]
    student, teacher = router.sub_modules["query"][0], router.sub_modules["document"][0]
    assert len(student.tokenizer) == len(teacher.tokenizer) + provenance["vocabulary_transfer"]["words_added"]
    original = SentenceTransformer(str(english_only_model), device="cpu")
    np.testing.assert_allclose(model.encode_document(ENGLISH[:3]), original.encode(ENGLISH[:3]), atol=1e-5)
    assert "vocabulary_transfer" in (folder / "README.md").read_text(encoding="utf-8")


def test_vocabulary_transfer_is_refused_for_translate_test():
    with pytest.raises(ValueError, match="translate-test"):
        TrainConfig.from_dict({"method": "translate-test", "vocabulary_transfer": True}).validate()


def test_english_only_packaged_student_gets_a_warning_naming_the_recipe(caplog):
    from optical_bench.recipes import RECIPES
    from optical_bench.training import TrainConfig, warn_if_english_only_student

    with caplog.at_level("WARNING", logger="optical_bench.training"):
        warn_if_english_only_student(TrainConfig(teacher="all-minilm-l6-v2", method="optical"))
    assert RECIPES["english-teacher"].as_flags() in caplog.text and "all-minilm-l6-v2" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="optical_bench.training"):
        warn_if_english_only_student(
            TrainConfig.from_dict({"teacher": "all-minilm-l6-v2", "method": "optical", "vocabulary_transfer": True})
        )
        warn_if_english_only_student(TrainConfig(teacher="multilingual-e5-small-q4", method="optical"))
    assert caplog.text == ""


def test_the_runner_builds_a_zero_shot_model_when_its_vocabulary_is_transferred():
    from optical_bench.experiment import is_the_teacher_itself
    from optical_bench.training import TrainConfig

    assert is_the_teacher_itself(TrainConfig(method="zero-shot"))
    assert not is_the_teacher_itself(TrainConfig.from_dict({"method": "zero-shot", "vocabulary_transfer": True}))
    assert not is_the_teacher_itself(TrainConfig.from_dict({"method": "zero-shot", "mlm_texts": "all"}))
    assert not is_the_teacher_itself(TrainConfig(method="optical"))
