"""BM25 and fused model specs: mteb's own BM25 searcher and HybridSearch, checked against a direct
bm25s computation and a hand-computed reciprocal rank fusion, end to end through `optical-bench evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_beir

from optical_bench.cli import main
from optical_bench.search_models import load_bm25
from optical_bench.specs import SpecError, parse_fusion_spec

ENGLISH_DOCS = {
    "d0": "The river Niger flows through Mali and Niger to Nigeria.",
    "d1": "Abuja became the capital of Nigeria in 1991.",
    "d2": "Lagos is the largest city of Nigeria, on the Atlantic coast.",
    "d3": "Kano is an old trading city in northern Nigeria.",
    "d4": "The Nile is the longest river in Africa.",
    "d5": "Mount Kilimanjaro is the highest mountain in Africa.",
}
QUERIES = {"q0": "Which river flows to Nigeria?", "q1": "capital of Nigeria 1991", "q2": "highest mountain Africa"}
QRELS = {"q0": {"d0": 1}, "q1": {"d1": 1}, "q2": {"d5": 1}}


@pytest.fixture
def english_beir(tmp_path) -> Path:
    return write_beir(tmp_path / "english", QUERIES, ENGLISH_DOCS, QRELS)


def _rankings(out: Path, org_model: str, task: str) -> dict[str, dict[str, float]]:
    [path] = (out / "results" / ".predictions" / org_model).glob(f"*/{task}_predictions.json")
    return json.loads(path.read_text(encoding="utf-8"))["default"]["test"]


def test_bm25_through_optical_bench_evaluate_scores_as_bm25s_does(english_beir, tmp_path, capsys):
    import bm25s
    import Stemmer

    out = tmp_path / "out"
    assert main(["evaluate", "--model", "bm25", "--beir", str(english_beir), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "BEIR cross-check: 2 metric values recomputed" in printed.out
    assert "it/s]" not in printed.err and "Split strings" not in printed.err  # --quiet silences bm25s's bars too
    revision = load_bm25().meta.revision
    folder = out / "results" / "mteb__baseline-bm25s" / revision
    result = json.loads((folder / "BEIR_english.json").read_text(encoding="utf-8"))
    assert result["scores"]["test"][0]["recall_at_1"] == 1.0  # every query's word overlap picks its document
    assert json.loads((folder / "optical_bench" / "provenance.json").read_text(encoding="utf-8"))["bm25"]["k1"] == 1.5
    # the same index built with bm25s itself: English stop words and stemmer (the subset is English), Lucene BM25
    stemmer = Stemmer.Stemmer("english")
    texts = ["\n".join(["", text]) for text in ENGLISH_DOCS.values()]  # mteb indexes "title\ntext"
    retriever = bm25s.BM25(k1=1.5, b=0.75, delta=0.5, method="lucene")
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    rankings = _rankings(out, "mteb__baseline-bm25s", "BEIR_english")
    for qid, query in QUERIES.items():
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)[0]
        expected = dict(zip(ENGLISH_DOCS, retriever.get_scores(tokens)))
        assert rankings[qid] == pytest.approx(expected, abs=1e-5)
        assert max(expected.values()) > 0.5


def test_the_bm25_revision_is_stable_and_follows_its_settings():
    assert load_bm25().meta.revision == load_bm25("bm25").meta.revision
    assert load_bm25("bm25,k1=0.9").meta.revision != load_bm25().meta.revision
    assert load_bm25().meta.name == "mteb/baseline-bm25s"


def _rrf(rankings: list[dict[str, float]], weights: list[float], k: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for scores, weight in zip(rankings, weights):
        ordered = sorted(scores, key=lambda did: (scores[did], did), reverse=True)
        for position, did in enumerate(ordered, start=1):
            fused[did] = fused.get(did, 0.0) + weight / (k + position)
    return fused


@pytest.mark.parametrize(("options", "weights", "k"), [("", [0.5, 0.5], 60), (",k=2,weights=0.2/0.8", [0.2, 0.8], 2)])
def test_a_fusion_is_the_reciprocal_rank_fusion_of_its_members(english_beir, tiny_model, tmp_path, options, weights, k, capsys):
    out = tmp_path / "out"
    for spec in ("bm25", str(tiny_model), f"fuse{options}:bm25+{tiny_model}"):
        assert main(["evaluate", "--model", spec, "--beir", str(english_beir), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "Indexing sub-models" not in printed.err and "Building index" not in printed.err  # --quiet is quiet
    # the fusion cuts where its dense member cuts; BM25 alone reads whole texts
    limit = 32  # the tiny model's max_seq_length (conftest)
    assert f"token limits: queries {limit} tokens, documents {limit} tokens" in printed.out
    assert "token limits: queries none (whole texts), documents none (whole texts)" in printed.out
    bm25 = _rankings(out, "mteb__baseline-bm25s", "BEIR_english")
    dense = _rankings(out, "optical-bench__teacher", "BEIR_english")
    fused = _rankings(out, "optical-bench__fuse-rrf-baseline-bm25s-teacher", "BEIR_english")
    for qid in QUERIES:
        assert fused[qid] == pytest.approx(_rrf([bm25[qid], dense[qid]], weights, k), abs=1e-9)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fuse:bm25", r"not a fusion of two models\. Fix: write fuse:<spec>\+<spec>"),
        ("fuse,zzz:bm25+a", r"option 'zzz' is unknown\. Fix: use rrf\|dbsf\|rsf"),
        ("fuse,weights=1:bm25+a", r"'weights=1' is malformed"),
        ("fuse:bm25+fuse:a+b", r"not a fusion of two models"),
    ],
)
def test_a_malformed_fusion_spec_says_how_to_write_it(spec, message):
    with pytest.raises(SpecError, match=message):
        parse_fusion_spec(spec)


def test_fusion_options_are_parsed():
    fusion = parse_fusion_spec("fuse,dbsf,depth=200,weights=0.3/0.7:bm25+runs/student/model")
    assert (fusion.strategy, fusion.depth, fusion.weights, fusion.members) == ("dbsf", 200, (0.3, 0.7), ("bm25", "runs/student/model"))
    with pytest.raises(SpecError, match=r"option 'k9=1' is unknown"):
        load_bm25("bm25,k9=1")


def test_bm25_on_ibm1_translated_queries_finds_what_plain_bm25_cannot(tiny_beir, tmp_path, capsys):
    from conftest import ENGLISH, LOW_RESOURCE

    from optical_bench.translate import make_translator

    saved = make_translator("ibm1", bitext=list(zip(LOW_RESOURCE * 4, ENGLISH * 4)), n_iter=10).save(tmp_path / "ibm1.json")
    out = tmp_path / "out"
    recall = {}
    for spec in ("bm25", f"bm25,translator=ibm1:{saved}"):
        assert main(["evaluate", "--model", spec, "--beir", str(tiny_beir), "--out", str(out), "--quiet"]) == 0
        loaded = load_bm25(spec)
        folder = out / "results" / loaded.meta.name.replace("/", "__") / loaded.meta.revision
        recall[spec] = json.loads((folder / "BEIR_tiny_beir.json").read_text(encoding="utf-8"))["scores"]["test"][0]["recall_at_1"]
    assert "fingerprint" in json.dumps(load_bm25(f"bm25,translator=ibm1:{saved}").provenance)
    assert recall["bm25"] < 0.2 < 0.5 < recall[f"bm25,translator=ibm1:{saved}"]


def test_get_model_gives_mteb_the_model_with_its_model_meta(english_beir, tiny_model, tmp_path):
    import mteb

    import optical_bench
    from optical_bench.tasks import beir_task

    model = optical_bench.get_model(str(tiny_model), name="my-org/tiny")
    assert model.mteb_model_meta.name == "my-org/tiny" and model.mteb_model_meta.revision
    assert optical_bench.get_model("bm25").mteb_model_meta.name == "mteb/baseline-bm25s"
    tasks = [beir_task(english_beir)]
    mteb.evaluate(model, tasks, cache=mteb.ResultCache(tmp_path / "cache"))
    assert (tmp_path / "cache" / "results" / "my-org__tiny").is_dir()  # not no_model_name_available
