"""What an evaluation leaves under ``--out`` is complete, current and inside ``--out``.

- an evaluation killed while the rankings are written resumes (and a truncated rankings file,
  as mteb's in-place writer leaves one, is set aside and redone, ``--overwrite always`` included);
- changed data never returns old scores (a BEIR folder's qrels, a built collection's qrels);
- names from task cards, ``task.toml`` and experiment configs never write outside their folder;
- a real graded collection with equal document texts (AfriCLIRMatrix's real topics and qrels)
  passes the BEIR cross-check, and a result that fails it is not left for the next run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ENGLISH, LOW_RESOURCE, write_beir

from optical_bench.cli import main

RANKINGS = "_predictions.json"


def _evaluate(model: Path, beir: Path, out: Path, *extra: str) -> int:
    return main(["evaluate", "--model", str(model), "--name", "tiny", "--beir", str(beir), "--out", str(out), "--quiet", *extra])


def _scores(out: Path) -> dict:
    """{task: {split: ndcg_at_10}} of every task result under ``out``."""
    found = {}
    for path in (out / "results").glob("*/*/*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "task_name" in data:
            found[data["task_name"]] = {split: entries[0]["ndcg_at_10"] for split, entries in data["scores"].items()}
    return found


def _rankings(out: Path) -> list[Path]:
    return sorted((out / "results" / ".predictions").rglob(f"*{RANKINGS}"))


# --------------------------------------------------------------------------- 1. resume


KILL_DURING_RANKINGS_WRITE = """
import os, signal, sys
import optical_bench.io as io
real_fsync = os.fsync
def fsync_then_die(fd):
    if "_predictions.json" in os.readlink(f"/proc/self/fd/{fd}"):
        os.kill(os.getpid(), signal.SIGKILL)  # the rankings are half on disk
    return real_fsync(fd)
io.os.fsync = fsync_then_die
from optical_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_an_evaluation_killed_while_it_writes_the_rankings_resumes_with_the_same_scores(tiny_model, tiny_beir, tmp_path):
    assert _evaluate(tiny_model, tiny_beir, tmp_path / "reference") == 0
    out = tmp_path / "killed"
    command = [sys.executable, "-c", KILL_DURING_RANKINGS_WRITE, "evaluate", "--model", str(tiny_model), "--name", "tiny"]
    killed = subprocess.run([*command, "--beir", str(tiny_beir), "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not _rankings(out), "a half-written rankings file was left under its real name"
    assert _evaluate(tiny_model, tiny_beir, out) == 0
    assert _scores(out) == _scores(tmp_path / "reference")
    assert [json.loads(path.read_text()) for path in _rankings(out)] == [
        json.loads(p.read_text()) for p in _rankings(tmp_path / "reference")
    ]


@pytest.mark.parametrize("overwrite", ["only-missing", "always"])
def test_a_truncated_rankings_file_is_set_aside_and_redone(tiny_model, tiny_beir, tmp_path, overwrite, capsys):
    out = tmp_path / "out"
    assert _evaluate(tiny_model, tiny_beir, out) == 0
    expected = _scores(out)
    (rankings,) = _rankings(out)
    complete = rankings.read_text(encoding="utf-8")
    rankings.write_text(complete[: len(complete) // 2], encoding="utf-8")  # what a kill during mteb's own write leaves
    assert _evaluate(tiny_model, tiny_beir, out, "--overwrite", overwrite) == 0
    assert json.loads(rankings.read_text(encoding="utf-8")) == json.loads(complete)
    assert _scores(out) == expected
    assert list(rankings.parent.glob(f"{rankings.name}.incomplete-*")), "the truncated file is kept aside for inspection"
    assert "BEIR cross-check: 2 metric values recomputed" in capsys.readouterr().out  # redone, hence checked again


def test_a_truncated_result_file_and_an_empty_model_meta_are_rewritten(tiny_model, tiny_beir, tmp_path):
    from mteb.cache import ResultCache

    out = tmp_path / "out"
    assert _evaluate(tiny_model, tiny_beir, out) == 0
    expected = _scores(out)
    (folder,) = (out / "results").glob("optical-bench__tiny/*")
    (result,) = [p for p in folder.glob("*.json") if p.name != "model_meta.json"]
    result.write_text(result.read_text()[:100], encoding="utf-8")
    assert _evaluate(tiny_model, tiny_beir, out) == 0
    assert _scores(out) == expected
    (folder / "model_meta.json").write_bytes(b"")
    assert _evaluate(tiny_model, tiny_beir, out) == 0
    assert json.loads((folder / "model_meta.json").read_text())["name"] == "optical-bench/tiny"
    assert len(ResultCache(cache_path=out).load_results(include_remote=False).model_results) == 1


# --------------------------------------------------------------------------- 2. changed data


def _drop_half_the_judgements(qrels: Path) -> None:
    lines = qrels.read_text(encoding="utf-8").splitlines()
    qrels.write_text("\n".join(lines[: 1 + (len(lines) - 1) // 2]) + "\n", encoding="utf-8")


def test_editing_a_beir_folder_never_returns_the_old_scores(tiny_model, tiny_beir, tmp_path):
    out = tmp_path / "out"
    for check in ([], ["--no-check-beir"]):
        assert _evaluate(tiny_model, tiny_beir, out / "a", *check) == 0
    before = _scores(out / "a")
    _drop_half_the_judgements(tiny_beir / "qrels" / "test.tsv")
    for check in ([], ["--no-check-beir"]):
        assert _evaluate(tiny_model, tiny_beir, out / "a", *check) == 0
        assert _evaluate(tiny_model, tiny_beir, out / f"fresh{len(check)}", *check) == 0
        assert _scores(out / "a") == _scores(out / f"fresh{len(check)}") != before
    assert list((out / "a").rglob("*.json.stale-*")), "the old result is set aside, not deleted"


def test_editing_a_built_collection_changes_the_revision_and_the_scores(tiny_model, tmp_path):
    from optical_bench.data.beir import read_beir_folder
    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.io import atomic_write_json, sha256_folder
    from optical_bench.tasks import TaskCard, make_task

    build = tmp_path / "build"
    queries = {f"q{i}": text for i, text in enumerate(LOW_RESOURCE)}
    collection = write_beir(
        build / "tiny-test", queries, {f"d{i}": t for i, t in enumerate(ENGLISH)}, {q: {"d" + q[1:]: 1} for q in queries}
    )
    atomic_write_json(build / "build.json", {"content_hash": {"tiny-test": sha256_folder(collection)[:16]}})
    card = TaskCard(
        name="TinyBuiltRetrieval",
        kind="in-domain",
        description="A tiny built collection.",
        main_score="ndcg_at_10",
        source={"type": "builtin"},
        subsets={"nya-eng": {"eval_langs": ["nya-Latn", "eng-Latn"], "test": "tiny-test"}},
        path=tmp_path / "TinyBuiltRetrieval.toml",
    )
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model), device="cpu")

    def evaluate(out):
        task = make_task(card, build_root=build)
        result = evaluate_model(
            model, [task], out, name="tiny", revision="r", options=EvaluationOptions(progress=False, cache_embeddings=False)
        )
        return task.metadata.revision, result.scores["TinyBuiltRetrieval"]["test"][0]["ndcg_at_10"]

    revision, before = evaluate(tmp_path / "out")
    _drop_half_the_judgements(collection / "qrels" / "test.tsv")
    assert len(read_beir_folder(collection).qrels["test"]) == 6
    edited_revision, after = evaluate(tmp_path / "out")
    assert edited_revision != revision, "the revision comes from the files read, not from build.json"
    assert (edited_revision, after) == evaluate(tmp_path / "fresh")
    assert after != before


# --------------------------------------------------------------------------- 3. names


def test_a_task_toml_name_cannot_write_outside_out(tiny_model, tiny_beir, tmp_path, capsys):
    (tiny_beir / "task.toml").write_text('name = "../../../../escaped"\n', encoding="utf-8")
    assert _evaluate(tiny_model, tiny_beir, tmp_path / "deep" / "er" / "out") == 2
    error = capsys.readouterr().err
    assert "task.toml" in error and "'../../../../escaped' is not a safe name. Fix:" in error
    assert not list(tmp_path.rglob("escaped*"))


def test_a_task_card_name_cannot_write_outside_out(tmp_path, monkeypatch, capsys):
    from optical_bench.cards import cards_dir

    cards = tmp_path / "cards"
    cards.mkdir()
    shipped = (cards_dir() / "OpticalBibleRetrieval.toml").read_text(encoding="utf-8")
    (cards / "Evil.toml").write_text(shipped.replace('name = "OpticalBibleRetrieval"', 'name = "../../../X"'), encoding="utf-8")
    monkeypatch.setenv("OPTICAL_BENCH_TASKS", str(cards))
    assert main(["tasks"]) == 2
    error = capsys.readouterr().err
    assert "Evil.toml" in error and "'../../../X' is not a safe name" in error


def test_an_experiment_run_name_cannot_write_outside_out(tiny_model, tiny_beir, tmp_path, capsys):
    config = tmp_path / "escape.toml"
    config.write_text(
        f'[experiment]\nname = "escape"\nbeir = ["{tiny_beir}"]\n\n[[runs]]\nname = "../../../escaped"\nmethod = "zero-shot"\n'
        f'teacher = "{tiny_model}"\n',
        encoding="utf-8",
    )
    assert main(["run", str(config), "--out", str(tmp_path / "a" / "b" / "out"), "--quiet"]) == 2
    assert "run name '../../../escaped' is not a safe name" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escaped*"))


# --------------------------------------------------------------------------- 4. a real graded collection


def _mirrors() -> Path | None:
    candidates = [
        os.environ.get("OPTICAL_BENCH_MIRRORS"),
        Path(__file__).resolve().parents[2] / "shared" / "mirrors",
        "/work/shared/mirrors",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "github.com" / "castorini" / "africlirmatrix").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def africlirmatrix_with_equal_texts(tmp_path) -> Path:
    """The real topics and qrels of castorini/africlirmatrix (the mirror's clone), and a Hausa
    corpus that holds every judged document id, several of them with one text (as real corpora
    have: stubs, redirects), judged and unjudged documents tied in score."""
    mirrors = _mirrors()
    if mirrors is None:
        pytest.skip("no mirror of castorini/africlirmatrix: set OPTICAL_BENCH_MIRRORS to the shared mirrors folder")
    hub = tmp_path / "hub"
    (hub / "github.com" / "castorini").mkdir(parents=True)
    (hub / "github.com" / "castorini" / "africlirmatrix").symlink_to(mirrors / "github.com" / "castorini" / "africlirmatrix")
    qrels = mirrors / "github.com" / "castorini" / "africlirmatrix" / "test" / "qrels" / "qrels.africlirmatrix-v1.0.en.hau.txt"
    judged = sorted({line.split()[2] for line in qrels.read_text(encoding="utf-8").splitlines() if line.strip()})
    texts = ENGLISH + LOW_RESOURCE  # 24 texts for ~1,800 documents: every text is shared
    corpus = hub / "castorini" / "africlirmatrix" / "africlirmatrix-v1.0-hausa" / "corpus.jsonl"
    corpus.parent.mkdir(parents=True)
    with corpus.open("w", encoding="utf-8") as handle:
        for index, docid in enumerate(judged + [f"x{n}" for n in range(200)]):
            handle.write(json.dumps({"id": docid, "contents": texts[index % len(texts)]}) + "\n")
    return hub


def test_africlirmatrix_real_graded_qrels_with_equal_texts_pass_the_cross_check(tiny_model, africlirmatrix_with_equal_texts, tmp_path):
    from sentence_transformers import SentenceTransformer

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.tasks import get_tasks

    (task,) = get_tasks(["AfriCLIRMatrixRetrieval"], hub_dir=africlirmatrix_with_equal_texts)
    task.hf_subsets = ["eng-hau"]
    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model, [task], tmp_path / "out", name="tiny", revision="r", options=EvaluationOptions(progress=False, cache_embeddings=False)
    )
    qrels = task.dataset["eng-hau"]["test"]["relevant_docs"]
    assert len(qrels) == 1500 and max(len(docs) for docs in qrels.values()) > 1
    assert {grade for docs in qrels.values() for grade in docs.values()} == {4, 5, 6}
    assert {row["metric"] for row in result.cross_check} == {"ndcg_at_10", "mrr_at_10"}
    assert max(row["difference"] for row in result.cross_check) <= 1e-4


def test_a_result_that_fails_the_cross_check_is_one_line_and_is_not_reused(tiny_model, tiny_beir, tmp_path, monkeypatch, capsys):
    import optical_bench.evaluate as evaluate

    real = evaluate.beir_scores
    monkeypatch.setattr(evaluate, "beir_scores", lambda qrels, rankings: {k: v + 0.01 for k, v in real(qrels, rankings).items()})
    out = tmp_path / "out"
    assert _evaluate(tiny_model, tiny_beir, out) == 4
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "in mteb but" in error and "Fix: rerun" in error and "Traceback" not in error
    assert not _scores(out), "the result that failed its check must not stay for the next run"
    monkeypatch.setattr(evaluate, "beir_scores", real)
    assert _evaluate(tiny_model, tiny_beir, out) == 0
    assert "BEIR cross-check: 2 metric values recomputed" in capsys.readouterr().out
