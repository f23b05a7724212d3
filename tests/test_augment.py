"""Tests for optical_bench.augment: MLM pre-training and synthetic / back-translated pairs."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from conftest import ENGLISH, HIDDEN, LOW_RESOURCE, save_tiny_sentence_transformer, train_unigram, train_wordpiece
from hypothesis import given, settings
from hypothesis import strategies as st

from optical_bench.augment import (
    KINDS,
    MLM_PROVENANCE_FILE,
    MLMSettings,
    augmentation_provenance,
    back_translate,
    build_augmented_bitext,
    code_switch,
    forward_translate,
    mix,
    mlm_pretrain,
    mlm_pretrain_cached,
    normalize_kind,
    select_texts,
)
from optical_bench.config import AugmentationOptions
from optical_bench.data.bitext import SentencePair, read_bitext
from optical_bench.translate import IBMModel1, tokenize

MLM_TEXTS = LOW_RESOURCE * 3
FAST = dict(steps=25, batch_size=8, learning_rate=2e-3, mask_probability=0.3, progress=False)


def _augment(kind, real, monolingual_lr=None, english_texts=None, *, seed=0, translator=None, lexicon=None, **options):
    """:func:`build_augmented_bitext` for ``kind`` with these augmentation options (AugmentationOptions fields)."""
    texts = monolingual_lr if normalize_kind(kind) == "back-translation" else english_texts
    return build_augmented_bitext(real, AugmentationOptions(kind=kind, **options), texts, seed=seed, translator=translator, lexicon=lexicon)


def _pretrain(encoder, texts, out, progress=False, **settings):
    """:func:`mlm_pretrain` with the MLM defaults changed by ``settings`` (MLMSettings fields)."""
    return mlm_pretrain(encoder, texts, out, MLMSettings.from_options(**settings), progress=progress)


# --------------------------------------------------------------------------- tiny models


def save_tiny_xlmr(path: Path, tokenizer, prompts: dict[str, str]) -> Path:
    """A tiny random XLM-R (Unigram tokenizer) sentence-transformers folder with e5-like prompts."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(3)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=80,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    hf = path.parent / f".{path.name}-hf"
    XLMRobertaModel(config).save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    transformer = Transformer(str(hf), max_seq_length=32)
    model = SentenceTransformer(modules=[transformer, Pooling(HIDDEN, pooling_mode="mean"), Normalize()], prompts=prompts, device="cpu")
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def unigram_tokenizer():
    return train_unigram(LOW_RESOURCE + ENGLISH)


@pytest.fixture(scope="module")
def e5_like_model(tmp_path_factory, unigram_tokenizer) -> Path:
    """Like multilingual-e5-small-q4: a BertModel with an XLM-R-style Unigram tokenizer."""
    return save_tiny_sentence_transformer(tmp_path_factory.mktemp("e5like") / "model", seed=2, tokenizer=unigram_tokenizer)


@pytest.fixture(scope="module")
def xlmr_model(tmp_path_factory, unigram_tokenizer) -> Path:
    return save_tiny_xlmr(tmp_path_factory.mktemp("xlmr") / "model", unigram_tokenizer, {"query": "query: ", "document": "passage: "})


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors")) or sorted((folder / "0_Transformer").glob("*.safetensors"))
    state = {}
    for file in files:
        state.update(load_file(str(file)))
    return state


def _mlm_json(folder: Path) -> dict:
    return json.loads((folder / MLM_PROVENANCE_FILE).read_text(encoding="utf-8"))


def _check_mlm_output(source: Path, out: Path) -> dict:
    """Common checks: loads, same modules and prompts, encoder changed, no head weights."""
    import torch
    from sentence_transformers import SentenceTransformer

    before, after = _weights(source), _weights(out)
    assert set(after) == set(before), "the output must hold exactly the encoder's tensors"
    assert not any(k.startswith(("cls.", "lm_head.")) or "predictions" in k for k in after)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("word_embeddings" in k for k in changed)
    assert any("encoder.layer" in k for k in changed)
    original, trained = SentenceTransformer(str(source), device="cpu"), SentenceTransformer(str(out), device="cpu")
    assert [type(m).__name__ for m in trained] == [type(m).__name__ for m in original]
    assert trained.prompts == original.prompts
    assert trained[0].max_seq_length == original[0].max_seq_length
    assert json.loads((out / "modules.json").read_text()) == json.loads((source / "modules.json").read_text())
    emb = trained.encode_query(["moni bwanji"], convert_to_tensor=True)
    assert emb.shape == (1, HIDDEN)
    assert not torch.allclose(emb, original.encode_query(["moni bwanji"], convert_to_tensor=True))
    provenance = _mlm_json(out)
    assert provenance["eval_loss_after"] < provenance["eval_loss_before"]
    return provenance


# --------------------------------------------------------------------------- MLM pre-training


def test_mlm_wordpiece_trains_encoder_and_drops_head(tiny_model, tmp_path):
    out = _pretrain(tiny_model, MLM_TEXTS, tmp_path / "mlm", seed=1, **FAST)
    provenance = _check_mlm_output(tiny_model, out)
    assert provenance["texts"] == len(MLM_TEXTS)
    assert provenance["steps"] == FAST["steps"] and len(provenance["loss_history"]) == FAST["steps"]
    assert provenance["head"] == "fresh" and provenance["head_init"] == "fresh" and provenance["decoder_tied"] is True
    assert provenance["mask_probability"] == FAST["mask_probability"]
    assert provenance["copied"] is False and provenance["masked_tokens_seen"] > 0
    # the training loss falls too (first vs last tenth of the steps)
    first, last = provenance["loss_mean_first_last_10pct"]
    assert last < first


@pytest.mark.parametrize("model_name", ["tiny_model", "xlmr_model"])
def test_mlm_corpus_vocabulary_leaves_unused_rows_alone(model_name, request, tmp_path):
    """vocabulary='corpus': embedding rows of pieces the texts never use are bit-identical;
    vocabulary='full': every row moves (softmax over the whole vocabulary)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = request.getfixturevalue(model_name)
    tokenizer = SentenceTransformer(str(model), device="cpu")[0].tokenizer
    used = {i for ids in tokenizer(MLM_TEXTS)["input_ids"] for i in ids} | set(tokenizer.all_special_ids)
    key = next(k for k in _weights(model) if k.endswith("word_embeddings.weight"))
    before = _weights(model)[key]
    unused = torch.tensor(sorted(set(range(before.shape[0])) - used))
    used_t = torch.tensor(sorted(used))
    assert len(unused) > 20
    corpus = _weights(_pretrain(model, MLM_TEXTS, tmp_path / "corpus", **FAST))[key]
    assert torch.equal(corpus[unused], before[unused])
    assert not torch.equal(corpus[used_t], before[used_t])
    full_out = _pretrain(model, MLM_TEXTS, tmp_path / "full", vocabulary="full", **FAST)
    full = _weights(full_out)[key]
    assert not torch.equal(full[unused], before[unused])
    assert _mlm_json(full_out)["vocabulary_size"] == before.shape[0]
    assert _mlm_json(tmp_path / "corpus")["vocabulary_size"] < before.shape[0]


@pytest.mark.parametrize("model_name", ["tiny_model", "xlmr_model"])
def test_compact_vocabulary_is_exact(model_name, request):
    """The compact (corpus) embedding gives the same hidden states as the full one."""
    import torch
    from sentence_transformers import SentenceTransformer

    from optical_bench.augment.mlm_loop import compact_embeddings

    transformer = SentenceTransformer(str(request.getfixturevalue(model_name)), device="cpu")[0]
    auto_model, tokenizer = transformer.auto_model.eval(), transformer.tokenizer
    batch = tokenizer(LOW_RESOURCE[:4], padding=True, return_tensors="pt")
    rows = [{"input_ids": ids} for ids in tokenizer(LOW_RESOURCE)["input_ids"]]
    full = auto_model.get_input_embeddings()
    keep, table, compact = compact_embeddings(full, tokenizer, rows, auto_model.config)
    assert torch.equal(table[keep], torch.arange(len(keep))) and len(keep) < full.weight.shape[0]
    assert int(table[tokenizer.pad_token_id]) == tokenizer.pad_token_id
    with torch.no_grad():
        expected = auto_model(**batch).last_hidden_state
        auto_model.set_input_embeddings(compact)
        got = auto_model(**{**batch, "input_ids": table[batch["input_ids"]]}).last_hidden_state
        auto_model.set_input_embeddings(full)
    assert torch.allclose(expected, got, atol=1e-6)


def test_mlm_is_deterministic_per_seed(tiny_model, tmp_path):
    import torch

    kw = dict(FAST, steps=6)
    a = _weights(_pretrain(tiny_model, MLM_TEXTS, tmp_path / "a", seed=7, **kw))
    b = _weights(_pretrain(tiny_model, MLM_TEXTS, tmp_path / "b", seed=7, **kw))
    c = _weights(_pretrain(tiny_model, MLM_TEXTS, tmp_path / "c", seed=8, **kw))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_mlm_unigram_bert_like_e5(e5_like_model, tmp_path, unigram_tokenizer):
    assert unigram_tokenizer.mask_token == "<mask>"
    out = _pretrain(e5_like_model, MLM_TEXTS, tmp_path / "mlm", **FAST)
    _check_mlm_output(e5_like_model, out)


def test_mlm_unigram_xlmr_keeps_prompts(xlmr_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = _pretrain(xlmr_model, MLM_TEXTS, tmp_path / "mlm", head="untied", **FAST)
    provenance = _check_mlm_output(xlmr_model, out)
    assert SentenceTransformer(str(out), device="cpu").prompts == {"query": "query: ", "document": "passage: "}
    assert provenance["head"] == "untied" and provenance["decoder_tied"] is False
    assert provenance["head_class"] == "XLMRobertaLMHead"


@pytest.mark.parametrize("head", ["fresh", "untied"])
def test_mlm_head_warmup_trains_the_head_alone_first(tiny_model, tmp_path, head):
    # head warm-up only (0 encoder steps would be a copy, so 1 step at lr ~0): the encoder is
    # untouched by the warm-up, yet the MLM loss of the frozen features falls
    import torch

    out = _pretrain(
        tiny_model,
        MLM_TEXTS,
        tmp_path / "mlm",
        **dict(FAST, steps=1, learning_rate=1e-12),
        head=head,
        head_warmup_steps=12,
        head_learning_rate=1e-2,
    )
    provenance = _mlm_json(out)
    warmup = provenance["head_warmup"]
    assert warmup["steps"] == 12 and provenance["head_warmup_steps"] == 12
    assert 0 < warmup["trained_parameters"] < sum(v.numel() for v in _weights(tiny_model).values())
    assert provenance["eval_loss_after_head_warmup"] < provenance["eval_loss_before"]
    before, after = _weights(tiny_model), _weights(out)
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    # without warm-up the record says so
    plain = _mlm_json(_pretrain(tiny_model, MLM_TEXTS, tmp_path / "plain", head_warmup_steps=0, **dict(FAST, steps=1)))
    assert plain["head_warmup"] is None and plain["eval_loss_after_head_warmup"] is None
    with pytest.raises(ValueError, match="head_warmup_steps"):
        _pretrain(tiny_model, MLM_TEXTS, tmp_path / "x", head_warmup_steps=-1, progress=False)


def test_mlm_zero_texts_is_a_copy(tiny_model, tmp_path):
    out = _pretrain(tiny_model, [], tmp_path / "copy", progress=False)
    assert (out / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()
    provenance = _mlm_json(out)
    assert provenance["copied"] is True and provenance["steps"] == 0 and provenance["texts"] == 0
    again = _pretrain(tiny_model, ["  ", ""], tmp_path / "copy2", progress=False)  # blank texts are no texts
    assert _mlm_json(again)["copied"] is True
    steps0 = _pretrain(tiny_model, MLM_TEXTS, tmp_path / "copy3", steps=0, progress=False)
    assert _mlm_json(steps0)["copied"] is True and _mlm_json(steps0)["texts"] == len(MLM_TEXTS)


def test_mlm_tied_head_loads_checkpoint_head(tmp_path):
    """head='tied' reuses the MLM head a HF checkpoint ships; 'fresh' ignores it."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    tokenizer = train_wordpiece(LOW_RESOURCE + ENGLISH)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    folder = tmp_path / "hf-mlm"
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    tied = _pretrain(folder, MLM_TEXTS, tmp_path / "tied", head="tied", **dict(FAST, steps=3))
    fresh = _pretrain(folder, MLM_TEXTS, tmp_path / "fresh", head="fresh", **dict(FAST, steps=3))
    assert _mlm_json(tied)["head_init"] == "checkpoint" and _mlm_json(tied)["head_loaded_tensors"] >= 4
    assert _mlm_json(fresh)["head_init"] == "fresh"
    assert not any(k.startswith("cls.") for k in _weights(tied))


def test_mlm_rejects_bad_arguments(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="head"):
        _pretrain(tiny_model, MLM_TEXTS, tmp_path / "x", head="shared", progress=False)
    with pytest.raises(ValueError, match="mask_probability"):
        _pretrain(tiny_model, MLM_TEXTS, tmp_path / "x", mask_probability=0.0, progress=False)
    with pytest.raises(TypeError):
        _pretrain(tiny_model, "one string", tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_mlm_cached_reuses_folder(tiny_model, tmp_path):
    kw = dict(FAST, steps=2)
    settings = MLMSettings.from_options(**{k: v for k, v in kw.items() if k != "progress"})
    first = mlm_pretrain_cached(tiny_model, MLM_TEXTS, settings, cache_root=tmp_path, progress=False)
    stamp = (first / MLM_PROVENANCE_FILE).stat().st_mtime_ns
    assert mlm_pretrain_cached(tiny_model, MLM_TEXTS, settings, cache_root=tmp_path, progress=False) == first
    assert (first / MLM_PROVENANCE_FILE).stat().st_mtime_ns == stamp
    other = mlm_pretrain_cached(tiny_model, MLM_TEXTS[:5], settings, cache_root=tmp_path, progress=False)
    assert other != first


# --------------------------------------------------------------------------- pairs


class Upper:
    """A stand-in translator: upper-cases; counts its calls."""

    def __init__(self):
        self.calls = 0

    def translate_batch(self, texts):
        self.calls += 1
        return [t.upper() for t in texts]

    def describe(self):
        return {"kind": "upper"}


def test_back_translation_keeps_the_real_low_resource_side():
    translator = Upper()
    pairs = back_translate(LOW_RESOURCE + ["  "], translator, limit=None)
    assert [p.lr for p in pairs] == LOW_RESOURCE
    assert [p.en for p in pairs] == [t.upper() for t in LOW_RESOURCE]
    assert all(p.id == f"bt-{i}" for i, p in enumerate(pairs))
    assert len(back_translate(LOW_RESOURCE, translator, limit=5)) == 5
    # with IBM Model 1 (lr -> en) learnt from the bitext
    ibm = IBMModel1("forward").fit(list(zip(LOW_RESOURCE * 4, ENGLISH * 4)), progress=False)
    pairs = back_translate(LOW_RESOURCE, ibm)
    assert [p.lr for p in pairs] == LOW_RESOURCE
    assert all(set(tokenize(p.en)) <= set(ibm.tgt_vocab) for p in pairs)


def test_forward_translation_keeps_the_real_english_side():
    ibm = IBMModel1("reverse").fit(list(zip(LOW_RESOURCE * 4, ENGLISH * 4)), progress=False)
    pairs = forward_translate(ENGLISH, ibm)
    assert [p.en for p in pairs] == ENGLISH
    assert all(p.id.startswith("ft-") for p in pairs)
    lr_vocab = set(ibm.tgt_vocab)
    assert all(set(tokenize(p.lr)) <= lr_vocab for p in pairs)
    assert sum(p.lr != p.en for p in pairs) == len(pairs)


LEXICON = {f"w{i}": [(f"m{i}", 0.9), (f"n{i}", 0.1)] for i in range(20)}


def _cs_corpus(n=400, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice([f"w{rng.randrange(20)}", "the", "of"]) for _ in range(12)) + "." for _ in range(n)]


def test_code_switch_replaces_rate_of_dictionary_words():
    corpus = _cs_corpus()
    for rate in (0.0, 0.25, 0.5, 1.0):
        stats = {}
        pairs = code_switch(corpus, LEXICON, rate=rate, seed=3, drop_unchanged=False, stats=stats)
        assert len(pairs) == len(corpus)
        assert [p.en for p in pairs] == corpus
        replaced = sum(sum(tok.startswith("m") for tok in tokenize(p.lr)) for p in pairs)
        dictionary = sum(sum(tok.startswith("w") for tok in tokenize(p.en)) for p in pairs)
        assert replaced == stats["replaced"] and dictionary == stats["replaceable"]
        assert abs(replaced / dictionary - rate) < 0.03, (rate, replaced / dictionary)
        for p in pairs:  # non-dictionary words and punctuation untouched, word count the same
            assert [t for t in tokenize(p.lr) if t in ("the", "of")] == [t for t in tokenize(p.en) if t in ("the", "of")]
            assert p.lr.endswith(".") and len(tokenize(p.lr)) == len(tokenize(p.en))
    assert all(p.lr == p.en for p in code_switch(corpus, LEXICON, rate=0.0, drop_unchanged=False))
    assert code_switch(corpus, LEXICON, rate=0.0) == []  # unchanged sentences dropped by default


def test_code_switch_is_deterministic_per_seed_and_respects_min_prob():
    corpus = _cs_corpus(50)
    a = code_switch(corpus, LEXICON, rate=0.5, seed=11)
    assert a == code_switch(corpus, LEXICON, rate=0.5, seed=11)
    assert a != code_switch(corpus, LEXICON, rate=0.5, seed=12)
    assert all(p.id.startswith("cs-") for p in a)
    # min_prob above every entry: nothing is replaceable
    assert code_switch(corpus, LEXICON, rate=1.0, min_prob=0.95) == []
    # sampling draws the second entry sometimes
    sampled = code_switch(corpus * 4, LEXICON, rate=1.0, seed=0, sample=True)
    assert any(tok.startswith("n") for p in sampled for tok in tokenize(p.lr))


def test_code_switch_keeps_case_and_punctuation():
    lexicon = {"dog": [("galu", 0.8)], "water": [("madzi", 0.7)]}
    [pair] = code_switch(["The Dog drinks water, slowly!"], lexicon, rate=1.0)
    assert pair.lr == "The Galu drinks madzi, slowly!"
    assert pair.en == "The Dog drinks water, slowly!"


def _pairs(n, prefix):
    return [SentencePair(f"{prefix}lr{i}", f"{prefix}en{i}", f"{prefix}{i}") for i in range(n)]


def test_mix_ratios_and_counts():
    real, synthetic = _pairs(100, "r"), _pairs(300, "s")
    for ratio, expected in ((0, 0), (0.5, 50), (1, 100), (2, 200), (5, 300), (math.inf, 300)):
        pairs, counts = mix(real, synthetic, ratio, seed=0)
        assert counts["real"] == 100 and counts["synthetic"] == expected and counts["total"] == 100 + expected
        assert counts["synthetic_available"] == 300
        assert sum(p.id.startswith("r") for p in pairs) == 100
        assert sum(p.id.startswith("s") for p in pairs) == expected
        assert len({p.id for p in pairs}) == len(pairs)
    assert mix(real, synthetic, 1, seed=4) == mix(real, synthetic, 1, seed=4)
    assert mix(real, synthetic, 1, seed=4)[0] != mix(real, synthetic, 1, seed=5)[0]
    pairs, _ = mix(real, synthetic, 0, seed=0)
    assert sorted(p.id for p in pairs) == sorted(p.id for p in real)
    with pytest.raises(ValueError):
        mix(real, synthetic, -1)


@settings(max_examples=40, deadline=None)
@given(n_real=st.integers(0, 30), n_syn=st.integers(0, 30), ratio=st.floats(0, 3), seed=st.integers(0, 5))
def test_mix_properties(n_real, n_syn, ratio, seed):
    pairs, counts = mix(_pairs(n_real, "r"), _pairs(n_syn, "s"), ratio, seed)
    assert counts["synthetic"] == min(n_syn, round(ratio * n_real))
    assert counts["total"] == len(pairs) == n_real + counts["synthetic"]


def test_select_texts_is_nested_and_seeded():
    texts = [f"t{i}" for i in range(50)]
    assert select_texts(texts, 0) == []
    assert sorted(select_texts(texts, "all")) == sorted(texts) == sorted(select_texts(texts, None)) == sorted(select_texts(texts, -1))
    assert select_texts(texts, 20, seed=1)[:10] == select_texts(texts, 10, seed=1)
    assert select_texts(texts, 10, seed=1) != select_texts(texts, 10, seed=2)
    assert len(select_texts(texts, 500)) == 50


def test_normalize_kind():
    assert normalize_kind(None) == "none"
    assert normalize_kind("back_translation") == "back-translation"
    assert normalize_kind("BT") == "back-translation"
    assert normalize_kind("cs") == "code-switch"
    with pytest.raises(ValueError, match="did you mean 'code-switch'"):
        normalize_kind("code-swich")


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("kind", KINDS)
def test_build_augmented_bitext_with_ibm1(kind, tiny_bitext):
    real = read_bitext(tiny_bitext)
    monolingual = [f"{a} {b}" for a, b in zip(LOW_RESOURCE, LOW_RESOURCE[1:] + LOW_RESOURCE[:1])] * 3
    english = [f"{a} and {b}" for a, b in zip(ENGLISH, ENGLISH[3:] + ENGLISH[:3])] * 3
    pairs, provenance = _augment(
        kind, real, monolingual_lr=monolingual, english_texts=english, translator="ibm1", ratio=0.5, seed=1, rate=0.5, min_prob=0.0
    )
    assert provenance["kind"] == kind
    real_ids = {p.id for p in real}
    assert {p.id for p in pairs} >= real_ids  # every real pair is kept, unchanged
    assert set(real) <= set(pairs)
    synthetic = [p for p in pairs if p.id not in real_ids]
    assert provenance["size"] == len(synthetic) == provenance["synthetic"]
    assert provenance["total"] == len(pairs) == len(real) + len(synthetic)
    if kind == "none":
        assert synthetic == [] and provenance["translator"] is None
        return
    assert len(synthetic) == round(0.5 * len(real))  # enough source texts for the ratio
    prefix = {"back-translation": "bt-", "forward-translation": "ft-", "code-switch": "cs-"}[kind]
    assert all(p.id.startswith(prefix) for p in synthetic)
    assert provenance["translator"]["kind"] == "ibm1"
    assert provenance["translator"]["direction"] == ("forward" if kind == "back-translation" else "reverse")
    assert provenance["translator"]["training_pairs"] == len(real)
    for key in ("ratio", "source", "real", "synthetic_available", "source_texts", "seconds", "seed"):
        assert key in provenance
    json.dumps(provenance)  # JSON-serialisable for the model card
    if kind == "back-translation":
        assert all(p.lr in monolingual for p in synthetic)
    else:
        assert all(p.en in english for p in synthetic)
    if kind == "code-switch":
        assert provenance["words_replaced"] > 0 and provenance["lexicon_entries"] > 0
    # deterministic
    again, _ = _augment(kind, real, monolingual_lr=monolingual, english_texts=english, ratio=0.5, seed=1, min_prob=0.0)
    assert again == pairs


def test_build_augmented_bitext_size_and_errors(tiny_bitext):
    real = read_bitext(tiny_bitext)
    pairs, provenance = _augment("bt", real, monolingual_lr=LOW_RESOURCE, translator=Upper(), ratio=10, size=5)
    assert provenance["synthetic"] == 5 and provenance["source_texts"] == 5
    assert provenance["translator"] == {"kind": "upper"}
    with pytest.raises(ValueError, match="back-translation needs texts: low-resource sentences"):
        _augment("back-translation", real)
    with pytest.raises(ValueError, match="forward-translation needs texts: English sentences"):
        _augment("forward-translation", real)
    with pytest.raises(ValueError, match="lexicon"):
        _augment("code-switch", real, english_texts=ENGLISH, translator="some-org/some-mt-model")
    # a ready lexicon needs no translator
    pairs, provenance = _augment("cs", real, english_texts=["the dog runs"], lexicon={"dog": [("galu", 1.0)]}, ratio=1)
    assert provenance["synthetic"] == 1 and any(p.lr == "the galu runs" for p in pairs)


def test_augmentation_provenance_fields():
    record = augmentation_provenance("back-translation", 250, {"kind": "ibm1"}, 1.0, "Chichewa verses")
    assert record == {"kind": "back-translation", "size": 250, "ratio": 1.0, "translator": {"kind": "ibm1"}, "source": "Chichewa verses"}
    assert augmentation_provenance("none", 0, None, 0.0, None)["kind"] == "none"


def test_build_tops_up_when_texts_give_no_pair(tiny_bitext):
    """Texts that yield nothing (no dictionary word) are skipped; more of the pool is used."""
    real = read_bitext(tiny_bitext)[:20]
    english = ["nothing to see here"] * 30 + [f"the dog {i}" for i in range(30)]
    rng = random.Random(0)
    rng.shuffle(english)
    pairs, provenance = _augment("cs", real, english_texts=english, lexicon={"dog": [("galu", 1.0)]}, ratio=1, rate=1.0)
    synthetic = [p for p in pairs if p.id.startswith("cs-")]
    assert len(synthetic) == provenance["synthetic"] == 20
    assert len({p.id for p in synthetic}) == 20
    assert all("galu" in p.lr for p in synthetic)
    assert 20 < provenance["source_texts_translated"] <= 60


# --------------------------------------------------------------------------- config-driven entry points


def test_augment_training_pairs_from_the_run_options(tiny_bitext, tmp_path):
    from optical_bench.augment import augment_training_pairs
    from optical_bench.config import AugmentationOptions

    real = read_bitext(tiny_bitext)
    english = tmp_path / "eng.txt"
    english.write_text("\n".join(ENGLISH) + "\n", encoding="utf-8")
    options = AugmentationOptions(kind="forward_translation", ratio=0.25, english=str(english))
    pairs, provenance = augment_training_pairs(options, real, seed=3)
    assert provenance["kind"] == "forward-translation" and provenance["synthetic"] == 12 and provenance["source"] == str(english)
    assert len(pairs) == len(real) + 12
    unchanged, provenance = augment_training_pairs(AugmentationOptions(), real, seed=3)
    assert unchanged == real and provenance["kind"] == "none"


def test_mlm_student_init_from_the_run_options(tiny_model, tmp_path):
    from optical_bench.augment import mlm_student_init
    from optical_bench.config import MLMOptions

    corpus = tmp_path / "nya.txt"
    corpus.write_text("\n".join(LOW_RESOURCE) + "\n", encoding="utf-8")
    assert mlm_student_init(MLMOptions(texts=0), None, str(tiny_model)) == (None, None)
    options = MLMOptions(texts=8, corpus=str(corpus), steps=2, batch_size=4)
    folder, record = mlm_student_init(options, None, str(tiny_model), seed=1, max_seq_length=32, progress=False)
    assert Path(folder).is_dir() and record["texts"] == 8 and record["steps"] == 2 and record["source"] == str(corpus)
    assert record["max_seq_length"] == 32 and record["texts_available"] == len(LOW_RESOURCE)
    assert mlm_student_init(options, None, str(tiny_model), seed=1, max_seq_length=32, progress=False)[0] == folder  # cached


def test_mlm_reads_a_0_transformer_layout(tiny_model, tmp_path):
    """Older sentence-transformers folders keep the HF model in 0_Transformer/."""
    import shutil

    folder = tmp_path / "old-layout"
    shutil.copytree(tiny_model, folder)
    inner = folder / "0_Transformer"
    inner.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "sentence_bert_config.json"):
        if (folder / name).exists():
            shutil.move(str(folder / name), inner / name)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    out = _pretrain(folder, MLM_TEXTS, tmp_path / "mlm", **dict(FAST, steps=3))
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(out), device="cpu").encode(["moni"]).shape == (1, HIDDEN)
    assert _mlm_json(out)["steps"] == 3
