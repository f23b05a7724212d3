"""BEIR folder and bitext readers: valid input round-trips, bad input names file, line and fix."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optical_bench.data.beir import BeirCollection, BeirFormatError, read_beir_folder, write_beir_folder
from optical_bench.data.bitext import BitextFormatError, SentencePair, read_bitext, read_monolingual, write_bitext


def test_beir_folder_round_trips(tmp_path):
    collection = BeirCollection(
        {"d1": {"title": "", "text": "one"}, "d2": {"title": "t", "text": "two"}}, {"q1": "uno"}, {"test": {"q1": {"d1": 1}}}
    )
    write_beir_folder(tmp_path / "c", collection)
    again = read_beir_folder(tmp_path / "c")
    assert again.corpus == collection.corpus and again.queries == collection.queries and again.qrels == collection.qrels


def test_beir_folder_is_read_by_beir_itself(tiny_beir):
    from beir.datasets.data_loader import GenericDataLoader

    corpus, queries, qrels = GenericDataLoader(str(tiny_beir)).load(split="test")
    ours = read_beir_folder(tiny_beir)
    assert set(corpus) == set(ours.corpus) and queries == ours.queries and qrels == ours.qrels["test"]


@pytest.mark.parametrize(
    "file, content, expected",
    [
        ("corpus.jsonl", '{"_id": "d0", "text": "ok"}\n{"_id": "d1", "text": "cut', "line 2: not valid JSON"),
        ("corpus.jsonl", '{"_id": "d0"}\n', "the field 'text' is missing"),
        ("corpus.jsonl", '{"_id": "d0", "text": "a"}\n{"_id": "d0", "text": "b"}\n', "appears twice"),
        ("corpus.jsonl", '{"_id": "d0", "text": "   "}\n', "empty or only whitespace"),
        ("corpus.jsonl", '["d0", "text"]\n', "not an object"),
        ("queries.jsonl", '{"_id": "", "text": "x"}\n', "empty or not a string"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq0\td99\t1\n", "document id 'd99' is not in corpus.jsonl"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq99\td0\t1\n", "query id 'q99' is not in queries.jsonl"),
        ("qrels/test.tsv", "q0 d0 1\n", "1 tab-separated fields instead of 3"),
        ("qrels/test.tsv", "q0\td0\thigh\n", "is not an integer"),
    ],
)
def test_malformed_beir_files_name_the_file_line_and_fix(tiny_beir, file, content, expected):
    (tiny_beir / file).write_text(content, encoding="utf-8")
    with pytest.raises(BeirFormatError) as error:
        read_beir_folder(tiny_beir)
    message = str(error.value)
    assert expected in message and file.split("/")[-1] in message and "Fix:" in message


def test_non_utf8_bytes_are_reported_with_their_line(tiny_beir):
    (tiny_beir / "queries.jsonl").write_bytes(b'{"_id": "q0", "text": "ok"}\n{"_id": "q1", "text": "\xff\xfe"}\n')
    with pytest.raises(BeirFormatError, match="line 2: bytes that are not UTF-8"):
        read_beir_folder(tiny_beir)


def test_shared_query_and_document_ids_are_refused(tmp_path):
    collection = BeirCollection({"x1": {"title": "", "text": "one"}}, {"x1": "uno"}, {"test": {"x1": {"x1": 1}}})
    write_beir_folder(tmp_path / "c", collection)
    with pytest.raises(BeirFormatError, match="prefix ids"):
        read_beir_folder(tmp_path / "c")


def test_missing_files_and_splits_are_reported(tiny_beir):
    with pytest.raises(BeirFormatError, match="no qrels for split 'dev'"):
        read_beir_folder(tiny_beir, splits=("dev",))
    (tiny_beir / "corpus.jsonl").unlink()
    with pytest.raises(BeirFormatError, match="corpus file is missing"):
        read_beir_folder(tiny_beir)
    with pytest.raises(BeirFormatError, match="not a folder"):
        read_beir_folder(tiny_beir / "nope")


ORIGINAL_CORPUS = "".join(json.dumps({"_id": f"d{i}", "title": "", "text": f"text {i}"}) + "\n" for i in range(12))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.text(max_size=40))
def test_any_corpus_line_is_read_or_refused_with_a_beir_format_error(tiny_beir, line):
    (tiny_beir / "corpus.jsonl").write_text(ORIGINAL_CORPUS + line.replace("\n", " ").replace("\r", " ") + "\n", encoding="utf-8")
    try:
        read_beir_folder(tiny_beir)
    except BeirFormatError as error:
        assert str(tiny_beir / "corpus.jsonl") in str(error)


def test_bitext_formats(tmp_path):
    pairs = [SentencePair("moni", "hello", "1"), SentencePair("zikomo", "thanks", "2")]
    write_bitext(tmp_path / "b.jsonl", pairs)
    assert read_bitext(tmp_path / "b.jsonl") == pairs
    (tmp_path / "b.tsv").write_text("moni\thello\nzikomo\tthanks\n", encoding="utf-8")
    assert [(p.lr, p.en) for p in read_bitext(tmp_path / "b.tsv")] == [("moni", "hello"), ("zikomo", "thanks")]
    (tmp_path / "x.nya").write_text("moni\nzikomo\n", encoding="utf-8")
    (tmp_path / "x.eng").write_text("hello\nthanks\n", encoding="utf-8")
    assert [(p.lr, p.en) for p in read_bitext([tmp_path / "x.nya", tmp_path / "x.eng"])] == [("moni", "hello"), ("zikomo", "thanks")]
    assert len(read_bitext(tmp_path / "b.jsonl", limit=1)) == 1


def test_mismatched_line_aligned_files_name_the_shorter_file(tmp_path):
    (tmp_path / "x.nya").write_text("moni\nzikomo\nbwanji\n", encoding="utf-8")
    (tmp_path / "x.eng").write_text("hello\nthanks\n", encoding="utf-8")
    with pytest.raises(BitextFormatError, match=r"x.eng, line 3: x.nya has 3 lines but x.eng has 2"):
        read_bitext([tmp_path / "x.nya", tmp_path / "x.eng"])


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("b.tsv", "moni\thello\nzikomo\n", "line 2: 1 tab-separated fields"),
        ("b.tsv", "moni\t  \n", "line 1: the English side is empty"),
        ("b.jsonl", '{"lr": "moni"}\n', "line 1: the fields 'lr' and 'en' are missing"),
        ("b.jsonl", '{"lr": "moni", "en": "hi"}\n{"lr": \n', "line 2: not valid JSON"),
        ("b.jsonl", "", "no sentence pairs"),
    ],
)
def test_bad_bitext_lines_are_reported(tmp_path, name, content, expected):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(BitextFormatError, match=expected):
        read_bitext(tmp_path / name)


def test_monolingual_text(tmp_path):
    (tmp_path / "m.jsonl").write_text(json.dumps({"text": "moni"}) + "\n\n" + json.dumps({"text": "zikomo"}) + "\n", encoding="utf-8")
    assert read_monolingual(tmp_path / "m.jsonl") == ["moni", "zikomo"]
    (tmp_path / "m.txt").write_text("a\nb\nc\n", encoding="utf-8")
    assert read_monolingual(tmp_path / "m.txt", limit=2) == ["a", "b"]


def test_a_utf8_byte_order_mark_is_accepted_in_every_beir_file_and_the_bitext(tiny_beir, tmp_path):
    plain = read_beir_folder(tiny_beir)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        path = tiny_beir / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with_bom = read_beir_folder(tiny_beir)
    assert with_bom.corpus == plain.corpus and with_bom.queries == plain.queries and with_bom.qrels == plain.qrels
    bitext = tmp_path / "pairs.tsv"
    bitext.write_bytes("\ufeffmoni\thello\n".encode("utf-8"))
    assert [(pair.lr, pair.en) for pair in read_bitext(bitext)] == [("moni", "hello")]
