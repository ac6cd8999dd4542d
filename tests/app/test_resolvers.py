"""The configs' resolvers: a sweep job's folder name, W&B groups, absolute paths."""
from types import SimpleNamespace

import pytest
from hydra.core.hydra_config import HydraConfig

from autovae.app.resolvers import job_dirname, swept_dirname, wandb_group


def _job(monkeypatch, task):
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: SimpleNamespace(overrides=SimpleNamespace(task=task))))


def test_a_job_folder_is_named_by_its_swept_keys(tmp_path, monkeypatch):
    (tmp_path / "multirun.yaml").write_text("hydra:\n  overrides:\n    task: ['column=N_N,Lo_N', 'seed=0,1', threads=1]\n")
    _job(monkeypatch, ["threads=1", "column=Lo_N", "seed=1", "++trainer.precision=32-true"])
    assert swept_dirname(str(tmp_path)) == "column=Lo_N,seed=1"


def test_without_the_sweeps_record_a_folder_names_what_the_run_computes(tmp_path, monkeypatch):
    """Sorted overrides less those that say how it computes (threads, paths, logger, the device)."""
    _job(monkeypatch, ["threads=1", "seed=2", "paths.data_dir=/x", "logger=csv", "trainer.accelerator=gpu",
                       "posterior=logistic", "+trainer.max_epochs=3"])
    assert swept_dirname(str(tmp_path / "none")) == "posterior=logistic,seed=2"


def test_long_names_are_shortened_with_a_hash():
    name = job_dirname("x=" + "a" * 300)
    assert len(name) <= 120 and name != job_dirname("x=" + "a" * 299 + "b")


@pytest.mark.parametrize("mode,group", [("RunMode.MULTIRUN", "sweep"), ("RunMode.RUN", None)])
def test_only_the_jobs_of_a_multirun_share_a_wandb_group(mode, group):
    assert wandb_group(mode, "sweep") == group
