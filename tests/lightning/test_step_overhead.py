"""What a CPU training step does outside its arithmetic: train/ metrics handed to Lightning only on the
steps that something reads, with the history a user reads unchanged, and torch's CUDA check without a
failed NVML load per step where NVML is absent."""
import csv
import os

import torch
from conftest import compose, tiny_overrides

from autovae.app.train import build, run
from autovae.lightning import cuda_check
from autovae.lightning.module import AutoVAEModule

STEPS_PER_EPOCH, EPOCHS, LOG_EVERY = 20, 2, 3  # 2,000 images at batch 100; a schedule that crosses epochs


def fit_counting_logs(tmp_path, data_dir, name, monkeypatch, every_step: bool):
    calls = []
    log = AutoVAEModule.log

    def counting(self, key, *args, **kwargs):
        if key.startswith("train/"):
            calls.append((self.global_step, key))
        return log(self, key, *args, **kwargs)

    monkeypatch.setattr(AutoVAEModule, "log", counting)
    if every_step:
        monkeypatch.setattr(AutoVAEModule, "_step_metrics_are_read", lambda self, batch_idx: True)
    out = tmp_path / name
    result = run(compose(tiny_overrides(data_dir, out, f"trainer.max_epochs={EPOCHS}", "trainer.precision=32-true",
                                        f"trainer.log_every_n_steps={LOG_EVERY}", "evaluation.test=false")))
    monkeypatch.undo()
    assert result["status"] == "completed"
    with open(out / "csv" / "metrics.csv") as f:
        history = [row for row in csv.DictReader(f) if row["train/loss"]]
    return result, history, calls


def test_train_metrics_reach_lightning_only_on_the_steps_written_and_the_history_is_unchanged(
        tmp_path, data_dir, monkeypatch):
    """Lightning's bookkeeping of each self.log call is a visible part of a small step, so the train/
    metrics are logged on the steps the loggers write (every LOG_EVERY-th across epochs) and at each
    epoch's end (the run's final train/loss), not on every step; the CSV history and the recorded
    final metrics are what logging every step gives."""
    gated, history, calls = fit_counting_logs(tmp_path, data_dir, "gated", monkeypatch, every_step=False)
    reference, reference_history, reference_calls = fit_counting_logs(tmp_path, data_dir, "every_step", monkeypatch,
                                                                      every_step=True)
    steps = STEPS_PER_EPOCH * EPOCHS
    assert len(reference_calls) == 2 * steps  # train/loss and train/kl on every step
    logged_steps = sorted({s for s, _ in calls})
    written = {s for s in range(steps) if (s + 1) % LOG_EVERY == 0}
    epoch_ends = {STEPS_PER_EPOCH * e - 1 for e in range(1, EPOCHS + 1)}
    assert logged_steps == sorted(written | epoch_ends)
    assert len(calls) == 2 * len(logged_steps) < len(reference_calls) / 2
    assert history == reference_history and len(history) == len(written)
    for key in ("train/loss", "train/kl"):
        assert gated["fit_metrics"][key] == reference["fit_metrics"][key]


def test_no_nvml_load_per_cuda_check_where_nvml_is_absent(tmp_path, data_dir, monkeypatch):
    """Lightning's import asks torch to check CUDA through NVML; without NVML's library torch falls back
    to the CUDA runtime after a failed dlopen on every check, one per Adam step. Building a run turns
    the variable off exactly where the library cannot be loaded, and torch's answer stays the same."""
    monkeypatch.setenv(cuda_check.VARIABLE, "1")
    answer = torch.cuda.is_available()
    build(compose(tiny_overrides(data_dir, tmp_path / "run")))
    assert os.environ[cuda_check.VARIABLE] == ("1" if cuda_check.nvml_loads() else "0")
    assert torch.cuda.is_available() == answer

    monkeypatch.setenv(cuda_check.VARIABLE, "1")
    monkeypatch.setattr(cuda_check, "nvml_loads", lambda: True)  # a machine with NVIDIA's driver
    assert cuda_check.skip_nvml_check_without_nvml() is False and os.environ[cuda_check.VARIABLE] == "1"
    monkeypatch.setattr(cuda_check, "nvml_loads", lambda: False)
    assert cuda_check.skip_nvml_check_without_nvml() is True and os.environ[cuda_check.VARIABLE] == "0"
