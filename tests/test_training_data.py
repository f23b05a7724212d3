"""The Data step: every text a run reads is decided once, at the top, and named sources work.

MAFAND-MT (news bitext) is read from the real files of masakhane-io/lafand-mt, through the
mirror that users' downloads reproduce (``--hub-dir`` / ``$OPTICAL_BENCH_HUB_DIR``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from optical_bench.cli import main
from optical_bench.config import TrainConfig
from optical_bench.data.beir import read_beir_folder
from optical_bench.data.bitext import BitextFormatError
from optical_bench.data.sources import MAFAND, DataOptions, resolve_training_data

ROOT = Path(__file__).resolve().parents[1]


def _mirrors() -> Path:
    for candidate in (os.environ.get("OPTICAL_BENCH_MIRRORS"), ROOT.parent / "shared" / "mirrors", "/work/shared/mirrors"):
        if candidate and (Path(candidate) / "github.com" / "masakhane-io" / "lafand-mt").is_dir():
            return Path(candidate)
    pytest.skip("no mirror of masakhane-io/lafand-mt: set OPTICAL_BENCH_MIRRORS to the shared mirrors folder")


@pytest.fixture
def own_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_nothing_below_the_command_line_decides_where_training_texts_come_from():
    found = subprocess.run(
        ["grep", "-rln", "build_collections(", str(ROOT / "optical_bench")], capture_output=True, text=True
    ).stdout.split()
    places = sorted(str(Path(path).relative_to(ROOT / "optical_bench")) for path in found)
    # the build itself, the `build` command and the Data step (which the built-in tasks ask for the build)
    assert places == ["cli.py", "data/collections.py", "data/sources.py"]


@pytest.mark.parametrize("language", sorted(MAFAND["train_pairs"]))
def test_every_mirrored_mafand_split_loads_line_aligned(language, own_home):
    from optical_bench.data.sources import _mafand_split

    mirrors = _mirrors()
    splits = ["train", "dev"] if MAFAND["train_pairs"][language] else ["dev"]
    for split in splits:
        pairs = _mafand_split(language, split, mirrors)
        assert pairs and all(pair.lr and pair.en for pair in pairs)
        if split == "train":
            assert len(pairs) == MAFAND["train_pairs"][language]


def test_mafand_is_a_named_source_with_its_own_dev_and_english_pool(own_home):
    mirrors = _mirrors()
    small = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau", "bitext_size": 250})), hub_dir=mirrors)
    large = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau", "bitext_size": 1000})), hub_dir=mirrors)
    assert len(small.pairs()) == 250 and len(large.pairs()) == 1000
    assert {p.lr for p in small.pairs()} <= {p.lr for p in large.pairs()}, "a smaller size is a prefix of a larger one"
    assert small.dataset_id == "masakhane/mafand" and "MAFAND-MT en-hau" in small.bitext.description
    dev = read_beir_folder(small.dev_collection)
    assert len(dev.queries) == 1300 and set(dev.qrels) == {"dev"}
    from optical_bench.tasks import beir_task

    task = beir_task(small.dev_collection, split="dev")  # evaluable as a known-item news task
    assert task.metadata.name == "MafandNewsDev_hau" and task.metadata.eval_langs == {"default": ["hau-Latn", "eng-Latn"]}
    pool = set(small.english_texts(small.english_pool.path))
    assert len(pool) > 2000 and not pool & {p.en for p in small.pairs()}
    assert "no monolingual hau text" in small.mlm_texts.description and small.mlm_texts.path is None
    # an option beats the source's default
    given = resolve_training_data(
        DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau", "dev_collection": str(own_home), "mlm_corpus": "x.txt"})),
        hub_dir=mirrors,
    )
    assert given.dev_collection == own_home and given.mlm_texts.path == Path("x.txt")


def test_mafand_from_the_environment_variable_and_its_errors(own_home, monkeypatch):
    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(_mirrors()))
    assert len(resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-yor", "bitext_size": 10}))).pairs()) == 10
    with pytest.raises(ValueError, match="only a dev split for nya"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-nya"})))
    with pytest.raises(ValueError, match="no English-xyz folder. Fix: use one of mafand-hau"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-xyz"})))
    (own_home / "empty").mkdir(exist_ok=True)
    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(own_home / "empty"))
    with pytest.raises(FileNotFoundError, match="not in the local hub mirror. Fix: `git clone https://github.com/masakhane-io/lafand-mt"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau"})))


def test_named_monolingual_texts_come_from_train_splits_only(own_home):
    """afriqa-<lang>-questions / -questions-en (AfriQA train questions and their English) and
    mafand-<lang>-beyond (the news beyond the pairs taken): never a dev or test text."""
    mirrors = _mirrors()
    if not (mirrors / "github.com" / "masakhane-io" / "afriqa").is_dir():
        pytest.skip("no mirror of masakhane-io/afriqa")
    options = {
        "bitext": "mafand-hau",
        "bitext_size": 1000,
        "mlm_corpus": "afriqa-hau-questions",
        "augmentation_monolingual": "mafand-hau-beyond",
        "augmentation_english": "afriqa-hau-questions-en",
    }
    data = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict(options)), hub_dir=mirrors)
    lines = lambda source: source.path.read_text(encoding="utf-8").splitlines()  # noqa: E731
    queries = mirrors / "github.com/masakhane-io/afriqa/data/queries/hau"
    train = [json.loads(line) for line in (queries / "queries.afriqa.hau.en.train.json").read_text(encoding="utf-8").splitlines() if line]
    dev = [json.loads(line) for line in (queries / "queries.afriqa.hau.en.dev.json").read_text(encoding="utf-8").splitlines() if line]
    assert set(lines(data.mlm_texts)) == {r["question"].strip() for r in train} and "AfriQA hau train split" in data.mlm_texts.description
    assert not set(lines(data.mlm_texts)) & {r["question"].strip() for r in dev}
    assert set(lines(data.augmentation_en)) == {r["translated_question"].strip() for r in train}
    beyond = set(lines(data.augmentation_lr))
    assert len(beyond) > 2000 and not beyond & {p.lr for p in data.pairs()}
    news = resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau", "bitext_size": 250})), hub_dir=mirrors)
    assert len(set(news.english_texts(news.english_pool.path))) > 0
    assert (
        set(
            lines(
                resolve_training_data(
                    DataOptions.of_run(TrainConfig.from_dict({**options, "bitext_size": 250})), hub_dir=mirrors
                ).augmentation_lr
            )
        )
        > beyond
    )
    with pytest.raises(ValueError, match="needs that bitext. Fix: set bitext"):
        resolve_training_data(
            DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-zul", "mlm_corpus": "mafand-hau-beyond"})), hub_dir=mirrors
        )
    with pytest.raises(ValueError, match="no English-pivot questions in 'xyz'. Fix: use one of bem, hau"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({**options, "mlm_corpus": "afriqa-xyz-questions"})), hub_dir=mirrors)


def test_an_experiment_evaluates_a_named_news_collection(own_home, monkeypatch):
    from optical_bench.experiment import _beir_entry

    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(_mirrors()))
    task = _beir_entry({"_path": str(own_home / "study.toml")}, "mafand-hau-dev")
    assert task.metadata.name == "MafandNewsDev_hau" and task.metadata.eval_splits == ["dev"]


def test_a_mirror_whose_sides_differ_in_length_names_the_file(own_home, tmp_path):
    folder = tmp_path / "hub" / "github.com" / "masakhane-io" / "lafand-mt" / "data" / "text_files" / "en-hau"
    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        (folder / f"{split}.hau").write_text("a\nb\nc\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("A\nB\n", encoding="utf-8")
    with pytest.raises(BitextFormatError, match=r"train\.en.*line 3.*not line-aligned"):
        resolve_training_data(DataOptions.of_run(TrainConfig.from_dict({"bitext": "mafand-hau"})), hub_dir=tmp_path / "hub")


def test_training_on_mafand_records_its_source_and_selects_on_its_dev(tiny_model, own_home, tmp_path, capsys, monkeypatch):
    out = tmp_path / "student"
    monkeypatch.chdir(tmp_path)  # a relative --out: the record's paths are relative to the model folder all the same
    command = ["train", "--method", "mse", "--teacher", str(tiny_model), "--bitext", "mafand-hau", "--bitext-size", "32"]
    command += ["--max-steps", "2", "--batch-size", "8", "--eval-steps", "1", "--hub-dir", str(_mirrors()), "--out", "student", "--quiet"]
    assert main(command) == 0
    provenance = json.loads((out / "model" / "optical_bench_provenance.json").read_text(encoding="utf-8"))
    assert provenance["config"]["out"] == ".." and provenance["best_checkpoint"].startswith("../checkpoints/checkpoint-")
    assert "MAFAND-MT en-hau" in provenance["bitext_source"] and provenance["bitext_pairs_used"] == 16
    assert provenance["bitext_dataset"] == "masakhane/mafand" and provenance["config"]["bitext"] == "mafand-hau"
    card = (out / "model" / "README.md").read_text(encoding="utf-8")
    assert 'datasets:\n- "masakhane/mafand"' in card and 'language:\n- "ha"\n- "en"' in card
    assert "Manufa wacce" not in card  # no training text in the card


def test_a_named_source_can_teach_the_query_translator(own_home, monkeypatch):
    from optical_bench.translate import make_translator

    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(_mirrors()))
    translator = make_translator("ibm1:mafand-zul", n_iter=2, progress=False)
    assert translator.describe()["training_pairs"] == MAFAND["train_pairs"]["zul"]
    assert translator.translate_batch(["Umongameli"])[0]  # a word of its news, translated word by word
