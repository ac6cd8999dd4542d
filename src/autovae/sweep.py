"""Hydra callback: after a multirun, list which jobs completed, failed or were skipped."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from autovae.results import COMPLETED, read_metrics, write_json_atomic

log = logging.getLogger(__name__)


def summarize(sweep_dir: str | Path) -> dict[str, Any]:
    jobs = {}
    for job_dir in sorted(p for p in Path(sweep_dir).iterdir() if p.is_dir() and (p / ".hydra").exists()):
        payload = read_metrics(job_dir) or {}
        overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml") if (job_dir / ".hydra" / "overrides.yaml").exists() else []
        jobs[job_dir.name] = {"status": payload.get("status", "missing"), "error": payload.get("error"),
                              "overrides": list(overrides)}
    failed = sorted(name for name, j in jobs.items() if j["status"] != COMPLETED)
    return {"jobs": jobs, "completed": len(jobs) - len(failed), "failed": failed}


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        summary = summarize(sweep_dir)
        write_json_atomic(sweep_dir / "sweep_summary.json", summary)
        log.info("sweep %s: %d completed, %d not completed", sweep_dir, summary["completed"], len(summary["failed"]))
        for name in summary["failed"]:
            job = summary["jobs"][name]
            log.warning("  not completed (%s): %s %s", job["status"], " ".join(job["overrides"]), job["error"] or "")
