"""AfriCLIRMatrix on the real file layout: queries and qrels from the GitHub repository
castorini/africlirmatrix, the corpus from the hub dataset castorini/africlirmatrix.

The mirror below reproduces both trees file for file (tiny contents). ``hf_hub_download`` and
``urllib.request.urlopen`` are replaced by functions that serve files from it, so the code
that runs is the code that reads the real hub and GitHub.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from optical_bench.evaluate import EvaluationOptions, evaluate_model
from optical_bench.tasks import TaskCardError, cards_dir, get_tasks, load_card, make_task

TASK = "AfriCLIRMatrixRetrieval"
GITHUB_REPO = "castorini/africlirmatrix"
HUB_REPO = "castorini/africlirmatrix"
RAW = "https://raw.githubusercontent.com/castorini/africlirmatrix/main/"
# the 15 languages of the GitHub repository's test/ folder
GITHUB_CODES = ("afr", "amh", "ary", "arz", "hau", "ibo", "nso", "sna", "som", "swa", "tir", "twi", "wol", "yor", "zul")
# the card's subsets: language code -> corpus folder name on the hub
CORPUS_NAMES = {
    "afr": "afrikaans",
    "amh": "amharic",
    "ary": "moroccan_arabic",
    "arz": "egyptian_arabic",
    "hau": "hausa",
    "ibo": "igbo",
    "nso": "northern_sotho",
    "sna": "shona",
    "som": "somali",
    "swa": "swahili",
    "tir": "tigrinya",
    "twi": "twi",
    "wol": "wolof",
    "yor": "yoruba",
    "zul": "zulu",
}

# Hausa: English Wikipedia titles against Hausa articles, graded 4-6 like the real qrels
HAUSA_TOPICS = {"40304604": "Addis Ababa Light Rail", "3171426": "Sibiloi National Park", "24855587": "Agadez Mosque"}
HAUSA_QRELS = [("40304604", "6271", 5), ("3171426", "20769", 6), ("24855587", "21772", 6), ("24855587", "2316", 4)]
HAUSA_CORPUS = [
    ("6271", "Layin dogo na Addis Ababa hanyar jirgin kasa ce a birnin Addis Ababa."),
    ("20769", "Gandun dajin Sibiloi yana arewacin kasar Kenya."),
    ("21772", "Masallacin Agadez masallaci ne a birnin Agadez na Nijar."),
    ("2316", "Agadez birni ne a kasar Nijar."),
    ("9999", "Kano birni ne a arewacin Najeriya."),  # judged for no query
]


def _write_mirror(root: Path) -> Path:
    """Both trees in the ``--hub-dir`` layout: the GitHub repository (as a clone) under
    ``<root>/github.com/castorini/africlirmatrix/`` (README, figure, test/queries, test/qrels,
    15 languages), the hub dataset under ``<root>/castorini/africlirmatrix/`` (loading script,
    README, one ``africlirmatrix-v1.0-<language>/corpus.jsonl`` per subset of the card)."""
    github = root / "github.com" / GITHUB_REPO
    (github / "figures").mkdir(parents=True)
    (github / "test" / "queries").mkdir(parents=True)
    (github / "test" / "qrels").mkdir(parents=True)
    (github / "README.md").write_text(
        "# AfriCLIRMatrix: Enabling Cross-Lingual Information Retrieval for African Languages\n", encoding="utf-8"
    )
    (github / "figures" / "ndcg_plot.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    for code in GITHUB_CODES:
        if code == "hau":
            topics = HAUSA_TOPICS
            qrels = HAUSA_QRELS
        else:
            topics = {"1001": f"Query in English for {code}", "1002": "Another Wikipedia title"}
            qrels = [("1001", f"{code}-1", 4), ("1002", f"{code}-2", 5)]
        (github / "test" / "queries" / f"topics.africlirmatrix-v1.0.en.{code}.tsv").write_text(
            "".join(f"{qid}\t{title}\n" for qid, title in topics.items()), encoding="utf-8"
        )
        (github / "test" / "qrels" / f"qrels.africlirmatrix-v1.0.en.{code}.txt").write_text(
            "".join(f"{qid} Q0 {did} {grade}\n" for qid, did, grade in qrels), encoding="utf-8"
        )
    hub = root / HUB_REPO
    hub.mkdir(parents=True)
    (hub / "africlirmatrix.py").write_text("raise RuntimeError('a loading script: must never be read')\n", encoding="utf-8")
    (hub / "README.md").write_text("---\nlicense: apache-2.0\n---\n# AfriCLIRMatrix\n", encoding="utf-8")
    for code, name in CORPUS_NAMES.items():
        documents = HAUSA_CORPUS if code == "hau" else [(f"{code}-1", f"article one in {name}"), (f"{code}-2", f"article two in {name}")]
        _write_corpus(
            hub / f"africlirmatrix-v1.0-{name}" / "corpus.jsonl", [json.dumps({"id": did, "contents": text}) for did, text in documents]
        )
    return root


def _write_corpus(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def mirror(tmp_path) -> Path:
    return _write_mirror(tmp_path / "mirror")


@pytest.fixture
def own_home(tmp_path, monkeypatch) -> Path:
    """A fresh optical-bench cache folder: nothing downloaded yet."""
    home = tmp_path / "home"
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(home))
    return home


@pytest.fixture
def served(mirror, own_home, monkeypatch):
    """The hub and GitHub served from the mirror; returns the lists of files asked for."""
    import datasets
    import huggingface_hub

    calls = {"hub": [], "github": []}

    def fake_hf_hub_download(repo_id, filename, repo_type=None, revision=None, **kwargs):
        calls["hub"].append((repo_id, filename, repo_type, revision))
        path = mirror / repo_id / filename
        if not path.exists():
            raise huggingface_hub.errors.EntryNotFoundError(f"{repo_id}/{filename}")
        return str(path)

    def fake_urlopen(url, timeout=None):
        calls["github"].append(url)
        assert url.startswith(RAW), url
        path = mirror / "github.com" / GITHUB_REPO / url[len(RAW) :]
        if not path.exists():
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return io.BytesIO(path.read_bytes())

    def refuse_load_dataset(*args, **kwargs):
        raise AssertionError("datasets.load_dataset must not be used: the hub repository's loading script is refused")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the GitHub files are downloaded
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hf_hub_download)
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(datasets, "load_dataset", refuse_load_dataset)
    return calls


def _check_hausa(task) -> None:
    split = task.dataset["eng-hau"]["test"]
    assert split["corpus"].num_rows == len(HAUSA_CORPUS)
    assert split["queries"].num_rows == len(HAUSA_TOPICS)
    assert dict(zip(split["queries"]["id"], split["queries"]["text"])) == HAUSA_TOPICS
    expected = {}
    for qid, did, grade in HAUSA_QRELS:
        expected.setdefault(qid, {})[did] = grade
    assert split["relevant_docs"] == expected  # graded relevance (4-6) kept as it is
    texts = dict(zip(split["corpus"]["id"], split["corpus"]["text"]))
    assert texts["21772"] == HAUSA_CORPUS[2][1]


def test_card_names_the_real_paths_and_the_papers_measure():
    card = load_card(cards_dir() / f"{TASK}.toml")
    assert card.main_score == "ndcg_at_10" and card.low_resource_side == "document"
    assert card.source["github_repo"] == GITHUB_REPO and card.source["corpus_repo"] == HUB_REPO
    assert set(card.subsets) == {f"eng-{code}" for code in GITHUB_CODES}  # all 15 languages
    for subset in card.subsets.values():
        code, name = subset["vars"]["code"], subset["vars"]["name"]
        assert code in GITHUB_CODES and CORPUS_NAMES[code] == name


def test_loads_through_get_tasks_from_github_and_the_hub_and_evaluates_with_its_measures(served, own_home, tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    (task,) = get_tasks([TASK])  # no --hub-dir: the code path of the real hub and GitHub
    task.load_data()
    wanted = {
        (f"test/queries/topics.africlirmatrix-v1.0.en.{code}.tsv", f"test/qrels/qrels.africlirmatrix-v1.0.en.{code}.txt")
        for code in CORPUS_NAMES
    }
    assert sorted(served["github"]) == sorted(RAW + name for pair in wanted for name in pair)
    assert sorted(call[1] for call in served["hub"]) == sorted(f"africlirmatrix-v1.0-{name}/corpus.jsonl" for name in CORPUS_NAMES.values())
    assert all(call[0] == HUB_REPO and call[2] == "dataset" and call[3] == "main" for call in served["hub"])
    assert not any("africlirmatrix.py" in call[1] or call[1] == "README.md" for call in served["hub"])  # the script is never read
    _check_hausa(task)
    for subset in sorted(f"eng-{code}" for code in CORPUS_NAMES if code != "hau"):
        split = task.dataset[subset]["test"]
        assert split["corpus"].num_rows == 2 and split["queries"].num_rows == 2 and sum(map(len, split["relevant_docs"].values())) == 2

    # the GitHub files were written whole into the cache folder, and are read from there next time
    cached = own_home / "github" / GITHUB_REPO / "main" / "test" / "queries" / "topics.africlirmatrix-v1.0.en.hau.tsv"
    assert cached.read_text(encoding="utf-8").count("\n") == len(HAUSA_TOPICS)
    assert not [p for p in (own_home / "github").rglob("*") if p.name.endswith(".tmp")]
    served["github"].clear()
    (again,) = get_tasks([TASK])
    again.load_data()
    assert served["github"] == []

    model = SentenceTransformer(str(tiny_model), device="cpu")
    result = evaluate_model(
        model, [task], tmp_path / "out", name="tiny", revision="a1", options=EvaluationOptions(progress=False, cache_embeddings=False)
    )
    rows = result.scores[TASK]["test"]
    assert {row["hf_subset"] for row in rows} == set(task.hf_subsets)
    for scores in rows:
        assert scores["main_score"] == scores["ndcg_at_10"] and "recall_at_100" in scores  # the paper's measures


def test_reads_local_mirrors_with_hub_dir(mirror, own_home, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("no download with --hub-dir")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    task = make_task(load_card(cards_dir() / f"{TASK}.toml"), hub_dir=mirror)
    task.load_data()
    _check_hausa(task)
    assert not (own_home / "github").exists()


def test_a_missing_clone_in_the_mirror_says_where_to_put_it(mirror, own_home):
    import shutil

    shutil.rmtree(mirror / "github.com")
    (task,) = get_tasks([TASK], hub_dir=mirror)
    with pytest.raises(FileNotFoundError) as error:
        task.load_data()
    message = str(error.value)
    expected_path = mirror / "github.com" / GITHUB_REPO / "test" / "queries" / "topics.africlirmatrix-v1.0.en.hau.tsv"
    assert str(expected_path) in message and "not in the local hub mirror" in message
    assert f"git clone https://github.com/{GITHUB_REPO} {mirror}/github.com/{GITHUB_REPO}" in message


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"id": "2316", "contents": "Agadez birni ne', "not JSON"),
        ("", "empty line"),
        ('{"docid": "2316", "text": "Agadez birni ne a kasar Nijar."}', "no field 'id', 'contents'"),
        ('{"id": "6271", "contents": "the same id twice"}', "document id '6271' was already read"),
        ('["2316", "Agadez"]', "not an object"),
    ],
)
def test_a_malformed_corpus_line_names_the_file_the_line_and_the_fix(served, mirror, line, problem):
    path = mirror / HUB_REPO / "africlirmatrix-v1.0-hausa" / "corpus.jsonl"
    good = [json.dumps({"id": did, "contents": text}) for did, text in HAUSA_CORPUS]
    _write_corpus(path, good[:2] + [line] + good[2:])
    card = load_card(cards_dir() / f"{TASK}.toml")
    card.subsets = {"eng-hau": card.subsets["eng-hau"]}
    task = make_task(card)
    with pytest.raises(TaskCardError) as error:
        task.load_data()
    message = str(error.value)
    assert message.startswith(f"{path}, line 3: ") and problem in message and "Fix:" in message


def test_offline_without_a_mirror_names_the_url_and_the_fix(own_home, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("offline: nothing may be downloaded")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    (task,) = get_tasks([TASK])
    with pytest.raises(FileNotFoundError) as error:
        task.load_data()
    message = str(error.value)
    assert RAW + "test/queries/topics.africlirmatrix-v1.0.en." in message
    assert "OPTICAL_BENCH_ONLINE=1" in message and "--hub-dir" in message and f"git clone https://github.com/{GITHUB_REPO}" in message


def test_an_unreachable_github_names_the_url_and_the_fix(own_home, monkeypatch):
    def unreachable(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    (task,) = get_tasks([TASK])
    with pytest.raises(ConnectionError) as error:
        task.load_data()
    message = str(error.value)
    assert RAW + "test/queries/topics.africlirmatrix-v1.0.en." in message and "--hub-dir" in message
    assert not (own_home / "github").exists() or not [p for p in (own_home / "github").rglob("*") if p.is_file()]


def test_an_offline_hub_names_the_corpus_file_and_the_fix(mirror, own_home, monkeypatch):
    """Queries and qrels already downloaded, the corpus not: the real ``hf_hub_download``, offline."""
    import shutil

    clone = mirror / "github.com" / GITHUB_REPO
    shutil.copytree(clone / "test", own_home / "github" / GITHUB_REPO / "main" / "test")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    card = load_card(cards_dir() / f"{TASK}.toml")
    card.subsets = {"eng-hau": card.subsets["eng-hau"]}
    task = make_task(card)
    with pytest.raises(FileNotFoundError) as error:
        task.load_data()
    message = str(error.value)
    assert f"https://huggingface.co/datasets/{HUB_REPO}/blob/main/africlirmatrix-v1.0-hausa/corpus.jsonl" in message
    assert "--hub-dir" in message and "OPTICAL_BENCH_ONLINE=1" in message


def test_the_real_topics_and_qrels_of_all_15_languages_load(tmp_path):
    """The mirror's real test/queries and test/qrels of every language, with a synthetic corpus per
    language that holds every judged document id (the corpora are on the hub only)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import mirror_root

    root = mirror_root(GITHUB_REPO)
    if root is None:
        pytest.skip(f"no mirror of {GITHUB_REPO}: set OPTICAL_BENCH_MIRRORS to the shared mirrors folder")
    hub = tmp_path / "hub"
    (hub / "github.com" / "castorini").mkdir(parents=True)
    (hub / "github.com" / GITHUB_REPO).symlink_to(root / "github.com" / GITHUB_REPO)
    judged, queries = {}, {}
    for code, name in CORPUS_NAMES.items():
        qrels = root / "github.com" / GITHUB_REPO / "test" / "qrels" / f"qrels.africlirmatrix-v1.0.en.{code}.txt"
        lines = [line.split() for line in qrels.read_text(encoding="utf-8").splitlines() if line.strip()]
        judged[code], queries[code] = sorted({cells[2] for cells in lines}), {cells[0] for cells in lines}
        _write_corpus(
            hub / HUB_REPO / f"africlirmatrix-v1.0-{name}" / "corpus.jsonl",
            [json.dumps({"id": did, "contents": f"{name} article {did}"}) for did in judged[code]],
        )
    task = make_task(load_card(cards_dir() / f"{TASK}.toml"), hub_dir=hub)
    task.load_data()
    for code in CORPUS_NAMES:
        split = task.dataset[f"eng-{code}"]["test"]
        assert split["corpus"].num_rows == len(judged[code])
        assert split["queries"].num_rows == len(split["relevant_docs"]) == len(queries[code]) > 0
        assert {grade for docs in split["relevant_docs"].values() for grade in docs.values()} <= {4, 5, 6}
