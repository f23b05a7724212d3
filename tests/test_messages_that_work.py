"""Messages whose fixes work when followed: the offline switch named for who set it, a missing
split with the tasks that have it, the English-teacher recipe named where the README has it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from optical_bench.data import hub

ROOT = Path(__file__).resolve().parent.parent


def test_the_offline_fix_depends_on_who_turned_downloads_off(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(hub.ENV_OFFLINE_BY_DEFAULT, "1")
    assert hub.go_online_fix().startswith("put OPTICAL_BENCH_ONLINE=1 before the command")
    monkeypatch.delenv(hub.ENV_OFFLINE_BY_DEFAULT)
    assert "unset HF_HUB_OFFLINE" in hub.go_online_fix()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert "OPTICAL_BENCH_ONLINE" not in hub.go_online_fix()


def test_the_command_line_marks_the_offline_switch_as_its_own_only_when_it_set_it(monkeypatch):
    from optical_bench.cli_environment import offline_defaults as _offline_defaults

    monkeypatch.delenv("OPTICAL_BENCH_ONLINE", raising=False)
    monkeypatch.delenv(hub.ENV_OFFLINE_BY_DEFAULT, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the user's
    _offline_defaults()
    assert hub.ENV_OFFLINE_BY_DEFAULT not in os.environ
    monkeypatch.delenv("HF_HUB_OFFLINE")
    _offline_defaults()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ[hub.ENV_OFFLINE_BY_DEFAULT] == "1"


def test_a_mirror_without_the_file_offline_says_how_to_go_online(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(hub.ENV_OFFLINE_BY_DEFAULT, "1")
    with pytest.raises(FileNotFoundError) as caught:
        hub._github_file("castorini/africlirmatrix", "test/queries/x.tsv", "main", tmp_path)
    message = str(caught.value)
    assert "git clone https://github.com/castorini/africlirmatrix" in message and "OPTICAL_BENCH_ONLINE=1" in message
    assert "drop --hub-dir to download" not in message


def test_a_split_the_task_lacks_names_the_tasks_that_have_it_and_a_card_of_ones_own():
    from optical_bench.tasks import get_tasks

    with pytest.raises(ValueError) as caught:
        get_tasks(["OpticalUDHRNewLanguagesRetrieval"], eval_splits=["dev"], build_root=Path("/nonexistent"))
    message = str(caught.value)
    assert "has no 'dev' split" in message and "OpticalBibleRetrieval" in message
    assert "$OPTICAL_BENCH_TASKS" in message and "site-packages" not in message


def test_the_english_only_student_warning_names_a_recipe_the_readme_shows():
    from optical_bench.recipes import RECIPES

    source = (ROOT / "optical_bench" / "training" / "run.py").read_text(encoding="utf-8")
    assert "the English-teacher recipe in the README" not in source
    flag = RECIPES["english-teacher"].as_flags()
    assert re.search(r"--recipe english-teacher", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert flag


def test_a_hub_task_asked_for_a_split_its_files_lack_says_so_before_reading_anything():
    from optical_bench.tasks import get_tasks, tasks_with_split

    with pytest.raises(ValueError) as caught:
        get_tasks(["AfriCLIRMatrixRetrieval"], eval_splits=["dev"], hub_dir=Path("/nonexistent"))
    message = str(caught.value)
    assert message.startswith("AfriCLIRMatrixRetrieval has no 'dev' split (its files hold test)")
    assert "CIRALRetrieval" in message and "OpticalBibleRetrieval" in message
    assert {"CIRALRetrieval", "AfriQARetrieval"} <= set(tasks_with_split("dev")) and "AfriCLIRMatrixRetrieval" not in tasks_with_split(
        "dev"
    )
