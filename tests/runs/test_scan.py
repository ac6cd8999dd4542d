"""One rule finds run folders for tables, figures, sweep summaries and the record upgrade."""
from autovae.runs.scan import run_folders


def test_a_run_folder_is_one_that_started_or_recorded_itself(tmp_path):
    (tmp_path / "started" / ".hydra").mkdir(parents=True)             # killed before its first record
    (tmp_path / "recorded").mkdir()
    (tmp_path / "recorded" / "metrics.json").write_text("{}")          # written without Hydra (the API)
    (tmp_path / "both" / ".hydra").mkdir(parents=True)
    (tmp_path / "both" / "metrics.json").write_text("{}")
    (tmp_path / "deep" / "sweep" / "seed_0" / ".hydra").mkdir(parents=True)
    (tmp_path / "neither" / "csv").mkdir(parents=True)
    (tmp_path / "odd" / "metrics.json").mkdir(parents=True)           # a folder by that name is no record
    (tmp_path / "file").mkdir()
    (tmp_path / "file" / ".hydra").write_text("")                      # nor is a file named .hydra
    assert run_folders(tmp_path) == sorted([tmp_path / "started", tmp_path / "recorded", tmp_path / "both",
                                            tmp_path / "deep" / "sweep" / "seed_0"])
