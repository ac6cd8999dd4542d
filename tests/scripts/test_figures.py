"""scripts/figures.py refuses a folder with nothing to plot instead of writing an empty figure."""
from conftest import run_cli


def test_a_folder_without_finished_runs_writes_no_figure(tmp_path):
    for kind in ("flows", "hebae_fig1", "hebae_fig2"):
        proc = run_cli("scripts/figures.py", [kind, f"runs={tmp_path / 'nonexistent'}"], cwd=tmp_path)
        assert proc.returncode == 1 and "nothing to plot" in proc.stderr, proc.stderr[-1000:]
    assert not list(tmp_path.rglob("*.png"))
