"""Task cards -> mteb tasks, and evaluation through mteb with the BEIR cross-check (tiny models)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from optical_bench.evaluate import CrossCheckError, EvaluationOptions, beir_scores, cross_check, evaluate_model
from optical_bench.model_specs import load_for_evaluation
from optical_bench.tasks import TaskCardError, beir_task, cards_dir, get_tasks, load_card, load_cards, make_task


def test_every_bundled_card_is_valid_and_declares_languages_as_iso_639_3_plus_script():
    cards = load_cards()
    assert {
        "OpticalBibleRetrieval",
        "OpticalUDHRRetrieval",
        "OpticalUDHRNewLanguagesRetrieval",
        "CIRALRetrieval",
        "AfriCLIRMatrixRetrieval",
    } <= set(cards)
    for card in cards.values():
        assert card.bibtex_citation is None or "@" in card.bibtex_citation
        for subset in card.subsets.values():
            assert all(len(code.split("-")[0]) == 3 for code in subset["eval_langs"])
    assert {card.kind for card in cards.values()} >= {"in-domain", "domain-shift", "new-languages", "oracle", "hub"}
    assert len(cards["OpticalUDHRNewLanguagesRetrieval"].subsets) == 9


@pytest.mark.parametrize(
    "patch, expected",
    [
        ('kind = "sideways"', "is not a known kind"),
        ('eval_langs = ["sw-Latn", "eng-Latn"]', "is not ISO 639-3 + script"),
        ('test = "../../etc"', "is not a collection name"),
        ("name = ", "not valid TOML"),
    ],
)
def test_malformed_cards_name_the_file_and_key(tmp_path, patch, expected):
    text = (cards_dir() / "OpticalUDHRRetrieval.toml").read_text(encoding="utf-8")
    key = patch.split(" = ")[0]
    lines = [patch if line.startswith(key + " = ") else line for line in text.splitlines()]
    path = tmp_path / "Card.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TaskCardError) as error:
        load_card(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_unknown_task_names_get_suggestions():
    with pytest.raises(KeyError, match="did you mean OpticalBibleRetrieval"):
        get_tasks(["OpticalBibelRetrieval"])


def test_beir_folder_task_evaluates_through_mteb_with_matching_beir_scores(tiny_model, tiny_beir, tmp_path):
    from sentence_transformers import SentenceTransformer

    task = beir_task(tiny_beir, languages=["nya-Latn", "eng-Latn"])
    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model, [task], tmp_path / "out", name="tiny", revision="r1", options=EvaluationOptions(progress=False, cache_embeddings=False)
    )
    files = sorted(p.name for p in (tmp_path / "out" / "results" / "optical-bench__tiny" / "r1").iterdir())
    assert f"{task.metadata.name}.json" in files and "model_meta.json" in files
    assert result.cross_check and max(row["difference"] for row in result.cross_check) <= 1e-4
    scores = result.scores[task.metadata.name]["test"][0]
    assert 0.0 <= scores["ndcg_at_10"] <= 1.0
    # the mteb result file loads with mteb's own classes
    from mteb.results import TaskResult

    loaded = TaskResult.from_disk(tmp_path / "out" / "results" / "optical-bench__tiny" / "r1" / f"{task.metadata.name}.json")
    assert loaded.task_name == task.metadata.name


def test_cross_check_fails_when_scores_disagree(tiny_model, tiny_beir, tmp_path):
    from sentence_transformers import SentenceTransformer

    task = beir_task(tiny_beir)
    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model, [task], tmp_path / "out", name="tiny", revision="r2", options=EvaluationOptions(progress=False, cache_embeddings=False)
    )
    predictions = tmp_path / "out" / "results" / ".predictions" / "optical-bench__tiny" / "r2" / f"{task.metadata.name}_predictions.json"
    tampered = json.loads(json.dumps(result.scores[task.metadata.name]))
    tampered["test"][0]["ndcg_at_10"] += 0.01
    with pytest.raises(CrossCheckError, match="ndcg_at_10"):
        cross_check(task, predictions, tampered)


def test_document_embeddings_are_cached_and_reused(tiny_model, tiny_beir, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))  # an empty cache

    model = SentenceTransformer(str(tiny_model), device="cpu")
    first = evaluate_model(
        model, [beir_task(tiny_beir)], tmp_path / "a", name="tiny", revision="c1", options=EvaluationOptions(progress=False)
    )
    second = evaluate_model(
        model, [beir_task(tiny_beir)], tmp_path / "b", name="tiny", revision="c2", options=EvaluationOptions(progress=False)
    )
    assert first.cache_stats["document_misses"] == 1 and second.cache_stats["document_hits"] == 1
    a = first.scores[next(iter(first.scores))]["test"][0]["ndcg_at_10"]
    b = second.scores[next(iter(second.scores))]["test"][0]["ndcg_at_10"]
    assert a == pytest.approx(b)


def test_beir_scores_match_pytrec_eval_definitions():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d1": 0.9, "d2": 0.5}}
    scores = beir_scores(qrels, run)
    assert scores["recall_at_1"] == pytest.approx(0.5)
    assert scores["mrr_at_10"] == pytest.approx(0.75)


def _write_ciral_mirror(root: Path) -> Path:
    """The CIRAL repositories' trees as they are on the hub (December 2026), file for file for
    Hausa, loading scripts included, with tiny contents."""
    ciral = root / "CIRAL" / "ciral"
    (ciral / "ciral.py").parent.mkdir(parents=True)
    (ciral / "ciral.py").write_text("import datasets  # a loading script: must be ignored\n", encoding="utf-8")
    (ciral / "README.md").write_text("# CIRAL\n", encoding="utf-8")
    language = ciral / "ciral-hausa"
    (language / "topics").mkdir(parents=True)
    (language / "qrels").mkdir(parents=True)
    for split in ("dev", "test-a", "test-b"):
        (language / "topics" / f"topics.ciral-v1.0-ha-{split}.tsv").write_text(
            "1\twater shortage in the city\n2\tfootball match results\n", encoding="utf-8"
        )
    for split in ("dev", "test-a", "test-a-pools", "test-b"):
        (language / "qrels" / f"qrels.ciral-v1.0-ha-{split}.tsv").write_text("1 Q0 doc#1 1\n1 Q0 doc#2 0\n2 Q0 doc#3 1\n", encoding="utf-8")
    corpus = root / "CIRAL" / "ciral-corpus"
    (corpus / "passages-v1.0").mkdir(parents=True)
    (corpus / "translated-passages-v1.0").mkdir(parents=True)
    (corpus / "ciral-corpus.py").write_text("import datasets  # a loading script: must be ignored\n", encoding="utf-8")
    passages = [("doc#1", "babu ruwa a birni"), ("doc#2", "ruwan sama"), ("doc#3", "sakamakon wasan kwallon kafa")]
    with open(corpus / "passages-v1.0" / "hausa_passages.jsonl", "w", encoding="utf-8") as handle:
        for did, text in passages:
            handle.write(json.dumps({"docid": did, "title": "Labarai", "text": text, "url": "https://example.org"}) + "\n")
    with open(corpus / "translated-passages-v1.0" / "hausa_passages.jsonl", "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"docid": "doc#1", "title": "News", "text": "no water in the city", "url": "https://example.org"}) + "\n")
    return root


def _ciral_hausa():
    card = load_card(cards_dir() / "CIRALRetrieval.toml")
    card.subsets = {"eng-hau": card.subsets["eng-hau"]}
    return card


def test_ciral_loads_through_hf_hub_download_from_the_real_tree_and_reports_its_measures(tiny_model, tmp_path, monkeypatch):
    import huggingface_hub
    from sentence_transformers import SentenceTransformer

    mirror = _write_ciral_mirror(tmp_path / "hub")
    calls = []

    def fake_download(repo_id, filename, repo_type=None, revision=None, **kwargs):
        calls.append((repo_id, filename, repo_type, revision))
        path = mirror / repo_id / filename
        if not path.exists():
            raise huggingface_hub.errors.EntryNotFoundError(f"{repo_id}/{filename}")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    task = make_task(_ciral_hausa())  # no --hub-dir: the hub's code path
    task.load_data()
    assert {call[1] for call in calls} == {
        "ciral-hausa/topics/topics.ciral-v1.0-ha-test-a.tsv",
        "ciral-hausa/qrels/qrels.ciral-v1.0-ha-test-a.tsv",
        "passages-v1.0/hausa_passages.jsonl",
    }
    assert all(call[2] == "dataset" and call[3] == "main" for call in calls)
    split = task.dataset["eng-hau"]["testA"]
    assert split["corpus"].num_rows == 3 and split["queries"].num_rows == 2
    assert split["relevant_docs"]["1"] == {"doc#1": 1, "doc#2": 0}
    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model, [task], tmp_path / "out", name="tiny", revision="h1", options=EvaluationOptions(progress=False, cache_embeddings=False)
    )
    scores = result.scores["CIRALRetrieval"]["testA"][0]
    assert scores["main_score"] == scores["ndcg_at_20"] and "recall_at_100" in scores  # CIRAL's official measures


def test_ciral_reads_a_local_mirror_of_the_same_tree(tiny_model, tmp_path):
    task = make_task(_ciral_hausa(), hub_dir=_write_ciral_mirror(tmp_path / "hub"))
    task.load_data()
    assert task.dataset["eng-hau"]["testA"]["corpus"].num_rows == 3


def test_missing_hub_mirror_files_are_explained(tmp_path):
    card = load_card(cards_dir() / "AfriCLIRMatrixRetrieval.toml")
    task = make_task(card, hub_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="not in the local hub mirror"):
        task.load_data()


def test_load_for_evaluation_reads_folders_and_rejects_unknown_names(tiny_model):
    loaded = load_for_evaluation(str(tiny_model))
    assert loaded.revision and loaded.name == "teacher"
    with pytest.raises(ValueError, match="multilingual-e5-small-q4"):
        load_for_evaluation("multilingual-e5-small-q8")


def test_maxsim_scoring_ranks_with_late_interaction(tiny_model, tiny_beir, tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer

    from optical_bench.encoders import MAXSIM_LENGTH, maxsim_scores, padded_token_embeddings

    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model,
        [beir_task(tiny_beir)],
        tmp_path / "out",
        name="tiny",
        revision="m1",
        options=EvaluationOptions(progress=False, cache_embeddings=False, scoring="maxsim"),
    )
    assert result.revision.endswith("-maxsim") if hasattr(result, "revision") else True
    assert result.cross_check and max(row["difference"] for row in result.cross_check) <= 1e-4
    meta = json.loads(next((tmp_path / "out").glob("results/*/*/model_meta.json")).read_text())
    assert meta["similarity_fn_name"] == "MaxSim"
    # the padded layout gives exactly the MaxSim of the unpadded token matrices
    q_tokens = [torch.randn(3, 8), torch.randn(5, 8)]
    d_tokens = [torch.randn(4, 8), torch.randn(2, 8), torch.randn(7, 8)]
    scores = maxsim_scores(padded_token_embeddings(q_tokens, MAXSIM_LENGTH, True), padded_token_embeddings(d_tokens, MAXSIM_LENGTH, False))
    for i, q in enumerate(q_tokens):
        for j, d in enumerate(d_tokens):
            qn, dn = torch.nn.functional.normalize(q, dim=-1), torch.nn.functional.normalize(d, dim=-1)
            expected = (qn @ dn.T).max(dim=1).values.mean()
            assert float(scores[i, j]) == pytest.approx(float(expected), abs=1e-5)
    # in small query chunks too (the chunk bounds memory, not the scores)
    assert torch.allclose(
        maxsim_scores(
            padded_token_embeddings(q_tokens, MAXSIM_LENGTH, True), padded_token_embeddings(d_tokens, MAXSIM_LENGTH, False), chunk=1
        ),
        scores,
    )


def test_maxsim_document_tokens_are_cached_on_disk_and_give_the_same_scores(tiny_model, tiny_beir, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))

    model = SentenceTransformer(str(tiny_model), device="cpu")

    def scores(out, cache):
        result = evaluate_model(
            model,
            [beir_task(tiny_beir)],
            tmp_path / out,
            name="tiny",
            revision="m1",
            options=EvaluationOptions(progress=False, cache_embeddings=cache, scoring="maxsim"),
        )
        [splits] = result.scores.values()
        return result.cache_stats, splits["test"][0]

    plain_stats, plain = scores("plain", False)
    first_stats, first = scores("first", True)
    again_stats, again = scores("again", True)
    assert first_stats["document_misses"] == 1 and again_stats["document_hits"] == 1 and again_stats["document_verified"] > 0
    for metric in ("ndcg_at_10", "map_at_100", "recall_at_1"):
        assert first[metric] == plain[metric] and again[metric] == plain[metric]
    # the entry holds normalised token rows (no padding marker), keyed apart from pooled embeddings
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "home" / "embeddings").rglob("*.json")]
    assert record["scoring"].startswith("maxsim-normalised-tokens") and record["encode_options"]["output_value"] == "token_embeddings"


def test_a_corpus_shared_by_subsets_is_token_encoded_once(tiny_model):
    from sentence_transformers import SentenceTransformer

    from optical_bench.encoders import token_level_embeddings

    model = SentenceTransformer(str(tiny_model), device="cpu")
    calls = []
    encode_document = model.encode_document
    model.encode_document = lambda texts, **kw: calls.append(len(texts)) or encode_document(texts, **kw)
    seen: dict = {}
    first = token_level_embeddings(model, ["a passage", "another one"], False, 8, seen)
    again = token_level_embeddings(model, ["a passage", "another one"], False, 8, seen)
    other = token_level_embeddings(model, ["a third"], False, 8, seen)
    assert calls == [2, 1] and again is first and len(other) == 1 and len(seen) == 1


def test_truncation_is_counted_and_recorded(tiny_model, tmp_path):
    from conftest import write_beir
    from sentence_transformers import SentenceTransformer

    long_text = " ".join(["moni bwanji lero"] * 40)  # far beyond the tiny model's 32 tokens
    folder = write_beir(
        tmp_path / "long", {"q1": long_text, "q2": "zikomo"}, {"d1": "hello", "d2": "thanks " * 50}, {"q1": {"d1": 1}, "q2": {"d2": 1}}
    )
    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model,
        [beir_task(folder)],
        tmp_path / "out",
        name="tiny",
        revision="t1",
        options=EvaluationOptions(progress=False, cache_embeddings=False),
    )
    (counts,) = result.truncation.values()
    entry = counts["default/test"]
    assert entry["query_max_seq_length"] == 32 and entry["document_max_seq_length"] == 32
    assert entry["queries_truncated"] == 1 and entry["corpus_truncated"] == 1
    summary = json.loads(next((tmp_path / "out").glob("results/*/*/optical_bench/summary.json")).read_text())
    assert summary["truncation"]


def test_unknown_language_codes_are_refused_with_suggestions():
    with pytest.raises(ValueError, match=r"'sw'.*ISO 639-3"):
        get_tasks(languages=["sw"])
    with pytest.raises(ValueError, match=r"'nyx' \(did you mean nya"):
        get_tasks(languages=["nyx"])


def test_the_revision_is_a_hash_of_the_weights_even_under_a_dot_cache_folder(tiny_model, tmp_path):
    from optical_bench.models import folder_fingerprint

    copy = tmp_path / ".cache" / "optical-bench" / "models" / "tiny"  # like ~/.cache/optical-bench
    shutil.copytree(tiny_model, copy)
    assert folder_fingerprint(copy) == folder_fingerprint(tiny_model)
    (copy / ".cache").mkdir()
    (copy / ".cache" / "embeddings.json").write_text("{}", encoding="utf-8")  # a cache inside is not the model
    assert folder_fingerprint(copy) == folder_fingerprint(tiny_model)
    config = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))
    stamped = {**config, "transformers_version": "0.0.1"}
    (copy / "config.json").write_text(json.dumps(stamped, indent=4, sort_keys=True) + "\n", encoding="utf-8")
    assert folder_fingerprint(copy) == folder_fingerprint(tiny_model), "a library version stamp or layout is not the model"
    (copy / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}), encoding="utf-8")
    assert folder_fingerprint(copy) != folder_fingerprint(tiny_model)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no model files"):
        folder_fingerprint(empty)
    (copy / "config.json").write_text((tiny_model / "config.json").read_text(), encoding="utf-8")
    (copy / "optical_bench_provenance.json").write_text('{"train_seconds": 12.3}', encoding="utf-8")
    assert folder_fingerprint(copy) == folder_fingerprint(tiny_model), "timings and paths do not change the revision"


def test_user_card_folders_are_listed_beside_the_shipped_cards(tmp_path, monkeypatch):
    from optical_bench.tasks import ENV_TASKS

    mine = tmp_path / "my-cards"
    mine.mkdir()
    text = (cards_dir() / "OpticalUDHRRetrieval.toml").read_text(encoding="utf-8")
    (mine / "MyUDHRRetrieval.toml").write_text(text.replace('name = "OpticalUDHRRetrieval"', 'name = "MyUDHRRetrieval"'), encoding="utf-8")
    monkeypatch.setenv(ENV_TASKS, str(mine))
    cards = load_cards()
    assert "MyUDHRRetrieval" in cards and "OpticalBibleRetrieval" in cards
    monkeypatch.setenv(ENV_TASKS, str(tmp_path / "missing"))
    with pytest.raises(TaskCardError, match="not a folder"):
        load_cards()
    monkeypatch.delenv(ENV_TASKS)
    with pytest.raises(TaskCardError, match="No task cards"):
        load_cards(tmp_path / "my-empty-folder")


def test_the_shipped_cards_and_configs_live_inside_the_package():
    import optical_bench
    from optical_bench.experiment import load_experiment, packaged_configs, resolve_config

    package = Path(optical_bench.__file__).parent
    assert cards_dir().parent == package and len(list(cards_dir().glob("*.toml"))) >= 7
    assert resolve_config(None) == package / "configs" / "default.toml"
    assert resolve_config("rq1") == package / "configs" / "rq1.toml"
    assert {"default", "rq1", "rq2", "comparison"} <= set(packaged_configs())
    assert load_experiment("rq2")["runs"]
    with pytest.raises(FileNotFoundError, match="shipped one.*rq1"):
        load_experiment("no-such-config")
