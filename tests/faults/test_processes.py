"""Faults a cluster or a careless user causes with processes: two starts on one folder, kill -9,
SIGTERM (pre-emption), a sweep's parent killed. Each runs train.py as a user would."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from conftest import ROOT, tiny_overrides

LONG = ("trainer.max_epochs=400", "callbacks.images=null")


def start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0")
    # A session of its own: whatever a test finds, its whole process group (joblib workers included) is
    # killed at the end (``_end``).
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _end(proc: subprocess.Popen, workers: list[int] = ()) -> None:
    """Never leave the launcher or a worker behind, whatever a test found."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    for pid in workers:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def wait_for(check, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def status(folder: Path) -> str | None:
    try:
        return json.loads((folder / "metrics.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def training(folder: Path) -> bool:
    return status(folder) == "running" and (folder / "checkpoints" / "last.ckpt").exists()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_second_start_on_a_folder_in_use_is_refused_naming_the_holder(data_dir, tmp_path):
    out = tmp_path / "run"
    first = start([*tiny_overrides(data_dir, out, *LONG), f"hydra.run.dir={out}"])
    try:
        wait_for(lambda: training(out), what="the first run to train")
        record = (out / ".hydra" / "config.yaml").read_text()
        for other in ([], ["seed=1", "likelihood=laplace"]):  # the same configuration, and another one
            second = subprocess.run([sys.executable, str(ROOT / "train.py"),
                                     *tiny_overrides(data_dir, out, *LONG, *other), f"hydra.run.dir={out}"],
                                    cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert second.returncode == 2, second.stderr[-2000:]
            lines = second.stderr.strip().splitlines()
            assert len(lines) <= 2 and f"is in use by process {first.pid}" in lines[0], lines
            assert (out / ".hydra" / "config.yaml").read_text() == record  # Hydra's rewrite was put back
            assert status(out) == "running"
        first.send_signal(signal.SIGKILL)  # the kernel releases the lock: no stale lock is left behind
        first.wait(timeout=30)
        history = (out / "csv" / "metrics.csv").read_text()
        epochs = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] + 2
        again = subprocess.run([sys.executable, str(ROOT / "train.py"),
                                *tiny_overrides(data_dir, out, f"trainer.max_epochs={epochs}", "callbacks.images=null"),
                                f"hydra.run.dir={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert status(out) == "completed" and history
        assert OmegaConf.load(out / ".hydra" / "config.yaml").seed == 0
    finally:
        _end(first)


def test_sigterm_keeps_a_checkpoint_exits_143_and_the_same_command_resumes(data_dir, tmp_path):
    out = tmp_path / "run"
    args = [*tiny_overrides(data_dir, out, *LONG), f"hydra.run.dir={out}"]
    proc = start(args)
    try:
        wait_for(lambda: training(out), what="a checkpoint")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        _end(proc)
    assert proc.returncode == 143, stderr[-2000:]
    assert "terminated by SIGTERM" in stderr
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["status"] == "terminated" and 0 < meta["epochs"] < 400
    assert (out / "checkpoints" / "last.ckpt").exists()
    assert not (ROOT / "sweep_summary.json").exists()  # a single run has no sweep to summarise
    resumed = subprocess.run([sys.executable, str(ROOT / "train.py"), *args[:-2], "trainer.max_epochs=" +
                              str(meta["epochs"] + 1), args[-1]], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in (out / "train.log").read_text()
    assert status(out) == "completed"


def test_a_terminated_multirun_writes_its_summary_and_exits_143(data_dir, tmp_path):
    common = [a for a in tiny_overrides(data_dir, tmp_path, "callbacks.images=null") if not a.startswith("paths.output_dir")]
    sweep = tmp_path / "multirun" / "s"
    proc = start(["-m", *common, "trainer.max_epochs=1,400,2", f"paths.log_dir={tmp_path}", "sweep_name=s"])
    second = sweep / "trainer.max_epochs=400"
    try:
        wait_for(lambda: training(second), what="the second job to train")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        _end(proc)
    assert proc.returncode == 143, stderr[-2000:]
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    jobs = {name: job["status"] for name, job in summary["jobs"].items()}
    assert jobs == {"trainer.max_epochs=1": "completed", "trainer.max_epochs=400": "terminated"}, jobs
    assert not (sweep / "trainer.max_epochs=2").exists()  # never started: the sweep stopped


def test_a_single_run_that_diverges_exits_1_and_keeps_its_record(data_dir, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"),
                           *tiny_overrides(data_dir, out, "model.optimizer.lr=1e12", "model.nan_check_every=1",
                                           "likelihood=normal", "callbacks.images=null"), f"hydra.run.dir={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Run failed (diverged" in proc.stdout
    assert status(out) == "failed"


def _joblib_sweep(data_dir, tmp_path) -> tuple[subprocess.Popen, list[Path], list[int]]:
    """A two-job joblib sweep whose workers are both training: (the launcher, the job folders, the workers' PIDs)."""
    common = [a for a in tiny_overrides(data_dir, tmp_path, *LONG) if not a.startswith("paths.output_dir")]
    sweep = tmp_path / "multirun" / "s"
    proc = start(["-m", *common, "seed=0,1", "hydra/launcher=joblib_cpu", "hydra.launcher.n_jobs=2", "threads=1",
                  f"paths.log_dir={tmp_path}", "sweep_name=s"])
    folders = [sweep / "seed=0", sweep / "seed=1"]
    try:
        wait_for(lambda: all(training(f) for f in folders), timeout=240, what="both workers to train")
    except AssertionError:
        _end(proc)
        raise
    return proc, folders, [int((f / ".lock").read_text()) for f in folders]


def test_joblib_workers_end_when_their_parent_is_killed(data_dir, tmp_path):
    proc, folders, workers = _joblib_sweep(data_dir, tmp_path)
    try:
        assert proc.pid not in workers and all(alive(pid) for pid in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: not any(alive(pid) for pid in workers), timeout=90, what="the workers to end")
        assert [status(f) for f in folders] == ["terminated", "terminated"]  # each recorded why it stopped
    finally:
        _end(proc, workers)


def test_a_joblib_multirun_terminated_in_its_launcher_writes_its_summary_and_leaves_no_worker(data_dir, tmp_path):
    proc, folders, workers = _joblib_sweep(data_dir, tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)  # Kubernetes signals the launcher (PID 1 of the pod) only
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 143, stderr[-2000:]
        wait_for(lambda: not any(alive(pid) for pid in workers), timeout=90, what="the workers to end")
        summary = json.loads((folders[0].parent / "sweep_summary.json").read_text())
        assert {job["status"] for job in summary["jobs"].values()} <= {"terminated", "interrupted"}, summary
        assert summary["completed"] == 0 and len(summary["failed"]) == 2
    finally:
        _end(proc, workers)
