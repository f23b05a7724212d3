"""Experiment configs declare their grids (``seeds = [...]``, ``axes.<axis> = ...``); the expanded
runs keep the run keys the configs had when every run was written out (frozen in
``tests/data/run_keys.json`` by ``scripts/run_keys.py`` before the configs were rewritten)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from optical_bench.experiment import _run_config, load_experiment, packaged_configs, study_options
from optical_bench.grids import expand_runs

ROOT = Path(__file__).resolve().parents[1]
FROZEN = json.loads((ROOT / "tests" / "data" / "run_keys.json").read_text(encoding="utf-8"))


def _run_keys():
    spec = importlib.util.spec_from_file_location("run_keys", ROOT / "scripts" / "run_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_shipped_config_keeps_its_run_keys():
    keys = _run_keys().run_keys()
    assert {name: keys.get(name) for name in FROZEN} == FROZEN
    # configs added since the freeze: the GPU scale of rq1 and rq2, once comments; the in-domain data study;
    # the trained row CI reruns
    assert set(keys) - set(FROZEN) == {
        "rq1_gpu",
        "rq2_gpu",
        "studies/in_domain_data_real_questions_dev",
        "studies/in_domain_data_real_questions_oracle",
        "studies/training_reproduces",
    }


def test_every_shipped_config_keeps_its_tasks_splits_and_variants():
    """``tests/data/experiment_settings.json``: the ``[experiment]`` tables of the configs as they were
    written out before they declared grids and stages (less the ``results`` field added since)."""
    frozen = json.loads((ROOT / "tests" / "data" / "experiment_settings.json").read_text(encoding="utf-8"))
    settings = _run_keys().experiment_settings()
    assert {name: settings.get(name) for name in frozen} == frozen


def test_seeds_and_axes_expand_into_named_runs():
    runs = expand_runs(
        Path("x.toml"),
        {"name": "e5-{method}-{bitext}-s{seed}", "seeds": [42, 43], "axes": {"method": {"ot": "optical", "mse": "mse"}, "bitext": ["hau"]}},
    )
    assert [run["name"] for run in runs] == ["e5-ot-hau-s42", "e5-ot-hau-s43", "e5-mse-hau-s42", "e5-mse-hau-s43"]
    assert runs[0] == {
        "name": "e5-ot-hau-s42",
        "method": "optical",
        "bitext": "hau",
        "seed": 42,
        "_axes": {"method": "ot", "bitext": "hau", "seed": 42},
        "_grid": "e5-{method}-{bitext}-s{seed}",
    }


def test_a_table_axis_sets_several_options():
    runs = expand_runs(Path("x.toml"), {"name": "{setting}", "axes": {"setting": {"e5": {}, "pairing": {"teacher": "t", "recipe": "r"}}}})
    assert runs[1] == {"name": "pairing", "teacher": "t", "recipe": "r", "_axes": {"setting": "pairing"}, "_grid": "{setting}"}


def test_an_axis_the_name_does_not_carry_is_refused():
    with pytest.raises(ValueError, match=r"does not name the axis 'seed'"):
        expand_runs(Path("x.toml"), {"name": "e5-optical", "seeds": [42, 43]})


@pytest.mark.parametrize("name", packaged_configs())
def test_every_axis_value_is_recorded_in_experiment_kwargs(name, tmp_path):
    """Two runs of one declared grid differ in their ``experiment_kwargs`` (the study options every
    result file carries), so tables and ``seeds`` read the axes there, never from run names."""
    experiment = load_experiment(name)
    recorded = {}
    for run in (run for run in experiment["runs"] if "_grid" in run):
        options = study_options(_run_config(experiment, run, tmp_path))
        for axis, value in run.get("_axes", {}).items():
            if axis == "seed":
                assert options["seed"] == value, run["name"]
        key = json.dumps([run["_grid"], options], sort_keys=True)
        assert key not in recorded, f"{run['name']} and {recorded.get(key)} have the same experiment_kwargs"
        recorded[key] = run["name"]


@pytest.mark.parametrize("name", [n for n in packaged_configs() if n.startswith("studies/")] + ["default", "rq1", "rq2", "comparison"])
def test_every_config_names_its_results_folder(name):
    folder = load_experiment(name)["experiment"].get("results")
    assert folder, f"{name}: no results = ... in [experiment]"
    # the GPU-scale grids have not been run here: their folders are named, not yet made
    assert (ROOT / folder).is_dir() or name.endswith("_gpu"), folder


def test_stages_of_one_file_share_its_header_and_keep_their_own_runs(tmp_path):
    from optical_bench.grids import select_stage

    config = {
        "experiment": {"tasks": ["A", "B"]},
        "defaults": {"max_steps": 60},
        "stages": {"dev": {"experiment": {"name": "x-dev", "tasks": ["A"]}}, "test": {"defaults": {"learning_rate": 2e-4}}},
        "runs": [{"name": "zero-shot"}, {"name": "tuned", "stages": ["dev"]}, {"name": "final", "stages": ["test"]}],
    }
    dev = select_stage(tmp_path / "x.toml", dict(config), "dev")
    assert dev["experiment"] == {"tasks": ["A"], "name": "x-dev"} and dev["defaults"] == {"max_steps": 60}
    assert [run["name"] for run in dev["runs"]] == ["zero-shot", "tuned"] and "stages" not in dev["runs"][1]
    test = select_stage(tmp_path / "x.toml", dict(config), "test")
    assert test["defaults"] == {"max_steps": 60, "learning_rate": 2e-4} and [run["name"] for run in test["runs"]] == ["zero-shot", "final"]
    with pytest.raises(ValueError, match=r"name one of them \(x_dev, x_test\)"):
        select_stage(tmp_path / "x.toml", dict(config), None)


def test_a_stage_is_named_like_the_config_it_replaces():
    assert "studies/paper_pairing_method_dev" in packaged_configs() and "studies/paper_pairing" not in packaged_configs()
    assert load_experiment("studies/paper_pairing_method_dev")["experiment"]["name"] == "paper-pairing-method-dev"


def test_a_run_may_start_from_an_earlier_runs_model(tmp_path):
    """``student_init = "run:<name>"`` (axes in braces) names an earlier run's model: the run is keyed
    by that run's folder name, not by where ``--out`` is, and records it as its student."""
    config = tmp_path / "chain.toml"
    config.write_text(
        '[experiment]\nname = "chain"\ntasks = ["OpticalUDHRRetrieval"]\n\n'
        '[[runs]]\nname = "distil-s{seed}"\nseeds = [1, 2]\nmethod = "optical"\n\n'
        '[[runs]]\nname = "tune-s{seed}"\nseeds = [1, 2]\nmethod = "contrastive"\nstudent_init = "run:distil-s{seed}"\n',
        encoding="utf-8",
    )
    experiment = load_experiment(config)
    runs = {run["name"]: run for run in experiment["runs"]}
    assert runs["tune-s2"]["student_init"] == "run:distil-s2"
    here, there = _run_config(experiment, runs["tune-s2"], tmp_path / "a"), _run_config(experiment, runs["tune-s2"], tmp_path / "b")
    distil = _run_config(experiment, runs["distil-s2"], tmp_path / "a")
    assert here.student_init == str(Path(distil.out) / "model")
    assert Path(here.out).name == Path(there.out).name  # the same key under any --out
    assert study_options(here)["student"] == f"run:{Path(distil.out).name}"
    config.write_text(config.read_text(encoding="utf-8").replace('"run:distil-s{seed}"', '"run:tune-s{seed}"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'tune-s1': student_init = 'run:tune-s1' names no run declared before it\. Fix: name an earlier"):
        load_experiment(config)
