"""The one rule for what a run folder is: a folder holding Hydra's ``.hydra/`` (a run that started)
or a ``metrics.json`` (a run that recorded itself). Tables, figures, sweep summaries and the record
upgrade all find runs through it."""
from __future__ import annotations

from pathlib import Path

from autovae.runs.record import METRICS_FILE


def run_folders(root: str | Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` itself included), sorted."""
    root = Path(root)
    started = {p.parent for p in root.rglob(".hydra") if p.is_dir()}
    recorded = {p.parent for p in root.rglob(METRICS_FILE) if p.is_file()}
    return sorted(started | recorded)
