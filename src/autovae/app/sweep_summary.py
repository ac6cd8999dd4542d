"""Hydra callback: after a multirun, list which jobs completed, failed or were skipped.

The summary is written when the multirun ends and also when SIGTERM ends it early
(``write_summary``, called by the entry point); ``outcome`` tells the entry point whether any job
did not complete, so the exit status can say so.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from autovae.inference import metric_names as m
from autovae.runs.atomic import write_json_atomic
from autovae.runs.folder import FolderLock
from autovae.runs.record import COMPLETED, RUNNING, read_metrics
from autovae.runs.scan import run_folders

log = logging.getLogger(__name__)


def summarize(sweep_dir: str | Path) -> dict[str, Any]:
    jobs = {}
    root = Path(sweep_dir)
    for job_dir in run_folders(root):
        payload = read_metrics(job_dir) or {}
        status = payload.get("status", "missing")
        if status == RUNNING and not FolderLock.held(job_dir):
            status = "interrupted"  # its process is gone (killed): starting the sweep again resumes it
        overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml") if (job_dir / ".hydra" / "overrides.yaml").exists() else []
        jobs[str(job_dir.relative_to(root))] = {"status": status, "error": payload.get("error"),
                                                "overrides": list(overrides), "metrics": _headline(payload)}
    failed = sorted(name for name, j in jobs.items() if j["status"] != COMPLETED)
    return {"jobs": jobs, "completed": len(jobs) - len(failed), "failed": failed}


def _headline(payload: dict) -> dict[str, Any]:
    metrics = payload.get("metrics") or {}
    return {k: metrics[k] for k in (m.test(m.L11), m.test(m.NLL), m.val(m.ELBO)) if k in metrics}


# This process's multirun: its folder (once started) and its summary (once written).
outcome: dict[str, Any] = {"sweep_dir": None, "summary": None}


def write_summary(sweep_dir: str | Path | None = None) -> dict[str, Any] | None:
    """Writes ``sweep_summary.json`` of this process's multirun (or of ``sweep_dir``) and logs it."""
    sweep_dir = sweep_dir or outcome["sweep_dir"]
    if not sweep_dir or not Path(sweep_dir).is_dir():  # a single run: there is no sweep to summarise
        return None
    sweep_dir = Path(sweep_dir)
    summary = summarize(sweep_dir)
    write_json_atomic(sweep_dir / "sweep_summary.json", summary)
    outcome["summary"] = summary
    log.info("sweep %s: %d completed, %d not completed", sweep_dir, summary["completed"], len(summary["failed"]))
    for name, job in summary["jobs"].items():
        figures = "  ".join(f"{k}={v:.2f}" for k, v in job["metrics"].items() if isinstance(v, (int, float)))
        if job["status"] == COMPLETED:
            log.info("  %-9s %s  %s", job["status"], name, figures)
        else:
            log.warning("  %-9s %s  %s", job["status"], name, job["error"] or "")
    return summary


class SweepSummary(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from autovae.lightning.termination import LAUNCHER_PID

        outcome.update(sweep_dir=str(config.hydra.sweep.dir), summary=None)
        os.environ[LAUNCHER_PID] = str(os.getpid())  # inherited by the launcher's workers (lightning/termination.py)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_summary(config.hydra.sweep.dir)
