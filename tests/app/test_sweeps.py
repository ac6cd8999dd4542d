"""Multiruns through Ray and joblib on CPU, failure reports, and resuming an interrupted sweep."""
import json

import pytest

from conftest import run_cli, tiny_overrides

JOBS = ["posterior=normal,laplace,logistic"]


def sweep(tmp_path, data_dir, name, *extra, status=0):
    """A multirun's folder and its jobs' records; ``status`` is its expected exit status (1: a job failed)."""
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith("paths.output_dir")]
    proc = run_cli("train.py", ["-m", *common, "dataset.train_subset=500", "callbacks.images=null",
                                f"paths.log_dir={tmp_path}", f"sweep_name={name}", *extra])
    assert proc.returncode == status, proc.stderr[-3000:]
    root = tmp_path / "multirun" / name
    return root, {p.parent.name: json.loads(p.read_text()) for p in root.glob("*/metrics.json")}


@pytest.mark.parametrize("launcher", ["ray_cpu", "joblib_cpu"])
@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_three_jobs_through_a_parallel_launcher(tmp_path, data_dir, launcher):
    limits = ["+hydra.launcher.ray.init.num_cpus=2"] if launcher == "ray_cpu" else ["hydra.launcher.n_jobs=2"]
    root, jobs = sweep(tmp_path, data_dir, launcher, *JOBS, f"hydra/launcher={launcher}", *limits)
    assert len(jobs) == 3 and all(j["status"] == "completed" for j in jobs.values())
    assert len({j["metrics"]["val/elbo"] for j in jobs.values()}) == 3  # three different models
    if launcher == "ray_cpu":
        assert (tmp_path / "ray").exists()  # Ray's temporary folder lives in the output folder
    assert json.loads((root / "sweep_summary.json").read_text())["completed"] == 3


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_failed_job_is_reported_and_a_rerun_skips_completed_jobs(tmp_path, data_dir):
    args = ["model.optimizer.lr=1e-3,1e12", "model.nan_check_every=1", "likelihood=normal", "logger=wandb"]
    root, first = sweep(tmp_path, data_dir, "resume", *args, status=1)
    summary = json.loads((root / "sweep_summary.json").read_text())
    assert summary["completed"] == 1 and len(summary["failed"]) == 1
    assert "model.optimizer.lr=1000000000000.0" in summary["jobs"][summary["failed"][0]]["overrides"]
    for job in first:  # each job logs its own W&B run into its own folder
        assert list((root / job / "wandb").glob("offline-run-*"))
    root, second = sweep(tmp_path, data_dir, "resume", *args, status=1)
    done = [k for k, v in first.items() if v["status"] == "completed"][0]
    failed = [k for k, v in first.items() if v["status"] == "failed"][0]
    assert second[done]["finished"] == first[done]["finished"]  # skipped: not trained again
    assert second[failed]["finished"] > first[failed]["finished"]  # the failed job ran again


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_ddp_metrics_equal_the_single_process_ones(tmp_path, data_dir):
    """Two CPU processes (gloo) each see half the test set; synced metrics cover all of it."""
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith("paths.output_dir")]
    common += ["trainer.max_epochs=0", "callbacks.images=null", "dataset.test_subset=400"]
    results = {}
    for name, extra in (("single", []), ("ddp", ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                                                 "trainer.sync_batchnorm=false"])):
        proc = run_cli("train.py", [*common, *extra, f"hydra.run.dir={tmp_path / name}"])
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[name] = json.loads((tmp_path / name / "metrics.json").read_text())["metrics"]
    for key in ("test/recon_at_mean", "test/kl"):  # deterministic given the weights: must agree exactly
        assert results["ddp"][key] == pytest.approx(results["single"][key], rel=1e-5)
