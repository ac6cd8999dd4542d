"""Faults in what a run folder holds: a checkpoint that would run code, a record lost in a crash, a
history written twice, a checkpoint write cut off by a kill."""
import csv
import json
import os
import sys
from collections import Counter

import pytest
import torch
from conftest import ROOT, compose, run_cli, tiny_overrides

from autovae.app.train import run
from autovae.errors import RunFolderError, UnsafeCheckpointError

FAST = ("trainer.max_epochs=1", "callbacks.images=null")


def _run(data_dir, out, *extra):
    return run(compose(tiny_overrides(data_dir, out, *FAST, *extra)))


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _booby_trapped(path, marker):
    torch.save({"epoch": 0, "global_step": 1, "state_dict": {}, "trap": _Payload(marker)}, path)


def test_a_checkpoint_that_would_run_code_is_refused_through_ckpt_path(data_dir, tmp_path):
    marker, trap = tmp_path / "pwned", tmp_path / "trap.ckpt"
    _booby_trapped(trap, marker)
    with pytest.raises(UnsafeCheckpointError, match=str(trap)):
        _run(data_dir, tmp_path / "run", f"ckpt_path={trap}")
    assert not marker.exists() and not (tmp_path / "run" / "metrics.json").exists()
    proc = run_cli("train.py", [*tiny_overrides(data_dir, tmp_path / "cli", *FAST), f"ckpt_path={trap}",
                                f"hydra.run.dir={tmp_path / 'cli'}"])
    assert proc.returncode == 2 and not marker.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith(f"autovae: checkpoint {trap} is refused"), lines


def test_a_checkpoint_that_would_run_code_is_refused_in_a_folder_and_by_load_model(data_dir, tmp_path):
    from autovae.lightning.restore import load_model

    marker = tmp_path / "pwned"
    _run(data_dir, tmp_path / "run", "evaluation.test=false")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    model, _ = load_model(tmp_path / "run")  # autovae's own checkpoints load with the weights-only loader
    assert model is not None
    meta = json.loads((tmp_path / "run" / "metrics.json").read_text())
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({**meta, "status": "running"}))
    _booby_trapped(ckpt, marker)
    with pytest.raises(UnsafeCheckpointError, match=str(ckpt)):
        _run(data_dir, tmp_path / "run", "evaluation.test=false")
    with pytest.raises(UnsafeCheckpointError):
        load_model(tmp_path / "run")
    assert not marker.exists()
    assert ckpt.exists()  # refused, not set aside as if it were merely corrupt


@pytest.mark.parametrize("damage", ["missing", "empty", "corrupt"])
def test_a_crashed_folder_without_a_readable_record_keeps_its_configuration(data_dir, tmp_path, damage):
    out = tmp_path / "run"
    _run(data_dir, out, "evaluation.test=false")
    record = out / "metrics.json"
    {"missing": record.unlink, "empty": lambda: record.write_text(""),
     "corrupt": lambda: record.write_text('{"status": "runn')}[damage]()
    with pytest.raises(RunFolderError, match=r"posterior.name: 'normal' -> 'laplace'"):
        _run(data_dir, out, "posterior=laplace", "prior=laplace", "evaluation.test=false")
    resumed = _run(data_dir, out, "trainer.max_epochs=2", "evaluation.test=false")  # the same configuration resumes
    assert resumed["status"] == "completed" and resumed["pairing"][0]["pair"] == "N||N"


def _history_keys(out):
    with (out / "csv" / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [(r["step"], r["epoch"], tuple(sorted(k for k, v in r.items() if v and k not in ("step", "epoch"))))
            for r in rows]


def test_the_history_has_one_row_per_logged_step_after_restarts_and_resumes(data_dir, tmp_path):
    straight = tmp_path / "straight"
    _run(data_dir, straight, "trainer.max_epochs=3", "evaluation.test=false")
    out = tmp_path / "run"
    _run(data_dir, out, "trainer.max_epochs=1", "evaluation.test=false")
    ckpt = out / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # corrupt: the next start begins from scratch
    _run(data_dir, out, "trainer.max_epochs=2", "evaluation.test=false", "skip_completed=false")
    _run(data_dir, out, "trainer.max_epochs=3", "evaluation.test=false", "skip_completed=false")  # a resume
    keys = _history_keys(out)
    assert not [k for k, n in Counter(keys).items() if n > 1], "a logged step appears twice"
    assert keys == _history_keys(straight)


def test_a_partial_checkpoint_write_left_by_a_kill_is_removed(data_dir, tmp_path):
    out = tmp_path / "run"
    _run(data_dir, out, "evaluation.test=false")
    stray = out / "checkpoints" / ".last.ckpt.x1y2z3.tmp"
    stray.write_bytes(b"\0" * 4096)  # what a kill -9 during write_atomic leaves
    meta = json.loads((out / "metrics.json").read_text())
    (out / "metrics.json").write_text(json.dumps({**meta, "status": "running"}))
    assert _run(data_dir, out, "trainer.max_epochs=2", "evaluation.test=false")["status"] == "completed"
    assert not stray.exists()


def test_a_full_disk_names_the_file_it_could_not_write(data_dir, tmp_path):
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()}); CI runs as root")
    try:
        out = disk / "run"
        proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *tiny_overrides(data_dir, out, *FAST),
                               f"hydra.run.dir={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0] and f"{out}/" in lines[0], lines
        assert "None" not in lines[0]
        assert not list(out.rglob("*.tmp"))  # no half-written temporary file is left behind
    finally:
        subprocess.run(["umount", str(disk)], check=False)
