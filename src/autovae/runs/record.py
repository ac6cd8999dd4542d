"""A run's results file, metrics.json: its statuses, read defensively (writes go through
``autovae.runs.atomic``)."""
from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from autovae.inference import metric_names as m
from autovae.runs.atomic import write_json_atomic
from autovae.runs.migration import upgrade_record

METRICS_FILE = "metrics.json"
COMPLETED, FAILED, RUNNING, TERMINATED = "completed", "failed", "running", "terminated"


def read_metrics(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's metrics.json, or None when it is missing or unreadable."""
    path = Path(run_dir) / METRICS_FILE
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return upgrade_record(payload)  # records of older layouts read as today's


def as_float(value: Any) -> float:
    """Metric values as floats, including the "nan"/"inf" strings written for non-finite ones."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def where_it_runs() -> dict[str, Any]:
    """The machine and process a run is on, and the Ray node or scheduler job holding it where one
    does: which node of a cluster ran which job."""
    where: dict[str, Any] = {"hostname": socket.gethostname(), "pid": os.getpid()}
    ray = sys.modules.get("ray")  # a job inside a Ray worker has Ray imported and initialised
    if ray is not None and ray.is_initialized():
        where["ray_node_id"] = ray.get_runtime_context().get_node_id()
    for key, variable in (("slurm_job_id", "SLURM_JOB_ID"), ("submitit_local_job_id", "SUBMITIT_LOCAL_JOB_ID")):
        if os.environ.get(variable):
            where[key] = os.environ[variable]
    return where


class RunRecord:
    """The metrics.json of a run in progress: the one owner of its status and of every write of it.

    Written when the run starts (status running), after training (a kill while testing keeps the
    fit's metrics for the restart) and once when the run ends, whatever the outcome."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any], *, code: dict[str, Any], config_hash: str,
                 writes: bool = True):
        self.path = Path(run_dir) / METRICS_FILE
        self.writes = writes  # one writer: under DDP only rank zero
        self.fields: dict[str, Any] = {"status": RUNNING, "run_dir": str(run_dir), "started": time.time(),
                                       "code": code, "config_hash": config_hash, "config": config,
                                       "where": where_it_runs()}

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def add(self, **fields: Any) -> None:
        """Facts about the run (what ran, the fit's metrics), written with the next ``write``."""
        self.fields.update(fields)

    def write(self) -> None:
        if self.writes:
            write_json_atomic(self.path, self.fields)

    def complete(self, metrics: dict[str, float]) -> None:
        self.fields.update(status=COMPLETED, metrics=metrics, objective=metrics.get(m.val(m.ELBO)))

    def end(self, status: str, metrics: dict[str, float], *, reason: str | None = None,
            error: str | None = None) -> None:
        """A run that did not complete: pruned, terminated (resumable) or failed, and why."""
        self.fields.update(status=status, metrics=metrics,
                           **{k: v for k, v in (("reason", reason), ("error", error)) if v is not None})

    def close(self, *, epochs: int, global_step: int) -> dict[str, Any]:
        """The last write: when it ended, and how far training got."""
        finished = time.time()
        self.fields.update(finished=finished, duration_s=finished - self.fields["started"], epochs=epochs,
                           global_step=global_step)
        self.write()
        return self.fields
