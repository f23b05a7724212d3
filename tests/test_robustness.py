"""Robustness measures, their summary and MTEB files, and the significance tests.

The fake results folders below use mteb's real layout (copied from an evaluation of
all-MiniLM-L6-v2): ``<root>/<org>__<model>/<revision>/<Task>.json`` + ``model_meta.json``
and the rankings under ``<root>/.predictions/<org>__<model>/<revision>/``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optical_bench.robustness import (
    DomainShiftDrop,
    LanguageSpread,
    LearningCurveArea,
    OracleGap,
    RobustnessConfig,
    TransferRatio,
    WorstLanguage,
    compute_measure,
    default_measures,
    learning_curve_area,
    learning_curve_points,
    load_runs,
    parse_measure,
    robustness_summary,
    write_robustness,
)
from optical_bench.significance import (
    bootstrap_ci,
    bootstrap_difference_ci,
    bootstrap_macro_ci,
    bootstrap_seeds_queries,
    holm,
    paired_randomization_test,
    paired_t_test,
    per_query_scores,
)

# --------------------------------------------------------------------------- fake MTEB results (shared with test_report)

LANGUAGES = {
    "nya-eng": ["nya-Latn", "eng-Latn"],
    "swh-eng": ["swh-Latn", "eng-Latn"],
    "hau-eng": ["hau-Latn", "eng-Latn"],
    "amh-eng": ["amh-Ethi", "eng-Latn"],
    "eng-eng": ["eng-Latn", "eng-Latn"],
    "default": ["eng-Latn"],
}


def model_meta(name: str, revision: str) -> dict:
    """A model_meta.json as mteb 2.26 writes it."""
    return {
        "loader_kwargs": {},
        "name": name,
        "revision": revision,
        "release_date": "2026-11-22",
        "languages": None,
        "n_parameters": 22713216,
        "n_active_parameters_override": None,
        "n_embedding_parameters": None,
        "memory_usage_mb": 86.6,
        "max_tokens": 256.0,
        "embed_dim": 384,
        "license": None,
        "open_weights": True,
        "public_training_code": "https://pypi.org/project/optical-bench/",
        "public_training_data": None,
        "framework": ["Sentence Transformers", "PyTorch"],
        "reference": None,
        "similarity_fn_name": "cosine",
        "use_instructions": False,
        "training_datasets": [],
        "adapted_from": None,
        "superseded_by": None,
        "modalities": ["text"],
        "model_type": ["dense"],
        "citation": None,
        "contacts": None,
        "experiment_kwargs": None,
        "output_dtypes": None,
        "extra_requirements_groups": None,
        "loader": None,
        "is_cross_encoder": False,
    }


def task_result(task: str, subsets: dict[str, dict[str, float]], split: str = "test") -> dict:
    """A TaskResult JSON as mteb 2.26 writes it (main score = nDCG@10; one NaN like mteb's nAUC)."""
    entries = []
    for subset, metrics in subsets.items():
        entry = {
            "ndcg_at_1": metrics.get("recall_at_1", 0.0),
            **metrics,
            "nauc_recall_at_100_max": float("nan"),
            "main_score": metrics["ndcg_at_10"],
            "hf_subset": subset,
            "languages": LANGUAGES.get(subset, ["eng-Latn"]),
            "mteb_version": "2.26.24",
        }
        entries.append(entry)
    return {
        "dataset_revision": "6ec5952dfff61738",
        "task_name": task,
        "mteb_version": "2.26.24",
        "scores": {split: entries},
        "evaluation_time": 1.5,
        "kg_co2_emissions": None,
        "date": 1795310469.5,
        "evaluation_phases": [],
    }


def write_run(
    root: Path,
    name: str,
    revision: str,
    tasks: dict[str, dict[str, dict[str, float]]],
    predictions: dict[str, dict[str, dict[str, dict[str, float]]]] | None = None,
    provenance: dict | None = None,
) -> Path:
    """Write one model revision (and its rankings: {task: {subset: {qid: {docid: score}}}})."""
    folder = root / name.replace("/", "__") / revision
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_meta.json").write_text(json.dumps(model_meta(name, revision), indent=4))
    for task, subsets in tasks.items():
        (folder / f"{task}.json").write_text(json.dumps(task_result(task, subsets), indent=2))  # bare NaN, like mteb
    for task, by_subset in (predictions or {}).items():
        path = root / ".predictions" / name.replace("/", "__") / revision / f"{task}_predictions.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {"mteb_model_meta": {"model_name": name, "revision": revision}}
        content.update({subset: {"test": run} for subset, run in by_subset.items()})
        path.write_text(json.dumps(content))
    if provenance:
        (folder / "optical_bench").mkdir(exist_ok=True)
        (folder / "optical_bench" / "provenance.json").write_text(json.dumps(provenance))
    (folder / "optical_bench").mkdir(exist_ok=True)
    (folder / "optical_bench" / "summary.json").write_text(json.dumps({"model": name, "seconds": 1.0}))
    return folder


def metrics(ndcg: float, mrr: float | None = None, r1: float | None = None) -> dict[str, float]:
    return {"ndcg_at_10": ndcg, "mrr_at_10": ndcg if mrr is None else mrr, "recall_at_1": ndcg if r1 is None else r1}


DEFAULT_SCORES = {
    "OpticalBibleRetrieval": {"nya-eng": metrics(0.8)},
    "OpticalUDHRRetrieval": {"nya-eng": metrics(0.6)},
    "OpticalUDHRNewLanguagesRetrieval": {"swh-eng": metrics(0.7), "hau-eng": metrics(0.5), "amh-eng": metrics(0.2)},
    "OpticalBibleOracleRetrieval": {"eng-eng": metrics(1.0)},
    "OpticalUDHROracleRetrieval": {"eng-eng": metrics(0.9)},
}


# --------------------------------------------------------------------------- measures on hand-made numbers


def test_domain_shift_drop_absolute_and_relative():
    assert compute_measure(DomainShiftDrop(), in_domain=0.8, domain_shift=0.6) == pytest.approx(0.2)
    assert compute_measure(DomainShiftDrop(relative=True), in_domain=0.8, domain_shift=0.6) == pytest.approx(0.25)
    assert math.isnan(compute_measure(DomainShiftDrop(relative=True), in_domain=0.0, domain_shift=0.1))


def test_oracle_gap_and_transfer_ratio():
    assert compute_measure(OracleGap(), oracle=0.9, cross_lingual=0.6) == pytest.approx(0.3)
    assert compute_measure(TransferRatio(), oracle=0.8, cross_lingual=0.6) == pytest.approx(0.75)
    assert math.isnan(compute_measure(TransferRatio(), oracle=0.0, cross_lingual=0.6))


def test_worst_language_and_spread():
    scores = {"swh-eng": 0.5, "hau-eng": 0.2, "amh-eng": 0.8}
    assert compute_measure(WorstLanguage(), scores=scores) == pytest.approx(0.2)
    assert compute_measure(LanguageSpread(), scores=scores) == pytest.approx(0.6)
    assert compute_measure(LanguageSpread(stat="std"), scores=scores) == pytest.approx(np.std([0.5, 0.2, 0.8]))
    assert compute_measure(LanguageSpread(stat="std", ddof=1), scores=scores) == pytest.approx(np.std([0.5, 0.2, 0.8], ddof=1))


def test_learning_curve_area_is_a_mean_score_over_log_sizes():
    # linear in log2(size): the normalised area is the mid value
    assert learning_curve_area([(250, 0.2), (1000, 0.4), (4000, 0.6)]) == pytest.approx(0.4)
    # x = log2 = 0, 1, 3; trapezoids 0.5 + 2.0 over a range of 3
    assert learning_curve_area([(1, 0.0), (2, 1.0), (8, 1.0)]) == pytest.approx(2.5 / 3)
    assert learning_curve_area([(1, 0.0), (2, 1.0), (8, 1.0)], normalize=False) == pytest.approx(2.5)
    assert learning_curve_area([(1, 0.0), (2, 1.0), (8, 1.0)], base=10) == pytest.approx(2.5 / 3)
    # seeds at one size are averaged; non-positive sizes (zero-shot) have no logarithm
    assert learning_curve_area([(0, 0.9), (2, 0.0), (2, 0.2), (4, 0.3)]) == pytest.approx(0.2)
    assert math.isnan(learning_curve_area([(1000, 0.5)]))
    assert compute_measure(LearningCurveArea(), points=[(250, 0.2), (1000, 0.4), (4000, 0.6)]) == pytest.approx(0.4)


def test_measure_names_parse_and_round_trip():
    for measure in default_measures() + [LearningCurveArea()]:
        assert parse_measure(str(measure)) == measure
        assert parse_measure(measure.key) == measure
    assert str(parse_measure("DomainShiftDrop(relative)")) == "DomainShiftDrop(relative)"
    assert parse_measure("DomainShiftDrop(relative=true)").key == "domain_shift_drop_relative"
    assert parse_measure("LanguageSpread(stat=std, ddof=1)") == LanguageSpread(stat="std", ddof=1)
    assert DomainShiftDrop().description.startswith("Drop of the score")
    with pytest.raises(ValueError, match="did you mean|Did you mean"):
        parse_measure("domain_shift_dorp")
    with pytest.raises(ValueError, match="no parameter"):
        parse_measure("OracleGap(relative)")
    with pytest.raises(ValueError, match="stat"):
        LanguageSpread(stat="iqr")


# --------------------------------------------------------------------------- summary and MTEB files


def test_summary_from_a_fake_results_folder(tmp_path):
    write_run(tmp_path, "optical-bench/student", "rev1", DEFAULT_SCORES)
    (run,) = load_runs(tmp_path)
    assert run.model == "optical-bench/student" and set(run.tasks) == set(DEFAULT_SCORES)
    summary = robustness_summary(run.results_by_task("ndcg_at_10"))
    values = summary["values"]
    assert values["domain_shift_drop/OpticalUDHRRetrieval"] == pytest.approx(0.2)
    assert values["domain_shift_drop_relative/OpticalUDHRRetrieval"] == pytest.approx(0.25)
    assert values["oracle_gap/OpticalBibleRetrieval"] == pytest.approx(0.2)
    assert values["transfer_ratio/OpticalUDHRRetrieval"] == pytest.approx(0.6 / 0.9)
    assert values["worst_language/OpticalUDHRNewLanguagesRetrieval"] == pytest.approx(0.2)
    assert values["language_spread/OpticalUDHRNewLanguagesRetrieval"] == pytest.approx(0.5)
    worst = next(e for e in summary["measures"] if e["key"] == "worst_language")
    assert worst["inputs"]["subset"] == "amh-eng"
    # per-subset forms: the drop of each subset of the domain-shift task; the in-domain task carries it too
    assert summary["per_subset"]["OpticalUDHRRetrieval"]["nya-eng"]["robustness_domain_shift_drop"] == pytest.approx(0.2)
    assert summary["per_subset"]["OpticalBibleRetrieval"]["nya-eng"]["robustness_domain_shift_drop"] == pytest.approx(0.2)


def test_summary_computes_only_what_the_tasks_allow():
    summary = robustness_summary({"OpticalBibleRetrieval": {"nya-eng": 0.8}, "SomeOtherTask": {"default": 0.3}})
    assert summary["measures"] == [] and summary["values"] == {}
    # roles for tasks of other benchmarks come from the config
    config = RobustnessConfig(
        task_kinds={"MyIn": "in-domain", "MyShift": "domain-shift"},
        oracle_of={"MyOracle": "MyShift"},
        measures=["domain_shift_drop", "OracleGap"],
    )
    summary = robustness_summary({"MyIn": {"a": 0.9}, "MyShift": {"a": 0.3}, "MyOracle": {"a": 0.6}}, config=config)
    assert summary["values"] == {"domain_shift_drop/MyShift": pytest.approx(0.6), "oracle_gap/MyShift": pytest.approx(0.3)}


def test_write_robustness_keeps_the_files_loadable_by_mteb(tmp_path):
    from mteb.results import TaskResult

    folder = write_run(tmp_path, "optical-bench/student", "rev1", {**DEFAULT_SCORES, "SomeUnknownTask": {"default": metrics(0.4)}})
    written = write_robustness(tmp_path)
    content = written[folder]
    assert (folder / "optical_bench" / "robustness.json").exists()
    on_disk = json.loads((folder / "optical_bench" / "robustness.json").read_text())  # strict JSON: no NaN
    assert on_disk == content or on_disk["model"] == "optical-bench/student"
    assert set(content["metrics"]) >= {"main_score", "ndcg_at_10", "mrr_at_10", "recall_at_1"}
    shifted = TaskResult.from_disk(folder / "OpticalUDHRRetrieval.json")
    assert shifted.get_score(getter=lambda scores: scores["robustness_domain_shift_drop"]) == pytest.approx(0.2)
    assert shifted.get_score() == pytest.approx(0.6)  # main_score untouched
    new_languages = TaskResult.from_disk(folder / "OpticalUDHRNewLanguagesRetrieval.json")
    assert new_languages._get_score_fast() == pytest.approx((0.7 + 0.5 + 0.2) / 3)
    assert new_languages.get_score(getter=lambda s: s["robustness_worst_language"]) == pytest.approx(0.2)
    assert "robustness_domain_shift_drop" in TaskResult.from_disk(folder / "OpticalBibleRetrieval.json").scores["test"][0]
    TaskResult.from_disk(folder / "SomeUnknownTask.json")
    # idempotent: a second run changes nothing
    before = {p.name: p.read_text() for p in folder.glob("*.json")}
    write_robustness(tmp_path)
    assert {p.name: p.read_text() for p in folder.glob("*.json")} == before


def test_learning_curves_from_provenance(tmp_path):
    for size, score in ((250, 0.2), (1000, 0.4), (4000, 0.6)):
        scores = {**DEFAULT_SCORES, "OpticalBibleRetrieval": {"nya-eng": metrics(score)}}
        write_run(
            tmp_path,
            f"optical-bench/optical-{size}",
            f"r{size}",
            scores,
            provenance={"method": "optical", "augmentation": {"kind": "none"}, "bitext_pairs_used": size, "seed": 42},
        )
    points = learning_curve_points(tmp_path, "OpticalBibleRetrieval", "ndcg_at_10")
    assert points == {"optical": [(250, 0.2), (1000, 0.4), (4000, 0.6)]}
    written = write_robustness(tmp_path)
    curves = json.loads((tmp_path / "learning_curves.json").read_text())
    assert curves["curves"]["OpticalBibleRetrieval"]["optical"]["learning_curve_area"] == pytest.approx(0.4)
    assert all(c["learning_curve"]["area"]["OpticalBibleRetrieval"] == pytest.approx(0.4) for c in written.values())


# --------------------------------------------------------------------------- per-query scores (pytrec_eval)


def test_per_query_scores_match_hand_computation():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
    run = {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d1": 0.9, "d2": 0.5}, "q3": {f"x{i:02d}": 1.0 - i / 100 for i in range(10)} | {"d3": 0.5}}
    ndcg = per_query_scores(qrels, run, "ndcg_at_10")
    assert ndcg["q1"] == pytest.approx(1.0) and ndcg["q2"] == pytest.approx(1 / math.log2(3)) and ndcg["q3"] == 0.0
    rr = per_query_scores(qrels, run, "mrr_at_10")
    assert rr == {"q1": 1.0, "q2": 0.5, "q3": 0.0}  # rank 11 is cut at 10
    assert per_query_scores(qrels, run, "recall_at_1") == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    assert per_query_scores(qrels, {"q1": run["q1"]}, "ndcg_at_10") == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
    # ties: trec_eval order (score, then docid descending), as mteb
    assert per_query_scores({"q": {"a": 1}}, {"q": {"a": 0.5, "b": 0.5}}, "mrr_at_10") == {"q": 0.5}
    with pytest.raises(ValueError, match="per-query"):
        per_query_scores(qrels, run, "nauc_ndcg_at_10_max")


# --------------------------------------------------------------------------- tests and intervals


def test_randomization_test_identical_runs_give_p_one():
    a = np.random.default_rng(0).random(50)
    assert paired_randomization_test(a, a.copy(), n_samples=2000) == 1.0
    assert paired_t_test(a, a.copy()) == 1.0


def test_randomization_test_clearly_better_run_gives_small_p():
    rng = np.random.default_rng(1)
    b = rng.random(60) * 0.5
    a = b + 0.3 + rng.normal(0, 0.05, 60)
    p = paired_randomization_test(a, b, n_samples=2000, seed=3)
    assert p == pytest.approx(1 / 2001)
    assert paired_randomization_test(a, b, n_samples=2000, seed=3) == p  # seeded
    assert paired_randomization_test(a, b, n_samples=2000, alternative="greater") < 0.001
    assert paired_randomization_test(a, b, n_samples=2000, alternative="less") > 0.99
    assert paired_t_test(a, b) < 1e-10


def test_randomization_and_t_test_agree_on_noise():
    rng = np.random.default_rng(2)
    a, b = rng.random(80), rng.random(80)
    p_rand = paired_randomization_test(a, b, n_samples=4000)
    assert abs(p_rand - paired_t_test(a, b)) < 0.1


def test_holm_on_known_p_values():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm({"a": 0.2, "b": 0.9}) == pytest.approx({"a": 0.4, "b": 0.9})
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.01, float("nan"), 0.02])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert holm([]) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=25))
def test_holm_adjusted_p_values_are_monotone_and_at_least_raw(pvalues):
    adjusted = holm(pvalues)
    assert all(adj >= raw - 1e-12 and adj <= 1.0 for raw, adj in zip(pvalues, adjusted))
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    ranked = [adjusted[i] for i in order]
    assert all(x <= y + 1e-12 for x, y in zip(ranked, ranked[1:]))


def test_bootstrap_ci_contains_the_mean():
    x = np.random.default_rng(4).random(100)
    ci = bootstrap_ci(x, n_samples=2000, seed=0)
    assert ci.low < x.mean() < ci.high and ci.estimate == pytest.approx(x.mean())
    assert x.mean() in ci and 0.0 < ci.half_width < 0.2
    assert bootstrap_ci(x, n_samples=2000, seed=0) == ci  # seeded
    wider = bootstrap_ci(x, n_samples=2000, confidence=0.99)
    assert wider.low <= ci.low and wider.high >= ci.high
    assert bootstrap_ci(np.full(10, 0.5), n_samples=500).half_width == 0.0


def test_bootstrap_difference_and_macro_intervals():
    rng = np.random.default_rng(5)
    b = rng.random(80)
    a = b + 0.2
    diff = bootstrap_difference_ci(a, b, n_samples=1000)
    assert diff.low == pytest.approx(0.2) and diff.high == pytest.approx(0.2)
    macro = bootstrap_macro_ci([np.ones(5), np.zeros(50)], n_samples=1000)
    assert macro.estimate == pytest.approx(0.5) and macro.low == pytest.approx(0.5)


def test_bootstrap_over_seeds_and_queries():
    rng = np.random.default_rng(6)
    queries = rng.random(40)
    runs = np.stack([queries + offset for offset in (0.0, 0.05, 0.1)])  # three seeds
    ci = bootstrap_seeds_queries(runs, n_samples=2000)
    assert ci.estimate == pytest.approx(runs.mean()) and ci.low < ci.estimate < ci.high
    queries_only = bootstrap_ci(runs.mean(axis=0), n_samples=2000)
    assert ci.half_width >= queries_only.half_width * 0.95  # seed variance adds to the width
    other = runs - 0.3
    diff = bootstrap_seeds_queries(runs, other, n_samples=2000)
    assert diff.estimate == pytest.approx(0.3) and diff.low > 0.2
    with pytest.raises(ValueError, match="same queries"):
        bootstrap_seeds_queries(runs, other[:, :10])


def test_seed_summaries_use_the_two_level_bootstrap():
    from optical_bench.seeds import summarise

    rng = np.random.default_rng(0)
    queries = [f"q{i}" for i in range(200)]
    better = {str(seed): {q: float(rng.random() < 0.8) for q in queries} for seed in (1, 2, 3)}
    worse = {str(seed): {q: float(rng.random() < 0.5) for q in queries} for seed in (1, 2, 3)}
    rows = summarise({"Task": {"better": better, "worse": worse}}, reference="worse", samples=500)
    row = next(r for r in rows if r[1] == "better")
    assert row[2] == 3 and row[4].endswith("*") and 0.2 < float(row[4].split()[0]) < 0.4
    # 2.80 standard errors; one seed-level draw of 200 Bernoulli queries has a standard error near 0.05
    assert 0.05 < float(row[5]) < 0.4
    assert next(r for r in rows if r[1] == "worse")[4:] == ["", ""]
    # runs whose rankings meet no qrels (another split's) are refused by name, not divided by zero
    with pytest.raises(ValueError, match="Task: no query is scored in every run"):
        summarise({"Task": {"better": {"1": {}}, "worse": {"1": {}}}}, reference="worse", samples=10)


def test_seed_names_with_a_variant_and_subsets_by_language():
    from optical_bench.seeds import _chosen
    from optical_bench.seeds import configuration_and_seed as configuration

    assert configuration("e5-optical-hau-s42") == ("e5-optical-hau", "42")
    assert configuration("e5-optical-hau-s42+bm25-fused") == ("e5-optical-hau+bm25-fused", "42")
    assert configuration("e5-zero-shot+bm25-fused") == ("e5-zero-shot+bm25-fused", "-")
    assert configuration("run-s1-x-s3") == ("run-s1-x", "3")
    assert _chosen("hau-eng", ["hau"]) and _chosen("hau-eng", ["hau-eng"]) and _chosen("zul-eng", None)
    assert not _chosen("zul-eng", ["hau"])


def test_seeds_read_the_seed_a_run_records_not_its_name():
    from optical_bench.seeds import configuration_and_seed as configuration

    assert configuration("e5-optical-hau-s43", {"seed": 43}) == ("e5-optical-hau", "43")
    assert configuration("e5-optical-hau-s43+bm25-fused", {"seed": 43}) == ("e5-optical-hau+bm25-fused", "43")
    # the recorded seed wins over digits in the name; a name without its seed is its own configuration
    assert configuration("bitext250-s1", {"seed": 42}) == ("bitext250-s1", "42")
    assert configuration("e5-zero-shot", {"seed": 42}) == ("e5-zero-shot", "42")
    assert configuration("optical+contrastive-s44", {"seed": 44}) == ("optical+contrastive", "44")


def test_the_qrels_of_a_built_in_card_cover_its_dev_split():
    from optical_bench.cards import load_cards

    cards = load_cards()
    assert cards["OpticalBibleRetrieval"].named_splits == ["test", "dev"]  # tuning studies score on dev
    assert cards["OpticalUDHRRetrieval"].named_splits == ["test"]


def test_the_detectable_effect_is_2_8_standard_errors():
    from optical_bench.significance import ConfidenceInterval, bootstrap_ci

    assert ConfidenceInterval(0.0, -1.0, 1.0, standard_error=0.1).detectable_effect() == pytest.approx(0.2802, abs=1e-3)
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, 400)
    ci = bootstrap_ci(x, n_samples=4000)
    # the bootstrap standard error of a mean approaches s / sqrt(n)
    assert ci.standard_error == pytest.approx(x.std(ddof=1) / np.sqrt(400), rel=0.1)


def test_seeds_say_why_rankings_without_their_qrels_cannot_be_scored(tiny_model, tiny_beir, tmp_path, monkeypatch):
    import shutil

    from sentence_transformers import SentenceTransformer

    from optical_bench.evaluate import EvaluationOptions, evaluate_model
    from optical_bench.seeds import collect
    from optical_bench.tasks import beir_task

    monkeypatch.setenv("OPTICAL_BENCH_HOME", str(tmp_path / "home"))
    built = shutil.copytree(tiny_beir, tmp_path / "home" / "sources" / "tiny-news" / "test")  # where a build puts it
    (built / "task.toml").write_text('name = "TinyNews"\n', encoding="utf-8")
    model = SentenceTransformer(str(tiny_model), device="cpu")
    task = beir_task(built)
    evaluate_model(model, [task], tmp_path / "out", name="tiny-s1", revision="r", options=EvaluationOptions(progress=False))
    assert task.metadata.name == "TinyNews"
    assert collect([str(tmp_path / "out" / "results")], "ndcg_at_10")["TinyNews"]["tiny"]["1"]

    shutil.rmtree(built)  # the collection the rankings were scored on is gone: its qrels stored beside the rankings still score them
    assert collect([str(tmp_path / "out" / "results")], "ndcg_at_10")["TinyNews"]["tiny"]["1"]
    for stored in (tmp_path / "out" / "results").rglob("*_qrels.json"):
        stored.unlink()  # results of an earlier release, which stored none
    with pytest.raises(ValueError, match=rf"No qrels here for {task.metadata.name} \(revision .*Fix: .*--hub-dir"):
        collect([str(tmp_path / "out" / "results")], "ndcg_at_10")
