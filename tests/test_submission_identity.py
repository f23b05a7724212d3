"""`optical-bench submit`: who a model is on the leaderboard, which splits it needs, valid hub ids,
task definitions with their citations."""

from __future__ import annotations

import json

import mteb
import pytest
from huggingface_hub.utils import validate_repo_id
from test_robustness import DEFAULT_SCORES, model_meta, task_result, write_run

from optical_bench.cards import load_cards
from optical_bench.cli import main
from optical_bench.submit import build_submission, check_hub_name
from optical_bench.upstream import task_definition

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
UDHR = {"OpticalUDHRRetrieval": DEFAULT_SCORES["OpticalUDHRRetrieval"]}


def _packaged_run(root, name: str, original: str, revision: str = "c0ffee0123456789", experiment_kwargs: dict | None = None):
    """A packaged model's results as `optical-bench evaluate --model <packaged>` writes them."""
    folder = write_run(root, f"optical-bench/{name}", revision, UDHR)
    meta = model_meta(f"optical-bench/{name}", revision)
    meta.update(adapted_from=original, license="apache-2.0", languages=["eng-Latn"], experiment_kwargs=experiment_kwargs)
    (folder / "model_meta.json").write_text(json.dumps(meta))
    return folder


def test_a_packaged_model_keeps_its_identity_in_mteb_s_registry(tmp_path):
    root = tmp_path / "results"
    _packaged_run(root, "all-minilm-l6-v2", MINILM)
    registry = mteb.get_model_meta(MINILM, fetch_from_hf=False)
    submission = build_submission(root, tmp_path / "out", export_datasets=False)
    folder = tmp_path / "out" / "results" / "sentence-transformers__all-MiniLM-L6-v2" / registry.revision
    assert submission.folders == [folder]
    meta = json.loads((folder / "model_meta.json").read_text())
    assert meta["name"] == MINILM and meta["revision"] == registry.revision
    assert meta["release_date"] == str(registry.release_date) == "2021-08-30"
    assert meta["languages"] == registry.languages and meta["license"] == registry.license
    assert set(meta["training_datasets"]) == set(registry.training_datasets)
    assert meta["public_training_code"] != "https://pypi.org/project/optical-bench/"
    text = submission.instructions()
    assert "no ModelMeta to add" in text and "ModelMeta template" not in text and "Register the model" not in text
    # a zero-shot study run of the same packaged model is the same model
    study = tmp_path / "study"
    options = {"method": "zero-shot", "teacher": "all-minilm-l6-v2", "student": "all-minilm-l6-v2", "seed": 42}
    _packaged_run(study, "minilm-zero-shot", MINILM, experiment_kwargs=options)
    named = build_submission(study, tmp_path / "out2", name=MINILM, export_datasets=False)
    assert named.folders == [tmp_path / "out2" / "results" / "sentence-transformers__all-MiniLM-L6-v2" / registry.revision]
    assert "Register the model" not in named.instructions()


def test_the_4_bit_e5_is_never_submitted_as_e5(tmp_path):
    root = tmp_path / "results"
    _packaged_run(root, "multilingual-e5-small-q4", "intfloat/multilingual-e5-small")
    for name in (None, "intfloat/multilingual-e5-small"):
        with pytest.raises(ValueError, match="4-bit weights.*not intfloat/multilingual-e5-small.*Fix: leave it out"):
            build_submission(root, tmp_path / "out", name=name, export_datasets=False)
    assert not (tmp_path / "out").exists()


def test_a_trained_student_cannot_take_the_name_of_a_registry_model(tmp_path):
    root = tmp_path / "results"
    write_run(root, "optical-bench/student", "bbbb2222", UDHR, provenance={"method": "mse", "teacher": "all-minilm-l6-v2"})
    with pytest.raises(ValueError, match="registry model sentence-transformers/all-MiniLM-L6-v2.*Fix: .*--name my-org/student"):
        build_submission(root, tmp_path / "out", name=MINILM, export_datasets=False)
    submission = build_submission(root, tmp_path / "ok", name="my-org/chichewa-student", export_datasets=False)
    assert "Register the model" in submission.instructions() and "my-org/chichewa-student" in submission.model_meta_code


def test_results_without_the_evaluation_split_are_refused(tmp_path):
    root = tmp_path / "results"
    folder = write_run(root, "optical-bench/student", "bbbb2222", UDHR)
    (folder / "OpticalUDHRRetrieval.json").write_text(json.dumps(task_result("OpticalUDHRRetrieval", UDHR["OpticalUDHRRetrieval"], "dev")))
    with pytest.raises(ValueError, match=r"OpticalUDHRRetrieval: 'test' \(the file has dev\).*--split SPLIT"):
        build_submission(root, tmp_path / "out", name="my-org/student", export_datasets=False)
    assert main(["submit", "--results", str(root), "--out", str(tmp_path / "cli"), "--name", "my-org/student"]) == 2


@pytest.mark.parametrize("name", ["my org/bad name", "a b", "org/x..y", "//", "my-org/optical+contrastive"])
def test_an_invalid_hub_name_gets_a_valid_suggestion_or_none(name):
    with pytest.raises(ValueError) as error:
        check_hub_name(name)
    message = str(error.value)
    assert message.count("\n") == 0
    if "e.g. --name " in message:
        suggestion = message.split("e.g. --name ")[1].rstrip(".")
        validate_repo_id(suggestion)
    else:
        assert "Fix: use letters" in message
    assert "my-org/bad-name" in str(pytest.raises(ValueError, check_hub_name, "my org/bad name").value)


def test_generated_task_definitions_carry_a_citation_or_are_refused(tmp_path):
    cards = load_cards()
    for name, card in cards.items():
        namespace: dict = {}
        exec(task_definition(card, f"my-org/{name}", cards=cards), namespace)
        citation = namespace[name].metadata.bibtex_citation
        assert citation.strip().startswith("@") and citation.strip().endswith("}"), name
    oracle = cards["OpticalUDHROracleRetrieval"]
    assert "un1948udhr" in task_definition(oracle, "o/x", cards=cards)  # the oracle cites the task it is the oracle of
    bare = tmp_path / "Bare.toml"
    bare.write_text(
        'name = "BareRetrieval"\nkind = "domain-shift"\ndescription = "d"\nmain_score = "ndcg_at_10"\nredistribute = true\n'
        '[source]\ntype = "builtin"\n[subsets.default]\neval_langs = ["eng-Latn"]\ntest = "udhr-nya"\n'
    )
    from optical_bench.cards import load_card

    with pytest.raises(ValueError, match=r"Bare.toml: no bibtex_citation.*Fix: add bibtex_citation"):
        task_definition(load_card(bare), "o/x", cards=cards)


def _search_run(root, name: str, provenance: dict):
    folder = write_run(root, name, "5e77126500000000", UDHR)
    (folder / "optical_bench").mkdir(exist_ok=True)
    (folder / "optical_bench" / "provenance.json").write_text(json.dumps(provenance))
    return folder


def test_bm25_keeps_its_registry_identity_and_fusions_or_pipelines_are_refused(tmp_path):
    registry = mteb.get_model_meta("mteb/baseline-bm25s", fetch_from_hf=False)
    root = tmp_path / "results"
    _search_run(root, "mteb/baseline-bm25s", {"spec": "bm25", "bm25": {"k1": 1.5, "b": 0.75}})
    submission = build_submission(root, tmp_path / "out", model="bm25", export_datasets=False)
    assert submission.folders == [tmp_path / "out" / "results" / "mteb__baseline-bm25s" / registry.revision]
    text = submission.instructions()
    assert "is in mteb's model registry" in text and "ModelMeta template" not in text and "bm25_loader" not in text
    for spec, provenance, reason in [
        (
            "fuse:bm25+e5",
            {"spec": "fuse:bm25+e5", "fusion": {"strategy": "rrf"}, "members": [{"name": "a"}, {"name": "b"}]},
            "no hub model holds a fusion",
        ),
        ("bm25,translator=ibm1:x", {"spec": "bm25,translator=ibm1:x", "bm25": {"query_translator": "ibm1"}}, "translated queries"),
        ("bm25,k1=0.9", {"spec": "bm25,k1=0.9", "bm25": {"k1": 0.9}}, "settings of its own"),
    ]:
        other = tmp_path / spec.replace(":", "_").replace(",", "_")
        _search_run(other, "optical-bench/searcher", provenance)
        with pytest.raises(ValueError, match=reason):
            build_submission(other, tmp_path / "refused", export_datasets=False)
    assert not (tmp_path / "refused").exists()


def test_a_trained_student_needs_a_hub_id_of_its_owner(tmp_path):
    root = tmp_path / "results"
    write_run(root, "optical-bench/student", "bbbb2222", UDHR, provenance={"method": "mse", "teacher": "all-minilm-l6-v2"})
    with pytest.raises(
        ValueError, match=r"'optical-bench/' is not your organisation.*Fix: --name <your-org>/<model>, e.g. --name my-org/student"
    ):
        build_submission(root, tmp_path / "out", export_datasets=False)
    submission = build_submission(root, tmp_path / "out", name="my-org/student", export_datasets=False)
    code = submission.model_meta_code["my-org/student"]
    assert "hf upload" in submission.instructions() or "huggingface-cli" not in submission.instructions()
    assert "method=mse" in code and "public_training_code='https://pypi.org" not in code


def test_a_news_student_lists_the_languages_of_its_bitext():
    from optical_bench.model_specs import bitext_languages, trained_model_meta

    assert bitext_languages("mafand-hau") == ["hau-Latn", "eng-Latn"] and bitext_languages("mafand-amh")[0] == "amh-Ethi"
    assert bitext_languages(None) == ["nya-Latn", "eng-Latn"] and bitext_languages("my/pairs.jsonl") == []
    meta = trained_model_meta(
        {"teacher": "multilingual-e5-small-q4", "student_init": "multilingual-e5-small-q4", "config": {"bitext": "mafand-hau"}}
    )
    assert "hau-Latn" in meta["languages"]
