"""Faults and bad input: kill -9 at several points, corrupted cache entries, hostile configs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ENGLISH, LOW_RESOURCE, lock_held_by_another_process, write_beir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture
def tiny_experiment(tiny_model, tiny_bitext, tmp_path) -> Path:
    queries = {f"q{i}": text for i, text in enumerate(LOW_RESOURCE)}
    corpus = {f"d{i}": text for i, text in enumerate(ENGLISH)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(len(corpus))}
    test = write_beir(tmp_path / "test-collection", queries, corpus, qrels)
    dev = write_beir(tmp_path / "dev-collection", queries, corpus, qrels, split="dev")
    config = tmp_path / "tiny.toml"
    config.write_text(
        f"""
[experiment]
name = "tiny"
beir = ["{test}"]

[defaults]
teacher = "{tiny_model}"
bitext = "{tiny_bitext}"
dev_collection = "{dev}"
max_steps = 6
eval_steps = 2
batch_size = 4
learning_rate = 0.001

[[runs]]
name = "centering"
method = "centering"

[[runs]]
name = "optical"
method = "optical"

[[runs]]
name = "mse"
method = "mse"
""",
        encoding="utf-8",
    )
    return config


def _run(config: Path, out: Path, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    command = [sys.executable, "-m", "optical_bench.cli", "run", str(config), "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill_after is None:
        return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    time.sleep(kill_after)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return None


def _final_rows(out: Path) -> list[dict]:
    summary = json.loads((out / "summary.json").read_text())
    return sorted((row["run"], row["task"], round(row["ndcg_at_10"], 6), round(row["recall_at_1"], 6)) for row in summary["rows"])


def test_killing_the_runner_at_several_points_loses_nothing_and_gives_the_same_results(tiny_experiment, tmp_path):
    reference = _run(tiny_experiment, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-3000:]
    interrupted = tmp_path / "interrupted"
    kills = 0
    for delay in (6.0, 11.0, 16.0, 21.0):
        _run(tiny_experiment, interrupted, kill_after=delay)
        kills += 1
    completed = _run(tiny_experiment, interrupted)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _final_rows(interrupted) == _final_rows(tmp_path / "reference")
    assert (interrupted / "report.md").read_text().startswith("## optical-bench report")
    for path in interrupted.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))  # no corrupted file anywhere
    assert not list(interrupted.rglob("*.tmp")), "no temporary file is left behind"
    assert kills == 4

    # a second run of the same config is a no-op: nothing is trained, every result is cached
    started = time.perf_counter()
    again = _run(tiny_experiment, tmp_path / "reference")
    assert again.returncode == 0
    timings = json.loads((tmp_path / "reference" / "summary.json").read_text())["timings"]
    assert all(stage["train_s"] < 1.0 for stage in timings.values())
    assert time.perf_counter() - started < 120


def test_two_runners_on_one_folder_lose_nothing_and_mix_nothing(tiny_experiment, tmp_path):
    command = [sys.executable, "-m", "optical_bench.cli", "run", str(tiny_experiment), "--out", str(tmp_path / "shared"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-3000:] for _, err in outputs]
    reference = _run(tiny_experiment, tmp_path / "alone")
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert _final_rows(tmp_path / "shared") == _final_rows(tmp_path / "alone")
    models = sorted(p.name for p in (tmp_path / "shared" / "models").iterdir() if p.is_dir())
    assert len(models) == 3 and not any("superseded" in name for name in models)  # one folder per run, none set aside
    for path in (tmp_path / "shared").rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    assert not list((tmp_path / "shared").rglob("*.tmp"))


def test_a_runner_takes_the_next_free_run_while_another_process_holds_one(tiny_experiment, tmp_path, capsys):
    from optical_bench.experiment import _run_config, load_experiment, run_experiment

    experiment = load_experiment(tiny_experiment)
    out = tmp_path / "grid"
    folders = [Path(_run_config(experiment, run, out).out) for run in experiment["runs"]]
    with lock_held_by_another_process(folders[0], "the model folder", seconds=4):
        assert run_experiment(tiny_experiment, out, progress=False) == 0
    assert "centering is being trained or evaluated by another process: coming back to it" in capsys.readouterr().out
    finished = [(folder / "model" / "optical_bench_provenance.json").stat().st_mtime for folder in folders]
    assert finished[0] > max(finished[1:]), "the held run was taken up after the free ones"
    assert [row["run"] for row in json.loads((out / "summary.json").read_text())["rows"]] == ["centering", "optical", "mse"]

    # the grid's folder is an mteb result cache, and each run's study options select it
    import mteb

    from optical_bench.experiment import study_options

    cache = mteb.ResultCache(out)
    options = {run["name"]: study_options(_run_config(experiment, run, out)) for run in experiment["runs"]}
    assert options["optical"]["method"] == "optical" and "seed" in options["optical"]
    selected = cache.load_results(include_remote=False, experiment_kwargs=options["mse"])
    assert [r.model_name for r in selected.model_results] == ["optical-bench/mse"]
    everything = cache.load_results(include_remote=False, load_experiments="match_name")
    assert sorted(r.model_name for r in everything.model_results) == [
        "optical-bench/centering",
        "optical-bench/mse",
        "optical-bench/optical",
    ]


def test_a_corrupted_document_embedding_is_detected_and_recomputed(tiny_model, tiny_beir, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    cache_home = tmp_path / "home"
    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(cache_home))  # an empty cache

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.tasks import beir_task

    model = SentenceTransformer(str(tiny_model), device="cpu")
    first = evaluate_model(
        model, [beir_task(tiny_beir)], tmp_path / "a", name="tiny", revision="k1", options=EvaluationOptions(progress=False)
    )
    entries = sorted((cache_home / "embeddings").rglob("*.npy"), key=lambda p: p.stat().st_mtime)
    victim = entries[-1]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # truncated
    second = evaluate_model(
        model, [beir_task(tiny_beir)], tmp_path / "b", name="tiny", revision="k2", options=EvaluationOptions(progress=False)
    )
    assert second.cache_stats["document_misses"] == 1
    a = next(iter(first.scores.values()))["test"][0]["ndcg_at_10"]
    b = next(iter(second.scores.values()))["test"][0]["ndcg_at_10"]
    assert a == pytest.approx(b)
    flipped = bytearray(victim.read_bytes())
    flipped[-5] ^= 0xFF  # a loadable file with one wrong value: caught by its checksum
    victim.write_bytes(bytes(flipped))
    third = evaluate_model(
        model, [beir_task(tiny_beir)], tmp_path / "c", name="tiny", revision="k3", options=EvaluationOptions(progress=False)
    )
    assert third.cache_stats["document_misses"] == 1


def test_a_corrupt_result_file_is_recomputed(tiny_model, tiny_beir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.tasks import beir_task

    model = SentenceTransformer(str(tiny_model), device="cpu")
    task = beir_task(tiny_beir)
    evaluate_model(model, [task], tmp_path, name="tiny", revision="r", options=EvaluationOptions(progress=False))
    result_file = tmp_path / "results" / "optical-bench__tiny" / "r" / f"{task.metadata.name}.json"
    result_file.write_text(result_file.read_text()[:50], encoding="utf-8")
    evaluate_model(model, [beir_task(tiny_beir)], tmp_path, name="tiny", revision="r", options=EvaluationOptions(progress=False))
    assert json.loads(result_file.read_text())["task_name"] == task.metadata.name


def test_resuming_a_finished_evaluation_keeps_its_summary(tiny_model, tiny_beir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.tasks import beir_task

    model = SentenceTransformer(str(tiny_model), device="cpu")
    options = EvaluationOptions(progress=False)
    first = evaluate_model(model, [beir_task(tiny_beir)], tmp_path, name="tiny", revision="r", options=options)
    summary_file = next(tmp_path.glob("results/*/r/optical_bench/summary.json"))
    written = json.loads(summary_file.read_text())
    assert first.evaluated == written["evaluated_tasks"] == [beir_task(tiny_beir).metadata.name]
    assert written["seconds"] > 0 and sum(written["cache"].values()) > 0

    again = evaluate_model(model, [beir_task(tiny_beir)], tmp_path, name="tiny", revision="r", options=options)
    assert again.evaluated == [] and again.summary_rows() == first.summary_rows()
    assert json.loads(summary_file.read_text()) == written  # not blanked by the resume

    result_file = summary_file.parent.parent / f"{beir_task(tiny_beir).metadata.name}.json"
    result_file.unlink()  # a lost result is computed again, and the summary then says so
    third = evaluate_model(model, [beir_task(tiny_beir)], tmp_path, name="tiny", revision="r", options=options)
    assert third.evaluated == written["evaluated_tasks"]
    assert json.loads(summary_file.read_text())["cache"]["document_hits"] > 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(st.integers(), st.text(max_size=5), st.booleans()), max_size=4))
def test_unknown_or_mistyped_training_options_are_refused_before_work_starts(options):
    from optical_bench.training import TrainConfig

    known = set(TrainConfig().to_dict())  # the flat keys
    if set(options) <= known:
        return
    with pytest.raises(ValueError, match="(?i)unknown (training option|recipe)"):
        TrainConfig.from_dict(options)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_task_card_text_parses_or_fails_with_a_task_card_error(text, tmp_path):
    from optical_bench.tasks import TaskCardError, load_card

    path = tmp_path / "Card.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_card(path)
    except TaskCardError as error:
        assert str(path) in str(error)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(max_size=30), max_size=6))
def test_any_bitext_file_reads_or_fails_naming_the_file(lines, tmp_path):
    from optical_bench.data.bitext import BitextFormatError, read_bitext

    path = tmp_path / "b.tsv"
    path.write_text("\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines), encoding="utf-8")
    try:
        pairs = read_bitext(path)
        assert all(p.lr.strip() and p.en.strip() for p in pairs)
    except BitextFormatError as error:
        assert str(path) in str(error)


def test_experiment_config_errors_name_the_file(tmp_path):
    from optical_bench.experiment import load_experiment

    bad = tmp_path / "bad.toml"
    bad.write_text("[[runs]]\nmethod = 'optical'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unique name"):
        load_experiment(bad)
    bad.write_text("[experiment\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_experiment(bad)
    with pytest.raises(FileNotFoundError, match="no such experiment config"):
        load_experiment(tmp_path / "missing.toml")


def test_remote_code_stays_off_unless_asked(tiny_model, monkeypatch):
    import sentence_transformers

    from optical_bench.models import load_sentence_transformer

    seen = {}
    original = sentence_transformers.SentenceTransformer.__init__

    def spy(self, *args, **kwargs):
        seen.update(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "__init__", spy)
    load_sentence_transformer(str(tiny_model))
    assert seen["trust_remote_code"] is False


def test_cli_errors_are_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "optical_bench.cli", "evaluate", "--model", "all-minilm-l6-v3", "--beir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "optical-bench: error:" in result.stderr and "Traceback" not in result.stderr


def test_weights_load_through_safetensors_only_unless_allowed(tiny_model, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    from optical_bench.models import load_sentence_transformer

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    weights = next(pickled.rglob("model.safetensors"))
    torch.save(load_file(str(weights)), weights.with_name("pytorch_model.bin"))
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="no safetensors weights"):
        load_sentence_transformer(str(pickled))
    assert load_sentence_transformer(str(pickled), allow_pickled_weights=True) is not None


def test_a_run_folder_trained_under_a_changed_default_is_set_aside_not_reused(tmp_path, capsys):
    from optical_bench.experiment import set_aside_if_stale
    from optical_bench.training import TrainConfig, options_changed_since

    folder = tmp_path / "models" / "bitext250-mlmall-0123456789"
    config = TrainConfig.from_dict({"mlm_texts": "all", "out": str(folder)})
    assert set_aside_if_stale(config) is None  # nothing there yet
    (folder / "model").mkdir(parents=True)
    recorded = config.to_dict() | {"mlm_head_warmup_steps": 0, "out": "elsewhere"}
    recorded.pop("mlm_head_learning_rate")  # an option added after the folder was trained
    (folder / "train_config.json").write_text(json.dumps(recorded), encoding="utf-8")
    (folder / "model" / "weights").write_text("finished work", encoding="utf-8")

    assert options_changed_since(folder, config) == {"mlm_head_warmup_steps": (0, config.mlm.head_warmup_steps)}
    moved = set_aside_if_stale(config)
    assert moved == folder.with_name(folder.name + ".superseded-1")
    assert not folder.exists() and (moved / "model" / "weights").read_text() == "finished work"
    assert "mlm_head_warmup_steps 0 -> 100" in capsys.readouterr().out

    # a folder recorded with the same options (tuples and lists alike) is current
    folder.mkdir()
    (folder / "train_config.json").write_text(json.dumps(config.to_dict()), encoding="utf-8")
    assert options_changed_since(folder, config) == {} and set_aside_if_stale(config) is None


def test_train_refuses_to_resume_a_folder_started_with_other_options(tiny_model, tiny_bitext, tmp_path):
    from optical_bench.training import TrainConfig, train

    out = tmp_path / "run"
    out.mkdir()
    started = TrainConfig(method="mse", teacher=str(tiny_model), bitext=str(tiny_bitext), out=str(out), learning_rate=1e-3)
    (out / "train_config.json").write_text(json.dumps(started.to_dict()), encoding="utf-8")
    again = TrainConfig(method="mse", teacher=str(tiny_model), bitext=str(tiny_bitext), out=str(out), learning_rate=2e-3)
    with pytest.raises(ValueError, match=r"learning_rate 0\.001 -> 0\.002.*another --out"):
        train(again, progress=False)
    assert json.loads((out / "train_config.json").read_text())["learning_rate"] == 1e-3, "the record is left as it was"


def test_a_grid_evaluates_each_run_s_variants_under_their_own_names(tiny_experiment, tmp_path):
    """[experiment.variants]: every run fused with BM25, one run scored by MaxSim too; each
    variant's results land under <run>+<variant>, beside the run's own, and a rerun redoes nothing."""
    from optical_bench.experiment import run_experiment

    text = tiny_experiment.read_text(encoding="utf-8")
    text = text.replace(
        "[defaults]",
        '[experiment.variants]\nbm25-fused = { model = "fuse:bm25+{model}" }\nmaxsim = { scoring = "maxsim", runs = ["opt*"] }\n\n[defaults]',
        1,
    )
    config = tmp_path / "variants.toml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "grid"
    assert run_experiment(config, out, progress=False) == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [row["run"] for row in rows] == [
        "centering",
        "centering+bm25-fused",
        "optical",
        "optical+bm25-fused",
        "optical+maxsim",
        "mse",
        "mse+bm25-fused",
    ]
    assert all(0.0 <= row["ndcg_at_10"] <= 1.0 for row in rows)
    fused = json.loads(next((out / "results" / "optical-bench__optical+bm25-fused").rglob("provenance.json")).read_text())
    assert fused["members"][0]["name"] == "mteb/baseline-bm25s" and fused["fusion"]["strategy"] == "rrf"
    maxsim = next((out / "results" / "optical-bench__optical+maxsim").rglob("model_meta.json"))
    assert json.loads(maxsim.read_text())["similarity_fn_name"] == "MaxSim"
    files = {path: path.stat().st_mtime for path in (out / "results").rglob("*.json")}
    assert run_experiment(config, out, progress=False) == 0
    again = json.loads((out / "summary.json").read_text())["rows"]
    assert [(row["run"], round(row["ndcg_at_10"], 5)) for row in again] == [(row["run"], round(row["ndcg_at_10"], 5)) for row in rows]
    assert all(path.stat().st_mtime == mtime for path, mtime in files.items() if path.name.endswith("Retrieval.json"))


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ('fused = { model = "fuse:bm25+e5" }', "does not name \\{model\\}"),
        ("plain = { runs = 'x*' }", "changes nothing"),
        ("late = { scoring = 'colbert' }", "Unknown scoring"),
        ("late = { scoring = 'maxsim', run = 'x' }", "did you mean"),
        ("late = { scoring = 'maxsim', runs = 3 }", "glob or a list of globs"),
    ],
)
def test_a_bad_variant_is_refused_with_the_file_and_the_fix(tmp_path, variants, message):
    from optical_bench.experiment import load_experiment

    bad = tmp_path / "bad.toml"
    bad.write_text(f"[experiment.variants]\n{variants}\n\n[[runs]]\nname = 'x'\nmethod = 'zero-shot'\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        load_experiment(bad)
    assert str(bad) in str(error.value)


def test_reproducing_a_row_trains_the_run_its_student_starts_from(tiny_experiment, tmp_path):
    """A row whose student is an earlier run's model (``student_init = "run:optical"``) trains that
    run first, then starts from its folder: the record says so."""
    from optical_bench.experiment import _run_config, _train_and_evaluate, experiment_tasks, load_experiment
    from optical_bench.models import read_provenance

    tiny_experiment.write_text(
        tiny_experiment.read_text(encoding="utf-8")
        + '\n[[runs]]\nname = "tuned"\nmethod = "contrastive"\nstudent_init = "run:optical"\nmax_steps = 2\n',
        encoding="utf-8",
    )
    experiment = load_experiment(tiny_experiment)
    run = next(run for run in experiment["runs"] if run["name"] == "tuned")
    out = tmp_path / "out"
    config = _run_config(experiment, run, out)
    _train_and_evaluate(config, "tuned", experiment_tasks(experiment), out, progress=False, wait=True, experiment=experiment)
    earlier = Path(config.student_init)
    assert read_provenance(earlier)["config"]["method"] == "optical"
    recorded = read_provenance(Path(config.out) / "model")["config"]["student_init"]  # relative to the model folder
    assert (Path(config.out) / "model" / recorded).resolve() == earlier.resolve()
