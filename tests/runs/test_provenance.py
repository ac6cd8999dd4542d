"""Committed evidence names the code that ran: a results/ change is data, a code change is dirt."""
import shutil
import subprocess
from pathlib import Path

import pytest

from autovae.app.train import code_version

ROOT = Path(__file__).resolve().parents[2]


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "src" / "model.py").write_text("x = 1\n")
    (tmp_path / "results" / "table.md").write_text("| a |\n")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "reproduce_table_b.sh", tmp_path / "scripts")
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


def test_a_rerendered_table_does_not_make_the_code_dirty(repo):
    (repo / "results" / "table.md").write_text("| b |\n")
    assert code_version(repo)["dirty"] is False
    (repo / "src" / "model.py").write_text("x = 2\n")
    assert code_version(repo)["dirty"] is True


def run_script(repo):
    # PY=false stands in for the interpreter: a stage that is reached fails, one that is refused never starts.
    return subprocess.run(["bash", "scripts/reproduce_table_b.sh", "table"], cwd=repo, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "PY": "false"})


def test_the_evidence_script_refuses_uncommitted_code_but_not_new_results(repo):
    (repo / "results" / "table.md").write_text("| b |\n")
    run = run_script(repo)
    assert "refusing" not in run.stderr and "== stage table" in run.stdout
    (repo / "src" / "model.py").write_text("x = 2\n")
    run = run_script(repo)
    assert run.returncode == 2
    assert "refusing to run" in run.stderr and "src/model.py" in run.stderr
    assert "== stage" not in run.stdout
