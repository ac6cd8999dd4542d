"""Fault cases of a run folder: other configurations, kills, corrupt files, bad values, bad data."""
import json
import stat

import pytest
from conftest import compose, run_cli, tiny_overrides

from autovae.app.train import run
from autovae.errors import RunFolderError
from autovae.runs.record import read_metrics

FAST = ("trainer.max_epochs=1", "callbacks.images=null")


def _run(data_dir, out, *extra):
    return run(compose(tiny_overrides(data_dir, out, *FAST, *extra)))


def test_a_folder_refuses_another_configuration_and_keeps_its_record(data_dir, tmp_path):
    first = _run(data_dir, tmp_path)
    before = (tmp_path / "metrics.json").read_text()
    with pytest.raises(RunFolderError, match=r"posterior.name: 'normal' -> 'laplace'"):
        _run(data_dir, tmp_path, "posterior=laplace", "prior=laplace")
    with pytest.raises(RunFolderError, match="on_config_change=restart"):
        _run(data_dir, tmp_path, "skip_completed=false", "model.optimizer.lr=0.01")
    assert (tmp_path / "metrics.json").read_text() == before  # nothing in the folder rewritten
    again = _run(data_dir, tmp_path, "trainer.max_epochs=1")  # same configuration: skipped
    assert again["finished"] == first["finished"]
    restarted = _run(data_dir, tmp_path, "posterior=laplace", "prior=laplace", "on_config_change=restart")
    assert restarted["status"] == "completed" and restarted["pairing"][0]["pair"] == "La||La"
    aside = list(tmp_path.glob("superseded-*"))
    assert len(aside) == 1 and json.loads((aside[0] / "metrics.json").read_text())["pairing"][0]["pair"] == "N||N"


def test_a_corrupt_checkpoint_is_named_set_aside_and_the_run_starts_over(data_dir, tmp_path, caplog):
    _run(data_dir, tmp_path, "evaluation.test=false")
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 7])  # a disk filled up mid-write
    meta = json.loads((tmp_path / "metrics.json").read_text())
    meta["status"] = "running"
    (tmp_path / "metrics.json").write_text(json.dumps(meta))
    result = _run(data_dir, tmp_path, "evaluation.test=false")
    assert result["status"] == "completed" and result["epochs"] == 1
    assert "cannot be read" in caplog.text and str(ckpt) in caplog.text
    assert list((tmp_path / "checkpoints").glob("last.ckpt.corrupt-*"))


def test_a_kill_while_testing_restarts_to_the_complete_record(data_dir, tmp_path):
    straight = _run(data_dir, tmp_path / "straight")
    _run(data_dir, tmp_path / "killed")
    path = tmp_path / "killed" / "metrics.json"
    meta = json.loads(path.read_text())  # as left by a kill during trainer.test: fit done, no test keys
    meta.update(status="running", metrics={})
    path.write_text(json.dumps(meta))
    restarted = _run(data_dir, tmp_path / "killed")
    assert restarted["status"] == "completed"
    assert set(restarted["metrics"]) == set(straight["metrics"])
    for key, value in straight["metrics"].items():
        assert restarted["metrics"][key] == pytest.approx(value, rel=1e-6), key


def test_a_loss_that_turns_nan_on_the_last_step_is_caught(data_dir, tmp_path):
    result = _run(data_dir, tmp_path, "model.optimizer.lr=1e12", "model.nan_check_every=1000", "likelihood=normal")
    assert result["status"] == "failed" and result["reason"] == "diverged"


@pytest.mark.parametrize("override,named", [("model.net.latent_dim=0", "model.net.latent_dim=0"),
                                            ("trainer.max_epochs=abc", "trainer.max_epochs='abc'"),
                                            ("evaluation.nll_samples=-5", "evaluation.nll_samples=-5"),
                                            ("dataset.batch_size=0", "dataset.batch_size=0")])
def test_a_bad_value_is_one_line_before_anything_is_built(data_dir, tmp_path, override, named):
    proc = run_cli("train.py", [*tiny_overrides(data_dir, tmp_path), override, f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f"autovae: {named} is not allowed") and len(lines) <= 2
    assert "Traceback" in (tmp_path / "train.log").read_text()  # the traceback went to the run's log
    assert not (tmp_path / "metrics.json").exists()


def test_results_are_readable_by_the_group(data_dir, tmp_path):
    _run(data_dir, tmp_path)
    for name in ("metrics.json", "checkpoints/last.ckpt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) & 0o044 == 0o044, name


def test_a_truncated_seed_archive_is_copied_again(data_dir, tmp_path):
    from conftest import REAL_DATA

    from autovae.data.datamodule import ImageDataModule

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        (raw / f.name).write_bytes(f.read_bytes())
    bad = raw / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:1000])
    dm = ImageDataModule("mnist", str(tmp_path), seed_dir=str(data_dir), val_size=100, train_subset=10,
                         verify_checksums=REAL_DATA)  # synthetic archives have no known md5
    dm.setup()
    assert len(dm.test_data) == 10000


def test_a_sweep_folder_is_named_by_the_swept_keys(data_dir, tmp_path):
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith("paths.output_dir")]
    proc = run_cli("train.py", ["-m", *common, "trainer.max_steps=1", "callbacks.images=null", "evaluation.test=false",
                                "posterior=normal,laplace", "++trainer.gradient_clip_val=1.0",
                                f"paths.log_dir={tmp_path}", "sweep_name=s"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "multirun" / "s").iterdir() if p.is_dir())
    assert names == ["posterior=laplace", "posterior=normal"]
    assert "completed posterior=laplace" in proc.stderr + proc.stdout


def test_an_unwritable_run_folder_is_one_line(data_dir, tmp_path):
    """Hydra creates the folder, its log file and .hydra/ before autovae runs; /sys refuses even root."""
    proc = run_cli("train.py", [*tiny_overrides(data_dir, tmp_path), "hydra.run.dir=/sys/autovae-unwritable"])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("autovae: cannot write to /sys/autovae-unwritable")


def test_an_unknown_option_lists_the_valid_ones_without_a_traceback(data_dir, tmp_path):
    proc = run_cli("train.py", [*tiny_overrides(data_dir, tmp_path), "posterior=nope"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("autovae: In 'train': Could not find 'posterior/nope'") and "logistic" in proc.stderr


def test_a_fused_optimizer_is_the_same_configuration_for_resume_and_tables():
    """Runs made before Adam was fused by default resume and group with today's: same update, another kernel."""
    from autovae.runs.folder import config_hash
    from autovae.runs.keys import NOT_PART_OF_A_GROUP

    adam = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-4}
    before, today = {"model": {"optimizer": adam}}, {"model": {"optimizer": {**adam, "fused": True}}}
    assert config_hash(before) == config_hash(today)
    assert config_hash(before) != config_hash({"model": {"optimizer": {**adam, "lr": 1e-3}}})
    assert "model.optimizer.fused" in NOT_PART_OF_A_GROUP


def test_runs_from_before_subnormals_were_flushed_resume_and_group_with_todays():
    """denormals changes only the rounding of floats below 1e-38: a run started without the key (or with
    keep) resumes under today's default and is a seed of the same configuration."""
    from autovae.runs.folder import config_hash
    from autovae.runs.keys import NOT_PART_OF_A_GROUP

    before, today = {"seed": 0}, {"seed": 0, "denormals": "flush"}
    assert config_hash(before) == config_hash(today) == config_hash({"seed": 0, "denormals": "keep"})
    assert "denormals" in NOT_PART_OF_A_GROUP


def test_the_run_record_owns_the_status_and_writes_it_only_where_it_may(tmp_path):
    """RunRecord: running when written first, the outcome and timings at close; a non-zero DDP rank
    (writes=False) never touches the folder."""
    from autovae.runs.record import RUNNING, RunRecord

    record = RunRecord(tmp_path / "a", {"seed": 0}, code={"git_commit": "x"}, config_hash="h")
    record.write()
    assert read_metrics(tmp_path / "a")["status"] == RUNNING
    record.end("failed", {"train/loss": 1.0}, reason="diverged", error="non-finite loss")
    closed = record.close(epochs=3, global_step=30)
    on_disk = read_metrics(tmp_path / "a")
    assert on_disk == json.loads(json.dumps(closed))
    assert (on_disk["status"], on_disk["reason"], on_disk["epochs"], on_disk["global_step"]) == ("failed", "diverged", 3, 30)
    assert on_disk["duration_s"] >= 0 and "metrics" in on_disk

    silent = RunRecord(tmp_path / "b", {}, code={}, config_hash="h", writes=False)
    silent.write()
    silent.close(epochs=0, global_step=0)
    assert not (tmp_path / "b").exists()
