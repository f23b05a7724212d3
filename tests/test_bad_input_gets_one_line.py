"""Bad input gets one line naming the file, the line and the fix: no traceback, no silent change."""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
from pathlib import Path

import pytest
from conftest import ENGLISH, LOW_RESOURCE, write_beir

from optical_bench.cli import main
from optical_bench.data.beir import MAX_TEXT_CHARS, BeirFormatError, read_beir_folder


@pytest.fixture
def beir(tmp_path) -> Path:
    queries = {f"q{i}": text for i, text in enumerate(LOW_RESOURCE[:4])}
    corpus = {f"d{i}": text for i, text in enumerate(ENGLISH[:4])}
    return write_beir(tmp_path / "beir", queries, corpus, {f"q{i}": {f"d{i}": 1} for i in range(4)})


def _qrels(folder: Path, text: str) -> None:
    (folder / "qrels" / "test.tsv").write_bytes(text.encode("utf-8"))


# --------------------------------------------------------------------------- BEIR folders


def test_qrels_with_old_mac_line_endings_read_like_any_other(beir):
    expected = read_beir_folder(beir).qrels
    _qrels(beir, "query-id\tcorpus-id\tscore\rq0\td0\t1\rq1\td1\t1\rq2\td2\t1\rq3\td3\t1\r")
    assert read_beir_folder(beir).qrels == expected


@pytest.mark.parametrize(
    ("qrels", "line", "problem"),
    [
        ("query-id\tcorpus-id\tscore\nq0\td0\t1_0\n", 2, "the score '1_0' is not an integer"),
        ("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq0\td0\t2\n", 4, "(q0, d0) is judged 2 here but 1 on line 2"),
        ('query-id\tcorpus-id\tscore\nq0\t"d0\t1\n', 2, "a stray double quote"),
        ("query-id\tcorpus-id\tscore\nq0\td0\t0\nq1\td1\t-1\n", None, "no judgement has a score above 0"),
    ],
)
def test_bad_qrels_name_the_line_and_the_fix(beir, qrels, line, problem):
    _qrels(beir, qrels)
    with pytest.raises(BeirFormatError) as raised:
        read_beir_folder(beir)
    assert raised.value.line == line and problem in str(raised.value) and "Fix:" in str(raised.value)


def test_a_repeated_identical_judgement_is_read_once(beir):
    _qrels(beir, "query-id\tcorpus-id\tscore\nq0\td0\t1\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    assert read_beir_folder(beir).qrels["test"]["q0"] == {"d0": 1}


def test_unjudged_queries_and_a_missing_header_are_said(beir, caplog):
    _qrels(beir, "q0\td0\t1\nq1\td1\t1\n")
    with caplog.at_level(logging.WARNING):
        collection = read_beir_folder(beir)
    assert collection.qrels["test"] == {"q0": {"d0": 1}, "q1": {"d1": 1}}
    assert "line 1: a judgement, not the header" in caplog.text and "BEIR's GenericDataLoader skips" in caplog.text
    assert "2 of 4 queries have no judgement above 0" in caplog.text


def test_a_corpus_that_is_a_folder_or_a_link_loop_is_named(beir):
    (beir / "corpus.jsonl").unlink()
    (beir / "corpus.jsonl").mkdir()
    with pytest.raises(BeirFormatError, match="the corpus file is a folder"):
        read_beir_folder(beir)
    (beir / "corpus.jsonl").rmdir()
    os.symlink(beir / "loop-a", beir / "corpus.jsonl")
    os.symlink(beir / "corpus.jsonl", beir / "loop-a")
    with pytest.raises(BeirFormatError, match="a loop of symbolic links"):
        read_beir_folder(beir)


def test_a_title_that_is_not_a_string_is_refused(beir):
    rows = (beir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    rows[2] = json.dumps({"_id": "d2", "title": 42, "text": ENGLISH[2]})
    (beir / "corpus.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(BeirFormatError) as raised:
        read_beir_folder(beir)
    assert raised.value.line == 3 and "the title of 'd2' is a int, not a string" in str(raised.value)


def test_an_over_long_document_is_cut_when_read_and_named(beir, caplog):
    with open(beir / "corpus.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"_id": "huge", "text": "mawu " * 100_000}) + "\n")
    with caplog.at_level(logging.WARNING):
        collection = read_beir_folder(beir)
    assert len(collection.corpus["huge"]["text"]) == MAX_TEXT_CHARS
    assert "line 5: the text of 'huge' has 500000 characters" in caplog.text


def test_an_over_long_hub_document_is_cut_when_read_and_named(caplog):
    from optical_bench.data.hub import _read_corpus

    records = [("corpus.jsonl", 1, {"id": "a", "text": "short"}), ("corpus.jsonl", 2, {"id": "huge", "text": "mawu " * 30_000})]
    with caplog.at_level(logging.WARNING):
        corpus = _read_corpus(records, {"id": "id", "text": "text"})
    assert corpus["a"]["text"] == "short" and len(corpus["huge"]["text"]) == MAX_TEXT_CHARS
    assert "corpus.jsonl, line 2: the text of 'huge' has 150000 characters" in caplog.text


# --------------------------------------------------------------------------- configs and flags


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('max_steps = "3"', 'max_steps = "3" is a string, not an integer'),
        ("max_steps = 3.7", "max_steps = 3.7 is a decimal number, not an integer"),
        ("max_steps = true", "max_steps = true is a boolean, not an integer"),
        ('learning_rate = "fast"', 'learning_rate = "fast" is a string, not a number'),
        ("warmup_ratio = 7", "--warmup-ratio 7 is outside [0.0, 1.0]"),
    ],
)
def test_config_values_of_the_wrong_type_or_range_are_refused(tmp_path, line, problem, capsys):
    config = tmp_path / "train.toml"
    config.write_text(f'[train]\nmethod = "mse"\n{line}\n', encoding="utf-8")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert problem in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[experiment]\nname = "x"\ntask = ["OpticalBibleRetrieval"]\n', "unknown key of [experiment] 'task' (did you mean 'tasks'?)"),
        ('[experiment]\nname = "x"\n[default]\nmax_steps = 3\n', "unknown table 'default' (did you mean 'defaults'?)"),
    ],
)
def test_misspelt_experiment_keys_and_tables_are_refused(tmp_path, toml, problem, capsys):
    config = tmp_path / "x.toml"
    config.write_text(toml + '\n[[runs]]\nname = "zero"\nmethod = "zero-shot"\n', encoding="utf-8")
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 2
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--verify-cache", "-3"], "argument --verify-cache: -3 is negative"),
        (["--devices", "cuda:0"], "this machine has no CUDA device"),
        (["--devices", "cuda:0", "cuda:1"], "this machine has no CUDA device"),
        (["--devices", "gpu7"], "'gpu7' is not a torch device"),
    ],
)
def test_flags_the_machine_cannot_honour_are_refused(tiny_model, beir, tmp_path, flags, problem, capsys):
    import torch

    if torch.cuda.is_available() and "cuda" in problem:
        pytest.skip("this machine has CUDA devices")
    with pytest.raises(SystemExit) as raised:
        main(["evaluate", "--model", str(tiny_model), "--beir", str(beir), "--out", str(tmp_path / "out"), *flags])
    assert raised.value.code == 2 and problem in capsys.readouterr().err


def test_a_home_that_is_a_file_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "home").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    assert main(["fetch"]) == 2
    assert "$OPTICAL_BENCH_HOME is" in capsys.readouterr().err


# --------------------------------------------------------------------------- damaged files


def test_a_truncated_weights_file_is_named_with_the_fix(tiny_model, beir, tmp_path, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (weights,) = model.rglob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["evaluate", "--model", str(model), "--beir", str(beir), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert str(weights) in error and "the weights file is damaged" in error and "Fix:" in error


def test_a_checkpoint_with_refused_pickles_is_set_aside_and_named(tmp_path):
    from optical_bench.training.student import resume_or_set_aside

    checkpoint = tmp_path / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)

    class RefusingTrainer:
        def train(self, resume_from_checkpoint=None):
            raise pickle.UnpicklingError("Weights only load failed.\nUnsupported global: GLOBAL os.system")

    with pytest.raises(ValueError, match="checkpoint-4: a file of this checkpoint cannot be read .*Fix: rerun"):
        resume_or_set_aside(RefusingTrainer(), str(checkpoint))
    assert not checkpoint.exists() and list(checkpoint.parent.glob("checkpoint-4.unreadable-*"))


def test_a_full_disk_while_writing_weights_is_one_line(tmp_path, monkeypatch, capsys):
    from safetensors import SafetensorError

    import optical_bench.cli as cli

    def full_disk(args):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })')

    monkeypatch.setattr(cli, "cmd_fetch", full_disk)
    assert main(["fetch"]) == 5
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "No space left" in error and "Fix: free disk space" in error


def test_a_checksum_file_with_foreign_bytes_is_a_corrupt_entry_recomputed(tiny_model, beir, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    command = ["evaluate", "--model", str(tiny_model), "--beir", str(beir), "--quiet", "--out"]
    assert main([*command, str(tmp_path / "a")]) == 0
    (checksum,) = (tmp_path / "home").rglob("*.sha256")
    checksum.write_bytes(b"\xff\xfe not a checksum")
    with caplog.at_level(logging.WARNING):
        assert main([*command, str(tmp_path / "b")]) == 0
    assert f"its checksum {checksum.name} does not match" in caplog.text


def test_finished_results_are_read_from_a_read_only_folder(tiny_model, beir, tmp_path, monkeypatch, capsys):
    import optical_bench.io as obio

    out = tmp_path / "out"
    command = ["evaluate", "--model", str(tiny_model), "--name", "tiny", "--beir", str(beir), "--quiet", "--out", str(out)]
    assert main(command) == 0
    first = capsys.readouterr().out
    real_open, real_write = os.open, obio.atomic_write_bytes

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(out)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return (real_open if args else real_write)(path, *args, **kwargs)

    monkeypatch.setattr(obio.os, "open", read_only)
    monkeypatch.setattr(obio, "atomic_write_bytes", lambda path, data: read_only(path))
    monkeypatch.setattr("optical_bench.result_files.atomic_write_json", lambda path, *a, **k: read_only(path))
    assert main(command) == 0
    again = capsys.readouterr().out
    table = [line for line in first.splitlines() if line.startswith("| BEIR_")]
    assert table and table == [line for line in again.splitlines() if line.startswith("| BEIR_")]


def test_an_out_folder_that_cannot_be_written_is_one_line(tiny_model, beir, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where --out should be a folder", encoding="utf-8")
    assert main(["evaluate", "--model", str(tiny_model), "--beir", str(beir), "--quiet", "--out", str(blocker / "out")]) == 5
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(blocker) in error and "Fix:" in error and "Traceback" not in error
