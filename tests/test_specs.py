"""One parser of model specs (optical_bench.specs) and one evaluation path for every kind
(optical_bench.evaluate.evaluate_evaluable): each kind is recognised, a malformed spec names the
fix, and a MaxSim revision gets its suffix once, alone or inside a fusion."""

from __future__ import annotations

import json

import pytest
from conftest import write_beir

from optical_bench.evaluate import EvaluationOptions, evaluate_model, evaluate_one
from optical_bench.model_specs import load_for_evaluation
from optical_bench.search_models import load_evaluable
from optical_bench.specs import BM25, FOLDER, FUSE, HUB, PACKAGED, TRANSLATE_TEST, SpecError, parse_model_spec, search_kind
from optical_bench.tasks import beir_task


@pytest.fixture
def small_beir(tmp_path):
    queries = {"q0": "river of Nigeria", "q1": "capital of Nigeria"}
    corpus = {"d0": "The river Niger flows to Nigeria.", "d1": "Abuja is the capital of Nigeria.", "d2": "The Nile."}
    return write_beir(tmp_path / "small", queries, corpus, {"q0": {"d0": 1}, "q1": {"d1": 1}})


def test_each_kind_of_spec_is_recognised(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    translate_test = tmp_path / "translate-test"
    translate_test.mkdir()
    (translate_test / "translate_test.json").write_text("{}", encoding="utf-8")
    assert parse_model_spec("all-minilm-l6-v2").kind == PACKAGED
    assert parse_model_spec("All-MiniLM-L6-v2").kind == PACKAGED
    assert parse_model_spec(str(folder)).kind == FOLDER
    assert parse_model_spec(folder).kind == FOLDER
    assert parse_model_spec(str(translate_test)).kind == TRANSLATE_TEST
    assert parse_model_spec("my-org/no-such-folder-here").kind == HUB
    bm25 = parse_model_spec("bm25,k1=0.9,stopwords=fr,translator=ibm1:t.json")
    assert (bm25.kind, bm25.bm25_options, bm25.translator) == (BM25, {"k1": 0.9, "stopwords": "fr"}, "ibm1:t.json")
    assert parse_model_spec("bm25").bm25_options == {} and parse_model_spec("bm25").is_search
    fusion = parse_model_spec(f"fuse,k=20:bm25+{folder}")
    assert (fusion.kind, fusion.fusion.rrf_k, [member.kind for member in fusion.members]) == (FUSE, 20, [BM25, FOLDER])
    assert [member.text for member in fusion.dense_members] == [str(folder)]
    assert (search_kind("bm25x"), search_kind("fusex"), search_kind("fuse,dbsf:a+b")) == (None, None, FUSE)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("minilm-l6-v2", SpecError, r"'minilm-l6-v2': unknown model\. Did you mean 'all-minilm-l6-v2'\? Fix: name a packaged model"),
        ("./no/such/folder", FileNotFoundError, r"'\./no/such/folder': no such model folder .*Fix: check the path"),
        ("bm25,k1=x", SpecError, r"'bm25,k1=x': k1='x' is not a number\. Fix: write e\.g\. bm25,k1=0\.9"),
        ("bm25,k1=0.9,k1=1", SpecError, r"k1 is given twice\. Fix: give each option once"),
        ("fuse:bm25", SpecError, r"not a fusion of two models\. Fix: write fuse:<spec>\+<spec>"),
        ("fuse:bm25+minilm-l6-v2", SpecError, r"'minilm-l6-v2': unknown model\..* Fix:"),
        ("fuse,rsf,k=3:bm25+bm25", SpecError, r"k is RRF's constant.* Fix: drop k="),
    ],
)
def test_a_malformed_spec_names_the_fix(spec, error, message):
    with pytest.raises(error, match=message):
        parse_model_spec(spec)


def test_a_file_is_no_model_folder_and_a_search_spec_is_no_encoder(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(SpecError, match=r"a file, not a model folder\. Fix: pass the folder"):
        parse_model_spec(str(tmp_path / "weights.bin"))
    with pytest.raises(SpecError, match=r"'bm25': a BM25 spec, searched rather than encoded\. Fix:"):
        load_for_evaluation("bm25")


def test_maxsim_adds_its_revision_suffix_once_alone_and_in_a_fusion(tiny_model, small_beir, tmp_path):
    options = EvaluationOptions(progress=False, scoring="maxsim")
    dense = evaluate_one(str(tiny_model), [beir_task(small_beir)], tmp_path / "out", options=options)
    assert dense.revision.endswith("-maxsim") and dense.revision.count("-maxsim") == 1
    assert (tmp_path / "out" / "results" / "optical-bench__teacher" / dense.revision / "BEIR_small.json").exists()
    fused = evaluate_one(f"fuse:bm25+{tiny_model}", [beir_task(small_beir)], tmp_path / "out", options=options)
    provenance = json.loads((fused.folder / "optical_bench" / "provenance.json").read_text(encoding="utf-8"))
    assert [member["revision"] for member in provenance["members"]][1] == dense.revision  # the member is the model alone
    direct = load_evaluable(f"fuse:bm25+{tiny_model}", encoder_options={"scoring": "maxsim"})
    assert direct.meta.revision == fused.revision and direct.dense_model is None and len(direct.encoders) == 1


def test_a_loaded_model_and_its_spec_take_the_same_path(tiny_model, small_beir, tmp_path):
    loaded = load_for_evaluation(str(tiny_model))
    options = EvaluationOptions(progress=False, scoring="maxsim")
    by_model = evaluate_model(
        loaded.model, [beir_task(small_beir)], tmp_path / "a", name="teacher", revision=loaded.revision, options=options
    )
    by_spec = evaluate_one(str(tiny_model), [beir_task(small_beir)], tmp_path / "b", options=options)
    assert (by_model.model_name, by_model.revision) == (by_spec.model_name, by_spec.revision)
    assert by_model.scores == by_spec.scores and by_model.lengths == by_spec.lengths
    summary = json.loads((by_spec.folder / "optical_bench" / "summary.json").read_text(encoding="utf-8"))
    assert summary["truncation"]["BEIR_small"] and summary["max_seq_length"] == {"query": 32, "document": 32}
