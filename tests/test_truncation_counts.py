"""Truncation counts: tokenized in bounded chunks, and counted once per (tokenizer, limit, texts)."""

from __future__ import annotations

from sentence_transformers import SentenceTransformer

from optical_bench import evaluate


def test_counts_are_chunked_equal_to_a_direct_count_and_remembered(tiny_model, monkeypatch):
    tokenizer = SentenceTransformer(str(tiny_model), device="cpu")[0].tokenizer
    texts = [" ".join(["moni"] * n) for n in range(1, 30)]
    direct = sum(len(ids) > 8 for ids in tokenizer(texts, add_special_tokens=True)["input_ids"])
    assert evaluate.count_truncated(tokenizer, texts, 8) == direct > 0  # the real tokenizer's fingerprint
    monkeypatch.setattr(evaluate, "TRUNCATION_CHUNK", 4)
    monkeypatch.setattr(evaluate, "_truncation_memo", {})
    monkeypatch.setattr(evaluate, "tokenizer_fingerprint", lambda tok: "tiny")
    calls = []

    def counting(batch, **kwargs):
        calls.append(len(batch))
        return tokenizer(batch, **kwargs)

    assert evaluate.count_truncated(counting, texts, 8) == direct
    assert max(calls) == 4 and sum(calls) == len(texts)  # 29 texts in chunks of at most 4
    assert evaluate.count_truncated(counting, texts, 8) == direct and len(calls) == 8  # remembered
    evaluate.count_truncated(counting, texts, 12)  # another limit: counted afresh
    evaluate.count_truncated(counting, texts[:-1], 8)  # other texts: counted afresh
    assert len(calls) == 8 + 8 + 7
