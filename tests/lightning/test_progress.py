"""Long work inside one step shows progress: the K-sample NLL, FID's features, reading run folders."""
import logging

import torch
from conftest import compose, tiny_overrides

from autovae.app.train import run
from autovae.inference.bounds import BoundSpec, estimate_bounds

NLL_RUN = ("trainer.max_steps=3", "callbacks.images=null", "evaluation.bounds=[]", "evaluation.nll_samples=30",
           "evaluation.nll_images=100", "dataset.eval_batch_size=100", "evaluation.rows_per_pass=1000")


class _Net:
    """log weights of a fixed Gaussian model, enough for estimate_bounds."""

    def posterior(self, x):
        return None

    def log_weights(self, x, samples, posterior=None):
        return type("W", (), {"log_weights": torch.randn(samples, x.shape[0])})()


def test_estimate_bounds_reports_every_sample_it_draws():
    calls = []
    estimate_bounds(_Net(), torch.zeros(4, 3), [BoundSpec(0.0, 1250), BoundSpec(1.0, 1)], chunk=500,
                    progress=calls.append)
    assert calls == [500, 500, 250]


def test_the_nll_shows_its_samples_in_the_log_without_a_bar(data_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="autovae.lightning.progress")
    run(compose(tiny_overrides(data_dir, tmp_path, *NLL_RUN)))
    lines = [r.getMessage() for r in caplog.records if r.name == "autovae.lightning.progress"]
    assert "NLL (K=30), images 1-100: 30 samples ..." in lines
    assert any(line.startswith("NLL (K=30), images 1-100: 30 of 30 samples in ") for line in lines), lines


def test_the_nll_is_a_row_of_lightnings_rich_bar(data_dir, tmp_path, monkeypatch):
    from rich.progress import Progress

    added, removed = {}, []
    add_task, remove_task = Progress.add_task, Progress.remove_task

    def recording_add(self, description, *args, **kwargs):
        task = add_task(self, description, *args, **kwargs)
        added[task] = (description, self._tasks[task].total)
        return task

    def recording_remove(self, task):
        removed.append(task)
        return remove_task(self, task)

    monkeypatch.setattr(Progress, "add_task", recording_add)
    monkeypatch.setattr(Progress, "remove_task", recording_remove)
    overrides = [o for o in tiny_overrides(data_dir, tmp_path, *NLL_RUN) if "progress_bar" not in o]
    run(compose(overrides))
    nll = [task for task, (description, _) in added.items() if description.startswith("NLL (K=30)")]
    assert len(nll) == 1 and added[nll[0]] == ("NLL (K=30), images 1-100", 30)
    assert nll[0] in removed  # the row goes when the NLL is done


def test_reading_many_run_folders_reports_its_count(tmp_path, caplog):
    from autovae.paper.collect import collect_runs

    for name in ("a", "b", "c"):
        (tmp_path / name / ".hydra").mkdir(parents=True)
    caplog.set_level(logging.INFO, logger="autovae.lightning.progress")
    out = collect_runs(tmp_path)
    assert len(out.problems) == 3  # none has a metrics.json
    assert any(r.getMessage().startswith(f"reading run folders under {tmp_path}: 3 of 3 folders in ")
               for r in caplog.records), [r.getMessage() for r in caplog.records]
