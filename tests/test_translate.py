"""Tests for optical_bench.translate: IBM Model 1, the Hugging Face wrapper, the factory."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optical_bench.translate import FORMAT_VERSION, NULL, HFSeq2SeqTranslator, IBMModel1, TranslatorFormatError, make_translator, tokenize

# A known word mapping (low-resource -> English), with non-ASCII source words.
SRC_WORDS = [f"mawu{i}" for i in range(20)] + ["ŋoma", "ɓala", "mwana", "nyumba", "chàkúdyá", "ẹ̀kọ́"]
TGT_WORDS = [f"word{i}" for i in range(20)] + ["drum", "hunt", "child", "house", "food", "lesson"]
MAPPING = dict(zip(SRC_WORDS, TGT_WORDS))
SRC_NOISE = ["na", "ku"]  # particles with no English counterpart
TGT_NOISE = ["the", "of", "a"]  # English words with no source counterpart


def synthetic_bitext(n_pairs: int = 200, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n_pairs):
        src = rng.sample(SRC_WORDS, rng.randint(3, 7))
        tgt = [MAPPING[w] for w in src]
        src += rng.sample(SRC_NOISE, rng.randint(0, 2))
        tgt += rng.sample(TGT_NOISE, rng.randint(0, 2))
        rng.shuffle(src)
        rng.shuffle(tgt)
        pairs.append((" ".join(src).capitalize() + ".", " ".join(tgt) + "!"))
    return pairs


@pytest.fixture(scope="module")
def bitext():
    return synthetic_bitext()


@pytest.fixture(scope="module")
def model(bitext):
    return IBMModel1().fit(bitext, n_iter=10, progress=False)


# --------------------------------------------------------------------------- tokenisation


def test_tokenize_unicode_and_apostrophes():
    assert tokenize("Don't STOP, Ŋoma-Ɓala!  (n'gona) l’eau") == ["don't", "stop", "ŋoma", "ɓala", "n'gona", "l’eau"]
    # Decomposed combining marks (Yoruba tone marks, Devanagari vowel signs) stay inside words.
    assert tokenize("e\u0323\u0301ko\u0323\u0301 dára") == ["ẹ́kọ́", "dára"]
    assert tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert tokenize("'quoted' ... 42") == ["quoted", "42"]
    assert tokenize("") == []


# --------------------------------------------------------------------------- IBM Model 1


def test_em_learns_the_lexicon(model):
    lex = model.lexicon(top_k=1)
    for f, e in MAPPING.items():
        f = tokenize(f)[0]
        assert lex[f][0][0] == e, (f, lex[f])
        assert lex[f][0][1] > 0.5
    assert model.translate("Mawu3 ŋoma, MWANA!") == "word3 drum child"
    assert model.candidates("mawu3", k=1) == [("word3", pytest.approx(model.prob("mawu3", "word3")))]


def test_probabilities_normalise_and_likelihood_increases(model):
    sums = model.row_sums()
    assert set(sums) == set(model.src_vocab)
    assert all(abs(s - 1.0) < 1e-9 for s in sums.values())
    assert np.all(model._t_prob >= 0) and np.all(model._t_prob <= 1)
    ll = model.log_likelihood
    assert len(ll) == 11 and model.n_iter == 10
    assert all(b >= a - 1e-6 * abs(a) for a, b in zip(ll, ll[1:]))
    assert ll[-1] > ll[0]


def test_null_handling(model):
    # Particles with no English counterpart are best explained by the target-side NULL.
    assert model.candidates("na", k=1)[0][0] == NULL
    assert model.translate("mawu1 na mawu2", drop_null=True) == "word1 word2"
    kept = model.translate("mawu1 na mawu2").split()
    assert kept[0] == "word1" and kept[2] == "word2" and len(kept) == 3 and NULL not in kept
    assert NULL not in model.lexicon(top_k=5)  # no NULL on either side
    assert all(e != NULL for items in model.lexicon(top_k=5).values() for e, _ in items)


def test_translate_unknown_topk_and_batch(model):
    assert model.translate("mawu5 Zanzibar 2024") == "word5 zanzibar 2024"
    assert model.translate("mawu5 Zanzibar", keep_unknown=False) == "word5"
    three = model.translate("mawu5", k=3).split()
    assert three[0] == "word5" and len(three) == 3 and len(set(three)) == 3
    assert model.translate("mawu5", k=3, min_prob=0.99) == "word5"  # the best one is always kept
    texts = ["mawu1 mawu2", "", "unknownword mawu1"]
    assert model.translate_batch(texts) == ["word1 word2", "", "unknownword word1"]
    assert model.translate_batch(texts, k=2)[0].split()[0] == "word1"
    with pytest.raises(TypeError):
        model.translate_batch("mawu1")
    with pytest.raises(TypeError):
        model.translate_batch(texts, beam=3)
    with pytest.raises(ValueError):
        model.translate("mawu1", k=0)


def test_lexicon_options(model):
    lex3 = model.lexicon(top_k=3, min_prob=0.0)
    assert all(1 <= len(v) <= 3 for v in lex3.values())
    for items in lex3.values():
        probs = [p for _, p in items]
        assert probs == sorted(probs, reverse=True)
    strict = model.lexicon(top_k=3, min_prob=0.5)
    assert all(p >= 0.5 for items in strict.values() for _, p in items)
    assert set(strict) >= {tokenize(f)[0] for f in MAPPING}
    with pytest.raises(ValueError):
        model.lexicon(top_k=0)


def test_textbook_model_without_target_null(bitext):
    m = IBMModel1(target_null=False).fit(bitext, n_iter=8, progress=False)
    assert NULL not in m.tgt_vocab
    assert all(abs(s - 1) < 1e-9 for s in m.row_sums().values())
    lex = m.lexicon()
    assert all(lex[tokenize(f)[0]][0][0] == e for f, e in MAPPING.items())
    with pytest.raises(ValueError):
        IBMModel1(direction="sideways")


def test_reverse_direction_and_inverse(bitext, model):
    rev = IBMModel1(direction="reverse").fit(bitext, n_iter=10, progress=False)
    assert rev.translate("word3 drum") == "mawu3 ŋoma"
    inv = model.inverse(bitext, n_iter=10, progress=False)
    assert inv.direction == "reverse"
    assert inv.translate("child house") == "mwana nyumba"
    assert model.inverse().is_fitted is False


def _naive_ibm1(pairs, n_iter, target_null):
    """Textbook position-by-position IBM Model 1, for reference."""
    data = []
    for src, tgt in pairs:
        f = [NULL] + tokenize(src)
        e = tokenize(tgt) + ([NULL] if target_null else [])
        if e:
            data.append((f, e))
    tgt_vocab = {w for _, e in data for w in e}
    t = defaultdict(lambda: 1.0 / len(tgt_vocab))
    for _ in range(n_iter):
        count = defaultdict(float)
        total = defaultdict(float)
        for f, e in data:
            for ej in e:
                z = sum(t[(ej, fi)] for fi in f)
                for fi in f:
                    c = t[(ej, fi)] / z
                    count[(ej, fi)] += c
                    total[fi] += c
        t = defaultdict(float, {(ej, fi): c / total[fi] for (ej, fi), c in count.items()})
    return t


@pytest.mark.parametrize("target_null", [True, False])
def test_vectorised_em_matches_the_textbook_loops(target_null):
    pairs = [
        ("a b a c", "x y y"),  # repeated words on both sides
        ("b c", "y z"),
        ("a", "x"),
        ("c c d", "z w"),
        ("", "w"),  # empty source: only NULL generates
        ("d", ""),  # empty target: no information (unless target NULL)
    ]
    ref = _naive_ibm1(pairs, 4, target_null)
    m = IBMModel1(target_null=target_null).fit(pairs, n_iter=4, progress=False)
    for (e, f), p in ref.items():
        assert m.prob(f, e) == pytest.approx(p, rel=1e-9, abs=1e-12), (f, e)
    table = {(m.tgt_vocab[e], m.src_vocab[f]) for f, e in zip(m._t_src, m._t_tgt)}
    assert table == set(ref)  # non-zero exactly on co-occurring pairs


def test_fit_rejects_bad_bitext():
    with pytest.raises(ValueError, match="empty"):
        IBMModel1().fit([], progress=False)
    with pytest.raises(ValueError, match="item 1"):
        IBMModel1().fit([("a", "b"), ("only one",)], progress=False)
    with pytest.raises(ValueError):
        IBMModel1().fit(["not a pair"], progress=False)
    with pytest.raises(ValueError, match="n_iter"):
        IBMModel1().fit([("a", "b")], n_iter=0, progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        IBMModel1().translate("a")


def test_tol_stops_early(bitext):
    m = IBMModel1().fit(bitext, n_iter=200, tol=1e-4, progress=False)
    assert 1 <= m.n_iter < 200


def test_save_load_round_trip(model, tmp_path):
    exact = tmp_path / "sub" / "ibm1.json"
    model.save(exact, min_prob=0.0)
    assert not [p for p in exact.parent.iterdir() if p.name != "ibm1.json"]  # no temp file left
    doc = json.loads(exact.read_text(encoding="utf-8"))
    assert doc["format_version"] == FORMAT_VERSION
    back = IBMModel1.load(exact)
    assert back.src_vocab == model.src_vocab and back.tgt_vocab == model.tgt_vocab
    np.testing.assert_array_equal(back._t_prob, model._t_prob)
    assert back.fingerprint() == model.fingerprint()
    assert back.log_likelihood == model.log_likelihood
    assert back.describe()["training_pairs"] == model.describe()["training_pairs"] == 200
    assert back.lexicon(top_k=2) == model.lexicon(top_k=2)

    pruned = tmp_path / "pruned.json"
    model.save(pruned)  # default: drop t < 1e-3
    small = IBMModel1.load(pruned)
    assert len(small._t_prob) < len(model._t_prob)
    assert all(s <= 1 + 1e-9 for s in small.row_sums().values())
    assert small.describe()["pruned_min_prob"] == pytest.approx(1e-3)
    texts = ["mawu1 ŋoma na mwana", "nyumba zinthu"]
    assert small.translate_batch(texts) == model.translate_batch(texts)
    assert small.lexicon() == model.lexicon()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: s[: len(s) // 2],  # truncated
        lambda s: "",
        lambda s: "[1, 2]",
        lambda s: s.replace('"format_version": 1', '"format_version": 99'),
        lambda s: s.replace('"format": "optical-bench/ibm-model-1"', '"format": "other"'),
        lambda s: s.replace('"src_vocab"', '"vocab_src"'),
        lambda s: json.dumps({**json.loads(s), "t": {**json.loads(s)["t"], "prob": json.loads(s)["t"]["prob"][:-1]}}),
        lambda s: json.dumps({**json.loads(s), "t": {**json.loads(s)["t"], "src": [10**6] * len(json.loads(s)["t"]["src"])}}),
        lambda s: json.dumps({**json.loads(s), "t": {**json.loads(s)["t"], "prob": [7.0] * len(json.loads(s)["t"]["prob"])}}),
    ],
)
def test_corrupted_file_error_names_the_file(model, tmp_path, corrupt):
    path = tmp_path / "broken-model.json"
    model.save(path)
    path.write_text(corrupt(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(TranslatorFormatError, match="broken-model.json"):
        IBMModel1.load(path)


def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(TranslatorFormatError, match="nowhere.json"):
        IBMModel1.load(tmp_path / "nowhere.json")


def test_describe(model):
    d = model.describe()
    assert d["kind"] == "ibm1" and d["training_pairs"] == 200 and d["iterations"] == 10
    assert d["src_vocab_size"] == len(SRC_WORDS) + len(SRC_NOISE)
    assert d["tgt_vocab_size"] == len(TGT_WORDS) + len(TGT_NOISE)
    assert len(d["fingerprint"]) == 64
    json.dumps(d)  # serialisable for the model card


_word = st.sampled_from(["a", "b", "c", "d", "e", "f"])
_sentence = st.lists(_word, min_size=0, max_size=5).map(" ".join)


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(_sentence, _sentence), min_size=1, max_size=8), n_iter=st.integers(1, 4), target_null=st.booleans())
def test_property_rows_are_distributions(pairs, n_iter, target_null):
    if not target_null and not any(tokenize(e) for _, e in pairs):
        with pytest.raises(ValueError):
            IBMModel1(target_null=False).fit(pairs, n_iter=n_iter, progress=False)
        return
    m = IBMModel1(target_null=target_null).fit(pairs, n_iter=n_iter, progress=False)
    for f, s in m.row_sums().items():
        assert math.isclose(s, 1.0, rel_tol=1e-9), (f, s)
    assert np.all((m._t_prob >= 0) & (m._t_prob <= 1 + 1e-12))
    ll = m.log_likelihood
    assert all(b >= a - 1e-9 * max(1.0, abs(a)) for a, b in zip(ll, ll[1:]))
    assert len(m.translate_batch([s for s, _ in pairs])) == len(pairs)


# --------------------------------------------------------------------------- Hugging Face wrapper


def _tiny_marian(folder, extra_tokens=()):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    sents = ["moni dziko lapansi", "hello world", "the cat sat", "mphaka wakhala pansi"]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(sents, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>", *extra_tokens]))
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A $B </s>", special_tokens=[("</s>", eos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    cfg = MarianConfig(
        vocab_size=tok.get_vocab_size(), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, pad_token_id=0, eos_token_id=eos, decoder_start_token_id=0,
        forced_eos_token_id=eos,
    )  # fmt: skip
    torch.manual_seed(0)
    MarianMTModel(cfg).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory):
    return _tiny_marian(tmp_path_factory.mktemp("tiny-marian"))


def test_hf_translator_runs_on_a_tiny_marian(marian_dir):
    tr = HFSeq2SeqTranslator(marian_dir, batch_size=2, max_length=8, device="cpu", progress=False)
    texts = ["moni dziko", "the cat sat on the mat and more words here", "", "hello", "world"]
    out = tr.translate_batch(texts)
    assert isinstance(out, list) and len(out) == len(texts) and all(isinstance(s, str) for s in out)
    # Length-sorted batching must not change the result or its order.
    assert [tr.translate(t) for t in texts] == out
    assert tr.translate_batch([]) == []
    with pytest.raises(TypeError):
        tr.translate_batch("moni")
    d = tr.describe()
    assert d["kind"] == "hf-seq2seq" and d["model_type"] == "marian" and d["n_parameters"] > 0
    assert tr.prefix == "" and tr.forced_bos_token_id is None  # single-pair opus-mt style
    json.dumps(d)


def test_hf_translator_multi_target_marian_prefix(tmp_path):
    folder = _tiny_marian(tmp_path / "multi", extra_tokens=(">>nya<<",))
    tr = HFSeq2SeqTranslator(folder, tgt_lang="nya", max_length=4, device="cpu", progress=False)
    assert tr.prefix == ">>nya<< "
    assert len(tr.translate_batch(["hello world"])) == 1


def test_hf_translator_nllb_style_languages(tmp_path):
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁moni": 4, "▁dziko": 5, "▁hello": 6}
    tok = NllbTokenizer(vocab=vocab, merges=[])
    tok.save_pretrained(tmp_path)
    cfg = M2M100Config(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    M2M100ForConditionalGeneration(cfg).save_pretrained(tmp_path)
    tr = HFSeq2SeqTranslator(tmp_path, src_lang="nya_Latn", tgt_lang="eng_Latn", max_length=4, device="cpu", progress=False)
    assert tr.tokenizer.src_lang == "nya_Latn"
    assert tr.forced_bos_token_id == tr.tokenizer.convert_tokens_to_ids("eng_Latn")
    assert tr.tokenizer("moni").input_ids[0] == tr.tokenizer.convert_tokens_to_ids("nya_Latn")
    assert len(tr.translate_batch(["moni dziko", "hello"])) == 2
    with pytest.raises(ValueError, match="xxx_Latn"):
        HFSeq2SeqTranslator(tmp_path, src_lang="nya_Latn", tgt_lang="xxx_Latn", device="cpu")
    with pytest.raises(ValueError, match="tgt_lang"):
        HFSeq2SeqTranslator(tmp_path, device="cpu")


# --------------------------------------------------------------------------- factory


def test_make_translator_ibm1(bitext, tmp_path):
    tr = make_translator("IBM1", bitext=bitext, n_iter=5, progress=False, src_lang="nya", tgt_lang="eng")
    assert isinstance(tr, IBMModel1)
    assert tr.translate_batch(["mawu1 mwana"]) == ["word1 child"]
    d = tr.describe()
    assert (d["kind"], d["iterations"], d["training_pairs"], d["src_lang"]) == ("ibm1", 5, 200, "nya")
    path = tmp_path / "m.json"
    tr.save(path)
    loaded = make_translator(f"ibm1:{path}")
    assert loaded.translate_batch(["mawu1 mwana"]) == ["word1 child"]


def test_make_translator_hf(marian_dir):
    tr = make_translator(marian_dir, bitext=[("ignored", "ignored")], max_length=4, device="cpu", progress=False)
    assert isinstance(tr, HFSeq2SeqTranslator)
    assert len(tr.translate_batch(["hello", "world"])) == 2


def test_make_translator_errors(bitext, tmp_path):
    with pytest.raises(ValueError, match="bitext"):
        make_translator("ibm1")
    with pytest.raises(ValueError, match="empty"):
        make_translator("ibm1", bitext=[])
    with pytest.raises(ValueError, match="empty translator spec"):
        make_translator("  ")
    with pytest.raises(TypeError):
        make_translator(None)
    with pytest.raises(TypeError, match="beam"):
        make_translator("ibm1", bitext=bitext, beam=4)
    with pytest.raises(TypeError):
        make_translator(f"ibm1:{tmp_path / 'x.json'}", n_iter=3)
    with pytest.raises(TranslatorFormatError, match="x.json"):
        make_translator(f"ibm1:{tmp_path / 'x.json'}")
