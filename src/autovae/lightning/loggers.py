"""Logger factories: W&B online when an account is configured, offline otherwise."""
from __future__ import annotations

import netrc
import os
from pathlib import Path


def wandb_has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_logger(project: str, save_dir: str, name: str | None = None, group: str | None = None,
                 mode: str = "auto", **kwargs):
    """A Lightning WandbLogger; mode=auto goes offline unless W&B credentials are present.

    The run id is a function of the run folder, so a resumed run continues the same W&B run."""
    import hashlib

    from lightning.pytorch.loggers import WandbLogger

    if mode == "auto":
        mode = os.environ.get("WANDB_MODE") or ("online" if wandb_has_credentials() else "offline")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    if mode == "disabled":
        kwargs["mode"] = "disabled"
    kwargs.setdefault("id", hashlib.sha1(str(Path(save_dir).resolve()).encode()).hexdigest()[:16])
    kwargs.setdefault("resume", "allow")
    return WandbLogger(project=project, save_dir=save_dir, name=name, group=group or None,
                       offline=mode == "offline", **kwargs)


def history_csv_logger(save_dir: str, name: str = "csv", version: str = ""):
    """Lightning's CSVLogger, except that a resumed run appends to its metrics.csv rather than
    deleting it (the epochs before a kill stay; train.py drops the ones that will be trained again)."""
    import csv

    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class AppendingWriter(ExperimentWriter):
        def _check_log_dir_exists(self) -> None:
            if os.path.isfile(self.metrics_file_path):
                with open(self.metrics_file_path, newline="") as f:
                    self.metrics_keys = list(next(csv.reader(f), []))

    class HistoryCSVLogger(CSVLogger):
        @property
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AppendingWriter(log_dir=self.log_dir)
            return self._experiment

    return HistoryCSVLogger(save_dir=save_dir, name=name, version=version)


def dashboard_config(config: dict, ran: dict) -> dict:
    """What a dashboard filters and groups on, as flat keys (posterior, prior, pairing, divergence with
    its alpha, K and beta, likelihood, model, dataset, seed; a search trial's study and number), beside the whole resolved config and the
    run's ``ran`` record (which ``make table wandb=...`` files a run by)."""
    pairs = ran.get("pairing") or []
    objective = ran.get("objective") or {}
    flat = {
        "posterior": "+".join(dict.fromkeys(p["posterior"] for p in pairs)),
        "prior": "+".join(dict.fromkeys(p["prior"] for p in pairs)),
        "pairing": " + ".join(f"{p['fraction']:.0%} {p['pair']}" if len(pairs) > 1 else p["pair"] for p in pairs),
        "divergence": objective.get("name"), "alpha": objective.get("alpha"), "K": objective.get("samples"),
        "beta": objective.get("beta"), "likelihood": (ran.get("likelihood") or {}).get("name"),
        "model": ran.get("model"), "dataset": ran.get("dataset"), "latent_dim": ran.get("latent_dim"),
        "seed": config.get("seed"), "column": config.get("column"), "precision": ran.get("precision"),
        "study": (config.get("search_trial") or {}).get("study"), "trial": (config.get("search_trial") or {}).get("number"),
    }
    return {**{k: v for k, v in flat.items() if v is not None}, "config": config, "ran": ran}


def finish_loggers(loggers, flat: dict, status: str) -> None:
    """At a run's end: TensorBoard's hparams view gets the run's beliefs and status, beside its metrics
    (the scalars it logged), and a W&B run is closed so that the next job of
    a multirun starts its own."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            from torch.utils.tensorboard.summary import hparams

            scalars = {k: v for k, v in flat.items() if isinstance(v, (bool, int, float, str))}
            writer = lg.experiment._get_file_writer()
            # the session's start and end only: without a written experiment summary TensorBoard builds
            # the experiment from every run's sessions and shows first the hyperparameters that differ
            _, start, end = hparams({**scalars, "status": status}, {})
            for summary in (start, end):
                writer.add_summary(summary)
            writer.flush()
        elif isinstance(lg, WandbLogger):
            import wandb

            lg.experiment.summary.update({"status": status})  # completed, failed, pruned, terminated
            wandb.finish()
