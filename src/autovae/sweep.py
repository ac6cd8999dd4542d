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
    root = Path(sweep_dir)
    for job_dir in sorted(p.parent for p in root.rglob(".hydra") if p.is_dir()):
        payload = read_metrics(job_dir) or {}
        overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml") if (job_dir / ".hydra" / "overrides.yaml").exists() else []
        jobs[str(job_dir.relative_to(root))] = {"status": payload.get("status", "missing"), "error": payload.get("error"),
                                                "overrides": list(overrides), "metrics": _headline(payload)}
    failed = sorted(name for name, j in jobs.items() if j["status"] != COMPLETED)
    return {"jobs": jobs, "completed": len(jobs) - len(failed), "failed": failed}


def _headline(payload: dict) -> dict[str, Any]:
    metrics = payload.get("metrics") or {}
    return {k: metrics[k] for k in ("test/bound_a1_k1", "test/nll", "val/elbo") if k in metrics}


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        summary = summarize(sweep_dir)
        write_json_atomic(sweep_dir / "sweep_summary.json", summary)
        log.info("sweep %s: %d completed, %d not completed", sweep_dir, summary["completed"], len(summary["failed"]))
        for name, job in summary["jobs"].items():
            figures = "  ".join(f"{k}={v:.2f}" for k, v in job["metrics"].items() if isinstance(v, (int, float)))
            if job["status"] == COMPLETED:
                log.info("  %-9s %s  %s", job["status"], name, figures)
            else:
                log.warning("  %-9s %s  %s", job["status"], name, job["error"] or "")
