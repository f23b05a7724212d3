"""``optical-bench reproduce``: a study's rows rerun and checked against its ``expected.toml``;
a changed expected value makes ``--check`` print FAIL and exit non-zero."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import mirror_root

from optical_bench.cli import main
from optical_bench.config import read_toml
from optical_bench.experiment import load_experiment, run_experiment
from optical_bench.reproduce import read_expected, studies, study_config, write_expected


def _bm25_study(tmp_path: Path, tiny_beir: Path) -> Path:
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'[experiment]\nname = "tiny"\nresults = "{tmp_path / "study"}"\nbeir = ["{tiny_beir}"]\n\n'
        '[[runs]]\nname = "bm25"\nmethod = "zero-shot"\nteacher = "bm25"\n',
        encoding="utf-8",
    )
    return config


def test_check_passes_on_a_rerun_and_fails_on_a_changed_expected_value(tiny_beir, tmp_path, capsys):
    config = _bm25_study(tmp_path, tiny_beir)
    run_experiment(config, tmp_path / "study", progress=False)  # the "committed" results
    expected = write_expected(str(config))
    entries = read_toml(expected)["runs"]["bm25"]["expected"]
    assert {key.rsplit("/", 1)[1] for key in entries} == {"ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_100"}
    capsys.readouterr()

    assert main(["reproduce", str(config), "--check", "--out", str(tmp_path / "rerun")]) == 0
    printed = capsys.readouterr().out
    assert "FAIL |" not in printed and re.search(r"bm25/\S+/ndcg_at_10 .* OK ", printed)
    assert "4 OK, 0 FAIL" in printed

    changed = tmp_path / "changed.toml"
    text = expected.read_text(encoding="utf-8")
    changed.write_text(
        re.sub(r"(ndcg_at_10\" = \{ value = )([0-9.]+)", lambda m: f"{m[1]}{float(m[2]) - 0.01:.6f}", text), encoding="utf-8"
    )
    assert main(["reproduce", str(config), "--check", "--expected", str(changed), "--out", str(tmp_path / "rerun")]) == 1
    printed = capsys.readouterr().out
    assert re.search(r"bm25/\S+/ndcg_at_10 .* FAIL ", printed) and "3 OK, 1 FAIL" in printed
    # without --check the rows are printed, and the exit status stays 0
    assert main(["reproduce", str(config), "--expected", str(changed), "--out", str(tmp_path / "rerun")]) == 0


def test_list_prints_the_rows_and_runs_nothing(capsys):
    assert main(["reproduce", "real_clir_baselines", "--list", "--rows", "bm25*"]) == 0
    printed = capsys.readouterr().out
    assert "bm25-qt-hau" in printed and "e5-zero-shot" not in printed
    assert "optical-bench reproduce real_clir_baselines --rows 'bm25'" in printed


def test_every_study_with_expected_scores_names_runs_its_config_declares():
    assert {"default", "studies/real_clir_baselines"} <= set(studies())
    for name in studies():
        experiment = load_experiment(name)
        names = {run["name"] for run in experiment["runs"]}
        for run, entry in read_expected(experiment).items():
            for member in entry.get("runs", [run]):  # a mean row: its seeds' runs
                assert member in names or member.rsplit("+", 1)[0] in names, (name, run)  # a run, or a run + variant


def test_the_reproduce_page_is_generated_from_the_expected_scores():
    from optical_bench.reproduce import reproduce_page

    page = Path(__file__).resolve().parents[1] / "docs" / "reproduce.md"
    assert page.read_text(encoding="utf-8") == reproduce_page(), "Fix: optical-bench reproduce --write-page docs/reproduce.md"


def test_bm25_on_afriqa_dev_from_the_mirror_reproduces(tmp_path, monkeypatch, capsys):
    mirrors = mirror_root("masakhane-io/afriqa")
    if mirrors is None:
        pytest.skip("no AfriQA mirror: set OPTICAL_BENCH_MIRRORS to the shared mirrors folder")
    monkeypatch.setenv("OPTICAL_BENCH_HUB_DIR", str(mirrors))
    assert study_config("real_clir_baselines") == "studies/real_clir_baselines"
    assert main(["reproduce", "real_clir_baselines", "--rows", "bm25", "--check", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "10 OK, 0 FAIL" in printed and re.search(
        r"bm25/AfriQARetrieval/dev/hau-eng/ndcg_at_10 .* OK ", printed
    )  # each question language too


def test_a_seed_grid_gets_a_mean_row_checked_within_its_seed_interval(tiny_beir, tmp_path, capsys):
    config = tmp_path / "seeds.toml"
    config.write_text(
        f'[experiment]\nname = "seeds"\nresults = "{tmp_path / "study"}"\nbeir = ["{tiny_beir}"]\n\n'
        '[[runs]]\nname = "bm25-s{seed}"\nmethod = "zero-shot"\nteacher = "bm25"\nseeds = [1, 2]\n',
        encoding="utf-8",
    )
    run_experiment(config, tmp_path / "study", progress=False)
    rows = read_toml(write_expected(str(config)))["runs"]
    mean = rows["bm25-s{1,2}"]
    assert mean["runs"] == ["bm25-s1", "bm25-s2"] and mean["command"].endswith("--rows 'bm25-s{1,2}'")
    single = rows["bm25-s1"]["expected"]
    for key, entry in mean["expected"].items():  # BM25 ignores the seed: the mean is each seed's score, the interval 0 (floored)
        assert entry == {"value": single[key]["value"], "tolerance": 0.0001}
    capsys.readouterr()
    assert main(["reproduce", str(config), "--rows", "bm25-s{1,2}", "--check", "--out", str(tmp_path / "rerun")]) == 0
    printed = capsys.readouterr().out
    assert "bm25-s1:" in printed and "bm25-s2:" in printed and "4 OK, 0 FAIL" in printed
    from optical_bench.study_tables import write_tables

    tables = write_tables(str(config)).read_text(encoding="utf-8")
    assert "| bm25-s{1,2} " in tables and "±0.000" in tables and "## BEIR_tiny_beir, test, nDCG@10" in tables
    tables_path = tmp_path / "study" / "tables.md"
    tables_path.write_text("# written by hand\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not generated by --write-tables; it would be lost"):
        write_tables(str(config))
    assert tables_path.read_text(encoding="utf-8") == "# written by hand\n"


def _comparison_study(tmp_path: Path, tiny_beir: Path, comparisons: str) -> Path:
    """Two BM25 configurations (``bm25-one``, ``bm25-two``) over two seeds, and ``comparisons``."""
    config = tmp_path / "compared.toml"
    config.write_text(
        f'[experiment]\nname = "compared"\nresults = "{tmp_path / "study"}"\nbeir = ["{tiny_beir}"]\n\n'
        '[[runs]]\nname = "bm25-{arm}-s{seed}"\nmethod = "zero-shot"\nteacher = "bm25"\nseeds = [1, 2]\n'
        "axes.arm = { one = {}, two = {} }\n\n" + comparisons,
        encoding="utf-8",
    )
    return config


def test_declared_comparisons_repeat_per_for_value_and_keep_their_rows(tiny_beir, tmp_path):
    from optical_bench.comparisons import write_comparisons

    config = _comparison_study(
        tmp_path,
        tiny_beir,
        '[[comparisons]]\ntitle = "Against {ref}"\nreference = "bm25-{ref}"\nfor.ref = ["one", "two"]\nrows = ["bm25-one"]\n',
    )
    printed = []
    path = write_comparisons(str(config), tmp_path / "runs", echo=printed.append)
    assert path == tmp_path / "study" / "comparisons.md"
    assert "compared.toml: 0 of 4 evaluations there" in printed[0] and "4 runs to make" in printed[0]
    assert any(line.startswith("[1/4] making bm25-one-s1") for line in printed)
    text = path.read_text(encoding="utf-8")
    assert "Generated by `optical-bench reproduce" in text and "--write-comparisons" in text and "two-level bootstrap" in text
    one, two = text.split("## Against one")[1].split("## Against two")
    assert "| bm25-one " in one and "bm25-two" not in one.split("|---")[1]  # the rows kept: bm25-one (the reference)
    assert "| bm25-one " in two and "| bm25-two " in two  # the reference stays beside the rows kept
    assert re.search(r"\| bm25-one +\| +2 \| .* \| \+0\.000 \[\+0\.000, \+0\.000\]", two)  # BM25 ignores the seed

    printed.clear()
    write_comparisons(str(config), tmp_path / "runs", echo=printed.append)  # every run there: nothing made
    assert "4 of 4 evaluations there" in printed[0] and not any("making" in line for line in printed)

    path.write_text("# written by hand\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not generated by --write-comparisons; it would be lost. Fix: move it aside"):
        write_comparisons(str(config), tmp_path / "runs")
    assert path.read_text(encoding="utf-8") == "# written by hand\n"


def test_an_unknown_or_unresolved_comparison_is_refused_with_the_fix(tiny_beir, tmp_path):
    from optical_bench.comparisons import write_comparisons

    config = _comparison_study(tmp_path, tiny_beir, '[[comparisons]]\ntitle = "t"\nreference = "bm25-one"\nrow = ["bm25-*"]\n')
    with pytest.raises(
        ValueError, match=r"compared.toml \[\[comparisons\]\] 't': unknown key 'row' \(did you mean 'rows'\?\)\. Fix: use title, reference"
    ):
        load_experiment(str(config))
    config = _comparison_study(tmp_path, tiny_beir, '[[comparisons]]\ntitle = "t {lang}"\nreference = "bm25-one"\n')
    with pytest.raises(ValueError, match=r"names \{lang\}, no for axis. Fix: for.lang"):
        load_experiment(str(config))
    config = _comparison_study(tmp_path, tiny_beir, '[[comparisons]]\ntitle = "t"\nreference = "bm25-three"\n')
    with pytest.raises(ValueError, match="reference 'bm25-three' is no configuration here. Fix: one of bm25-one, bm25-two"):
        write_comparisons(str(config), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # refused before any run is made


def test_every_shipped_comparison_names_configurations_and_runs_that_are_declared():
    from optical_bench.comparisons import Study, _needs
    from optical_bench.experiment import packaged_configs

    declared = [name for name in packaged_configs() if load_experiment(name).get("comparisons")]
    assert "studies/mlm_pretraining_news_real_questions" in declared
    assert "studies/in_domain_data_real_questions_dev" in declared  # stages = ["dev"]: not the oracle stage's
    assert "studies/in_domain_data_real_questions_oracle" not in declared
    for name in declared:
        study = Study.load(name, Path("/nonexistent"))
        studies = {name: study}
        for comparison in study.experiment["comparisons"]:
            assert _needs(study, comparison, studies)
